//! Persistence: one diesel connection type over PostgreSQL and SQLite, a pool, the
//! embedded migrations, and the helper that runs queries off the async workers.
//!
//! Queries are written once against [`AnyConnection`]; code branches on the backend only
//! where the SQL must differ (upserts, `FOR UPDATE`, immediate transactions).

pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseConfig;
use crate::error::AppError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgresql(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Where the database is, parsed from the configured URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    Postgres(String),
    Sqlite(PathBuf),
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
            Self::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
        }
    }
}

/// Hides the password of a URL for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable url)".into(),
    }
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err("database.url: empty SQLite path".into());
        }
        if path.contains("://") {
            return Err(format!(
                "database.url: unsupported scheme in {:?} (use postgres://, postgresql://, sqlite:// or a file path)",
                redact_url(url)
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("cannot prepare the database connection: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("cannot create the SQLite directory {0}: {1}")]
    Directory(PathBuf, std::io::Error),
}

/// Our own r2d2 manager, so that a failed connection reports the database's own error
/// and every SQLite connection gets the same pragmas.
#[derive(Debug, Clone)]
pub struct Manager {
    target: DbTarget,
    busy_timeout_ms: u64,
}

impl Manager {
    pub fn new(target: DbTarget, busy_timeout_ms: u64) -> Self {
        Self {
            target,
            busy_timeout_ms,
        }
    }

    pub fn establish(&self) -> Result<AnyConnection, ConnectError> {
        match &self.target {
            DbTarget::Postgres(url) => Ok(AnyConnection::Postgresql(
                diesel::PgConnection::establish(url)?,
            )),
            DbTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| ConnectError::Directory(dir.to_path_buf(), e))?;
                }
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the writer; NORMAL is durable in WAL mode
                // against process crashes (only an OS crash can lose the last commits).
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    self.busy_timeout_ms
                ))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<AnyConnection, ConnectError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The database handle the app shares: a pool plus what it points at.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects once directly (so a wrong URL or a down server fails start-up with the
    /// real error), then builds the pool.
    pub fn connect(cfg: &DatabaseConfig) -> Result<Self, anyhow::Error> {
        let target = DbTarget::parse(cfg.url.expose()).map_err(anyhow::Error::msg)?;
        let manager = Manager::new(target.clone(), cfg.sqlite_busy_timeout_ms);
        manager
            .establish()
            .map_err(|e| anyhow::anyhow!("{e} ({target:?})"))?;
        let pool = r2d2::Pool::builder()
            .max_size(cfg.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
            .build(manager)?;
        Ok(Self {
            pool,
            backend: target.backend(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Runs blocking diesel code on the blocking thread pool, never on an async worker.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<AppError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let joined = actix_web::web::block(move || {
            let mut conn = pool.get().map_err(AppError::from)?;
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => Err(AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")).into()),
        }
    }

    /// A pooled connection for synchronous callers (CLI commands, tests).
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, AppError> {
        Ok(self.pool.get()?)
    }
}

/// Runs `f` in a write transaction. On SQLite it begins `IMMEDIATE`, taking the write lock
/// up front: two deferred transactions that both read and then write would otherwise
/// deadlock, and SQLite answers one of them SQLITE_BUSY at once instead of waiting.
pub fn write_tx<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if !matches!(conn, AnyConnection::Sqlite(_)) {
        return conn.transaction(f);
    }
    if let AnyConnection::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    }
    let result = f(conn);
    if let AnyConnection::Sqlite(c) = conn {
        match &result {
            Ok(_) => {
                if let Err(e) = AnsiTransactionManager::commit_transaction(c) {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    return Err(e.into());
                }
            }
            Err(_) => {
                AnsiTransactionManager::rollback_transaction(c)?;
            }
        }
    }
    result
}

/// Applies every pending migration; returns the versions applied now.
pub fn migrate(conn: &mut AnyConnection) -> Result<Vec<String>, anyhow::Error> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Versions recorded as applied, oldest first.
pub fn applied_migrations(conn: &mut AnyConnection) -> Result<Vec<String>, anyhow::Error> {
    let mut versions = match conn {
        AnyConnection::Postgresql(c) => c.applied_migrations(),
        AnyConnection::Sqlite(c) => c.applied_migrations(),
    }
    .map_err(|e| anyhow::anyhow!("reading migrations failed: {e}"))?
    .into_iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>();
    versions.sort();
    Ok(versions)
}

/// Whether migrations are still pending (readiness fails until they are applied).
pub fn has_pending(conn: &mut AnyConnection) -> Result<bool, anyhow::Error> {
    let pending = match conn {
        AnyConnection::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("checking migrations failed: {e}"))?;
    Ok(pending)
}

/// Reverts every applied migration (tests check that each `down.sql` works).
pub fn revert_all(conn: &mut AnyConnection) -> Result<Vec<String>, anyhow::Error> {
    let reverted = match conn {
        AnyConnection::Postgresql(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("reverting migrations failed: {e}"))?;
    Ok(reverted.into_iter().map(|v| v.to_string()).collect())
}

/// The migration names embedded for a backend, sorted (both trees must list the same).
pub fn embedded_migration_names(backend: Backend) -> Vec<String> {
    use diesel::migration::MigrationSource;
    let source = match backend {
        Backend::Postgres => POSTGRES_MIGRATIONS,
        Backend::Sqlite => SQLITE_MIGRATIONS,
    };
    let mut names: Vec<String> = match backend {
        Backend::Postgres => MigrationSource::<diesel::pg::Pg>::migrations(&source)
            .map(|ms| ms.iter().map(|m| m.name().to_string()).collect())
            .unwrap_or_default(),
        Backend::Sqlite => MigrationSource::<diesel::sqlite::Sqlite>::migrations(&source)
            .map(|ms| ms.iter().map(|m| m.name().to_string()).collect())
            .unwrap_or_default(),
    };
    names.sort();
    names
}

/// Now, in UTC, truncated to microseconds: both backends store microseconds, so a value
/// read back compares equal to the value written.
pub fn now() -> chrono::NaiveDateTime {
    truncate_micros(chrono::Utc::now().naive_utc())
}

pub fn truncate_micros(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// A new time-ordered id (UUIDv7) as stored: text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            DbTarget::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DbTarget::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DbTarget::parse("sqlite://./x.db").unwrap(),
            DbTarget::Sqlite(PathBuf::from("./x.db"))
        );
        assert_eq!(
            DbTarget::parse("/tmp/y.db").unwrap(),
            DbTarget::Sqlite(PathBuf::from("/tmp/y.db"))
        );
        assert!(DbTarget::parse("mysql://h/db").is_err());
        assert!(DbTarget::parse("sqlite://").is_err());
        assert_eq!(
            format!("{:?}", DbTarget::parse("postgres://u:secret@h/db").unwrap()),
            "Postgres(postgres://u:***@h/db)"
        );
    }

    #[test]
    fn both_trees_have_the_same_migrations() {
        let pg = embedded_migration_names(Backend::Postgres);
        assert!(!pg.is_empty());
        assert_eq!(pg, embedded_migration_names(Backend::Sqlite));
    }

    #[test]
    fn sqlite_connections_get_their_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manager::new(DbTarget::Sqlite(dir.path().join("a/b/t.db")), 1234);
        let mut conn = m.establish().unwrap();
        #[derive(QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let AnyConnection::Sqlite(c) = &mut conn else {
            panic!()
        };
        let jm: V = diesel::sql_query("SELECT journal_mode AS v FROM pragma_journal_mode")
            .get_result(c)
            .unwrap();
        assert_eq!(jm.v, "wal");
        let fk: V =
            diesel::sql_query("SELECT CAST(foreign_keys AS TEXT) AS v FROM pragma_foreign_keys")
                .get_result(c)
                .unwrap();
        assert_eq!(fk.v, "1");
        let bt: V = diesel::sql_query("SELECT CAST(timeout AS TEXT) AS v FROM pragma_busy_timeout")
            .get_result(c)
            .unwrap();
        assert_eq!(bt.v, "1234");
    }
}
