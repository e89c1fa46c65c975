//! Room id → handle of the rooms running on this node. Rooms are created on demand (the
//! first join after the meeting starts) and leave the registry by themselves when they
//! close. Which node a room belongs on is not decided here but by the router, which holds
//! the room's lease before it asks the registry to start it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Command, RoomConfig, RoomHandle, RoomHooks, spawn};

type OnClose = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Registry<H> {
    node: String,
    config: RoomConfig,
    hooks: Arc<H>,
    /// Called with the room id when a room closed and no newer room of that id replaced it.
    on_close: OnClose,
    rooms: Arc<Mutex<HashMap<String, RoomHandle>>>,
    /// Rooms run on the runtime that built the registry, not on whichever HTTP worker
    /// happened to take the first join: a worker's runtime stops with the worker.
    runtime: tokio::runtime::Handle,
}

impl<H: RoomHooks> Registry<H> {
    /// Must be called inside a tokio runtime; the rooms run on it.
    pub fn new(node: &str, config: RoomConfig, hooks: Arc<H>) -> Self {
        Self {
            runtime: tokio::runtime::Handle::current(),
            node: node.to_string(),
            config,
            hooks,
            on_close: Arc::new(|_| {}),
            rooms: Arc::default(),
        }
    }

    /// What to do when a room has closed for good (the router gives up its lease).
    #[must_use]
    pub fn on_close(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_close = Arc::new(f);
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The room of the meeting, started if it is not running.
    pub fn room(&self, meeting_id: &str) -> RoomHandle {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = rooms.get(meeting_id).filter(|h| !h.is_closed()) {
            return h.clone();
        }
        let (all, on_close, id) = (
            self.rooms.clone(),
            self.on_close.clone(),
            meeting_id.to_string(),
        );
        let handle = spawn(
            &self.runtime,
            meeting_id.to_string(),
            self.config.clone(),
            self.hooks.clone(),
            move || {
                let replaced = {
                    let mut rooms = all.lock().unwrap_or_else(PoisonError::into_inner);
                    if rooms.get(&id).is_some_and(RoomHandle::is_closed) {
                        rooms.remove(&id);
                        false
                    } else {
                        rooms.contains_key(&id)
                    }
                };
                if !replaced {
                    on_close(&id);
                }
            },
        );
        rooms.insert(meeting_id.to_string(), handle.clone());
        handle
    }

    /// The running room of the meeting, without starting one.
    pub fn get(&self, meeting_id: &str) -> Option<RoomHandle> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.get(meeting_id).filter(|h| !h.is_closed()).cloned()
    }

    /// The meeting ended elsewhere (over HTTP): its room closes.
    pub async fn end(&self, meeting_id: &str, reason: &str) {
        if let Some(h) = self.get(meeting_id) {
            h.send(Command::End {
                reason: reason.into(),
            })
            .await;
        }
    }

    /// Tells a running room that attendance changed outside it.
    pub async fn refresh(&self, meeting_id: &str) {
        if let Some(h) = self.get(meeting_id) {
            h.send(Command::Refresh).await;
        }
    }

    /// Passes an event (a vote opened or closed) to everyone in the meeting's room.
    pub async fn broadcast(&self, meeting_id: &str, msg: hongying_proto::signaling::ServerMsg) {
        if let Some(h) = self.get(meeting_id) {
            h.send(Command::Broadcast(msg)).await;
        }
    }

    /// The node stops: every room lets its participants go and closes their remote
    /// intervals at their last heartbeat; returns when every room has finished.
    pub async fn shutdown(&self, reason: &str) {
        let handles: Vec<RoomHandle> = {
            let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
            rooms.values().cloned().collect()
        };
        for h in &handles {
            h.send(Command::Shutdown {
                reason: reason.into(),
            })
            .await;
        }
        for h in handles {
            h.tx.closed().await;
        }
    }

    pub fn open_rooms(&self) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.values().filter(|h| !h.is_closed()).count()
    }
}
