//! `/api/v1/meetings/{id}/motions` and `/api/v1/motions/{id}…`: motions, written
//! opinions, ballots, show-of-hands tallies. Who may call what is described in
//! [`crate::motions`].

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use hongying_proto::motions::{
    Ballot, CastBallot, CreateMotion, EnterTally, Motion, RegisterWrittenOpinion, WrittenOpinion,
};
use hongying_proto::{Page, PageQuery, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::motions::service;
use crate::state::AppState;
use hongying_proto::signaling::ServerMsg;

/// Creates a motion (draft) at a meeting that has not ended. `admission`,
/// `regularization` and `probation_extension` take exactly one `candidate_member_id` and
/// need a 党员大会; `election` takes `seats` and `candidates` and is never by show of hands.
/// Managers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path, description = "Meeting id")),
    request_body = CreateMotion, responses(
    (status = 201, body = Motion),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "The meeting has ended or was cancelled"),
    (status = 422, body = Problem),
))]
#[post("/meetings/{id}/motions")]
pub async fn create_motion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<CreateMotion>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let motion = state
        .run_as(principal, meta, move |c, ctx| {
            service::create(c, ctx, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/motions/{}", motion.id)))
        .json(motion))
}

/// The meeting's motions in creation order, with results once closed. Readers of the
/// meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path, description = "Meeting id"), PageQuery),
    responses(
    (status = 200, body = Page<Motion>),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/motions")]
pub async fn list_motions(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<Motion>>> {
    let id = id.into_inner();
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| service::list(c, &principal, &id, &q))
        .await?;
    Ok(web::Json(page))
}

/// One motion: its quorum at open and close, counts, the caller's own ballot, and the
/// result once closed. Readers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), responses(
    (status = 200, body = Motion),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/motions/{id}")]
pub async fn get_motion(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Motion>> {
    let id = id.into_inner();
    let motion = state
        .db
        .run(move |c| service::read(c, &principal, &id))
        .await?;
    Ok(web::Json(motion))
}

/// Registers the written opinion (书面意见) of a voting member of the body, before the vote
/// opens, on an admission kind. It counts at the tally only if the member is then absent.
/// Managers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), request_body = RegisterWrittenOpinion,
    responses(
    (status = 201, body = WrittenOpinion),
    (status = 401, body = Problem),
    (status = 403, body = Problem, description = "forbidden, or no_voting_right for the member"),
    (status = 404, body = Problem),
    (status = 409, body = Problem, description = "Already registered, or the vote has opened"),
    (status = 422, body = Problem),
))]
#[post("/motions/{id}/written-opinions")]
pub async fn register_written_opinion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<RegisterWrittenOpinion>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let w = state
        .run_as(principal, meta, move |c, ctx| {
            service::register_written(c, ctx, &policy, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(w))
}

/// Opens the vote; the meeting must be in progress. The quorum at this moment is kept in
/// `quorum_at_open`. Managers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), responses(
    (status = 200, body = Motion),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "Not a draft, or the meeting is not in progress"),
))]
#[post("/motions/{id}/open")]
pub async fn open_motion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<Motion>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let motion = state
        .run_as(principal, meta, move |c, ctx| {
            service::open(c, ctx, &policy, &id)
        })
        .await?;
    state
        .signaling
        .registry
        .broadcast(
            &motion.meeting_id,
            ServerMsg::VoteOpened {
                motion_id: motion.id.clone(),
                title: motion.title.clone(),
                kind: motion.kind.as_str().to_string(),
            },
        )
        .await;
    Ok(web::Json(motion))
}

/// The caller's own vote: `{choice}` on a motion, `{choices: [{candidate_id, mark,
/// other_name?}]}` on an election. 201 when recorded; 200 with the recorded ballot when
/// the same vote is sent again; 409 `already_voted` for a different one.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), request_body = CastBallot, responses(
    (status = 201, body = Ballot), (status = 200, body = Ballot, description = "The same vote again"),
    (status = 401, body = Problem),
    (status = 403, body = Problem, description = "no_voting_right, not_present"),
    (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_voted, motion_closed, motion_not_open"),
    (status = 422, body = Problem, description = "invalid_ballot"),
))]
#[post("/motions/{id}/ballots")]
pub async fn cast_ballot(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<CastBallot>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let cast = state
        .run_as(principal, meta, move |c, ctx| {
            service::cast_own(c, ctx, &policy, &id, body.0)
        })
        .await?;
    Ok(if cast.created {
        HttpResponse::Created().json(cast.ballot)
    } else {
        HttpResponse::Ok().json(cast.ballot)
    })
}

/// Enters the counts of a show of hands while the vote is open (again to correct them).
/// Their sum may not exceed the voting members present (422). Managers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), request_body = EnterTally, responses(
    (status = 200, body = Motion),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/motions/{id}/tally")]
pub async fn enter_tally(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<EnterTally>,
) -> AppResult<web::Json<Motion>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let motion = state
        .run_as(principal, meta, move |c, ctx| {
            service::enter_tally(c, ctx, &policy, &id, body.0)
        })
        .await?;
    Ok(web::Json(motion))
}

/// Closes the vote and computes the result (QUORUM.md): yes counted against E, written
/// opinions of absent voting members on admission kinds, elections valid above 4/5 of E
/// with ranking and ties. The meeting must still be in progress. Managers of the meeting.
#[utoipa::path(tag = "motions", params(("id" = String, Path)), responses(
    (status = 200, body = Motion),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "motion_not_open, motion_closed, no tally entered, meeting not in progress"),
))]
#[post("/motions/{id}/close")]
pub async fn close_motion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<Motion>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let motion = state
        .run_as(principal, meta, move |c, ctx| {
            service::close(c, ctx, &policy, &id)
        })
        .await?;
    let result = motion.result.as_ref();
    state
        .signaling
        .registry
        .broadcast(
            &motion.meeting_id,
            ServerMsg::VoteClosed {
                motion_id: motion.id.clone(),
                passed: result.map(|r| r.passed),
                yes: result.map_or(0, |r| r.yes),
                no: result.map_or(0, |r| r.no),
                abstain: result.map_or(0, |r| r.abstain),
            },
        )
        .await;
    Ok(web::Json(motion))
}

/// Registers the handlers (called from [`super::configure`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_motion)
        .service(list_motions)
        .service(get_motion)
        .service(register_written_opinion)
        .service(open_motion)
        .service(cast_ballot)
        .service(enter_tally)
        .service(close_motion);
}
