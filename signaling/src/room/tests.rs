#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hongying_proto::signaling::{
    CastBallot, ClientMsg, HostAction, JoinGrants, MediaKind, Mute, QuorumState, ServerFrame,
    ServerMsg, VoteChoice,
};
use tokio::sync::mpsc;

use super::*;

#[derive(Default)]
/// Rooms whose id starts with `call-` end when empty, as a consultation's does.
struct Fake {
    calls: Mutex<Vec<String>>,
    open: Mutex<std::collections::HashSet<String>>,
}

impl Fake {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
}

impl RoomHooks for Fake {
    async fn open_interval(
        &self,
        _m: &str,
        member_id: &str,
        _media: bool,
    ) -> Result<Option<String>, HookError> {
        self.calls.lock().unwrap().push(format!("open {member_id}"));
        self.open.lock().unwrap().insert(member_id.to_string());
        Ok(Some(format!("iv-{member_id}")))
    }
    async fn touch(&self, interval_ids: &[String]) {
        for id in interval_ids {
            self.calls.lock().unwrap().push(format!("touch {id}"));
        }
    }
    async fn close_interval(&self, _m: &str, member_id: &str, _ago: Duration, reason: &str) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("close {member_id} {reason}"));
        self.open.lock().unwrap().remove(member_id);
    }
    async fn close_all(&self, _m: &str, reason: &str) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("close_all {reason}"));
        self.open.lock().unwrap().clear();
    }
    async fn quorum(&self, _m: &str) -> Option<QuorumState> {
        let n = self.open.lock().unwrap().len() as u32;
        Some(QuorumState {
            expected: 3,
            present_voting: n,
            present_in_person: 0,
            present_remote: n,
            quorate: 2 * n > 3,
            threshold: "2P > E".into(),
        })
    }
    async fn cast_ballot(
        &self,
        _m: &str,
        member_id: &str,
        b: &CastBallot,
    ) -> Result<(), HookError> {
        if b.motion_id == "closed" {
            return Err(HookError {
                code: "motion_not_open".into(),
                message: "表决已结束。".into(),
            });
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("ballot {member_id}"));
        Ok(())
    }
    async fn occupancy(&self, room_id: &str, joined: usize, present: usize) -> Option<String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("occupancy {joined} {present}"));
        (room_id.starts_with("call-") && joined == 0).then(|| "call_over".to_string())
    }
}

struct Client {
    rx: mpsc::UnboundedReceiver<Arc<ServerFrame>>,
    seat: Seat,
    room: RoomHandle,
}

impl Client {
    async fn next(&mut self) -> ServerFrame {
        let f = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("no frame in time")
            .expect("outbox closed");
        Arc::unwrap_or_clone(f)
    }

    /// The next frame matching `pred`, skipping others.
    async fn until(&mut self, pred: impl Fn(&ServerMsg) -> bool) -> ServerFrame {
        loop {
            let f = self.next().await;
            if pred(&f.msg) {
                return f;
            }
        }
    }

    async fn send(&self, id: &str, msg: ClientMsg) {
        assert!(
            self.room
                .send(Command::Client {
                    seat: self.seat.clone(),
                    id: Some(id.into()),
                    msg,
                })
                .await
        );
    }

    /// Sends and returns the answer to this request.
    async fn ask(&mut self, id: &str, msg: ClientMsg) -> ServerMsg {
        self.send(id, msg).await;
        let f = self.until(|_| true).await;
        // Events may come first; skip to our answer.
        if f.id.as_deref() == Some(id) {
            return f.msg;
        }
        loop {
            let f = self.next().await;
            if f.id.as_deref() == Some(id) {
                return f.msg;
            }
        }
    }
}

fn grants(host: bool) -> JoinGrants {
    JoinGrants {
        publish: true,
        subscribe: true,
        host,
    }
}

fn request(member: &str, host: bool) -> (JoinRequest, mpsc::UnboundedReceiver<Arc<ServerFrame>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        JoinRequest {
            account_id: format!("acct-{member}"),
            member_id: Some(member.into()),
            name: member.into(),
            title: "支部党员大会".into(),
            grants: grants(host),
            resume_token: None,
            last_seq: None,
            audio_only: false,
            request_id: Some("j".into()),
            sink: FrameSink::local(tx),
        },
        rx,
    )
}

