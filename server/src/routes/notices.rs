//! `/api/v1/notices`: the caller's notices.

use actix_web::{get, post, web};
use hongying_proto::notices::Notice;
use hongying_proto::{Page, PageQuery, Problem};

use crate::auth::Principal;
use crate::error::AppResult;
use crate::state::AppState;

/// The caller's notices, newest first (cursor paged): a member's, or for an account
/// without a member record (a 服务面对面 `public` asker, an expert) the account's own.
#[utoipa::path(tag = "notices", params(PageQuery), responses(
    (status = 200, body = Page<Notice>),
    (status = 400, body = Problem), (status = 401, body = Problem),
))]
#[get("/notices")]
pub async fn list_notices(
    state: web::Data<AppState>,
    principal: Principal,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Notice>>> {
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| crate::notices::list(c, &principal, &q))
        .await?;
    Ok(web::Json(page))
}

/// Marks one of the caller's notices read (the first reading time stays); another
/// member's notice is 404.
#[utoipa::path(tag = "notices", params(("id" = String, Path)), responses(
    (status = 200, body = Notice),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[post("/notices/{id}/read")]
pub async fn read_notice(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Notice>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let n = state
        .db
        .run(move |c| crate::notices::mark_read(c, &principal, &id, now))
        .await?;
    Ok(web::Json(n))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_notices).service(read_notice);
}
