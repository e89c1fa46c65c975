//! A real WebRTC participant driven over the `/ws` socket, as a phone app would: its peer
//! connection (the `webrtc` crate, loopback only) negotiates with the server's SFU through
//! `offer`/`answer`/`candidate` frames, while the test reads the other frames.

use std::sync::Arc;

use hongying_proto::signaling::{IceCandidate, IceServer};
use hongying_signaling::media::sdp;
use hongying_signaling::media::testing::{PeerOptions, Proxy, TestPeer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ws::{Incoming, WsClient};

/// How a [`MediaClient`] connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Use the join answer's `ice_servers` with ICE transport policy `relay`: the client
    /// gathers only TURN relay candidates, so its media can reach the SFU only through TURN.
    pub relay_only: bool,
}

pub struct MediaClient {
    pub peer: Arc<TestPeer>,
    pub participant_id: String,
    frames: mpsc::UnboundedReceiver<Value>,
    send: mpsc::UnboundedSender<(String, Value)>,
    /// `None` drops the socket, `Some` takes a new one (the peer connection stays).
    socket: mpsc::UnboundedSender<Option<WsClient>>,
}

impl MediaClient {
    /// Takes over a joined socket: creates the peer connection, publishes (when `publish`)
    /// with the first offer, and relays negotiation in the background.
    pub async fn start(ws: WsClient, joined: &Value, publish: bool) -> MediaClient {
        Self::start_inner(ws, joined, publish, Options::default(), None).await
    }

    /// As [`MediaClient::start`], connecting as `options` says.
    pub async fn start_with(
        ws: WsClient,
        joined: &Value,
        publish: bool,
        options: Options,
    ) -> MediaClient {
        Self::start_inner(ws, joined, publish, options, None).await
    }

    /// As [`MediaClient::start`], with the peer connection's UDP relayed by `proxy`: the
    /// server's candidates are rewritten to the proxy's port and the client's own are kept
    /// back, so the SFU sees the client at the proxy's address (peer-reflexive) — which
    /// [`Proxy::rebind`] changes as a phone changing network does, and [`Proxy::impair`]
    /// degrades.
    pub async fn start_via(
        ws: WsClient,
        joined: &Value,
        publish: bool,
        proxy: Arc<Proxy>,
    ) -> MediaClient {
        Self::start_inner(ws, joined, publish, Options::default(), Some(proxy)).await
    }

    async fn start_inner(
        ws: WsClient,
        joined: &Value,
        publish: bool,
        options: Options,
        proxy: Option<Arc<Proxy>>,
    ) -> MediaClient {
        let mut ws = Some(ws);
        let peer = if options.relay_only {
            let ice_servers: Vec<IceServer> = serde_json::from_value(joined["ice_servers"].clone())
                .expect("the join answer's ice_servers");
            TestPeer::with_options(
                publish,
                PeerOptions {
                    ice_servers,
                    relay_only: true,
                    ..PeerOptions::default()
                },
            )
            .await
            .unwrap()
        } else {
            TestPeer::new(publish).await.unwrap()
        };
        let participant_id = joined["participant_id"].as_str().unwrap().to_string();
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let (send, mut send_rx) = mpsc::unbounded_channel::<(String, Value)>();
        let (socket, mut socket_rx) = mpsc::unbounded_channel::<Option<WsClient>>();
        let mut candidates = peer.take_candidates().unwrap();
        if publish {
            let offer = hide(&proxy, peer.create_offer(false).await.unwrap());
            if let Some(ws) = ws.as_mut() {
                ws.request("offer", Some(json!({"sdp": offer}))).await;
            }
        }
        let p = peer.clone();
        tokio::spawn(async move {
            let mut next_socket = None;
            loop {
                if let Some(next) = next_socket.take() {
                    // The old one is dropped without a close frame, as a phone losing its
                    // network does.
                    ws = next;
                }
                // Without a socket (the phone lost its network) only a new one is awaited;
                // the peer connection and its media go on meanwhile.
                let Some(sock) = ws.as_mut() else {
                    match socket_rx.recv().await {
                        Some(next) => ws = next,
                        None => return,
                    }
                    continue;
                };
                tokio::select! {
                    incoming = sock.incoming_for(std::time::Duration::from_secs(3600)) => {
                        let Some(Incoming::Frame(f)) = incoming else {
                            // Closed: wait for another socket.
                            next_socket = Some(None);
                            continue;
                        };
                        match f["type"].as_str() {
                            // The answer to our offer.
                            Some("answer") => {
                                let sdp = show(&proxy, f["data"]["sdp"].as_str().unwrap_or_default());
                                let _ = p.apply_answer(sdp).await;
                            }
                            // The server renegotiates.
                            Some("offer") => {
                                let sdp = show(&proxy, f["data"]["sdp"].as_str().unwrap_or_default());
                                if let Ok(answer) = p.apply_offer(sdp).await {
                                    sock.request("answer", Some(json!({"sdp": hide(&proxy, answer)}))).await;
                                }
                            }
                            Some("candidate") => {
                                if let Ok(mut c) = serde_json::from_value::<IceCandidate>(f["data"].clone()) {
                                    if let Some(px) = &proxy {
                                        c.candidate = px.rewrite_candidate(&c.candidate);
                                    }
                                    let _ = p.add_candidate(c).await;
                                }
                            }
                            _ => {
                                let _ = frames_tx.send(f);
                            }
                        }
                    }
                    Some(c) = candidates.recv() => {
                        if proxy.is_none() {
                            sock.request("candidate", Some(serde_json::to_value(c).unwrap())).await;
                        }
                    }
                    Some((ty, data)) = send_rx.recv() => {
                        // `null`: a message without data (`leave`, `restart_ice`).
                        sock.request(&ty, (!data.is_null()).then_some(data)).await;
                    }
                    Some(next) = socket_rx.recv() => next_socket = Some(next),
                }
            }
        });
        MediaClient {
            peer,
            participant_id,
            frames,
            send,
            socket,
        }
    }

