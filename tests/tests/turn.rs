//! TURN through a real coturn (Debian's `turnserver`), started by the test on loopback: the
//! join answer hands out coturn REST credentials derived from the shared secret, and a member
//! whose client may use nothing but a TURN relay (ICE transport policy `relay`, as a phone
//! behind a strict firewall) still gets his media to the SFU, is counted in the quorum, and
//! is heard and seen by a member on a direct path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use hongying_proto::signaling::MediaKind;
use hongying_server::config::Secret;
use hongying_tests::Value;
use hongying_tests::media_client::{MediaClient, Options, eventually, send_everything};
use sha1::Sha1;

use hongying_tests::meeting_room::room_with;

/// One `turnserver` child process, killed on drop.
struct Coturn {
    child: Child,
    port: u16,
    secret: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // A failing test shows what coturn saw.
        if std::thread::panicking() {
            eprintln!("---- coturn log\n{}\n----", self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn turnserver_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("turnserver"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "coturn is required for the TURN test and `turnserver` is not installed \
             (Debian: apt-get install coturn; .ci/run installs it)"
        )
    })
}

/// A UDP port nobody holds on 127.0.0.1 right now (coturn binds it a moment later; a lost
/// race shows as no answer, and [`Coturn::start`] then tries another port).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_u64() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

/// Whether a TURN server answers on `port`: an unauthenticated Allocate (RFC 5766) gets a
/// 401 with a nonce from coturn, so any STUN answer means it is listening.
fn answers(port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut req = Vec::with_capacity(28);
    req.extend_from_slice(&0x0003u16.to_be_bytes()); // Allocate request
    req.extend_from_slice(&8u16.to_be_bytes()); // attributes' length
    req.extend_from_slice(&0x2112_a442u32.to_be_bytes()); // magic cookie
    req.extend_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]); // transaction id
    req.extend_from_slice(&[0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]); // REQUESTED-TRANSPORT UDP
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    if sock.send_to(&req, to).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    matches!(sock.recv_from(&mut buf), Ok((n, from)) if n >= 20 && from == to)
}

