//! Access tokens: EdDSA JWTs with a `kid`, issuer and audience checked, short-lived.
//!
//! Verification accepts exactly one algorithm (EdDSA) and only kids of our key set, so a
//! token with `alg: none`, an HMAC token signed with a public key, or one from an unknown
//! key is refused before its claims are read.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use super::keys::KeySet;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Account id.
    pub sub: String,
    /// Session family id: logout revokes the family, which ends its access tokens too.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct TokenService {
    keys: Arc<KeySet>,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenService {
    pub fn new(keys: KeySet, issuer: &str, audience: &str, access_ttl_secs: u64) -> Self {
        Self {
            keys: Arc::new(keys),
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl_secs: access_ttl_secs as i64,
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Signs an access token for an account's session; `now` is unix seconds.
    pub fn issue_access(
        &self,
        account_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<String, AppError> {
        let claims = AccessClaims {
            sub: account_id.into(),
            sid: session_id.into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.access_ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        self.sign(&claims)
    }

    /// Signs any claims with the active key (join tokens use their own audience).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, AppError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.active_kid().to_string());
        encode(&header, claims, self.keys.encoding())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("signing token: {e}")))
    }

    /// Verifies an access token against our keys, issuer and audience, at time `now`.
    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, AppError> {
        self.verify(token, &self.audience, now)
    }

    /// Verifies a token for `audience`. Expiry is checked against `now` (the service
    /// clock, so tests can move time) with no leeway.
    pub fn verify<T: serde::de::DeserializeOwned + HasExpiry>(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<T, AppError> {
        let header = decode_header(token).map_err(|_| AppError::Unauthenticated)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AppError::Unauthenticated);
        }
        let kid = header.kid.ok_or(AppError::Unauthenticated)?;
        let key = self.keys.decoding(&kid).ok_or(AppError::Unauthenticated)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the service clock instead.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = decode::<T>(token, key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AppError::TokenExpired,
            _ => AppError::Unauthenticated,
        })?;
        if data.claims.exp() <= now {
            return Err(AppError::TokenExpired);
        }
        Ok(data.claims)
    }
}

pub trait HasExpiry {
    fn exp(&self) -> i64;
}

impl HasExpiry for AccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn service(dir: &std::path::Path) -> TokenService {
        TokenService::new(
            KeySet::load(dir, true).unwrap(),
            "hongying",
            "hongying-api",
            900,
        )
    }

    fn tamper_header(token: &str, header: &str) -> String {
        let mut parts = token.split('.');
        let _ = parts.next();
        format!(
            "{}.{}.{}",
            B64.encode(header),
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    }

    #[test]
    fn issues_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path());
        let t = s.issue_access("acc", "sess", 1_000).unwrap();
        let c = s.verify_access(&t, 1_001).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str()), ("acc", "sess"));
        assert!(matches!(
            s.verify_access(&t, 1_900),
            Err(AppError::TokenExpired)
        ));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path());
        let t = s.issue_access("acc", "sess", 1_000).unwrap();
        let kid = s.keys().active_kid().to_string();
        // alg none
        let none = tamper_header(&t, &format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        let none = format!("{}.", none.rsplit_once('.').unwrap().0);
        assert!(s.verify_access(&none, 1_001).is_err());
        // HS256 header over the same payload
        let hs = tamper_header(
            &t,
            &format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"JWT"}}"#),
        );
        assert!(s.verify_access(&hs, 1_001).is_err());
        // unknown kid
        let unknown = tamper_header(&t, r#"{"alg":"EdDSA","kid":"nope","typ":"JWT"}"#);
        assert!(s.verify_access(&unknown, 1_001).is_err());
        // another deployment's key
        let other_dir = tempfile::tempdir().unwrap();
        let other = service(other_dir.path());
        let foreign = other.issue_access("acc", "sess", 1_000).unwrap();
        assert!(s.verify_access(&foreign, 1_001).is_err());
        // wrong audience
        let wrong_aud = s.verify::<AccessClaims>(&t, "other-aud", 1_001);
        assert!(wrong_aud.is_err());
        // garbage
        assert!(s.verify_access("a.b.c", 1_001).is_err());
    }
}
