//! The SFU's connections log nothing per packet: no RTP written before a subscriber's SRTP
//! keys exist (`local_srtp_context is not set yet`), none with a payload type or extension id
//! his connection did not negotiate (`Failed to send RTP: unsupported codec type…`). Its own
//! process, because the `log` logger it listens with is global.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hongying_proto::signaling::MediaKind;
use hongying_signaling::media::testing::{ClientCodecs, Harness, PeerOptions, eventually};
use hongying_signaling::media::{MediaConfig, ParticipantOptions, RemoteCandidates};

/// Warnings and errors of the webrtc crates about writing media.
static WRITE_TROUBLE: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Listener;

impl log::Log for Listener {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let text = r.args().to_string();
        // Reading side excluded: the first packets of a peer that finished DTLS a moment
        // before its remote did arrive before the remote has keys (a race of every WebRTC
        // stack, two or three packets per connection).
        let about_writing = [
            "handle_write",
            "Failed to send RTP",
            "unsupported codec",
            "extension",
        ]
        .iter()
        .any(|w| text.contains(w));
        if about_writing {
            WRITE_TROUBLE.lock().unwrap().push(text);
        }
    }

    fn flush(&self) {}
}

static LISTENER: Listener = Listener;

const BOTH: ParticipantOptions = ParticipantOptions {
    publish: true,
    subscribe: true,
    audio_only: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_logs_nothing_per_packet() {
    log::set_logger(&LISTENER).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let h = Harness::start(MediaConfig {
        remote_candidates: RemoteCandidates::LoopbackOnly,
        ..MediaConfig::default()
    });
    let firefox = || PeerOptions {
        codecs: ClientCodecs::firefox(),
        ..PeerOptions::default()
    };
    let a = h.join("a", BOTH, None).await.unwrap();
    let b = h.join_with("b", BOTH, None, firefox()).await.unwrap();
    for p in [&a, &b] {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.sending.video.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    // Subscribers join while media flows: each is offered tracks that are already busy, and
    // his connection takes a while to be ready.
    let receive_only = ParticipantOptions {
        publish: false,
        subscribe: true,
        audio_only: false,
    };
    let mut subs = Vec::new();
    for n in 0..4 {
        let id = format!("s{n}");
        let s = if n % 2 == 0 {
            h.join(&id, receive_only, None).await.unwrap()
        } else {
            h.join_with(&id, receive_only, None, firefox())
                .await
                .unwrap()
        };
        subs.push(s);
    }
    for s in &subs {
        assert!(
            eventually(Duration::from_secs(20), || {
                s.received_from("a", MediaKind::Video) > 30
                    && s.received_from("b", MediaKind::Audio) > 30
            })
            .await
        );
    }
    let stats = h.room.stats().await;
    assert_eq!(stats.write_errors, 0, "{stats:?}");
    let trouble = WRITE_TROUBLE.lock().unwrap().clone();
    assert!(
        trouble.is_empty(),
        "{} lines, the first: {:?}",
        trouble.len(),
        trouble.iter().take(3).collect::<Vec<_>>()
    );
    for p in subs.iter().chain([&a, &b]) {
        p.close().await;
    }
    h.room.close().await;
}
