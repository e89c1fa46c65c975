//! Media through the socket, with real WebRTC peers (the `webrtc` crate, loopback only):
//! members negotiate with the SFU over `/ws`, receive each other's audio and video, and
//! count toward quorum while their media flows — not from their join.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use hongying_proto::signaling::MediaKind;
use hongying_tests::json;
use hongying_tests::media_client::{MediaClient, eventually, send_everything};
use hongying_tests::ws::assert_error;

use hongying_tests::meeting_room::room_with;

/// How long media may take to flow on a loaded machine.
const MEDIA_WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn members_count_while_their_media_flows() {
    let r = room_with(3, true, |c| {
        c.media.enabled = true;
        c.media.no_media_timeout_ms = 2_000;
    })
    .await;
    let (mut host, joined) = r.host().await;
    assert!(joined["ice_servers"].is_array());

    // Joined but no media yet: not counted.
    let (ws_a, ja) = r.enter(&r.members[0].1).await;
    let q = host.until("quorum_update", |_| true).await;
    assert_eq!(
        q["data"]["present_voting"], 0,
        "a join alone proves nothing"
    );

    let mut a = MediaClient::start(ws_a, &ja, true).await;
    let (ws_b, jb) = r.enter(&r.members[1].1).await;
    let mut b = MediaClient::start(ws_b, &jb, true).await;
    send_everything(&a.peer);
    send_everything(&b.peer);

    let q = host
        .until("quorum_update", |q| q["present_remote"] == 2)
        .await;
    assert_eq!(q["data"]["expected"], 3);
    assert_eq!(q["data"]["quorate"], true);
    a.until("participant_updated", |p| {
        p["participant_id"] == b.participant_id.as_str() && p["media_proven"] == true
    })
    .await;

    // Each receives the other's audio and video, forwarded by the SFU.
    let (pa, pb) = (a.participant_id.clone(), b.participant_id.clone());
    eventually("a hears and sees b", MEDIA_WAIT, || {
        a.peer.received_from(&pb, MediaKind::Audio) > 20
            && a.peer.received_from(&pb, MediaKind::Video) > 20
    })
    .await;
    eventually("b hears and sees a", MEDIA_WAIT, || {
        b.peer.received_from(&pa, MediaKind::Audio) > 20
            && b.peer.received_from(&pa, MediaKind::Video) > 20
    })
    .await;

    // A malformed offer is refused with its code, and nothing breaks.
    b.request("offer", json!({"sdp": "v=0 garbage"}));
    let e = b.until("error", |_| true).await;
    assert_error(&e, "bad_sdp");
    // So are malformed candidates.
    for bad in [
        "candidate:garbage",
        "candidate:1 1 udp notanumber 127.0.0.1 x typ host",
    ] {
        b.request("candidate", json!({"candidate": bad, "sdp_mid": "0"}));
        let e = b.until("error", |_| true).await;
        assert_error(&e, "bad_candidate");
    }

    // b's phone stops sending anything: within the timeout he no longer counts, and his
    // interval closes at the moment his media stopped.
    b.peer.close().await;
    let q = host
        .until("quorum_update", |q| q["present_remote"] == 1)
        .await;
    assert_eq!(q["data"]["quorate"], false);
    let ivs = r.intervals(&r.members[1].0).await;
    assert_eq!(ivs.len(), 1, "{ivs:?}");
    assert_eq!(ivs[0].2.as_deref(), Some("media_timeout"));
    // a still counts.
    let ivs = r.intervals(&r.members[0].0).await;
    assert!(ivs.iter().any(|i| i.1.is_none()), "{ivs:?}");
    a.peer.sending.stop.store(true, Ordering::Relaxed);
}
