//! How a socket reaches its room, wherever either lives (after LiveKit's routing: a
//! router that finds the room's node, and per-connection sinks).
//!
//! A room's home is the node holding its lease in [`Presence`](crate::cluster::Presence).
//! The router asks who holds it (claiming it for this node when nobody does and the caller
//! opens the room) and either hands the command to the local room task, or publishes it
//! to the home node's inbox topic on the [`Bus`](crate::cluster::Bus). The room answers
//! through each participant's [`FrameSink`]: the socket's channel when the socket is on
//! the home node, else the socket's node and connection id, over that node's inbox. So a
//! socket on node B sits in a room on node A, is counted and hears everything, and the
//! room's code never knows.
//!
//! Media stays with the room: its SFU runs on the home node, and a remote socket's
//! negotiation (offer, answer, candidates) travels as ordinary room commands and frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hongying_proto::signaling::{
    ClientMsg, ErrorFrame, PROTOCOL_VERSION, ServerFrame, ServerMsg, SignalCode,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{Command, JoinError, JoinRequest, Registry, RoomHandle, RoomHooks, Seat};
use crate::cluster::{Bus, Cluster, ClusterError, Lease};

/// How long a room's lease lasts unless renewed; a home that dies loses its rooms this
/// long after its last renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often leases are renewed and the node's heartbeat written: three chances per TTL.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How long a join waits for a remote home's answer.
const JOIN_WAIT: Duration = Duration::from_secs(10);

/// A local socket's channel. Frames travel behind an `Arc`: a slot of the channel is a
/// pointer, and one broadcast frame serves every local participant.
pub type Outbox = mpsc::UnboundedSender<Arc<ServerFrame>>;

/// A socket, cluster-wide: the node it is open on and its connection id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnAddr {
    pub node: String,
    pub conn: u64,
}

/// Where one participant's frames go.
#[derive(Debug, Clone)]
pub struct FrameSink(Sink);

#[derive(Debug, Clone)]
enum Sink {
    Local(Outbox),
    Remote {
        to: ConnAddr,
        relay: Relay,
    },
    /// Nowhere: a join request on the wire, before its home gives it a real sink.
    Detached,
}

impl FrameSink {
    pub fn local(outbox: Outbox) -> Self {
        Self(Sink::Local(outbox))
    }

    pub fn detached() -> Self {
        Self(Sink::Detached)
    }

    /// Sends a frame; false when it certainly went nowhere (a closed local socket). A
    /// remote socket that is gone is learnt from its `Disconnected`, not here.
    pub fn send(&self, f: Arc<ServerFrame>) -> bool {
        match &self.0 {
            Sink::Local(tx) => tx.send(f).is_ok(),
            Sink::Remote { to, relay } => relay.send(
                &to.node,
                &Envelope::Frame {
                    conn: to.conn,
                    frame: Arc::unwrap_or_clone(f),
                },
            ),
            Sink::Detached => false,
        }
    }
}

/// What nodes say to each other, on the receiver's inbox topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Envelope {
    /// A frame for one of the receiver's sockets.
    Frame { conn: u64, frame: ServerFrame },
    /// A socket of the sender joins a room homed on the receiver under lease `epoch`.
    Join {
        room: String,
        epoch: u64,
        corr: u64,
        from: ConnAddr,
        req: Box<JoinRequest>,
    },
    /// The answer to the sender's `Join` number `corr`.
    JoinAnswer {
        corr: u64,
        result: Result<Seat, JoinError>,
    },
    /// A command for a room homed on the receiver; `from` is the socket that sent it,
    /// told when the room is gone.
    Command {
        room: String,
        epoch: u64,
        from: Option<ConnAddr>,
        command: Wire,
    },
}

/// [`Command`]s that can travel: all but `Join`, whose reply channel cannot.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Client {
        seat: Seat,
        id: Option<String>,
        msg: ClientMsg,
    },
    Disconnected {
        seat: Seat,
    },
    Broadcast {
        msg: ServerMsg,
    },
    End {
        reason: String,
    },
    Refresh,
    Shutdown {
        reason: String,
    },
}

impl Wire {
    fn from_command(cmd: Command) -> Option<Self> {
        Some(match cmd {
            Command::Join(..) => return None,
            Command::Client { seat, id, msg } => Self::Client { seat, id, msg },
            Command::Disconnected { seat } => Self::Disconnected { seat },
            Command::Broadcast(msg) => Self::Broadcast { msg },
            Command::End { reason } => Self::End { reason },
            Command::Refresh => Self::Refresh,
            Command::Shutdown { reason } => Self::Shutdown { reason },
        })
    }

