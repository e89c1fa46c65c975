//! Network and policy settings of the media engine.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// TURN through coturn's `use-auth-secret`: clients get short-lived credentials derived from
/// the shared secret (see [`super::turn_credentials`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// e.g. `turn:turn.example.org:3478?transport=udp`, `turns:turn.example.org:5349`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long issued credentials stay valid.
    pub ttl: Duration,
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Which remote candidates ICE may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteCandidates {
    /// Any address the client offers.
    #[default]
    Any,
    /// Loopback only (tests): other candidates are dropped, so no check ever leaves the machine.
    LoopbackOnly,
}

#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local addresses ICE binds and gathers host candidates on (one UDP socket per
    /// address per peer connection). Never a wildcard in production: name the interface.
    pub ice_addresses: Vec<IpAddr>,
    /// 1:1 NAT: host candidates are advertised with this address instead of the bound one.
    pub public_ip: Option<IpAddr>,
    /// Inclusive UDP port range for the peer connections' sockets; `None` = ephemeral ports.
    /// The `webrtc` crate does not multiplex peers on one port, so the range must hold one
    /// port per connected participant (per ICE address).
    pub udp_port_range: Option<(u16, u16)>,
    pub remote_candidates: RemoteCandidates,
    /// Handed to clients (with fresh credentials) in the join answer.
    pub turn: Option<TurnConfig>,
    /// STUN urls handed to clients (no credentials).
    pub stun_urls: Vec<String>,
    /// Presence: a participant whose media was proven is lost when nothing (RTP or RTCP)
    /// has arrived from him for this long.
    pub no_media_timeout: Duration,
    /// A subscriber whose estimated downlink falls below this is switched to audio-only.
    pub audio_only_threshold_bps: u64,
    /// ... and so is one whose reported loss on the video he receives reaches this fraction.
    pub audio_only_loss: f64,
    /// How long a subscriber stays in audio-only before video is tried again (doubles after
    /// each failed try, up to eight times this).
    pub audio_only_probe: Duration,
    /// How often link quality is judged (each judgement uses the receiver reports of this window).
    pub quality_interval: Duration,
    /// At most one keyframe request per published video track is outstanding; one that no
    /// keyframe has answered this long is sent again (asks meanwhile are coalesced into it).
    pub keyframe_retry: Duration,
    /// ICE disconnected / failed timeouts of the server side.
    pub ice_disconnected_timeout: Duration,
    pub ice_failed_timeout: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            public_ip: None,
            udp_port_range: None,
            remote_candidates: RemoteCandidates::Any,
            turn: None,
            stun_urls: Vec::new(),
            no_media_timeout: Duration::from_secs(10),
            audio_only_threshold_bps: 150_000,
            audio_only_loss: 0.2,
            audio_only_probe: Duration::from_secs(10),
            quality_interval: Duration::from_secs(1),
            keyframe_retry: Duration::from_millis(400),
            ice_disconnected_timeout: Duration::from_secs(5),
            ice_failed_timeout: Duration::from_secs(15),
        }
    }
}

/// A setting that cannot work, named by its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media.{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

impl MediaConfig {
    /// Checks the settings that would otherwise fail only when the first participant joins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, message: &str| {
            Err(ConfigError {
                field,
                message: message.into(),
            })
        };
        if self.ice_addresses.is_empty() {
            return err("ice_addresses", "at least one address is needed");
        }
        if self.ice_addresses.iter().any(IpAddr::is_unspecified) {
            return err(
                "ice_addresses",
                "a wildcard address gathers on every interface; name the interfaces",
            );
        }
        if let Some((lo, hi)) = self.udp_port_range
            && (lo == 0 || lo > hi)
        {
            return err("udp_port_range", "must be lo..=hi with 0 < lo <= hi");
        }
        if let Some(turn) = &self.turn {
            if turn.urls.is_empty() {
                return err("turn.urls", "at least one url is needed");
            }
            if turn.secret.is_empty() {
                return err("turn.secret", "must not be empty");
            }
            if turn.ttl.is_zero() {
                return err("turn.ttl", "must be positive");
            }
        }
        if self.no_media_timeout.is_zero() {
            return err("no_media_timeout", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.audio_only_loss) {
            return err("audio_only_loss", "must be a fraction between 0 and 1");
        }
        if self.quality_interval.is_zero() {
            return err("quality_interval", "must be positive");
        }
        if self.keyframe_retry.is_zero() {
            return err("keyframe_retry", "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        assert_eq!(MediaConfig::default().validate(), Ok(()));
        let c = MediaConfig {
            ice_addresses: vec![
                "0.0.0.0"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ],
            ..MediaConfig::default()
        };
        assert!(matches!(c.validate(), Err(e) if e.field == "ice_addresses"));
        let c = MediaConfig {
            udp_port_range: Some((50_000, 40_000)),
            ..MediaConfig::default()
        };
        assert!(matches!(c.validate(), Err(e) if e.field == "udp_port_range"));
        let c = MediaConfig {
            turn: Some(TurnConfig {
                urls: vec!["turn:x".into()],
                secret: String::new(),
                ttl: Duration::from_secs(60),
            }),
            ..MediaConfig::default()
        };
        assert!(matches!(c.validate(), Err(e) if e.field == "turn.secret"));
    }

    #[test]
    fn the_turn_secret_never_shows_in_debug() {
        let t = TurnConfig {
            urls: vec![],
            secret: "hunter2".into(),
            ttl: Duration::from_secs(1),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
