//! Configuration: built-in defaults, then an optional `hongying.toml`, then `HONGYING_…`
//! environment variables (nested keys joined by `__`, e.g. `HONGYING_DATABASE__URL`).
//!
//! The value is built once at start-up and passed by value; there are no globals. Secrets
//! are wrapped in [`Secret`], whose `Debug` and `Serialize` never show the value, so the
//! config can be logged and printed (`hongying config`) safely.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A value that must never be shown: `Debug`, `Display` and `Serialize` print `***`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself. Call sites of this are the only places a secret is handled.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub metrics: MetricsConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub log: LogConfig,
    pub shutdown: ShutdownConfig,
    pub idempotency: IdempotencyConfig,
    pub auth: AuthConfig,
    pub meetings: MeetingsConfig,
    pub services: ServicesConfig,
    pub transfers: TransfersConfig,
    pub signaling: SignalingConfig,
    pub media: MediaSection,
    /// Where generated development keys and uploaded files live.
    pub data_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            log: LogConfig::default(),
            shutdown: ShutdownConfig::default(),
            idempotency: IdempotencyConfig::default(),
            auth: AuthConfig::default(),
            meetings: MeetingsConfig::default(),
            services: ServicesConfig::default(),
            transfers: TransfersConfig::default(),
            signaling: SignalingConfig::default(),
            media: MediaSection::default(),
            data_dir: PathBuf::from("./data"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// Largest JSON body accepted, in bytes. SDP and agenda bodies are a few KB; this
    /// leaves room without letting a client make the server buffer megabytes.
    pub json_limit: usize,
    /// Largest upload (attachments, roster files), in bytes.
    pub upload_limit: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Take the client address from `Forwarded`/`X-Forwarded-For` (for rate limits).
    /// Only behind a reverse proxy that sets those headers itself and is the only way in:
    /// otherwise any client can claim any address.
    pub trust_forwarded: bool,
}

impl HttpConfig {
    /// The most any request body may be, whatever the endpoint.
    pub fn body_limit(&self) -> usize {
        self.json_limit.max(self.upload_limit)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            json_limit: 256 * 1024,
            upload_limit: 10 * 1024 * 1024,
            workers: 0,
            trust_forwarded: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Prometheus scrape endpoint, kept off the public port.
    pub bind: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…`, `postgresql://…`, `sqlite://path` or a plain file path (SQLite).
    pub url: Secret,
    pub pool_size: u32,
    /// How long a request waits for a pooled connection before failing, in ms.
    pub acquire_timeout_ms: u64,
    /// SQLite: how long a writer waits on a locked database, in ms.
    pub sqlite_busy_timeout_ms: u64,
    /// Run pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("./data/hongying.db"),
            pool_size: 10,
            acquire_timeout_ms: 5_000,
            sqlite_busy_timeout_ms: 5_000,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Unset on a single node. Required when several nodes serve one deployment.
    pub url: Option<Secret>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,hongying_server=debug`. `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long `/readyz` answers 503 before the listener closes, so a
    /// load balancer stops sending new requests first.
    pub drain_delay_ms: u64,
    /// How long in-flight requests may take to finish after the listener closes.
    pub deadline_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_delay_ms: 0,
            deadline_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long a key is remembered, in seconds. A phone that retries a day later is
    /// still deduplicated.
    pub ttl_secs: u64,
    /// A key whose request has not finished after this long may be taken over by a
    /// retry (the first attempt is presumed dead with its node).
    pub lock_secs: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 3600,
            lock_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Directory of Ed25519 signing keys (`*.pem`, PKCS#8). The newest file name is the
    /// active key; every key in it verifies, so a rotation adds a file and removes the
    /// old one once its tokens have expired. Default: `<data_dir>/keys/jwt`.
    pub jwt_keys_dir: Option<PathBuf>,
    /// Directory of the personal-data keys (AES-256-GCM key files `<kid>.key`, newest
    /// active, and `blind-index.key`). Default: `<data_dir>/keys/pii`.
    pub pii_keys_dir: Option<PathBuf>,
    /// Generate missing keys at start (development). Production sets this to false so a
    /// missing key mount fails loudly instead of minting a fresh key.
    pub generate_keys: bool,
    pub issuer: String,
    pub audience: String,
    /// Access token lifetime in seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime in seconds (each use rotates it).
    pub refresh_ttl_secs: u64,
    /// Activation code lifetime in seconds.
    pub activation_ttl_secs: u64,
    /// Meeting join token lifetime in seconds.
    pub join_ttl_secs: u64,
    /// Login/activation attempts allowed per account per minute.
    pub login_per_account_per_minute: u32,
    /// Login/activation attempts allowed per client address per minute.
    pub login_per_address_per_minute: u32,
    /// Wrong passwords for one account before each further attempt waits (2 s, doubling).
    pub login_failures_before_delay: u32,
    /// The longest such wait.
    pub login_delay_max_secs: u64,
    /// How often expired grants are stamped revoked and their holders' sockets closed
    /// (requests stop honouring a grant at its expiry whatever this is).
    pub grant_sweep_interval_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_keys_dir: None,
            pii_keys_dir: None,
            generate_keys: true,
            issuer: "hongying".into(),
            audience: "hongying-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            activation_ttl_secs: 7 * 24 * 3600,
            join_ttl_secs: 5 * 60,
            login_per_account_per_minute: 5,
            login_per_address_per_minute: 30,
            login_failures_before_delay: 5,
            login_delay_max_secs: 900,
            grant_sweep_interval_secs: 30,
        }
    }
}

