//! `/api/v1/transfers`: 组织关系转接 requests and their steps.

use actix_web::{get, post, web};
use hongying_proto::Problem;
use hongying_proto::transfers::{CreateTransfer, Transfer, TransferStepRequest};

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

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_transfer)
        .service(get_transfer)
        .service(act_on_transfer);
}
