//! Rooms: one tokio task per meeting owns its state (participants, hands, mutes, lock,
//! waiting room, floor, removals, the event log for resume) and is driven by [`Command`]s
//! over a channel, so no lock is shared between rooms. A room answers through each
//! participant's [`FrameSink`], which is his socket's channel or, when his socket is on
//! another node, that node and connection over the bus; sockets reach rooms through the
//! [`Router`]. Nothing here cares where a socket is.

pub mod hooks;
pub mod registry;
pub mod router;
mod state;

#[cfg(test)]
mod tests;

use std::time::Duration;

use hongying_proto::signaling::{ClientMsg, JoinGrants, ServerMsg};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use hooks::{HookError, RoomHooks};
pub use registry::Registry;
pub use router::{FrameSink, Outbox, Route, Router};

#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// How long a dropped participant may come back as himself.
    pub resume_window: Duration,
    /// How many past events a room keeps for resuming clients.
    pub log_capacity: usize,
    /// How often the room writes "last seen" of its participants' intervals: the
    /// precision of crash recovery, traded against one write per room per period
    /// instead of one per heartbeat.
    pub touch_every: Duration,
    /// The SFU's settings; `None` runs rooms without media (signaling only), where a
    /// member counts as present from his join (the provisional rule). With media, he
    /// counts while his media flows.
    pub media: Option<std::sync::Arc<crate::media::MediaConfig>>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            resume_window: Duration::from_secs(30),
            log_capacity: 1024,
            touch_every: Duration::from_secs(10),
            media: None,
        }
    }
}

/// Who asks to join, as the verified join token says. It travels to the room's home node
/// without its sink, which the home rebuilds from the asking node and connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub account_id: String,
    pub member_id: Option<String>,
    pub name: String,
    /// The meeting's title, shown in the room state.
    pub title: String,
    pub grants: JoinGrants,
    pub resume_token: Option<String>,
    pub last_seq: Option<u64>,
    pub audio_only: bool,
    /// The request id of the `join` frame, echoed on `joined`.
    pub request_id: Option<String>,
    #[serde(skip, default = "FrameSink::detached")]
    pub sink: FrameSink,
}

/// A session inside a room: the participant and which of his sessions this is (a
/// replaced or resumed session's late messages are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub participant_id: String,
    pub session: u64,
    pub waiting: bool,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum JoinError {
    #[error("您已被主持人移出本次会议，不能再加入。")]
    Removed,
    #[error("会议已锁定，暂不能加入。")]
    Locked,
    #[error("主持人已拒绝您加入。")]
    Denied,
    #[error("会议已结束。")]
    Ended,
    /// The world outside refused (e.g. the meeting is not in progress); the error frame
    /// has already gone to the joiner's outbox.
    #[error("无法加入会议。")]
    Refused,
    /// The room's home node did not answer in time, or no longer holds the room.
    #[error("会议所在的服务器暂时无法连接，请稍后重试。")]
    Unreachable,
}

impl JoinError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::Locked => "room_locked",
            Self::Denied => "denied",
            Self::Ended => "meeting_ended",
            Self::Refused => "refused",
            Self::Unreachable => "service_unavailable",
        }
    }
}

#[derive(Debug)]
pub enum Command {
    Join(Box<JoinRequest>, oneshot::Sender<Result<Seat, JoinError>>),
    /// A message from a joined session.
    Client {
        seat: Seat,
        id: Option<String>,
        msg: ClientMsg,
    },
    /// The session's socket went away without `leave`: the resume window starts.
    Disconnected {
        seat: Seat,
    },
    /// An event from outside (a vote opened or closed in the meetings module).
    Broadcast(ServerMsg),
    /// The meeting ended outside the room (over HTTP): every interval closes.
    End {
        reason: String,
    },
    /// Attendance changed outside the room (a check-in, a secretary's mark): recompute
    /// the quorum and push it to the hosts.
    Refresh,
    /// The node stops (or nobody can reach the room any more): participants are told,
    /// their remote intervals close at the moment each was last seen, and in-person
    /// attendance is left alone, since the meeting itself goes on.
    Shutdown {
        reason: String,
    },
}

/// How to talk to a room.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    tx: mpsc::Sender<Command>,
}

impl RoomHandle {
    /// Sends a command; false when the room has closed.
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// Joins; `Err(Ended)` when the room closed meanwhile.
    pub async fn join(&self, req: JoinRequest) -> Result<Seat, JoinError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Join(Box::new(req), tx)).await {
            return Err(JoinError::Ended);
        }
        rx.await.unwrap_or(Err(JoinError::Ended))
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Starts a room's task on `runtime`; it runs until the meeting ends and then calls
/// `on_close`.
pub fn spawn<H: RoomHooks>(
    runtime: &tokio::runtime::Handle,
    meeting_id: String,
    config: RoomConfig,
    hooks: std::sync::Arc<H>,
    on_close: impl FnOnce() + Send + 'static,
) -> RoomHandle {
    let (tx, rx) = mpsc::channel(256);
    let room = state::Room::new(meeting_id, config, hooks);
    runtime.spawn(async move {
        room.run(rx).await;
        on_close();
    });
    RoomHandle { tx }
}
