//! `/api/v1/meetings/{id}/minutes…` and `/api/v1/attachments/{id}`: the minutes record,
//! its sign-off, submission and review, attachments and export. Who may call what is
//! described in [`crate::minutes`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use hongying_proto::Problem;
use hongying_proto::minutes::{
    AddPoint, AttachmentMeta, ExportFormat, ExportQuery, MinutePoint, MinutesRecord, PutMinutes,
    ReviewMinutes, SignMinutes, UploadQuery,
};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::attachment;
use crate::http::extract::ApiJson;
use crate::minutes::{attachments, export, service};
use crate::state::AppState;

/// The full record: header, attendance table (应到/实到 by standing and mode, absentees
/// with reasons, observers, exclusions with approvals, written opinions), points,
/// resolutions, motions with counts and results, sign-offs, attachments. Readers of the
/// meeting.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")), responses(
    (status = 200, body = MinutesRecord),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/minutes")]
pub async fn get_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<MinutesRecord>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let record = state
        .db
        .run(move |c| service::read(c, &principal, &policy, &id, now))
        .await?;
    Ok(web::Json(record))
}

/// Appends one speaker's point (sequence 1, 2, 3…). Managers, the host and the recorder,
/// while the meeting is in progress or ended and the minutes are not submitted.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")),
    request_body = AddPoint, responses(
    (status = 201, body = MinutePoint),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/meetings/{id}/minutes/points")]
pub async fn add_point(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<AddPoint>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let point = state
        .run_as(principal, meta, move |c, ctx| {
            service::add_point(c, ctx, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(point))
}

/// Replaces the summary and resolutions (clears signatures given before). Same callers
/// and states as adding points.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")),
    request_body = PutMinutes, responses(
    (status = 200, body = MinutesRecord),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[put("/meetings/{id}/minutes")]
pub async fn put_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<PutMinutes>,
) -> AppResult<web::Json<MinutesRecord>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let record = state
        .run_as(principal, meta, move |c, ctx| {
            service::put(c, ctx, &policy, &id, body.0)
        })
        .await?;
    Ok(web::Json(record))
}

/// Signs the minutes `as: host` or `as: recorder`: only the meeting's host or recorder
/// member themself, once the meeting has ended.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")),
    request_body = SignMinutes, responses(
    (status = 200, body = MinutesRecord),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/meetings/{id}/minutes/sign")]
pub async fn sign_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<SignMinutes>,
) -> AppResult<web::Json<MinutesRecord>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let record = state
        .run_as(principal, meta, move |c, ctx| {
            service::sign(c, ctx, &policy, &id, body.0.as_)
        })
        .await?;
    Ok(web::Json(record))
}

/// Submits the minutes: the meeting must have ended (409 `illegal_transition`) and both
/// signatures be given (409 `conflict`). The meeting moves to `minutes_submitted`.
/// Managers of the meeting.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")), responses(
    (status = 200, body = MinutesRecord),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/meetings/{id}/minutes/submit")]
pub async fn submit_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<MinutesRecord>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let record = state
        .run_as(principal, meta, move |c, ctx| {
            service::submit(c, ctx, &policy, &id)
        })
        .await?;
    Ok(web::Json(record))
}

/// The upper organization reviews submitted minutes (a manager of an organization
/// strictly above the meeting's); the meeting moves to `reviewed`.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id")),
    request_body = ReviewMinutes, responses(
    (status = 200, body = MinutesRecord),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/meetings/{id}/minutes/review")]
pub async fn review_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<ReviewMinutes>,
) -> AppResult<web::Json<MinutesRecord>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let record = state
        .run_as(principal, meta, move |c, ctx| {
            service::review(c, ctx, &policy, &id, body.0)
        })
        .await?;
    Ok(web::Json(record))
}

/// The record as a download: `format=json` (default) or `format=html`, a printable
/// 记录本 page. Readers of the meeting.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id"), ExportQuery),
    responses(
    (status = 200, body = MinutesRecord, description = "JSON, or text/html for format=html"),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/minutes/export")]
pub async fn export_minutes(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let format = q.into_inner().format.unwrap_or(ExportFormat::Json);
    let meeting_id = id.clone();
    let record = state
        .db
        .run(move |c| service::read(c, &principal, &policy, &id, now))
        .await?;
    Ok(match format {
        ExportFormat::Json => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"minutes-{meeting_id}.json\""),
            ))
            .json(record),
        ExportFormat::Html => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"minutes-{meeting_id}.html\""),
            ))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ))
            .body(export::html(&record)),
    })
}

/// Uploads an attachment: the raw file as the body, its name in `?filename=`. PNG, JPEG
/// and PDF only, decided from the content (415 otherwise); the declared `Content-Type` and
/// the name's extension must fit the content (422 `invalid_attachment`); at most
/// `http.upload_limit` bytes (413). Managers, the host and the recorder, until the
/// minutes are submitted.
#[utoipa::path(tag = "minutes", params(("id" = String, Path, description = "Meeting id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses(
    (status = 201, body = AttachmentMeta),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem),
))]
#[post("/meetings/{id}/attachments")]
pub async fn upload_attachment(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<UploadQuery>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let filename = attachments::clean_filename(&q.into_inner().filename)?;
    {
        let (principal, id) = (principal.clone(), id.clone());
        state
            .db
            .run(move |c| service::check_upload(c, &principal, &id))
            .await?;
    }
    let limit = state.config.http.upload_limit;
    let data_dir = state.config.data_dir.clone();
    let attachment::Received { kind, sha, size } =
        attachment::receive(&req, payload, limit, &filename, data_dir).await?;
    let meta_row = state
        .run_as(principal, meta, move |c, ctx| {
            service::add_attachment(c, ctx, &id, &filename, kind, &sha, size)
        })
        .await?;
    Ok(attachment::created(
        format!("/api/v1/attachments/{}", meta_row.id),
        meta_row,
    ))
}

/// Downloads an attachment, to readers of its meeting (404 for anyone else).
#[utoipa::path(tag = "minutes", params(("id" = String, Path)), responses(
    (status = 200, description = "The file, with its detected content type"),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/attachments/{id}")]
pub async fn get_attachment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let row = state
        .db
        .run(move |c| service::attachment_for(c, &principal, &id))
        .await?;
    attachment::download(state.config.data_dir.clone(), row).await
}

/// Registers the handlers (called from [`super::configure`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_minutes)
        .service(add_point)
        .service(put_minutes)
        .service(sign_minutes)
        .service(submit_minutes)
        .service(review_minutes)
        .service(export_minutes)
        .service(upload_attachment)
        .service(get_attachment);
}