/// Which approvals leave a member out of E (不计入应到会). RULES.md §2.4: historically the
/// upper organization agrees and the congress passes it; whether the 2020 rules dropped
/// the upper step is uncertain, so a locality chooses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionApproval {
    Upper,
    Congress,
    #[default]
    Both,
}

/// Per rule, `strict` ("超过", the default) or `inclusive` ("不少于"); see
/// [`hongying_signaling::quorum::Thresholds`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdsConfig {
    pub congress_quorum: hongying_signaling::quorum::Comparison,
    pub congress_pass: hongying_signaling::quorum::Comparison,
    pub election_validity: hongying_signaling::quorum::Comparison,
    pub election_elect: hongying_signaling::quorum::Comparison,
    pub committee_quorum: hongying_signaling::quorum::Comparison,
    pub committee_pass: hongying_signaling::quorum::Comparison,
}

impl ThresholdsConfig {
    pub fn to_thresholds(self) -> hongying_signaling::quorum::Thresholds {
        hongying_signaling::quorum::Thresholds {
            congress_quorum: self.congress_quorum,
            congress_pass: self.congress_pass,
            election_validity: self.election_validity,
            election_elect: self.election_elect,
            committee_quorum: self.committee_quorum,
            committee_pass: self.committee_pass,
        }
    }
}

/// 三会一课 rules a locality may set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MeetingsConfig {
    /// Approvals an exclusion needs before it leaves the member out of E.
    pub exclusion_approval: ExclusionApproval,
    /// Strict or inclusive reading per quorum/vote rule.
    pub thresholds: ThresholdsConfig,
    /// Length of one QR check-in window in seconds; a token is accepted in its own window
    /// and the next one, so a code photographed and sent away soon stops working.
    pub qr_window_secs: u64,
    /// Count a remote attendee only once the SFU has seen their media flowing.
    pub remote_requires_media: bool,
}

impl Default for MeetingsConfig {
    fn default() -> Self {
        Self {
            exclusion_approval: ExclusionApproval::Both,
            thresholds: ThresholdsConfig::default(),
            qr_window_secs: 30,
            remote_requires_media: false,
        }
    }
}

/// 组织关系转接: how long an introduction letter (介绍信) is valid, and where its QR code
/// points. RULES.md §4.2: commonly 10 days within the city, 30 outside, never more than
/// three months ([`TransfersConfig::MAX_LETTER_DAYS`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransfersConfig {
    /// Days a letter for a transfer within the city (or county) is valid.
    pub letter_validity_within_city_days: u32,
    /// Days a letter for a transfer out of the city is valid.
    pub letter_validity_outside_days: u32,
    /// The public address of this service (e.g. `https://hongying.example.cn`): the QR
    /// code on a printed letter carries `<this>/api/v1/letters/verify/<token>`. Unset, it
    /// carries the path alone.
    pub public_base_url: Option<String>,
    /// Public letter checks (`GET /letters/verify/{token}`, no login) a client address
    /// may make per minute; 0 turns the limit off.
    pub verify_per_address_per_minute: u32,
}

