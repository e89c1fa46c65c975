//! Health and readiness bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Answer of `/healthz`: the process is alive. Never checks dependencies, so a database
/// outage does not get healthy processes restarted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// State of one dependency in `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Answer of `/readyz` (200 when ready, 503 otherwise, with the same body).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub draining: bool,
    pub checks: Vec<Check>,
}
