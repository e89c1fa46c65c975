//! TURN credentials for coturn's `use-auth-secret` (the "TURN REST API"): the username is the
//! expiry as a Unix timestamp, optionally followed by `:` and an id; the credential is
//! base64(HMAC-SHA1(secret, username)). coturn recomputes it from its `static-auth-secret` and
//! refuses the allocation once the timestamp has passed.

use base64::Engine;
use hmac::{Hmac, Mac};
use hongying_proto::signaling::IceServer;
use sha1::Sha1;

use super::MediaConfig;

/// base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it total.
    match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The username and credential valid until `expires_unix` (seconds), tagged with `id` (the
/// participant, so coturn's logs say whose relay it is).
pub fn turn_credentials(secret: &str, expires_unix: u64, id: Option<&str>) -> (String, String) {
    let username = match id {
        Some(id) if !id.is_empty() => format!("{expires_unix}:{id}"),
        _ => expires_unix.to_string(),
    };
    let credential = turn_credential(secret, &username);
    (username, credential)
}

/// The ICE servers a client gets in the join answer: STUN urls as they are, TURN urls with
/// fresh credentials valid for the configured TTL from `now_unix`.
pub fn ice_servers(config: &MediaConfig, now_unix: u64, id: &str) -> Vec<IceServer> {
    let mut out = Vec::new();
    if !config.stun_urls.is_empty() {
        out.push(IceServer {
            urls: config.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if let Some(turn) = &config.turn {
        let (username, credential) =
            turn_credentials(&turn.secret, now_unix + turn.ttl.as_secs(), Some(id));
        out.push(IceServer {
            urls: turn.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TurnConfig;
    use std::time::Duration;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?")
        // = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
        assert_eq!(
            turn_credential("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[test]
    fn coturn_rest_credentials() {
        // Computed independently:
        // printf '%s' 1700003600:member-42 | openssl dgst -sha1 -hmac coturn-shared-secret -binary | base64
        let (u, c) = turn_credentials("coturn-shared-secret", 1_700_003_600, Some("member-42"));
        assert_eq!(u, "1700003600:member-42");
        assert_eq!(c, "XcW7U6JxAnUhadabHgOfQToB8bk=");
        let (u, _) = turn_credentials("s", 5, None);
        assert_eq!(u, "5");
    }

    #[test]
    fn ice_servers_carry_expiring_turn_credentials() {
        let config = MediaConfig {
            stun_urls: vec!["stun:stun.example.org".into()],
            turn: Some(TurnConfig {
                urls: vec!["turn:turn.example.org:3478".into()],
                secret: "coturn-shared-secret".into(),
                ttl: Duration::from_secs(3600),
            }),
            ..MediaConfig::default()
        };
        let servers = ice_servers(&config, 1_700_000_000, "member-42");
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].username.as_deref(), Some("1700003600:member-42"));
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("XcW7U6JxAnUhadabHgOfQToB8bk=")
        );
    }
}
