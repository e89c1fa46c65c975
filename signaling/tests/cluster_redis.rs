//! The Redis cluster ports against a real Redis: the machine's (`REDIS_URL`, default
//! 127.0.0.1:6379, each test with a key prefix of its own) and, for the restart, a
//! `redis-server` this test starts on a free loopback port and kills.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use hongying_signaling::cluster::{Bus, Presence, RedisBus, RedisPresence};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

async fn presence(url: &str, prefix: &str) -> RedisPresence {
    RedisPresence::connect(url, prefix)
        .await
        .unwrap_or_else(|e| panic!("Redis is required at {url} (REDIS_URL): {e}"))
}

async fn bus(url: &str, prefix: &str) -> RedisBus {
    RedisBus::connect(url, prefix)
        .await
        .unwrap_or_else(|e| panic!("Redis is required at {url} (REDIS_URL): {e}"))
}

#[tokio::test]
async fn a_lease_is_held_by_one_node_and_a_new_holder_fences_the_former() {
    let (url, p) = (redis_url(), prefix());
    let a = presence(&url, &p).await;
    let b = presence(&url, &p).await;
    let short = Duration::from_millis(300);

    let la = a.claim("r1", "node-a", short).await.unwrap();
    assert_eq!((la.holder.as_str(), la.epoch), ("node-a", 1));
    // Held: B is told who holds it, and A claiming again renews its own lease.
    assert_eq!(b.claim("r1", "node-b", short).await.unwrap(), la);
    assert_eq!(a.claim("r1", "node-a", short).await.unwrap(), la);
    assert!(a.renew(&la, short).await.unwrap());
    assert_eq!(b.holder("r1").await.unwrap(), Some(la.clone()));

    // A stops renewing: the lease lapses and B takes over with a larger epoch.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(b.holder("r1").await.unwrap(), None);
    let lb = b
        .claim("r1", "node-b", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((lb.holder.as_str(), lb.epoch), ("node-b", 2));
    // The former home, still believing in its lease, can neither renew nor release it.
    assert!(!a.renew(&la, short).await.unwrap());
    a.release(&la).await.unwrap();
    assert_eq!(a.holder("r1").await.unwrap(), Some(lb.clone()));

    // Released by its holder, the next claim gets a larger epoch still.
    b.release(&lb).await.unwrap();
    assert_eq!(a.holder("r1").await.unwrap(), None);
    let again = a.claim("r1", "node-a", short).await.unwrap();
    assert_eq!(again.epoch, 3);
    // Another prefix is another deployment: nothing of this one is seen there.
    let other = presence(&url, &prefix()).await;
    assert_eq!(other.holder("r1").await.unwrap(), None);
}

#[tokio::test]
async fn a_node_is_alive_while_its_heartbeats_last() {
    let (url, p) = (redis_url(), prefix());
    let a = presence(&url, &p).await;
    a.heartbeat("node-a", Duration::from_millis(300))
        .await
        .unwrap();
    a.heartbeat("node-b", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(a.alive_nodes().await.unwrap(), vec!["node-a", "node-b"]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(a.alive_nodes().await.unwrap(), vec!["node-b"]);
    a.leave("node-b").await.unwrap();
    assert!(a.alive_nodes().await.unwrap().is_empty());
}

async fn next(stream: &mut hongying_signaling::cluster::BusStream) -> Option<Bytes> {
    tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn the_bus_carries_a_topic_between_nodes_in_order() {
    let (url, p) = (redis_url(), prefix());
    let a = bus(&url, &p).await;
    let b = bus(&url, &p).await;
    let mut first = b.subscribe("inbox:node-b").await.unwrap();
    let mut second = b.subscribe("inbox:node-b").await.unwrap();
    let mut elsewhere = b.subscribe("inbox:node-c").await.unwrap();
    for i in 0..200u32 {
        a.publish("inbox:node-b", Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    for s in [&mut first, &mut second] {
        for i in 0..200u32 {
            assert_eq!(next(s).await.as_deref(), Some(&i.to_be_bytes()[..]));
        }
    }
    // Another topic heard nothing; a dropped stream does not stop the others.
    drop(first);
    a.publish("inbox:node-b", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next(&mut second).await.as_deref(), Some(&b"after"[..]));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), elsewhere.next())
            .await
            .is_err()
    );
}

/// A `redis-server` of the test's own on a free loopback port, killed on drop.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("`redis-server` is required for the Redis restart test (apt-get install redis-server): {e}")
            });
        let s = Self { port, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The trap this guards against: pub/sub that silently stops receiving after Redis
/// restarts. The subscriber made before the restart receives what is published after it,
/// and the leases work again, with no action by the node.
#[tokio::test]
async fn after_redis_restarts_the_bus_resubscribes_and_leases_work_again() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let redis = OwnRedis::start(port);
    let (url, p) = (redis.url(), prefix());
    let a = bus(&url, &p).await;
    let b = bus(&url, &p).await;
    let presence_a = presence(&url, &p).await;
    let mut inbox = b.subscribe("inbox:node-b").await.unwrap();
    a.publish("inbox:node-b", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(next(&mut inbox).await.as_deref(), Some(&b"before"[..]));

    // Redis dies: publishing fails plainly instead of hanging.
    let port = redis.kill();
    assert!(
        a.publish("inbox:node-b", Bytes::from_static(b"lost"))
            .await
            .is_err()
    );
    let redis = OwnRedis::start(port);

    // Back: within a bounded time, what is published reaches the old subscription.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut got = None;
    while tokio::time::Instant::now() < deadline && got.is_none() {
        if a.publish("inbox:node-b", Bytes::from_static(b"after"))
            .await
            .is_ok()
        {
            got = tokio::time::timeout(Duration::from_millis(300), inbox.next())
                .await
                .ok()
                .flatten();
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(
        got.as_deref(),
        Some(&b"after"[..]),
        "the subscription did not come back after Redis restarted"
    );
    let lease = presence_a
        .claim("r1", "node-a", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(lease.holder, "node-a");
    drop(redis);
}
