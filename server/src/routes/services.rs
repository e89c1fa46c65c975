//! `/api/v1/services/…`: 服务面对面. Who may call what is described in
//! [`crate::services`].

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use hongying_proto::Problem;
use hongying_proto::auth::TokenPair;
use hongying_proto::minutes::{AttachmentMeta, UploadQuery};
use hongying_proto::services::{
    AssignQuestion, BookSlot, Consultation, CreateExpert, CreatePublicAccount, CreateQuestion,
    CreateSlot, Expert, ExpertCreated, ExpertList, ExpertStatusChange, FaqEntry, FaqList, FaqQuery,
    IssuedCode, MyQuestionsQuery, PostMessage, PublishFaq, Question, QuestionList, RateQuestion,
    RegisterPublic, ServiceFieldInfo, ServiceStats, Slot, SlotList, StatsQuery, UpdateExpert,
};

use crate::accounts::Client;
use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::error::AppResult;
use crate::http::attachment;
use crate::http::extract::ApiJson;
use crate::http::rate_limit::client_key;
use crate::http::secret;
use crate::minutes::attachments;
use crate::services::{consultations, experts, faq, questions, stats};
use crate::state::AppState;

fn created<T: serde::Serialize>(body: T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

/// The configured fields (农技, 法律, 医疗 …): any signed-in caller.
#[utoipa::path(tag = "services", responses(
    (status = 200, body = Vec<ServiceFieldInfo>), (status = 401, body = Problem),
))]
#[get("/services/fields")]
pub async fn list_fields(
    state: web::Data<AppState>,
    _principal: Principal,
) -> web::Json<Vec<ServiceFieldInfo>> {
    web::Json(
        state
            .config
            .services
            .fields
            .iter()
            .map(|f| ServiceFieldInfo {
                code: f.code.clone(),
                label: f.label.clone(),
            })
            .collect(),
    )
}

// --- experts ----------------------------------------------------------------------------

/// Registers an expert (starts `pending`): an `org_admin` of `org_id` (and of every
/// serving area). A new phone gets a pending account and an activation code.
#[utoipa::path(tag = "services", request_body = CreateExpert, responses(
    (status = 201, body = ExpertCreated),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_exists"), (status = 422, body = Problem),
))]
#[post("/services/experts")]
pub async fn create_expert(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateExpert>,
) -> AppResult<HttpResponse> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let req = body.0;
    let out = state
        .run_as(principal, meta, move |c, ctx| {
            experts::create(
                c,
                ctx,
                &config.services,
                &pii,
                config.auth.activation_ttl_secs,
                req,
            )
        })
        .await?;
    Ok(secret(StatusCode::CREATED, &out))
}

/// An expert's profile: the expert and `org_admin`s in scope.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Expert), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/experts/{id}")]
pub async fn get_expert(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Expert>> {
    let config = state.config.clone();
    let id = id.into_inner();
    let e = state
        .db
        .run(move |c| experts::get(c, &principal, &config.services, &id))
        .await?;
    Ok(web::Json(e))
}

/// Edits a profile: the managing `org_admin` anything; the expert his specialities and
/// availability (403 for the rest).
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = UpdateExpert, responses(
    (status = 200, body = Expert),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "version_conflict"), (status = 422, body = Problem),
))]
#[patch("/services/experts/{id}")]
pub async fn update_expert(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<UpdateExpert>,
) -> AppResult<web::Json<Expert>> {
    let config = state.config.clone();
    let (id, req) = (id.into_inner(), body.0);
    let e = state
        .run_as(principal, meta, move |c, ctx| {
            experts::update(c, ctx, &config.services, &id, req)
        })
        .await?;
    Ok(web::Json(e))
}

/// Verifies, enables or disables an expert: the managing `org_admin` (audited). 409
/// `illegal_transition` lists what the status allows.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = ExpertStatusChange, responses(
    (status = 200, body = Expert),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/services/experts/{id}/status")]
