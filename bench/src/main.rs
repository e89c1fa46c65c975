//! `hongying-bench signaling`: load for the `/ws` signaling socket.
//!
//! The parent process starts the server in-process (SQLite in a temp dir, or a fresh
//! PostgreSQL database with `--database-url`), seeds one branch per room with its members,
//! accounts and a secretary, creates, schedules and starts one congress per branch over
//! REST, and mints every access and join token with the server's own keys. It then
//! re-executes itself as `clients` in a child process, which opens the sockets: so the
//! parent's VmRSS is the server's alone and the child's the clients'.
//!
//! The child joins every room's host first, then the members round-robin over the rooms
//! at `--rate` joins per second, holds every socket with a `ping` frame every
//! `--ping-secs`, and measures join latency (TCP connect + upgrade start → `joined`) and
//! the time from a member's `join` to the host's `quorum_update` that counts him.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser)]
#[command(name = "hongying-bench", about = "Load tools for Hongying")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Seeds and starts an in-process server, then drives N signaling sockets at it.
    Signaling(SignalingArgs),
    /// (internal) The client side, run by `signaling` in a child process.
    #[command(hide = true)]
    Clients(ClientArgs),
}

#[derive(Parser, Clone)]
struct SignalingArgs {
    /// Member sockets to open (the hosts come on top: one per room).
    #[arg(long, default_value_t = 5_000)]
    sessions: usize,
    /// Meetings (one branch each); members are spread evenly over them.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Member joins per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long to hold every socket after the last join, in seconds.
    #[arg(long, default_value_t = 30)]
    hold_secs: u64,
    /// Each socket sends a `ping` frame this often.
    #[arg(long, default_value_t = 10)]
    ping_secs: u64,
    /// PostgreSQL admin URL: the server gets a fresh database there (default: SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Server HTTP workers (actix accepts at most 25,000 connections per worker).
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Loopback source addresses to spread client sockets over (127.0.0.2…), each good for
    /// about 28,000 ephemeral ports.
    #[arg(long, default_value_t = 4)]
    source_addrs: u8,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Parser, Clone)]
struct ClientArgs {
    #[arg(long)]
    addr: SocketAddr,
    /// Lines `room<TAB>host(0|1)<TAB>access token<TAB>join token`.
    #[arg(long)]
    tokens: PathBuf,
    #[arg(long)]
    rate: f64,
    #[arg(long)]
    hold_secs: u64,
    #[arg(long)]
    ping_secs: u64,
    #[arg(long)]
    source_addrs: u8,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Signaling(a) => rt.block_on(signaling(a)),
        Cmd::Clients(a) => rt.block_on(clients(a)),
    }
}

/// Both ends of every socket live on this machine: raise the descriptor limit as far as
/// the kernel allows (root may raise the hard limit too).
fn raise_fd_limit() {
    let want = 400_000;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, want, want).is_err() {
        let _ = rlimit::increase_nofile_limit(want);
    }
}

/// VmRSS of this process, in KiB.
fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

// --- the parent: server, seeding, measuring ---------------------------------------------

#[derive(Debug, Serialize, Deserialize, Default)]
struct ClientReport {
    hosts_joined: usize,
    members_joined: usize,
    failed: usize,
    failures: Vec<String>,
    join_ms: Stats,
    quorum_ms: Stats,
    quorum_missing: usize,
    /// Sockets still open at the end of the hold.
    alive_at_end: usize,
    dispatch_secs: f64,
    achieved_rate: f64,
    client_rss_kib_idle: u64,
    client_rss_kib_joined: u64,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone)]
struct Stats {
    n: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    if v.is_empty() {
        return Stats::default();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        n: v.len(),
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: v[v.len() - 1],
    }
}

