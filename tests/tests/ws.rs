//! The `/ws` signaling socket end to end, with real WebSocket clients against the spawned
//! server: joining, host controls, the waiting room, a second device, resume inside and
//! outside the window (one merged interval against two), crash recovery, the live quorum
//! of a 59-member congress, voting over the socket, live and missed notices, and every
//! kind of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::config::Config;
use hongying_tests::api::post_empty;
use hongying_tests::cluster::TestCluster;
use hongying_tests::fixtures::Caller;
use hongying_tests::meeting_room::{Room, room_in, room_with};
use hongying_tests::reqwest::Method;
use hongying_tests::ws::{WsClient, assert_error};
use hongying_tests::{TestApp, Value, call, json, ok_json};

fn pid(joined: &Value) -> String {
    joined["participant_id"].as_str().unwrap().to_string()
}

// --- joining and the live quorum ----------------------------------------------------------

#[tokio::test]
async fn the_host_sees_the_quorum_reached_when_the_30th_of_59_members_joins() {
    let r = room_with(59, true, |_| {}).await;
    let (mut host, joined) = r.host().await;
    assert_eq!(joined["room"]["title"], "马街村党总支第四季度党员大会");
    assert_eq!(joined["room"]["participants"][0]["role"], "host");
    let mut sockets = Vec::new();
    let mut q = Value::Null;
    for (i, (_, who)) in r.members.iter().take(29).enumerate() {
        let (ws, j) = r.enter(who).await;
        assert_eq!(j["resumed"], false);
        // Members do not see the waiting list or the quorum; the host does.
        assert!(j["room"]["quorum"].is_null());
        sockets.push(ws);
        let n = i as u64 + 1;
        q = host
            .until("quorum_update", |q| q["present_voting"] == n)
            .await;
        assert_eq!(q["data"]["expected"], 59);
    }
    assert_eq!(q["data"]["present_voting"], 29);
    assert_eq!(q["data"]["quorate"], false, "2·29 = 58 is not more than 59");

    let (ws, _) = r.enter(&r.members[29].1).await;
    sockets.push(ws);
    let q = host
        .until("quorum_update", |q| q["present_voting"] == 30)
        .await;
    assert_eq!(q["data"]["quorate"], true);
    assert_eq!(q["data"]["present_remote"], 30);
    assert_eq!(q["data"]["threshold"], "2P > E");

    // The REST report agrees with what the host saw.
    let rep = ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::GET,
            &format!("/api/v1/meetings/{}/quorum", r.meeting),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (rep["present_voting"].as_u64(), rep["quorate"].as_bool()),
        (Some(30), Some(true))
    );

    // One leaves: the host sees it drop below.
    let last = sockets.pop().unwrap();
    let mut last = last;
    let a = last.ask("leave", None).await;
    assert_eq!(a["type"], "ack");
    let q = host
        .until("quorum_update", |q| q["present_voting"] == 29)
        .await;
    assert_eq!(q["data"]["quorate"], false);
}

#[tokio::test]
async fn an_in_person_check_in_reaches_the_host_as_a_quorum_update() {
    let r = room_with(3, true, |_| {}).await;
    let (mut host, _) = r.host().await;
    ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::POST,
            &format!("/api/v1/meetings/{}/attendance", r.meeting),
            Some(json!({"member_id": r.members[0].0, "mode": "in_person", "action": "arrive"})),
        )
        .await,
        200,
    )
    .await;
    let q = host
        .until("quorum_update", |q| q["present_in_person"] == 1)
        .await;
    assert_eq!(q["data"]["expected"], 3);
}

// --- one scenario, on one node and across two ---------------------------------------------

