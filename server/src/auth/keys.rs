//! Ed25519 signing keys for access tokens, loaded from a directory of PEM files.
//!
//! Each file `<kid>.pem` holds one PKCS#8 private key; the kid is the file stem. The
//! lexically greatest kid signs (kids are `YYYYMMDDHHMMSS-<rand>`, so that is the newest);
//! all verify, so tokens signed before a rotation stay valid until they expire.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore;

pub struct KeySet {
    active_kid: String,
    encoding: EncodingKey,
    decoding: BTreeMap<String, DecodingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("active_kid", &self.active_kid)
            .field("kids", &self.decoding.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySet {
    /// Loads every key in `dir`; generates one first when the directory holds none and
    /// `generate` is set.
    pub fn load(dir: &Path, generate: bool) -> anyhow::Result<Self> {
        let mut pems = read_pems(dir)?;
        if pems.is_empty() {
            if !generate {
                anyhow::bail!(
                    "no signing key in {} and auth.generate_keys is false",
                    dir.display()
                );
            }
            let kid = generate_key(dir)?;
            tracing::warn!(
                dir = %dir.display(),
                %kid,
                "generated a development token signing key; production must provide its own"
            );
            pems = read_pems(dir)?;
        }
        let mut decoding = BTreeMap::new();
        let mut active = None;
        for (kid, pem) in &pems {
            let signing = parse_signing_key(pem)
                .with_context(|| format!("signing key {kid} in {}", dir.display()))?;
            let public_pem = signing
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("encoding public key {kid}: {e}"))?;
            decoding.insert(
                kid.clone(),
                DecodingKey::from_ed_pem(public_pem.as_bytes())
                    .with_context(|| format!("public key {kid}"))?,
            );
            active = Some((kid.clone(), pem.clone()));
        }
        let (active_kid, active_pem) =
            active.ok_or_else(|| anyhow::anyhow!("no signing key in {}", dir.display()))?;
        let encoding = EncodingKey::from_ed_pem(active_pem.as_bytes())
            .with_context(|| format!("signing key {active_kid}"))?;
        Ok(Self {
            active_kid,
            encoding,
            decoding,
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding(&self, kid: &str) -> Option<&DecodingKey> {
        self.decoding.get(kid)
    }
}

fn parse_signing_key(pem: &str) -> anyhow::Result<SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    SigningKey::from_pkcs8_pem(pem).map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))
}

/// Sorted by kid (BTreeMap), so the last is the newest.
fn read_pems(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pem") {
            continue;
        }
        let Some(kid) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.insert(kid.to_string(), pem);
    }
    Ok(out)
}

/// Writes a new key into `dir` (mode 0600) and returns its kid.
pub fn generate_key(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding key: {e}"))?;
    let kid = format!(
        "{}-{:08x}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        rand::rngs::OsRng.next_u32()
    );
    let path = dir.join(format!("{kid}.pem"));
    write_private(&path, pem.as_bytes())?;
    Ok(kid)
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn generates_once_then_loads_and_the_newest_signs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(KeySet::load(dir.path(), false).is_err());
        let first = KeySet::load(dir.path(), true).unwrap();
        let again = KeySet::load(dir.path(), true).unwrap();
        assert_eq!(first.active_kid(), again.active_kid());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second_kid = generate_key(dir.path()).unwrap();
        let rotated = KeySet::load(dir.path(), false).unwrap();
        assert_eq!(rotated.active_kid(), second_kid);
        assert!(rotated.decoding(first.active_kid()).is_some());
    }
}
