//! National ID numbers and phone numbers at rest: AES-256-GCM with a fresh nonce per
//! write and the owning row bound in as associated data (a ciphertext copied onto another
//! row does not decrypt), plus an HMAC-SHA256 blind index for exact lookup and uniqueness.
//!
//! Keys live in a directory: `<kid>.key` files (base64 of 32 bytes), the lexically
//! greatest kid encrypting and every kid decrypting, so rotation adds a file; and
//! `blind-index.key`, which never rotates (changing it would need every index rebuilt).
//! Ciphertexts are stored as `<kid>:<nonce b64>:<ciphertext b64>`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::auth::keys::write_private;

const BLIND_INDEX_FILE: &str = "blind-index.key";

/// Which kind of value is protected; part of the associated data and of the blind index
/// input, so a phone ciphertext cannot pass for an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    IdNumber,
    Phone,
}

impl Field {
    fn tag(self) -> &'static str {
        match self {
            Self::IdNumber => "id_number",
            Self::Phone => "phone",
        }
    }
}

#[derive(Clone)]
pub struct Pii {
    inner: Arc<Keys>,
}

struct Keys {
    active: String,
    ciphers: BTreeMap<String, Aes256Gcm>,
    blind: Vec<u8>,
}

impl std::fmt::Debug for Pii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pii")
            .field("active_kid", &self.inner.active)
            .finish_non_exhaustive()
    }
}

impl Pii {
    /// Loads the keys in `dir`, generating them first in development.
    pub fn load(dir: &Path, generate: bool) -> anyhow::Result<Self> {
        let mut keys = read_keys(dir)?;
        let blind_path = dir.join(BLIND_INDEX_FILE);
        if keys.is_empty() || !blind_path.exists() {
            if !generate {
                anyhow::bail!(
                    "personal-data keys missing in {} and auth.generate_keys is false",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            if keys.is_empty() {
                let kid = format!("{}", chrono::Utc::now().format("k%Y%m%d%H%M%S"));
                write_private(
                    &dir.join(format!("{kid}.key")),
                    B64.encode(random32()).as_bytes(),
                )?;
                tracing::warn!(dir = %dir.display(), %kid, "generated a development personal-data key");
            }
            if !blind_path.exists() {
                write_private(&blind_path, B64.encode(random32()).as_bytes())?;
            }
            keys = read_keys(dir)?;
        }
        let blind = decode_key(&std::fs::read_to_string(&blind_path)?)
            .with_context(|| format!("{}", blind_path.display()))?;
        let mut ciphers = BTreeMap::new();
        for (kid, key) in &keys {
            ciphers.insert(
                kid.clone(),
                Aes256Gcm::new_from_slice(key)
                    .map_err(|_| anyhow::anyhow!("key {kid}: bad length"))?,
            );
        }
        let active = keys
            .keys()
            .next_back()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no personal-data key in {}", dir.display()))?;
        Ok(Self {
            inner: Arc::new(Keys {
                active,
                ciphers,
                blind: blind.to_vec(),
            }),
        })
    }

    /// Encrypts `value` for the row `row_id`.
    pub fn encrypt(&self, field: Field, row_id: &str, value: &str) -> anyhow::Result<String> {
        let kid = &self.inner.active;
        let cipher = self
            .inner
            .ciphers
            .get(kid)
            .ok_or_else(|| anyhow::anyhow!("active key missing"))?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(field, row_id);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok(format!("{kid}:{}:{}", B64.encode(nonce), B64.encode(ct)))
    }

    /// Decrypts a value stored for `row_id`; fails if it was stored for another row.
    pub fn decrypt(&self, field: Field, row_id: &str, stored: &str) -> anyhow::Result<String> {
        let mut parts = stored.splitn(3, ':');
        let (Some(kid), Some(nonce), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("malformed ciphertext");
        };
        let cipher = self
            .inner
            .ciphers
            .get(kid)
            .ok_or_else(|| anyhow::anyhow!("unknown key id {kid}"))?;
        let nonce = B64.decode(nonce)?;
        if nonce.len() != 12 {
            anyhow::bail!("malformed nonce");
        }
        let ct = B64.decode(ct)?;
        let aad = aad(field, row_id);
        let pt = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("decryption failed (wrong key or row)"))?;
        Ok(String::from_utf8(pt)?)
    }

    /// The blind index of a normalized value: equal values give equal indexes, and the
    /// index reveals nothing without the key.
    pub fn blind_index(&self, field: Field, value: &str) -> String {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.inner.blind) {
            Ok(m) => m,
            // HMAC takes keys of any length; this branch cannot happen.
            Err(_) => return String::new(),
        };
        mac.update(field.tag().as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn aad(field: Field, row_id: &str) -> String {
    format!("hongying:{}:{row_id}", field.tag())
}

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = B64.decode(text.trim())?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key must be 32 bytes, base64"))
}

fn read_keys(dir: &Path) -> anyhow::Result<BTreeMap<String, [u8; 32]>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let (Some(stem), Some("key")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            continue;
        };
        if path.file_name().and_then(|n| n.to_str()) == Some(BLIND_INDEX_FILE) {
            continue;
        }
        let key = decode_key(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{}", path.display()))?;
        out.insert(stem.to_string(), key);
    }
    Ok(out)
}

/// Normalizes a phone number for indexing: digits only, a leading +86/86 dropped.
pub fn normalize_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_string(),
        _ => digits,
    }
}

/// Masks a phone for display: `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn round_trip_bound_to_row_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let pii = Pii::load(dir.path(), true).unwrap();
        let a = pii.encrypt(Field::Phone, "row1", "13800138000").unwrap();
        let b = pii.encrypt(Field::Phone, "row1", "13800138000").unwrap();
        assert_ne!(a, b, "fresh nonce per write");
        assert!(!a.contains("13800138000"));
        assert_eq!(
            pii.decrypt(Field::Phone, "row1", &a).unwrap(),
            "13800138000"
        );
        assert!(pii.decrypt(Field::Phone, "row2", &a).is_err());
        assert!(pii.decrypt(Field::IdNumber, "row1", &a).is_err());
        assert_eq!(
            pii.blind_index(Field::Phone, "13800138000"),
            pii.blind_index(Field::Phone, "13800138000")
        );
        assert_ne!(
            pii.blind_index(Field::Phone, "13800138000"),
            pii.blind_index(Field::IdNumber, "13800138000")
        );
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable() {
        let dir = tempfile::tempdir().unwrap();
        let old = Pii::load(dir.path(), true).unwrap();
        let ct = old.encrypt(Field::IdNumber, "r", "x").unwrap();
        write_private(
            &dir.path().join("z-new.key"),
            B64.encode(random32()).as_bytes(),
        )
        .unwrap();
        let new = Pii::load(dir.path(), false).unwrap();
        assert_eq!(new.decrypt(Field::IdNumber, "r", &ct).unwrap(), "x");
        assert!(
            new.encrypt(Field::IdNumber, "r", "y")
                .unwrap()
                .starts_with("z-new:")
        );
        assert_eq!(
            old.blind_index(Field::Phone, "1"),
            new.blind_index(Field::Phone, "1"),
            "blind index key does not rotate"
        );
    }

    #[test]
    fn phones_normalize_and_mask() {
        assert_eq!(normalize_phone("+86 138-0013-8000"), "13800138000");
        assert_eq!(mask_phone("13800138000"), "138****8000");
    }
}
