//! `/api/v1/grants` and `/api/v1/orgs/{id}/grants`: roles held at organizations. Who may
//! grant what is described in [`crate::grants`].

use actix_web::{HttpResponse, delete, get, post, web};
use hongying_proto::grants::{CreateGrant, GrantListQuery, RoleGrant};
use hongying_proto::{Page, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::grants::service;
use crate::http::extract::ApiJson;
use crate::state::AppState;

/// Grants a role at an organization. An `org_admin` whose scope includes `org_id`, or a
/// super admin; `super_admin` and `org_admin` at a root only by a super admin; `expert`
/// and `public` may go without an organization (then only by a super admin).
#[utoipa::path(tag = "grants", request_body = CreateGrant, responses(
    (status = 201, body = RoleGrant),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "The account holds this role here already"),
    (status = 422, body = Problem),
))]
#[post("/grants")]
pub async fn create_grant(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateGrant>,
) -> AppResult<HttpResponse> {
    let grant = state
        .run_as(principal, meta, move |c, ctx| {
            service::create(c, ctx, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(grant))
}

/// Revokes a grant (it stays on record with `revoked_at`/`revoked_by`). Same callers as
/// granting; 409 when revoked already or when it is the last super admin.
#[utoipa::path(tag = "grants", params(("id" = String, Path)), responses(
    (status = 200, body = RoleGrant),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[delete("/grants/{id}")]
pub async fn revoke_grant(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<RoleGrant>> {
    let id = id.into_inner();
    let grant = state
        .run_as(principal, meta, move |c, ctx| service::revoke(c, ctx, &id))
        .await?;
    Ok(web::Json(grant))
}

/// Grants held at exactly this organization, newest first (`org_admin` in scope, super
/// admin).
#[utoipa::path(tag = "grants", params(("id" = String, Path), GrantListQuery), responses(
    (status = 200, body = Page<RoleGrant>),
    (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}/grants")]
pub async fn list_org_grants(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<GrantListQuery>,
) -> AppResult<web::Json<Page<RoleGrant>>> {
    let id = id.into_inner();
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| service::list_for_org(c, &principal, &id, &q))
        .await?;
    Ok(web::Json(page))
}

/// Registers the handlers (called from [`super::configure`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_grant)
        .service(revoke_grant)
        .service(list_org_grants);
}
