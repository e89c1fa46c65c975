//! The cluster on Redis: several nodes, one Redis. Every key and channel starts with the
//! deployment's prefix (`hongying:` by default; a test takes one of its own), and every
//! key a node keeps alive carries a TTL, so a dead node's state expires by itself.
//!
//! - A lease is one key `<p>room:<room>` = `<holder>|<epoch>` with a PX expiry; the epoch
//!   comes from `INCR <p>epoch:<room>`, which outlives the lease, so every new holder's
//!   epoch is larger than every former one's. Claim, renew and release are Lua scripts:
//!   each reads and writes the key in one step, so two nodes cannot both win.
//! - Node heartbeats are one sorted set `<p>nodes`, scored by the instant (Redis's own
//!   clock, so nodes' clocks need not agree) until which each node counts as alive.
//! - The bus is Redis pub/sub on `<p>bus:<topic>` over RESP3 with a connection manager
//!   that reconnects and subscribes again by itself: over RESP2, or without automatic
//!   resubscription, a subscriber silently stops receiving after Redis restarts. A
//!   message published while Redis is down is lost (pub/sub keeps nothing): delivery is
//!   at most once, as the [`Bus`] contract says, and the room layer repairs by resync.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{PushInfo, PushKind, Value};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Bus, BusStream, ClusterError, Lease, Presence};

/// How long a command may take before the cluster counts as unavailable: a node must not
/// hang on a Redis that went away, it must say so (readiness, a clear error to a join).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

fn unavailable(e: impl std::fmt::Display) -> ClusterError {
    ClusterError(e.to_string())
}

/// Connects with RESP3 (needed for pushes on a shared connection), a command timeout and
/// reconnection that keeps trying with a bounded delay.
async fn manager(
    url: &str,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> Result<ConnectionManager, ClusterError> {
    let info: ::redis::ConnectionInfo = url.parse().map_err(unavailable)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(::redis::ProtocolVersion::RESP3);
    let info = info.set_redis_settings(settings);
    let client = ::redis::Client::open(info).map_err(unavailable)?;
    let mut config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_max_delay(Duration::from_secs(1));
    if let Some(tx) = push {
        config = config.set_push_sender(tx).set_automatic_resubscription();
    }
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(unavailable)
}

/// Leases and node liveness in Redis.
#[derive(Clone)]
pub struct RedisPresence {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// KEYS: lease, epoch counter. ARGV: node, ttl ms, epoch key ttl ms.
/// Returns "holder|epoch" of the lease that holds the room after the call.
const CLAIM: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder = string.match(cur, '^(.*)|')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return cur
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local v = ARGV[1] .. '|' .. epoch
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v
";

/// KEYS: lease. ARGV: "holder|epoch", ttl ms. 1 when renewed.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS: lease. ARGV: "holder|epoch".
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS: nodes. ARGV: node, ttl ms. Scores by Redis's clock.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 0
";

/// KEYS: nodes. The members whose score is still ahead of Redis's clock; the rest are
/// dropped on the way.
const ALIVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// An epoch counter outlives its lease by this much: long enough that no former holder
/// of a room is still running with an older epoch, short enough not to keep a key per
/// room that ever met forever.
const EPOCH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn parse_lease(room: &str, v: &str) -> Result<Lease, ClusterError> {
    let (holder, epoch) = v
        .rsplit_once('|')
        .ok_or_else(|| ClusterError(format!("malformed lease {v:?}")))?;
    Ok(Lease {
        room: room.to_string(),
        holder: holder.to_string(),
        epoch: epoch
            .parse()
            .map_err(|_| ClusterError(format!("malformed lease {v:?}")))?,
    })
}

fn lease_value(l: &Lease) -> String {
    format!("{}|{}", l.holder, l.epoch)
}

impl RedisPresence {
    /// `prefix` starts every key (e.g. `hongying:`).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        Ok(Self {
            conn: manager(url, None).await?,
            prefix: prefix.to_string(),
        })
    }

    fn room_key(&self, room: &str) -> String {
        format!("{}room:{room}", self.prefix)
    }

    async fn eval<T: ::redis::FromRedisValue>(
        &self,
        script: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<T, ClusterError> {
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(unavailable)
    }
}

