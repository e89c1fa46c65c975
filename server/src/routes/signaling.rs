//! `/api/v1/meetings/{id}/join-token`: the ticket a device shows on the `/ws` socket to
//! join a meeting's room. Who may have one is described in
//! [`crate::signaling::join_token`].

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use hongying_proto::Problem;
use hongying_proto::signaling::{JoinTokenResponse, SignalCode, close};
use tokio::sync::mpsc;

use crate::auth::Principal;
use crate::auth::principal::{RequestMeta, authenticate, bearer};
use crate::error::{AppError, AppResult};
use crate::http::secret;
use crate::signaling::join_token;
use crate::signaling::session::{Socket, refuse};

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
) -> AppResult<HttpResponse> {
    let (issuer, id) = (issuer(&state), id.into_inner());
    let t = state
        .db
        .run(move |c| issuer.meeting(c, &principal, &id))
        .await?;
    Ok(secret(StatusCode::OK, &t))
}

/// Issues a short-lived join token for a booked consultation's one-to-one room: to its
/// expert (with the host grant: he may end it) and its asker, from
/// `services.consultation_open_early_minutes` before the slot's start to its end (a
/// running consultation stays open to them). The room has no quorum; the consultation
/// runs while both are present and its duration is recorded when they have left.
#[utoipa::path(tag = "services", params(("id" = String, Path)), responses(
    (status = 200, body = JoinTokenResponse),
    (status = 401, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "consultation_not_open, illegal_transition"),
))]
#[post("/services/consultations/{id}/join-token")]
pub async fn issue_consultation_join_token(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let (issuer, id) = (issuer(&state), id.into_inner());
    let early =
        chrono::Duration::minutes(state.config.services.consultation_open_early_minutes.into());
    let t = state
        .db
        .run(move |c| issuer.consultation(c, &principal, &id, early))
        .await?;
    Ok(secret(StatusCode::OK, &t))
}

fn issuer(state: &AppState) -> join_token::Issuer {
    join_token::Issuer {
        tokens: state.tokens.clone(),
        issuer: state.config.auth.issuer.clone(),
        ttl_secs: state.config.auth.join_ttl_secs,
        now: state.clock.now(),
    }
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_join_token)
        .service(issue_consultation_join_token);
}

/// `GET /ws`: the signaling socket (protocol in docs/signaling.md). The device presents
/// its access token as `Authorization: Bearer …` or, where a browser cannot set headers
/// on a WebSocket, as `?access_token=…`; `?notices_since=<cursor>` replays the notices
/// after that cursor (else after the device's last acknowledged one). Bad credentials
/// and a full per-account quota are answered on the socket itself, with an error frame
/// and a close frame whose reason is the code, because a browser never sees the HTTP
/// status of a failed upgrade.
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    meta: RequestMeta,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, actix_web::Error> {
    if state.is_draining() {
        return Err(AppError::Unavailable("draining".into()).into());
    }
    let token = bearer(&req)
        .map(str::to_string)
        .or_else(|| query.get("access_token").cloned());
    let notices_since = query.get("notices_since").cloned();
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    // Frames up to four times the limit are read and answered with `frame_too_large`;
    // beyond that the codec stops reading and the socket closes (1009).
    let hard = state.config.signaling.max_frame_bytes * 4;
    let stream = stream
        .max_frame_size(hard)
        .aggregate_continuations()
        .max_continuation_size(hard);
    let state = state.get_ref().clone();
    actix_web::rt::spawn(async move {
        let principal = match token {
            Some(t) => authenticate(&state, &t).await,
            None => Err(AppError::Unauthenticated),
        };
        let principal = match principal {
            Ok(p) => p,
            Err(e) => {
                let detail = e.problem().detail;
                return refuse(session, close::UNAUTHENTICATED, e.code().as_str(), &detail).await;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = state.signaling.clone();
        let Ok(conn) = hub.connect(
            &principal.account_id,
            principal.member_id.as_deref(),
            tx.clone(),
        ) else {
            let max = state.config.signaling.max_connections_per_account;
            return refuse(
                session,
                close::TOO_MANY_CONNECTIONS,
                SignalCode::TooManyConnections.as_str(),
                &format!("同一账号最多同时保持 {max} 个连接。"),
            )
            .await;
        };
        Socket::new(state, principal, meta, session, tx, conn)
            .run(stream, rx, notices_since)
            .await;
        hub.disconnect(conn);
    });
    Ok(response)
}