pub async fn change_expert_status(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<ExpertStatusChange>,
) -> AppResult<web::Json<Expert>> {
    let config = state.config.clone();
    let (id, req) = (id.into_inner(), body.0);
    let e = state
        .run_as(principal, meta, move |c, ctx| {
            experts::change_status(c, ctx, &config.services, &id, req)
        })
        .await?;
    Ok(web::Json(e))
}

/// The experts an organization's subtree manages: its `org_admin`s.
#[utoipa::path(tag = "services", params(("org_id" = String, Path)), responses(
    (status = 200, body = ExpertList),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/orgs/{org_id}/experts")]
pub async fn list_experts(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
) -> AppResult<web::Json<ExpertList>> {
    let config = state.config.clone();
    let org_id = org_id.into_inner();
    let l = state
        .db
        .run(move |c| experts::list(c, &principal, &config.services, &org_id))
        .await?;
    Ok(web::Json(l))
}

/// An expert's slots that have not ended: the expert, `org_admin`s managing him, and
/// askers of a question assigned to him.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = SlotList), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/experts/{id}/slots")]
pub async fn list_slots(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<SlotList>> {
    let now = state.clock.now();
    let id = id.into_inner();
    let l = state
        .db
        .run(move |c| consultations::list_slots(c, &principal, &id, now))
        .await?;
    Ok(web::Json(l))
}

/// The calling (enabled) expert offers a time for a live consultation; overlapping his
/// own slots is 409.
#[utoipa::path(tag = "services", request_body = CreateSlot, responses(
    (status = 201, body = Slot),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem),
    (status = 422, body = Problem),
))]
#[post("/services/slots")]
pub async fn create_slot(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateSlot>,
) -> AppResult<HttpResponse> {
    let req = body.0;
    let s = state
        .run_as(principal, meta, move |c, ctx| {
            consultations::create_slot(c, ctx, req)
        })
        .await?;
    Ok(created(s))
}

// --- accounts ---------------------------------------------------------------------------

/// Opens a `public` (群众) account for a villager of `org_id`: an `org_admin` in scope (at
/// the service centre). The answer carries the one-time activation code to hand over;
/// the villager redeems it at `POST /auth/activate`.
#[utoipa::path(tag = "services", request_body = CreatePublicAccount, responses(
    (status = 201, body = IssuedCode),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_exists"), (status = 422, body = Problem),
))]
#[post("/services/public-accounts")]
pub async fn create_public_account(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreatePublicAccount>,
) -> AppResult<HttpResponse> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let req = body.0;
    let code = state
        .run_as(principal, meta, move |c, ctx| {
            experts::create_public_account(c, ctx, &pii, config.auth.activation_ttl_secs, req)
        })
        .await?;
    Ok(secret(StatusCode::CREATED, &code))
}

/// A new activation code for a `public` or `expert` account (first activation or a
/// forgotten password): `org_admin`s in scope of where its role is held.
#[utoipa::path(tag = "services", params(("account_id" = String, Path)), responses(
    (status = 201, body = IssuedCode),
    (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
))]
#[post("/services/accounts/{account_id}/activation-code")]
pub async fn reissue_code(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    account_id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let ttl = state.config.auth.activation_ttl_secs;
    let account_id = account_id.into_inner();
    let code = state
        .run_as(principal, meta, move |c, ctx| {
            experts::reissue_code(c, ctx, ttl, &account_id)
        })
        .await?;
    Ok(secret(StatusCode::CREATED, &code))
}