#[async_trait::async_trait]
impl Presence for RedisPresence {
    async fn claim(&self, room: &str, node: &str, ttl: Duration) -> Result<Lease, ClusterError> {
        let v: String = self
            .eval(
                CLAIM,
                &[self.room_key(room), format!("{}epoch:{room}", self.prefix)],
                &[
                    node.to_string(),
                    ms(ttl).to_string(),
                    ms(EPOCH_TTL).to_string(),
                ],
            )
            .await?;
        parse_lease(room, &v)
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, ClusterError> {
        let n: i64 = self
            .eval(
                RENEW,
                &[self.room_key(&lease.room)],
                &[lease_value(lease), ms(ttl).to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<(), ClusterError> {
        let _: i64 = self
            .eval(
                RELEASE,
                &[self.room_key(&lease.room)],
                &[lease_value(lease)],
            )
            .await?;
        Ok(())
    }

    async fn holder(&self, room: &str) -> Result<Option<Lease>, ClusterError> {
        let mut conn = self.conn.clone();
        let v: Option<String> = ::redis::cmd("GET")
            .arg(self.room_key(room))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        v.map(|v| parse_lease(room, &v)).transpose()
    }

    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<(), ClusterError> {
        let _: i64 = self
            .eval(
                HEARTBEAT,
                &[format!("{}nodes", self.prefix)],
                &[node.to_string(), ms(ttl).to_string()],
            )
            .await?;
        Ok(())
    }

    async fn leave(&self, node: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        let _: i64 = ::redis::cmd("ZREM")
            .arg(format!("{}nodes", self.prefix))
            .arg(node)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn alive_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let mut nodes: Vec<String> = self
            .eval(ALIVE, &[format!("{}nodes", self.prefix)], &[])
            .await?;
        nodes.sort();
        Ok(nodes)
    }
}

/// Subscribers of this process, by channel: one Redis subscription per channel however
/// many local streams read it.
type Subscribers = Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>>>;

/// Pub/sub between nodes over Redis.
#[derive(Clone)]
pub struct RedisBus {
    publisher: ConnectionManager,
    subscriber: ConnectionManager,
    subscribers: Subscribers,
    prefix: String,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Two connections: commands and pushes share none of their queues, so a burst of
    /// messages never delays a publish. Must run inside a tokio runtime (it spawns the
    /// task that hands pushes to the subscribers).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PushInfo>();
        let subscribers: Subscribers = Arc::default();
        let bus = Self {
            publisher: manager(url, None).await?,
            subscriber: manager(url, Some(tx)).await?,
            subscribers: subscribers.clone(),
            prefix: prefix.to_string(),
        };
        tokio::spawn(async move {
            while let Some(push) = rx.recv().await {
                deliver(&subscribers, push);
            }
        });
        Ok(bus)
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}bus:{topic}", self.prefix)
    }
}

/// Hands one push to the local streams of its channel; streams that were dropped go.
fn deliver(subscribers: &Subscribers, push: PushInfo) {
    if push.kind != PushKind::Message {
        // Subscription confirmations and disconnect notices: the manager resubscribes by
        // itself, nothing to hand on.
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let bytes = |v: Value| match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    };
    let (Some(channel), Some(payload)) = (bytes(channel), bytes(payload)) else {
        return;
    };
    let channel = String::from_utf8_lossy(&channel).into_owned();
    let payload = Bytes::from(payload);
    let mut subs = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(list) = subs.get_mut(&channel) {
        list.retain(|tx| tx.send(payload.clone()).is_ok());
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), ClusterError> {
        let mut conn = self.publisher.clone();
        let _: i64 = ::redis::cmd("PUBLISH")
            .arg(self.channel(topic))
            .arg(payload.as_ref())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<BusStream, ClusterError> {
        let channel = self.channel(topic);
        let (tx, rx) = mpsc::unbounded_channel();
        let first = {
            let mut subs = self
                .subscribers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let list = subs.entry(channel.clone()).or_default();
            list.retain(|tx| !tx.is_closed());
            list.push(tx);
            list.len() == 1
        };
        if first {
            let mut conn = self.subscriber.clone();
            conn.subscribe(&channel).await.map_err(unavailable)?;
        }
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|b| (b, rx))
        })))
    }
}
