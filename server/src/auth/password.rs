//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! OWASP baseline), PHC strings with a fresh salt per hash.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose: callers in async
//! code run them on the blocking pool. Verification compares in constant time (the
//! `password-hash` crate's output comparison), and logins for unknown accounts verify
//! against [`dummy_hash`] so they cost the same as a wrong password.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hongying_proto::FieldError;
use rand::RngCore;

use crate::error::AppError;

/// Fewer characters than this are refused.
pub const MIN_LEN: usize = 8;
/// More characters than this are refused: nobody types them, and hashing megabytes
/// would be a cheap way to burn our CPU.
pub const MAX_LEN: usize = 128;

/// Checks the length rules; `field` names the body field in the validation error.
pub fn validate(field: &str, password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    let message = if n < MIN_LEN {
        format!("密码至少 {MIN_LEN} 个字符。")
    } else if n > MAX_LEN {
        format!("密码最多 {MAX_LEN} 个字符。")
    } else {
        return Ok(());
    };
    Err(AppError::Validation(vec![FieldError {
        field: field.into(),
        code: "length".into(),
        message,
    }]))
}

/// Hashes a new password (refusing one that breaks the length rules) into a PHC string.
pub fn hash(password: &str) -> Result<String, AppError> {
    validate("password", password)?;
    hash_unchecked(password)
}

fn hash_unchecked(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash is a
/// mismatch (logged), never a panic or an error the caller could tell apart.
pub fn verify(password: &str, stored: &str) -> bool {
    let parsed = match PasswordHash::new(stored) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is malformed");
            return false;
        }
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random password nobody knows, with the same parameters as real ones, to
/// verify against when there is no account: the answer takes as long either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        hash_unchecked(&hex::encode(secret)).unwrap_or_default()
    })
}

/// Verifies against the account's hash when there is one, else against the dummy, and
/// answers false in the second case whatever was typed.
pub fn verify_or_dummy(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(h) => verify(password, h),
        None => {
            let _ = verify(password, dummy_hash());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$v=19$"));
        assert!(verify("correct horse", &a));
        assert!(verify("correct horse", &b));
        assert!(!verify("correct horsE", &a));
        assert!(!verify("correct horse", "not a phc string"));
    }

    #[test]
    fn short_and_huge_passwords_are_validation_errors() {
        assert!(matches!(hash("1234567"), Err(AppError::Validation(_))));
        assert!(matches!(
            hash(&"x".repeat(MAX_LEN + 1)),
            Err(AppError::Validation(_))
        ));
        // Characters, not bytes: eight Chinese characters are long enough.
        assert!(hash("红鹰党建红鹰党建").is_ok());
    }

    #[test]
    fn the_dummy_never_matches() {
        assert!(!verify_or_dummy("", None));
        assert!(!verify_or_dummy(dummy_hash(), None));
        let h = hash("password1").unwrap();
        assert!(verify_or_dummy("password1", Some(&h)));
    }
}
