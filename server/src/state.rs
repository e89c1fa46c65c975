//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use hongying_signaling::cluster::Cluster;

use crate::auth::keys::KeySet;
use crate::auth::tokens::TokenService;
use crate::config::Config;
use crate::crypto::pii::Pii;
use crate::db::Db;
use crate::http::rate_limit::LoginLimiter;

/// The service's clock. Production reads the system time; tests shift it forward to
/// reach deadlines (escalations, expiries) without sleeping.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> chrono::NaiveDateTime {
        crate::db::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }

    /// A clock that reads `at` now and runs on from there. Tests start every server at one
    /// fixed instant, so what they assert cannot depend on the day they run (a letter serial
    /// restarts with the year; a quarter ends). Give it to the state before anything reads
    /// it: the rate limiters take their reference instant when they are built.
    pub fn starting_at(at: chrono::NaiveDateTime) -> Self {
        let offset = at - crate::db::now();
        Self {
            offset_ms: Arc::new(AtomicI64::new(offset.num_milliseconds())),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub tokens: TokenService,
    pub pii: Pii,
    /// Set on SIGTERM: readiness answers 503 while in-flight requests finish.
    pub draining: Arc<AtomicBool>,
    /// Login and activation attempts per account and per client address.
    pub login_limiter: Arc<LoginLimiter>,
    /// 服务面对面 self-registrations per client address.
    pub registration_limiter: Arc<LoginLimiter>,
    /// Public letter checks per client address.
    pub verify_limiter: Arc<LoginLimiter>,
    /// Wrong passwords per account: a growing delay for devices the account never used.
    pub login_throttle: Arc<crate::http::rate_limit::GuessThrottle>,
    /// This node's sockets and meeting rooms.
    pub signaling: Arc<crate::signaling::hub::Signaling>,
}

impl AppState {
    /// Loads (or, in development, generates) the keys and assembles the services, as a
    /// node of its own (an in-process cluster of one).
    pub fn build(config: Config, db: Db, clock: Clock) -> anyhow::Result<Self> {
        Self::build_in(config, db, clock, Cluster::local())
    }

    /// [`Self::build`] as a node of `cluster`: the presence and bus its rooms are found
    /// and reached through.
    pub fn build_in(
        config: Config,
        db: Db,
        clock: Clock,
        cluster: Cluster,
    ) -> anyhow::Result<Self> {
        let keys = KeySet::load(&config.jwt_keys_dir(), config.auth.generate_keys)?;
        let tokens = TokenService::new(
            keys,
            &config.auth.issuer,
            &config.auth.audience,
            config.auth.access_ttl_secs,
        );
        let pii = Pii::load(&config.pii_keys_dir(), config.auth.generate_keys)?;
        let login_limiter = Arc::new(LoginLimiter::new(&config.auth, clock.clone()));
        let registration_limiter = Arc::new(LoginLimiter::registrations(
            config.services.registrations_per_address_per_hour,
            clock.clone(),
        ));
        let login_throttle = Arc::new(crate::http::rate_limit::GuessThrottle::new(
            &config.auth,
            clock.clone(),
        ));
        let verify_limiter = Arc::new(LoginLimiter::per_address(
            config.transfers.verify_per_address_per_minute,
            clock.clone(),
        ));
        // Computed once, off the start-up path, so the first login for an unknown phone
        // does not take a hash longer than the others.
        std::thread::spawn(|| crate::auth::password::dummy_hash().len());
        let signaling = Arc::new(crate::signaling::hub::Signaling::new(
            &config,
            db.clone(),
            clock.clone(),
            cluster,
        ));
        Ok(Self {
            signaling,
            config: Arc::new(config),
            db,
            clock,
            tokens,
            pii,
            draining: Arc::new(AtomicBool::new(false)),
            login_limiter,
            registration_limiter,
            verify_limiter,
            login_throttle,
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

impl AppState {
    /// Runs `f` off the async workers with the caller's context (who, from where, now):
    /// what every audited service call needs.
    pub async fn run_as<T, F>(
        &self,
        principal: crate::auth::Principal,
        meta: crate::auth::principal::RequestMeta,
        f: F,
    ) -> crate::error::AppResult<T>
    where
        F: FnOnce(
                &mut crate::db::AnyConnection,
                &crate::orgs::Ctx<'_>,
            ) -> crate::error::AppResult<T>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let now = self.clock.now();
        let (out, to_close) = self
            .db
            .run(move |c| {
                let sockets = crate::accounts::revocation::SocketsToClose::default();
                let ctx = crate::orgs::Ctx {
                    principal: &principal,
                    meta: &meta,
                    now,
                    sockets: &sockets,
                };
                let out = f(c, &ctx)?;
                Ok::<_, crate::error::AppError>((out, sockets.take()))
            })
            .await?;
        // After the commit: a socket closed for a change that rolled back would be a lie.
        for (account_id, reason) in to_close {
            self.signaling.end_account(&account_id, reason);
        }
        Ok(out)
    }
}
