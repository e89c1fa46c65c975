//! Media presence that survives what phones do, end to end through `/ws` with real WebRTC
//! peers on loopback (issue #6): a network change (socket dropped, resumed, ICE restarted
//! from a new address) keeps one attendance interval; a muted member who sends only RTCP
//! keeps counting; a weak downlink moves a subscriber to audio-only and back.
//!
//! Addresses change and links degrade through the UDP `Proxy` of the `testing` feature,
//! which sits between a client and the SFU on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hongying_proto::signaling::MediaKind;
use hongying_server::config::Config;
use hongying_signaling::media::testing::{Impairment, Proxy};
use hongying_tests::media_client::{MediaClient, eventually, send_everything};
use hongying_tests::ws::{Incoming, WsClient};
use hongying_tests::{Value, json};

use hongying_tests::meeting_room::{Room, room_with};

/// The presence timeout of these tests: long enough that a CI machine busy with other
/// tests never starves a reporting client that long, short enough to outwait.
const TIMEOUT: Duration = Duration::from_millis(4_000);

fn media_on(c: &mut Config) {
    c.media.enabled = true;
    c.media.no_media_timeout_ms = TIMEOUT.as_millis() as u64;
}

/// Every frame the host's socket receives and when: read in the background, so that the
/// server's pings are answered and the whole history can be judged afterwards.
struct Watch {
    frames: Arc<Mutex<Vec<(Instant, Value)>>>,
    started: Instant,
}

impl Watch {
    fn start(mut ws: WsClient) -> Watch {
        let frames: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
        let f2 = frames.clone();
        tokio::spawn(async move {
            while let Some(Incoming::Frame(f)) = ws.incoming_for(Duration::from_secs(3600)).await {
                f2.lock().unwrap().push((Instant::now(), f));
            }
        });
        Watch {
            frames,
            started: Instant::now(),
        }
    }

    /// Waits for a frame of type `ty` whose data satisfies `pred` (from the start).
    async fn wait(&self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_after(self.started, ty, pred).await
    }

    /// Waits for a frame of type `ty` received after `since` whose data satisfies `pred`.
    async fn wait_after(&self, since: Instant, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let find = || {
            self.frames
                .lock()
                .unwrap()
                .iter()
                .find(|(t, f)| *t >= since && f["type"] == ty && pred(&f["data"]))
                .map(|(_, f)| f.clone())
        };
        eventually(
            &format!("the host sees {ty}"),
            Duration::from_secs(20),
            || find().is_some(),
        )
        .await;
        find().unwrap()
    }

    /// Frames of type `ty` received after `since`.
    fn after(&self, since: Instant, ty: &str) -> Vec<(Instant, Value)> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, f)| *t >= since && f["type"] == ty)
            .cloned()
            .collect()
    }

    /// The longest stretch after `since` during which fewer than `want` members counted
    /// as present remotely (until now if it has not ended).
    fn longest_below(&self, since: Instant, want: u64) -> Duration {
        let mut longest = Duration::ZERO;
        let mut below_from: Option<Instant> = None;
        for (t, q) in self.after(since, "quorum_update") {
            let n = q["data"]["present_remote"].as_u64().unwrap();
            match (n < want, below_from) {
                (true, None) => below_from = Some(t),
                (false, Some(from)) => {
                    longest = longest.max(t - from);
                    below_from = None;
                }
                _ => {}
            }
        }
        if let Some(from) = below_from {
            longest = longest.max(from.elapsed());
        }
        longest
    }

    /// Updates of `pid` after `since` in which his media was no longer proven.
    fn lost(&self, since: Instant, pid: &str) -> Vec<Value> {
        self.after(since, "participant_updated")
            .into_iter()
            .map(|(_, f)| f["data"].clone())
            .filter(|p| p["participant_id"] == pid && p["media_proven"] == false)
            .collect()
    }
}

/// The member's remote intervals: exactly one, still open; its opening time.
async fn one_open_interval(r: &Room, member: &str) -> chrono::NaiveDateTime {
    let ivs = r.intervals(member).await;
    assert_eq!(ivs.len(), 1, "one interval: {ivs:?}");
    assert!(ivs[0].1.is_none(), "still open: {ivs:?}");
    ivs[0].0
}

