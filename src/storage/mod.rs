//! Storage: PostgreSQL or SQLite behind one type, chosen by the database URL.
//!
//! [`Db`] is the pool. A unit of work borrows one connection of it as a [`Conn`]:
//! [`Db::read`] runs it on a plain connection, [`Db::write`] inside one write
//! transaction. The storage steps are ordinary `async fn`s whose first argument is
//! `&mut Conn`, one module per area (coupons, campaigns, checkout, webhooks, …), so the
//! use cases in `service` compose several of them inside one transaction. Each step's
//! body is written once, inside [`on_backend!`], and compiled once per backend against
//! that backend's table module (see `schema.rs`): an operation one backend cannot
//! express fails at `cargo build`, not in production.
//!
//! Write transactions on SQLite start with `BEGIN IMMEDIATE`, so a transaction that
//! reads before it writes never fails to upgrade its lock; on PostgreSQL the first
//! statement of a read-modify-write locks the row it changes.

pub mod abuse;
pub mod api_keys;
pub mod attempts;
pub mod audit;
pub mod campaigns;
pub mod checkout;
mod conn;
pub mod coupons;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod levels;
pub mod lookups;
pub mod migrations;
mod models;
pub mod payments;
pub mod redemptions;
pub mod reports;
pub mod rules;
pub(crate) mod schema;
pub mod secrets;
pub mod sessions;
pub mod webhooks;

use std::time::Duration;

use diesel::ConnectionError;
use diesel::SqliteConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::{Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

pub use api_keys::{KeyChange, NewApiKey, StoredApiKey, last_use_is_stale};
pub use audit::{Actor, AuditAction, AuditEntry, AuditFilter, EntityType, snapshot};
pub use campaigns::{CampaignChange, CampaignPatch, MoveOutcome, StoredCampaign};
pub(crate) use conn::on_backend;
pub use conn::{Conn, Work};
pub use coupons::{CouponFilter, DeleteOutcome, ImportRow, StoredCode};
pub use events::{EventCoupon, EventType, StoredEvent};
pub use idempotency::{IdempotencyClaim, Idempotent};
pub use jobs::{CancelOutcome, Chunk, GENERATE_CODES, StoredJob};
pub use redemptions::{CounterMismatch, ExportedRedemption, RedemptionFilter};
pub use reports::{Bucket, OutcomeCount, RedemptionGroup, ReportData, ReportScope};
pub use rules::StoredRuleVersion;
pub use webhooks::{
    AfterAttempt, AttemptRecord, DeliveryFilter, DeliveryStatus, EndpointChange, FanOut,
    NewEndpoint, StoredAttempt, StoredDelivery, StoredEndpoint, lease_for,
};

/// A SQLite connection as diesel-async drives it: statements run on the calling thread
/// (see [`SqliteRunner`]).
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, SqliteRunner>;

tokio::task_local! {
    /// Set around a unit of work that may run long (see [`Db::read_long`]).
    static LONG: ();
}

/// Starts, on Tokio's blocking pool, the SQLite statement `start` sends (see
/// [`SqliteRunner`]).
pub(crate) fn off_thread<T>(start: impl FnOnce() -> T) -> T {
    LONG.sync_scope((), start)
}

/// Where a SQLite connection runs its statements. SQLite is a library, not a server: a
/// statement on a WAL database is a few microseconds of the caller's own CPU, less than
/// handing it to another thread and back. So statements run inline on the task's
/// thread, and a whole transaction on one thread without a hop per statement. Work
/// that may scan a large part of the database (reports, reconciliation) runs under
/// [`Db::read_long`], whose statements go to Tokio's blocking pool so that they never
/// hold up the tasks sharing the thread.
pub struct SqliteRunner;

impl diesel_async::sync_connection_wrapper::SpawnBlocking for SqliteRunner {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>,
    >
    where
        R: Send + 'static,
    {
        if LONG.try_with(|()| ()).is_ok() {
            tokio::task::spawn_blocking(task)
                .map(|joined| joined.map_err(|e| Box::new(e) as _))
                .boxed()
        } else {
            futures_util::future::ready(Ok(task())).boxed()
        }
    }

    fn get_runtime() -> Self {
        Self
    }
}

/// A pool of connections to one database.
#[derive(Clone)]
pub enum Db {
    /// PostgreSQL (`postgres://…`), for production and several instances.
    Postgres(PgPool),
    /// SQLite (`sqlite://path`), the zero-setup default; one instance.
    Sqlite(SqlitePool),
}

/// PostgreSQL connections: the primary's, and a replica's for the long reads (reports,
/// exports, reconciliation) when one is given.
#[derive(Clone)]
pub struct PgPool {
    primary: Pool<AsyncPgConnection>,
    replica: Option<Pool<AsyncPgConnection>>,
}

impl PgPool {
    /// A connection to the primary.
    pub async fn get(
        &self,
    ) -> Result<deadpool::managed::Object<AsyncDieselConnectionManager<AsyncPgConnection>>, PoolError>
    {
        self.primary.get().await
    }

    /// The primary pool's state.
    pub fn status(&self) -> deadpool::Status {
        self.primary.status()
    }
}

/// A PostgreSQL pool for `url`.
fn pg_pool(url: &str, options: PoolOptions) -> Result<Pool<AsyncPgConnection>, StorageError> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // The default, `Verified`, sends `SELECT 1` on every checkout from the pool: a
    // round trip per query. A broken connection is dropped when it comes back (a
    // connection the server closed is known as closed) or shows on first use.
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    pool(manager, options)
}