    fn into_command(self) -> Command {
        match self {
            Self::Client { seat, id, msg } => Command::Client { seat, id, msg },
            Self::Disconnected { seat } => Command::Disconnected { seat },
            Self::Broadcast { msg } => Command::Broadcast(msg),
            Self::End { reason } => Command::End { reason },
            Self::Refresh => Command::Refresh,
            Self::Shutdown { reason } => Command::Shutdown { reason },
        }
    }
}

fn inbox(node: &str) -> String {
    format!("inbox:{node}")
}

/// Publishes envelopes from synchronous code (a room sending a frame) in the order they
/// were given: one task drains one queue, so two frames for a socket never swap.
#[derive(Debug, Clone)]
struct Relay {
    tx: mpsc::UnboundedSender<(String, Bytes)>,
}

impl Relay {
    fn start(bus: Arc<dyn Bus>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Bytes)>();
        tokio::spawn(async move {
            while let Some((topic, payload)) = rx.recv().await {
                if let Err(e) = bus.publish(&topic, payload).await {
                    tracing::warn!(error = %e, topic, "publishing to another node failed");
                }
            }
        });
        Self { tx }
    }

    fn send(&self, node: &str, env: &Envelope) -> bool {
        match serde_json::to_vec(env) {
            Ok(b) => self.tx.send((inbox(node), b.into())).is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "encoding a message for another node failed");
                false
            }
        }
    }
}

/// Where a joined session's room is: a task on this node, or another node under a lease.
#[derive(Debug, Clone)]
pub enum Route {
    Local(RoomHandle),
    Remote(Lease),
}

type Deliver = Arc<dyn Fn(u64, Arc<ServerFrame>) -> bool + Send + Sync>;

pub struct Router<H> {
    node: String,
    registry: Registry<H>,
    cluster: Cluster,
    relay: Relay,
    /// The leases of the rooms homed here.
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    /// Joins waiting for a remote home's answer.
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Seat, JoinError>>>>,
    next_corr: AtomicU64,
    /// Hands a frame from a remote room to one of this node's sockets.
    deliver: Deliver,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<H: RoomHooks> Router<H> {
    /// Call inside the runtime the node runs on; then [`Self::start`].
    pub fn new(
        registry: Registry<H>,
        cluster: Cluster,
        deliver: impl Fn(u64, Arc<ServerFrame>) -> bool + Send + Sync + 'static,
    ) -> Self {
        let leases: Arc<Mutex<HashMap<String, Lease>>> = Arc::default();
        let registry = registry.on_close({
            let (leases, presence) = (leases.clone(), cluster.presence.clone());
            move |room| {
                // The room closed for good: another node may open it at once.
                if let Some(lease) = lock(&leases).remove(room) {
                    let presence = presence.clone();
                    tokio::spawn(async move {
                        if let Err(e) = presence.release(&lease).await {
                            tracing::warn!(error = %e, "releasing a room's lease failed");
                        }
                    });
                }
            }
        });
        Self {
            node: registry.node().to_string(),
            relay: Relay::start(cluster.bus.clone()),
            registry,
            cluster,
            leases,
            pending: Mutex::default(),
            next_corr: AtomicU64::new(1),
            deliver: Arc::new(deliver),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The rooms running on this node.
    pub fn registry(&self) -> &Registry<H> {
        &self.registry
    }

    /// Listens to this node's inbox and keeps its heartbeat and leases alive; returns once
    /// the inbox is subscribed, so nothing sent to the node after that is lost.
    pub async fn start(self: &Arc<Self>) -> Result<(), ClusterError> {
        let mut inbox = self.cluster.bus.subscribe(&inbox(&self.node)).await?;
        self.cluster
            .presence
            .heartbeat(&self.node, LEASE_TTL)
            .await?;
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(payload) = inbox.next().await {
                let Some(me) = me.upgrade() else { return };
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(env) => me.on_envelope(env).await,
                    Err(e) => tracing::warn!(error = %e, "an undecodable message in the inbox"),
                }
            }
        });
        tokio::spawn(keep_alive(Arc::downgrade(self)));
        Ok(())
    }