impl TransfersConfig {
    /// 最长不超过3个月.
    pub const MAX_LETTER_DAYS: u32 = 90;
}

impl Default for TransfersConfig {
    fn default() -> Self {
        Self {
            letter_validity_within_city_days: 10,
            letter_validity_outside_days: 30,
            public_base_url: None,
            verify_per_address_per_minute: 60,
        }
    }
}

/// The `/ws` socket and the meeting rooms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingConfig {
    /// A socket from which nothing (message, ping or pong) arrives for this long is
    /// closed with `heartbeat_timeout`. The server pings every third of it, which browsers
    /// answer by themselves.
    pub heartbeat_timeout_ms: u64,
    /// How long a dropped participant may come back as himself (same participant, same
    /// attendance interval, the missed events replayed).
    pub resume_window_ms: u64,
    /// Largest text frame accepted, in bytes (an SDP offer is a few KB).
    pub max_frame_bytes: usize,
    /// Messages a connection may send per second on average…
    pub messages_per_second: u32,
    /// …and in a burst.
    pub message_burst: u32,
    /// Open sockets one account may hold (a phone and a tablet, a reconnect racing the
    /// dying socket).
    pub max_connections_per_account: usize,
    /// How often the room writes its participants' last heartbeat; after a crash their
    /// intervals close at the last one written.
    pub touch_every_ms: u64,
    /// How often new notices are looked up for live delivery.
    pub notice_poll_ms: u64,
    /// This node's name in the cluster (default: host name and process id).
    pub node_id: Option<String>,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout_ms: 15_000,
            resume_window_ms: 30_000,
            max_frame_bytes: 64 * 1024,
            messages_per_second: 20,
            message_burst: 60,
            max_connections_per_account: 4,
            touch_every_ms: 10_000,
            notice_poll_ms: 1_000,
            node_id: None,
        }
    }
}

/// The SFU (audio and video of meetings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Off: rooms carry signaling only and a member counts from his join.
    pub enabled: bool,
    /// Addresses ICE binds and gathers on; name the interface, never a wildcard.
    pub ice_addresses: Vec<std::net::IpAddr>,
    /// 1:1 NAT: the public address advertised instead of the bound one.
    pub public_ip: Option<std::net::IpAddr>,
    /// Inclusive UDP port range (one port per connected participant and address).
    pub udp_port_min: Option<u16>,
    pub udp_port_max: Option<u16>,
    /// Accept only loopback candidates from clients (tests and local development).
    pub loopback_only: bool,
    /// e.g. `stun:stun.example.org:3478`, handed to clients.
    pub stun_urls: Vec<String>,
    /// coturn (`use-auth-secret`): urls and the shared secret; clients get credentials
    /// derived from it, valid `turn_ttl_secs`.
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<Secret>,
    pub turn_ttl_secs: u64,
    /// A member whose media stopped for this long no longer counts as present.
    pub no_media_timeout_ms: u64,
    /// Below this estimated downlink a subscriber is moved to audio-only.
    pub audio_only_threshold_bps: u64,
}

impl Default for MediaSection {
    fn default() -> Self {
        let d = hongying_signaling::media::MediaConfig::default();
        Self {
            enabled: true,
            ice_addresses: d.ice_addresses,
            public_ip: None,
            udp_port_min: None,
            udp_port_max: None,
            loopback_only: false,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: 86_400,
            no_media_timeout_ms: 10_000,
            audio_only_threshold_bps: d.audio_only_threshold_bps,
        }
    }
}

/// One field of 服务面对面 experts (农技, 法律, 医疗, …): questions are asked in a field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceField {
    /// Stable code apps send, e.g. `agri`.
    pub code: String,
    /// Chinese label shown to people, e.g. `农技`.
    pub label: String,
}

