//! Reading the hash-chained audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/audit`: newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Rows about this organization's subtree. Without it: every subtree the caller
    /// administers (a super admin: everything).
    pub org_id: Option<String>,
    /// e.g. `organization`, `role_grant`, `member`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub actor_account_id: Option<String>,
    /// The organization the actor acted from.
    pub actor_org_id: Option<String>,
    /// e.g. `org.create`, `org.update`, `org.move`, `grant.create`, `grant.revoke`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The organization the target belongs to.
    pub org_id: Option<String>,
    /// Changed fields before the action (sensitive values masked).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// Changed fields after the action (sensitive values masked).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Hash of this row, chained to the previous row's.
    pub hash: String,
}

/// `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChainVerification {
    /// Whether every row's hash and link to its predecessor check out.
    pub ok: bool,
    /// The first row that fails (changed, deleted or out of sequence), when one does.
    pub broken_seq: Option<i64>,
    /// The newest row's sequence number.
    pub last_seq: i64,
}