/// Self-registration of a `public` account and login, where the deployment allows it
/// (`services.public_self_registration`; 403 `self_registration_disabled` otherwise).
/// Limited per client address (429).
#[utoipa::path(tag = "services", security(()), request_body = RegisterPublic, responses(
    (status = 200, body = TokenPair),
    (status = 403, body = Problem, description = "self_registration_disabled"),
    (status = 409, body = Problem, description = "already_exists"),
    (status = 422, body = Problem), (status = 429, body = Problem, description = "rate_limited"),
))]
#[post("/services/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut meta: RequestMeta,
    body: ApiJson<RegisterPublic>,
) -> AppResult<HttpResponse> {
    if !state.config.http.trust_forwarded {
        meta.client_addr = req.peer_addr().map(|a| a.ip().to_string());
    }
    let client = Client {
        meta,
        rate_key: client_key(&req, &state.config.http),
    };
    let pair = experts::register(&state, body.0, &client).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pair))
}

// --- questions --------------------------------------------------------------------------

/// Asks a question (members and `public` accounts) in the own organization or one above
/// it (default: the own). It goes to the enabled experts of the field nearest up the
/// tree; with none, 422 `no_expert_available`.
#[utoipa::path(tag = "services", request_body = CreateQuestion, responses(
    (status = 201, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem, description = "no_expert_available, validation_failed"),
))]
#[post("/services/questions")]
pub async fn create_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    body: ApiJson<CreateQuestion>,
) -> AppResult<HttpResponse> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let req = body.0;
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::create(c, ctx, &config.services, &pii, req)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/services/questions/{}", q.id),
        ))
        .json(q))
}

/// The caller's questions: asked (default), assigned to him as expert, or offered to him.
#[utoipa::path(tag = "services", params(MyQuestionsQuery), responses(
    (status = 200, body = QuestionList), (status = 401, body = Problem),
))]
#[get("/services/questions")]
pub async fn my_questions(
    state: web::Data<AppState>,
    principal: Principal,
    q: web::Query<MyQuestionsQuery>,
) -> AppResult<web::Json<QuestionList>> {
    let role = q.into_inner().role.unwrap_or_default();
    let l = state
        .db
        .run(move |c| questions::list_mine(c, &principal, role))
        .await?;
    Ok(web::Json(l))
}

/// One question with its thread, attachments and consultations: its asker, its expert,
/// the experts it is offered to (without the asker's phone) and `org_admin`s in scope;
/// 404 for anyone else.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Question), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/questions/{id}")]
pub async fn get_question(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Question>> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let id = id.into_inner();
    let q = state
        .db
        .run(move |c| questions::get(c, &principal, &config.services, &pii, &id))
        .await?;
    Ok(web::Json(q))
}

/// Accepts an offered question: an expert it is offered to.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/services/questions/{id}/accept")]
pub async fn accept_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<Question>> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let id = id.into_inner();
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::accept(c, ctx, &config.services, &pii, &id)
        })
        .await?;
    Ok(web::Json(q))
}

/// Declines an offered question; when all it is offered to have declined, the next
/// level up gets it, or it escalates.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 204),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/services/questions/{id}/decline")]
pub async fn decline_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    state
        .run_as(principal, meta, move |c, ctx| {
            questions::decline(c, ctx, &id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An answer (the assigned expert; another expert 403 `not_assigned`) or a follow-up
/// (the asker). 409 `question_closed` once closed.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = PostMessage, responses(
    (status = 201, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem, description = "not_assigned, forbidden"),
    (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/messages")]
pub async fn post_message(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<PostMessage>,
) -> AppResult<HttpResponse> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let (id, text) = (id.into_inner(), body.0.text);
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::post_message(c, ctx, &config.services, &pii, &id, &text)
        })
        .await?;
    Ok(created(q))
}

/// Closes the question: the asker.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/services/questions/{id}/close")]
pub async fn close_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<Question>> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let id = id.into_inner();
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::close(c, ctx, &config.services, &pii, &id)
        })
        .await?;
    Ok(web::Json(q))
}

