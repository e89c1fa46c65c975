//! One `/ws` socket: authenticate the device, decode frames, enforce the limits (frame
//! size, message rate, heartbeat), join a meeting's room with a join token and carry
//! messages between the socket and the room, and deliver the member's notices.
//!
//! The socket task never holds room state: the room is reached through the router
//! (wherever it runs) and answers through this connection's frame sink, so the same code
//! serves a room on this node or, through the cluster bus, on another one.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hongying_proto::signaling::{
    ClientMsg, ErrorFrame, HostAction, Join, PROTOCOL_VERSION, ServerFrame, ServerMsg, SignalCode,
    close,
};
use hongying_signaling::decode::decode;
use hongying_signaling::room::{Command, FrameSink, JoinError, JoinRequest, Outbox, Route, Seat};
use tokio::sync::mpsc;

use super::join_token::{self, JoinClaims};
use super::notice_feed;
use crate::accounts::revocation::EndReason;
use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppError;
use crate::meetings::service as meetings;
use crate::state::AppState;
use crate::telemetry::names;

/// Where the socket is in the meeting.
struct Joined {
    meeting_id: String,
    seat: Seat,
    claims: JoinClaims,
    /// The room's task here or its home node, as found at the join.
    route: Route,
}

pub struct Socket {
    state: AppState,
    principal: Principal,
    meta: RequestMeta,
    session: Session,
    outbox: Outbox,
    /// This socket's id on the node, by which a room on another node addresses it.
    conn: u64,
    limiter: DefaultDirectRateLimiter,
    joined: Option<Joined>,
    /// Notice ids already sent on this socket (the replay and the live feed may overlap).
    notices_sent: HashSet<String>,
    last_heard: Instant,
}

/// Why the loop stopped.
enum End {
    /// The client went away (or closed); the room keeps his place for the resume window.
    Gone,
    /// The server closes the socket with this code and reason.
    Close(u16, String),
}

fn frame(id: Option<String>, msg: ServerMsg) -> ServerFrame {
    ServerFrame {
        v: PROTOCOL_VERSION,
        id,
        seq: None,
        msg,
    }
}

fn error_msg(code: &str, message: impl Into<String>) -> ServerMsg {
    ServerMsg::Error(ErrorFrame {
        code: code.to_string(),
        message: message.into(),
    })
}

fn app_error_msg(e: &AppError) -> ServerMsg {
    error_msg(e.code().as_str(), e.problem().detail)
}

/// Closes a socket that never got as far as a session (bad credentials, too many
/// sockets): one error frame, then the close frame with the code as its reason.
pub async fn refuse(mut session: Session, close_code: u16, code: &str, message: &str) {
    if let Ok(text) = serde_json::to_string(&frame(None, error_msg(code, message))) {
        let _ = session.text(text).await;
    }
    let _ = session
        .close(Some(CloseReason {
            code: CloseCode::Other(close_code),
            description: Some(code.to_string()),
        }))
        .await;
}

