//! What the node knows about its open sockets: how many each account holds, which
//! member each speaks for (to deliver his notices live), and the router through which
//! they reach their rooms, on this node or another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use hongying_proto::signaling::{ErrorFrame, PROTOCOL_VERSION, ServerFrame, ServerMsg};
use hongying_signaling::cluster::{Bus, Cluster, ClusterError};
use hongying_signaling::room::{Command, Outbox, Registry, RoomConfig, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hooks::{ConsultationHooks, DbHooks, MeetingHooks};
use crate::accounts::revocation::EndReason;
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

/// An account whose access ended: every node closes the sockets it holds for it.
#[derive(Serialize, Deserialize)]
struct AccountEnded {
    account_id: String,
    reason: String,
    /// When it ended, in unix milliseconds of the service clock.
    at_ms: i64,
}

const ACCOUNT_EVENTS: &str = "account-events";

pub struct Signaling {
    pub node_id: String,
    /// How sockets reach rooms; its registry holds the rooms homed on this node.
    pub router: Arc<Router<DbHooks>>,
    /// Room events in the order they were told, for the task that routes them.
    events: mpsc::UnboundedSender<(String, RoomEvent)>,
    conns: Arc<Mutex<Conns>>,
    next_id: AtomicU64,
    max_per_account: usize,
    /// Account events for every node (sockets to close), published in order by one task.
    account_events: mpsc::UnboundedSender<Bytes>,
    bus: Arc<dyn Bus>,
    clock: Clock,
    /// Accounts whose access ended lately: when, and why. A join token issued before
    /// that carries grants he may no longer hold; kept as long as a join token lives.
    ended: Mutex<HashMap<String, (i64, EndReason)>>,
    join_ttl_ms: i64,
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
            consultations: ConsultationHooks {
                db,
                clock: clock.clone(),
            },
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
        let bus = cluster.bus.clone();
        let (account_events, mut outgoing) = mpsc::unbounded_channel::<Bytes>();
        let publisher = bus.clone();
        // Ends when the node's signaling is dropped (its sender with it).
        tokio::spawn(async move {
            while let Some(payload) = outgoing.recv().await {
                if let Err(e) = publisher.publish(ACCOUNT_EVENTS, payload).await {
                    tracing::warn!(error = %e, "an account event did not reach the other nodes");
                }
            }
        });
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
            account_events,
            bus,
            clock,
            ended: Mutex::default(),
            join_ttl_ms: (config.auth.join_ttl_secs as i64).saturating_mul(1000),
        }
    }

    /// Sends an event to the meeting's room, on whichever node it lives. Events keep the
    /// order they were told in.
    pub fn tell_room(&self, meeting_id: &str, event: RoomEvent) {
        if self.events.send((meeting_id.to_string(), event)).is_err() {
            tracing::error!("room events are no longer routed");
        }
    }

    /// Closes every socket of the account, on whichever node it is open, telling it why:
    /// his membership or a grant ended (see [`crate::accounts::revocation`]).
    pub fn end_account(&self, account_id: &str, reason: EndReason) {
        let msg = AccountEnded {
            account_id: account_id.to_string(),
            reason: reason.as_str().to_string(),
            at_ms: self.clock.now().and_utc().timestamp_millis(),
        };
        // Here at once, not only when the bus comes round: the next request may be a
        // join with a token from before.
        self.remember_ended(account_id, msg.at_ms, reason);
        match serde_json::to_vec(&msg) {
            Ok(payload) => {
                if self.account_events.send(Bytes::from(payload)).is_err() {
                    tracing::error!("account events are no longer published");
                }
            }
            Err(e) => tracing::error!(error = %e, "encoding an account event failed"),
        }
    }

    fn remember_ended(&self, account_id: &str, at_ms: i64, reason: EndReason) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = at_ms - self.join_ttl_ms;
        ended.retain(|_, (t, _)| *t >= oldest);
        ended.insert(account_id.to_string(), (at_ms, reason));
    }

    /// Why a join token of this account issued at `iat_ms` (unix milliseconds) no longer
    /// holds: his access changed after its issue.
    pub fn join_token_outdated(&self, account_id: &str, iat_ms: i64) -> Option<EndReason> {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let (at_ms, reason) = ended.get(account_id)?;
        (iat_ms <= *at_ms).then_some(*reason)
    }

    /// The sockets of this node: an error frame naming the reason, then `closed`, which
    /// the socket answers by leaving its room and closing (see the session).
    fn close_account_here(&self, account_id: &str, reason: EndReason) -> usize {
        let c = self.conns();
        let Some(ids) = c.per_account.get(account_id) else {
            return 0;
        };
        let error = Arc::new(ServerFrame {
            v: PROTOCOL_VERSION,
            id: None,
            seq: None,
            msg: ServerMsg::Error(ErrorFrame {
                code: reason.as_str().into(),
                message: reason.message_zh().into(),
            }),
        });
        let closed = Arc::new(ServerFrame {
            v: PROTOCOL_VERSION,
            id: None,
            seq: None,
            msg: ServerMsg::Closed {
                reason: reason.as_str().into(),
            },
        });
        ids.iter()
            .filter_map(|id| c.by_id.get(id))
            .filter(|conn| {
                conn.outbox.send(error.clone()).is_ok() && conn.outbox.send(closed.clone()).is_ok()
            })
            .count()
    }

    /// Opens the meeting's room (it started), on this node unless another holds it.
    pub async fn open_room(&self, meeting_id: &str) {
        if let Err(e) = self.router.open(meeting_id).await {
            tracing::warn!(error = %e, "opening a room failed; the first join opens it");
        }
    }

    /// Joins the cluster: listens to this node's inbox and to the account events of every
    /// node; returns once it does.
    pub async fn listen(self: &Arc<Self>) -> Result<(), ClusterError> {
        let mut accounts = self.bus.subscribe(ACCOUNT_EVENTS).await?;
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(payload) = accounts.next().await {
                let Some(me) = me.upgrade() else { return };
                let Ok(AccountEnded {
                    account_id,
                    reason,
                    at_ms,
                }) = serde_json::from_slice(&payload)
                else {
                    tracing::warn!("an undecodable account event on the bus");
                    continue;
                };
                let Some(reason) = EndReason::parse(&reason) else {
                    continue;
                };
                me.remember_ended(&account_id, at_ms, reason);
                let n = me.close_account_here(&account_id, reason);
                if n > 0 {
                    tracing::info!(%account_id, reason = reason.as_str(), sockets = n,
                        "access ended: sockets closed");
                }
            }
        });
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
