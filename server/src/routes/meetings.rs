//! `/api/v1/…meetings…`: meetings, observers, exclusions, attendance and quorum. Who may
//! call what is described in [`crate::meetings`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use hongying_proto::meetings::{
    Absence, AddObserver, Attendance, AttendanceInterval, CancelMeeting, CheckIn, CreateExclusion,
    CreateMeeting, Exclusion, ExclusionDecision, MarkAttendance, Meeting, MeetingListQuery,
    Observer, PutAbsence, QrCode, QuorumReport, UpdateMeeting,
};
use hongying_proto::{Page, Problem};

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::extract::ApiJson;
use crate::meetings::{attendance, service};
use crate::routes::orgs::if_match_version;
use crate::signaling::hub::RoomEvent;
use crate::state::AppState;

fn with_etag(status: actix_web::http::StatusCode, m: &Meeting) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", m.version)))
        .json(m)
}

/// Creates a draft meeting of the organization (managers in scope). A 党小组会 is called
/// by a 党小组; `held_as` only for 组织生活会 and 民主评议.
#[utoipa::path(tag = "meetings", params(("org_id" = String, Path)), request_body = CreateMeeting,
    responses(
        (status = 201, body = Meeting),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/orgs/{org_id}/meetings")]
pub async fn create_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    org_id: web::Path<String>,
    body: ApiJson<CreateMeeting>,
) -> AppResult<HttpResponse> {
    let org_id = org_id.into_inner();
    let m = state
        .run_as(principal, meta, move |c, ctx| {
            service::create(c, ctx, &org_id, body.0)
        })
        .await?;
    let mut resp = with_etag(actix_web::http::StatusCode::CREATED, &m);
    if let Ok(v) = header::HeaderValue::from_str(&format!("/api/v1/meetings/{}", m.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The organization's meetings by scheduled start; `from`/`to` select starts in
/// `[from, to)`. Readers of the organization.
#[utoipa::path(tag = "meetings", params(("org_id" = String, Path), MeetingListQuery), responses(
    (status = 200, body = Page<Meeting>),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/orgs/{org_id}/meetings")]
pub async fn list_meetings(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
    q: web::Query<MeetingListQuery>,
) -> AppResult<web::Json<Page<Meeting>>> {
    let org_id = org_id.into_inner();
    let q = q.into_inner();
    let page = state
        .db
        .run(move |c| service::list(c, &principal, &org_id, &q))
        .await?;
    Ok(web::Json(page))
}

/// One meeting, with the actions its status allows.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Meeting),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}")]
pub async fn get_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let m = state
        .db
        .run(move |c| service::read(c, &principal, &id))
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// Changes the fields present while the meeting is a draft or scheduled (else 409
/// `illegal_transition`). A stale `version`/`If-Match` is 409 `version_conflict`. Moving a
/// scheduled meeting (time, place, mode) notifies its members.
#[utoipa::path(tag = "meetings", params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = UpdateMeeting, responses(
        (status = 200, body = Meeting),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[patch("/meetings/{id}")]
pub async fn update_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    req: HttpRequest,
    id: web::Path<String>,
    body: ApiJson<UpdateMeeting>,
) -> AppResult<HttpResponse> {
    let if_match = if_match_version(&req)?;
    let id = id.into_inner();
    let m = state
        .run_as(principal, meta, move |c, ctx| {
            service::update(c, ctx, &id, body.0, if_match)
        })
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// draft → scheduled: every member of the body gets a notice.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Meeting),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "illegal_transition with `allowed`"),
))]
#[post("/meetings/{id}/schedule")]
pub async fn schedule_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let m = state
        .run_as(principal, meta, move |c, ctx| {
            service::schedule(c, ctx, &id)
        })
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// scheduled → in_progress: freezes the roster (E) with each member's standing, keeps the
/// thresholds in force, notifies the members.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Meeting),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "illegal_transition with `allowed`"),
))]
#[post("/meetings/{id}/start")]
pub async fn start_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let m = state
        .run_as(principal, meta, move |c, ctx| {
            service::start(c, ctx, &id, &policy)
        })
        .await?;
    // The room opens with the meeting, so the first joiner does not wait for it.
    state.signaling.open_room(&m.id).await;
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// in_progress → ended: every open attendance interval closes now.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Meeting),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "illegal_transition with `allowed`"),
))]
#[post("/meetings/{id}/end")]
pub async fn end_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let m = state
        .run_as(principal, meta, move |c, ctx| service::end(c, ctx, &id))
        .await?;
    state.signaling.tell_room(
        &m.id,
        RoomEvent::End {
            reason: "meeting_ended".into(),
        },
    );
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// draft/scheduled → cancelled with a reason; members of a scheduled meeting are told.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = CancelMeeting,
    responses(
        (status = 200, body = Meeting),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "illegal_transition with `allowed`"),
        (status = 422, body = Problem),
))]
#[post("/meetings/{id}/cancel")]
pub async fn cancel_meeting(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<CancelMeeting>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let m = state
        .run_as(principal, meta, move |c, ctx| {
            service::cancel(c, ctx, &id, &body.0.reason)
        })
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &m))
}