impl Socket {
    pub fn new(
        state: AppState,
        principal: Principal,
        meta: RequestMeta,
        session: Session,
        outbox: Outbox,
        conn: u64,
    ) -> Self {
        let sig = &state.config.signaling;
        let per_sec = NonZeroU32::new(sig.messages_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(sig.message_burst).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(Quota::per_second(per_sec).allow_burst(burst));
        Self {
            state,
            principal,
            meta,
            session,
            outbox,
            conn,
            limiter,
            joined: None,
            notices_sent: HashSet::new(),
            last_heard: Instant::now(),
        }
    }

    /// Sends a frame to the client; false when the socket is gone.
    async fn send(&mut self, f: &ServerFrame) -> bool {
        if let ServerMsg::Notice { notice_id, .. } = &f.msg
            && !self.notices_sent.insert(notice_id.clone())
        {
            return true;
        }
        match serde_json::to_string(f) {
            Ok(text) => self.session.text(text).await.is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "encoding a server frame failed");
                true
            }
        }
    }

    async fn reply(&mut self, id: Option<String>, msg: ServerMsg) -> bool {
        self.send(&frame(id, msg)).await
    }

    async fn refuse_frame(
        &mut self,
        id: Option<String>,
        code: SignalCode,
        message: String,
    ) -> bool {
        metrics::counter!(names::WS_REFUSED, "code" => code.as_str()).increment(1);
        self.reply(id, error_msg(code.as_str(), message)).await
    }

    /// Sends the notices the device missed since its cursor.
    async fn replay_notices(&mut self, cursor: Option<String>) {
        let p = self.principal.clone();
        let missed = self
            .state
            .db
            .run(move |c| crate::notices::missed(c, &p, cursor.as_deref()))
            .await;
        match missed {
            Ok(rows) => {
                for row in rows {
                    if !self.send(&notice_feed::frame(&row)).await {
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = self.reply(None, app_error_msg(&e)).await;
            }
        }
    }

    /// Runs the socket until it ends; returns how it ended.
    pub async fn run(
        mut self,
        mut stream: AggregatedMessageStream,
        mut rx: mpsc::UnboundedReceiver<Arc<ServerFrame>>,
        notices_since: Option<String>,
    ) {
        // Rare, large futures are boxed so that they do not size every socket's task.
        Box::pin(self.replay_notices(notices_since)).await;
        let timeout = Duration::from_millis(self.state.config.signaling.heartbeat_timeout_ms);
        let mut tick = tokio::time::interval(timeout / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            tokio::select! {
                msg = stream.recv() => match msg {
                    Some(Ok(m)) => {
                        self.last_heard = Instant::now();
                        if let Some(end) = self.on_message(m).await {
                            break end;
                        }
                    }
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        let limit = self.state.config.signaling.max_frame_bytes;
                        let _ = self.refuse_frame(None, SignalCode::FrameTooLarge,
                            format!("消息过大（上限 {limit} 字节）。")).await;
                        break End::Close(1009, SignalCode::FrameTooLarge.as_str().into());
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket protocol error");
                        break End::Gone;
                    }
                    None => break End::Gone,
                },
                Some(f) = rx.recv() => {
                    let closed = match &f.msg {
                        ServerMsg::Closed { reason } => Some(reason.clone()),
                        _ => None,
                    };
                    if !self.send(&f).await {
                        break End::Gone;
                    }
                    if let Some(reason) = closed {
                        if EndReason::parse(&reason).is_some() {
                            // His access ended: he leaves the room as if he had said
                            // `leave` (his interval closes now, no resume), and the
                            // socket's credentials are void.
                            if let Some(j) = self.joined.take() {
                                let cmd = Command::Client {
                                    seat: j.seat,
                                    id: None,
                                    msg: ClientMsg::Leave,
                                };
                                self.state
                                    .signaling
                                    .router
                                    .send(&j.route, &j.meeting_id, cmd, Some(self.conn))
                                    .await;
                            }
                            break End::Close(close::UNAUTHENTICATED, reason);
                        }
                        // The room let this session go (replaced, removed, denied, the
                        // meeting ended, the node stops): nothing to resume.
                        self.joined = None;
                        break End::Close(close::SESSION_ENDED, reason);
                    }
                }
                _ = tick.tick() => {
                    if self.last_heard.elapsed() > timeout {
                        let _ = self.refuse_frame(None, SignalCode::HeartbeatTimeout,
                            format!("{} 秒内未收到任何消息，连接已断开。", timeout.as_secs())).await;
                        break End::Close(close::HEARTBEAT_TIMEOUT,
                            SignalCode::HeartbeatTimeout.as_str().into());
                    }
                    if self.session.ping(b"").await.is_err() {
                        break End::Gone;
                    }
                }
            }
        };
        // A socket that dies without `leave` keeps its place for the resume window.
        if let Some(j) = self.joined.take() {
            let cmd = Command::Disconnected { seat: j.seat };
            let router = &self.state.signaling.router;
            router.send(&j.route, &j.meeting_id, cmd, None).await;
        }
        if let End::Close(code, reason) = end {
            let _ = self
                .session
                .close(Some(CloseReason {
                    code: CloseCode::Other(code),
                    description: Some(reason),
                }))
                .await;
        }
    }

    /// Handles one message from the client; `Some` ends the socket.
    async fn on_message(&mut self, msg: AggregatedMessage) -> Option<End> {
        match msg {
            AggregatedMessage::Text(text) => self.on_text(&text).await,
            AggregatedMessage::Binary(_) => {
                self.refuse_frame(
                    None,
                    SignalCode::BinaryNotSupported,
                    "本协议只接受文本（JSON）消息。".into(),
                )
                .await;
                None
            }
            AggregatedMessage::Ping(bytes) => {
                let _ = self.session.pong(&bytes).await;
                None
            }
            AggregatedMessage::Pong(_) => None,
            AggregatedMessage::Close(_) => Some(End::Gone),
        }
    }

    async fn on_text(&mut self, text: &str) -> Option<End> {
        let limit = self.state.config.signaling.max_frame_bytes;
        if text.len() > limit {
            self.refuse_frame(
                None,
                SignalCode::FrameTooLarge,
                format!("消息过大（{} 字节，上限 {limit} 字节）。", text.len()),
            )
            .await;
            return None;
        }
        if self.limiter.check().is_err() {
            self.refuse_frame(
                None,
                SignalCode::RateLimited,
                "消息发送过于频繁，请稍后再试。".into(),
            )
            .await;
            return None;
        }
        let f = match decode(text, limit) {
            Ok(f) => f,
            Err((code, id, message)) => {
                self.refuse_frame(id, code, message).await;
                return (code == SignalCode::UnsupportedVersion)
                    .then(|| End::Close(close::UNSUPPORTED_VERSION, code.as_str().into()));
            }
        };
        self.on_frame(f.id, f.msg).await
    }

    async fn on_frame(&mut self, id: Option<String>, msg: ClientMsg) -> Option<End> {
        match msg {
            ClientMsg::Ping(p) => {
                if self.joined.is_some() {
                    // The room records the heartbeat and answers.
                    self.forward(id, ClientMsg::Ping(p)).await;
                } else {
                    self.reply(id, ServerMsg::Pong(p)).await;
                }
                None
            }
            ClientMsg::AckNotices(a) => {
                let (p, now) = (self.principal.clone(), self.state.clock.now());
                let r = self
                    .state
                    .db
                    .run(move |c| crate::notices::acknowledge(c, &p, &a.cursor, now))
                    .await;
                let answer = match r {
                    Ok(()) => ServerMsg::Ack,
                    Err(e) => app_error_msg(&e),
                };
                self.reply(id, answer).await;
                None
            }
            ClientMsg::Join(join) => Box::pin(self.join(id, join)).await,
            other => {
                let Some(j) = &self.joined else {
                    let code = SignalCode::NotJoined;
                    self.refuse_frame(id, code, "请先加入会议（join）。".into())
                        .await;
                    return None;
                };
                if matches!(other, ClientMsg::Host(HostAction::EndMeeting)) && j.claims.grants.host
                {
                    let meeting_id = j.meeting_id.clone();
                    return Box::pin(self.end_meeting(id, meeting_id)).await;
                }
                let leaving = matches!(other, ClientMsg::Leave);
                self.forward(id, other).await;
                if leaving {
                    self.joined = None;
                }
                None
            }
        }
    }

    /// Passes a message of the joined session to its room.
    async fn forward(&mut self, id: Option<String>, msg: ClientMsg) {
        let Some(j) = &self.joined else { return };
        let cmd = Command::Client {
            seat: j.seat.clone(),
            id: id.clone(),
            msg,
        };
        let router = &self.state.signaling.router;
        let delivered = router
            .send(&j.route, &j.meeting_id, cmd, Some(self.conn))
            .await;
        if !delivered {
            self.joined = None;
            self.refuse_frame(id, SignalCode::MeetingEnded, "会议已结束。".into())
                .await;
        }
    }

    /// "End the meeting" from the host's socket ends it as `POST /meetings/{id}/end`
    /// does (same rights, same audit), then closes the room. In a consultation's room the
    /// host is its expert, and ending closes the room, which ends the consultation.
    async fn end_meeting(&mut self, id: Option<String>, meeting_id: String) -> Option<End> {
        if let super::RoomKey::Consultation(_) = super::RoomKey::parse(&meeting_id) {
            // The expert hangs up: the room closes and its hook records the end.
            self.reply(id, ServerMsg::Ack).await;
            self.state.signaling.tell_room(
                &meeting_id,
                super::hub::RoomEvent::End {
                    reason: "consultation_ended".into(),
                },
            );
            return None;
        }
        let m = meeting_id.clone();
        let r = self
            .state
            .run_as(self.principal.clone(), self.meta.clone(), move |c, ctx| {
                meetings::end(c, ctx, &m)
            })
            .await;
        match r {
            Ok(_) => {
                self.reply(id, ServerMsg::Ack).await;
                self.state.signaling.tell_room(
                    &meeting_id,
                    super::hub::RoomEvent::End {
                        reason: "meeting_ended".into(),
                    },
                );
            }
            Err(e) => {
                self.reply(id, app_error_msg(&e)).await;
            }
        }
        None
    }

    async fn join(&mut self, id: Option<String>, join: Join) -> Option<End> {
        let started = Instant::now();
        if self.joined.is_some() {
            self.refuse_frame(id, SignalCode::AlreadyJoined, "已在会议中。".into())
                .await;
            return None;
        }
        let claims = match join_token::verify(
            &self.state.tokens,
            &join.join_token,
            self.state.clock.now(),
        ) {
            Ok(c) => c,
            Err(e) => {
                self.reply(id, app_error_msg(&e)).await;
                return Some(End::Close(close::UNAUTHENTICATED, e.code().as_str().into()));
            }
        };
        if claims.sub != self.principal.account_id || claims.sid != self.principal.session_id {
            let code = SignalCode::WrongAccount;
            self.refuse_frame(id, code, "入会凭证属于其他账号或设备。".into())
                .await;
            return Some(End::Close(close::UNAUTHENTICATED, code.as_str().into()));
        }
        if let Some(reason) = self
            .state
            .signaling
            .join_token_outdated(&claims.sub, claims.issued_ms())
        {
            let msg = error_msg(
                reason.as_str(),
                "入会凭证签发于您的权限变更之前，已失效，请重新申请。",
            );
            self.reply(id, msg).await;
            return None;
        }
        let (meeting_id, member_id) = (claims.mid.clone(), claims.mem.clone());
        // An open room proves its meeting in progress and the token carries the names:
        // only the join that opens a room reads the database.
        let open = self.state.signaling.router.is_open(&meeting_id).await;
        let (title, name) = if open && !claims.name.is_empty() {
            (claims.title.clone(), claims.name.clone())
        } else {
            let (mid, account_id) = (meeting_id.clone(), self.principal.account_id.clone());
            let looked_up = self
                .state
                .db
                .run(move |c| super::room_entry(c, &mid, &account_id))
                .await;
            match looked_up {
                Ok(v) => v,
                Err(e) => {
                    self.reply(id, app_error_msg(&e)).await;
                    return None;
                }
            }
        };
        let req = JoinRequest {
            account_id: self.principal.account_id.clone(),
            member_id,
            name,
            title,
            grants: claims.grants,
            resume_token: join.resume_token,
            last_seq: join.last_seq,
            audio_only: join.audio_only,
            request_id: id.clone(),
            sink: FrameSink::local(self.outbox.clone()),
        };
        let router = &self.state.signaling.router;
        match router.join(&meeting_id, req, self.conn).await {
            Ok((seat, route)) => {
                metrics::histogram!(names::WS_JOIN_DURATION)
                    .record(started.elapsed().as_secs_f64());
                self.joined = Some(Joined {
                    meeting_id,
                    seat,
                    claims,
                    route,
                });
            }
            // The room has already told him why.
            Err(JoinError::Refused) => {}
            Err(e @ JoinError::Unreachable) => {
                self.reply(id, error_msg(e.code(), e.to_string())).await;
            }
            Err(e) => {
                let code = match e {
                    JoinError::Removed => SignalCode::Removed,
                    JoinError::Locked => SignalCode::RoomLocked,
                    JoinError::Denied => SignalCode::Denied,
                    JoinError::Ended | JoinError::Refused | JoinError::Unreachable => {
                        SignalCode::MeetingEnded
                    }
                };
                self.refuse_frame(id, code, e.to_string()).await;
            }
        }
        None
    }
}