async fn signaling(a: SignalingArgs) -> Result<()> {
    if a.rooms == 0 || a.sessions < a.rooms {
        bail!("need at least one member per room");
    }
    if let Some(url) = &a.database_url
        && std::env::var("TEST_DATABASE_URL").ok().as_deref() != Some(url.as_str())
    {
        // The harness makes a fresh database under TEST_DATABASE_URL and drops it at the
        // end; the environment is set on a re-execution (setting it here would be unsafe).
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("TEST_DATABASE_URL", url)
            .status()?;
        if !status.success() {
            bail!("the run on {url} failed");
        }
        return Ok(());
    }
    let workers = a.workers;
    let app = hongying_tests::TestApp::spawn_with(|c| {
        c.http.workers = workers;
        c.database.pool_size = 8;
        c.auth.access_ttl_secs = 24 * 3600;
        c.auth.join_ttl_secs = 24 * 3600;
    })
    .await;
    eprintln!(
        "server on {} ({:?}), seeding {} members in {} rooms…",
        app.addr,
        hongying_tests::backend(),
        a.sessions,
        a.rooms
    );
    let t = Instant::now();
    let tokens = seed::seed(&app, a.rooms, a.sessions).await?;
    eprintln!("seeded in {:.1}s", t.elapsed().as_secs_f64());

    let dir = tempfile_dir()?;
    let path = dir.join("tokens.tsv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for t in &tokens {
            writeln!(
                f,
                "{}\t{}\t{}\t{}",
                t.room,
                u8::from(t.host),
                t.access,
                t.join
            )?;
        }
    }
    let n_hosts = tokens.iter().filter(|t| t.host).count();
    drop(tokens);
    // Let the allocator settle the seeding garbage before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = vm_rss_kib();

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "clients",
            "--addr",
            &app.addr.to_string(),
            "--tokens",
            &path.to_string_lossy(),
            "--rate",
            &a.rate.to_string(),
            "--hold-secs",
            &a.hold_secs.to_string(),
            "--ping-secs",
            &a.ping_secs.to_string(),
            "--source-addrs",
            &a.source_addrs.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut rss_joined = 0;
    let mut rss_end = 0;
    let mut report: Option<ClientReport> = None;
    while let Some(line) = rx.recv().await {
        if line.starts_with("joined") {
            // Every socket is in: the server holds them all now.
            tokio::time::sleep(Duration::from_secs(2)).await;
            rss_joined = vm_rss_kib();
            eprintln!("{line}; server VmRSS {} MiB", rss_joined / 1024);
        } else if let Some(j) = line.strip_prefix("report ") {
            rss_end = vm_rss_kib();
            report = Some(serde_json::from_str(j)?);
        } else {
            eprintln!("clients: {line}");
        }
    }
    let _ = child.wait();
    let r = report.context("the client process gave no report")?;
    let sockets = (r.members_joined + r.hosts_joined).max(1);
    let server_per_conn = rss_joined.saturating_sub(rss_before) as f64 * 1024.0 / sockets as f64;
    let client_per_conn = r
        .client_rss_kib_joined
        .saturating_sub(r.client_rss_kib_idle) as f64
        * 1024.0
        / sockets as f64;
    let out = json!({
        "backend": format!("{:?}", hongying_tests::backend()),
        "sessions": a.sessions, "rooms": a.rooms, "hosts": n_hosts, "rate": a.rate,
        "hold_secs": a.hold_secs, "workers": a.workers,
        "server_rss_mib": {"before": rss_before / 1024, "all_joined": rss_joined / 1024, "end_of_hold": rss_end / 1024},
        "server_bytes_per_connection": server_per_conn.round(),
        "client_bytes_per_connection": client_per_conn.round(),
        "client_plus_server_bytes_per_connection": (server_per_conn + client_per_conn).round(),
        "clients": r,
    });
    let text = serde_json::to_string_pretty(&out)?;
    println!("{text}");
    if let Some(p) = a.json {
        std::fs::write(p, &text)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(app);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("hongying-bench-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

mod seed;

// --- the child: sockets -------------------------------------------------------------------

struct Line {
    room: usize,
    host: bool,
    access: String,
    join: String,
}

/// Per room: when each member's `join` left (by order in the room) and when the host saw
/// each `present_voting` count.
#[derive(Default)]
struct RoomTimes {
    join_sent: Vec<Option<Instant>>,
    host_saw: Vec<Option<Instant>>,
}

struct Shared {
    addr: SocketAddr,
    sources: Vec<IpAddr>,
    next_source: AtomicU64,
    ping: Duration,
    rooms: Vec<Mutex<RoomTimes>>,
    alive: AtomicU64,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn open(sh: &Shared, access: &str, join: &str) -> Result<(Ws, Instant, f64)> {
    let i = sh.next_source.fetch_add(1, Ordering::Relaxed) as usize;
    let src = sh.sources[i % sh.sources.len()];
    let t0 = Instant::now();
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    let tcp = sock.connect(sh.addr).await?;
    let mut req = format!("ws://{}/ws", sh.addr).into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {access}").parse()?);
    // The library's default 128 KiB read buffer per socket would dwarf the server's
    // share of memory; signaling frames are small.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, tcp, Some(config)).await?;
    let sent = Instant::now();
    let f = json!({"v": 1, "id": "j", "type": "join", "data": {"join_token": join}});
    ws.send(Message::Text(f.to_string().into())).await?;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| anyhow!("no answer to join in 30 s"))?;
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t)?;
                if v["id"] == "j" {
                    if v["type"] == "joined" {
                        return Ok((ws, sent, t0.elapsed().as_secs_f64() * 1000.0));
                    }
                    bail!("join refused: {}", v["data"]);
                }
            }
            Some(Ok(Message::Close(c))) => bail!("closed before joined: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("socket error before joined: {e}"),
            None => bail!("socket ended before joined"),
        }
    }
}

