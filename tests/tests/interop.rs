//! Interop with a WebRTC stack that is neither the `webrtc` crate nor Chromium: an aiortc
//! (Python) participant, driven by tests/interop/aiortc_client.py, speaks the `/ws` protocol
//! itself, publishes with aiortc's own payload numbering (opus 96, VP8 97) and receives a
//! `webrtc`-crate member's audio and video through the SFU; the member receives his. All on
//! loopback: the script gathers 127.0.0.1 candidates only and uses no STUN server.
//!
//! Needs python3 with aiortc (`python3 -m pip install aiortc==1.16.0`); without them the test
//! fails saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use hongying_proto::signaling::MediaKind;
use hongying_tests::media_client::{MediaClient, eventually, send_everything};
use hongying_tests::meeting_room::room_with;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const INSTALL: &str = "python3 -m pip install aiortc==1.16.0";

/// python3 able to import aiortc, or a failure naming what to install.
async fn python_with_aiortc() -> &'static str {
    let probe = Command::new("python3")
        .args(["-c", "import aiortc, av"])
        .output()
        .await;
    match probe {
        Err(e) => panic!(
            "python3 is needed for the aiortc interop test ({e}); install python3, then `{INSTALL}`"
        ),
        Ok(o) if !o.status.success() => panic!(
            "python3 cannot import aiortc: {}; install it with `{INSTALL}`",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => "python3",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_participant_and_a_webrtc_crate_participant_exchange_audio_and_video() {
    let python = python_with_aiortc().await;
    let r = room_with(2, true, |c| {
        c.media.enabled = true;
    })
    .await;
    let (ws_a, ja) = r.enter(&r.members[0].1).await;
    let a = MediaClient::start(ws_a, &ja, true).await;
    send_everything(&a.peer);

    let member = &r.members[1].1;
    let join_token = r.token(member).await;
    let url = format!("ws://{}/ws?access_token={}", r.app.addr, member.token);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/aiortc_client.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["--url", &url, "--join-token", &join_token])
        .args(["--seconds", "40", "--min-packets", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the aiortc client");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the aiortc client reported nothing within 60 s")
        .unwrap()
        .expect("the aiortc client ended without a report");
    let report: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    eprintln!("aiortc reported {report}");

    // He published in his own numbering, not the one the server would have offered.
    let pts = &report["offer_payload_types"];
    assert_ne!(pts["opus"], 111, "{report}");
    assert!(pts["vp8"].is_u64(), "{report}");
    // He received the member's audio and video.
    assert_eq!(report["ok"], true, "{report}");
    for kind in ["audio", "video"] {
        assert!(
            report["received"][kind]["packets"].as_u64().unwrap_or(0) >= 100,
            "{kind}: {report}"
        );
    }
    // And the member received his: audio packets, and video a decoder can start on (a
    // keyframe, then frames) — aiortc encodes real VP8.
    let theirs = report["participant_id"].as_str().unwrap().to_string();
    eventually(
        "the member hears and sees the aiortc participant",
        Duration::from_secs(20),
        || {
            a.peer.received_from(&theirs, MediaKind::Audio) > 50
                && a.peer.video_from(&theirs).frames > 10
        },
    )
    .await;
    assert!(a.peer.video_from(&theirs).keyframes >= 1);

    // Closing his stdin lets him hang up.
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the aiortc client did not end")
        .unwrap();
    assert!(status.success(), "{status}");
    a.peer.close().await;
}