/// E, P by mode, the rule (`2P > E`), quorate or not, and who is missing, excluded or
/// present without counting. Before the start from the body today, after it from the
/// frozen roster.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = QuorumReport),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/quorum")]
pub async fn get_quorum(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<QuorumReport>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let r = state
        .db
        .run(move |c| service::quorum(c, &principal, &id, &policy, now))
        .await?;
    Ok(web::Json(r))
}

/// Invites an observer (列席: activist, masses, guest). Managers, until the meeting ends.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = AddObserver,
    responses(
        (status = 201, body = Observer),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/meetings/{id}/observers")]
pub async fn add_observer(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<AddObserver>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let o = state
        .run_as(principal, meta, move |c, ctx| {
            service::add_observer(c, ctx, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(o))
}

/// The invited observers.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Vec<Observer>),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/observers")]
pub async fn list_observers(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Vec<Observer>>> {
    let id = id.into_inner();
    let v = state
        .db
        .run(move |c| service::list_observers(c, &principal, &id))
        .await?;
    Ok(web::Json(v))
}

/// Asks to leave a voting member out of E for this meeting (不计入应到会). It changes
/// nothing until approved as `meetings.exclusion_approval` requires.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = CreateExclusion,
    responses(
        (status = 201, body = Exclusion),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/meetings/{id}/exclusions")]
pub async fn create_exclusion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<CreateExclusion>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let e = state
        .run_as(principal, meta, move |c, ctx| {
            service::create_exclusion(c, ctx, &id, body.0, &policy)
        })
        .await?;
    Ok(HttpResponse::Created().json(e))
}

/// The meeting's exclusions with their approvals and whether each is in effect.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Vec<Exclusion>),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/exclusions")]
pub async fn list_exclusions(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Vec<Exclusion>>> {
    let id = id.into_inner();
    let policy = state.config.meetings.clone();
    let v = state
        .db
        .run(move |c| service::list_exclusions(c, &principal, &id, &policy))
        .await?;
    Ok(web::Json(v))
}

async fn decide(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: String,
    body: ExclusionDecision,
    approve: bool,
) -> AppResult<web::Json<Exclusion>> {
    let policy = state.config.meetings.clone();
    let e = state
        .run_as(principal, meta, move |c, ctx| {
            service::decide_exclusion(c, ctx, &id, body.by, approve, &policy)
        })
        .await?;
    // E may have changed.
    state.signaling.tell_room(&e.meeting_id, RoomEvent::Refresh);
    Ok(web::Json(e))
}

/// Records an approval: `by: upper` by a manager of an organization above the meeting's,
/// `by: congress` (the 党员大会 agreed) by a manager of the meeting's organization.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = ExclusionDecision,
    responses(
        (status = 200, body = Exclusion),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already decided"),
))]
#[post("/meeting-exclusions/{id}/approve")]
pub async fn approve_exclusion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<ExclusionDecision>,
) -> AppResult<web::Json<Exclusion>> {
    decide(state, principal, meta, id.into_inner(), body.0, true).await
}

/// Records a rejection (same callers as approving); a rejected exclusion never applies.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = ExclusionDecision,
    responses(
        (status = 200, body = Exclusion),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already rejected"),
))]
#[post("/meeting-exclusions/{id}/reject")]
pub async fn reject_exclusion(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<ExclusionDecision>,
) -> AppResult<web::Json<Exclusion>> {
    decide(state, principal, meta, id.into_inner(), body.0, false).await
}