/// 服务面对面: fields, public accounts, attachments, deadlines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// The fields experts serve and questions are asked in.
    pub fields: Vec<ServiceField>,
    /// Let villagers open a `public` account themselves (otherwise only a service centre's
    /// `org_admin` issues them).
    pub public_self_registration: bool,
    /// Self-registrations allowed per client address per hour (0: no limit).
    pub registrations_per_address_per_hour: u32,
    /// Attachments one question may carry.
    pub max_attachments: u32,
    /// Largest attachment, in bytes (also capped by `http.upload_limit`).
    pub attachment_max_bytes: usize,
    /// Hours a question may wait for an expert to accept it before it escalates to the
    /// area's `org_admin`s.
    pub accept_timeout_hours: u32,
    /// Days without a message after which an accepted question closes by itself.
    pub inactivity_close_days: u32,
    /// How often the server runs the escalation and auto-close sweep, in seconds.
    pub sweep_interval_secs: u64,
    /// Minutes before a booked consultation's start from which its two participants may
    /// enter the room (to test camera and sound); it closes to newcomers at the slot's end.
    pub consultation_open_early_minutes: u32,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        let field = |code: &str, label: &str| ServiceField {
            code: code.into(),
            label: label.into(),
        };
        Self {
            fields: vec![
                field("agri", "农技"),
                field("legal", "法律"),
                field("medical", "医疗"),
            ],
            public_self_registration: false,
            registrations_per_address_per_hour: 5,
            max_attachments: 4,
            attachment_max_bytes: 5 * 1024 * 1024,
            accept_timeout_hours: 24,
            inactivity_close_days: 7,
            sweep_interval_secs: 300,
            consultation_open_early_minutes: 10,
        }
    }
}

impl MediaSection {
    /// The engine's settings, or `None` when media is off.
    pub fn engine_config(&self) -> Option<hongying_signaling::media::MediaConfig> {
        use hongying_signaling::media::{MediaConfig, RemoteCandidates, TurnConfig};
        if !self.enabled {
            return None;
        }
        let turn = self.turn_secret.as_ref().map(|secret| TurnConfig {
            urls: self.turn_urls.clone(),
            secret: secret.expose().to_string(),
            ttl: std::time::Duration::from_secs(self.turn_ttl_secs),
        });
        Some(MediaConfig {
            ice_addresses: self.ice_addresses.clone(),
            public_ip: self.public_ip,
            udp_port_range: self.udp_port_min.zip(self.udp_port_max),
            remote_candidates: if self.loopback_only {
                RemoteCandidates::LoopbackOnly
            } else {
                RemoteCandidates::Any
            },
            turn,
            stun_urls: self.stun_urls.clone(),
            no_media_timeout: std::time::Duration::from_millis(self.no_media_timeout_ms),
            audio_only_threshold_bps: self.audio_only_threshold_bps,
            ..MediaConfig::default()
        })
    }
}

impl ServicesConfig {
    /// The field with this code, if configured.
    pub fn field(&self, code: &str) -> Option<&ServiceField> {
        self.fields.iter().find(|f| f.code == code)
    }
}

