//! What the node knows about its open sockets: how many each account holds, which
//! member each speaks for (to deliver his notices live), and the router through which
//! they reach their rooms, on this node or another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hongying_proto::signaling::{PROTOCOL_VERSION, ServerFrame, ServerMsg};
use hongying_signaling::cluster::{Cluster, ClusterError};
use hongying_signaling::room::{Command, Outbox, Registry, RoomConfig, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hooks::{ConsultationHooks, DbHooks, MeetingHooks};
use crate::config::Config;
use crate::db::Db;
use crate::state::Clock;
use crate::telemetry::names;

struct Conn {
    account_id: String,
    member_id: Option<String>,
    outbox: Outbox,
}

#[derive(Default)]
struct Conns {
    by_id: HashMap<u64, Conn>,
    /// account id → connection ids: the per-account cap, and live notices to accounts
    /// without a member record.
    per_account: HashMap<String, Vec<u64>>,
    /// member id → connection ids, for live notices.
    per_member: HashMap<String, Vec<u64>>,
}

/// What the rest of the server tells a meeting's room. It goes to the room's home node,
/// because the room may live on another node than the request that caused it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    /// Attendance changed outside the room: recompute and push the quorum.
    Refresh,
    /// The meeting ended: the room closes every interval and lets everyone go.
    End { reason: String },
    /// An event for everyone in the room (a vote opened or closed).
    Broadcast { msg: Box<ServerMsg> },
}

impl From<RoomEvent> for Command {
    fn from(e: RoomEvent) -> Self {
        match e {
            RoomEvent::Refresh => Command::Refresh,
            RoomEvent::End { reason } => Command::End { reason },
            RoomEvent::Broadcast { msg } => Command::Broadcast(*msg),
        }
    }
}

pub struct Signaling {
    pub node_id: String,
    /// How sockets reach rooms; its registry holds the rooms homed on this node.
    pub router: Arc<Router<DbHooks>>,
    /// Room events in the order they were told, for the task that routes them.
    events: mpsc::UnboundedSender<(String, RoomEvent)>,
    conns: Arc<Mutex<Conns>>,
    next_id: AtomicU64,
    max_per_account: usize,
}

/// A refused connection: the account has as many sockets as allowed.
#[derive(Debug)]
pub struct TooManyConnections;