async fn join_req(
    room: &RoomHandle,
    req: JoinRequest,
    rx: mpsc::UnboundedReceiver<Arc<ServerFrame>>,
) -> Client {
    let seat = room.join(req).await.unwrap();
    Client {
        rx,
        seat,
        room: room.clone(),
    }
}

async fn join(room: &RoomHandle, member: &str, host: bool) -> Client {
    let (req, rx) = request(member, host);
    let mut c = join_req(room, req, rx).await;
    if !c.seat.waiting {
        let f = c.next().await;
        assert!(matches!(f.msg, ServerMsg::Joined(_)), "{f:?}");
    }
    c
}

fn setup(window: Duration) -> (Registry<Fake>, Arc<Fake>) {
    let hooks = Arc::new(Fake::default());
    let reg = Registry::new(
        "node-1",
        RoomConfig {
            resume_window: window,
            log_capacity: 100,
            touch_every: Duration::from_millis(50),
            media: None,
        },
        hooks.clone(),
    );
    (reg, hooks)
}

fn joined(msg: &ServerMsg) -> &hongying_proto::signaling::Joined {
    match msg {
        ServerMsg::Joined(j) => j,
        other => panic!("expected joined, got {other:?}"),
    }
}

#[tokio::test]
async fn joining_opens_an_interval_and_pushes_the_quorum_to_the_host() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    host.until(|m| matches!(m, ServerMsg::QuorumUpdate(q) if q.present_voting == 1))
        .await;
    let a = join(&room, "a", false).await;
    host.until(
        |m| matches!(m, ServerMsg::ParticipantJoined(p) if p.member_id.as_deref() == Some("a")),
    )
    .await;
    let q = host
        .until(|m| matches!(m, ServerMsg::QuorumUpdate(_)))
        .await;
    assert!(matches!(q.msg, ServerMsg::QuorumUpdate(q) if q.present_voting == 2 && q.quorate));
    assert_eq!(hooks.count("open "), 2);
    assert_eq!(reg.open_rooms(), 1);
    drop(a);
}

#[tokio::test]
async fn host_actions_are_refused_to_members() {
    let (reg, _) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut a = join(&room, "a", false).await;
    let r = a
        .ask("1", ClientMsg::Host(HostAction::Lock { locked: true }))
        .await;
    assert!(matches!(r, ServerMsg::Error(e) if e.code == "not_host"));
}

#[tokio::test]
async fn mute_all_lets_only_the_listed_unmute() {
    let (reg, _) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    let mut a = join(&room, "a", false).await;
    let mut b = join(&room, "b", false).await;
    let r = host
        .ask(
            "1",
            ClientMsg::Host(HostAction::MuteAll {
                may_unmute: vec![b.seat.participant_id.clone()],
            }),
        )
        .await;
    assert_eq!(r, ServerMsg::Ack);
    let unmute = ClientMsg::Mute(Mute {
        kind: MediaKind::Audio,
        muted: false,
    });
    let r = a.ask("2", unmute.clone()).await;
    assert!(matches!(r, ServerMsg::Error(e) if e.code == "unmute_not_allowed"));
    assert_eq!(b.ask("3", unmute).await, ServerMsg::Ack);
}

#[tokio::test]
async fn a_removed_member_cannot_rejoin_and_his_interval_closes() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    let mut a = join(&room, "a", false).await;
    let pid = a.seat.participant_id.clone();
    let r = host
        .ask(
            "1",
            ClientMsg::Host(HostAction::Remove {
                participant_id: pid,
            }),
        )
        .await;
    assert_eq!(r, ServerMsg::Ack);
    a.until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "removed"))
        .await;
    assert!(hooks.calls().contains(&"close a removed".to_string()));
    let (req, _rx) = request("a", false);
    assert_eq!(room.join(req).await.unwrap_err(), JoinError::Removed);
}

#[tokio::test]
async fn a_locked_room_admits_hosts_only() {
    let (reg, _) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    host.ask("1", ClientMsg::Host(HostAction::Lock { locked: true }))
        .await;
    let (req, _rx) = request("a", false);
    assert_eq!(room.join(req).await.unwrap_err(), JoinError::Locked);
    join(&room, "sec2", true).await;
}

