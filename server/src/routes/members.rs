//! `/api/v1/…members…`: the roster. Who may call what is described in
//! [`crate::members`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use futures_util::StreamExt;
use hongying_proto::members::{
    CreateMember, FlagsChange, HistoryEntry, ImportQuery, ImportReport, MemberListItem,
    MemberListQuery, MemberLookupQuery, MemberReadQuery, MemberView, RosterFile, StatusChange,
    UpdateMember,
};
use hongying_proto::{ErrorCode, Page, PageQuery, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::http::extract::ApiJson;
use crate::import::{self, Format};
use crate::members::service;
use crate::state::AppState;

fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

fn ok(view: MemberView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view)
}

/// Enters a person on the roster of a branch (党支部, 联合党支部 or 党总支). Managers in
/// scope. The gender and birth date follow from the ID number (given ones must agree); a
/// bad ID number answers 422 `invalid_id_number`, a number or phone already on the roster
/// 409 `already_exists`. A phone gives the member a pending account.
#[utoipa::path(tag = "members", params(("org_id" = String, Path)), request_body = CreateMember, responses(
    (status = 201, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_exists; or the branch is dissolved"),
    (status = 422, body = Problem, description = "validation_failed, invalid_id_number, not_a_branch"),
))]
#[post("/orgs/{org_id}/members")]
pub async fn create_member(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    org_id: web::Path<String>,
    body: ApiJson<CreateMember>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let org_id = org_id.into_inner();
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::create(c, ctx, &pii, &org_id, &body.0)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/members/{}", view.id)))
        .insert_header(etag(view.version))
        .json(view))
}

/// A branch's members, ordered by name. Managers in scope get the masked profiles and
/// may filter by `flags`; `subtree=true` (org admins only) takes in every branch below.
/// A member of this branch gets names and statuses only. Removed people are listed only
/// when `status` asks for them.
#[utoipa::path(tag = "members", params(("org_id" = String, Path), MemberListQuery), responses(
    (status = 200, body = Page<MemberListItem>),
    (status = 400, body = Problem, description = "invalid_query, invalid_cursor"),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{org_id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    org_id: web::Path<String>,
    query: web::Query<MemberListQuery>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let org_id = org_id.into_inner();
    let page = state
        .run_as(principal, meta, move |c, ctx| {
            service::list(c, ctx, &pii, &org_id, &query)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Finds a member by national ID number (exact match). Managers; a member outside the
/// caller's scope is 404 like an unknown number. Audited.
#[utoipa::path(tag = "members", params(MemberLookupQuery), responses(
    (status = 200, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem, description = "invalid_id_number"),
))]
#[get("/members/lookup")]
pub async fn lookup_member(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    query: web::Query<MemberLookupQuery>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::lookup(c, ctx, &pii, &query.id_number)
        })
        .await?;
    Ok(ok(view))
}

/// One member: managers in scope and the member. `reveal=true` shows the ID number and
/// phone in full to the member, the secretary of the member's branch and org admins in
/// scope (403 for other readers) and is audited as `member.read_sensitive`.
#[utoipa::path(tag = "members", params(("id" = String, Path), MemberReadQuery), responses(
    (status = 200, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/members/{id}")]
pub async fn get_member(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    query: web::Query<MemberReadQuery>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let id = id.into_inner();
    let reveal = query.reveal.unwrap_or(false);
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::read(c, ctx, &pii, &id, reveal)
        })
        .await?;
    Ok(ok(view))
}

/// Changes profile fields (managers in scope). `version` must be the one read (409
/// `version_conflict` otherwise); `null` clears a nullable field. The status, flags and
/// branch change through their own endpoints.
#[utoipa::path(tag = "members", params(("id" = String, Path)), request_body = UpdateMember, responses(
    (status = 200, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "version_conflict, already_exists"),
    (status = 422, body = Problem),
))]
#[patch("/members/{id}")]
pub async fn update_member(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<UpdateMember>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let id = id.into_inner();
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::update(c, ctx, &pii, &id, &body.0)
        })
        .await?;
    Ok(ok(view))
}