/// The host's socket on the node at `host_at`, the members' on `members_at`: each member
/// is counted as he joins and the host sees the quorum move; a raised hand, a vote opened
/// over REST and a ballot over the socket reach whoever they are for. Returns the host's
/// and the members' sockets, still open.
async fn quorum_hands_and_ballots(
    r: &Room,
    host_at: std::net::SocketAddr,
    members_at: std::net::SocketAddr,
) -> (WsClient, Vec<WsClient>) {
    let (mut host, _) = r.enter_at(host_at, &r.secretary).await;
    let mut sockets = Vec::new();
    let mut pids = Vec::new();
    for (i, (_, who)) in r.members.iter().enumerate() {
        let (ws, j) = r.enter_at(members_at, who).await;
        assert_eq!(j["room"]["title"], "马街村党总支第四季度党员大会");
        assert!(
            j["room"]["quorum"].is_null(),
            "members do not see the quorum"
        );
        pids.push(pid(&j));
        sockets.push(ws);
        let n = i as u64 + 1;
        let q = host
            .until("quorum_update", |q| q["present_voting"] == n)
            .await;
        assert_eq!(q["data"]["expected"], 3);
        assert_eq!(q["data"]["quorate"], n >= 2, "2P > E with P = {n}");
    }

    // A raised hand reaches the host and the other members.
    assert_eq!(sockets[0].ask("raise_hand", None).await["type"], "ack");
    let raised = |p: &Value| p["participant_id"] == pids[0].as_str() && p["hand_raised"] == true;
    host.until("participant_updated", raised).await;
    sockets[1].until("participant_updated", raised).await;

    // A vote opened over REST reaches the members; a ballot over the socket counts.
    let motion = ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::POST,
            &format!("/api/v1/meetings/{}/motions", r.meeting),
            Some(
                json!({"kind": "ordinary", "title": "关于修缮村道的决议", "voting_method": "app"}),
            ),
        )
        .await,
        201,
    )
    .await;
    let motion = motion["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/motions/{motion}");
    post_empty(&r.app, &r.secretary, &format!("{path}/open"), 200).await;
    for ws in &mut sockets {
        ws.until("vote_opened", |v| v["motion_id"] == motion.as_str())
            .await;
    }
    let ballot = Some(json!({"motion_id": motion, "choice": "yes"}));
    assert_eq!(
        sockets[0].ask("cast_ballot", ballot.clone()).await["type"],
        "ack"
    );
    assert_eq!(sockets[1].ask("cast_ballot", ballot).await["type"], "ack");
    post_empty(&r.app, &r.secretary, &format!("{path}/close"), 200).await;
    let closed = host.until("vote_closed", |_| true).await;
    assert_eq!(closed["data"]["yes"], 2);

    // One leaves: the host sees the quorum drop.
    assert_eq!(sockets[2].ask("leave", None).await["type"], "ack");
    let q = host
        .until("quorum_update", |q| q["present_voting"] == 2)
        .await;
    assert_eq!(q["data"]["quorate"], true);
    (host, sockets)
}

#[tokio::test]
async fn the_room_scenario_on_one_node() {
    let r = room_with(3, true, |_| {}).await;
    let (_host, sockets) = quorum_hands_and_ballots(&r, r.app.addr, r.app.addr).await;
    assert_eq!(r.app.state.signaling.connections(), sockets.len() + 1);
}

#[tokio::test]
async fn the_room_scenario_across_two_nodes_with_the_room_on_the_first() {
    let r = room_in(TestCluster::spawn_with(2, |_| {}).await, 3, true).await;
    let (a, b) = (&r.app.state, &r.peers[0].state);
    let (_host, sockets) = quorum_hands_and_ballots(&r, r.app.addr, r.peers[0].addr).await;
    // The room ran on the node that started the meeting; the other only carried sockets.
    assert_eq!(a.signaling.router.registry().open_rooms(), 1);
    assert_eq!(b.signaling.router.registry().open_rooms(), 0);
    assert_eq!(b.signaling.connections(), sockets.len());
    assert_eq!(a.signaling.connections(), 1, "the host's");
}

// --- host controls ------------------------------------------------------------------------