/// The secretary (managers, host, recorder) records an arrival or a departure while the
/// meeting is in progress. Arriving twice returns the open interval.
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = MarkAttendance,
    responses(
        (status = 200, body = AttendanceInterval),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "meeting_not_in_progress, or leaving without an open interval"),
        (status = 422, body = Problem),
))]
#[post("/meetings/{id}/attendance")]
pub async fn mark_attendance(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<MarkAttendance>,
) -> AppResult<web::Json<AttendanceInterval>> {
    let id = id.into_inner();
    let meeting_id = id.clone();
    let i = state
        .run_as(principal, meta, move |c, ctx| {
            attendance::mark(c, ctx, &id, body.0)
        })
        .await?;
    state.signaling.tell_room(&meeting_id, RoomEvent::Refresh);
    Ok(web::Json(i))
}

/// Every attendance interval and recorded absence (readers of the meeting).
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = Attendance),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/meetings/{id}/attendance")]
pub async fn get_attendance(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Attendance>> {
    let id = id.into_inner();
    let a = state
        .db
        .run(move |c| attendance::list(c, &principal, &id))
        .await?;
    Ok(web::Json(a))
}

/// The QR check-in code to show at the venue now and when it rotates (managers, host,
/// recorder; scheduled or in progress).
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), responses(
    (status = 200, body = QrCode),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "meeting_not_in_progress"),
))]
#[get("/meetings/{id}/qr")]
pub async fn get_qr(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let id = id.into_inner();
    let config = state.config.clone();
    let q = state
        .db
        .run(move |c| attendance::qr_code(c, &principal, &id, &config, now))
        .await?;
    // The code admits whoever scans it while it lasts: no cache keeps it.
    Ok(crate::http::secret(actix_web::http::StatusCode::OK, &q))
}

/// The caller checks in at the venue with the scanned code: accepted in its window and
/// the next; older is 409 `qr_token_expired`, a code not issued for this meeting 400
/// `qr_token_invalid`. Only people on the roster or invited observers (else 403/404).
#[utoipa::path(tag = "meetings", params(("id" = String, Path)), request_body = CheckIn,
    responses(
        (status = 200, body = AttendanceInterval),
        (status = 400, body = Problem, description = "qr_token_invalid"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "qr_token_expired, meeting_not_in_progress"),
))]
#[post("/meetings/{id}/check-in")]
pub async fn check_in(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<CheckIn>,
) -> AppResult<web::Json<AttendanceInterval>> {
    let id = id.into_inner();
    let meeting_id = id.clone();
    let config = state.config.clone();
    let i = state
        .run_as(principal, meta, move |c, ctx| {
            attendance::check_in(c, ctx, &id, &body.0.token, &config)
        })
        .await?;
    state.signaling.tell_room(&meeting_id, RoomEvent::Refresh);
    Ok(web::Json(i))
}

/// Records (or replaces) why a member of the body is absent (请假 etc.). Managers.
#[utoipa::path(tag = "meetings", params(("id" = String, Path), ("member_id" = String, Path)),
    request_body = PutAbsence, responses(
        (status = 200, body = Absence),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[put("/meetings/{id}/absences/{member_id}")]
pub async fn put_absence(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
    body: ApiJson<PutAbsence>,
) -> AppResult<web::Json<Absence>> {
    let (id, member_id) = path.into_inner();
    let meeting_id = id.clone();
    let a = state
        .run_as(principal, meta, move |c, ctx| {
            attendance::put_absence(c, ctx, &id, &member_id, body.0)
        })
        .await?;
    state.signaling.tell_room(&meeting_id, RoomEvent::Refresh);
    Ok(web::Json(a))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_meeting)
        .service(list_meetings)
        .service(get_meeting)
        .service(update_meeting)
        .service(schedule_meeting)
        .service(start_meeting)
        .service(end_meeting)
        .service(cancel_meeting)
        .service(get_quorum)
        .service(add_observer)
        .service(list_observers)
        .service(create_exclusion)
        .service(list_exclusions)
        .service(approve_exclusion)
        .service(reject_exclusion)
        .service(mark_attendance)
        .service(get_attendance)
        .service(get_qr)
        .service(check_in)
        .service(put_absence);
}
