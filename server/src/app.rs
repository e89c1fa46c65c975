//! Building the actix App and running the node: start-up, background jobs, metrics
//! listener, graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, Error, HttpResponse, HttpServer, web};
use anyhow::Context;
use hongying_signaling::cluster::Cluster;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::db::{self, Db};
use crate::http::extract::{JsonLimit, json_config, path_config, query_config};
use crate::http::fallback::{RouteTable, no_route, problem_fallback};
use crate::openapi::ApiDoc;
use crate::routes;
use crate::state::AppState;
use crate::telemetry;

/// The whole HTTP surface for one worker.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let json_limit = state.config.http.json_limit;
    let (app, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(state)
        .app_data(web::Data::new(JsonLimit(json_limit)))
        .app_data(json_config(json_limit))
        .app_data(path_config())
        .app_data(query_config())
        .service(routes::ops::healthz)
        .service(routes::ops::readyz)
        .service(utoipa_actix_web::scope("/api/v1").configure(routes::configure))
        .split_for_parts();
    crate::openapi::finish(&mut api);
    let table = route_table(&api);
    app.service(web::resource("/ws").route(web::get().to(routes::signaling::ws)))
        .configure(routes::meet::configure)
        .service(web::redirect("/api/docs", "/api/docs/"))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", api))
        .app_data(web::Data::new(table))
        .default_service(web::to(no_route))
        .wrap(from_fn(crate::http::idempotency::idempotency))
        // Every answer means the type it declares: the HTML pages (letters, minutes,
        // verdicts) and the JSON alike must not be sniffed into something else.
        .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
        .wrap(from_fn(problem_fallback))
        .wrap(from_fn(crate::http::metrics::record))
        .wrap(Compress::default())
        .wrap(from_fn(crate::http::request_id::echo_request_id))
        .wrap(TracingLogger::default())
}

fn route_table(api: &utoipa::openapi::OpenApi) -> RouteTable {
    let mut table = RouteTable::from_openapi(api);
    table.add("/api/openapi.json", &["GET"]);
    table.add("/api/docs", &["GET"]);
    table.add("/api/docs/{_:.*}", &["GET"]);
    table
}

/// The OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(routes::ops::healthz)
        .service(routes::ops::readyz)
        .service(utoipa_actix_web::scope("/api/v1").configure(routes::configure))
        .split_for_parts();
    crate::openapi::finish(&mut api);
    api
}

/// A started node.
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    handle: ServerHandle,
    metrics_handle: Option<ServerHandle>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    jobs: Vec<tokio::task::JoinHandle<()>>,
}

/// Opens the database (migrating it when configured), binds the listeners and starts
/// serving. Must run inside a tokio runtime.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_clock(config, crate::state::Clock::default()).await
}

/// [`start`] on a given clock: tests start every node at one fixed instant.
pub async fn start_with_clock(
    config: Config,
    clock: crate::state::Clock,
) -> anyhow::Result<Running> {
    // The one place the cluster's implementation is chosen: in-process, a cluster of one
    // node. The Redis presence and bus go here when they exist; nothing else names them.
    start_with(config, clock, Cluster::local()).await
}

/// [`start_with_clock`] as a node of `cluster`: tests start several nodes on one shared
/// in-process cluster.
pub async fn start_with(
    config: Config,
    clock: crate::state::Clock,
    cluster: Cluster,
) -> anyhow::Result<Running> {
    let db_cfg = config.database.clone();
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<Db> {
        let db = Db::connect(&db_cfg)?;
        if db_cfg.migrate_on_start {
            let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
            let applied = db::migrate(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied migrations");
            }
        }
        Ok(db)
    })
    .await
    .context("database start-up task")??;
    start_with_state(AppState::build_in(config, db, clock, cluster)?).await
}

