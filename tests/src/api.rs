//! JSON calls as a signed-in caller that assert the status and hand back the body: the
//! wrappers every story wrote for itself.

use reqwest::Method;
use serde_json::Value;

use crate::fixtures::Caller;
use crate::{TestApp, call, ok_json};

/// `GET path` as `who`: asserts 200 and returns the JSON body.
pub async fn get(app: &TestApp, who: &Caller, path: &str) -> Value {
    ok_json(call(app, who, Method::GET, path, None).await, 200).await
}

/// `POST path` with a JSON `body` as `who`: asserts `status` and returns the JSON body.
pub async fn post(app: &TestApp, who: &Caller, path: &str, body: Value, status: u16) -> Value {
    ok_json(call(app, who, Method::POST, path, Some(body)).await, status).await
}

/// `POST path` with no body at all (the action endpoints: schedule, start, join-token…)
/// as `who`: asserts `status` and returns the JSON body.
pub async fn post_empty(app: &TestApp, who: &Caller, path: &str, status: u16) -> Value {
    ok_json(call(app, who, Method::POST, path, None).await, status).await
}