#[tokio::test]
async fn a_phone_changing_network_keeps_one_attendance_interval() {
    let r = room_with(3, true, media_on).await;
    let (host, _) = r.host().await;
    let host = Watch::start(host);

    // a's phone reaches the SFU through a relay: the SFU sees him at the relay's address.
    let proxy = Proxy::start().await;
    let who = &r.members[0].1;
    let (ws_a, ja) = r.enter(who).await;
    let resume = ja["resume_token"].as_str().unwrap().to_string();
    let a = MediaClient::start_via(ws_a, &ja, true, proxy.clone()).await;
    let (ws_b, jb) = r.enter(&r.members[1].1).await;
    let b = MediaClient::start(ws_b, &jb, true).await;
    send_everything(&a.peer);
    send_everything(&b.peer);
    let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());

    host.wait("quorum_update", |q| q["present_remote"] == 2)
        .await;
    let wait = Duration::from_secs(20);
    eventually("a and b hear each other", wait, || {
        a.peer.received_from(&pb, MediaKind::Audio) > 20
            && b.peer.received_from(&pa, MediaKind::Audio) > 20
    })
    .await;
    let opened = one_open_interval(&r, &r.members[0].0).await;
    let token = r.token(who).await;
    let since = Instant::now();

    // The phone moves from Wi-Fi to 4G: the socket dies without a close frame and its UDP
    // now leaves from another address.
    a.cut_socket();
    proxy.rebind().await;
    // A new socket, resumed as himself; then he restarts ICE from where he is now.
    let mut ws = r.app.ws(who).await;
    let f = ws
        .ask(
            "join",
            Some(json!({"join_token": token, "resume_token": resume})),
        )
        .await;
    assert_eq!(f["type"], "joined", "{f}");
    assert_eq!(f["data"]["resumed"], true, "{f}");
    assert_eq!(f["data"]["participant_id"], pa.as_str());
    a.attach(ws);
    a.request("restart_ice", Value::Null);

    // Media flows again both ways over the new path.
    let (heard, got) = (
        b.peer.received_from(&pa, MediaKind::Audio),
        a.peer.received_from(&pb, MediaKind::Audio),
    );
    eventually("b hears a after the change", wait, || {
        b.peer.received_from(&pa, MediaKind::Audio) > heard + 25
    })
    .await;
    eventually("a hears b after the change", wait, || {
        a.peer.received_from(&pb, MediaKind::Audio) > got + 25
    })
    .await;

    // Once more without losing the socket: a second network change, ICE restarted over
    // the same socket.
    proxy.rebind().await;
    a.request("restart_ice", Value::Null);
    let heard = b.peer.received_from(&pa, MediaKind::Audio);
    eventually("b hears a after the second change", wait, || {
        b.peer.received_from(&pa, MediaKind::Audio) > heard + 25
    })
    .await;

    // Well past the presence timeout: a was never dropped from the quorum for longer than
    // the timeout (in fact never lost at all), and he has the interval he had.
    tokio::time::sleep(TIMEOUT + Duration::from_secs(1)).await;
    let below = host.longest_below(since, 2);
    assert!(below <= TIMEOUT, "out of the quorum for {below:?}");
    assert!(
        host.lost(since, &pa).is_empty(),
        "{:?}",
        host.lost(since, &pa)
    );
    assert_eq!(one_open_interval(&r, &r.members[0].0).await, opened);
    a.peer.close().await;
    b.peer.close().await;
}

#[tokio::test]
async fn a_muted_member_keeps_counting_and_is_heard_again_when_he_unmutes() {
    let r = room_with(3, true, media_on).await;
    let (host, _) = r.host().await;
    let host = Watch::start(host);
    let (ws_a, ja) = r.enter(&r.members[0].1).await;
    let a = MediaClient::start(ws_a, &ja, true).await;
    let (ws_b, jb) = r.enter(&r.members[1].1).await;
    let b = MediaClient::start(ws_b, &jb, true).await;
    send_everything(&a.peer);
    send_everything(&b.peer);
    let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());
    host.wait("quorum_update", |q| q["present_remote"] == 2)
        .await;
    let wait = Duration::from_secs(20);
    eventually("b hears and sees a", wait, || {
        b.peer.received_from(&pa, MediaKind::Audio) > 20
            && b.peer.received_from(&pa, MediaKind::Video) > 20
    })
    .await;
    let opened = one_open_interval(&r, &r.members[0].0).await;

    // a mutes his microphone and camera, as a browser does: the server is told, and no
    // RTP leaves his phone any more; only RTCP (his reports on b's streams) does.
    let since = Instant::now();
    a.request("mute", json!({"kind": "audio", "muted": true}));
    a.request("mute", json!({"kind": "video", "muted": true}));
    a.peer.sending.audio.store(false, Ordering::Relaxed);
    a.peer.sending.video.store(false, Ordering::Relaxed);
    host.wait("participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["audio_muted"] == true && p["video_muted"] == true
    })
    .await;
    // Whatever was in flight has arrived.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = (
        a.peer.sending.sent_audio.load(Ordering::Relaxed),
        a.peer.sending.sent_video.load(Ordering::Relaxed),
    );
    let heard = (
        b.peer.received_from(&pa, MediaKind::Audio),
        b.peer.received_from(&pa, MediaKind::Video),
    );
    let a_got = a.peer.received_from(&pb, MediaKind::Audio);

    // Twice the presence timeout in silence.
    tokio::time::sleep(TIMEOUT * 2).await;
    assert_eq!(
        (
            a.peer.sending.sent_audio.load(Ordering::Relaxed),
            a.peer.sending.sent_video.load(Ordering::Relaxed),
        ),
        sent,
        "a muted sender sends no RTP"
    );
    assert_eq!(
        (
            b.peer.received_from(&pa, MediaKind::Audio),
            b.peer.received_from(&pa, MediaKind::Video),
        ),
        heard
    );
    // He still receives (so his reports go on), and he still counts.
    assert!(a.peer.received_from(&pb, MediaKind::Audio) > a_got + 50);
    assert!(
        host.lost(since, &pa).is_empty(),
        "{:?}",
        host.lost(since, &pa)
    );
    assert_eq!(host.longest_below(since, 2), Duration::ZERO);
    assert!(
        host.after(since, "quorum_update")
            .iter()
            .all(|(_, q)| q["data"]["present_remote"] == 2),
        "{:?}",
        host.after(since, "quorum_update")
    );
    assert_eq!(one_open_interval(&r, &r.members[0].0).await, opened);

    // He unmutes: b hears him again.
    let unmuted = Instant::now();
    a.request("mute", json!({"kind": "audio", "muted": false}));
    a.peer.sending.audio.store(true, Ordering::Relaxed);
    eventually("b hears a again", wait, || {
        b.peer.received_from(&pa, MediaKind::Audio) > heard.0 + 25
    })
    .await;
    host.wait_after(unmuted, "participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["audio_muted"] == false && p["media_proven"] == true
    })
    .await;
    assert_eq!(one_open_interval(&r, &r.members[0].0).await, opened);
    a.peer.close().await;
    b.peer.close().await;
}