#[tokio::test]
async fn the_waiting_room_holds_joiners_until_the_host_decides() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    host.ask(
        "1",
        ClientMsg::Host(HostAction::WaitingRoom { enabled: true }),
    )
    .await;
    let mut a = join(&room, "a", false).await;
    assert!(a.seat.waiting);
    assert_eq!(a.next().await.msg, ServerMsg::Waiting);
    host.until(|m| matches!(m, ServerMsg::Knocking(p) if p.member_id.as_deref() == Some("a")))
        .await;
    // Waiting is not attending.
    assert_eq!(hooks.count("open a"), 0);
    let r = a.ask("x", ClientMsg::RaiseHand).await;
    assert!(matches!(r, ServerMsg::Error(e) if e.code == "waiting"));
    let r = host
        .ask(
            "2",
            ClientMsg::Host(HostAction::Admit {
                participant_id: a.seat.participant_id.clone(),
            }),
        )
        .await;
    assert_eq!(r, ServerMsg::Ack);
    a.until(|m| matches!(m, ServerMsg::Joined(_))).await;
    assert_eq!(hooks.count("open a"), 1);

    let mut b = join(&room, "b", false).await;
    let r = host
        .ask(
            "3",
            ClientMsg::Host(HostAction::Deny {
                participant_id: b.seat.participant_id.clone(),
            }),
        )
        .await;
    assert_eq!(r, ServerMsg::Ack);
    b.until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "denied"))
        .await;
    let (req, _rx) = request("b", false);
    assert_eq!(room.join(req).await.unwrap_err(), JoinError::Denied);
    assert_eq!(hooks.count("open b"), 0);
}

#[tokio::test]
async fn a_second_device_replaces_the_first_session() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut first = join(&room, "a", false).await;
    let second = join(&room, "a", false).await;
    assert_eq!(first.seat.participant_id, second.seat.participant_id);
    first
        .until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "replaced"))
        .await;
    assert_eq!(hooks.count("open a"), 1);
    assert_eq!(hooks.count("close a"), 0);
}

#[tokio::test]
async fn resume_inside_the_window_keeps_the_participant_and_replays_missed_events() {
    let (reg, hooks) = setup(Duration::from_secs(3600));
    let room = reg.room("m1");
    let (req, rx) = request("a", false);
    let mut a = join_req(&room, req, rx).await;
    let j = a.next().await;
    let token = joined(&j.msg).resume_token.clone();
    a.ask("h", ClientMsg::RaiseHand).await;
    let seen = a
        .until(|m| matches!(m, ServerMsg::ParticipantUpdated(_)))
        .await
        .seq
        .unwrap();
    room.send(Command::Disconnected {
        seat: a.seat.clone(),
    })
    .await;
    // What happens while he is away.
    let mut b = join(&room, "b", false).await;
    b.ask(
        "c",
        ClientMsg::Chat(hongying_proto::signaling::ChatText { text: "喂".into() }),
    )
    .await;

    let (mut req, rx) = request("a", false);
    req.resume_token = Some(token);
    req.last_seq = Some(seen);
    let mut again = join_req(&room, req, rx).await;
    let j = again.next().await;
    let jd = joined(&j.msg);
    assert!(jd.resumed);
    assert_eq!(jd.participant_id, a.seat.participant_id);
    let me = jd
        .room
        .participants
        .iter()
        .find(|p| p.participant_id == a.seat.participant_id)
        .unwrap();
    assert!(me.hand_raised);
    let m1 = again.next().await;
    let m2 = again.next().await;
    assert!(matches!(m1.msg, ServerMsg::ParticipantJoined(_)), "{m1:?}");
    assert!(matches!(m2.msg, ServerMsg::Chat { .. }), "{m2:?}");
    assert!(m1.seq.unwrap() > seen && m2.seq > m1.seq);
    assert_eq!(hooks.count("open a"), 1);
    assert_eq!(hooks.count("close a"), 0);
}

