//! HTTP plumbing shared by every route: extractors that turn bad input into problem+json,
//! and the middleware (request id, problem fallback, metrics, idempotency).

pub mod attachment;
pub mod extract;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

/// A response that carries a secret (an activation code, a join token, a session's
/// tokens): no cache may keep it, and the idempotency middleware never stores it, so a
/// retry with the same `Idempotency-Key` runs again instead of replaying the secret.
pub fn secret<T: serde::Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}
