//! Accounts and sessions: roster members' accounts and their activation, login with
//! phone and password, rotating refresh tokens, logout, password changes and the
//! first administrator.

pub mod activation;
pub mod admin;
mod provision;
pub mod revocation;
pub mod service;
pub mod session;

pub use provision::{Provisioned, normalized_phone, provision_member_account};

use crate::auth::principal::RequestMeta;
use crate::error::AppError;

/// Where a request came from: for the audit log and for the per-address rate limit.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub meta: RequestMeta,
    /// The rate-limit key of the client's address (see [`crate::http::rate_limit`]).
    pub rate_key: Option<String>,
}

/// Runs CPU-heavy work (password hashing) on the blocking pool, off the async workers.
pub(crate) async fn cpu<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    actix_web::web::block(f)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))
}