pub async fn start_with_state(state: AppState) -> anyhow::Result<Running> {
    let config = state.config.clone();
    let orphans = crate::signaling::recovery::close_orphaned_intervals(&state)
        .await
        .map_err(|e| anyhow::anyhow!("closing orphaned attendance intervals: {e}"))?;
    if orphans > 0 {
        tracing::warn!(
            orphans,
            "closed attendance intervals left open by the last run"
        );
    }
    // Listening to the node's inbox before the first socket can ask a room elsewhere.
    state
        .signaling
        .listen()
        .await
        .map_err(|e| anyhow::anyhow!("joining the cluster: {e}"))?;
    let listener = TcpListener::bind(config.http.bind)
        .with_context(|| format!("cannot bind http.bind = {}", config.http.bind))?;
    let addr = listener.local_addr()?;
    let data = web::Data::new(state.clone());
    let workers = if config.http.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        config.http.workers
    };
    let server = HttpServer::new(move || build_app(data.clone()))
        .workers(workers)
        // Signaling frames are small and each one is news (a quorum change, an ICE
        // candidate): Nagle would hold one back until the previous is acknowledged,
        // up to the peer's delayed-ACK timer (40 ms on Linux).
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(config.shutdown.deadline_ms.div_ceil(1000))
        .listen(listener)?
        .run();
    let handle = server.handle();
    let server = tokio::spawn(server);

    let (metrics_addr, metrics_handle) = if config.metrics.enabled {
        let (addr, handle) = start_metrics(&state)?;
        (Some(addr), Some(handle))
    } else {
        (None, None)
    };
    let jobs = vec![
        tokio::spawn(purge_idempotency_keys(state.clone())),
        tokio::spawn(sweep_service_questions(state.clone())),
        tokio::spawn(expire_grants(state.clone())),
        tokio::spawn(crate::signaling::notice_feed::run(state.clone())),
    ];
    tracing::info!(%addr, ?metrics_addr, backend = ?state.db.backend(), "hongying listening");
    Ok(Running {
        addr,
        metrics_addr,
        state,
        handle,
        metrics_handle,
        server,
        jobs,
    })
}

fn start_metrics(state: &AppState) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(state.config.metrics.bind)
        .with_context(|| format!("cannot bind metrics.bind = {}", state.config.metrics.bind))?;
    let addr = listener.local_addr()?;
    let prom = telemetry::prometheus();
    let db = state.db.clone();
    let server = HttpServer::new(move || {
        let prom = prom.clone();
        let db = db.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let prom = prom.clone();
                let db = db.clone();
                async move {
                    let pool = db.pool_state();
                    metrics::gauge!(telemetry::names::DB_POOL_CONNECTIONS).set(pool.connections);
                    metrics::gauge!(telemetry::names::DB_POOL_IDLE).set(pool.idle_connections);
                    let body = prom.map(|p| p.render()).unwrap_or_default();
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((addr, handle))
}

async fn purge_idempotency_keys(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let purged = state
            .db
            .run(move |c| {
                crate::store::idempotency::purge_expired(c, now)
                    .map_err(crate::error::AppError::from)
            })
            .await;
        match purged {
            Ok(n) if n > 0 => tracing::debug!(n, "purged expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
        }
    }
}

/// Grants past their `expires_at`: stamped revoked (audited) and their holders' sockets
/// closed.
async fn expire_grants(state: AppState) {
    let every = Duration::from_secs(state.config.auth.grant_sweep_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let system = crate::orgs::system_principal();
        let expired = state
            .run_as(system, Default::default(), |c, ctx| {
                crate::grants::service::expire_due(c, ctx)
            })
            .await;
        match expired {
            Ok(n) if n > 0 => tracing::info!(n, "expired grants revoked"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiring grants failed"),
        }
    }
}

/// 服务面对面: escalates questions nobody accepted in time and closes idle ones.
async fn sweep_service_questions(state: AppState) {
    let every = Duration::from_secs(state.config.services.sweep_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let config = state.config.clone();
        let swept = state
            .db
            .run(move |c| crate::services::questions::sweep(c, &config.services, now))
            .await;
        match swept {
            Ok(r) if !r.escalated.is_empty() || !r.closed.is_empty() => tracing::info!(
                escalated = r.escalated.len(),
                closed = r.closed.len(),
                "swept 服务面对面 questions"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweeping 服务面对面 questions failed"),
        }
    }
}

impl Running {
    /// Drains: readiness flips to 503 at once, the listener closes after the drain
    /// delay, in-flight requests get the shutdown deadline to finish.
    pub async fn shutdown(self) {
        self.state.draining.store(true, Ordering::SeqCst);
        let delay = Duration::from_millis(self.state.config.shutdown.drain_delay_ms);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // Rooms let their participants go first (their intervals close at their last
        // heartbeat) and every socket is told, so the listener's graceful stop does not
        // wait the whole deadline for sockets that would never close by themselves.
        self.state.signaling.shutdown().await;
        self.handle.stop(true).await;
        if let Some(h) = self.metrics_handle {
            h.stop(true).await;
        }
        for job in self.jobs {
            job.abort();
        }
        let _ = self.server.await;
        tracing::info!("hongying stopped");
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await?;
        tracing::info!("signal received, draining");
        self.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