/// SQLite connections, and the gate that lets one write transaction in at a time.
#[derive(Clone)]
pub struct SqlitePool {
    pool: Pool<SqliteConn>,
    /// Held for the whole of each write transaction.
    pub write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqlitePool {
    /// A connection from the pool.
    pub async fn get(
        &self,
    ) -> Result<deadpool::managed::Object<AsyncDieselConnectionManager<SqliteConn>>, PoolError>
    {
        self.pool.get().await
    }
}

/// What went wrong in storage. Business outcomes are not errors here; these are faults
/// or constraint violations for the service layer to interpret.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL is not one this service understands.
    #[error("unsupported database URL {0:?}: use postgres://… or sqlite://PATH")]
    UnsupportedUrl(String),
    /// No connection could be had from the pool in time.
    #[error("database connection unavailable: {0}")]
    Pool(String),
    /// A unique constraint was violated.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored row does not decode into a domain value.
    #[error("corrupt row in {table} (id {id}): {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Row id.
        id: i64,
        /// What did not decode.
        reason: String,
    },
    /// A stored value is not a valid currency.
    #[error(transparent)]
    Money(#[from] coupons_domain::MoneyError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl StorageError {
    /// Whether the database is out of reach rather than the request wrong: no
    /// connection to be had, a connection lost mid-request, a server shutting down,
    /// starting up or read-only (a standby after a failover, before the pool finds the
    /// new primary), a SQLite file locked past the busy timeout. A retry shortly after
    /// may succeed; the transaction it was in did not commit.
    pub fn is_unavailable(&self) -> bool {
        use DatabaseErrorKind as K;
        match self {
            Self::Pool(_) => true,
            Self::Database(DieselError::DatabaseError(kind, info)) => match kind {
                K::ClosedConnection | K::UnableToSendCommand | K::ReadOnlyTransaction => true,
                K::Unknown => {
                    let message = info.message();
                    [
                        "terminating connection",
                        "the database system is",
                        "connection closed",
                        "server closed the connection",
                        "database is locked",
                        "recovery is in progress",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
                }
                _ => false,
            },
            Self::Database(DieselError::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::UniqueViolation(info.message().to_owned())
            }
            other => Self::Database(other),
        }
    }
}

impl From<PoolError> for StorageError {
    fn from(e: PoolError) -> Self {
        Self::Pool(e.to_string())
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections held open.
    pub max_size: usize,
    /// Longest wait for a free connection.
    pub wait_timeout: Duration,
}

/// A pool that gives up after `options.wait_timeout` instead of waiting forever.
fn pool<M: deadpool::managed::Manager>(
    manager: M,
    options: PoolOptions,
) -> Result<deadpool::managed::Pool<M>, StorageError> {
    deadpool::managed::Pool::builder(manager)
        .max_size(options.max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.wait_timeout))
        .build()
        .map_err(|e| StorageError::Pool(e.to_string()))
}

impl Db {
    /// Opens a pool for `url`: `postgres://` / `postgresql://`, or `sqlite://PATH`
    /// (`sqlite:PATH` too). The SQLite file is created if missing.
    pub fn connect(url: &str, options: PoolOptions) -> Result<Self, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(PgPool {
                primary: pg_pool(url, options)?,
                replica: None,
            }));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StorageError::UnsupportedUrl(url.to_owned()))?;
        let mut config = ManagerConfig::<SqliteConn>::default();
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(|path| {
            let path = path.to_owned();
            async move {
                let mut conn =
                    SqliteConn::with_runtime(diesel::Connection::establish(&path)?, SqliteRunner);
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
        Ok(Self::Sqlite(SqlitePool {
            pool: pool(manager, options)?,
            write_gate: std::sync::Arc::default(),
        }))
    }

    /// Sends the long reads ([`Db::read_long`]) to the PostgreSQL replica at `url`
    /// (`COUPONS_READ_DATABASE_URL`). Only for PostgreSQL.
    pub fn with_replica(self, url: &str, options: PoolOptions) -> Result<Self, StorageError> {
        match self {
            Self::Postgres(pools) if url.starts_with("postgres") => Ok(Self::Postgres(PgPool {
                replica: Some(pg_pool(url, options)?),
                ..pools
            })),
            _ => Err(StorageError::UnsupportedUrl(format!(
                "{url}: a read replica is for PostgreSQL, with a postgres:// URL"
            ))),
        }
    }

    /// Like [`Db::read`], for work that may read a large part of the database (reports,
    /// exports, reconciliation, the metrics' levels): on PostgreSQL it runs on the read
    /// replica when one is given; on SQLite its statements run on the blocking pool, not
    /// inline.
    pub async fn read_long<'a, T, F>(&'a self, work: F) -> Result<T, StorageError>
    where
        for<'c> F: AsyncFnOnce(Conn<'c>) -> Result<T, StorageError>
            + Work<Conn<'c>, Result<T, StorageError>, Fut: Send>
            + Send
            + 'a,
        T: Send + 'a,
    {
        match self {
            Self::Postgres(PgPool {
                replica: Some(replica),
                ..
            }) => {
                let mut pooled = replica.get().await?;
                work(Conn::Postgres(&mut pooled)).await
            }
            Self::Postgres(_) => self.read(work).await,
            Self::Sqlite(_) => LONG.scope((), self.read(work)).await,
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The pool's state: its size limit, connections open, idle, and tasks waiting.
    pub fn pool_status(&self) -> deadpool::Status {
        match self {
            Self::Postgres(pool) => pool.status(),
            Self::Sqlite(pool) => pool.pool.status(),
        }
    }

    /// Checks that the database answers and takes writes (on PostgreSQL, that the
    /// server reached is a primary, not a standby in recovery).
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(pool) => {
                use diesel_async::RunQueryDsl as _;
                let mut conn = pool.get().await?;
                let standby: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "pg_is_in_recovery()",
                ))
                .get_result(&mut conn)
                .await?;
                if standby {
                    return Err(StorageError::Database(DieselError::DatabaseError(
                        DatabaseErrorKind::ReadOnlyTransaction,
                        Box::new(
                            "the database reached is a standby: it takes no writes".to_owned(),
                        ),
                    )));
                }
            }
            Self::Sqlite(pool) => pool.get().await?.batch_execute("SELECT 1").await?,
        }
        Ok(())
    }
}
