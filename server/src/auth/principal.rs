//! The authenticated caller, extracted from `Authorization: Bearer <access token>`.
//!
//! Roles are read from the database on every request rather than from the token, so a
//! revoked grant or a logged-out session stops working at once, not 15 minutes later.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::state::AppState;

/// A role, held at an organization and reaching its whole subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A party member: self, and the public data of the own branch.
    Member,
    /// 支部书记: manages the branch.
    BranchSecretary,
    /// 支部委员: manages the branch with the secretary.
    BranchCommittee,
    /// 组织部门 / a 党委's organization work: manages the subtree.
    OrgAdmin,
    /// 服务面对面 expert: only that module.
    Expert,
    /// 群众: only 服务面对面.
    Public,
    /// Everything, everywhere.
    SuperAdmin,
}

impl Role {
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
        Some(match s {
            "member" => Self::Member,
            "branch_secretary" => Self::BranchSecretary,
            "branch_committee" => Self::BranchCommittee,
            "org_admin" => Self::OrgAdmin,
            "expert" => Self::Expert,
            "public" => Self::Public,
            "super_admin" => Self::SuperAdmin,
            _ => return None,
        })
    }

    /// Roles that manage an organization's members and meetings.
    pub const MANAGERS: [Role; 3] = [Role::BranchSecretary, Role::BranchCommittee, Role::OrgAdmin];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub role: Role,
    /// The organization the role is held at (none for `super_admin` and `public`).
    pub org_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub session_id: String,
    pub member_id: Option<String>,
    /// The branch holding the member's formal relationship, when the account is a member's.
    pub member_org_id: Option<String>,
    pub grants: Vec<Grant>,
}

impl Principal {
    pub fn is_super_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role == Role::SuperAdmin)
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }

    /// The organizations at which the caller holds any of `roles`.
    pub fn orgs_with(&self, roles: &[Role]) -> Vec<String> {
        self.grants
            .iter()
            .filter(|g| roles.contains(&g.role))
            .filter_map(|g| g.org_id.clone())
            .collect()
    }

    /// The organization to record as the actor's in the audit log: the first grant's.
    pub fn primary_org(&self) -> Option<String> {
        self.grants
            .iter()
            .find_map(|g| g.org_id.clone())
            .or_else(|| self.member_org_id.clone())
    }
}

/// Reads the bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(p) = req.extensions().get::<Principal>() {
            let p = p.clone();
            return Box::pin(async move { Ok(p) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req).map(str::to_string);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or(AppError::Unauthenticated)?;
            let principal = authenticate(&state, &token).await?;
            req.extensions_mut().insert(principal.clone());
            Ok(principal)
        })
    }
}

/// Verifies an access token and loads the caller's live session and grants.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let now = state.clock.now().and_utc().timestamp();
    let claims = state.tokens.verify_access(token, now)?;
    let now_ts = state.clock.now();
    let (account_id, session_id) = (claims.sub, claims.sid);
    state
        .db
        .run(move |conn| {
            crate::store::principals::load(conn, &account_id, &session_id, now_ts)?
                .ok_or(AppError::Unauthenticated)
        })
        .await
}

/// The caller when there is one: for endpoints open to anonymous callers too.
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if bearer(req).is_none() {
            return Box::pin(async { Ok(MaybePrincipal(None)) });
        }
        let fut = Principal::from_request(req, payload);
        Box::pin(async move { fut.await.map(|p| MaybePrincipal(Some(p))) })
    }
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl FromRequest for RequestMeta {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|r| r.to_string());
        // Forwarded headers are written by whoever sends the request: trusted only when
        // configured (behind a proxy that overwrites them), else the TCP peer.
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.config.http.trust_forwarded);
        let client_addr = if trust {
            req.connection_info()
                .realip_remote_addr()
                .map(str::to_string)
        } else {
            req.peer_addr().map(|a| a.ip().to_string())
        };
        std::future::ready(Ok(RequestMeta {
            request_id,
            client_addr,
        }))
    }
}
