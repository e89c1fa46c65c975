//! `/api/v1/orgs…`: the organization tree and committee posts. Who may call what is
//! described in [`crate::orgs`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use hongying_proto::orgs::{
    AddPost, CreateOrg, EndPost, MoveOrg, Org, OrgDetail, OrgPost, SubtreeQuery, UpdateOrg,
};
use hongying_proto::{Page, PageQuery, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::{AppError, AppResult};
use crate::http::extract::ApiJson;
use crate::orgs::service;
use crate::state::AppState;

/// The version in an `If-Match` header: `"3"`, `W/"3"` or `3`.
pub fn if_match_version(req: &HttpRequest) -> AppResult<Option<i32>> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| AppError::InvalidHeader("If-Match"))?
        .trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s);
    s.parse::<i32>()
        .map(Some)
        .map_err(|_| AppError::InvalidHeader("If-Match"))
}

fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// Creates an organization under `parent_id`. An `org_admin` of the parent (or above)
/// may; a root only a super admin. A 党小组 only under a 支部 kind; nothing under a
/// 党小组 (422). `term_end` defaults from `term_start`: 5 years for rural and community
/// organizations, 3 otherwise.
#[utoipa::path(tag = "orgs", request_body = CreateOrg, responses(
    (status = 201, body = Org),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "Code taken, or the parent is dissolved/merged"),
    (status = 422, body = Problem),
))]
#[post("/orgs")]
pub async fn create_org(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateOrg>,
) -> AppResult<HttpResponse> {
    let org = state
        .run_as(principal, meta, move |c, ctx| {
            service::create(c, ctx, body.0)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orgs/{}", org.id)))
        .insert_header(etag(org.version))
        .json(org))
}

/// One organization with its current committee posts. Readable by managers in scope
/// and by members of it or of an organization below it; 404 for anyone else.
#[utoipa::path(tag = "orgs", params(("id" = String, Path)), responses(
    (status = 200, body = OrgDetail),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}")]
pub async fn get_org(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let today = crate::orgs::today_cn(state.clock.now());
    let id = id.into_inner();
    let org = state
        .db
        .run(move |c| service::read(c, &principal, &id, today))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(org.org.version))
        .json(org))
}

/// Changes the fields present. Needs the version read before (`version` or `If-Match`);
/// a stale one answers 409 `version_conflict`. `org_admin` in scope: every field; a
/// branch secretary or committee member in scope: `name` and `address` only (403 for
/// the rest).
#[utoipa::path(tag = "orgs", params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\"")),
    request_body = UpdateOrg, responses(
    (status = 200, body = Org),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "version_conflict"),
    (status = 422, body = Problem),
))]
#[patch("/orgs/{id}")]
pub async fn update_org(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    id: web::Path<String>,
    body: ApiJson<UpdateOrg>,
) -> AppResult<HttpResponse> {
    let if_match = if_match_version(&req)?;
    let id = id.into_inner();
    let org = state
        .run_as(principal, meta, move |c, ctx| {
            service::update(c, ctx, &id, body.0, if_match)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(org.version))
        .json(org))
}

/// Moves the organization with its whole subtree under `parent_id`. The caller must
/// manage (`org_admin`) both the old and the new parent; a root moves only by a super
/// admin. Moving under itself or a descendant is refused (422).
#[utoipa::path(tag = "orgs", params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = MoveOrg, responses(
    (status = 200, body = Org),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/orgs/{id}/move")]
pub async fn move_org(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    id: web::Path<String>,
    body: ApiJson<MoveOrg>,
) -> AppResult<HttpResponse> {
    let if_match = if_match_version(&req)?;
    let id = id.into_inner();
    let org = state
        .run_as(principal, meta, move |c, ctx| {
            service::move_org(c, ctx, &id, body.0, if_match)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(org.version))
        .json(org))
}

/// Direct children, in creation order (managers in scope).
#[utoipa::path(tag = "orgs", params(("id" = String, Path), PageQuery), responses(
    (status = 200, body = Page<Org>),
    (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}/children")]
pub async fn list_children(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Org>>> {
    let id = id.into_inner();
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| service::children(c, &principal, &id, &q))
        .await?;
    Ok(web::Json(page))
}

/// Searches below the organization (itself excluded) by name part, kind, domain and
/// status; by depth, then creation (managers in scope).
#[utoipa::path(tag = "orgs", params(("id" = String, Path), SubtreeQuery), responses(
    (status = 200, body = Page<Org>),
    (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{id}/subtree")]
pub async fn search_subtree(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<SubtreeQuery>,
) -> AppResult<web::Json<Page<Org>>> {
    let id = id.into_inner();
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| service::subtree(c, &principal, &id, &q))
        .await?;
    Ok(web::Json(page))
}

/// A member of the organization (or of one of its party groups) takes a committee post.
/// `org_admin` in scope; for a 党小组 (`group_leader`) also the branch's secretary and
/// committee. One secretary / group leader at a time (409).
#[utoipa::path(tag = "orgs", params(("id" = String, Path)), request_body = AddPost, responses(
    (status = 201, body = OrgPost),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/orgs/{id}/posts")]
pub async fn add_post(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<AddPost>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let post = state
        .run_as(principal, meta, move |c, ctx| {
            service::add_post(c, ctx, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(post))
}

/// Ends a post (the holder leaves it on `until`, default today). Same callers as adding.
#[utoipa::path(tag = "orgs", params(("id" = String, Path), ("post_id" = String, Path)),
    request_body = EndPost, responses(
    (status = 200, body = OrgPost),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/orgs/{id}/posts/{post_id}/end")]
pub async fn end_post(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
    body: ApiJson<EndPost>,
) -> AppResult<web::Json<OrgPost>> {
    let (id, post_id) = path.into_inner();
    let post = state
        .run_as(principal, meta, move |c, ctx| {
            service::end_post(c, ctx, &id, &post_id, body.0)
        })
        .await?;
    Ok(web::Json(post))
}

/// Registers the handlers (called from [`super::configure`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_org)
        .service(get_org)
        .service(update_org)
        .service(move_org)
        .service(list_children)
        .service(search_subtree)
        .service(add_post)
        .service(end_post);
}
