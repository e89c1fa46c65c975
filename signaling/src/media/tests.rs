//! The engine against real `webrtc` clients on 127.0.0.1 (loopback candidates only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hongying_proto::signaling::{IceCandidate, MediaKind};

use super::testing::{ClientCodecs, Harness, Impairment, PeerOptions, Proxy, eventually};
use super::*;

const WAIT: Duration = Duration::from_secs(20);

fn config() -> MediaConfig {
    MediaConfig {
        remote_candidates: RemoteCandidates::LoopbackOnly,
        no_media_timeout: Duration::from_secs(2),
        quality_interval: Duration::from_millis(500),
        audio_only_probe: Duration::from_secs(2),
        ..MediaConfig::default()
    }
}

const BOTH: ParticipantOptions = ParticipantOptions {
    publish: true,
    subscribe: true,
    audio_only: false,
};

fn proven(who: &'static str) -> impl Fn(&MediaEvent) -> bool {
    move |e| matches!(e, MediaEvent::MediaProven { participant } if participant == who)
}

fn lost(who: &'static str) -> impl Fn(&MediaEvent) -> bool {
    move |e| matches!(e, MediaEvent::MediaLost { participant, .. } if participant == who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_receive_each_other_and_the_host_controls_forwarding() {
    let h = Harness::start(config());
    let a = h.join("a", BOTH, None).await.unwrap();
    let b = h.join("b", BOTH, None).await.unwrap();
    for p in [&a, &b] {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.sending.video.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    // b speaks loudly, a is near silence.
    a.sending.level.store(110, Ordering::Relaxed);
    b.sending.level.store(10, Ordering::Relaxed);

    assert!(h.wait_event(WAIT, proven("a")).await);
    assert!(h.wait_event(WAIT, proven("b")).await);
    assert!(
        eventually(WAIT, || {
            a.received_from("b", MediaKind::Audio) > 20
                && a.received_from("b", MediaKind::Video) > 20
                && b.received_from("a", MediaKind::Audio) > 20
                && b.received_from("a", MediaKind::Video) > 20
        })
        .await,
        "a got {:?}, b got {:?}",
        a.received.packets.lock().unwrap(),
        b.received.packets.lock().unwrap()
    );
    // Nobody receives himself.
    assert_eq!(a.received_from("a", MediaKind::Audio), 0);

    assert!(
        h.wait_event(
            WAIT,
            |e| matches!(e, MediaEvent::ActiveSpeaker { participant } if participant == "b")
        )
        .await
    );

    // a's decoder lost sync: his PLI reaches b (the publisher).
    let before = b.keyframe_requests();
    assert!(a.request_keyframe("b").await);
    assert!(eventually(WAIT, || b.keyframe_requests() > before).await);

    // Keyframe requests are coalesced, never dropped. b now makes keyframes only when asked:
    // a burst of ten asks while one is unanswered reaches him once or twice …
    b.sending
        .keyframes_on_request_only
        .store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = b.keyframe_requests();
    for _ in 0..10 {
        assert!(a.request_keyframe("b").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let relayed = b.keyframe_requests() - before;
    assert!((1..=2).contains(&relayed), "{relayed} relayed");
    // … and an ask right after his keyframe answered it is relayed too (it used to be dropped
    // for 500 ms, and a publisher that waits to be asked then sent none).
    let before = b.keyframe_requests();
    assert!(a.request_keyframe("b").await);
    assert!(eventually(WAIT, || b.keyframe_requests() > before).await);
    b.sending
        .keyframes_on_request_only
        .store(false, Ordering::Relaxed);

    // The host mutes b's audio: a stops getting it though b keeps sending; video flows on.
    h.room.set_muted("b", MediaKind::Audio, true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let audio = a.received_from("b", MediaKind::Audio);
    let video = a.received_from("b", MediaKind::Video);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(b.sending.sent_audio.load(Ordering::Relaxed) > 0);
    assert_eq!(a.received_from("b", MediaKind::Audio), audio);
    assert!(a.received_from("b", MediaKind::Video) > video);
    // Unmuted, it flows again.
    h.room
        .set_muted("b", MediaKind::Audio, false)
        .await
        .unwrap();
    assert!(eventually(WAIT, || a.received_from("b", MediaKind::Audio) > audio + 10).await);

    // a chooses to see nobody's video (a phone in a big meeting): b's video stops for a only.
    h.room
        .select_videos("a", VideoSelection::Only(vec![]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let video = a.received_from("b", MediaKind::Video);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(a.received_from("b", MediaKind::Video), video);
    h.room
        .select_videos("a", VideoSelection::Speakers(1))
        .await
        .unwrap();
    assert!(eventually(WAIT, || a.received_from("b", MediaKind::Video) > video + 10).await);

    // b stops his camera and renegotiates: his video track is unpublished, a keeps his audio.
    assert_eq!(h.room.stats().await.published_tracks, 4);
    b.stop_video().await.unwrap();
    h.client_offer("b", false).await.unwrap();
    let mut unpublished = false;
    for _ in 0..200 {
        if h.room.stats().await.published_tracks == 3 {
            unpublished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unpublished, "{:?}", h.room.stats().await);
    let audio = a.received_from("b", MediaKind::Audio);
    assert!(eventually(WAIT, || a.received_from("b", MediaKind::Audio) > audio + 10).await);

    // b leaves: a is re-offered without b's tracks and nothing breaks.
    h.room.remove_participant("b").await;
    b.close().await;
    let stats = h.room.stats().await;
    assert_eq!(stats.participants, 1);
    assert!(stats.forwarded > 0);
    a.close().await;
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_media_and_survives_mute() {
    let h = Harness::start(config());
    let pa = Proxy::start().await;
    let a = h.join("a", BOTH, Some(pa.clone())).await.unwrap();
    let b = h.join("b", BOTH, None).await.unwrap();
    let listener = h
        .join(
            "listener",
            ParticipantOptions {
                publish: false,
                subscribe: true,
                audio_only: true,
            },
            None,
        )
        .await
        .unwrap();
    for p in [&a, &b] {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    assert!(h.wait_event(WAIT, proven("a")).await);
    assert!(h.wait_event(WAIT, proven("b")).await);
    // A receive-only device is proven by its RTCP receiver reports, and gets no video.
    assert!(
        h.wait_event(WAIT, proven("listener")).await,
        "connected {} got {:?} events {:?}",
        listener.received.connected.load(Ordering::Relaxed),
        listener.received.packets.lock().unwrap(),
        h.events.lock().unwrap()
    );
    assert!(eventually(WAIT, || listener.received_from("a", MediaKind::Audio) > 10).await);
    assert_eq!(listener.received_from("a", MediaKind::Video), 0);

    // b mutes himself: he stops sending audio, but his RTCP keeps him present.
    h.room.set_muted("b", MediaKind::Audio, true).await.unwrap();
    b.sending.audio.store(false, Ordering::Relaxed);
    // a's network dies: nothing from him any more.
    pa.impair(Impairment {
        blackhole: true,
        ..Impairment::default()
    });
    assert!(h.wait_event(WAIT, lost("a")).await);
    // The interval closes when his media stopped, about the timeout ago.
    let silent = h
        .events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            MediaEvent::MediaLost {
                participant,
                silent_for,
                reason: LostReason::Timeout,
            } if participant == "a" => Some(*silent_for),
            _ => None,
        })
        .unwrap();
    assert!(silent >= Duration::from_secs(2), "{silent:?}");
    // Well past the timeout for b too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        h.count_events(lost("b")),
        0,
        "{:?}",
        h.events.lock().unwrap()
    );
    assert_eq!(h.count_events(lost("listener")), 0);

    // a's network comes back: his media proves him again.
    pa.impair(Impairment::default());
    assert!(
        eventually(WAIT, || h.count_events(proven("a")) == 2).await,
        "{:?}",
        h.events.lock().unwrap()
    );
    // The listener asks for video after all: he is re-offered a's video and gets it.
    a.sending.video.store(true, Ordering::Relaxed);
    h.room.set_audio_only("listener", false).await.unwrap();
    assert!(
        h.wait_event(WAIT, |e| matches!(e, MediaEvent::AudioOnly { participant, on: false, reason: AudioOnlyReason::Requested } if participant == "listener"))
            .await
    );
    assert!(eventually(WAIT, || listener.received_from("a", MediaKind::Video) > 10).await);
    for p in [&a, &b, &listener] {
        p.close().await;
    }
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_from_a_new_address_keeps_the_participant() {
    let h = Harness::start(config());
    let pa = Proxy::start().await;
    let a = h.join("a", BOTH, Some(pa.clone())).await.unwrap();
    let b = h.join("b", BOTH, None).await.unwrap();
    for p in [&a, &b] {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    assert!(h.wait_event(WAIT, proven("a")).await);
    assert!(eventually(WAIT, || b.received_from("a", MediaKind::Audio) > 10).await);

    // a's phone changes network: the SFU now sees him at another address. He restarts ICE.
    pa.rebind().await;
    h.client_offer("a", true).await.unwrap();
    let before = b.received_from("a", MediaKind::Audio);
    assert!(
        eventually(WAIT, || b.received_from("a", MediaKind::Audio)
            > before + 25)
        .await
    );
    assert!(eventually(WAIT, || a.received_from("b", MediaKind::Audio) > 25).await);
    // Same participant, one proof, never lost.
    assert_eq!(h.count_events(proven("a")), 1);
    assert_eq!(h.count_events(lost("a")), 0);
    assert_eq!(h.room.stats().await.participants, 2);
    // A server-initiated restart is an offer the client answers.
    h.room.restart_ice("a").await.unwrap();
    let before = b.received_from("a", MediaKind::Audio);
    assert!(
        eventually(WAIT, || b.received_from("a", MediaKind::Audio)
            > before + 25)
        .await
    );
    assert_eq!(h.count_events(lost("a")), 0);
    a.close().await;
    b.close().await;
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_subscriber_goes_audio_only_and_back() {
    let h = Harness::start(config());
    let publisher = h.join("pub", BOTH, None).await.unwrap();
    publisher
        .sending
        .video_bps
        .store(1_200_000, Ordering::Relaxed);
    publisher.sending.audio.store(true, Ordering::Relaxed);
    publisher.sending.video.store(true, Ordering::Relaxed);
    publisher.start_sending();
    let proxy = Proxy::start().await;
    let viewer = h
        .join(
            "viewer",
            ParticipantOptions {
                publish: false,
                subscribe: true,
                audio_only: false,
            },
            Some(proxy.clone()),
        )
        .await
        .unwrap();
    assert!(eventually(WAIT, || viewer.received_from("pub", MediaKind::Video) > 50).await);

    // The viewer's downlink drops to 120 kbit/s: video cannot fit, audio can.
    proxy.impair(Impairment {
        down_bps: Some(120_000),
        ..Impairment::default()
    });
    let on = |e: &MediaEvent| matches!(e, MediaEvent::AudioOnly { participant, on: true, reason: AudioOnlyReason::WeakLink } if participant == "viewer");
    assert!(
        h.wait_event(WAIT, on).await,
        "{:?}",
        h.events.lock().unwrap()
    );
    // Audio keeps arriving while video has stopped.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audio, video) = (
        viewer.received_from("pub", MediaKind::Audio),
        viewer.received_from("pub", MediaKind::Video),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(viewer.received_from("pub", MediaKind::Audio) > audio + 20);
    assert!(viewer.received_from("pub", MediaKind::Video) <= video + 5);

    // The link recovers: video comes back and he is told.
    proxy.impair(Impairment::default());
    let off = |e: &MediaEvent| matches!(e, MediaEvent::AudioOnly { participant, on: false, reason: AudioOnlyReason::Recovered } if participant == "viewer");
    assert!(
        h.wait_event(WAIT, off).await,
        "{:?}",
        h.events.lock().unwrap()
    );
    let video = viewer.received_from("pub", MediaKind::Video);
    assert!(
        eventually(WAIT, || viewer.received_from("pub", MediaKind::Video)
            > video + 50)
        .await
    );
    publisher.close().await;
    viewer.close().await;
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sdp_and_candidates_are_errors_not_panics() {
    let (room, _events) = MediaRoom::start(Arc::new(config()));
    room.add_participant("a", BOTH).await.unwrap();
    for bad in [
        "",
        "hello",
        "v=0\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video x y z\r\na=rtpmap:abc\r\n",
        &"a".repeat(200_000),
    ] {
        let r = room.apply_offer("a", bad.to_string()).await;
        assert!(
            matches!(r, Err(MediaError::BadSdp(_))),
            "{:?} → {r:?}",
            &bad[..bad.len().min(40)]
        );
    }
    // No server offer is pending: an answer is unexpected.
    assert_eq!(
        room.apply_answer("a", "v=0\r\n".into()).await,
        Err(MediaError::UnexpectedAnswer)
    );
    for bad in [
        "candidate:garbage",
        "candidate:1 1 udp notanumber 127.0.0.1 x typ host",
        "🙂",
    ] {
        let r = room
            .add_candidate(
                "a",
                IceCandidate {
                    candidate: bad.into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                },
            )
            .await;
        assert!(
            matches!(r, Err(MediaError::BadCandidate(_))),
            "{bad} → {r:?}"
        );
    }
    // A LAN candidate is dropped, never tried (loopback-only policy): not an error.
    assert_eq!(
        room.add_candidate(
            "a",
            IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 192.168.1.20 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            },
        )
        .await,
        Ok(())
    );
    assert_eq!(
        room.apply_offer("nobody", "v=0".into()).await,
        Err(MediaError::UnknownParticipant)
    );
    // After all that the engine still works.
    assert_eq!(room.stats().await.participants, 1);
    room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_use_the_port_range_and_advertise_the_public_address() {
    // A free block of ports on loopback.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let base = probe
        .local_addr()
        .unwrap()
        .port()
        .saturating_sub(40)
        .max(20_000);
    drop(probe);
    let public: std::net::IpAddr = [203, 0, 113, 7].into();
    let (room, mut events) = MediaRoom::start(Arc::new(MediaConfig {
        udp_port_range: Some((base, base + 30)),
        public_ip: Some(public),
        ..config()
    }));
    room.add_participant("a", BOTH).await.unwrap();
    let client = testing::TestPeer::new(true).await.unwrap();
    let offer = client.create_offer(false).await.unwrap();
    let answer = room.apply_offer("a", offer).await.unwrap();
    assert!(answer.contains("a=ice-ufrag"));
    let candidate = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(MediaEvent::LocalCandidate { candidate, .. }) = events.recv().await {
                return candidate;
            }
        }
    })
    .await
    .unwrap();
    let (ip, port) = sdp::candidate_addr(&candidate.candidate).unwrap();
    assert_eq!(ip, public, "{}", candidate.candidate);
    assert!((base..=base + 30).contains(&port), "{port} not in {base}..");
    client.close().await;
    room.close().await;
}

#[test]
fn ports_are_picked_from_the_range_skipping_busy_ones() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = busy.local_addr().unwrap().port();
    let mut cursor = super::room::PortCursor::default();
    let ip: std::net::IpAddr = [127, 0, 0, 1].into();
    // A range of one busy port has nothing to give.
    assert_eq!(cursor.pick((p, p), &[ip]), None);
    // Starting at the busy one, the next free one is chosen.
    let got = cursor.pick((p, p.saturating_add(20)), &[ip]).unwrap();
    assert_ne!(got, p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offer_crossing_a_server_offer_wins_and_the_server_offers_again() {
    let (room, mut events) = MediaRoom::start(Arc::new(config()));
    // The server offers to a (an ICE restart), and a's own offer crosses it.
    room.add_participant("a", BOTH).await.unwrap();
    let a = testing::TestPeer::new(true).await.unwrap();
    let answer = room
        .apply_offer("a", a.create_offer(false).await.unwrap())
        .await
        .unwrap();
    a.apply_answer(answer).await.unwrap();
    room.restart_ice("a").await.unwrap();
    let server_offer = next_offer(&mut events, "a").await;
    assert!(server_offer.starts_with("v=0"));
    // a did not see it yet and offers himself: his offer wins.
    let answer = room
        .apply_offer("a", a.create_offer(false).await.unwrap())
        .await
        .unwrap();
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(str::to_string)
    };
    let current = ufrag(&answer).unwrap();
    a.apply_answer(answer).await.unwrap();
    // The server withdrew its offer and makes it again, still restarting ICE.
    let again = next_offer(&mut events, "a").await;
    assert_ne!(ufrag(&again).unwrap(), current);
    let answer = a.apply_offer(again).await.unwrap();
    room.apply_answer("a", answer).await.unwrap();
    a.close().await;
    room.close().await;
}

async fn next_offer(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    who: &str,
) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(MediaEvent::Offer { participant, sdp }) if participant == who => return sdp,
                Some(_) => {}
                None => return String::new(),
            }
        }
    })
    .await
    .unwrap()
}

fn numbered(opus: Option<u8>, vp8: Option<u8>) -> PeerOptions {
    PeerOptions {
        codecs: ClientCodecs {
            opus,
            vp8,
            shift_extension_ids: true,
        },
        ..PeerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_get_media_in_the_numbering_they_negotiated() {
    let h = Harness::start(config());
    // Chrome's numbering, Firefox's, and opus on 96 with VP8 on 97 (the server's VP8 number).
    let chrome = h.join("chrome", BOTH, None).await.unwrap();
    let firefox = h
        .join_with(
            "firefox",
            BOTH,
            None,
            PeerOptions {
                codecs: ClientCodecs::firefox(),
                ..PeerOptions::default()
            },
        )
        .await
        .unwrap();
    let odd = h
        .join_with("odd", BOTH, None, numbered(Some(96), Some(97)))
        .await
        .unwrap();
    let all = [("chrome", &chrome), ("firefox", &firefox), ("odd", &odd)];
    for (_, p) in all {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.sending.video.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    for (who, p) in all {
        for (from, _) in all {
            if from == who {
                continue;
            }
            assert!(
                eventually(WAIT, || p.received_from(from, MediaKind::Audio) > 20
                    && p.video_from(from).frames > 10)
                .await,
                "{who} from {from}: {:?} {:?}",
                p.received.packets.lock().unwrap(),
                p.video_from(from)
            );
        }
    }
    // The audio level reaches each under his own extension id (the speaker detector of a
    // client reads it there).
    for (who, p) in all {
        p.observed.take_levels();
        assert!(
            eventually(WAIT, || !p.observed.take_levels().is_empty()).await,
            "{who} gets no audio levels"
        );
    }
    let stats = h.room.stats().await;
    assert_eq!(stats.write_errors, 0, "{stats:?}");
    assert_eq!(h.count_events(|e| matches!(e, MediaEvent::Error { .. })), 0);
    for (_, p) in all {
        p.close().await;
    }
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_without_a_common_codec_is_told_and_gets_the_rest() {
    let h = Harness::start(config());
    let publisher = h.join("pub", BOTH, None).await.unwrap();
    publisher.sending.audio.store(true, Ordering::Relaxed);
    publisher.sending.video.store(true, Ordering::Relaxed);
    publisher.start_sending();
    // Both tracks offered at once: a webrtc-rs client answering an offer whose only section it
    // rejects leaves out its ICE credentials, which is not what this test is about.
    assert!(published(&h, 2).await);
    let receive_only = ParticipantOptions {
        publish: false,
        subscribe: true,
        audio_only: false,
    };
    // No VP8 (VP9 only): told about video, hears the audio.
    let no_vp8 = h
        .join_with("no_vp8", receive_only, None, numbered(Some(109), None))
        .await
        .unwrap();
    // A publisher without Opus (PCMU only): told about audio, sees the video.
    let no_opus = h
        .join_with("no_opus", BOTH, None, numbered(None, Some(120)))
        .await
        .unwrap();
    let told = |who: &'static str, what: &'static str| {
        move |e: &MediaEvent| {
            matches!(e, MediaEvent::Error { participant, error: MediaError::NoCommonCodec(k) }
                if participant == who && k == what)
        }
    };
    assert!(
        h.wait_event(WAIT, told("no_vp8", "视频")).await,
        "{:?}",
        h.events.lock().unwrap()
    );
    assert!(
        h.wait_event(WAIT, told("no_opus", "音频")).await,
        "{:?}",
        h.events.lock().unwrap()
    );
    let e = MediaError::NoCommonCodec("视频".into());
    assert_eq!(e.code(), "no_common_codec");
    assert!(e.to_string().contains("VP8"));
    assert!(eventually(WAIT, || no_vp8.received_from("pub", MediaKind::Audio) > 20).await);
    assert!(eventually(WAIT, || no_opus.video_from("pub").frames > 10).await);
    // Told once each, and nothing written that his connection would refuse.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.count_events(told("no_vp8", "视频")), 1);
    assert_eq!(no_vp8.received_from("pub", MediaKind::Video), 0);
    assert_eq!(h.room.stats().await.write_errors, 0);
    for p in [&publisher, &no_vp8, &no_opus] {
        p.close().await;
    }
    h.room.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_decodes_every_publisher_within_two_seconds_of_joining() {
    let h = Harness::start(config());
    // Publishers whose encoders make a keyframe only when asked (and their first one).
    let mut publishers = Vec::new();
    for id in ["p1", "p2", "p3"] {
        let p = h.join(id, BOTH, None).await.unwrap();
        p.sending
            .keyframes_on_request_only
            .store(true, Ordering::Relaxed);
        p.sending.audio.store(true, Ordering::Relaxed);
        p.sending.video.store(true, Ordering::Relaxed);
        p.start_sending();
        publishers.push((id, p));
    }
    let receive_only = ParticipantOptions {
        publish: false,
        subscribe: true,
        audio_only: false,
    };
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let id = format!("s{n}");
        let started = std::time::Instant::now();
        let s = h.join(&id, receive_only, None).await.unwrap();
        let decodes = |s: &testing::TestPeer| {
            publishers.iter().all(|(p, _)| {
                let v = s.video_from(p);
                v.first_keyframe.is_some() && v.frames >= 5
            })
        };
        let ok = eventually(Duration::from_secs(2), || decodes(&s)).await;
        let took = started.elapsed();
        assert!(
            ok && took <= Duration::from_secs(2),
            "subscriber {n} after {took:?}: {:?}",
            publishers
                .iter()
                .map(|(p, _)| (p, s.video_from(p)))
                .collect::<Vec<_>>()
        );
        slowest = slowest.max(took);
        // Some stay (the publishers' fan-out grows), the rest leave.
        if n % 4 != 0 {
            h.room.remove_participant(&id).await;
            s.close().await;
        }
    }
    eprintln!("slowest subscriber decoded everyone after {slowest:?}");
    // The publishers were asked, not flooded: coalesced requests, a few per join at most.
    let stats = h.room.stats().await;
    assert!(stats.keyframe_requests <= 20 * 3 * 4, "{stats:?}");
    assert_eq!(stats.write_errors, 0, "{stats:?}");
    for (_, p) in &publishers {
        p.close().await;
    }
    h.room.close().await;
}

async fn published(h: &Harness, n: usize) -> bool {
    for _ in 0..200 {
        if h.room.stats().await.published_tracks == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_connection_after_an_app_restart_replaces_the_old_one() {
    let h = Harness::start(config());
    let a = h.join("a", BOTH, None).await.unwrap();
    let b = h.join("b", BOTH, None).await.unwrap();
    for p in [&a, &b] {
        p.sending.audio.store(true, Ordering::Relaxed);
        p.sending.video.store(true, Ordering::Relaxed);
        p.start_sending();
    }
    assert!(h.wait_event(WAIT, proven("a")).await);
    assert!(eventually(WAIT, || b.received_from("a", MediaKind::Audio) > 20).await);
    // The host muted a's video before; the restart must not undo it.
    h.room.set_muted("a", MediaKind::Video, true).await.unwrap();

    // a's app restarts: the old connection goes silent, a new one (new certificate) offers.
    a.close().await;
    let a2 = h.restart_client("a").await.unwrap();
    a2.sending.audio.store(true, Ordering::Relaxed);
    a2.sending.video.store(true, Ordering::Relaxed);
    a2.start_sending();
    assert!(
        eventually(WAIT, || a2.received.connected.load(Ordering::Relaxed)).await,
        "the new connection never connected"
    );
    let before = b.received_from("a", MediaKind::Audio);
    assert!(
        eventually(WAIT, || b.received_from("a", MediaKind::Audio)
            > before + 25)
        .await
    );
    assert!(eventually(WAIT, || a2.received_from("b", MediaKind::Audio) > 25).await);
    assert!(eventually(WAIT, || a2.video_from("b").frames > 10).await);
    // Same participant, present throughout, still video-muted by the host.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.count_events(lost("a")),
        0,
        "{:?}",
        h.events.lock().unwrap()
    );
    assert_eq!(h.room.stats().await.participants, 2);
    let video = b.received_from("a", MediaKind::Video);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(b.received_from("a", MediaKind::Video), video);
    a2.close().await;
    b.close().await;
    h.room.close().await;
}