impl Signaling {
    /// Builds the node's signaling on the cluster ports it is given; call inside the
    /// runtime the rooms should run on, then [`Self::listen`].
    pub fn new(config: &Config, db: Db, clock: Clock, cluster: Cluster) -> Self {
        let node_id = config.signaling.node_id.clone().unwrap_or_else(|| {
            format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
                std::process::id()
            )
        });
        let ms = std::time::Duration::from_millis;
        let sig = &config.signaling;
        let hooks = DbHooks {
            meetings: MeetingHooks {
                db: db.clone(),
                clock: clock.clone(),
                policy: config.meetings.clone(),
                merge_within: chrono::Duration::milliseconds(sig.resume_window_ms as i64),
            },
            consultations: ConsultationHooks { db, clock },
        };
        let registry = Registry::new(
            &node_id,
            RoomConfig {
                resume_window: ms(sig.resume_window_ms),
                log_capacity: 1024,
                touch_every: ms(sig.touch_every_ms),
                media: config.media.engine_config().map(Arc::new),
            },
            Arc::new(hooks),
        );
        let conns: Arc<Mutex<Conns>> = Arc::default();
        let sockets = conns.clone();
        let router = Arc::new(Router::new(registry, cluster, move |conn, frame| {
            let c = sockets.lock().unwrap_or_else(PoisonError::into_inner);
            c.by_id
                .get(&conn)
                .is_some_and(|s| s.outbox.send(frame).is_ok())
        }));
        let (events, mut queue) = mpsc::unbounded_channel::<(String, RoomEvent)>();
        let to_rooms = router.clone();
        // Ends when the node's signaling is dropped (its sender with it).
        tokio::spawn(async move {
            while let Some((room, event)) = queue.recv().await {
                to_rooms.tell(&room, event.into()).await;
            }
        });
        Self {
            node_id,
            router,
            events,
            conns,
            next_id: AtomicU64::new(1),
            max_per_account: sig.max_connections_per_account,
        }
    }

    /// Sends an event to the meeting's room, on whichever node it lives. Events keep the
    /// order they were told in.
    pub fn tell_room(&self, meeting_id: &str, event: RoomEvent) {
        if self.events.send((meeting_id.to_string(), event)).is_err() {
            tracing::error!("room events are no longer routed");
        }
    }

    /// Opens the meeting's room (it started), on this node unless another holds it.
    pub async fn open_room(&self, meeting_id: &str) {
        if let Err(e) = self.router.open(meeting_id).await {
            tracing::warn!(error = %e, "opening a room failed; the first join opens it");
        }
    }

    /// Joins the cluster: listens to this node's inbox; returns once it does.
    pub async fn listen(&self) -> Result<(), ClusterError> {
        self.router.start().await
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers an authenticated socket; refused beyond the per-account cap. The
    /// returned id is given back to [`Self::disconnect`].
    pub fn connect(
        &self,
        account_id: &str,
        member_id: Option<&str>,
        outbox: Outbox,
    ) -> Result<u64, TooManyConnections> {
        let mut c = self.conns();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ids = c.per_account.entry(account_id.to_string()).or_default();
        if ids.len() >= self.max_per_account {
            return Err(TooManyConnections);
        }
        ids.push(id);
        if let Some(m) = member_id {
            c.per_member.entry(m.to_string()).or_default().push(id);
        }
        c.by_id.insert(
            id,
            Conn {
                account_id: account_id.to_string(),
                member_id: member_id.map(str::to_string),
                outbox,
            },
        );
        metrics::gauge!(names::WS_CONNECTIONS).set(c.by_id.len() as f64);
        Ok(id)
    }

    pub fn disconnect(&self, id: u64) {
        let mut c = self.conns();
        let Some(conn) = c.by_id.remove(&id) else {
            return;
        };
        if let Some(ids) = c.per_account.get_mut(&conn.account_id) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                c.per_account.remove(&conn.account_id);
            }
        }
        if let Some(m) = conn.member_id
            && let Some(ids) = c.per_member.get_mut(&m)
        {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                c.per_member.remove(&m);
            }
        }
        metrics::gauge!(names::WS_CONNECTIONS).set(c.by_id.len() as f64);
    }

    pub fn connections(&self) -> usize {
        self.conns().by_id.len()
    }

    /// Sends a frame to every open socket of the member on this node; how many got it.
    pub fn to_member(&self, member_id: &str, frame: &ServerFrame) -> usize {
        let c = self.conns();
        let Some(ids) = c.per_member.get(member_id) else {
            return 0;
        };
        let frame = Arc::new(frame.clone());
        ids.iter()
            .filter_map(|id| c.by_id.get(id))
            .filter(|conn| conn.outbox.send(frame.clone()).is_ok())
            .count()
    }

    /// Sends a frame to every open socket of the account on this node; how many got it.
    pub fn to_account(&self, account_id: &str, frame: &ServerFrame) -> usize {
        let c = self.conns();
        let Some(ids) = c.per_account.get(account_id) else {
            return 0;
        };
        let frame = Arc::new(frame.clone());
        ids.iter()
            .filter_map(|id| c.by_id.get(id))
            .filter(|conn| conn.outbox.send(frame.clone()).is_ok())
            .count()
    }

    /// Whether any socket of this account is open here.
    pub fn has_account(&self, account_id: &str) -> bool {
        self.conns().per_account.contains_key(account_id)
    }

    /// Whether any socket of this member is open here.
    pub fn has_member(&self, member_id: &str) -> bool {
        self.conns().per_member.contains_key(member_id)
    }

    /// The node stops: rooms let their participants go (closing their intervals at
    /// their last heartbeat), then every socket is told and closes.
    pub async fn shutdown(&self) {
        self.router.shutdown("server_shutdown").await;
        let frame = Arc::new(ServerFrame {
            v: PROTOCOL_VERSION,
            id: None,
            seq: None,
            msg: ServerMsg::Closed {
                reason: "server_shutdown".into(),
            },
        });
        for conn in self.conns().by_id.values() {
            let _ = conn.outbox.send(frame.clone());
        }
    }
}
