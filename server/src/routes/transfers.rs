//! `/api/v1/transfers`: 组织关系转接 requests and their steps.

use actix_web::{get, post, web};
use hongying_proto::Problem;
use hongying_proto::transfers::{
    CreateTransfer, Transfer, TransferStepRequest, TransferWorklist, WorklistQuery,
};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::state::AppState;

/// Starts a transfer: the member himself or a secretary/committee member of his branch.
#[utoipa::path(tag = "transfers", request_body = CreateTransfer, responses(
    (status = 201, body = Transfer),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/transfers")]
pub async fn create_transfer(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateTransfer>,
) -> AppResult<actix_web::HttpResponse> {
    let now = state.clock.now();
    let req = body.0;
    let t = state
        .db
        .run(move |c| crate::transfers::service::create(c, &principal, &meta, &req, now))
        .await?;
    Ok(actix_web::HttpResponse::Created().json(t))
}

/// One transfer with its steps: the member, or a manager in scope of either side.
#[utoipa::path(tag = "transfers", params(("id" = String, Path)), responses(
    (status = 200, body = Transfer),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/transfers/{id}")]
pub async fn get_transfer(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Transfer>> {
    let id = id.into_inner();
    let t = state
        .db
        .run(move |c| crate::transfers::service::get(c, &principal, &id))
        .await?;
    Ok(web::Json(t))
}

/// Takes one step; only the party the step belongs to (403 otherwise), 409
/// `illegal_transition` naming the allowed steps, 409 `version_conflict` when another
/// step won.
#[utoipa::path(tag = "transfers", params(("id" = String, Path)), request_body = TransferStepRequest, responses(
    (status = 200, body = Transfer),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/transfers/{id}/steps")]
pub async fn act_on_transfer(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<TransferStepRequest>,
) -> AppResult<web::Json<Transfer>> {
    let now = state.clock.now();
    let (id, req) = (id.into_inner(), body.0);
    let t = state
        .db
        .run(move |c| crate::transfers::service::act(c, &principal, &meta, &id, &req, now))
        .await?;
    Ok(web::Json(t))
}

/// An organization's transfer work lists (待办, 未办结, history out and in, overdue) with
/// counts for the dashboard: managers of the organization.
#[utoipa::path(tag = "transfers", params(("org_id" = String, Path), WorklistQuery), responses(
    (status = 200, body = TransferWorklist),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
#[get("/orgs/{org_id}/transfers/worklist")]
pub async fn transfer_worklist(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
    q: web::Query<WorklistQuery>,
) -> AppResult<web::Json<TransferWorklist>> {
    let now = state.clock.now();
    let (org_id, days) = (org_id.into_inner(), q.into_inner().overdue_days);
    let w = state
        .db
        .run(move |c| crate::transfers::service::worklist(c, &principal, &org_id, days, now))
        .await?;
    Ok(web::Json(w))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_transfer)
        .service(get_transfer)
        .service(act_on_transfer)
        .service(transfer_worklist);
}
