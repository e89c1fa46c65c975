//! HTTP plumbing shared by every route: extractors that turn bad input into problem+json,
//! and the middleware (request id, problem fallback, metrics, idempotency).

pub mod attachment;
pub mod extract;
pub mod fallback;
pub mod idempotency;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
