//! The meeting page (`/meet`, server/web/) in headless Chromium from Debian's `chromium`
//! package, driven through chromedriver (WebDriver over plain HTTP): two members join the same
//! meeting from two browsers with fake camera and microphone, each page decodes the other's
//! video and receives his audio, and the host sees both counted in the quorum by their media.
//!
//! Network: the server gathers and accepts ICE candidates on 127.0.0.1 only, and offers no
//! STUN/TURN, so every check and every packet stays on loopback; Chromium is kept off the
//! network (no background networking, component updates, sync, mDNS host names).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hongying_tests::meeting_room::room_with;
use hongying_tests::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the pages get to connect and decode media (the whole test stays well below).
const MEDIA_WAIT: Duration = Duration::from_secs(45);

/// chromedriver started by the test on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    http: hongying_tests::reqwest::Client,
}

/// One browser (a WebDriver session); the session (and its Chromium) ends on drop.
struct Browser {
    addr: SocketAddr,
    http: hongying_tests::reqwest::Client,
    session: String,
    /// Its profile directory, removed after the session ended.
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser test needs Debian's `chromium` and \
                 `chromium-driver` packages (.ci/run installs them: apt-get install chromium chromium-driver)"
            );
        }
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver did not start");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let http = hongying_tests::reqwest::Client::new();
        let driver = Driver { child, addr, http };
        for _ in 0..100 {
            if let Ok(r) = driver
                .http
                .get(format!("http://{addr}/status"))
                .send()
                .await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready on {addr}");
    }

    async fn browser(&self) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
            // Off the network: nothing but the test server on loopback.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-pings",
            "--disable-features=WebRtcHideLocalIpsWithMdns,OptimizationHints,MediaRouter,Translate",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let r: Value = self
            .http
            .post(format!("http://{}/session", self.addr))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused a session: {r}"))
            .to_string();
        Browser {
            addr: self.addr,
            http: self.http.clone(),
            session,
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r: Value = self
            .http
            .post(format!(
                "http://{}/session/{}{path}",
                self.addr, self.session
            ))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            r["value"]["error"].is_null(),
            "WebDriver {path} failed: {r}"
        );
        r["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// The page's `window.hongying` state with its `getStats()` summary.
    async fn state(&self) -> Value {
        let script = r#"
            const done = arguments[arguments.length - 1];
            const h = window.hongying;
            if (!h) { done(null); return; }
            const base = {joined: h.joined, participantId: h.participantId, errors: h.errors,
                          participants: h.participants, closed: h.closed};
            h.stats().then((s) => done(Object.assign(base, {stats: s})),
                           (e) => done(Object.assign(base, {statsError: String(e)})));
        "#;
        self.post("/execute/async", json!({"script": script, "args": []}))
            .await
    }
}

impl Drop for Browser {
    /// Ends the session (and its Chromium) even when the test panicked: a blocking
    /// `DELETE /session/{id}` on a plain socket.
    fn drop(&mut self) {
        if let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.addr
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
    }
}

/// Video decoded from someone and audio received from someone, per the page's stats.
fn media_flows(s: &Value) -> bool {
    let video = s["stats"]["video"]
        .as_array()
        .is_some_and(|v| v.iter().any(|t| t["framesDecoded"].as_u64() > Some(0)));
    let audio = s["stats"]["audio"].as_array().is_some_and(|a| {
        a.iter()
            .any(|t| t["totalSamplesReceived"].as_u64() > Some(0))
    });
    video && audio
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_in_chromium_see_and_hear_each_other_and_count_toward_quorum_by_their_media() {
    let driver = Driver::start().await;
    let r = room_with(2, true, |c| {
        c.media.enabled = true;
        c.media.loopback_only = true;
        c.media.ice_addresses = vec![std::net::Ipv4Addr::LOCALHOST.into()];
        c.meetings.remote_requires_media = true;
        // The host's socket is read only at the end.
        c.signaling.heartbeat_timeout_ms = 120_000;
    })
    .await;

    // The host watches the quorum over his own socket.
    let (mut host, joined) = r.host().await;
    assert_eq!(
        joined["room"]["participants"][0]["role"], "host",
        "{joined}"
    );

    // The page itself is served, with its script, from the binary.
    let page = r.app.get("/meet").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/meet/meeting.js"));
    assert_eq!(r.app.get("/meet/meeting.js").await.status(), 200);

    let mut pages = Vec::new();
    for (_, who) in &r.members {
        let b = driver.browser().await;
        let url = r.app.url(&format!(
            "/meet#access_token={}&join_token={}",
            who.token,
            r.token(who).await
        ));
        b.open(&url).await;
        pages.push(b);
    }

    // Each page decodes the other's video and receives his audio, and lists both members
    // with their presence proven by media.
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    let mut last = Vec::new();
    loop {
        last.clear();
        for p in &pages {
            last.push(p.state().await);
        }
        let proven = |s: &Value| {
            s["participants"]
                .as_object()
                .is_some_and(|ps| ps.values().filter(|p| p["media_proven"] == true).count() == 2)
        };
        if last.iter().all(|s| media_flows(s) && proven(s)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "media did not flow between the pages: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for s in &last {
        assert_eq!(s["joined"], true, "{s}");
        assert!(s["errors"].as_array().unwrap().is_empty(), "{s}");
    }
    let (a, b) = (
        last[0]["participantId"].as_str().unwrap(),
        last[1]["participantId"].as_str().unwrap(),
    );
    assert_ne!(a, b);

    // The host sees both counted toward quorum by their media.
    let q = host
        .until("quorum_update", |d| d["present_remote"] == 2)
        .await;
    assert_eq!(q["data"]["expected"], 2, "{q}");
    assert_eq!(q["data"]["present_voting"], 2, "{q}");
    assert_eq!(q["data"]["quorate"], true, "{q}");
}