/// Holds a socket: reads everything (the library answers the server's pings), sends a
/// `ping` frame every `ping` interval; a host records its quorum updates.
async fn hold(
    sh: Arc<Shared>,
    mut ws: Ws,
    host_room: Option<usize>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    sh.alive.fetch_add(1, Ordering::Relaxed);
    let mut stop = stop;
    // Spread the pings over the interval.
    let offset = Duration::from_millis(rand_ms(sh.ping.as_millis() as u64));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, sh.ping);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some(r) = host_room
                        && let Ok(v) = serde_json::from_str::<Value>(&t)
                        && v["type"] == "quorum_update"
                        && let Some(k) = v["data"]["present_voting"].as_u64()
                    {
                        let now = Instant::now();
                        let mut rt = sh.rooms[r].lock().await;
                        let k = k as usize;
                        if rt.host_saw.len() <= k {
                            rt.host_saw.resize(k + 1, None);
                        }
                        rt.host_saw[k].get_or_insert(now);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let ts = chrono::Utc::now().timestamp_millis();
                let f = json!({"v": 1, "type": "ping", "data": {"ts": ts}});
                if ws.send(Message::Text(f.to_string().into())).await.is_err() {
                    break;
                }
            }
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                break;
            }
        }
    }
    sh.alive.fetch_sub(1, Ordering::Relaxed);
}

fn rand_ms(max: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(max.max(1))) as u64
}

