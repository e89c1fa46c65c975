//! The room's state machine, owned by its task.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use hongying_proto::signaling::{
    ClientMsg, ErrorFrame, HostAction, JoinGrants, Joined, MediaKind, PROTOCOL_VERSION,
    Participant, ParticipantRole, QuorumState, RoomState, ServerFrame, ServerMsg, SignalCode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Command, FrameSink, JoinError, JoinRequest, RoomConfig, RoomHooks, Seat};
use crate::media::{MediaEvent, MediaRoom, ParticipantOptions, VideoSelection, ice_servers};
use hongying_proto::signaling::{Sdp, VideoChoice};

struct Member {
    /// The person: member id, or account id for an observer without one.
    key: String,
    view: Participant,
    grants: JoinGrants,
    session: u64,
    outbox: Option<FrameSink>,
    resume_token: String,
    interval_id: Option<String>,
    last_seen: Instant,
    /// Set while the socket is gone and the resume window runs.
    dropped_at: Option<Instant>,
}

pub(super) struct Room<H> {
    meeting_id: String,
    config: RoomConfig,
    hooks: Arc<H>,
    members: HashMap<String, Member>,
    /// Admitted order, for a stable room state.
    order: Vec<String>,
    waiting: HashMap<String, Member>,
    locked: bool,
    waiting_room: bool,
    /// After "mute all": who may unmute himself (`None`: everyone).
    may_unmute: Option<HashSet<String>>,
    removed: HashSet<String>,
    denied: HashSet<String>,
    log: VecDeque<Arc<ServerFrame>>,
    seq: u64,
    next_session: u64,
    ended: bool,
    title: String,
    /// The last quorum pushed, for the room state of a joining host.
    quorum: Option<QuorumState>,
    /// Intervals whose members were seen since the last write of "last seen".
    seen: HashSet<String>,
    next_touch: Instant,
    /// The room's SFU, when media is on.
    media: Option<MediaRoom>,
}

/// Frames are shared: a broadcast is one allocation whatever the room's size, and the
/// event log holds the same frames the outboxes got.
fn frame(id: Option<String>, seq: Option<u64>, msg: ServerMsg) -> Arc<ServerFrame> {
    Arc::new(ServerFrame {
        v: PROTOCOL_VERSION,
        id,
        seq,
        msg,
    })
}

fn error(code: SignalCode, message: &str) -> ServerMsg {
    hook_error(code.as_str(), message)
}

fn hook_error(code: &str, message: &str) -> ServerMsg {
    ServerMsg::Error(ErrorFrame {
        code: code.into(),
        message: message.into(),
    })
}