#[tokio::test]
async fn host_controls_mute_remove_lock() {
    let r = room_with(4, true, |_| {}).await;
    let (mut host, _) = r.host().await;
    let (mut a, ja) = r.enter(&r.members[0].1).await;
    let (mut b, jb) = r.enter(&r.members[1].1).await;
    let (pa, pb) = (pid(&ja), pid(&jb));

    // A member may not use host controls.
    a.ask_err(
        "host",
        Some(json!({"action": "mute_one", "participant_id": pb, "kind": "audio"})),
        "not_host",
    )
    .await;

    // Mute one: everyone sees it.
    let f = host
        .ask(
            "host",
            Some(json!({"action": "mute_one", "participant_id": pa, "kind": "audio"})),
        )
        .await;
    assert_eq!(f["type"], "ack");
    b.until("participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["audio_muted"] == true
    })
    .await;

    // Mute all, only b may unmute.
    host.ask(
        "host",
        Some(json!({"action": "mute_all", "may_unmute": [pb]})),
    )
    .await;
    a.ask_err(
        "mute",
        Some(json!({"kind": "audio", "muted": false})),
        "unmute_not_allowed",
    )
    .await;
    assert_eq!(
        b.ask("mute", Some(json!({"kind": "audio", "muted": false})))
            .await["type"],
        "ack"
    );

    // Raise a hand, the host gives the floor: the hand goes down.
    a.ask("raise_hand", None).await;
    host.until("participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["hand_raised"] == true
    })
    .await;
    host.ask(
        "host",
        Some(json!({"action": "give_floor", "participant_id": pa})),
    )
    .await;
    host.until("participant_updated", |p| {
        p["participant_id"] == pa.as_str() && p["has_floor"] == true && p["hand_raised"] == false
    })
    .await;

    // Remove b: his socket is told and closed; he cannot come back; his interval closed.
    host.ask(
        "host",
        Some(json!({"action": "remove", "participant_id": pb})),
    )
    .await;
    let (code, reason, frames) = b.closed().await;
    assert_eq!((code, reason.as_str()), (4003, "removed"));
    assert!(frames.iter().any(|f| f["type"] == "closed"));
    let token = r.token(&r.members[1].1).await;
    let mut again = r.app.ws(&r.members[1].1).await;
    again
        .ask_err("join", Some(json!({"join_token": token})), "removed")
        .await;
    let ivs = r.intervals(&r.members[1].0).await;
    assert_eq!(ivs.len(), 1);
    assert_eq!(ivs[0].2.as_deref(), Some("removed"));

    // Lock: a newcomer is refused, the host is not.
    host.ask("host", Some(json!({"action": "lock", "locked": true})))
        .await;
    let token = r.token(&r.members[2].1).await;
    let mut c = r.app.ws(&r.members[2].1).await;
    c.ask_err("join", Some(json!({"join_token": token})), "room_locked")
        .await;
    drop(a);
}

#[tokio::test]
async fn the_waiting_room_admits_and_denies() {
    let r = room_with(3, true, |_| {}).await;
    let (mut host, _) = r.host().await;
    host.ask(
        "host",
        Some(json!({"action": "waiting_room", "enabled": true})),
    )
    .await;
    let token = r.token(&r.members[0].1).await;
    let mut a = r.app.ws(&r.members[0].1).await;
    let w = a.ask("join", Some(json!({"join_token": token}))).await;
    assert_eq!(w["type"], "waiting");
    let k = host.until("knocking", |_| true).await;
    let pa = k["data"]["participant_id"].as_str().unwrap().to_string();
    // Waiting is not attending.
    assert!(r.intervals(&r.members[0].0).await.is_empty());
    a.ask_err("raise_hand", None, "waiting").await;
    host.ask(
        "host",
        Some(json!({"action": "admit", "participant_id": pa})),
    )
    .await;
    a.until("joined", |_| true).await;
    assert_eq!(r.intervals(&r.members[0].0).await.len(), 1);

    let token = r.token(&r.members[1].1).await;
    let mut b = r.app.ws(&r.members[1].1).await;
    b.ask("join", Some(json!({"join_token": token}))).await;
    let k = host.until("knocking", |_| true).await;
    let pb = k["data"]["participant_id"].as_str().unwrap().to_string();
    host.ask(
        "host",
        Some(json!({"action": "deny", "participant_id": pb})),
    )
    .await;
    let (code, reason, _) = b.closed().await;
    assert_eq!((code, reason.as_str()), (4003, "denied"));
    assert!(r.intervals(&r.members[1].0).await.is_empty());
}

