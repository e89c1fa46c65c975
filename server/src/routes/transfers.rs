//! `/api/v1/transfers`: 组织关系转接 requests and their steps; `/api/v1/letters`: the
//! introduction letters, their printout and the public check of their QR code.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use hongying_proto::transfers::{
    CreateTransfer, Letter, LetterVerification, RegisterIncoming, Transfer, TransferStepRequest,
    TransferWorklist, WorklistQuery,
};
use hongying_proto::{ErrorCode, Problem};

use crate::accounts::revocation::SocketsToClose;
use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::http::extract::ApiJson;
use crate::state::AppState;
use crate::transfers::letters::{self, LetterKeys, LetterPolicy};

/// Runs `f` with what letters need (keys and policy from the state), off the workers.
async fn with_letters<T, F>(state: &AppState, f: F) -> AppResult<T>
where
    F: FnOnce(&mut crate::db::AnyConnection, &LetterKeys<'_>, &LetterPolicy<'_>) -> AppResult<T>
        + Send
        + 'static,
    T: Send + 'static,
{
    let s = state.clone();
    state
        .db
        .run(move |c| {
            let keys = LetterKeys {
                tokens: &s.tokens,
                issuer: &s.config.auth.issuer,
                base_url: s.config.transfers.public_base_url.as_deref(),
            };
            let policy = LetterPolicy {
                pii: &s.pii,
                within_city_days: s.config.transfers.letter_validity_within_city_days,
                outside_days: s.config.transfers.letter_validity_outside_days,
            };
            f(c, &keys, &policy)
        })
        .await
}

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
    let (t, to_close) = with_letters(&state, move |c, _, policy| {
        let sockets = SocketsToClose::default();
        let t =
            crate::transfers::service::act(c, &principal, &meta, policy, &id, &req, now, &sockets)?;
        Ok((t, sockets.take()))
    })
    .await?;
    for (account_id, reason) in to_close {
        state.signaling.end_account(&account_id, reason);
    }
    Ok(web::Json(t))
}

/// 市外转入: the receiving side registers a member who came with a paper letter (its
/// serial and issuing organization). The person is entered on the receiving branch's
/// roster and counts there once the receiving committee accepts; the transfer starts at
/// that step. Managers of the receiving branch.
#[utoipa::path(tag = "transfers", request_body = RegisterIncoming, responses(
    (status = 201, body = Transfer),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_exists: the person or the letter is registered"),
    (status = 422, body = Problem),
))]
#[post("/transfers/incoming")]
pub async fn register_incoming(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<RegisterIncoming>,
) -> AppResult<HttpResponse> {
    let req = body.0;
    let pii = state.pii.clone();
    let t = state
        .run_as(principal, meta, move |c, ctx| {
            crate::transfers::service::register_incoming(c, ctx, &pii, &req)
        })
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// One introduction letter (介绍信) with its fields as printed (ID number and phone masked)
/// and the signed token of its QR code: the member, or a manager of either side.
#[utoipa::path(tag = "transfers", params(("id" = String, Path)), responses(
    (status = 200, body = Letter),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/letters/{id}")]
pub async fn get_letter(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Letter>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let l = with_letters(&state, move |c, keys, _| {
        crate::transfers::service::get_letter(c, &principal, keys, &id, now)
    })
    .await?;
    Ok(web::Json(l))
}

/// The printable letter as one HTML page (`text/html`): 存根, 介绍信 with the QR code that
/// `GET /letters/verify/{token}` checks, and 回执; the ID number masked. Readers of the
/// letter.
#[utoipa::path(tag = "transfers", params(("id" = String, Path)), responses(
    (status = 200, content_type = "text/html", body = String, description = "The printable letter"),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/letters/{id}/print")]
pub async fn print_letter(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let id = id.into_inner();
    let html = with_letters(&state, move |c, keys, _| {
        crate::transfers::service::print_letter(c, &principal, keys, &id, now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// Public, no login (the receiving side may be outside the system): whether the letter
/// whose QR code carried `token` was issued here and still holds. Masked fields only. A
/// void or expired letter answers `valid: false` with the reason; a forged or garbled
/// token 400 `letter_token_invalid`. A phone that scanned the QR code asks for HTML and
/// gets a page saying so in words (a forged code too, with status 400); JSON otherwise.
#[utoipa::path(tag = "transfers", params(("token" = String, Path)), security(()), responses(
    (status = 200, body = LetterVerification, description = "JSON by default",
        content_type = "application/json"),
    (status = 200, body = String, description = "For `Accept: text/html`: the verdict as a page",
        content_type = "text/html"),
    (status = 400, body = Problem, description = "letter_token_invalid"),
    (status = 429, body = Problem, description = "rate_limited (`transfers.verify_per_address_per_minute`)"),
))]
#[get("/letters/verify/{token}")]
pub async fn verify_letter(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> AppResult<HttpResponse> {
    // Open to anyone: without a limit it answers a token-guessing loop as fast as it asks.
    state.verify_limiter.check(
        None,
        crate::http::rate_limit::client_key(&req, &state.config.http).as_deref(),
    )?;
    let now = state.clock.now();
    let token = token.into_inner();
    let v = with_letters(&state, move |c, keys, _| {
        crate::transfers::service::verify_letter(c, keys, &token, now)
    })
    .await;
    if !wants_html(&req) {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(v?));
    }
    let (status, page) = match v {
        Ok(v) => (StatusCode::OK, letters::verification_html(Some(&v))),
        Err(AppError::Domain {
            code: ErrorCode::LetterTokenInvalid,
            ..
        }) => (StatusCode::BAD_REQUEST, letters::verification_html(None)),
        Err(e) => return Err(e),
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page))
}

/// A browser (a phone's QR scanner opens one) puts `text/html` before JSON in `Accept`;
/// an app or curl sends `application/json`, `*/*` or nothing.
fn wants_html(req: &HttpRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match (accept.find("text/html"), accept.find("application/json")) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
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
        .service(register_incoming)
        .service(get_transfer)
        .service(act_on_transfer)
        .service(transfer_worklist)
        .service(verify_letter)
        .service(get_letter)
        .service(print_letter);
}