/// Rates the answer 1–5 with a comment, once (409 `already_rated`), after an answer (409
/// `not_answered`): the asker.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = RateQuestion, responses(
    (status = 200, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "already_rated, not_answered"),
    (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/rating")]
pub async fn rate_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<RateQuestion>,
) -> AppResult<web::Json<Question>> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let (id, req) = (id.into_inner(), body.0);
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::rate(c, ctx, &config.services, &pii, &id, req)
        })
        .await?;
    Ok(web::Json(q))
}

/// Assigns a waiting or escalated question to an enabled expert of its field serving
/// its area: an `org_admin` in scope.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = AssignQuestion, responses(
    (status = 200, body = Question),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/assign")]
pub async fn assign_question(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<AssignQuestion>,
) -> AppResult<web::Json<Question>> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let (id, req) = (id.into_inner(), body.0);
    let q = state
        .run_as(principal, meta, move |c, ctx| {
            questions::assign(c, ctx, &config.services, &pii, &id, req)
        })
        .await?;
    Ok(web::Json(q))
}

/// Attaches a photo or document to the question: the raw file as the body, its name in
/// `?filename=`. PNG, JPEG or PDF decided from the content (415 otherwise, whatever the
/// name); the declared type and the extension must fit (422 `invalid_attachment`); at
/// most `services.attachment_max_bytes` (413) and `services.max_attachments` files (409
/// `too_many_attachments`). The asker, until the question is closed.
#[utoipa::path(tag = "services", params(("id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses(
    (status = 201, body = AttachmentMeta),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
    (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/attachments")]
pub async fn upload_question_attachment(
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
    let config = state.config.clone();
    {
        let (principal, id, config) = (principal.clone(), id.clone(), config.clone());
        state
            .db
            .run(move |c| questions::check_upload(c, &principal, &config.services, &id))
            .await?;
    }
    let limit = config
        .services
        .attachment_max_bytes
        .min(config.http.upload_limit);
    let data_dir = config.data_dir.clone();
    let attachment::Received { kind, sha, size } =
        attachment::receive(&req, payload, limit, &filename, data_dir).await?;
    let meta_row = state
        .run_as(principal, meta, move |c, ctx| {
            questions::add_attachment(c, ctx, &config.services, &id, &filename, kind, &sha, size)
        })
        .await?;
    Ok(attachment::created(
        format!("/api/v1/services/attachments/{}", meta_row.id),
        meta_row,
    ))
}

/// Downloads a question's attachment: those who may read the question (404 otherwise).
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, description = "The file, with its detected content type"),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/attachments/{id}")]
pub async fn get_question_attachment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let row = state
        .db
        .run(move |c| questions::attachment_for(c, &principal, &id))
        .await?;
    attachment::download(state.config.data_dir.clone(), row).await
}

/// Escalated questions of an organization's subtree, oldest first: its `org_admin`s.
#[utoipa::path(tag = "services", params(("org_id" = String, Path)), responses(
    (status = 200, body = QuestionList),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/orgs/{org_id}/escalations")]
pub async fn escalations(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
) -> AppResult<web::Json<QuestionList>> {
    let org_id = org_id.into_inner();
    let l = state
        .db
        .run(move |c| questions::escalations(c, &principal, &org_id))
        .await?;
    Ok(web::Json(l))
}

// --- FAQ --------------------------------------------------------------------------------

