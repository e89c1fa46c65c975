//! `/api/v1/meetings/{id}/join-token`: the ticket a device shows on the `/ws` socket to
//! join a meeting's room. Who may have one is described in
//! [`crate::signaling::join_token`].

use actix_web::{post, web};
use hongying_proto::Problem;
use hongying_proto::signaling::JoinTokenResponse;

use crate::auth::Principal;
use crate::error::AppResult;
use crate::signaling::join_token;
use crate::state::AppState;

/// Issues a short-lived join token for the meeting (members of its body, invited
/// observers; with the host grant its host, recorder and managers). The meeting must be
/// scheduled or in progress.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = JoinTokenResponse),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "meeting_not_in_progress"),
))]
#[post("/meetings/{id}/join-token")]
pub async fn issue_join_token(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<JoinTokenResponse>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let tokens = state.tokens.clone();
    let issuer = state.config.auth.issuer.clone();
    let ttl = state.config.auth.join_ttl_secs;
    let t = state
        .db
        .run(move |c| join_token::issue(c, &tokens, &issuer, ttl, &principal, &id, now))
        .await?;
    Ok(web::Json(t))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_join_token);
}
