//! `/api/v1/auth/…`: activation, login, token refresh, logout, password change; and the
//! activation codes branch managers issue for members' accounts.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, post, web};
use hongying_proto::Problem;
use hongying_proto::auth::{
    ActivateRequest, ActivationCode, LoginRequest, PasswordChange, RefreshRequest, TokenPair,
};

use crate::accounts::{Client, activation, service};
use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::http::rate_limit::client_key;
use crate::state::AppState;

/// The caller's address for the audit log and the rate limits. Unless forwarded headers
/// are trusted (`http.trust_forwarded`), the TCP peer, so a client cannot write whatever
/// address it likes into the audit log either.
fn client(req: &HttpRequest, mut meta: RequestMeta, state: &AppState) -> Client {
    if !state.config.http.trust_forwarded {
        meta.client_addr = req.peer_addr().map(|a| a.ip().to_string());
    }
    Client {
        meta,
        rate_key: client_key(req, &state.config.http),
    }
}

/// Secrets in a body: no cache may keep them.
fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

fn tokens(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .insert_header((header::PRAGMA, "no-cache"))
        .json(pair)
}

/// Logs in with phone and password and opens a session on `device_id`. Wrong phone and
/// wrong password are the same 401; a pending or disabled account is told so (403) only
/// when the password is right. Attempts are limited per phone and per client address
/// (429 with `Retry-After`).
#[utoipa::path(tag = "auth", security(()), request_body = LoginRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = Problem, description = "invalid_credentials"),
    (status = 403, body = Problem, description = "account_inactive; membership_ended, membership_stopped (the member was removed or his membership stopped)"),
    (status = 422, body = Problem, description = "validation_failed"),
    (status = 429, body = Problem, description = "rate_limited",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: ApiJson<LoginRequest>,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    Ok(tokens(service::login(&state, body.0, &client).await?))
}

/// Activates a member's account with the one-time code from the branch and a new
/// password, and logs in. On an already active account this resets the password and
/// ends its other sessions. A wrong, expired, used or superseded code, or an unknown
/// phone, is 400 `invalid_activation_code`. Rate-limited like login.
#[utoipa::path(tag = "auth", security(()), request_body = ActivateRequest, responses(
    (status = 200, body = TokenPair),
    (status = 400, body = Problem, description = "invalid_activation_code"),
    (status = 403, body = Problem, description = "account_inactive (disabled); membership_ended, membership_stopped"),
    (status = 422, body = Problem, description = "validation_failed (e.g. password shorter than 8)"),
    (status = 429, body = Problem, description = "rate_limited",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
#[post("/auth/activate")]
pub async fn activate(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: ApiJson<ActivateRequest>,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    Ok(tokens(activation::activate(&state, body.0, &client).await?))
}

/// Exchanges a refresh token for a new access token and a new refresh token in the same
/// session. The old refresh token is used up: presenting it again revokes the whole
/// session (401 `refresh_token_reused`). Another device id, an expired or revoked token:
/// 401 `invalid_refresh_token`.
#[utoipa::path(tag = "auth", security(()), request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, body = Problem, description = "invalid_refresh_token, refresh_token_reused"),
    (status = 403, body = Problem, description = "account_inactive; membership_ended, membership_stopped"),
    (status = 422, body = Problem, description = "validation_failed"),
))]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    Ok(tokens(service::refresh(&state, body.0, &client).await?))
}

/// Ends the caller's session: its refresh token and its access tokens stop working.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "Logged out"),
    (status = 401, body = Problem),
))]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    principal: Principal,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    service::logout(&state, principal, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the caller's account, on every device, this one included.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "All sessions ended"),
    (status = 401, body = Problem),
))]
#[post("/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    principal: Principal,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    service::logout_all(&state, principal, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the caller's password. The current password must be given (403
/// `invalid_credentials` when wrong; attempts are rate-limited like login). Every other
/// session of the account ends; this one continues.
#[utoipa::path(tag = "auth", security(("bearer" = [])), request_body = PasswordChange, responses(
    (status = 204, description = "Password changed"),
    (status = 401, body = Problem),
    (status = 403, body = Problem, description = "invalid_credentials: the current password is wrong"),
    (status = 409, body = Problem, description = "version_conflict: changed concurrently"),
    (status = 422, body = Problem, description = "validation_failed (new password shorter than 8)"),
    (status = 429, body = Problem, description = "rate_limited",
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
))]
#[post("/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    principal: Principal,
    body: ApiJson<PasswordChange>,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    service::change_password(&state, principal, body.0, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issues a one-time activation code for a member's account, to hand over in person.
/// The code is in this answer only. Issuing ends any unused older code. Branch
/// secretaries, branch committee members and org admins in scope of the member's
/// branch; 404 for members out of scope. A member without a phone has no account: 409
/// `member_has_no_account`.
#[utoipa::path(tag = "auth", security(("bearer" = [])), params(("member_id" = String, Path)),
    responses(
        (status = 201, body = ActivationCode),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "member_has_no_account; account_inactive (disabled)"),
    )
)]
#[post("/members/{member_id}/activation-code")]
pub async fn issue_activation_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: RequestMeta,
    principal: Principal,
    member_id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let client = client(&req, meta, &state);
    let code =
        activation::issue_code(&state, principal, member_id.into_inner(), client.meta).await?;
    Ok(HttpResponse::Created()
        .insert_header(no_store())
        .insert_header((header::PRAGMA, "no-cache"))
        .json(code))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(activate)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(change_password)
        .service(issue_activation_code);
}