#[tokio::test]
async fn after_the_window_the_member_leaves_and_joins_anew() {
    let (reg, hooks) = setup(Duration::ZERO);
    let room = reg.room("m1");
    let mut watcher = join(&room, "w", false).await;
    let (req, rx) = request("a", false);
    let mut a = join_req(&room, req, rx).await;
    let token = joined(&a.next().await.msg).resume_token.clone();
    room.send(Command::Disconnected {
        seat: a.seat.clone(),
    })
    .await;
    watcher
        .until(|m| matches!(m, ServerMsg::ParticipantLeft { reason, .. } if reason == "timeout"))
        .await;
    assert!(hooks.calls().contains(&"close a timeout".to_string()));
    let (mut req, rx) = request("a", false);
    req.resume_token = Some(token);
    let mut again = join_req(&room, req, rx).await;
    let j = again.next().await;
    assert!(!joined(&j.msg).resumed);
    assert_ne!(again.seat.participant_id, a.seat.participant_id);
    assert_eq!(hooks.count("open a"), 2);
}

#[tokio::test]
async fn ballots_go_through_the_hooks_and_refusals_come_back() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut a = join(&room, "a", false).await;
    let ballot = |motion: &str| {
        ClientMsg::CastBallot(CastBallot {
            motion_id: motion.into(),
            choice: VoteChoice::Yes,
        })
    };
    assert_eq!(a.ask("1", ballot("m")).await, ServerMsg::Ack);
    let r = a.ask("2", ballot("closed")).await;
    assert!(matches!(r, ServerMsg::Error(e) if e.code == "motion_not_open"));
    assert_eq!(hooks.count("ballot a"), 1);
}

#[tokio::test]
async fn ending_the_meeting_closes_every_interval_and_the_room() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut host = join(&room, "sec", true).await;
    let mut a = join(&room, "a", false).await;
    host.ask("1", ClientMsg::Host(HostAction::EndMeeting)).await;
    a.until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "meeting_ended"))
        .await;
    assert!(
        hooks
            .calls()
            .contains(&"close_all meeting_ended".to_string())
    );
    // The room task ends; a new join finds it gone.
    let (req, _rx) = request("b", false);
    assert_eq!(room.join(req).await.unwrap_err(), JoinError::Ended);
}

#[tokio::test]
async fn heartbeats_are_written_in_batches_and_shutdown_closes_at_last_seen() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let mut a = join(&room, "a", false).await;
    let p = || ClientMsg::Ping(hongying_proto::signaling::Ping { ts: 1 });
    a.ask("1", p()).await;
    a.ask("2", p()).await;
    a.ask("3", p()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Three heartbeats inside one period: one write.
    assert_eq!(hooks.count("touch iv-a"), 1);
    reg.shutdown("server_shutdown").await;
    a.until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "server_shutdown"))
        .await;
    assert!(
        hooks
            .calls()
            .contains(&"close a server_shutdown".to_string())
    );
    // Shutting the node down is not ending the meeting.
    assert_eq!(hooks.count("close_all"), 0);
    assert_eq!(reg.open_rooms(), 0);
}

#[tokio::test]
async fn a_joining_host_sees_the_title_and_the_last_quorum() {
    let (reg, _) = setup(Duration::from_secs(30));
    let room = reg.room("m1");
    let _a = join(&room, "a", false).await;
    let (req, rx) = request("sec", true);
    let mut host = join_req(&room, req, rx).await;
    let j = host.next().await;
    let state = &joined(&j.msg).room;
    assert_eq!(state.title, "支部党员大会");
    assert_eq!(state.quorum.as_ref().map(|q| q.present_voting), Some(1));
    room.send(Command::Refresh).await;
    host.until(|m| matches!(m, ServerMsg::QuorumUpdate(q) if q.present_voting == 2))
        .await;
}