impl Config {
    pub fn jwt_keys_dir(&self) -> PathBuf {
        self.auth
            .jwt_keys_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("jwt"))
    }

    pub fn pii_keys_dir(&self) -> PathBuf {
        self.auth
            .pii_keys_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("pii"))
    }
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("配置无效 (invalid configuration): {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults → `file` (or `./hongying.toml` when it exists) → environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        // HONGYING_CONFIG (the file, read by the command line) and HONGYING_ADMIN_PASSWORD
        // (read by `admin create`) share the prefix but are not configuration keys.
        let env = Env::prefixed("HONGYING_")
            .ignore(&["config", "admin_password"])
            .split("__");
        Self::load_from(file, env)
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            // The default file is optional: absent means defaults and environment only.
            None if Path::new("hongying.toml").exists() => {
                fig = fig.merge(Toml::file_exact("hongying.toml"));
            }
            None => {}
        }
        // The default-serialized secrets read "***"; the real defaults are restored
        // below when neither the file nor the environment set them.
        let config: Config = fig
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(describe_figment_error(e)))?;
        config.restore_default_secrets().validate()
    }

    fn restore_default_secrets(mut self) -> Self {
        if self.database.url.expose() == "***" {
            self.database.url = DatabaseConfig::default().url;
        }
        self
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if self.database.pool_size == 0 {
            return Err(ConfigError("database.pool_size must be at least 1".into()));
        }
        if self.database.url.expose().trim().is_empty() {
            return Err(ConfigError("database.url must not be empty".into()));
        }
        if self.http.json_limit < 1024 {
            return Err(ConfigError("http.json_limit must be at least 1024".into()));
        }
        if !(5..=3600).contains(&self.meetings.qr_window_secs) {
            return Err(ConfigError(
                "meetings.qr_window_secs must be between 5 and 3600".into(),
            ));
        }
        for (key, days) in [
            (
                "transfers.letter_validity_within_city_days",
                self.transfers.letter_validity_within_city_days,
            ),
            (
                "transfers.letter_validity_outside_days",
                self.transfers.letter_validity_outside_days,
            ),
        ] {
            if !(1..=TransfersConfig::MAX_LETTER_DAYS).contains(&days) {
                return Err(ConfigError(format!(
                    "{key} must be between 1 and {} days (介绍信有效期最长不超过3个月)",
                    TransfersConfig::MAX_LETTER_DAYS
                )));
            }
        }
        if let Some(url) = &self.transfers.public_base_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError(
                "transfers.public_base_url must start with https:// or http://".into(),
            ));
        }
        let sig = &self.signaling;
        if !(1_000..=300_000).contains(&sig.heartbeat_timeout_ms) {
            return Err(ConfigError(
                "signaling.heartbeat_timeout_ms must be between 1000 and 300000".into(),
            ));
        }
        if sig.resume_window_ms > 600_000 {
            return Err(ConfigError(
                "signaling.resume_window_ms must be at most 600000".into(),
            ));
        }
        if !(4096..=1024 * 1024).contains(&sig.max_frame_bytes) {
            return Err(ConfigError(
                "signaling.max_frame_bytes must be between 4096 and 1048576".into(),
            ));
        }
        if sig.messages_per_second == 0 || sig.message_burst == 0 {
            return Err(ConfigError(
                "signaling.messages_per_second and signaling.message_burst must be positive".into(),
            ));
        }
        if sig.max_connections_per_account == 0 {
            return Err(ConfigError(
                "signaling.max_connections_per_account must be at least 1".into(),
            ));
        }
        if sig.touch_every_ms < 10 || sig.notice_poll_ms < 10 {
            return Err(ConfigError(
                "signaling.touch_every_ms and signaling.notice_poll_ms must be at least 10".into(),
            ));
        }
        if self.media.udp_port_min.is_some() != self.media.udp_port_max.is_some() {
            return Err(ConfigError(
                "media.udp_port_min and media.udp_port_max go together".into(),
            ));
        }
        if !self.media.turn_urls.is_empty() && self.media.turn_secret.is_none() {
            return Err(ConfigError(
                "media.turn_secret is required with media.turn_urls".into(),
            ));
        }
        if let Some(engine) = self.media.engine_config() {
            engine.validate().map_err(|e| ConfigError(e.to_string()))?;
        }
        let codes: std::collections::BTreeSet<&str> = self
            .services
            .fields
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        if self.services.fields.is_empty()
            || codes.len() != self.services.fields.len()
            || self.services.fields.iter().any(|f| {
                f.code.is_empty()
                    || f.label.trim().is_empty()
                    || !f
                        .code
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
        {
            return Err(ConfigError(
                "services.fields must list at least one field, each with a unique snake_case code and a label"
                    .into(),
            ));
        }
        if self.services.accept_timeout_hours == 0
            || self.services.inactivity_close_days == 0
            || self.services.sweep_interval_secs == 0
        {
            return Err(ConfigError(
                "services.accept_timeout_hours, services.inactivity_close_days and services.sweep_interval_secs must be positive"
                    .into(),
            ));
        }
        if self.idempotency.ttl_secs == 0 {
            return Err(ConfigError("idempotency.ttl_secs must be positive".into()));
        }
        if let Some(url) = &self.redis.url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return Err(ConfigError(
                "redis.url must start with redis:// or rediss://".into(),
            ));
        }
        Ok(self)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml_string(self)
    }
}

