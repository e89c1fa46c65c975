//! Accounts and sessions: activation, login, token refresh, logout, password change and
//! the caller's own profile.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// Log in with phone and password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Mobile number as registered; spaces, dashes and a leading +86 are ignored.
    #[validate(length(min = 1, max = 32))]
    #[schema(example = "13800138000")]
    pub phone: String,
    #[validate(length(min = 1, max = 1024))]
    pub password: String,
    /// A stable id the app generates once per installation. Refresh tokens are bound to
    /// it: a token presented with another device id is refused.
    #[validate(length(min = 1, max = 128))]
    #[schema(example = "7c1e5d2a-android")]
    pub device_id: String,
}

/// Activate a roster member's account (or reset its password) with the one-time code
/// the branch issued, choosing a password. Logs in on success.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    #[validate(length(min = 1, max = 32))]
    #[schema(example = "13800138000")]
    pub phone: String,
    /// The code as issued; case, spaces and dashes are ignored.
    #[validate(length(min = 1, max = 32))]
    #[schema(example = "K7MQ4TZ9")]
    pub code: String,
    /// The new password: 8 to 128 characters.
    #[validate(length(min = 8, max = 128, message = "密码须为 8 到 128 个字符。"))]
    pub password: String,
    #[validate(length(min = 1, max = 128))]
    pub device_id: String,
}

/// Exchange a refresh token for a new pair. The presented token is used up: presenting
/// it again revokes the whole session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[validate(length(min = 1, max = 256))]
    pub refresh_token: String,
    /// The device id the session was opened with.
    #[validate(length(min = 1, max = 128))]
    pub device_id: String,
}

/// Change the caller's password. Every other session of the account is logged out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[validate(length(min = 1, max = 1024))]
    pub current_password: String,
    /// 8 to 128 characters.
    #[validate(length(min = 8, max = 128, message = "密码须为 8 到 128 个字符。"))]
    pub new_password: String,
}

/// Tokens of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// A short-lived JWT (EdDSA) for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque; exchange it at `/auth/refresh` before it expires. Each use rotates it.
    pub refresh_token: String,
}

/// A freshly issued activation code. It is shown only in this answer: the server keeps
/// its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActivationCode {
    /// The account the code activates.
    pub account_id: String,
    pub member_id: String,
    #[schema(example = "K7MQ4TZ9")]
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// What kind of person an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A party member on a branch roster.
    Member,
    /// 群众, using 服务面对面.
    Public,
    /// A 服务面对面 expert.
    Expert,
    /// Organization department staff and administrators.
    Staff,
}

impl AccountKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "member" => Self::Member,
            "public" => Self::Public,
            "expert" => Self::Expert,
            "staff" => Self::Staff,
            _ => return None,
        })
    }
}

/// One role the caller holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeGrant {
    /// `member`, `branch_secretary`, `branch_committee`, `org_admin`, `expert`, `public`
    /// or `super_admin`.
    #[schema(example = "branch_secretary")]
    pub role: String,
    /// Where the role is held (reaching its subtree); none for `super_admin`/`public`.
    pub org_id: Option<String>,
    pub org_name: Option<String>,
}

/// The member record behind the account and the branch holding the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeMember {
    pub member_id: String,
    pub org_id: String,
    pub org_name: String,
}

/// The caller's own profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub account_id: String,
    pub display_name: String,
    /// Masked: `138****8000`.
    #[schema(example = "138****8000")]
    pub phone_masked: String,
    pub kind: AccountKind,
    pub grants: Vec<MeGrant>,
    /// Present when the account is a roster member's.
    pub member: Option<MeMember>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_short_passwords() {
        let r: Result<LoginRequest, _> =
            serde_json::from_str(r#"{"phone":"1","password":"x","device_id":"d","remember":true}"#);
        assert!(r.is_err());
        let a: ActivateRequest = serde_json::from_str(
            r#"{"phone":"13800138000","code":"ABCD2345","password":"short","device_id":"d"}"#,
        )
        .unwrap();
        assert!(a.validate().is_err());
        let p = PasswordChange {
            current_password: "whatever".into(),
            new_password: "longenough".into(),
        };
        assert!(p.validate().is_ok());
    }
}
