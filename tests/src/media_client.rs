//! A real WebRTC participant driven over the `/ws` socket, as a phone app would: its peer
//! connection (the `webrtc` crate, loopback only) negotiates with the server's SFU through
//! `offer`/`answer`/`candidate` frames, while the test reads the other frames.

use std::sync::Arc;

use hongying_proto::signaling::IceServer;
use hongying_signaling::media::testing::{PeerOptions, TestPeer};
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
}

impl MediaClient {
    /// Takes over a joined socket: creates the peer connection, publishes (when `publish`)
    /// with the first offer, and relays negotiation in the background.
    pub async fn start(ws: WsClient, joined: &Value, publish: bool) -> MediaClient {
        Self::start_with(ws, joined, publish, Options::default()).await
    }

    /// As [`MediaClient::start`], connecting as `options` says.
    pub async fn start_with(
        mut ws: WsClient,
        joined: &Value,
        publish: bool,
        options: Options,
    ) -> MediaClient {
        let peer = if options.relay_only {
            let ice_servers: Vec<IceServer> = serde_json::from_value(joined["ice_servers"].clone())
                .expect("the join answer's ice_servers");
            TestPeer::with_options(
                publish,
                PeerOptions {
                    ice_servers,
                    relay_only: true,
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
        let mut candidates = peer.take_candidates().unwrap();
        if publish {
            let offer = peer.create_offer(false).await.unwrap();
            ws.request("offer", Some(json!({"sdp": offer}))).await;
        }
        let p = peer.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    incoming = ws.incoming_for(std::time::Duration::from_secs(3600)) => {
                        let f = match incoming {
                            Some(Incoming::Frame(f)) => f,
                            _ => return,
                        };
                        match f["type"].as_str() {
                            // The answer to our offer.
                            Some("answer") => {
                                let sdp = f["data"]["sdp"].as_str().unwrap_or_default().to_string();
                                let _ = p.apply_answer(sdp).await;
                            }
                            // The server renegotiates.
                            Some("offer") => {
                                let sdp = f["data"]["sdp"].as_str().unwrap_or_default().to_string();
                                if let Ok(answer) = p.apply_offer(sdp).await {
                                    ws.request("answer", Some(json!({"sdp": answer}))).await;
                                }
                            }
                            Some("candidate") => {
                                if let Ok(c) = serde_json::from_value(f["data"].clone()) {
                                    let _ = p.add_candidate(c).await;
                                }
                            }
                            _ => {
                                let _ = frames_tx.send(f);
                            }
                        }
                    }
                    Some(c) = candidates.recv() => {
                        ws.request("candidate", Some(serde_json::to_value(c).unwrap())).await;
                    }
                    Some((ty, data)) = send_rx.recv() => {
                        ws.request(&ty, (!data.is_null()).then_some(data)).await;
                    }
                }
            }
        });
        MediaClient {
            peer,
            participant_id,
            frames,
            send,
        }
    }

    /// Sends a request (its answer arrives among the frames); `Value::Null` sends none.
    pub fn request(&self, ty: &str, data: Value) {
        let _ = self.send.send((ty.to_string(), data));
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