#[tokio::test]
async fn a_second_device_replaces_the_first() {
    let r = room_with(2, true, |_| {}).await;
    let who = &r.members[0].1;
    let (mut phone, j1) = r.enter(who).await;
    let (_tablet, j2) = r.enter(who).await;
    assert_eq!(pid(&j1), pid(&j2), "the same participant");
    let (code, reason, _) = phone.closed().await;
    assert_eq!((code, reason.as_str()), (4003, "replaced"));
    let ivs = r.intervals(&r.members[0].0).await;
    assert_eq!(ivs.len(), 1, "one interval, still open: {ivs:?}");
    assert!(ivs[0].1.is_none());
}

#[tokio::test]
async fn the_host_ends_the_meeting_from_the_socket() {
    let r = room_with(2, true, |_| {}).await;
    let (mut host, _) = r.host().await;
    let (mut a, _) = r.enter(&r.members[0].1).await;
    let f = host
        .ask("host", Some(json!({"action": "end_meeting"})))
        .await;
    assert_eq!(f["type"], "ack", "{f}");
    let (code, reason, _) = a.closed().await;
    assert_eq!((code, reason.as_str()), (4003, "meeting_ended"));
    let m = ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::GET,
            &format!("/api/v1/meetings/{}", r.meeting),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(m["status"], "ended");
    let ivs = r.intervals(&r.members[0].0).await;
    assert!(ivs.iter().all(|i| i.1.is_some()), "{ivs:?}");
}

// --- resume ---------------------------------------------------------------------------------

#[tokio::test]
async fn resume_inside_the_window_keeps_the_participant_and_one_interval() {
    let r = room_with(2, true, |c| c.signaling.resume_window_ms = 20_000).await;
    let (mut host, _) = r.host().await;
    let who = &r.members[0].1;
    let (mut a, joined) = r.enter(who).await;
    let resume = joined["resume_token"].as_str().unwrap().to_string();
    a.ask("raise_hand", None).await;
    let seen = a
        .until("participant_updated", |p| p["hand_raised"] == true)
        .await["seq"]
        .as_u64()
        .unwrap();
    // The phone loses its network; meanwhile the host says something.
    a.cut();
    host.ask("chat", Some(json!({"text": "请大家注意发言顺序"})))
        .await;

    let token = r.token(who).await;
    let mut again = r.app.ws(who).await;
    let f = again
        .ask(
            "join",
            Some(json!({"join_token": token, "resume_token": resume, "last_seq": seen})),
        )
        .await;
    assert_eq!(f["type"], "joined", "{f}");
    assert_eq!(f["data"]["resumed"], true);
    assert_eq!(pid(&f["data"]), pid(&joined));
    let me = f["data"]["room"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant_id"] == pid(&joined).as_str())
        .unwrap()
        .clone();
    assert_eq!(me["hand_raised"], true);
    let missed = again.until("chat", |_| true).await;
    assert_eq!(missed["data"]["text"], "请大家注意发言顺序");
    assert!(missed["seq"].as_u64().unwrap() > seen);

    let ivs = r.intervals(&r.members[0].0).await;
    assert_eq!(ivs.len(), 1, "one merged interval: {ivs:?}");
    assert!(ivs[0].1.is_none());
}

#[tokio::test]
async fn after_the_window_the_member_comes_back_with_a_second_interval() {
    let r = room_with(2, true, |c| c.signaling.resume_window_ms = 300).await;
    let (mut host, _) = r.host().await;
    let who = &r.members[0].1;
    let (a, joined) = r.enter(who).await;
    let resume = joined["resume_token"].as_str().unwrap().to_string();
    a.cut();
    host.until("participant_left", |p| p["reason"] == "timeout")
        .await;
    // Longer than the window after he left, so the gap does not merge either.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    let token = r.token(who).await;
    let mut again = r.app.ws(who).await;
    let f = again
        .ask(
            "join",
            Some(json!({"join_token": token, "resume_token": resume})),
        )
        .await;
    assert_eq!(f["data"]["resumed"], false);
    assert_ne!(pid(&f["data"]), pid(&joined));
    let ivs = r.intervals(&r.members[0].0).await;
    assert_eq!(ivs.len(), 2, "{ivs:?}");
    assert_eq!(ivs[0].2.as_deref(), Some("timeout"));
    assert!(ivs[1].1.is_none());
}

// --- crash recovery ------------------------------------------------------------------------

/// A node in a runtime of its own, so that it can die without running any of its
/// shutdown code: dropping the runtime kills every task mid-flight, like a crash.
fn crashable_node(
    config: Config,
    at: chrono::NaiveDateTime,
) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = rt.block_on(hongying_tests::start_node(config, at));
    let addr = running.addr;
    // Keep it running; it is never shut down gracefully.
    std::mem::forget(running);
    (addr, rt)
}