/// Participant ids and resume tokens: random (v4), so a resume token cannot be guessed.
fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl<H: RoomHooks> Room<H> {
    pub(super) fn new(meeting_id: String, config: RoomConfig, hooks: Arc<H>) -> Self {
        Self {
            meeting_id,
            hooks,
            members: HashMap::new(),
            order: Vec::new(),
            waiting: HashMap::new(),
            locked: false,
            waiting_room: false,
            may_unmute: None,
            removed: HashSet::new(),
            denied: HashSet::new(),
            log: VecDeque::new(),
            seq: 0,
            next_session: 0,
            ended: false,
            title: String::new(),
            quorum: None,
            seen: HashSet::new(),
            next_touch: Instant::now() + config.touch_every,
            media: None,
            config,
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // The SFU starts with the room, on the room's runtime.
        let mut media_rx = match self.config.media.clone() {
            Some(cfg) => {
                let (media, events) = MediaRoom::start(cfg);
                self.media = Some(media);
                Some(events)
            }
            None => None,
        };
        while !self.ended {
            let deadline = self.next_deadline();
            let far = Instant::now() + std::time::Duration::from_secs(3600);
            let cmd = tokio::select! {
                cmd = rx.recv() => cmd,
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    self.flush_seen().await;
                    self.expire_dropped().await;
                    continue;
                }
                Some(ev) = async { match media_rx.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                } } => {
                    self.on_media(ev).await;
                    continue;
                }
            };
            match cmd {
                Some(cmd) => self.handle(cmd).await,
                // Every handle is gone: nobody can reach the room any more.
                None => self.shutdown("room_closed").await,
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let flush = (!self.seen.is_empty()).then_some(self.next_touch);
        self.members
            .values()
            .filter_map(|m| m.dropped_at.map(|t| t + self.config.resume_window))
            .chain(flush)
            .min()
    }

    /// Writes "last seen" of the intervals whose members were seen, once per period.
    async fn flush_seen(&mut self) {
        let now = Instant::now();
        if now < self.next_touch {
            return;
        }
        self.next_touch = now + self.config.touch_every;
        if self.seen.is_empty() {
            return;
        }
        let ids: Vec<String> = self.seen.drain().collect();
        self.hooks.touch(&ids).await;
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Join(req, reply) => {
                let r = self.join(*req).await;
                let _ = reply.send(r);
            }
            Command::Client { seat, id, msg } => self.client(seat, id, msg).await,
            Command::Disconnected { seat } => {
                if let Some(m) = self.members.get_mut(&seat.participant_id)
                    && m.session == seat.session
                {
                    m.outbox = None;
                    m.dropped_at = Some(Instant::now());
                } else if self
                    .waiting
                    .get(&seat.participant_id)
                    .is_some_and(|m| m.session == seat.session)
                {
                    self.waiting.remove(&seat.participant_id);
                }
            }
            Command::Broadcast(msg) => self.broadcast(msg),
            Command::End { reason } => self.end(&reason).await,
            Command::Refresh => self.push_quorum().await,
            Command::Shutdown { reason } => self.shutdown(&reason).await,
        }
    }

    fn role(grants: &JoinGrants, member_id: Option<&str>) -> ParticipantRole {
        if grants.host {
            ParticipantRole::Host
        } else if member_id.is_some() {
            ParticipantRole::Member
        } else {
            ParticipantRole::Observer
        }
    }

    async fn join(&mut self, req: JoinRequest) -> Result<Seat, JoinError> {
        let key = req
            .member_id
            .clone()
            .unwrap_or_else(|| req.account_id.clone());
        if self.removed.contains(&key) {
            return Err(JoinError::Removed);
        }
        if self.denied.contains(&key) {
            return Err(JoinError::Denied);
        }
        self.next_session += 1;
        let session = self.next_session;
        if self.title.is_empty() {
            self.title.clone_from(&req.title);
        }

        // Resume, or a second device of the same person: the participant stays, the
        // session moves; the old session (if still connected) is told why it ends.
        let existing = self
            .members
            .iter()
            .find(|(_, m)| m.key == key)
            .map(|(id, _)| id.clone());
        if let Some(pid) = existing {
            let resumed = {
                let Some(m) = self.members.get_mut(&pid) else {
                    return Err(JoinError::Ended);
                };
                let resumed = req.resume_token.as_deref() == Some(m.resume_token.as_str());
                if let Some(old) = m.outbox.take() {
                    let reason = if resumed { "resumed" } else { "replaced" };
                    let _ = old.send(frame(
                        None,
                        None,
                        ServerMsg::Closed {
                            reason: reason.into(),
                        },
                    ));
                }
                m.session = session;
                m.outbox = Some(req.sink.clone());
                m.dropped_at = None;
                m.last_seen = Instant::now();
                m.resume_token = token();
                resumed
            };
            // Another device has another peer connection: it starts afresh. A resumed
            // phone keeps its connection (media may have flowed on while the socket was away).
            if !resumed && let Some(media) = self.media.clone() {
                let opts = self.members.get(&pid).map(|m| ParticipantOptions {
                    publish: m.grants.publish,
                    subscribe: m.grants.subscribe,
                    audio_only: req.audio_only,
                });
                if let Some(opts) = opts {
                    let _ = media.add_participant(&pid, opts).await;
                }
            }
            self.send_joined(&pid, req.request_id, resumed);
            if resumed && let Some(after) = req.last_seq {
                let missed: Vec<Arc<ServerFrame>> = self
                    .log
                    .iter()
                    .filter(|f| f.seq.is_some_and(|s| s > after))
                    .cloned()
                    .collect();
                for f in missed {
                    let _ = req.sink.send(f);
                }
            }
            return Ok(Seat {
                participant_id: pid,
                session,
                waiting: false,
            });
        }

        if self.locked && !req.grants.host {
            return Err(JoinError::Locked);
        }
        let pid = token();
        let member = Member {
            key,
            view: Participant {
                participant_id: pid.clone(),
                member_id: req.member_id.clone(),
                name: req.name.clone(),
                role: Self::role(&req.grants, req.member_id.as_deref()),
                audio_muted: self.may_unmute.is_some(),
                video_muted: false,
                hand_raised: false,
                has_floor: false,
                audio_only: req.audio_only,
                media_proven: false,
            },
            grants: req.grants,
            session,
            outbox: Some(req.sink.clone()),
            resume_token: token(),
            interval_id: None,
            last_seen: Instant::now(),
            dropped_at: None,
        };
        if self.waiting_room && !req.grants.host {
            let view = member.view.clone();
            self.waiting.insert(pid.clone(), member);
            let _ = req
                .sink
                .send(frame(req.request_id, None, ServerMsg::Waiting));
            self.to_hosts(ServerMsg::Knocking(view));
            return Ok(Seat {
                participant_id: pid,
                session,
                waiting: true,
            });
        }
        if !self.admit(pid.clone(), member, req.request_id).await {
            return Err(JoinError::Refused);
        }
        Ok(Seat {
            participant_id: pid,
            session,
            waiting: false,
        })
    }

    /// Seats a participant; false (and an error frame to him) when the world refused.
    async fn admit(&mut self, pid: String, mut member: Member, request_id: Option<String>) -> bool {
        if let Some(media) = self.media.clone() {
            let opts = ParticipantOptions {
                publish: member.grants.publish,
                subscribe: member.grants.subscribe,
                audio_only: member.view.audio_only,
            };
            if let Err(e) = media.add_participant(&pid, opts).await {
                if let Some(out) = &member.outbox {
                    let _ = out.send(frame(
                        request_id,
                        None,
                        hook_error(e.code(), &e.to_string()),
                    ));
                }
                return false;
            }
        } else if let Some(member_id) = member.view.member_id.clone() {
            // Without media, presence is the join itself (the provisional rule).
            match self
                .hooks
                .open_interval(&self.meeting_id, &member_id, false)
                .await
            {
                Ok(id) => member.interval_id = id,
                Err(e) => {
                    if let Some(out) = &member.outbox {
                        let _ = out.send(frame(request_id, None, hook_error(&e.code, &e.message)));
                    }
                    return false;
                }
            }
        }
        let view = member.view.clone();
        self.members.insert(pid.clone(), member);
        self.order.push(pid.clone());
        self.send_joined(&pid, request_id, false);
        self.broadcast_except(&pid, ServerMsg::ParticipantJoined(view));
        self.presence_changed().await;
        true
    }

    fn room_state(&self, for_host: bool) -> RoomState {
        RoomState {
            meeting_id: self.meeting_id.clone(),
            title: self.title.clone(),
            locked: self.locked,
            participants: self
                .order
                .iter()
                .filter_map(|p| self.members.get(p))
                .map(|m| m.view.clone())
                .collect(),
            waiting: if for_host {
                self.waiting.values().map(|m| m.view.clone()).collect()
            } else {
                Vec::new()
            },
            quorum: if for_host { self.quorum.clone() } else { None },
        }
    }

    fn send_joined(&self, pid: &str, request_id: Option<String>, resumed: bool) {
        let Some(m) = self.members.get(pid) else {
            return;
        };
        if let Some(out) = &m.outbox {
            let _ = out.send(frame(
                request_id,
                Some(self.seq),
                ServerMsg::Joined(Box::new(Joined {
                    participant_id: pid.to_string(),
                    resume_token: m.resume_token.clone(),
                    resumed,
                    room: self.room_state(m.grants.host),
                    ice_servers: self
                        .config
                        .media
                        .as_ref()
                        .map(|cfg| {
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs());
                            ice_servers(cfg, now, pid)
                        })
                        .unwrap_or_default(),
                })),
            ));
        }
    }

    /// Logs an event with the next seq and sends it to every connected participant.
    fn broadcast(&mut self, msg: ServerMsg) {
        self.broadcast_except("", msg);
    }

    fn broadcast_except(&mut self, except: &str, msg: ServerMsg) {
        self.seq += 1;
        let f = frame(None, Some(self.seq), msg);
        for (pid, m) in &self.members {
            if pid != except
                && let Some(out) = &m.outbox
            {
                let _ = out.send(f.clone());
            }
        }
        self.log.push_back(f);
        while self.log.len() > self.config.log_capacity {
            self.log.pop_front();
        }
    }

    fn to_hosts(&self, msg: ServerMsg) {
        let f = frame(None, None, msg);
        for m in self.members.values().filter(|m| m.grants.host) {
            if let Some(out) = &m.outbox {
                let _ = out.send(f.clone());
            }
        }
    }

    /// Someone came, went, or his media proof changed: the hosts get the quorum, and the
    /// room's kind may decide that the room is over.
    async fn presence_changed(&mut self) {
        self.push_quorum().await;
        let joined = self.members.len();
        let present = if self.media.is_some() {
            self.members
                .values()
                .filter(|m| m.view.media_proven)
                .count()
        } else {
            joined
        };
        if let Some(reason) = self
            .hooks
            .occupancy(&self.meeting_id, joined, present)
            .await
        {
            self.end(&reason).await;
        }
    }

    async fn push_quorum(&mut self) {
        if let Some(q) = self.hooks.quorum(&self.meeting_id).await {
            self.quorum = Some(q.clone());
            self.to_hosts(ServerMsg::QuorumUpdate(q));
        }
    }

    fn reply(&self, seat: &Seat, id: Option<String>, msg: ServerMsg) {
        let out = self
            .members
            .get(&seat.participant_id)
            .or_else(|| self.waiting.get(&seat.participant_id))
            .filter(|m| m.session == seat.session)
            .and_then(|m| m.outbox.as_ref());
        if let Some(out) = out {
            let _ = out.send(frame(id, None, msg));
        }
    }

    fn updated(&mut self, pid: &str) {
        if let Some(view) = self.members.get(pid).map(|m| m.view.clone()) {
            self.broadcast(ServerMsg::ParticipantUpdated(view));
        }
    }

    async fn client(&mut self, seat: Seat, id: Option<String>, msg: ClientMsg) {
        let current = self
            .members
            .get(&seat.participant_id)
            .is_some_and(|m| m.session == seat.session);
        if !current {
            // A waiting session may only ping or leave; a replaced one nothing at all.
            if self
                .waiting
                .get(&seat.participant_id)
                .is_some_and(|m| m.session == seat.session)
            {
                match msg {
                    ClientMsg::Ping(p) => self.reply(&seat, id, ServerMsg::Pong(p)),
                    ClientMsg::Leave => {
                        self.waiting.remove(&seat.participant_id);
                    }
                    _ => self.reply(
                        &seat,
                        id,
                        error(SignalCode::Waiting, "请等待主持人准许入会。"),
                    ),
                }
            }
            return;
        }
        let pid = seat.participant_id.clone();
        if let Some(m) = self.members.get_mut(&pid) {
            m.last_seen = Instant::now();
            if let Some(iv) = &m.interval_id {
                self.seen.insert(iv.clone());
            }
        }
        match msg {
            ClientMsg::Join(_) => {
                self.reply(&seat, id, error(SignalCode::AlreadyJoined, "已在会议中。"))
            }
            ClientMsg::Ping(p) => self.reply(&seat, id, ServerMsg::Pong(p)),
            ClientMsg::Leave => {
                self.reply(&seat, id, ServerMsg::Ack);
                self.drop_participant(&pid, "left").await;
            }
            ClientMsg::Offer(_)
            | ClientMsg::Answer(_)
            | ClientMsg::Candidate(_)
            | ClientMsg::SelectVideos(_)
            | ClientMsg::AudioOnly(_)
            | ClientMsg::RestartIce => self.media_request(&seat, id, msg).await,
            ClientMsg::Mute(mute) => {
                let allowed = mute.muted
                    || mute.kind == MediaKind::Video
                    || self.may_unmute.as_ref().is_none_or(|s| s.contains(&pid))
                    || self.members.get(&pid).is_some_and(|m| m.grants.host);
                if !allowed {
                    self.reply(
                        &seat,
                        id,
                        error(
                            SignalCode::UnmuteNotAllowed,
                            "主持人已全体静音，您暂不能取消静音。",
                        ),
                    );
                    return;
                }
                if let Some(m) = self.members.get_mut(&pid) {
                    match mute.kind {
                        MediaKind::Audio => m.view.audio_muted = mute.muted,
                        MediaKind::Video => m.view.video_muted = mute.muted,
                    }
                }
                self.media_mute(&pid, mute.kind, mute.muted).await;
                self.reply(&seat, id, ServerMsg::Ack);
                self.updated(&pid);
            }
            ClientMsg::RaiseHand | ClientMsg::LowerHand => {
                let raise = matches!(msg, ClientMsg::RaiseHand);
                if let Some(m) = self.members.get_mut(&pid) {
                    m.view.hand_raised = raise;
                }
                self.reply(&seat, id, ServerMsg::Ack);
                self.updated(&pid);
            }
            ClientMsg::Chat(c) => {
                let name = self
                    .members
                    .get(&pid)
                    .map(|m| m.view.name.clone())
                    .unwrap_or_default();
                self.reply(&seat, id, ServerMsg::Ack);
                self.broadcast(ServerMsg::Chat {
                    participant_id: pid,
                    name,
                    text: c.text,
                    at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                });
            }
            ClientMsg::CastBallot(b) => {
                let member_id = self
                    .members
                    .get(&pid)
                    .and_then(|m| m.view.member_id.clone());
                let Some(member_id) = member_id else {
                    self.reply(
                        &seat,
                        id,
                        error(SignalCode::NotAVoter, "列席人员没有表决权。"),
                    );
                    return;
                };
                let answer = match self
                    .hooks
                    .cast_ballot(&self.meeting_id, &member_id, &b)
                    .await
                {
                    Ok(()) => ServerMsg::Ack,
                    Err(e) => hook_error(&e.code, &e.message),
                };
                self.reply(&seat, id, answer);
            }
            ClientMsg::AckNotices(_) => self.reply(&seat, id, ServerMsg::Ack),
            ClientMsg::Host(action) => {
                if !self.members.get(&pid).is_some_and(|m| m.grants.host) {
                    self.reply(
                        &seat,
                        id,
                        error(SignalCode::NotHost, "只有主持人可以这样做。"),
                    );
                    return;
                }
                self.host(&seat, id, action).await;
            }
        }
    }

    async fn host(&mut self, seat: &Seat, id: Option<String>, action: HostAction) {
        let unknown = || error(SignalCode::UnknownParticipant, "会议中没有这位参会人。");
        match action {
            HostAction::MuteOne {
                participant_id,
                kind,
            } => {
                let Some(m) = self.members.get_mut(&participant_id) else {
                    return self.reply(seat, id, unknown());
                };
                match kind {
                    MediaKind::Audio => m.view.audio_muted = true,
                    MediaKind::Video => m.view.video_muted = true,
                }
                // Forwarding stops on the server, not only a flag on his phone.
                self.media_mute(&participant_id, kind, true).await;
                self.reply(seat, id, ServerMsg::Ack);
                self.updated(&participant_id);
            }
            HostAction::MuteAll { may_unmute } => {
                self.may_unmute = Some(may_unmute.into_iter().collect());
                let targets: Vec<String> = self
                    .order
                    .iter()
                    .filter(|p| self.members.get(*p).is_some_and(|m| !m.grants.host))
                    .cloned()
                    .collect();
                self.reply(seat, id, ServerMsg::Ack);
                for p in targets {
                    if let Some(m) = self.members.get_mut(&p) {
                        m.view.audio_muted = true;
                    }
                    self.media_mute(&p, MediaKind::Audio, true).await;
                    self.updated(&p);
                }
            }
            HostAction::Remove { participant_id } => {
                let Some(m) = self.members.get(&participant_id) else {
                    return self.reply(seat, id, unknown());
                };
                let key = m.key.clone();
                if let Some(out) = &m.outbox {
                    let _ = out.send(frame(
                        None,
                        None,
                        ServerMsg::Closed {
                            reason: "removed".into(),
                        },
                    ));
                }
                self.removed.insert(key);
                self.reply(seat, id, ServerMsg::Ack);
                self.drop_participant(&participant_id, "removed").await;
            }
            HostAction::Lock { locked } => {
                self.locked = locked;
                self.reply(seat, id, ServerMsg::Ack);
            }
            HostAction::WaitingRoom { enabled } => {
                self.waiting_room = enabled;
                self.reply(seat, id, ServerMsg::Ack);
            }
            HostAction::Admit { participant_id } => {
                let Some(m) = self.waiting.remove(&participant_id) else {
                    return self.reply(seat, id, unknown());
                };
                self.reply(seat, id, ServerMsg::Ack);
                // A refusal went to the admitted one's outbox.
                let _ = self.admit(participant_id, m, None).await;
            }
            HostAction::Deny { participant_id } => {
                let Some(m) = self.waiting.remove(&participant_id) else {
                    return self.reply(seat, id, unknown());
                };
                // Denied means denied for this meeting, not "knock again".
                self.denied.insert(m.key.clone());
                if let Some(out) = &m.outbox {
                    let _ = out.send(frame(
                        None,
                        None,
                        ServerMsg::Closed {
                            reason: "denied".into(),
                        },
                    ));
                }
                self.reply(seat, id, ServerMsg::Ack);
            }
            HostAction::GiveFloor { participant_id } => {
                if !self.members.contains_key(&participant_id) {
                    return self.reply(seat, id, unknown());
                }
                self.reply(seat, id, ServerMsg::Ack);
                let changed: Vec<String> = self
                    .members
                    .iter()
                    .filter(|(p, m)| m.view.has_floor != (**p == participant_id))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in changed {
                    if let Some(m) = self.members.get_mut(&p) {
                        m.view.has_floor = p == participant_id;
                        if m.view.has_floor {
                            m.view.hand_raised = false;
                        }
                    }
                    self.updated(&p);
                }
            }
            HostAction::EndMeeting => {
                self.reply(seat, id, ServerMsg::Ack);
                self.end("meeting_ended").await;
            }
        }
    }

    /// Takes a participant out of the room and closes his interval now.
    async fn drop_participant(&mut self, pid: &str, reason: &str) {
        let Some(m) = self.members.remove(pid) else {
            return;
        };
        self.order.retain(|p| p != pid);
        if let Some(media) = &self.media {
            media.remove_participant(pid).await;
        }
        if let Some(member_id) = &m.view.member_id {
            self.hooks
                .close_interval(&self.meeting_id, member_id, m.last_seen.elapsed(), reason)
                .await;
        }
        self.broadcast(ServerMsg::ParticipantLeft {
            participant_id: pid.to_string(),
            reason: reason.into(),
        });
        self.presence_changed().await;
    }

    /// Participants whose resume window lapsed leave; their interval closes at the last
    /// moment they were seen.
    async fn expire_dropped(&mut self) {
        let now = Instant::now();
        let lapsed: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.dropped_at
                    .is_some_and(|t| t + self.config.resume_window <= now)
            })
            .map(|(p, _)| p.clone())
            .collect();
        for p in lapsed {
            self.drop_participant(&p, "timeout").await;
        }
    }

    /// The node stops: participants are told and their intervals close at their last
    /// heartbeat; in-person attendance and the meeting itself are untouched.
    async fn shutdown(&mut self, reason: &str) {
        if self.ended {
            return;
        }
        let present: Vec<(String, std::time::Duration)> = self
            .members
            .values()
            .filter_map(|m| Some((m.view.member_id.clone()?, m.last_seen.elapsed())))
            .collect();
        for (member_id, ago) in present {
            self.hooks
                .close_interval(&self.meeting_id, &member_id, ago, reason)
                .await;
        }
        self.seen.clear();
        self.ended = true;
        self.tell_all_closed(reason);
        if let Some(media) = self.media.take() {
            media.close().await;
        }
    }

    fn tell_all_closed(&self, reason: &str) {
        let f = frame(
            None,
            None,
            ServerMsg::Closed {
                reason: reason.into(),
            },
        );
        for m in self.members.values().chain(self.waiting.values()) {
            if let Some(out) = &m.outbox {
                let _ = out.send(f.clone());
            }
        }
    }

    async fn end(&mut self, reason: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.seen.clear();
        self.tell_all_closed(reason);
        if let Some(media) = self.media.take() {
            media.close().await;
        }
        self.hooks.close_all(&self.meeting_id, reason).await;
    }

    async fn media_mute(&self, pid: &str, kind: MediaKind, muted: bool) {
        if let Some(media) = &self.media {
            // A participant without a media connection yet has nothing to stop.
            let _ = media.set_muted(pid, kind, muted).await;
        }
    }

    /// Negotiation and media choices, passed to the SFU.
    async fn media_request(&mut self, seat: &Seat, id: Option<String>, msg: ClientMsg) {
        let Some(media) = self.media.clone() else {
            return self.reply(
                seat,
                id,
                error(SignalCode::MediaUnavailable, "本服务器未开通音视频。"),
            );
        };
        let pid = seat.participant_id.as_str();
        let answer = match msg {
            ClientMsg::Offer(o) => media
                .apply_offer(pid, o.sdp)
                .await
                .map(|sdp| ServerMsg::Answer(Sdp { sdp })),
            ClientMsg::Answer(a) => media
                .apply_answer(pid, a.sdp)
                .await
                .map(|()| ServerMsg::Ack),
            ClientMsg::Candidate(c) => media.add_candidate(pid, c).await.map(|()| ServerMsg::Ack),
            ClientMsg::RestartIce => media.restart_ice(pid).await.map(|()| ServerMsg::Ack),
            ClientMsg::SelectVideos(choice) => {
                let sel = match choice {
                    VideoChoice::All => VideoSelection::All,
                    VideoChoice::Only { participants } => VideoSelection::Only(participants),
                    VideoChoice::Speakers { count } => VideoSelection::Speakers(count.into()),
                };
                media.select_videos(pid, sel).await.map(|()| ServerMsg::Ack)
            }
            ClientMsg::AudioOnly(a) => {
                let r = media.set_audio_only(pid, a.on).await;
                if r.is_ok() {
                    if let Some(m) = self.members.get_mut(pid) {
                        m.view.audio_only = a.on;
                    }
                    self.updated(pid);
                }
                r.map(|()| ServerMsg::Ack)
            }
            _ => return,
        };
        let answer = answer.unwrap_or_else(|e| hook_error(e.code(), &e.to_string()));
        self.reply(seat, id, answer);
    }

    /// Sends a frame to one participant's current session, outside the event log.
    fn send_to(&self, pid: &str, msg: ServerMsg) {
        if let Some(out) = self.members.get(pid).and_then(|m| m.outbox.as_ref()) {
            let _ = out.send(frame(None, None, msg));
        }
    }

    /// What the SFU reports: negotiation for one participant, presence by media, the
    /// active speaker, weak links.
    async fn on_media(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::LocalCandidate {
                participant,
                candidate,
            } => self.send_to(&participant, ServerMsg::Candidate(candidate)),
            MediaEvent::Offer { participant, sdp } => {
                self.send_to(&participant, ServerMsg::Offer(Sdp { sdp }));
            }
            MediaEvent::MediaProven { participant } => {
                let Some(m) = self.members.get(&participant) else {
                    return;
                };
                let member_id = m.view.member_id.clone();
                let has_interval = m.interval_id.is_some();
                if let Some(member_id) = member_id
                    && !has_interval
                {
                    match self
                        .hooks
                        .open_interval(&self.meeting_id, &member_id, true)
                        .await
                    {
                        Ok(iv) => {
                            if let Some(m) = self.members.get_mut(&participant) {
                                m.interval_id = iv;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(code = %e.code, "opening a media-proven interval failed");
                        }
                    }
                }
                if let Some(m) = self.members.get_mut(&participant) {
                    m.view.media_proven = true;
                }
                self.updated(&participant);
                self.presence_changed().await;
            }
            MediaEvent::MediaLost {
                participant,
                reason,
                silent_for,
            } => {
                let Some(m) = self.members.get_mut(&participant) else {
                    return;
                };
                m.view.media_proven = false;
                let member_id = m.view.member_id.clone();
                if let Some(iv) = m.interval_id.take() {
                    self.seen.remove(&iv);
                }
                if let Some(member_id) = member_id {
                    self.hooks
                        .close_interval(&self.meeting_id, &member_id, silent_for, reason.as_str())
                        .await;
                }
                self.updated(&participant);
                self.presence_changed().await;
            }
            MediaEvent::ActiveSpeaker { participant } => {
                let f = frame(
                    None,
                    None,
                    ServerMsg::ActiveSpeaker {
                        participant_id: participant,
                    },
                );
                for m in self.members.values() {
                    if let Some(out) = &m.outbox {
                        let _ = out.send(f.clone());
                    }
                }
            }
            MediaEvent::AudioOnly {
                participant,
                on,
                reason,
            } => {
                self.send_to(
                    &participant,
                    ServerMsg::AudioOnly {
                        on,
                        reason: reason.as_str().into(),
                    },
                );
                if let Some(m) = self.members.get_mut(&participant) {
                    m.view.audio_only = on;
                }
                self.updated(&participant);
            }
            MediaEvent::Error { participant, error } => {
                self.send_to(&participant, hook_error(error.code(), &error.to_string()));
            }
        }
    }
}