    /// The live lease on the room; when nobody holds it and `claim`, this node's new one.
    async fn lease(&self, room: &str, claim: bool) -> Result<Option<Lease>, ClusterError> {
        let presence = &self.cluster.presence;
        if let Some(l) = presence.holder(room).await? {
            return Ok(Some(l));
        }
        if !claim {
            return Ok(None);
        }
        presence.claim(room, &self.node, LEASE_TTL).await.map(Some)
    }

    /// Where the room runs. With `open`, a room nobody holds is claimed for this node and
    /// a room homed here is started if it is not running; without, `None` when it runs
    /// nowhere.
    pub async fn route(&self, room: &str, open: bool) -> Result<Option<Route>, ClusterError> {
        let Some(lease) = self.lease(room, open).await? else {
            return Ok(None);
        };
        if lease.holder != self.node {
            return Ok(Some(Route::Remote(lease)));
        }
        let handle = if open {
            Some(self.registry.room(room))
        } else {
            self.registry.get(room)
        };
        if handle.is_some() {
            lock(&self.leases).insert(room.to_string(), lease);
        }
        Ok(handle.map(Route::Local))
    }

    /// Opens the room (the meeting started), here unless another node holds it.
    pub async fn open(&self, room: &str) -> Result<Route, ClusterError> {
        self.route(room, true)
            .await?
            .ok_or_else(|| ClusterError("an opened room has no route".into()))
    }

    /// Whether the room runs on some node.
    pub async fn is_open(&self, room: &str) -> bool {
        matches!(self.route(room, false).await, Ok(Some(_)))
    }

    /// Joins the room for this node's connection `conn` (whose channel is `req.sink`),
    /// opening the room if it runs nowhere; the seat and the route for later commands.
    pub async fn join(
        &self,
        room: &str,
        req: JoinRequest,
        conn: u64,
    ) -> Result<(Seat, Route), JoinError> {
        let route = self.open(room).await.map_err(|e| {
            tracing::warn!(error = %e, room, "no route to a room");
            JoinError::Unreachable
        })?;
        let lease = match &route {
            Route::Local(h) => return h.join(req).await.map(|seat| (seat, route)),
            Route::Remote(lease) => lease.clone(),
        };
        let corr = self.next_corr.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(corr, tx);
        let env = Envelope::Join {
            room: room.to_string(),
            epoch: lease.epoch,
            corr,
            from: ConnAddr {
                node: self.node.clone(),
                conn,
            },
            req: Box::new(req),
        };
        let answer = if self.relay.send(&lease.holder, &env) {
            tokio::time::timeout(JOIN_WAIT, rx).await.ok()
        } else {
            None
        };
        lock(&self.pending).remove(&corr);
        match answer {
            Some(Ok(result)) => result.map(|seat| (seat, route)),
            _ => Err(JoinError::Unreachable),
        }
    }

    /// Sends a joined session's command along its route; false when the room is gone.
    /// `conn` is the sending socket, told if the remote room turns out to be gone.
    pub async fn send(&self, route: &Route, room: &str, cmd: Command, conn: Option<u64>) -> bool {
        match route {
            Route::Local(h) => h.send(cmd).await,
            Route::Remote(lease) => {
                let Some(command) = Wire::from_command(cmd) else {
                    return false;
                };
                let from = conn.map(|conn| ConnAddr {
                    node: self.node.clone(),
                    conn,
                });
                self.relay.send(
                    &lease.holder,
                    &Envelope::Command {
                        room: room.to_string(),
                        epoch: lease.epoch,
                        from,
                        command,
                    },
                )
            }
        }
    }

    /// An event from outside the room (a check-in, a vote, the meeting's end) goes to the
    /// room's home; nothing happens when the room runs nowhere.
    pub async fn tell(&self, room: &str, cmd: Command) {
        match self.route(room, false).await {
            Ok(Some(route)) => {
                self.send(&route, room, cmd, None).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, room, "an event for a room was lost"),
        }
    }

    /// The room homed here under lease `epoch`; started when `start` and not running. A
    /// command under another epoch was meant for a former (or later) life of the room.
    fn home_room(&self, room: &str, epoch: u64, start: bool) -> Option<RoomHandle> {
        let held = lock(&self.leases).get(room).map(|l| l.epoch);
        if held != Some(epoch) {
            return None;
        }
        if start {
            Some(self.registry.room(room))
        } else {
            self.registry.get(room)
        }
    }

