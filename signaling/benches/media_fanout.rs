//! Fan-out benchmark: one publisher (synthetic VP8 at ~1.8 Mbit/s + Opus) to N receive-only
//! subscribers, all real `webrtc` peer connections on 127.0.0.1.
//!
//! The SFU runs on its own tokio runtime (one worker thread, named `sfu-*`), the clients on
//! another (`cli-*`), so the SFU's CPU time is read per thread from /proc. Reported per N:
//! time until every subscriber receives video, delivery ratio over a steady window, SFU CPU
//! time per forwarded packet (and the share of one core), RSS per peer connection.
//!
//! With `--pin`, the SFU's thread is bound to CPU 0 and the clients' threads to the other
//! CPUs, so "on at most one core" holds by construction and the clients cannot take the
//! SFU's core.
//!
//! cargo bench -p hongying-signaling --features testing --bench media_fanout -- 50 100 200 --pin
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hongying_proto::signaling::MediaKind;
use hongying_signaling::media::testing::{Harness, TestPeer};
use hongying_signaling::media::{MediaConfig, ParticipantOptions};

const VIDEO_BPS: u64 = 1_800_000;

/// utime + stime (clock ticks) of this process's threads whose name starts with `prefix`.
fn thread_ticks(prefix: &str) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state is field 3 of stat, utime 14, stime 15 (1-based).
        let ut: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let st: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        total += ut + st;
    }
    total
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets).
fn udp_rcvbuf_errors() -> u64 {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on.
    100.0
}

struct Result {
    n: usize,
    connect: Duration,
    ratio: f64,
    sfu_ratio: f64,
    rcvbuf_errors: u64,
    cpu_us_per_packet: f64,
    core_share: f64,
    rss_per_pc_kib: f64,
    forwarded: u64,
    dropped: u64,
    window: Duration,
}

/// Binds the calling thread to `cpus`.
fn pin_to(cpus: &[usize]) {
    // One core for one thread; a set of cores is not offered by the crate, so a thread of
    // the clients takes one of theirs by its own turn.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % cpus.len();
    let ok = core_affinity::set_for_current(core_affinity::CoreId { id: cpus[i] });
    assert!(ok, "could not pin a thread to CPU {}", cpus[i]);
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(n: usize, secs: u64, pin: bool) -> Result {
    let client_cpus: Vec<usize> = (1..cpus().max(2)).collect();
    let cc = client_cpus.clone();
    let sfu_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sfu-worker")
        .on_thread_start(move || {
            if pin {
                pin_to(&[0]);
            }
        })
        .enable_all()
        .build()
        .unwrap();
    let cli_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_cpus.len().max(2))
        .thread_name("cli-worker")
        .on_thread_start(move || {
            if pin {
                pin_to(&cc);
            }
        })
        .enable_all()
        .build()
        .unwrap();
    if pin {
        // The main thread drives the client runtime.
        pin_to(&client_cpus);
    }
    let harness = {
        let _g = sfu_rt.enter();
        Arc::new(Harness::start(MediaConfig::default()))
    };
    let rss0 = rss_kib();
    cli_rt.block_on(async move {
        let publish = ParticipantOptions {
            publish: true,
            subscribe: false,
            audio_only: false,
        };
        let publisher = harness.join("pub", publish, None).await.unwrap();
        publisher
            .sending
            .video_bps
            .store(VIDEO_BPS, Ordering::Relaxed);
        publisher.sending.audio.store(true, Ordering::Relaxed);
        publisher.sending.video.store(true, Ordering::Relaxed);
        publisher.start_sending();
        while harness.room.stats().await.published_tracks < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let started = Instant::now();
        let receive = ParticipantOptions {
            publish: false,
            subscribe: true,
            audio_only: false,
        };
        let mut subs: Vec<Arc<TestPeer>> = Vec::new();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut joins = Vec::new();
        for i in 0..n {
            let (h, sem) = (harness.clone(), sem.clone());
            joins.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                h.join(&format!("s{i}"), receive, None).await.unwrap()
            }));
        }
        for j in joins {
            subs.push(j.await.unwrap());
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while subs
            .iter()
            .any(|s| s.received_from("pub", MediaKind::Video) == 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect = started.elapsed();
        let rss_per_pc = (rss_kib().saturating_sub(rss0)) as f64 / (2 * n + 1) as f64;
        // Settle, then measure a steady window.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = &publisher.sending;
        let sent0 = s.sent_audio.load(Ordering::Relaxed) + s.sent_video.load(Ordering::Relaxed);
        let recv0: u64 = subs.iter().map(|p| p.received_total()).sum();
        let st0 = harness.room.stats().await;
        let cpu0 = thread_ticks("sfu-");
        let udp0 = udp_rcvbuf_errors();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let sent1 = s.sent_audio.load(Ordering::Relaxed) + s.sent_video.load(Ordering::Relaxed);
        let cpu1 = thread_ticks("sfu-");
        let st1 = harness.room.stats().await;
        let window = t0.elapsed();
        // Let what was sent in the window arrive.
        s.stop.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let recv1: u64 = subs.iter().map(|p| p.received_total()).sum();
        let udp1 = udp_rcvbuf_errors();
        // Packets sent after the window that still arrived are not counted: stop is at the
        // window's end, so the two agree to within the last send tick.
        let expected = (sent1 - sent0) as f64 * n as f64;
        let got = (recv1 - recv0) as f64;
        let forwarded = st1.forwarded - st0.forwarded;
        let cpu_secs = (cpu1 - cpu0) as f64 / ticks_per_sec();
        let r = Result {
            n,
            connect,
            ratio: (got / expected).min(1.0),
            sfu_ratio: forwarded as f64
                / ((st1.received - st0.received) as f64 * n as f64).max(1.0),
            rcvbuf_errors: udp1.saturating_sub(udp0),
            cpu_us_per_packet: cpu_secs * 1e6 / forwarded.max(1) as f64,
            core_share: cpu_secs / window.as_secs_f64(),
            rss_per_pc_kib: rss_per_pc,
            forwarded,
            dropped: st1.dropped - st0.dropped,
            window,
        };
        for p in subs {
            p.close().await;
        }
        publisher.close().await;
        harness.room.close().await;
        r
    })
}

fn main() {
    let mut ns = Vec::new();
    let mut secs = 10;
    let mut pin = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--pin" {
            pin = true;
        } else if a == "--secs" {
            secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs);
        } else if let Ok(n) = a.parse::<usize>() {
            ns.push(n);
        }
    }
    if ns.is_empty() {
        ns = vec![50, 100, 200];
    }
    println!(
        "| N | all receiving video after | delivery (clients) | forwarded / (received × N) at the SFU | SFU CPU per forwarded packet | SFU core share | RSS per peer connection | forwarded in window | dropped at SFU | kernel UDP rcvbuf drops |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for n in ns {
        let r = run(n, secs, pin);
        println!(
            "| {} | {:.2} s | {:.3} % | {:.3} % | {:.1} µs | {:.0} % | {:.0} KiB | {} in {:.0} s | {} | {} |",
            r.n,
            r.connect.as_secs_f64(),
            r.ratio * 100.0,
            r.sfu_ratio * 100.0,
            r.cpu_us_per_packet,
            r.core_share * 100.0,
            r.rss_per_pc_kib,
            r.forwarded,
            r.window.as_secs_f64(),
            r.dropped,
            r.rcvbuf_errors
        );
    }
}