fn describe_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|err| {
            let key = if err.path.is_empty() {
                String::from("(top level)")
            } else {
                err.path.join(".")
            };
            let source = err
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("key `{key}`{source}: {}", err.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn toml_string(config: &Config) -> String {
    // figment has no TOML writer; serialize through serde_json into a small TOML printer
    // to avoid another dependency for one debugging command.
    let value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    let mut out = String::new();
    write_table(&mut out, "", &value);
    out
}

fn write_table(out: &mut String, prefix: &str, value: &serde_json::Value) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    let is_table_array = |v: &serde_json::Value| {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(serde_json::Value::is_object))
    };
    for (k, v) in map {
        if !v.is_object() && !is_table_array(v) {
            out.push_str(&format!("{k} = {}\n", scalar(v)));
        }
    }
    for (k, v) in map {
        if let Some(items) = v.as_array().filter(|_| is_table_array(v)) {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            for item in items {
                out.push_str(&format!("\n[[{name}]]\n"));
                write_table(out, &name, item);
            }
        }
    }
    for (k, v) in map {
        if v.is_object() {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push_str(&format!("\n[{name}]\n"));
            write_table(out, &name, v);
        }
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "\"\" # unset".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;

    // figment's Jail gives each test its own working directory and environment, so the
    // tests neither race on process-global state nor need `unsafe` set_var.
    fn jail(f: impl FnOnce(&mut figment::Jail) -> figment::error::Result<()>) {
        figment::Jail::expect_with(f);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        jail(|_| {
            let c = Config::load(None).unwrap();
            assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
            assert_eq!(c.metrics.bind.to_string(), "127.0.0.1:9090");
            assert_eq!(c.database.url.expose(), "./data/hongying.db");
            assert!(c.redis.url.is_none());
            assert!(Config::load(Some(Path::new("missing.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_defaults() {
        jail(|j| {
            j.create_file(
                "hongying.toml",
                "[http]\nbind = \"127.0.0.1:1234\"\n[database]\npool_size = 3\n",
            )?;
            j.set_env("HONGYING_DATABASE__POOL_SIZE", "7");
            j.set_env("HONGYING_DATABASE__URL", "postgres://localhost/x");
            let c = Config::load(None).unwrap();
            assert_eq!(c.http.bind.port(), 1234);
            assert_eq!(c.database.pool_size, 7);
            assert_eq!(c.database.url.expose(), "postgres://localhost/x");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        for (file, key) in [
            ("[http]\nbind = \"not-an-address\"\n", "http.bind"),
            ("[database]\npool_size = 0\n", "database.pool_size"),
            ("[http]\nbnd = \"x\"\n", "bnd"),
            ("[log]\nformat = \"xml\"\n", "log.format"),
            ("[redis]\nurl = \"http://x\"\n", "redis.url"),
        ] {
            jail(|j| {
                j.create_file("h.toml", file)?;
                let err = Config::load(Some(Path::new("h.toml"))).unwrap_err();
                assert!(err.to_string().contains(key), "{file}: {err}");
                Ok(())
            });
        }
        jail(|j| {
            j.set_env("HONGYING_METRICS__BIND", "nope");
            let err = Config::load(None).unwrap_err();
            assert!(err.to_string().contains("metrics.bind"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn meetings_rules_are_read_per_rule() {
        jail(|j| {
            j.create_file(
                "hongying.toml",
                "[meetings]\nexclusion_approval = \"upper\"\nqr_window_secs = 20\n\
                 [meetings.thresholds]\nelection_validity = \"inclusive\"\n",
            )?;
            let c = Config::load(None).unwrap();
            assert_eq!(c.meetings.exclusion_approval, ExclusionApproval::Upper);
            assert_eq!(c.meetings.qr_window_secs, 20);
            assert!(!c.meetings.remote_requires_media);
            let t = c.meetings.thresholds.to_thresholds();
            use hongying_signaling::quorum::Comparison;
            assert_eq!(t.election_validity, Comparison::Inclusive);
            assert_eq!(t.congress_quorum, Comparison::Strict);
            Ok(())
        });
        for (file, key) in [
            (
                "[meetings.thresholds]\ncongres_quorum = \"strict\"\n",
                "congres_quorum",
            ),
            (
                "[meetings]\nexclusion_approval = \"nobody\"\n",
                "meetings.exclusion_approval",
            ),
            (
                "[meetings]\nqr_window_secs = 0\n",
                "meetings.qr_window_secs",
            ),
        ] {
            jail(|j| {
                j.create_file("h.toml", file)?;
                let err = Config::load(Some(Path::new("h.toml"))).unwrap_err();
                assert!(err.to_string().contains(key), "{file}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn services_fields_come_from_the_file_and_are_checked() {
        jail(|j| {
            j.create_file(
                "hongying.toml",
                "[services]\npublic_self_registration = true\n\
                 [[services.fields]]\ncode = \"agri\"\nlabel = \"农技\"\n\
                 [[services.fields]]\ncode = \"vet\"\nlabel = \"兽医\"\n",
            )?;
            let c = Config::load(None).unwrap();
            assert!(c.services.public_self_registration);
            assert_eq!(c.services.fields.len(), 2);
            assert_eq!(c.services.field("vet").unwrap().label, "兽医");
            assert!(c.services.field("legal").is_none());
            assert!(c.to_redacted_toml().contains("[[services.fields]]"));
            Ok(())
        });
        let d = Config::default();
        assert_eq!(d.services.max_attachments, 4);
        assert_eq!(d.services.accept_timeout_hours, 24);
        assert!(!d.services.public_self_registration);
        for file in [
            "[[services.fields]]\ncode = \"Agri\"\nlabel = \"农技\"\n",
            "[services]\naccept_timeout_hours = 0\n",
        ] {
            jail(|j| {
                j.create_file("h.toml", file)?;
                let err = Config::load(Some(Path::new("h.toml"))).unwrap_err();
                assert!(err.to_string().contains("services."), "{file}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn the_example_production_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hongying.example.toml");
        jail(|_| {
            let c = Config::load(Some(&path)).unwrap();
            assert!(!c.services.public_self_registration);
            assert_eq!(c.services.field("agri").unwrap().label, "农技");
            Ok(())
        });
    }

    #[test]
    fn letter_validity_is_capped_at_ninety_days() {
        jail(|j| {
            j.create_file(
                "hongying.toml",
                "[transfers]\nletter_validity_outside_days = 90\n",
            )?;
            let c = Config::load(None).unwrap();
            assert_eq!(c.transfers.letter_validity_outside_days, 90);
            assert_eq!(c.transfers.letter_validity_within_city_days, 10);
            Ok(())
        });
        for (file, key) in [
            (
                "[transfers]\nletter_validity_outside_days = 91\n",
                "transfers.letter_validity_outside_days",
            ),
            (
                "[transfers]\nletter_validity_within_city_days = 0\n",
                "transfers.letter_validity_within_city_days",
            ),
            (
                "[transfers]\npublic_base_url = \"hongying.example.cn\"\n",
                "transfers.public_base_url",
            ),
        ] {
            jail(|j| {
                j.create_file("h.toml", file)?;
                let err = Config::load(Some(Path::new("h.toml"))).unwrap_err();
                assert!(err.to_string().contains(key), "{file}: {err}");
                Ok(())
            });
        }
        jail(|j| {
            j.set_env(
                "HONGYING_TRANSFERS__LETTER_VALIDITY_WITHIN_CITY_DAYS",
                "120",
            );
            let err = Config::load(None).unwrap_err();
            assert!(
                err.to_string()
                    .contains("transfers.letter_validity_within_city_days"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.database.url = Secret::new("postgres://u:hunter2@db/x");
        c.redis.url = Some(Secret::new("redis://:pw@r"));
        for shown in [format!("{c:?}"), c.to_redacted_toml()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains(":pw@"), "{shown}");
        }
    }

    /// The README's configuration table is where an operator learns what can be set: a key
    /// added to the code without a row there is a key nobody knows about.
    #[test]
    fn every_key_is_in_the_readme() {
        let readme = include_str!("../../README.md");
        let doc = serde_json::to_value(Config::default()).unwrap();
        let mut missing = Vec::new();
        for (section, body) in doc.as_object().unwrap() {
            let keys: Vec<String> = match body.as_object() {
                Some(fields) => fields.keys().map(|k| format!("{section}.{k}")).collect(),
                None => vec![section.clone()],
            };
            missing.extend(
                keys.into_iter()
                    .filter(|k| !readme.contains(&format!("`{k}`"))),
            );
        }
        assert!(missing.is_empty(), "not in README.md: {missing:?}");
    }
}