impl Coturn {
    /// coturn on 127.0.0.1 only, with `use-auth-secret` and a secret made up here.
    fn start() -> Coturn {
        let bin = turnserver_binary();
        let secret = format!("{:x}{:x}", random_u64(), random_u64());
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("turn.log");
            let port = free_udp_port();
            // 100 relay ports somewhere in 40000..=59999; coturn skips ports already taken.
            let min_port = 40_000 + (random_u64() % 200) as u16 * 100;
            let child = Command::new(&bin)
                .args(coturn_args(dir.path(), &log, port, min_port, &secret))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start coturn ({}): {e}", bin.display()));
            let mut coturn = Coturn {
                child,
                port,
                secret: secret.clone(),
                log,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = coturn.child.try_wait() {
                    panic!("coturn exited at start ({status}):\n{}", coturn.log_text());
                }
                if answers(port) {
                    return coturn;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last_log = coturn.log_text();
        }
        panic!("coturn never answered on 127.0.0.1; its last log:\n{last_log}");
    }

    fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn coturn_args(dir: &Path, log: &Path, port: u16, min_port: u16, secret: &str) -> Vec<String> {
    let d = |name: &str| dir.join(name).display().to_string();
    [
        // No /etc/turnserver.conf: only what is said here.
        "-n".to_string(),
        // Loopback only, for listening and for relayed addresses (the network rule).
        "--listening-ip=127.0.0.1".into(),
        "--relay-ip=127.0.0.1".into(),
        format!("--listening-port={port}"),
        format!("--min-port={min_port}"),
        format!("--max-port={}", min_port + 99),
        // The production scheme: time-limited REST credentials from a shared secret.
        "--use-auth-secret".into(),
        format!("--static-auth-secret={secret}"),
        "--realm=hongying-test".into(),
        "--fingerprint".into(),
        // TURN over UDP only: no TLS/DTLS certificates, no TCP listener, no telnet CLI.
        "--no-tls".into(),
        "--no-dtls".into(),
        "--no-tcp".into(),
        "--no-cli".into(),
        // TURN only: the relay-only client never sends plain STUN Binding requests, so
        // answering them would only hide a client that bypassed the relay policy.
        "--no-stun".into(),
        "--no-multicast-peers".into(),
        // The SFU (the relay's peer) is on 127.0.0.1. deploy/coturn/turnserver.conf denies
        // loopback and private peers so that nobody can use the TURN server to reach the
        // services on its own host or network; here the SFU itself is such a service.
        "--allow-loopback-peers".into(),
        // Every coturn started by a test keeps its files to itself.
        format!("--log-file={}", log.display()),
        "--simple-log".into(),
        "--verbose".into(),
        format!("--pidfile={}", d("turnserver.pid")),
        format!("--db={}", d("turndb")),
    ]
    .into()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// base64(HMAC-SHA1(secret, username)), computed here rather than with the server's code.
fn rest_credential(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The join answer's TURN entry: its url is ours, its username is `<expiry>:<participant>`
/// with the expiry one TTL from now, and its credential is the REST credential under the
/// shared secret.
fn assert_turn_credentials(joined: &Value, coturn: &Coturn, ttl: u64) -> String {
    let servers = joined["ice_servers"].as_array().expect("ice_servers");
    let turn = servers
        .iter()
        .find(|s| {
            s["urls"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u == coturn.url().as_str()))
        })
        .unwrap_or_else(|| panic!("no TURN server in the join answer: {servers:?}"));
    let username = turn["username"].as_str().expect("TURN username");
    let (expiry, who) = username.split_once(':').expect("<expiry>:<participant>");
    assert_eq!(who, joined["participant_id"].as_str().unwrap());
    let expiry: u64 = expiry.parse().expect("the expiry is a Unix timestamp");
    let due = now_unix() + ttl;
    assert!(
        expiry.abs_diff(due) <= 60,
        "expiry {expiry}, expected about {due}"
    );
    assert_eq!(
        turn["credential"].as_str().expect("TURN credential"),
        rest_credential(&coturn.secret, username)
    );
    username.to_string()
}

/// How long media may take to flow on a loaded machine.
const MEDIA_WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_relay_only_member_joins_through_coturn_and_counts() {
    let coturn = Coturn::start();
    let ttl = 600;
    let (url, secret) = (coturn.url(), coturn.secret.clone());
    let r = room_with(2, true, |c| {
        c.media.enabled = true;
        c.media.turn_urls = vec![url];
        c.media.turn_secret = Some(Secret::new(secret));
        c.media.turn_ttl_secs = ttl;
    })
    .await;
    let (mut host, joined) = r.host().await;
    assert_turn_credentials(&joined, &coturn, ttl);

    // The relay-only member: his client gathers nothing but a relay candidate on coturn.
    let (ws_a, ja) = r.enter(&r.members[0].1).await;
    let a_user = assert_turn_credentials(&ja, &coturn, ttl);
    let a = MediaClient::start_with(ws_a, &ja, true, Options { relay_only: true }).await;
    send_everything(&a.peer);

    // His media reaches the SFU through the relay: he counts.
    host.until("participant_updated", |p| {
        p["participant_id"] == a.participant_id.as_str() && p["media_proven"] == true
    })
    .await;
    let q = host
        .until("quorum_update", |q| q["present_remote"] == 1)
        .await;
    assert_eq!(q["data"]["expected"], 2);
    assert_eq!(
        a.peer.selected_local_candidate_type().await.as_deref(),
        Some("relay"),
        "the relay-only client's selected pair must start at its relay candidate"
    );

    // A member on a direct path hears and sees him, and he hears and sees her (both ways
    // through coturn on his side).
    let (ws_b, jb) = r.enter(&r.members[1].1).await;
    let b_user = assert_turn_credentials(&jb, &coturn, ttl);
    let a_seen_by_b = jb["room"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant_id"] == a.participant_id.as_str())
        .cloned()
        .expect("b's room lists the relay-only member");
    assert_eq!(a_seen_by_b["media_proven"], true, "{a_seen_by_b}");
    let b = MediaClient::start(ws_b, &jb, true).await;
    send_everything(&b.peer);
    let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());
    eventually("b hears and sees the relay-only member", MEDIA_WAIT, || {
        b.peer.received_from(&pa, MediaKind::Audio) > 20
            && b.peer.received_from(&pa, MediaKind::Video) > 20
    })
    .await;
    eventually("the relay-only member hears and sees b", MEDIA_WAIT, || {
        a.peer.received_from(&pb, MediaKind::Audio) > 20
            && a.peer.received_from(&pb, MediaKind::Video) > 20
    })
    .await;
    let q = host
        .until("quorum_update", |q| q["present_remote"] == 2)
        .await;
    assert_eq!(q["data"]["quorate"], true);
    assert_eq!(
        b.peer.selected_local_candidate_type().await.as_deref(),
        Some("host")
    );

    // coturn itself relayed his media: once his client releases the allocation, coturn's
    // accounting for his session (his credentials) shows packets both ways between the relay
    // and its peer, the SFU — at least the audio and video b and he were seen to receive.
    // The member on the direct path never used it.
    a.peer.sending.stop.store(true, Ordering::Relaxed);
    b.peer.sending.stop.store(true, Ordering::Relaxed);
    a.peer.close().await;
    b.peer.close().await;
    let mut peer_usage = None;
    for _ in 0..100 {
        peer_usage = coturn
            .log_text()
            .lines()
            .find(|l| l.contains("peer usage:") && l.contains(&a_user))
            .map(str::to_string);
        if peer_usage.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = coturn.log_text();
    let peer_usage =
        peer_usage.unwrap_or_else(|| panic!("no relay accounting for {a_user}:\n{log}"));
    assert!(
        log.lines()
            .any(|l| l.contains(&a_user) && l.contains("ALLOCATE processed, success")),
        "{log}"
    );
    let to_sfu = usage_field(&peer_usage, "sp");
    let from_sfu = usage_field(&peer_usage, "rp");
    assert!(
        to_sfu >= 40 && from_sfu >= 40,
        "relayed to the SFU {to_sfu}, from it {from_sfu}: {peer_usage}"
    );
    assert!(!log.contains(&b_user), "b used the relay:\n{log}");
}

/// `name=N` of one of coturn's `usage:` lines.
fn usage_field(line: &str, name: &str) -> u64 {
    line.split([',', ' '])
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}
