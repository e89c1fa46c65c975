//! A started (or scheduled) congress of one branch, with its secretary and members, for
//! the socket and media tests: each gets a fresh app (or cluster of nodes) and room, and
//! reads attendance intervals straight from the table.

use diesel::prelude::*;
use hongying_proto::orgs::{OrgDomain, OrgKind};
use hongying_server::auth::Role;
use hongying_server::config::Config;
use hongying_server::db::schema::attendance_intervals as ai;
use serde_json::{Value, json};

use crate::TestApp;
use crate::api::{post, post_empty};
use crate::cluster::{TestCluster, TestNode};
use crate::fixtures::Caller;
use crate::ws::WsClient;

/// (opened_at, closed_at, close_reason) of an attendance interval.
pub type Interval = (
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<String>,
);

pub struct Room {
    /// The other nodes of a cluster (none on one node); the meeting starts on `app`.
    pub peers: Vec<TestNode>,
    pub app: TestApp,
    pub branch: String,
    pub secretary: Caller,
    /// (member id, caller) of each member of the branch.
    pub members: Vec<(String, Caller)>,
    pub meeting: String,
}

fn congress() -> Value {
    json!({
        "kind": "congress",
        "title": "马街村党总支第四季度党员大会",
        "agenda": [{"title": "讨论村务"}],
        "scheduled_start": "2026-12-01T02:00:00Z",
        "scheduled_end": "2026-12-01T04:00:00Z",
        "place": "村委会议室",
        "mode": "hybrid"
    })
}

/// A branch of `n` members and its secretary; a congress scheduled, and started unless
/// `start` is false.
pub async fn room_with(n: usize, start: bool, tweak: impl FnOnce(&mut Config)) -> Room {
    room_in(TestCluster::single(tweak).await, n, start).await
}

/// [`room_with`] on the nodes of `cluster`; the meeting is made and started on the first.
pub async fn room_in(cluster: TestCluster, n: usize, start: bool) -> Room {
    let TestCluster { peers, app } = cluster;
    let tree = app.seed_city_tree().await;
    let branch = app
        .create_org(
            Some(&tree.town_a1),
            OrgKind::Branch,
            OrgDomain::Rural,
            "马街村党总支",
        )
        .await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(branch.as_str()))], None)
        .await;
    let mut members = Vec::new();
    for i in 0..n {
        let id = app
            .seed_member_row(&branch, None, &format!("马街党员{i:02}"))
            .await;
        let c = app
            .caller(&[(Role::Member, Some(branch.as_str()))], Some(&id))
            .await;
        members.push((id, c));
    }
    let m = post(
        &app,
        &secretary,
        &format!("/api/v1/orgs/{branch}/meetings"),
        congress(),
        201,
    )
    .await;
    let meeting = m["id"].as_str().unwrap().to_string();
    post_empty(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/schedule"),
        200,
    )
    .await;
    if start {
        post_empty(
            &app,
            &secretary,
            &format!("/api/v1/meetings/{meeting}/start"),
            200,
        )
        .await;
    }
    Room {
        peers,
        app,
        branch,
        secretary,
        members,
        meeting,
    }
}

impl Room {
    pub async fn token(&self, who: &Caller) -> String {
        let t = post_empty(
            &self.app,
            who,
            &format!("/api/v1/meetings/{}/join-token", self.meeting),
            200,
        )
        .await;
        t["token"].as_str().unwrap().to_string()
    }

    /// A socket of `who`, joined; with the `joined` data.
    pub async fn enter(&self, who: &Caller) -> (WsClient, Value) {
        self.enter_at(self.app.addr, who).await
    }

    /// A socket of `who` on the node at `node`, joined; with the `joined` data.
    pub async fn enter_at(&self, node: std::net::SocketAddr, who: &Caller) -> (WsClient, Value) {
        let token = self.token(who).await;
        let mut ws = WsClient::connect(node, "/ws", Some(&who.bearer())).await;
        let joined = ws.join(&token).await;
        (ws, joined)
    }

    pub async fn host(&self) -> (WsClient, Value) {
        self.enter(&self.secretary).await
    }

    /// (opened_at, closed_at, close_reason) of the member's intervals, oldest first.
    pub async fn intervals(&self, member: &str) -> Vec<Interval> {
        let (state, meeting, member) = (
            self.app.state.clone(),
            self.meeting.clone(),
            member.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            ai::table
                .filter(ai::meeting_id.eq(&meeting))
                .filter(ai::member_id.eq(&member))
                .order(ai::opened_at.asc())
                .select((ai::opened_at, ai::closed_at, ai::close_reason))
                .load(&mut *conn)
                .unwrap()
        })
        .await
        .unwrap()
    }
}
