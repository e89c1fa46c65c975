//! Role grants: a role held at an organization, reaching its subtree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// A role as granted (the same names as the roles of a signed-in caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantRole {
    /// 党员: self and the own branch's public data.
    Member,
    /// 支部书记: manages the branch.
    BranchSecretary,
    /// 支部委员: manages the branch with the secretary.
    BranchCommittee,
    /// 组织管理员 (组织部门): manages the subtree.
    OrgAdmin,
    /// 服务面对面专家: no organization needed.
    Expert,
    /// 群众: no organization needed.
    Public,
    /// 超级管理员: everything; granted only by a super admin, never at an organization.
    SuperAdmin,
}

impl GrantRole {
    pub const ALL: [GrantRole; 7] = [
        Self::Member,
        Self::BranchSecretary,
        Self::BranchCommittee,
        Self::OrgAdmin,
        Self::Expert,
        Self::Public,
        Self::SuperAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::BranchSecretary => "branch_secretary",
            Self::BranchCommittee => "branch_committee",
            Self::OrgAdmin => "org_admin",
            Self::Expert => "expert",
            Self::Public => "public",
            Self::SuperAdmin => "super_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Member => "党员",
            Self::BranchSecretary => "支部书记",
            Self::BranchCommittee => "支部委员",
            Self::OrgAdmin => "组织管理员",
            Self::Expert => "专家",
            Self::Public => "群众",
            Self::SuperAdmin => "超级管理员",
        }
    }

    /// Roles that need no organization (and, for `super_admin`, may not have one).
    pub fn org_optional(self) -> bool {
        matches!(self, Self::Expert | Self::Public | Self::SuperAdmin)
    }
}

/// `POST /api/v1/grants`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    #[validate(length(min = 1, max = 64, message = "账号编号无效。"))]
    pub account_id: String,
    pub role: GrantRole,
    /// Required for every role but `expert`, `public` (optional) and `super_admin` (must
    /// be absent).
    #[serde(default)]
    #[validate(length(min = 1, max = 64, message = "组织编号无效。"))]
    pub org_id: Option<String>,
    /// The grant ends at this instant (a term of office, a stand-in): from then on it
    /// reaches nothing and the holder's sockets close. Must be in the future; absent, the
    /// grant lasts until revoked.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A grant, active or revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleGrant {
    pub id: String,
    pub account_id: String,
    pub account_display_name: String,
    pub role: GrantRole,
    /// e.g. 支部书记
    pub role_label_zh: String,
    pub org_id: Option<String>,
    pub granted_by: Option<String>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// When the grant ends by itself, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/orgs/{id}/grants`: grants held at exactly that organization, newest
/// first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantListQuery {
    /// Also list revoked grants (default false).
    pub include_revoked: Option<bool>,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}