/// Publishes an answered question as an anonymized FAQ entry (the admin may rewrite the
/// texts; the asker's name and phone are removed): an `org_admin` in scope.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = PublishFaq, responses(
    (status = 201, body = FaqEntry),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "not_answered, already_exists"),
    (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/faq")]
pub async fn publish_faq(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<PublishFaq>,
) -> AppResult<HttpResponse> {
    let (config, pii) = (state.config.clone(), state.pii.clone());
    let (id, req) = (id.into_inner(), body.0);
    let f = state
        .run_as(principal, meta, move |c, ctx| {
            faq::publish(c, ctx, &config.services, &pii, &id, req)
        })
        .await?;
    Ok(created(f))
}

/// Searches the FAQ entries that apply to a place (published there or above it; a
/// manager also sees those below): the place must be the caller's (where he lives or
/// serves, or in his management scope), 404 otherwise. Default place: the caller's own.
#[utoipa::path(tag = "services", params(FaqQuery), responses(
    (status = 200, body = FaqList), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/faq")]
pub async fn search_faq(
    state: web::Data<AppState>,
    principal: Principal,
    q: web::Query<FaqQuery>,
) -> AppResult<web::Json<FaqList>> {
    let config = state.config.clone();
    let q = q.into_inner();
    let l = state
        .db
        .run(move |c| faq::search(c, &principal, &config.services, &q))
        .await?;
    Ok(web::Json(l))
}

// --- consultations ----------------------------------------------------------------------

/// Books one of the assigned expert's open slots for a live consultation: the asker.
/// A booked slot is 409 `slot_taken`.
#[utoipa::path(tag = "services", params(("id" = String, Path)), request_body = BookSlot, responses(
    (status = 201, body = Consultation),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "slot_taken, illegal_transition"),
    (status = 422, body = Problem),
))]
#[post("/services/questions/{id}/consultations")]
pub async fn book_consultation(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
    body: ApiJson<BookSlot>,
) -> AppResult<HttpResponse> {
    let (id, slot) = (id.into_inner(), body.0.slot_id);
    let c = state
        .run_as(principal, meta, move |c, ctx| {
            consultations::book(c, ctx, &id, &slot)
        })
        .await?;
    Ok(created(c))
}

/// One consultation: those who may read its question.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Consultation), (status = 401, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/consultations/{id}")]
pub async fn get_consultation(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<web::Json<Consultation>> {
    let id = id.into_inner();
    let c = state
        .db
        .run(move |c| consultations::get(c, &principal, &id))
        .await?;
    Ok(web::Json(c))
}

/// Cancels a booked consultation (the slot opens again): its asker or its expert.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = Consultation),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
#[post("/services/consultations/{id}/cancel")]
pub async fn cancel_consultation(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: web::Path<String>,
) -> AppResult<web::Json<Consultation>> {
    let id = id.into_inner();
    let c = state
        .run_as(principal, meta, move |c, ctx| {
            consultations::cancel(c, ctx, &id)
        })
        .await?;
    Ok(web::Json(c))
}

// --- statistics -------------------------------------------------------------------------

/// Per field for an organization's subtree: questions, median and p90 time to the first
/// answer, resolution rate, mean rating: its `org_admin`s.
#[utoipa::path(tag = "services", params(("org_id" = String, Path), StatsQuery), responses(
    (status = 200, body = ServiceStats),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
#[get("/services/orgs/{org_id}/stats")]
pub async fn service_stats(
    state: web::Data<AppState>,
    principal: Principal,
    org_id: web::Path<String>,
    q: web::Query<StatsQuery>,
) -> AppResult<web::Json<ServiceStats>> {
    let config = state.config.clone();
    let (org_id, q) = (org_id.into_inner(), q.into_inner());
    let s = state
        .db
        .run(move |c| stats::stats(c, &principal, &config.services, &org_id, &q))
        .await?;
    Ok(web::Json(s))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_fields)
        .service(create_expert)
        .service(get_expert)
        .service(update_expert)
        .service(change_expert_status)
        .service(list_experts)
        .service(list_slots)
        .service(create_slot)
        .service(create_public_account)
        .service(reissue_code)
        .service(register)
        .service(create_question)
        .service(my_questions)
        .service(get_question)
        .service(accept_question)
        .service(decline_question)
        .service(post_message)
        .service(close_question)
        .service(rate_question)
        .service(assign_question)
        .service(upload_question_attachment)
        .service(get_question_attachment)
        .service(escalations)
        .service(publish_faq)
        .service(search_faq)
        .service(book_consultation)
        .service(get_consultation)
        .service(cancel_consultation)
        .service(service_stats);
}