async fn clients(a: ClientArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.tokens)?;
    let mut lines = Vec::new();
    for l in text.lines() {
        let p: Vec<&str> = l.split('\t').collect();
        if p.len() != 4 {
            bail!("bad token line");
        }
        lines.push(Line {
            room: p[0].parse()?,
            host: p[1] == "1",
            access: p[2].to_string(),
            join: p[3].to_string(),
        });
    }
    drop(text);
    let n_rooms = lines.iter().map(|l| l.room + 1).max().unwrap_or(0);
    let sources = (0..a.source_addrs.max(1))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i)))
        .collect();
    let sh = Arc::new(Shared {
        addr: a.addr,
        sources,
        next_source: AtomicU64::new(0),
        ping: Duration::from_secs(a.ping_secs.max(1)),
        rooms: (0..n_rooms)
            .map(|_| Mutex::new(RoomTimes::default()))
            .collect(),
        alive: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let rss_idle = vm_rss_kib();

    // Hosts first, 50 at a time.
    let (hosts, members): (Vec<Line>, Vec<Line>) = lines.into_iter().partition(|l| l.host);
    let mut hosts_joined = 0;
    for chunk in hosts.chunks(50) {
        let mut set = tokio::task::JoinSet::new();
        for h in chunk {
            let (sh, access, join, room) = (sh.clone(), h.access.clone(), h.join.clone(), h.room);
            set.spawn(async move { open(&sh, &access, &join).await.map(|(ws, _, _)| (ws, room)) });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok((ws, room))) => {
                    hosts_joined += 1;
                    tokio::spawn(hold(sh.clone(), ws, Some(room), stop_rx.clone()));
                }
                Ok(Err(e)) => failures
                    .lock()
                    .map(|mut f| f.push(format!("host: {e}")))
                    .unwrap_or(()),
                Err(e) => failures
                    .lock()
                    .map(|mut f| f.push(format!("host task: {e}")))
                    .unwrap_or(()),
            }
        }
    }
    println!("hosts {hosts_joined} joined");

    // Members round-robin over the rooms, each the k-th of his room.
    let mut by_room: Vec<Vec<Line>> = (0..n_rooms).map(|_| Vec::new()).collect();
    for m in members {
        by_room[m.room].push(m);
    }
    for (r, v) in by_room.iter().enumerate() {
        sh.rooms[r].lock().await.join_sent = vec![None; v.len()];
    }
    let mut order = Vec::new();
    let most = by_room.iter().map(Vec::len).max().unwrap_or(0);
    let mut iters: Vec<_> = by_room.into_iter().map(|v| v.into_iter()).collect();
    for k in 0..most {
        for (r, it) in iters.iter_mut().enumerate() {
            if let Some(l) = it.next() {
                order.push((r, k, l));
            }
        }
    }
    let total = order.len();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<f64, String>>();
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs_f64(1.0 / a.rate.max(0.001));
    for (i, (r, k, l)) in order.into_iter().enumerate() {
        tokio::time::sleep_until(start + period * i as u32).await;
        let (sh2, done, stop) = (sh.clone(), done_tx.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let sh = sh2;
            match open(&sh, &l.access, &l.join).await {
                Ok((ws, sent, ms)) => {
                    sh.rooms[r].lock().await.join_sent[k] = Some(sent);
                    let _ = done.send(Ok(ms));
                    // The report waits for every sender to go: this one is done.
                    drop(done);
                    hold(sh, ws, None, stop).await;
                }
                Err(e) => {
                    let _ = done.send(Err(format!("member: {e}")));
                }
            }
        });
        if i > 0 && i % 5000 == 0 {
            println!(
                "dispatched {i}/{total}, alive {}",
                sh.alive.load(Ordering::Relaxed)
            );
        }
    }
    let dispatch_secs = start.elapsed().as_secs_f64();
    drop(done_tx);
    let mut join_ms = Vec::with_capacity(total);
    let mut fails = 0;
    while let Some(r) = done_rx.recv().await {
        match r {
            Ok(ms) => join_ms.push(ms),
            Err(e) => {
                fails += 1;
                if let Ok(mut f) = failures.lock()
                    && f.len() < 20
                {
                    f.push(e);
                }
            }
        }
    }
    let members_joined = join_ms.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_joined = vm_rss_kib();
    println!(
        "joined {members_joined} members + {hosts_joined} hosts ({fails} failed) in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(a.hold_secs)).await;
    let alive = sh.alive.load(Ordering::Relaxed) as usize;

    // The k-th member of a room makes present_voting k+1 (hosts here have no vote).
    let mut quorum_ms = Vec::new();
    let mut missing = 0;
    for room in &sh.rooms {
        let rt = room.lock().await;
        for (k, sent) in rt.join_sent.iter().enumerate() {
            let Some(sent) = sent else { continue };
            match rt.host_saw.get(k + 1).copied().flatten() {
                Some(saw) => {
                    quorum_ms.push(saw.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
                }
                None => missing += 1,
            }
        }
    }
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = ClientReport {
        hosts_joined,
        members_joined,
        failed: fails + hosts.len() - hosts_joined,
        failures: failures.lock().map(|f| f.clone()).unwrap_or_default(),
        join_ms: stats(join_ms),
        quorum_ms: stats(quorum_ms),
        quorum_missing: missing,
        alive_at_end: alive,
        dispatch_secs,
        achieved_rate: total as f64 / dispatch_secs.max(1e-9),
        client_rss_kib_idle: rss_idle,
        client_rss_kib_joined: rss_joined,
    };
    println!("report {}", serde_json::to_string(&report)?);
    std::io::stdout().flush()?;
    Ok(())
}
