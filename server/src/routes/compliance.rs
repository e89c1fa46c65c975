//! `/api/v1/orgs/{id}/compliance…`: the compliance calendar. Who may call what is
//! described in [`crate::compliance`].

use actix_web::{get, put, web};
use hongying_proto::Problem;
use hongying_proto::compliance::{
    ComplianceQuery, ComplianceReport, PutComplianceRules, RuleSet, RulesQuery,
};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::compliance::service;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::state::AppState;

/// Stores a new version of the organization's rule set, effective from
/// `effective_from` (default today); the subtree uses it unless a nearer organization has
/// its own. `org_admin` in scope.
#[utoipa::path(tag = "compliance", params(("id" = String, Path)), request_body = PutComplianceRules,
    responses(
    (status = 200, body = RuleSet),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
#[put("/orgs/{id}/compliance-rules")]
pub async fn put_rules(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<PutComplianceRules>,
) -> AppResult<web::Json<RuleSet>> {
    let id = id.into_inner();
    let set = state
        .run_as(principal, meta, move |c, ctx| {
            service::put_rules(c, ctx, &id, body.0)
        })
        .await?;
    Ok(web::Json(set))
}

/// The rule set in force for the organization on `on` (default today): its own, the
/// nearest ancestor's, or the built-in defaults. Readers of the organization.
#[utoipa::path(tag = "compliance", params(("id" = String, Path), RulesQuery), responses(
    (status = 200, body = RuleSet),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}/compliance-rules")]
pub async fn get_rules(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<RulesQuery>,
) -> AppResult<web::Json<RuleSet>> {
    let on = q
        .into_inner()
        .on
        .unwrap_or_else(|| crate::orgs::today_cn(state.clock.now()));
    let id = id.into_inner();
    let set = state
        .db
        .run(move |c| service::effective_rules(c, &principal, &id, on))
        .await?;
    Ok(web::Json(set))
}

/// Per branch in the subtree: what was required in `period` (`2026`, `2026-Q4`,
/// `2026-11`), what was held (ended, minutes submitted, quorate at the end where a quorum
/// rule applies), what is missing; with totals for the whole subtree. Branches by id,
/// cursor-paged. Managers in scope.
#[utoipa::path(tag = "compliance", params(("id" = String, Path), ComplianceQuery), responses(
    (status = 200, body = ComplianceReport),
    (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}/compliance")]
pub async fn get_compliance(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<ComplianceQuery>,
) -> AppResult<web::Json<ComplianceReport>> {
    let today = crate::orgs::today_cn(state.clock.now());
    let id = id.into_inner();
    let q = q.into_inner();
    let report = state
        .db
        .run(move |c| service::report(c, &principal, &id, &q, today))
        .await?;
    Ok(web::Json(report))
}

/// Registers the handlers (called from [`super::configure`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(put_rules)
        .service(get_rules)
        .service(get_compliance);
}
