//! A real WebSocket client for the `/ws` signaling socket (tokio-tungstenite), as a phone
//! app would drive it: envelopes with request ids, answers matched by id, events skipped
//! or awaited, close frames read with their code and reason.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestApp;
use crate::fixtures::Caller;

/// How long a test waits for a frame that should come.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

/// What arrives: a JSON frame, or the server's close frame.
#[derive(Debug)]
pub enum Incoming {
    Frame(Value),
    Closed(u16, String),
}

impl TestApp {
    /// Opens `/ws` as `who` (bearer header).
    pub async fn ws(&self, who: &Caller) -> WsClient {
        self.ws_with("/ws", Some(&who.bearer())).await
    }

    /// Opens `path` (with its query) and an optional `Authorization` header value.
    pub async fn ws_with(&self, path: &str, authorization: Option<&str>) -> WsClient {
        WsClient::connect(self.addr, path, authorization).await
    }
}

impl WsClient {
    /// Opens `path` on the node at `addr`.
    pub async fn connect(
        addr: std::net::SocketAddr,
        path: &str,
        authorization: Option<&str>,
    ) -> WsClient {
        let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
        if let Some(a) = authorization {
            req.headers_mut()
                .insert("authorization", a.parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        WsClient { stream, next_id: 0 }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.stream
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
    }

    /// Sends a request of `ty` with `data`; returns its id.
    pub async fn request(&mut self, ty: &str, data: Option<Value>) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let mut f = json!({"v": 1, "id": id, "type": ty});
        if let Some(d) = data {
            f["data"] = d;
        }
        self.send_text(&f.to_string()).await;
        id
    }

    /// The next frame or close, skipping WebSocket pings and pongs.
    pub async fn incoming(&mut self) -> Incoming {
        self.incoming_for(WAIT)
            .await
            .expect("nothing arrived in time")
    }

    /// The next frame or close within `wait`, or `None`.
    pub async fn incoming_for(&mut self, wait: Duration) -> Option<Incoming> {
        let deadline = tokio::time::Instant::now() + wait;
        Some(loop {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.stream.next()).await else {
                return None;
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    break Incoming::Frame(serde_json::from_str(&t).unwrap());
                }
                Some(Ok(Message::Close(c))) => {
                    let (code, reason) = c
                        .map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    break Incoming::Closed(code, reason);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Incoming::Closed(1006, e.to_string()),
                None => break Incoming::Closed(1006, "stream ended".into()),
            }
        })
    }

    /// The next frame; panics on a close.
    pub async fn next(&mut self) -> Value {
        match self.incoming().await {
            Incoming::Frame(v) => v,
            Incoming::Closed(code, reason) => panic!("socket closed: {code} {reason}"),
        }
    }

    /// The next frame of type `ty` for which `pred` holds, skipping others.
    pub async fn until(&mut self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = self.next().await;
            if f["type"] == ty && pred(&f["data"]) {
                return f;
            }
        }
    }

    /// The frame answering request `id`, skipping events.
    pub async fn answer(&mut self, id: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["id"] == id {
                return f;
            }
        }
    }

    /// Sends a request and returns its answer.
    pub async fn ask(&mut self, ty: &str, data: Option<Value>) -> Value {
        let id = self.request(ty, data).await;
        self.answer(&id).await
    }

    /// Asks and asserts an error frame with `code`; returns it.
    pub async fn ask_err(&mut self, ty: &str, data: Option<Value>, code: &str) -> Value {
        let f = self.ask(ty, data).await;
        assert_error(&f, code);
        f
    }

    /// Reads until the server closes; the close code and reason. Frames before it are
    /// returned too.
    pub async fn closed(&mut self) -> (u16, String, Vec<Value>) {
        let mut frames = Vec::new();
        loop {
            match self.incoming().await {
                Incoming::Frame(f) => frames.push(f),
                Incoming::Closed(code, reason) => return (code, reason, frames),
            }
        }
    }

    /// Joins with a join token; returns the `joined` data.
    pub async fn join(&mut self, join_token: &str) -> Value {
        let f = self
            .ask("join", Some(json!({"join_token": join_token})))
            .await;
        assert_eq!(f["type"], "joined", "{f}");
        f["data"].clone()
    }

    /// Sends a close frame and waits for the socket to end.
    pub async fn leave_socket(mut self) {
        let _ = self.stream.close(None).await;
        while let Ok(Some(_)) = tokio::time::timeout(WAIT, self.stream.next()).await {}
    }

    /// Drops the connection without a close frame, as a phone losing its network does.
    pub fn cut(self) {
        drop(self);
    }
}

/// Asserts `f` is an error frame with `code` and a Chinese message.
pub fn assert_error(f: &Value, code: &str) {
    assert_eq!(f["type"], "error", "{f}");
    assert_eq!(f["data"]["code"], code, "{f}");
    let msg = f["data"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "message should be Chinese: {msg}"
    );
}
