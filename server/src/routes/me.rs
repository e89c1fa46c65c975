//! `/api/v1/me`: the caller's own profile.

use actix_web::{get, web};
use hongying_proto::Problem;
use hongying_proto::auth::Me;

use crate::accounts::service;
use crate::auth::Principal;
use crate::error::AppResult;
use crate::state::AppState;

/// The caller: account, masked phone, kind, roles (with the organizations they are held
/// at) and, for a member, the branch holding the membership.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    (status = 401, body = Problem, description = "unauthenticated, token_expired"),
))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, principal: Principal) -> AppResult<web::Json<Me>> {
    Ok(web::Json(service::me(&state, principal).await?))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(me);
}