#[tokio::test]
async fn after_a_crash_open_intervals_close_at_the_last_heartbeat() {
    let r = room_with(2, true, |_| {}).await;
    let mut config = (*r.app.state.config).clone();
    config.signaling.touch_every_ms = 50;
    // The crashing node shares the database and the keys of the test app.
    let at = r.app.state.clock.now();
    let (addr, rt) = tokio::task::spawn_blocking(move || crashable_node(config, at))
        .await
        .unwrap();
    let who = &r.members[0].1;
    let token = r.token(who).await;
    let mut ws = WsClient::connect(addr, "/ws", Some(&who.bearer())).await;
    let j = ws.ask("join", Some(json!({"join_token": token}))).await;
    assert_eq!(j["type"], "joined", "{j}");
    for i in 0..3 {
        let p = ws.ask("ping", Some(json!({"ts": i}))).await;
        assert_eq!(p["type"], "pong");
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    }
    let before_crash = r.app.state.clock.now();
    tokio::task::spawn_blocking(move || rt.shutdown_background())
        .await
        .unwrap();
    drop(ws);
    let ivs = r.intervals(&r.members[0].0).await;
    assert_eq!(ivs.len(), 1);
    assert!(ivs[0].1.is_none(), "still open after the crash");

    // The node comes back: the recovery step closes it at the last heartbeat written.
    let config = (*r.app.state.config).clone();
    let again = hongying_tests::start_node(config, r.app.state.clock.now()).await;
    let ivs = r.intervals(&r.members[0].0).await;
    let (opened, closed, reason) = ivs[0].clone();
    let closed = closed.expect("closed by the recovery");
    assert_eq!(reason.as_deref(), Some("stale"));
    assert!(
        closed > opened,
        "heartbeats were written: {opened} .. {closed}"
    );
    assert!(closed <= before_crash);
    again.shutdown().await;
}

// --- voting over the socket -----------------------------------------------------------------