#[tokio::test]
async fn a_room_whose_kind_follows_its_occupants_ends_when_the_last_one_leaves() {
    let (reg, hooks) = setup(Duration::from_secs(30));
    let call = reg.room("call-1");
    let meeting = reg.room("m1");
    let mut a = join(&call, "a", false).await;
    let mut b = join(&call, "b", false).await;
    let mut m = join(&meeting, "c", false).await;
    assert!(matches!(a.ask("1", ClientMsg::Leave).await, ServerMsg::Ack));
    assert!(!call.is_closed(), "one is still there");
    assert!(matches!(b.ask("2", ClientMsg::Leave).await, ServerMsg::Ack));
    for _ in 0..100 {
        if call.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(call.is_closed(), "the empty call's room ended");
    assert_eq!(hooks.count("close_all call_over"), 1);
    let occupancy: Vec<String> = hooks
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("occupancy"))
        .collect();
    // Without media, the seated are the present; the meeting's room saw its own joiner.
    assert!(occupancy.starts_with(&["occupancy 1 1".to_string(), "occupancy 2 2".to_string()]));
    assert!(occupancy.ends_with(&["occupancy 1 1".to_string(), "occupancy 0 0".to_string()]));
    // A meeting's room stays open when its last participant leaves.
    assert!(matches!(m.ask("3", ClientMsg::Leave).await, ServerMsg::Ack));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!meeting.is_closed());
}

// --- two nodes on one in-process cluster ----------------------------------------------------

type Sockets = Arc<Mutex<std::collections::HashMap<u64, Outbox>>>;

/// A node: its router on the shared cluster, and its sockets by connection id.
async fn node(
    name: &str,
    cluster: &crate::cluster::Cluster,
    hooks: Arc<Fake>,
) -> (Arc<Router<Fake>>, Sockets) {
    let sockets: Sockets = Arc::default();
    let by_conn = sockets.clone();
    let reg = Registry::new(name, RoomConfig::default(), hooks);
    let router = Arc::new(Router::new(reg, cluster.clone(), move |conn, f| {
        by_conn
            .lock()
            .unwrap()
            .get(&conn)
            .is_some_and(|tx| tx.send(f).is_ok())
    }));
    router.start().await.unwrap();
    (router, sockets)
}

#[tokio::test]
async fn a_socket_on_another_node_sits_in_the_room_at_its_home() {
    let cluster = crate::cluster::Cluster::local();
    let hooks = Arc::new(Fake::default());
    let (a, _) = node("node-a", &cluster, hooks.clone()).await;
    let (b, b_sockets) = node("node-b", &cluster, hooks.clone()).await;
    let Route::Local(room) = a.open("m1").await.unwrap() else {
        panic!("the room should open on the node that opens it");
    };
    let mut host = join(&room, "sec", true).await;

    // Node B's socket 7 joins: B finds the room homed on A and goes there.
    let (tx, rx) = mpsc::unbounded_channel();
    b_sockets.lock().unwrap().insert(7, tx.clone());
    let (mut req, _) = request("a", false);
    req.sink = FrameSink::local(tx);
    let (seat, route) = b.join("m1", req, 7).await.unwrap();
    assert!(
        matches!(&route, Route::Remote(l) if l.holder == "node-a"),
        "{route:?}"
    );
    assert_eq!(b.registry().open_rooms(), 0, "no second room on B");
    let mut member = Client {
        rx,
        seat: seat.clone(),
        room: room.clone(),
    };
    let j = member.next().await;
    assert_eq!(j.id.as_deref(), Some("j"));
    assert_eq!(joined(&j.msg).room.participants.len(), 2);
    host.until(|m| matches!(m, ServerMsg::QuorumUpdate(q) if q.present_voting == 2))
        .await;

    // His hand, raised on B, goes up on A; the answer comes back to his socket.
    let raise = Command::Client {
        seat,
        id: Some("h".into()),
        msg: ClientMsg::RaiseHand,
    };
    assert!(b.send(&route, "m1", raise, Some(7)).await);
    let ack = member.until(|m| matches!(m, ServerMsg::Ack)).await;
    assert_eq!(ack.id.as_deref(), Some("h"));
    host.until(|m| matches!(m, ServerMsg::ParticipantUpdated(p) if p.hand_raised))
        .await;

    // The meeting's end, told on B, closes the room on A and reaches the socket on B.
    b.tell(
        "m1",
        Command::End {
            reason: "meeting_ended".into(),
        },
    )
    .await;
    member
        .until(|m| matches!(m, ServerMsg::Closed { reason } if reason == "meeting_ended"))
        .await;
    // The lease goes with the room: it runs nowhere, and the next opener takes it.
    for _ in 0..100 {
        if cluster.presence.holder("m1").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!b.is_open("m1").await);
    assert!(matches!(b.open("m1").await.unwrap(), Route::Local(_)));
}
