//! 流动党员: outflow and inflow registration, acceptance at the host, contacts, the 失联
//! review, and the secretary's list. Who may call what is described in
//! [`crate::migrants`].

use actix_web::{HttpResponse, get, post, web};
use hongying_proto::migrants::{
    EndMigrant, MigrantContact, MigrantDetail, MigrantListQuery, MigrantRecord, RecordContact,
    RegisterInflow, RegisterOutflow, ReviewLostContact,
};
use hongying_proto::{Page, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::migrants::service;
use crate::state::AppState;

/// Registers the member as away (流出) at his branch: where to, work unit, contact, since
/// when, the 流动党员活动证 number; with `host_org_id` the host organization is asked to
/// accept him. Managers of the member's branch.
#[utoipa::path(tag = "migrants", params(("id" = String, Path, description = "Member id")),
    request_body = RegisterOutflow, responses(
    (status = 201, body = MigrantDetail),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_exists: already away; transition_precondition: not a Party member"),
    (status = 422, body = Problem),
))]
#[post("/members/{id}/outflow")]
pub async fn register_outflow(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<RegisterOutflow>,
) -> AppResult<HttpResponse> {
    let (id, req, pii) = (id.into_inner(), body.0, state.pii.clone());
    let d = state
        .run_as(principal, meta, move |c, ctx| {
            service::register_outflow(c, ctx, &pii, &id, &req)
        })
        .await?;
    Ok(HttpResponse::Created().json(d))
}

/// Records a member from elsewhere in the system (found by his ID number) who takes part
/// in this organization's activities (流入); his home branch is told. Managers of the
/// host organization.
#[utoipa::path(tag = "migrants", params(("org_id" = String, Path)), request_body = RegisterInflow,
    responses(
    (status = 201, body = MigrantDetail),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/orgs/{org_id}/migrants/inflow")]
pub async fn register_inflow(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    org_id: web::Path<String>,
    body: ApiJson<RegisterInflow>,
) -> AppResult<HttpResponse> {
    let (org_id, req, pii) = (org_id.into_inner(), body.0, state.pii.clone());
    let d = state
        .run_as(principal, meta, move |c, ctx| {
            service::register_inflow(c, ctx, &pii, &org_id, &req)
        })
        .await?;
    Ok(HttpResponse::Created().json(d))
}

/// The secretary's list: members of the organization's subtree who are away
/// (`side=home`) or members it hosts (`side=host`), each with last contact, last
/// attendance, last app activity, the 失联 flag and the transfer suggestion. Managers of
/// the organization.
#[utoipa::path(tag = "migrants", params(("org_id" = String, Path), MigrantListQuery), responses(
    (status = 200, body = Page<MigrantRecord>),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
#[get("/orgs/{org_id}/migrants")]
pub async fn list_migrants(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
    q: web::Query<MigrantListQuery>,
) -> AppResult<web::Json<Page<MigrantRecord>>> {
    let now = state.clock.now();
    let (org_id, q, pii) = (org_id.into_inner(), q.into_inner(), state.pii.clone());
    let page = state
        .db
        .run(move |c| service::list(c, &principal, &pii, &org_id, &q, now))
        .await?;
    Ok(web::Json(page))
}

/// One time away with its contacts: the member, or managers of the home or host side.
#[utoipa::path(tag = "migrants", params(("id" = String, Path)), responses(
    (status = 200, body = MigrantDetail),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/migrants/{id}")]
pub async fn get_migrant(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<MigrantDetail>> {
    let now = state.clock.now();
    let (id, pii) = (id.into_inner(), state.pii.clone());
    let d = state
        .db
        .run(move |c| service::get(c, &principal, &pii, &id, now))
        .await?;
    Ok(web::Json(d))
}

/// The host organization accepts the member registered as flowing to it: from now on he
/// is on its rosters as `temporary`. Managers of the host.
#[utoipa::path(tag = "migrants", params(("id" = String, Path)), responses(
    (status = 200, body = MigrantDetail),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/migrants/{id}/accept")]
pub async fn accept_migrant(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<MigrantDetail>> {
    let (id, pii) = (id.into_inner(), state.pii.clone());
    let d = state
        .run_as(principal, meta, move |c, ctx| {
            service::accept(c, ctx, &pii, &id)
        })
        .await?;
    Ok(web::Json(d))
}

/// Records a contact with the member (phone, video, visit, message, his own report): by
/// managers of the home or host side; the member himself only as `self_report`. A contact
/// clears the 失联 flag.
#[utoipa::path(tag = "migrants", params(("id" = String, Path)), request_body = RecordContact,
    responses(
    (status = 201, body = MigrantContact),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/migrants/{id}/contacts")]
pub async fn record_contact(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<RecordContact>,
) -> AppResult<HttpResponse> {
    let (id, req) = (id.into_inner(), body.0);
    let c = state
        .run_as(principal, meta, move |c, ctx| {
            service::record_contact(c, ctx, &id, &req)
        })
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// The home secretary has looked into the 失联 flag (it changes no status). 409 when no
/// flag is raised. Managers of the home branch.
#[utoipa::path(tag = "migrants", params(("id" = String, Path)), request_body = ReviewLostContact,
    responses(
    (status = 200, body = MigrantDetail),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/migrants/{id}/review")]
pub async fn review_lost_contact(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<ReviewLostContact>,
) -> AppResult<web::Json<MigrantDetail>> {
    let (id, req, pii) = (id.into_inner(), body.0, state.pii.clone());
    let d = state
        .run_as(principal, meta, move |c, ctx| {
            service::review(c, ctx, &pii, &id, &req)
        })
        .await?;
    Ok(web::Json(d))
}

/// Ends the time away (returned home, relationship transferred, …): managers of either
/// side.
#[utoipa::path(tag = "migrants", params(("id" = String, Path)), request_body = EndMigrant,
    responses(
    (status = 200, body = MigrantDetail),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/migrants/{id}/end")]
pub async fn end_migrant(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<EndMigrant>,
) -> AppResult<web::Json<MigrantDetail>> {
    let (id, req, pii) = (id.into_inner(), body.0, state.pii.clone());
    let d = state
        .run_as(principal, meta, move |c, ctx| {
            service::end(c, ctx, &pii, &id, &req)
        })
        .await?;
    Ok(web::Json(d))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register_outflow)
        .service(register_inflow)
        .service(list_migrants)
        .service(get_migrant)
        .service(accept_migrant)
        .service(record_contact)
        .service(review_lost_contact)
        .service(end_migrant);
}
