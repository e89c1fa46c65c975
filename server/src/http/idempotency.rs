//! `Idempotency-Key` on POST, PUT and PATCH: the same key with the same request replays
//! the first response without doing the work again; the same key with a different
//! request is refused (422 `idempotency_key_reused`); a key still in flight answers 409
//! `idempotency_key_in_progress`.
//!
//! A key belongs to the account, not to one token: a phone that refreshes its access
//! token between two attempts (what it does on a weak link) still gets the first answer.
//! The caller is therefore authenticated here, before anything is read or written (a
//! bad token answers 401 and leaves no row), and the principal is handed on to the
//! handler. Anonymous requests have no account to scope a key to: the header is
//! ignored for them (the anonymous endpoints — login, activation, refresh,
//! registration — answer secrets, which are never stored anyway). The request
//! fingerprint is a hash of the method, the path with query and the body; the body is
//! read within `http.json_limit` (or `http.upload_limit` for a file upload), refused
//! with 413 by its `Content-Length` before any of it is read. Responses are kept unless
//! they are 5xx or 429 (those failed before the work was done, so a retry must do it)
//! or marked `Cache-Control: no-store` (they carry secrets, which must not sit in a
//! table: a retry runs again, see [`crate::http::secret`]).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::principal::{authenticate, bearer};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::idempotency::{self as store, Begin, Claim, StoredResponse};

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let applies = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let key = req.headers().get(&HEADER).cloned();
    let (Some(key), true) = (key, applies) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let key = match valid_key(&key) {
        Some(k) => k,
        None => return Ok(reply(req, AppError::InvalidIdempotencyKey.error_response())),
    };
    let Some(token) = bearer(req.request()).map(str::to_string) else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let principal = match authenticate(&state, &token).await {
        Ok(p) => p,
        Err(e) => return Ok(reply(req, e.error_response())),
    };
    let scope = format!("account:{}", principal.account_id);
    req.extensions_mut().insert(principal);

    // Read the body to fingerprint it, then hand it back to the handler unchanged.
    let limit = body_limit(&req, &state.config.http);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(reply(
            req,
            AppError::PayloadTooLarge { limit }.error_response(),
        ));
    }
    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return Ok(reply(
                    req,
                    AppError::BadRequest(format!("读取请求体失败：{e}")).error_response(),
                ));
            }
        };
        if body.len() + chunk.len() > limit {
            return Ok(reply(
                req,
                AppError::PayloadTooLarge { limit }.error_response(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let fingerprint = fingerprint(req.method(), &req.uri().to_string(), &body);
    req.set_payload(actix_http::Payload::from(body));

    let principal = scope;
    let now = state.clock.now();
    let idem = &state.config.idempotency;
    let outcome = {
        let (principal, key, fingerprint) = (principal.clone(), key.clone(), fingerprint.clone());
        let locked_until = now + chrono::Duration::seconds(idem.lock_secs as i64);
        let expires_at = now + chrono::Duration::seconds(idem.ttl_secs as i64);
        state
            .db
            .run(move |conn| {
                store::begin(
                    conn,
                    &Claim {
                        principal: &principal,
                        key: &key,
                        fingerprint: &fingerprint,
                        now,
                        locked_until,
                        expires_at,
                    },
                )
                .map_err(AppError::from)
            })
            .await
    };
    match outcome {
        Err(e) => Ok(reply(req, e.error_response())),
        Ok(Begin::Mismatch) => Ok(reply(req, AppError::IdempotencyKeyReused.error_response())),
        Ok(Begin::InProgress) => Ok(reply(
            req,
            AppError::IdempotencyKeyInProgress.error_response(),
        )),
        Ok(Begin::Replay(stored)) => Ok(reply(req, replay(&stored))),
        Ok(Begin::Started) => {
            let res = next.call(req).await?;
            let status = res.status();
            // A response marked `no-store` carries secrets (tokens, activation codes): it is
            // never written down, so a retry with the key does the work again instead.
            let no_store = res
                .headers()
                .get(actix_web::http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("no-store"));
            let keep =
                status.as_u16() < 500 && status != StatusCode::TOO_MANY_REQUESTS && !no_store;
            let (http_req, res) = res.into_parts();
            let (head, body) = res.into_parts();
            let bytes = match actix_web::body::to_bytes(body).await {
                Ok(b) => b,
                Err(_) => {
                    let _ = state
                        .db
                        .run(move |c| store::abandon(c, &principal, &key).map_err(AppError::from))
                        .await;
                    return Ok(ServiceResponse::new(
                        http_req,
                        AppError::Internal(anyhow::anyhow!("response body failed"))
                            .error_response(),
                    ));
                }
            };
            let headers: Vec<(String, String)> = head
                .headers()
                .iter()
                .filter(|(n, _)| keepable_header(n.as_str()))
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let result = if keep {
                let stored = StoredResponse {
                    status: status.as_u16(),
                    headers: serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into()),
                    body: bytes.to_vec(),
                };
                state
                    .db
                    .run(move |c| {
                        store::complete(c, &principal, &key, &stored).map_err(AppError::from)
                    })
                    .await
            } else {
                state
                    .db
                    .run(move |c| store::abandon(c, &principal, &key).map_err(AppError::from))
                    .await
            };
            if let Err(e) = result {
                // The work is done; failing to remember it only costs a future retry.
                tracing::warn!(error = %e, "could not record idempotent response");
            }
            let mut out = HttpResponse::build(status);
            for (n, v) in head.headers() {
                out.insert_header((n.clone(), v.clone()));
            }
            Ok(ServiceResponse::new(http_req, out.body(bytes)))
        }
    }
}

/// JSON bodies (and bodies of no declared type) get `http.json_limit`; a file upload,
/// declared by its own content type, keeps `http.upload_limit`.
fn body_limit(req: &ServiceRequest, http: &crate::config::HttpConfig) -> usize {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match content_type {
        Some(t) if t != "application/json" && !t.ends_with("+json") => http.upload_limit,
        _ => http.json_limit,
    }
}

fn reply(req: ServiceRequest, res: HttpResponse) -> ServiceResponse<BoxBody> {
    let (http_req, _) = req.into_parts();
    ServiceResponse::new(http_req, res)
}

fn valid_key(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    ok.then(|| s.to_string())
}

fn keepable_header(name: &str) -> bool {
    !matches!(
        name,
        "content-length" | "date" | "transfer-encoding" | "connection" | "x-request-id"
    )
}

fn fingerprint(method: &Method, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(uri.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut out = HttpResponse::build(status);
    let headers: Vec<(String, String)> = serde_json::from_str(&stored.headers).unwrap_or_default();
    for (n, v) in headers {
        out.insert_header((n, v));
    }
    out.insert_header((REPLAYED, "true"));
    out.body(stored.body.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(valid_key(&HeaderValue::from_static("abc-123_X")).is_some());
        assert!(valid_key(&HeaderValue::from_static("")).is_none());
        assert!(valid_key(&HeaderValue::from_static("a b")).is_none());
        let long = "k".repeat(256);
        assert!(valid_key(&HeaderValue::from_str(&long).unwrap()).is_none());
    }

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, middleware::from_fn, web};

    use crate::config::{Config, Secret};
    use crate::db::Db;
    use crate::state::AppState;

    fn state(dir: &std::path::Path) -> AppState {
        let mut config = Config::default();
        config.database.url = Secret::new(dir.join("t.db").to_string_lossy().to_string());
        config.data_dir = dir.to_path_buf();
        let db = Db::connect(&config.database).unwrap();
        crate::db::migrate(&mut db.get().unwrap()).unwrap();
        AppState::build(config, db, crate::state::Clock::default()).unwrap()
    }

    /// An active account with a live session; its id and an access token for it.
    fn signed_in(state: &AppState) -> (String, String) {
        use crate::store::accounts::{NewAccount, insert};
        let mut c = state.db.get().unwrap();
        let now = state.clock.now();
        let (id, family) = (crate::db::new_id(), crate::db::new_id());
        insert(
            &mut c,
            &NewAccount {
                id: &id,
                member_id: None,
                display_name: "测试",
                phone_enc: "x",
                phone_bidx: &id,
                password_hash: None,
                kind: "staff",
                status: "active",
            },
            now,
        )
        .unwrap();
        crate::accounts::session::add_token(&mut c, &id, &family, "d", 3600, now).unwrap();
        let token = state
            .tokens
            .issue_access(&id, &family, now.and_utc().timestamp())
            .unwrap();
        (id, format!("Bearer {token}"))
    }

    /// The middleware around a handler that counts its effects and fails on demand.
    #[actix_web::test]
    async fn a_retry_replays_without_a_second_effect() {
        let dir = tempfile::tempdir().unwrap();
        let effects = Arc::new(AtomicUsize::new(0));
        let counter = effects.clone();
        let app_state = state(dir.path());
        let app = atest::init_service(
            App::new()
                .app_data(web::Data::new(app_state.clone()))
                .wrap(from_fn(idempotency))
                .route(
                    "/things",
                    web::post().to(move |body: web::Bytes| {
                        let counter = counter.clone();
                        async move {
                            if body.as_ref() == b"fail" {
                                return HttpResponse::ServiceUnavailable().finish();
                            }
                            if body.as_ref() == b"secret" {
                                return HttpResponse::Ok()
                                    .insert_header(("cache-control", "no-store"))
                                    .body("token");
                            }
                            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                            HttpResponse::Created()
                                .insert_header(("location", format!("/things/{n}")))
                                .body(format!("thing {n}"))
                        }
                    }),
                ),
        )
        .await;
        let (account, bearer) = signed_in(&app_state);
        let (_, other_bearer) = signed_in(&app_state);
        let post_as = |auth: &str, key: &str, body: &'static str| {
            atest::TestRequest::post()
                .uri("/things")
                .insert_header(("authorization", auth.to_string()))
                .insert_header(("idempotency-key", key.to_string()))
                .set_payload(body)
                .to_request()
        };
        let post = |key: &str, body: &'static str| post_as(&bearer, key, body);

        let first = atest::call_service(&app, post("k1", "a")).await;
        assert_eq!(first.status(), 201);
        assert!(first.headers().get(&REPLAYED).is_none());
        let first_body = atest::read_body(first).await;

        let again = atest::call_service(&app, post("k1", "a")).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers().get(&REPLAYED).unwrap(), "true");
        assert_eq!(again.headers().get("location").unwrap(), "/things/1");
        assert_eq!(atest::read_body(again).await, first_body);
        assert_eq!(
            effects.load(Ordering::SeqCst),
            1,
            "the retry did the work again"
        );

        let other = atest::call_service(&app, post("k1", "b")).await;
        assert_eq!(other.status(), 422);
        assert_eq!(effects.load(Ordering::SeqCst), 1);

        // A failure is not remembered: the retry does the work.
        let failed = atest::call_service(&app, post("k2", "fail")).await;
        assert_eq!(failed.status(), 503);
        let failed = atest::call_service(&app, post("k2", "fail")).await;
        assert_eq!(
            failed.status(),
            503,
            "a 5xx must not be replayed as if final"
        );

        // A secret-bearing answer is never stored, so nothing is replayed from the table.
        let secret = atest::call_service(&app, post("k3", "secret")).await;
        assert_eq!(secret.status(), 200);
        let secret = atest::call_service(&app, post("k3", "secret")).await;
        assert!(secret.headers().get(&REPLAYED).is_none());
        let rows: i64 = {
            use crate::db::schema::idempotency_keys as ik;
            use diesel::prelude::*;
            let mut c = app_state.db.get().unwrap();
            ik::table
                .filter(ik::idem_key.eq("k3"))
                .count()
                .get_result(&mut *c)
                .unwrap()
        };
        assert_eq!(rows, 0, "a no-store response left a row behind");

        // Without a key, nothing is deduplicated.
        let plain = atest::TestRequest::post()
            .uri("/things")
            .set_payload("a")
            .to_request();
        assert_eq!(atest::call_service(&app, plain).await.status(), 201);
        assert_eq!(effects.load(Ordering::SeqCst), 2);

        // Another account with the same key string does its own work.
        let theirs = atest::call_service(&app, post_as(&other_bearer, "k1", "a")).await;
        assert!(theirs.headers().get(&REPLAYED).is_none());
        assert_eq!(effects.load(Ordering::SeqCst), 3);

        // Anonymous: nothing to scope a key to, so nothing is written and nothing replayed.
        let anonymous = || {
            atest::TestRequest::post()
                .uri("/things")
                .insert_header(("idempotency-key", "anon"))
                .set_payload("a")
                .to_request()
        };
        atest::call_service(&app, anonymous()).await;
        let again = atest::call_service(&app, anonymous()).await;
        assert!(again.headers().get(&REPLAYED).is_none());
        assert_eq!(effects.load(Ordering::SeqCst), 5);

        // A bad token is refused before any row is written.
        let forged = atest::call_service(&app, post_as("Bearer nope", "k9", "a")).await;
        assert_eq!(forged.status(), 401);
        let rows: Vec<String> = {
            use crate::db::schema::idempotency_keys as ik;
            use diesel::prelude::*;
            let mut c = app_state.db.get().unwrap();
            ik::table.select(ik::principal).load(&mut *c).unwrap()
        };
        assert!(
            rows.iter().all(|p| p.starts_with("account:")),
            "a row without an account: {rows:?}"
        );
        assert!(rows.contains(&format!("account:{account}")));

        // A JSON body over http.json_limit is refused by its length, unread.
        let big = atest::TestRequest::post()
            .uri("/things")
            .insert_header(("authorization", bearer.clone()))
            .insert_header(("idempotency-key", "big"))
            .insert_header(("content-type", "application/json"))
            .set_payload(vec![b' '; app_state.config.http.json_limit + 1])
            .to_request();
        assert_eq!(atest::call_service(&app, big).await.status(), 413);

        let bad = atest::call_service(&app, post("has space", "a")).await;
        assert_eq!(bad.status(), 400);
    }

    #[test]
    fn fingerprint_depends_on_every_part() {
        let a = fingerprint(&Method::POST, "/x", b"{}");
        assert_eq!(a, fingerprint(&Method::POST, "/x", b"{}"));
        assert_ne!(a, fingerprint(&Method::PUT, "/x", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/y", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/x", b"{ }"));
    }
}
