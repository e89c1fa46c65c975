//! Several nodes in one process: the first is a [`TestApp`] (it owns the database and the
//! data directory with the keys); the others share its database, keys and the same
//! in-process presence and bus, on ports of their own, as nodes sharing one PostgreSQL and
//! one Redis do. A scenario written against node addresses runs on one node or across
//! nodes unchanged.

use std::net::SocketAddr;

use hongying_server::app::Running;
use hongying_server::config::Config;
use hongying_server::state::AppState;
use hongying_signaling::cluster::Cluster;

use crate::{TestApp, start_node_in};

/// A node besides the first.
pub struct TestNode {
    pub addr: SocketAddr,
    pub state: AppState,
    _running: Running,
}

pub struct TestCluster {
    /// Nodes after the first; declared first, so that they go before the database does.
    pub peers: Vec<TestNode>,
    /// The first node.
    pub app: TestApp,
}

impl TestCluster {
    /// One node: the single-node case of the same scenarios.
    pub async fn single(tweak: impl FnOnce(&mut Config)) -> Self {
        Self {
            peers: Vec::new(),
            app: TestApp::spawn_with(tweak).await,
        }
    }

    /// `nodes` nodes (`node-0`, `node-1`, …) on one database and one in-process cluster.
    pub async fn spawn_with(nodes: usize, tweak: impl FnOnce(&mut Config)) -> Self {
        let cluster = Cluster::local();
        let app = TestApp::spawn_in(
            |c| {
                tweak(c);
                c.signaling.node_id = Some("node-0".into());
            },
            cluster.clone(),
        )
        .await;
        let mut peers = Vec::new();
        for i in 1..nodes {
            let mut config = (*app.state.config).clone();
            config.signaling.node_id = Some(format!("node-{i}"));
            let running = start_node_in(config, app.state.clock.now(), cluster.clone()).await;
            peers.push(TestNode {
                addr: running.addr,
                state: running.state.clone(),
                _running: running,
            });
        }
        Self { peers, app }
    }

    /// The address of node `i` (0 is the first).
    pub fn addr(&self, i: usize) -> SocketAddr {
        match i {
            0 => self.app.addr,
            i => self.peers[i - 1].addr,
        }
    }

    /// The state of node `i`.
    pub fn state(&self, i: usize) -> &AppState {
        match i {
            0 => &self.app.state,
            i => &self.peers[i - 1].state,
        }
    }
}
