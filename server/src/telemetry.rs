//! Logging (text or JSON, request id on every line of a request) and Prometheus metrics
//! served on their own port.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// Metric names, kept in one place so dashboards and code agree.
pub mod names {
    pub const HTTP_REQUESTS: &str = "hongying_http_requests_total";
    pub const HTTP_DURATION: &str = "hongying_http_request_duration_seconds";
    pub const DB_POOL_CONNECTIONS: &str = "hongying_db_pool_connections";
    pub const DB_POOL_IDLE: &str = "hongying_db_pool_idle_connections";
    pub const DB_POOL_MAX: &str = "hongying_db_pool_max_connections";
    /// Open `/ws` sockets on this node.
    pub const WS_CONNECTIONS: &str = "hongying_ws_connections";
    /// Time from the `join` message to the `joined` answer.
    pub const WS_JOIN_DURATION: &str = "hongying_ws_join_duration_seconds";
    /// Frames refused (bad input, rate limit), by code.
    pub const WS_REFUSED: &str = "hongying_ws_refused_total";
    /// Notices delivered live.
    pub const WS_NOTICES: &str = "hongying_ws_notices_delivered_total";
}

/// Installs the global subscriber once. `RUST_LOG` overrides the configured filter.
pub fn init_logging(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match cfg.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    // A second init (tests start several apps in one process) keeps the first.
    let _ = result;
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (metrics' recorder is global by design).
pub fn prometheus() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}
