//! Notices to members (通知): a meeting scheduled, rescheduled, cancelled or started, and
//! whatever other modules announce the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One notice in the caller's list, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    pub id: String,
    /// e.g. `meeting_scheduled`, `meeting_rescheduled`, `meeting_cancelled`, `meeting_started`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// What the notice is about, e.g. `meeting`.
    pub ref_type: Option<String>,
    pub ref_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Absent while unread.
    pub read_at: Option<DateTime<Utc>>,
}
