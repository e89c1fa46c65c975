//! `/api/v1/audit`: reading the audit log in scope and verifying its hash chain.

use actix_web::{get, web};
use hongying_proto::audit::{AuditEntry, AuditQuery, ChainVerification};
use hongying_proto::{Page, Problem};

use crate::auth::Principal;
use crate::error::AppResult;
use crate::orgs::audit_read;
use crate::state::AppState;

/// Audit rows, newest first. An `org_admin` reads rows about organizations in the
/// subtrees they administer (`org_id` narrows to one subtree); a super admin reads
/// everything.
#[utoipa::path(tag = "audit", params(AuditQuery), responses(
    (status = 200, body = Page<AuditEntry>),
    (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    principal: Principal,
    q: web::Query<AuditQuery>,
) -> AppResult<web::Json<Page<AuditEntry>>> {
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| audit_read::list(c, &principal, &q))
        .await?;
    Ok(web::Json(page))
}

/// Walks the whole hash chain and reports the first row that fails (super admin).
#[utoipa::path(tag = "audit", responses(
    (status = 200, body = ChainVerification),
    (status = 401, body = Problem), (status = 403, body = Problem),
))]
#[get("/audit/verify")]
pub async fn verify_audit(
    state: web::Data<AppState>,
    principal: Principal,
) -> AppResult<web::Json<ChainVerification>> {
    let v = state
        .db
        .run(move |c| audit_read::verify(c, &principal))
        .await?;
    Ok(web::Json(v))
}

/// Registers the handlers (called from [`super::configure`]). `/audit/verify` first, so
/// it is never taken for anything else.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(verify_audit).service(list_audit);
}
