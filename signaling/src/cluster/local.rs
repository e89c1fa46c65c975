//! The cluster in one process: presence is a map, the bus a set of channels per topic.
//! Clones share their state, so two nodes given clones of one value see each other's
//! leases and messages, as nodes sharing one Redis do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Bus, BusStream, ClusterError, Lease, Presence};

type Now = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Default)]
struct Leases {
    /// room → (holder, epoch, expiry).
    held: HashMap<String, (String, u64, Instant)>,
    /// room → the last epoch handed out; kept after release, so that a later holder's
    /// epoch is still larger than every former one's (Redis keeps it in its own key).
    epochs: HashMap<String, u64>,
    /// node → heartbeat expiry.
    nodes: HashMap<String, Instant>,
}

/// Presence in memory. Expiry reads its own clock, so that tests can move time without
/// sleeping; nodes read the monotonic clock.
#[derive(Clone)]
pub struct LocalPresence {
    state: Arc<Mutex<Leases>>,
    now: Now,
}

impl Default for LocalPresence {
    fn default() -> Self {
        Self::with_clock(Arc::new(Instant::now))
    }
}

impl std::fmt::Debug for LocalPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPresence").finish_non_exhaustive()
    }
}

impl LocalPresence {
    pub fn with_clock(now: Arc<dyn Fn() -> Instant + Send + Sync>) -> Self {
        Self {
            state: Arc::default(),
            now,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Presence for LocalPresence {
    async fn claim(&self, room: &str, node: &str, ttl: Duration) -> Result<Lease, ClusterError> {
        let now = (self.now)();
        let mut s = self.state();
        if let Some((holder, epoch, expires)) = s.held.get_mut(room)
            && *expires > now
        {
            if holder == node {
                *expires = now + ttl;
            }
            return Ok(Lease {
                room: room.to_string(),
                holder: holder.clone(),
                epoch: *epoch,
            });
        }
        let epoch = {
            let e = s.epochs.entry(room.to_string()).or_insert(0);
            *e += 1;
            *e
        };
        s.held
            .insert(room.to_string(), (node.to_string(), epoch, now + ttl));
        Ok(Lease {
            room: room.to_string(),
            holder: node.to_string(),
            epoch,
        })
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, ClusterError> {
        let now = (self.now)();
        let mut s = self.state();
        match s.held.get_mut(&lease.room) {
            Some((holder, epoch, expires))
                if *holder == lease.holder && *epoch == lease.epoch && *expires > now =>
            {
                *expires = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), ClusterError> {
        let mut s = self.state();
        if s.held
            .get(&lease.room)
            .is_some_and(|(h, e, _)| *h == lease.holder && *e == lease.epoch)
        {
            s.held.remove(&lease.room);
        }
        Ok(())
    }

    async fn holder(&self, room: &str) -> Result<Option<Lease>, ClusterError> {
        let now = (self.now)();
        let s = self.state();
        Ok(s.held
            .get(room)
            .filter(|(_, _, expires)| *expires > now)
            .map(|(holder, epoch, _)| Lease {
                room: room.to_string(),
                holder: holder.clone(),
                epoch: *epoch,
            }))
    }

    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<(), ClusterError> {
        let now = (self.now)();
        self.state().nodes.insert(node.to_string(), now + ttl);
        Ok(())
    }

    async fn leave(&self, node: &str) -> Result<(), ClusterError> {
        self.state().nodes.remove(node);
        Ok(())
    }

    async fn alive_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let now = (self.now)();
        let mut nodes: Vec<String> = self
            .state()
            .nodes
            .iter()
            .filter(|(_, expires)| **expires > now)
            .map(|(n, _)| n.clone())
            .collect();
        nodes.sort();
        Ok(nodes)
    }
}

/// The bus in memory: one unbounded channel per subscription, so a slow subscriber
/// delays nobody and loses nothing (a broadcast channel would drop what it lagged on).
#[derive(Debug, Default, Clone)]
pub struct LocalBus {
    topics: Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>>>,
}

#[async_trait::async_trait]
impl Bus for LocalBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), ClusterError> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(subs) = topics.get_mut(topic) {
            // A dropped stream is a gone subscriber: forget it here.
            subs.retain(|tx| tx.send(payload.clone()).is_ok());
            if subs.is_empty() {
                topics.remove(topic);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<BusStream, ClusterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(topic.to_string())
            .or_default()
            .push(tx);
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|p| (p, rx))
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use futures_util::StreamExt;

    use super::*;

    /// A presence on a clock the test moves.
    fn presence() -> (LocalPresence, Arc<Mutex<Instant>>) {
        let t = Arc::new(Mutex::new(Instant::now()));
        let clock = t.clone();
        let p = LocalPresence::with_clock(Arc::new(move || *clock.lock().unwrap()));
        (p, t)
    }

    fn advance(t: &Mutex<Instant>, by: Duration) {
        *t.lock().unwrap() += by;
    }

    const TTL: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_room_has_one_holder_until_its_lease_is_released() {
        let (p, _) = presence();
        let a = p.claim("m1", "a", TTL).await.unwrap();
        assert_eq!((a.holder.as_str(), a.epoch), ("a", 1));
        // Another node is told who holds it, and takes nothing.
        assert_eq!(p.claim("m1", "b", TTL).await.unwrap(), a);
        // Claiming again as the holder keeps the lease and its epoch.
        assert_eq!(p.claim("m1", "a", TTL).await.unwrap(), a);
        // A release with someone else's lease does nothing.
        let forged = Lease {
            holder: "b".into(),
            ..a.clone()
        };
        p.release(&forged).await.unwrap();
        assert_eq!(p.holder("m1").await.unwrap(), Some(a.clone()));
        p.release(&a).await.unwrap();
        assert_eq!(p.holder("m1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_lease_lapses_without_renewal_and_another_node_takes_over_with_a_larger_epoch() {
        let (p, t) = presence();
        let a = p.claim("m1", "a", TTL).await.unwrap();
        advance(&t, Duration::from_secs(6));
        assert!(p.renew(&a, TTL).await.unwrap(), "renewed in time");
        // Renewed at 6 s: still held at 15 s, gone at 16 s.
        advance(&t, Duration::from_secs(9));
        assert_eq!(p.holder("m1").await.unwrap(), Some(a.clone()));
        assert_eq!(p.claim("m1", "b", TTL).await.unwrap().holder, "a");
        advance(&t, Duration::from_secs(1));
        assert_eq!(p.holder("m1").await.unwrap(), None, "expired");

        let b = p.claim("m1", "b", TTL).await.unwrap();
        assert_eq!(b.holder, "b");
        assert!(b.epoch > a.epoch, "the new holder's epoch fences the old");
        // The former home cannot renew its way back, nor release the new lease.
        assert!(!p.renew(&a, TTL).await.unwrap());
        p.release(&a).await.unwrap();
        assert_eq!(p.holder("m1").await.unwrap(), Some(b.clone()));

        // Released and claimed again, even by the first node: the epoch still grows.
        p.release(&b).await.unwrap();
        let again = p.claim("m1", "a", TTL).await.unwrap();
        assert!(again.epoch > b.epoch);
    }

    #[tokio::test]
    async fn nodes_are_alive_while_their_heartbeats_last() {
        let (p, t) = presence();
        p.heartbeat("a", TTL).await.unwrap();
        p.heartbeat("b", TTL).await.unwrap();
        assert_eq!(p.alive_nodes().await.unwrap(), ["a", "b"]);
        advance(&t, Duration::from_secs(8));
        p.heartbeat("b", TTL).await.unwrap();
        advance(&t, Duration::from_secs(3));
        assert_eq!(p.alive_nodes().await.unwrap(), ["b"], "a missed its beat");
        p.leave("b").await.unwrap();
        assert!(p.alive_nodes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn two_nodes_sharing_the_in_process_cluster_see_each_other() {
        let shared = super::super::Cluster::local();
        let (a, b) = (shared.clone(), shared);
        let lease = a.presence.claim("m1", "node-a", TTL).await.unwrap();
        assert_eq!(b.presence.holder("m1").await.unwrap(), Some(lease));

        let mut inbox_a = a.bus.subscribe("inbox:node-a").await.unwrap();
        let mut other = b.bus.subscribe("inbox:node-b").await.unwrap();
        b.bus
            .publish("inbox:node-a", Bytes::from_static(b"first"))
            .await
            .unwrap();
        b.bus
            .publish("inbox:node-a", Bytes::from_static(b"second"))
            .await
            .unwrap();
        assert_eq!(inbox_a.next().await.unwrap(), "first");
        assert_eq!(inbox_a.next().await.unwrap(), "second");
        let nothing = tokio::time::timeout(Duration::from_millis(50), other.next()).await;
        assert!(nothing.is_err(), "another topic's subscriber got nothing");
    }

    #[tokio::test]
    async fn a_dropped_subscription_is_forgotten() {
        let bus = LocalBus::default();
        let sub = bus.subscribe("t").await.unwrap();
        drop(sub);
        bus.publish("t", Bytes::from_static(b"x")).await.unwrap();
        assert!(bus.topics.lock().unwrap().is_empty());
    }
}