#[tokio::test]
async fn votes_open_and_close_live_and_ballots_go_over_the_socket() {
    let r = room_with(3, true, |_| {}).await;
    let (mut host, _) = r.host().await;
    let (mut a, _) = r.enter(&r.members[0].1).await;
    let (mut b, _) = r.enter(&r.members[1].1).await;
    let motion = ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::POST,
            &format!("/api/v1/meetings/{}/motions", r.meeting),
            Some(
                json!({"kind": "ordinary", "title": "关于修缮村道的决议", "voting_method": "app"}),
            ),
        )
        .await,
        201,
    )
    .await;
    let motion = motion["id"].as_str().unwrap().to_string();
    post_empty(
        &r.app,
        &r.secretary,
        &format!("/api/v1/motions/{motion}/open"),
        200,
    )
    .await;
    let opened = a.until("vote_opened", |_| true).await;
    assert_eq!(opened["data"]["motion_id"], motion.as_str());
    b.until("vote_opened", |_| true).await;

    let ballot = |choice: &str| Some(json!({"motion_id": motion, "choice": choice}));
    assert_eq!(a.ask("cast_ballot", ballot("yes")).await["type"], "ack");
    // A retry of the same vote (a lost answer on a weak link) is the same vote.
    assert_eq!(a.ask("cast_ballot", ballot("yes")).await["type"], "ack");
    a.ask_err("cast_ballot", ballot("no"), "already_voted")
        .await;
    assert_eq!(b.ask("cast_ballot", ballot("yes")).await["type"], "ack");
    // A motion of no meeting of this room is not found.
    a.ask_err(
        "cast_ballot",
        Some(json!({"motion_id": "00000000-0000-7000-8000-000000000000", "choice": "yes"})),
        "not_found",
    )
    .await;

    post_empty(
        &r.app,
        &r.secretary,
        &format!("/api/v1/motions/{motion}/close"),
        200,
    )
    .await;
    let closed = host.until("vote_closed", |_| true).await;
    assert_eq!(closed["data"]["yes"], 2);
    assert_eq!(closed["data"]["passed"], true, "2·2 > 3");
    a.until("vote_closed", |_| true).await;
    a.ask_err("cast_ballot", ballot("yes"), "motion_closed")
        .await;

    // The record shows the socket as the channel and exactly one ballot each.
    let m = ok_json(
        call(
            &r.app,
            &r.members[0].1,
            Method::GET,
            &format!("/api/v1/motions/{motion}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(m["ballots_cast"], 2);
    assert_eq!(m["my_ballot"]["channel"], "socket");
}

// --- notices ------------------------------------------------------------------------------

#[tokio::test]
async fn notices_arrive_live_and_missed_ones_after_reconnect() {
    let r = room_with(2, false, |c| c.signaling.notice_poll_ms = 50).await;
    let who = &r.members[0].1;
    let mut ws = r.app.ws(who).await;
    // Starting the meeting tells its members.
    post_empty(
        &r.app,
        &r.secretary,
        &format!("/api/v1/meetings/{}/start", r.meeting),
        200,
    )
    .await;
    let live = ws.until("notice", |n| n["kind"] == "meeting_started").await;
    let cursor = live["data"]["cursor"].as_str().unwrap().to_string();
    assert_eq!(
        ws.ask("ack_notices", Some(json!({"cursor": cursor}))).await["type"],
        "ack"
    );
    ws.ask_err(
        "ack_notices",
        Some(json!({"cursor": "nonsense"})),
        "invalid_cursor",
    )
    .await;
    ws.leave_socket().await;

    // While he is offline, another meeting is scheduled.
    let m = ok_json(
        call(
            &r.app,
            &r.secretary,
            Method::POST,
            &format!("/api/v1/orgs/{}/meetings", r.branch),
            Some(json!({
                "kind": "lecture", "title": "专题党课", "agenda": [{"title": "学习"}],
                "scheduled_start": "2026-12-10T02:00:00Z", "scheduled_end": "2026-12-10T03:00:00Z",
                "place": "村委会议室", "mode": "hybrid"
            })),
        )
        .await,
        201,
    )
    .await;
    let second = m["id"].as_str().unwrap().to_string();
    post_empty(
        &r.app,
        &r.secretary,
        &format!("/api/v1/meetings/{second}/schedule"),
        200,
    )
    .await;

    // Reconnecting, the device gets what it missed since its acknowledged cursor, and
    // not the notice it had acknowledged.
    let mut ws = r.app.ws(who).await;
    let n = ws.until("notice", |_| true).await;
    assert_eq!(n["data"]["kind"], "meeting_scheduled", "{n}");
    assert_ne!(n["data"]["notice_id"], live["data"]["notice_id"]);

    // With an explicit cursor, from there.
    let mut ws2 = r
        .app
        .ws_with(&format!("/ws?notices_since={cursor}"), Some(&who.bearer()))
        .await;
    let n2 = ws2.until("notice", |_| true).await;
    assert_eq!(n2["data"]["notice_id"], n["data"]["notice_id"]);
}

// --- bad input --------------------------------------------------------------------------------

#[tokio::test]
async fn bad_credentials_close_the_socket_with_a_reason() {
    let r = room_with(2, true, |_| {}).await;
    // No token.
    let mut ws = r.app.ws_with("/ws", None).await;
    let (code, reason, frames) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4001, "unauthenticated"));
    assert_error(&frames[0], "unauthenticated");
    // A forged access token.
    let mut ws = r
        .app
        .ws_with("/ws?access_token=eyJhbGciOiJub25lIn0.e30.", None)
        .await;
    let (code, _, _) = ws.closed().await;
    assert_eq!(code, 4001);
    // A forged join token on a good socket.
    let mut ws = r.app.ws(&r.members[0].1).await;
    let f = ws
        .ask("join", Some(json!({"join_token": "not-a-token"})))
        .await;
    assert_error(&f, "unauthenticated");
    let (code, _, _) = ws.closed().await;
    assert_eq!(code, 4001);
    // Another member's join token.
    let token = r.token(&r.members[1].1).await;
    let mut ws = r.app.ws(&r.members[0].1).await;
    let f = ws.ask("join", Some(json!({"join_token": token}))).await;
    assert_error(&f, "wrong_account");
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4001, "wrong_account"));
    // An expired join token (five minutes) on a socket whose access token (fifteen) is
    // still good.
    let token = r.token(&r.members[0].1).await;
    r.app.state.clock.advance(chrono::Duration::minutes(6));
    let mut ws = r.app.ws(&r.members[0].1).await;
    let f = ws.ask("join", Some(json!({"join_token": token}))).await;
    assert_error(&f, "token_expired");
    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4001, "token_expired"));
}

