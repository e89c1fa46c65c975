//! The cluster seam. A room lives on one node at a time; [`Presence`] says which, and
//! [`Bus`] carries messages between nodes. Both are chosen once at start-up: the
//! in-process implementations here serve a single node, and nothing in the room code
//! assumes that the room is local to the socket that talks to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

/// Which node holds a room.
pub trait Presence: Send + Sync + 'static {
    /// Claims `room` for `node` unless another node holds it; returns the holder.
    fn claim(&self, room: &str, node: &str) -> String;
    /// The node holding `room`, if any.
    fn holder(&self, room: &str) -> Option<String>;
    /// Gives `room` up (it closed), if `node` holds it.
    fn release(&self, room: &str, node: &str);
}

/// Publish/subscribe between nodes, by topic.
pub trait Bus: Send + Sync + 'static {
    fn publish(&self, topic: &str, payload: Vec<u8>);
    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Vec<u8>>;
}

/// One node: presence is a map in memory.
#[derive(Debug, Default, Clone)]
pub struct LocalPresence {
    rooms: Arc<Mutex<HashMap<String, String>>>,
}

impl Presence for LocalPresence {
    fn claim(&self, room: &str, node: &str) -> String {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms
            .entry(room.to_string())
            .or_insert_with(|| node.to_string())
            .clone()
    }

    fn holder(&self, room: &str) -> Option<String> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.get(room).cloned()
    }

    fn release(&self, room: &str, node: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.get(room).map(String::as_str) == Some(node) {
            rooms.remove(room);
        }
    }
}

/// One node: the bus is a broadcast channel per topic.
#[derive(Debug, Default, Clone)]
pub struct LocalBus {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
}

impl LocalBus {
    fn sender(&self, topic: &str) -> broadcast::Sender<Vec<u8>> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics
            .entry(topic.to_string())
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    }
}

impl Bus for LocalBus {
    fn publish(&self, topic: &str, payload: Vec<u8>) {
        // No subscriber is not an error: nobody on this node listens to that topic.
        let _ = self.sender(topic).send(payload);
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Vec<u8>> {
        self.sender(topic).subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_room_has_one_holder_until_released() {
        let p = LocalPresence::default();
        assert_eq!(p.claim("m1", "a"), "a");
        assert_eq!(p.claim("m1", "b"), "a");
        p.release("m1", "b");
        assert_eq!(p.holder("m1").as_deref(), Some("a"));
        p.release("m1", "a");
        assert_eq!(p.holder("m1"), None);
    }

    #[tokio::test]
    async fn the_bus_delivers_to_subscribers_of_the_topic() {
        let bus = LocalBus::default();
        let mut rx = bus.subscribe("room:1");
        bus.publish("room:2", b"other".to_vec());
        bus.publish("room:1", b"hello".to_vec());
        assert_eq!(rx.recv().await.unwrap(), b"hello");
    }
}
