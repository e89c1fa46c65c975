//! Sessions: a family of rotating refresh tokens, and the access tokens signed for it.
//!
//! Refresh tokens are 32 random bytes (base64url) handed out once; the database keeps
//! their SHA-256 only. A plain hash is enough for a 256-bit random secret (nothing to
//! brute-force), and it lets a token be found by an indexed equality lookup.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::NaiveDateTime;
use hongying_proto::auth::TokenPair;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::tokens::TokenService;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::store::sessions;

/// SHA-256 (hex) of a high-entropy secret: refresh tokens and activation codes.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// A refresh token just written, with the session it belongs to.
#[derive(Debug, Clone)]
pub struct Issued {
    pub account_id: String,
    pub family_id: String,
    pub refresh_token: String,
}

/// Opens a new session (a new family) for an account on a device.
pub fn open(
    conn: &mut AnyConnection,
    account_id: &str,
    device_id: &str,
    refresh_ttl_secs: u64,
    now: NaiveDateTime,
) -> Result<Issued, AppError> {
    let family_id = crate::db::new_id();
    add_token(
        conn,
        account_id,
        &family_id,
        device_id,
        refresh_ttl_secs,
        now,
    )
}

/// Writes a new refresh token into a family. Each token lives `refresh_ttl_secs` from
/// its own issue, so a session in use keeps going and an idle one lapses.
pub fn add_token(
    conn: &mut AnyConnection,
    account_id: &str,
    family_id: &str,
    device_id: &str,
    refresh_ttl_secs: u64,
    now: NaiveDateTime,
) -> Result<Issued, AppError> {
    let token = new_refresh_token();
    let expires_at = now + chrono::Duration::seconds(refresh_ttl_secs as i64);
    sessions::insert(
        conn,
        &crate::db::new_id(),
        account_id,
        family_id,
        &secret_hash(&token),
        device_id,
        expires_at,
        now,
    )?;
    Ok(Issued {
        account_id: account_id.to_string(),
        family_id: family_id.to_string(),
        refresh_token: token,
    })
}

/// The answer for a session: a fresh access token for it and its newest refresh token.
pub fn token_pair(
    tokens: &TokenService,
    issued: Issued,
    now: NaiveDateTime,
) -> Result<TokenPair, AppError> {
    let access_token = tokens.issue_access(
        &issued.account_id,
        &issued.family_id,
        now.and_utc().timestamp(),
    )?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: tokens.access_ttl_secs(),
        refresh_token: issued.refresh_token,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn refresh_tokens_are_32_random_bytes() {
        let a = new_refresh_token();
        assert_eq!(B64.decode(&a).unwrap().len(), 32);
        assert_ne!(a, new_refresh_token());
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), a);
    }
}