#[tokio::test]
async fn a_weak_downlink_goes_audio_only_and_back() {
    // Any estimate under 400 kbit/s is too weak for video here, so the switch does not
    // hang on how lossy the throttle happens to be.
    let r = room_with(3, true, |c| {
        media_on(c);
        c.media.audio_only_threshold_bps = 400_000;
    })
    .await;
    let (host, _) = r.host().await;
    let host = Watch::start(host);
    // b publishes a 1.2 Mbit/s camera.
    let (ws_b, jb) = r.enter(&r.members[1].1).await;
    let b = MediaClient::start(ws_b, &jb, true).await;
    b.peer.sending.video_bps.store(1_200_000, Ordering::Relaxed);
    send_everything(&b.peer);
    // a's phone is behind a link that will degrade.
    let proxy = Proxy::start().await;
    let (ws_a, ja) = r.enter(&r.members[0].1).await;
    let mut a = MediaClient::start_via(ws_a, &ja, true, proxy.clone()).await;
    a.peer.sending.audio.store(true, Ordering::Relaxed);
    a.peer.start_sending();
    let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());
    host.wait("quorum_update", |q| q["present_remote"] == 2)
        .await;
    let wait = Duration::from_secs(20);
    eventually("a sees b", wait, || {
        a.peer.received_from(&pb, MediaKind::Video) > 50
    })
    .await;

    // His downlink falls to 120 kbit/s: b's video cannot fit, his audio can.
    proxy.impair(Impairment {
        down_bps: Some(120_000),
        ..Impairment::default()
    });
    let f = a
        .until_within(wait, "audio_only", |d| d["on"] == true)
        .await;
    assert_eq!(f["data"]["reason"], "weak_link", "{f}");
    host.wait("participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["audio_only"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audio, video) = (
        a.peer.received_from(&pb, MediaKind::Audio),
        a.peer.received_from(&pb, MediaKind::Video),
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (audio2, video2) = (
        a.peer.received_from(&pb, MediaKind::Audio),
        a.peer.received_from(&pb, MediaKind::Video),
    );
    assert!(audio2 > audio + 30, "audio goes on: {audio} → {audio2}");
    assert!(video2 <= video + 5, "video stopped: {video} → {video2}");

    // The link recovers: after the probe delay video is tried again, holds, and he is told.
    proxy.impair(Impairment::default());
    let f = a
        .until_within(Duration::from_secs(40), "audio_only", |d| d["on"] == false)
        .await;
    assert_eq!(f["data"]["reason"], "recovered", "{f}");
    let video = a.peer.received_from(&pb, MediaKind::Video);
    eventually("a sees b again", wait, || {
        a.peer.received_from(&pb, MediaKind::Video) > video + 50
    })
    .await;
    // All along a counted: a weak link is not an absence.
    assert!(host.lost(host.started, &pa).is_empty());
    one_open_interval(&r, &r.members[0].0).await;
    a.peer.close().await;
    b.peer.close().await;
}
