//! Test harness: the real server, in-process on port 0, with a fresh database.
//!
//! SQLite by default (a temp file). With `TEST_DATABASE_URL=postgres://…` each app gets a
//! new database `test_<uuid>`, dropped when the app is dropped. A test never depends on
//! what another left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod cluster;
pub mod fixtures;
pub mod media_client;
pub mod meeting_room;
pub mod ws;

use std::net::SocketAddr;

use diesel::{Connection, RunQueryDsl};
use hongying_server::app::Running;
use hongying_server::config::{Config, Secret};
use hongying_server::state::AppState;
use hongying_signaling::cluster::Cluster;

pub use reqwest;
pub use serde_json::{Value, json};

/// Which backend a test run targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// A fresh, empty database for one test: its URL and what removes it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required by TEST_DATABASE_URL but not reachable at {admin}: {e}"
                    )
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = dir.path().join("test.db").to_string_lossy().to_string();
                Self {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
        }
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Configuration for a test node: loopback, port 0, one worker, fresh data dir.
pub fn test_config(db_url: &str, data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.http.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http.workers = 1;
    config.metrics.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = Secret::new(db_url);
    config.database.pool_size = 4;
    config.shutdown.deadline_ms = 2_000;
    config.data_dir = data_dir.to_path_buf();
    // Signaling tests count a member from his join; the media tests turn media on (on
    // loopback only) to count him by his media.
    config.media.enabled = false;
    config.media.loopback_only = true;
    config.media.ice_addresses = vec![std::net::Ipv4Addr::LOCALHOST.into()];
    config
}

/// The instant every test server starts at (10:00 in Beijing on a Saturday late in a
/// year), whatever the day the suite runs: a test that moves the clock a month stays in
/// the same year and quarter, so letter serials and compliance periods do not depend on
/// the calendar.
pub fn test_start() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .unwrap()
}

/// Starts a node whose clock reads `at`: [`test_start`] for a new test server, or another
/// node's `clock.now()` when it joins the same database.
pub async fn start_node(config: Config, at: chrono::NaiveDateTime) -> Running {
    start_node_in(config, at, Cluster::local()).await
}

/// [`start_node`] as a node of `cluster`: nodes started on clones of one [`Cluster`] find
/// and reach each other's rooms.
pub async fn start_node_in(config: Config, at: chrono::NaiveDateTime, cluster: Cluster) -> Running {
    let clock = hongying_server::state::Clock::starting_at(at);
    hongying_server::app::start_with(config, clock, cluster)
        .await
        .unwrap()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub state: AppState,
    running: Option<Running>,
    _data: tempfile::TempDir,
    // Dropped last: the database outlives the server that uses it.
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a configuration tweak applied on top of the test defaults.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_in(tweak, Cluster::local()).await
    }

    /// [`Self::spawn_with`] as a node of `cluster` (see [`cluster::TestCluster`]).
    pub async fn spawn_in(tweak: impl FnOnce(&mut Config), cluster: Cluster) -> Self {
        let db = TestDb::new();
        let data = tempfile::tempdir().unwrap();
        let mut config = test_config(&db.url, data.path());
        tweak(&mut config);
        let running = start_node_in(config, test_start(), cluster).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            addr: running.addr,
            metrics_addr: running.metrics_addr,
            state: running.state.clone(),
            client,
            running: Some(running),
            _data: data,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Graceful shutdown (tests that check draining call this).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Reads a problem+json response, asserting the content type, status and code.
pub async fn expect_problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "problem {body}");
    assert_eq!(body["status"], status);
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "detail should be Chinese: {detail}"
    );
    body
}

/// Sends `method path` as `who`, with an optional JSON body.
pub async fn call(
    app: &TestApp,
    who: &fixtures::Caller,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut rb = app
        .client
        .request(method, app.url(path))
        .header("authorization", who.bearer());
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

/// Asserts the status (showing the body when it differs) and returns the JSON body.
pub async fn ok_json(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(got, status, "unexpected answer {body}");
    body
}
