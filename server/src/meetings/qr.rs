//! Rotating QR check-in codes.
//!
//! Time is cut into windows of `meetings.qr_window_secs` (30 s). The code of window `w` of
//! a meeting is `w.` followed by a truncated HMAC-SHA256 over the meeting id and `w` under
//! a server key, so it cannot be made up, works for one meeting only, and is accepted in
//! its own window and the next one: a code photographed and sent home stops working
//! within a minute. The key is `<data_dir>/keys/qr.key`, generated on first use like the
//! other development keys (refused when `auth.generate_keys` is false).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use hongying_proto::ErrorCode;
use rand::RngCore;
use sha2::Sha256;

use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Bytes of the MAC kept in a code: 128 bits is beyond guessing within a window and keeps
/// the QR code small.
const TAG_LEN: usize = 16;

/// The server key codes are signed with.
#[derive(Clone)]
pub struct QrKey(Arc<Vec<u8>>);

impl std::fmt::Debug for QrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QrKey(***)")
    }
}

static KEYS: LazyLock<Mutex<HashMap<PathBuf, QrKey>>> = LazyLock::new(Default::default);

pub fn key_path(config: &Config) -> PathBuf {
    config.data_dir.join("keys").join("qr.key")
}

/// The key of this node's configuration, read once per process (and per data directory,
/// since tests run several nodes in one process).
pub fn key(config: &Config) -> AppResult<QrKey> {
    let path = key_path(config);
    let mut cache = KEYS
        .lock()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("qr key cache poisoned")))?;
    if let Some(k) = cache.get(&path) {
        return Ok(k.clone());
    }
    let k = load_or_generate(&path, config.auth.generate_keys).map_err(AppError::Internal)?;
    cache.insert(path, k.clone());
    Ok(k)
}

fn load_or_generate(path: &Path, generate: bool) -> anyhow::Result<QrKey> {
    if !path.exists() {
        if !generate {
            anyhow::bail!(
                "QR check-in key {} missing and auth.generate_keys is false",
                path.display()
            );
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        match crate::auth::keys::write_private(path, B64.encode(bytes).as_bytes()) {
            Ok(()) => {
                tracing::warn!(path = %path.display(), "generated a development QR check-in key")
            }
            // Another worker created it first: use theirs.
            Err(_) if path.exists() => {}
            Err(e) => return Err(e),
        }
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = B64
        .decode(text.trim())
        .with_context(|| format!("{}: not base64", path.display()))?;
    if bytes.len() < 32 {
        anyhow::bail!("{}: key shorter than 32 bytes", path.display());
    }
    Ok(QrKey(Arc::new(bytes)))
}

/// The window `now` falls in.
pub fn window(now: NaiveDateTime, window_secs: u64) -> i64 {
    let secs = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    now.and_utc().timestamp().div_euclid(secs)
}

/// Seconds from `now` until the next window starts (at least 1).
pub fn seconds_until_rotation(now: NaiveDateTime, window_secs: u64) -> u64 {
    let secs = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    let into = now.and_utc().timestamp().rem_euclid(secs);
    u64::try_from(secs - into).unwrap_or(1).max(1)
}

fn mac(key: &QrKey, meeting_id: &str, window: i64) -> AppResult<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.0)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("qr key: {e}")))?;
    m.update(b"hongying-qr-checkin\0");
    m.update(meeting_id.as_bytes());
    m.update(b"\0");
    m.update(&window.to_be_bytes());
    Ok(m)
}

/// The code of `meeting_id` for `window`.
pub fn token(key: &QrKey, meeting_id: &str, window: i64) -> AppResult<String> {
    let tag = mac(key, meeting_id, window)?.finalize().into_bytes();
    Ok(format!("{window}.{}", B64URL.encode(&tag[..TAG_LEN])))
}

/// Accepts a code of the current or the previous window; an older one is 409
/// `qr_token_expired`, anything else (forged, another meeting's, from the future) 400
/// `qr_token_invalid`.
pub fn verify(
    key: &QrKey,
    meeting_id: &str,
    token: &str,
    now: NaiveDateTime,
    window_secs: u64,
) -> AppResult<()> {
    let invalid = || AppError::Domain {
        status: 400,
        code: ErrorCode::QrTokenInvalid,
        detail: "签到码无效，请扫描会场当前显示的二维码。".into(),
    };
    let (w, tag) = token.split_once('.').ok_or_else(invalid)?;
    let w: i64 = w.parse().map_err(|_| invalid())?;
    let tag = B64URL.decode(tag.as_bytes()).map_err(|_| invalid())?;
    if tag.len() != TAG_LEN {
        return Err(invalid());
    }
    mac(key, meeting_id, w)?
        .verify_truncated_left(&tag)
        .map_err(|_| invalid())?;
    let current = window(now, window_secs);
    if w > current {
        return Err(invalid());
    }
    if w < current - 1 {
        return Err(AppError::Domain {
            status: 409,
            code: ErrorCode::QrTokenExpired,
            detail: "签到码已过期，请扫描会场当前显示的二维码。".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .naive_utc()
    }

    fn code(e: AppError) -> ErrorCode {
        e.code()
    }

    #[test]
    fn current_and_previous_windows_only() {
        let key = QrKey(Arc::new(vec![7u8; 32]));
        let t0 = at(1_800_000_000); // a multiple of 30
        let tok = token(&key, "m1", window(t0, 30)).unwrap();
        verify(&key, "m1", &tok, t0, 30).unwrap();
        verify(&key, "m1", &tok, at(1_800_000_029), 30).unwrap();
        verify(&key, "m1", &tok, at(1_800_000_059), 30).unwrap();
        assert_eq!(
            code(verify(&key, "m1", &tok, at(1_800_000_061), 30).unwrap_err()),
            ErrorCode::QrTokenExpired
        );
        // A code from a window not yet begun is not a code we issued.
        assert_eq!(
            code(verify(&key, "m1", &tok, at(1_799_999_999), 30).unwrap_err()),
            ErrorCode::QrTokenInvalid
        );
    }

    #[test]
    fn codes_are_bound_to_meeting_and_key() {
        let key = QrKey(Arc::new(vec![7u8; 32]));
        let other = QrKey(Arc::new(vec![8u8; 32]));
        let t0 = at(1_800_000_000);
        let tok = token(&key, "m1", window(t0, 30)).unwrap();
        for (k, m, t) in [
            (&key, "m2", tok.clone()),
            (&other, "m1", tok.clone()),
            (&key, "m1", "garbage".to_string()),
            (&key, "m1", format!("{}.AAAA", window(t0, 30))),
            (&key, "m1", tok.replacen('.', ".x", 1)),
        ] {
            assert_eq!(
                code(verify(k, m, &t, t0, 30).unwrap_err()),
                ErrorCode::QrTokenInvalid,
                "{t}"
            );
        }
    }

    #[test]
    fn rotation_countdown() {
        assert_eq!(seconds_until_rotation(at(1_800_000_000), 30), 30);
        assert_eq!(seconds_until_rotation(at(1_800_000_029), 30), 1);
    }

    #[test]
    fn the_key_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/qr.key");
        assert!(load_or_generate(&path, false).is_err());
        let a = load_or_generate(&path, true).unwrap();
        let b = load_or_generate(&path, false).unwrap();
        assert_eq!(a.0, b.0);
    }
}