    /// Sends a request (its answer arrives among the frames); `Value::Null` data is left out.
    pub fn request(&self, ty: &str, data: Value) {
        let _ = self.send.send((ty.to_string(), data));
    }

    /// Drops the signaling socket without a close frame (the phone lost its network); the
    /// peer connection stays. Requests wait for [`MediaClient::attach`].
    pub fn cut_socket(&self) {
        let _ = self.socket.send(None);
    }

    /// Carries on over `ws`, a socket that has joined again (resumed) as this participant.
    pub fn attach(&self, ws: WsClient) {
        let _ = self.socket.send(Some(ws));
    }

    /// The next frame of type `ty` satisfying `pred`, within `wait` in all.
    pub async fn until_within(
        &mut self,
        wait: std::time::Duration,
        ty: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let f = tokio::time::timeout_at(deadline, self.frames.recv())
                .await
                .unwrap_or_else(|_| panic!("no {ty} frame within {wait:?}"))
                .expect("socket gone");
            if f["type"] == ty && pred(&f["data"]) {
                return f;
            }
        }
    }

    /// The next frame of type `ty` satisfying `pred`.
    pub async fn until(&mut self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = tokio::time::timeout(crate::ws::WAIT, self.frames.recv())
                .await
                .expect("no frame in time")
                .expect("socket gone");
            if f["type"] == ty && pred(&f["data"]) {
                return f;
            }
        }
    }
}

/// Through a proxy the SFU must learn the client's address from the checks alone: the
/// client's descriptions go without candidates.
fn hide(proxy: &Option<Arc<Proxy>>, sdp: String) -> String {
    match proxy {
        Some(_) => sdp::filter_candidates(&sdp, |_| false),
        None => sdp,
    }
}

/// The server's description as the client behind a proxy must see it: the proxy's port.
fn show(proxy: &Option<Arc<Proxy>>, sdp: &str) -> String {
    match proxy {
        Some(p) => p.rewrite_sdp(sdp),
        None => sdp.to_string(),
    }
}

/// Waits up to `wait` for `f` to hold, looking every 100 ms; fails naming `what`.
pub async fn eventually(what: &str, wait: std::time::Duration, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(f(), "not within {wait:?}: {what}");
}

/// Switches the peer's audio and video on and starts its synthetic sender.
pub fn send_everything(p: &Arc<TestPeer>) {
    use std::sync::atomic::Ordering;
    p.sending.audio.store(true, Ordering::Relaxed);
    p.sending.video.store(true, Ordering::Relaxed);
    p.start_sending();
}