#[tokio::test]
async fn every_bad_frame_gets_an_error_frame_with_its_code() {
    let r = room_with(2, false, |c| c.signaling.max_frame_bytes = 4096).await;
    let who = &r.members[0].1;
    let mut ws = r.app.ws(who).await;

    ws.send_text(r#"{"v":1,"id":"a","type":"teleport"}"#).await;
    let f = ws.answer("a").await;
    assert_error(&f, "unknown_message_type");

    ws.send_text(r#"{"v":1,"id":"b","type":"chat","data":{"text":5}}"#)
        .await;
    assert_error(&ws.answer("b").await, "invalid_message");

    ws.send_text(r#"{"v":1,"id":"c","type":"join","data":{"join_token":"t","admin":true}}"#)
        .await;
    assert_error(&ws.answer("c").await, "invalid_message");

    ws.send_text("{not json").await;
    assert_error(&ws.next().await, "invalid_message");

    ws.send_text(r#"{"id":"d","type":"ping","data":{"ts":1}}"#)
        .await;
    assert_error(&ws.answer("d").await, "invalid_message");

    ws.send_binary(b"\x00\x01").await;
    assert_error(&ws.next().await, "binary_not_supported");

    let big = format!(
        r#"{{"v":1,"type":"chat","data":{{"text":"{}"}}}}"#,
        "长".repeat(2000)
    );
    ws.send_text(&big).await;
    assert_error(&ws.next().await, "frame_too_large");

    // Before joining, only ping, join and ack_notices make sense.
    ws.ask_err("raise_hand", None, "not_joined").await;
    ws.ask_err(
        "host",
        Some(json!({"action": "lock", "locked": true})),
        "not_joined",
    )
    .await;

    // Joining a meeting that has not started.
    let token = r.token(who).await;
    ws.ask_err(
        "join",
        Some(json!({"join_token": token})),
        "meeting_not_in_progress",
    )
    .await;

    // Still alive after all of that.
    let p = ws.ask("ping", Some(json!({"ts": 7}))).await;
    assert_eq!(
        (p["type"].as_str(), p["data"]["ts"].as_u64()),
        (Some("pong"), Some(7))
    );

    // A version this server does not speak closes the socket.
    ws.send_text(r#"{"v":2,"id":"e","type":"ping","data":{"ts":1}}"#)
        .await;
    let (code, reason, frames) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4009, "unsupported_version"));
    assert_error(&frames[0], "unsupported_version");
    assert_eq!(frames[0]["id"], "e");

    // Far beyond the limit, the socket closes (1009).
    let mut ws = r.app.ws(who).await;
    ws.send_text(&"x".repeat(4096 * 5)).await;
    let (code, _, frames) = ws.closed().await;
    assert_eq!(code, 1009);
    assert_error(&frames[0], "frame_too_large");
}

#[tokio::test]
async fn joined_sockets_refuse_a_second_join_and_host_actions_from_members() {
    let r = room_with(2, true, |_| {}).await;
    let who = &r.members[0].1;
    let (mut ws, _) = r.enter(who).await;
    let token = r.token(who).await;
    ws.ask_err("join", Some(json!({"join_token": token})), "already_joined")
        .await;
    ws.ask_err("host", Some(json!({"action": "end_meeting"})), "not_host")
        .await;
    ws.ask_err(
        "host",
        Some(json!({"action": "remove", "participant_id": "x"})),
        "not_host",
    )
    .await;
}

#[tokio::test]
async fn a_flood_is_rate_limited() {
    let r = room_with(1, false, |c| {
        c.signaling.messages_per_second = 1;
        c.signaling.message_burst = 3;
    })
    .await;
    let mut ws = r.app.ws(&r.members[0].1).await;
    for i in 0..6 {
        ws.request("ping", Some(json!({"ts": i}))).await;
    }
    let mut limited = 0;
    let mut pongs = 0;
    for _ in 0..6 {
        let f = ws.next().await;
        match f["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => {
                assert_error(&f, "rate_limited");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, 3, "the burst");
    assert_eq!(limited, 3);
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_heartbeat_timeout() {
    let r = room_with(1, false, |c| c.signaling.heartbeat_timeout_ms = 1_000).await;
    // A WebSocket library answers pings by itself; a phone that went silent does not.
    // So this client speaks the handshake by hand and then says nothing at all.
    let (frames, close) = silent_client(&r.app, &r.members[0].1).await;
    assert_eq!(close, Some((4002, "heartbeat_timeout".to_string())));
    let error: Value = serde_json::from_str(frames.last().unwrap()).unwrap();
    assert_error(&error, "heartbeat_timeout");
}

/// Opens `/ws` over a raw TCP stream, never writes after the handshake, and reads what
/// the server sends until it closes: the text frames and the close code and reason.
async fn silent_client(app: &TestApp, who: &Caller) -> (Vec<String>, Option<(u16, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: {}\r\n\r\n",
        app.addr,
        who.bearer()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut buf),
    );
    read.await.unwrap().unwrap();
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&buf[..head_end])
    );
    let (mut frames, mut close) = (Vec::new(), None);
    let mut rest = &buf[head_end..];
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let (len, at) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = &rest[at..at + len];
        match opcode {
            1 => frames.push(String::from_utf8(payload.to_vec()).unwrap()),
            8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                close = Some((code, String::from_utf8(payload[2..].to_vec()).unwrap()));
            }
            _ => {}
        }
        rest = &rest[at + len..];
    }
    (frames, close)
}

#[tokio::test]
async fn an_account_may_hold_only_so_many_sockets() {
    let r = room_with(1, false, |c| c.signaling.max_connections_per_account = 2).await;
    let who = &r.members[0].1;
    let mut one = r.app.ws(who).await;
    let mut two = r.app.ws(who).await;
    // A socket is registered once it answers.
    assert_eq!(
        one.ask("ping", Some(json!({"ts": 1}))).await["type"],
        "pong"
    );
    assert_eq!(
        two.ask("ping", Some(json!({"ts": 1}))).await["type"],
        "pong"
    );
    let mut three = r.app.ws(who).await;
    let (code, reason, frames) = three.closed().await;
    assert_eq!((code, reason.as_str()), (4008, "too_many_connections"));
    assert_error(&frames[0], "too_many_connections");
    // Closing one frees a place.
    one.leave_socket().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut four = r.app.ws(who).await;
    assert_eq!(
        four.ask("ping", Some(json!({"ts": 2}))).await["type"],
        "pong"
    );
}
