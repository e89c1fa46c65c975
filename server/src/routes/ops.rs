//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use hongying_proto::ops::{Check, Health, Readiness};

use crate::error::AppError;
use crate::state::AppState;

/// The process is alive. Checks no dependency.
#[utoipa::path(tag = "ops", security(()), responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Ready to take traffic: database reachable and fully migrated, Redis reachable when
/// configured, and not draining. 503 with the same body otherwise.
#[utoipa::path(tag = "ops", security(()), responses(
    (status = 200, body = Readiness),
    (status = 503, body = Readiness, description = "Not ready: a check failed or the node is draining")
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = Vec::new();
    let db = state
        .db
        .run(|conn| crate::db::has_pending(conn).map_err(AppError::Internal))
        .await;
    checks.push(match db {
        Ok(false) => Check {
            name: "database".into(),
            ok: true,
            detail: None,
        },
        Ok(true) => Check {
            name: "database".into(),
            ok: false,
            detail: Some("migrations pending".into()),
        },
        Err(e) => Check {
            name: "database".into(),
            ok: false,
            detail: Some(e.to_string()),
        },
    });
    if let Some(url) = &state.config.redis.url {
        checks.push(redis_check(url.expose()).await);
    }
    let draining = state.is_draining();
    let ready = !draining && checks.iter().all(|c| c.ok);
    let body = Readiness {
        ready,
        draining,
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn redis_check(url: &str) -> Check {
    let result = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), result).await {
        Ok(Ok(_)) => Check {
            name: "redis".into(),
            ok: true,
            detail: None,
        },
        Ok(Err(e)) => Check {
            name: "redis".into(),
            ok: false,
            detail: Some(e.to_string()),
        },
        Err(_) => Check {
            name: "redis".into(),
            ok: false,
            detail: Some("timed out".into()),
        },
    }
}
