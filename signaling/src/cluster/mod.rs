//! The cluster seam. A room lives on one node at a time: its home, held by a lease in
//! [`Presence`]; [`Bus`] carries bytes between nodes by topic. Both are chosen once at
//! start-up ([`Cluster`]) and shared by everything on the node; the in-process
//! implementations here may also be shared by several nodes in one process, which then
//! see one another exactly as they would through Redis. Nothing in the room code names an
//! implementation.
//!
//! The ports are `#[async_trait]` traits rather than native `async fn` in traits: they
//! are used as `Arc<dyn Presence>` / `Arc<dyn Bus>` (one choice at start-up, no type
//! parameter threaded through the server), and a native async trait is not dyn-compatible.
//! The boxed future per call costs nothing next to a Redis round trip.

mod local;
mod redis;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

pub use self::redis::{RedisBus, RedisPresence};
pub use local::{LocalBus, LocalPresence};

/// The cluster could not be reached (Redis down, a timeout). The in-process
/// implementations never fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster unavailable: {0}")]
pub struct ClusterError(pub String);

/// Who holds a room, and since which claim: `epoch` grows with every new holder, so a
/// former home that still believes in its lease is fenced off by comparing epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub room: String,
    pub holder: String,
    pub epoch: u64,
}

/// Which node holds a room, for how long, and which nodes are alive.
#[async_trait::async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Claims `room` for `node` for `ttl` unless a live lease of another node holds it;
    /// returns the lease that holds it now (`node`'s own, new or renewed, or the other's).
    async fn claim(&self, room: &str, node: &str, ttl: Duration) -> Result<Lease, ClusterError>;
    /// Extends the lease by `ttl`; false when it is no longer held (expired, taken over).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, ClusterError>;
    /// Gives the room up, if this lease still holds it.
    async fn release(&self, lease: &Lease) -> Result<(), ClusterError>;
    /// The live lease on `room`, if any.
    async fn holder(&self, room: &str) -> Result<Option<Lease>, ClusterError>;
    /// The node is alive for another `ttl`.
    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<(), ClusterError>;
    /// The node stops: it is no longer listed as alive.
    async fn leave(&self, node: &str) -> Result<(), ClusterError>;
    /// The nodes whose heartbeat has not lapsed.
    async fn alive_nodes(&self) -> Result<Vec<String>, ClusterError>;
}

/// What a subscription yields: payloads published to its topic after it was made, in
/// publication order per publisher.
pub type BusStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// Publish/subscribe between nodes, by topic. Delivery is at most once: a node that is
/// not subscribed when a payload is published never sees it.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), ClusterError>;
    async fn subscribe(&self, topic: &str) -> Result<BusStream, ClusterError>;
}

/// The ports a node runs on. Cloning shares them: nodes built from clones of one
/// `Cluster` form one cluster.
#[derive(Clone)]
pub struct Cluster {
    pub presence: Arc<dyn Presence>,
    pub bus: Arc<dyn Bus>,
}

impl Cluster {
    /// A cluster in this process only: a single node, or several nodes of one test.
    pub fn local() -> Self {
        Self {
            presence: Arc::new(LocalPresence::default()),
            bus: Arc::new(LocalBus::default()),
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").finish_non_exhaustive()
    }
}