    async fn on_envelope(&self, env: Envelope) {
        match env {
            Envelope::Frame { conn, frame } => {
                (self.deliver)(conn, Arc::new(frame));
            }
            Envelope::JoinAnswer { corr, result } => {
                if let Some(tx) = lock(&self.pending).remove(&corr) {
                    let _ = tx.send(result);
                }
            }
            Envelope::Join {
                room,
                epoch,
                corr,
                from,
                mut req,
            } => {
                let answer = move |result| Envelope::JoinAnswer { corr, result };
                let Some(handle) = self.home_room(&room, epoch, true) else {
                    self.relay
                        .send(&from.node, &answer(Err(JoinError::Unreachable)));
                    return;
                };
                req.sink = FrameSink(Sink::Remote {
                    to: from.clone(),
                    relay: self.relay.clone(),
                });
                let (tx, rx) = oneshot::channel();
                // Queued here, in inbox order; the answer is awaited aside, so a slow join
                // (it writes attendance) does not hold up the inbox.
                if !handle.send(Command::Join(req, tx)).await {
                    self.relay.send(&from.node, &answer(Err(JoinError::Ended)));
                    return;
                }
                let relay = self.relay.clone();
                tokio::spawn(async move {
                    let result = rx.await.unwrap_or(Err(JoinError::Ended));
                    // After the room's own frames to the joiner (`joined` first): one relay,
                    // one order.
                    relay.send(&from.node, &answer(result));
                });
            }
            Envelope::Command {
                room,
                epoch,
                from,
                command,
            } => {
                let request_id = match &command {
                    Wire::Client { id, .. } => Some(id.clone()),
                    _ => None,
                };
                if let Some(h) = self.home_room(&room, epoch, false)
                    && h.send(command.into_command()).await
                {
                    return;
                }
                // The room is gone: the session that spoke learns it, as a local one does.
                if let (Some(from), Some(id)) = (from, request_id) {
                    let frame = ServerFrame {
                        v: PROTOCOL_VERSION,
                        id,
                        seq: None,
                        msg: ServerMsg::Error(ErrorFrame {
                            code: SignalCode::MeetingEnded.as_str().into(),
                            message: "会议已结束。".into(),
                        }),
                    };
                    self.relay.send(
                        &from.node,
                        &Envelope::Frame {
                            conn: from.conn,
                            frame,
                        },
                    );
                }
            }
        }
    }

    /// The node stops: its rooms let everyone go, its leases are given up and it leaves
    /// the cluster.
    pub async fn shutdown(&self, reason: &str) {
        self.registry.shutdown(reason).await;
        let leases: Vec<Lease> = lock(&self.leases).drain().map(|(_, l)| l).collect();
        let presence = &self.cluster.presence;
        for l in leases {
            if let Err(e) = presence.release(&l).await {
                tracing::warn!(error = %e, "releasing a room's lease failed");
            }
        }
        if let Err(e) = presence.leave(&self.node).await {
            tracing::warn!(error = %e, "leaving the cluster failed");
        }
    }
}

/// Renews the node's heartbeat and its rooms' leases. A lease found lost is claimed
/// again; if another node has taken the room meanwhile, the room here stops, so that two
/// homes never run one room.
async fn keep_alive<H: RoomHooks>(router: Weak<Router<H>>) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(r) = router.upgrade() else { return };
        let presence = &r.cluster.presence;
        if let Err(e) = presence.heartbeat(&r.node, LEASE_TTL).await {
            tracing::warn!(error = %e, "writing the node's heartbeat failed");
        }
        let held: Vec<Lease> = lock(&r.leases).values().cloned().collect();
        for lease in held {
            match presence.renew(&lease, LEASE_TTL).await {
                Ok(true) => {}
                Ok(false) => match presence.claim(&lease.room, &r.node, LEASE_TTL).await {
                    Ok(l) if l.holder == r.node => {
                        lock(&r.leases).insert(lease.room.clone(), l);
                    }
                    Ok(l) => {
                        tracing::warn!(room = lease.room, holder = l.holder, "a room moved away");
                        lock(&r.leases).remove(&lease.room);
                        if let Some(h) = r.registry.get(&lease.room) {
                            h.send(Command::Shutdown {
                                reason: "room_moved".into(),
                            })
                            .await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reclaiming a room's lease failed"),
                },
                Err(e) => tracing::warn!(error = %e, "renewing a room's lease failed"),
            }
        }
    }
}