/// Moves a person along applicant → activist → candidate → probationary → full, extends
/// the probation once (6–12 months), or removes them (with a reason). Managers in scope.
/// Out of order: 409 `illegal_transition` with `allowed`; in order but too early (less
/// than a year as activist, probation not ended) or an applicant under 18: 409
/// `transition_precondition`.
#[utoipa::path(tag = "members", params(("id" = String, Path)), request_body = StatusChange, responses(
    (status = 200, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "illegal_transition, transition_precondition, version_conflict"),
    (status = 422, body = Problem),
))]
#[post("/members/{id}/status")]
pub async fn change_status(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<StatusChange>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let id = id.into_inner();
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::change_status(c, ctx, &pii, &id, &body.0)
        })
        .await?;
    Ok(ok(view))
}

/// Sets or clears 留党察看 (`discipline_until`), suspended rights, 停止党籍 and 失联.
/// Managers in scope. Each change goes to the history and the audit log.
#[utoipa::path(tag = "members", params(("id" = String, Path)), request_body = FlagsChange, responses(
    (status = 200, body = MemberView),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "transition_precondition, version_conflict"),
    (status = 422, body = Problem),
))]
#[post("/members/{id}/flags")]
pub async fn change_flags(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<FlagsChange>,
) -> AppResult<HttpResponse> {
    let pii = state.pii.clone();
    let id = id.into_inner();
    let view = state
        .run_as(principal, meta, move |c, ctx| {
            service::change_flags(c, ctx, &pii, &id, &body.0)
        })
        .await?;
    Ok(ok(view))
}

/// Status and flag changes, oldest first. Managers in scope and the member.
#[utoipa::path(tag = "members", params(("id" = String, Path), PageQuery), responses(
    (status = 200, body = Page<HistoryEntry>),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/members/{id}/history")]
pub async fn member_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let page = state
        .db
        .run(move |c| service::history(c, &principal, &id, query.cursor.as_deref(), query.limit))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Imports a roster file (the body: a .csv as `text/csv`, UTF-8 or GB18030, or an .xlsx
/// as `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`) into this
/// organization and the branches below it. Managers in scope. Nothing is written unless
/// every row is valid, or `partial=true` writes the valid ones; `dry_run=true` writes
/// nothing. An invalid file answers 422 `import_invalid`, each problem in `errors` as
/// `rows[<row>].<column header>`. Re-importing a file changes nothing (rows matching the
/// roster are `unchanged`). The columns are listed in [`crate::import`].
#[utoipa::path(tag = "members", params(("org_id" = String, Path), ImportQuery),
    request_body(description = "The roster file", content(
        (RosterFile = "text/csv"),
        (RosterFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )),
    responses(
    (status = 200, body = ImportReport),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem, description = "import_invalid: the rows and columns at fault"),
))]
#[post("/orgs/{org_id}/members/import")]
#[allow(clippy::too_many_arguments)]
pub async fn import_roster(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    org_id: web::Path<String>,
    query: web::Query<ImportQuery>,
    mut payload: web::Payload,
) -> AppResult<HttpResponse> {
    // Authorize before looking at the body: an outsider's upload is not even read.
    let org_id = org_id.into_inner();
    {
        let (principal, org_id) = (principal.clone(), org_id.clone());
        state
            .db
            .run(move |c| {
                crate::authz::require_manage_org(
                    c,
                    &principal,
                    &org_id,
                    &crate::auth::Role::MANAGERS,
                )
            })
            .await?;
    }
    let format = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_mime)
        .ok_or_else(|| AppError::Domain {
            status: 415,
            code: ErrorCode::UnsupportedMediaType,
            detail: "请上传 CSV 文件（text/csv）或 Excel 文件（.xlsx）。".into(),
        })?;
    let limit = state.config.http.upload_limit;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("读取上传文件失败：{e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let bytes = body.freeze();
    let pii = state.pii.clone();
    let opts = import::Options {
        dry_run: query.dry_run.unwrap_or(false),
        partial: query.partial.unwrap_or(false),
        source_name: "upload".into(),
    };
    let report = state
        .run_as(principal, meta, move |c, ctx| {
            import::import_members(
                c,
                ctx,
                &pii,
                &org_id,
                format,
                std::io::Cursor::new(bytes),
                &opts,
                &mut |_| {},
            )
        })
        .await?;
    if !report.valid {
        return Err(import::invalid(&report));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Registers the roster's routes (`/members/lookup` before `/members/{id}`).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_member)
        .service(import_roster)
        .service(list_members)
        .service(lookup_member)
        .service(get_member)
        .service(update_member)
        .service(change_status)
        .service(change_flags)
        .service(member_history);
}
