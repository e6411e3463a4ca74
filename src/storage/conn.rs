//! The connection as a value: [`Conn`] is one connection of either backend, borrowed
//! for a unit of work. Storage steps are ordinary `async fn`s that take `&mut Conn` as
//! their first argument, so several of them compose inside one transaction, which the
//! caller opens with [`Db::read`] or [`Db::write`].
//!
//! The double expansion per backend happens inside each step's body only, through
//! [`on_backend!`]: the body is written once and compiled against each backend's table
//! module, so an operation one backend cannot express fails at `cargo build`.

use std::future::Future;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::{Db, SqliteConn, StorageError};

/// One connection, of either backend, for the length of a unit of work (inside a
/// transaction when it came from [`Db::write`]).
pub enum Conn<'c> {
    /// A PostgreSQL connection.
    Postgres(&'c mut AsyncPgConnection),
    /// A SQLite connection.
    Sqlite(&'c mut SqliteConn),
}

impl<'c> From<&'c mut AsyncPgConnection> for Conn<'c> {
    fn from(conn: &'c mut AsyncPgConnection) -> Self {
        Self::Postgres(conn)
    }
}

impl<'c> From<&'c mut SqliteConn> for Conn<'c> {
    fn from(conn: &'c mut SqliteConn) -> Self {
        Self::Sqlite(conn)
    }
}

/// Runs `$body` with `$conn` bound to the backend's own connection and `schema` to its
/// table module; the body is compiled once per backend. The one macro storage steps
/// use: everything else is functions.
macro_rules! on_backend {
    ($c:expr, |$conn:ident| $body:expr) => {
        match $c {
            $crate::storage::Conn::Postgres($conn) => {
                use $crate::storage::schema::pg as schema;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut **$conn;
                $body
            }
            $crate::storage::Conn::Sqlite($conn) => {
                use $crate::storage::schema::sqlite as schema;
                let $conn: &mut $crate::storage::SqliteConn = &mut **$conn;
                $body
            }
        }
    };
}
pub(crate) use on_backend;

/// A unit of work over a connection: an async closure `async |c: Conn| …` whose future
/// can be named, so that [`Db::read`] and [`Db::write`] can require it to be `Send`.
/// (The same device as diesel-async's own transactions.)
pub trait Work<C, R>: AsyncFnOnce(C) -> R + FnOnce(C) -> <Self as Work<C, R>>::Fut {
    /// The future the closure returns.
    type Fut: Future<Output = R>;
}

impl<F, C, Fut, R> Work<C, R> for F
where
    F: AsyncFnOnce(C) -> R + FnOnce(C) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

impl Db {
    /// Runs `work` on a pooled connection, outside any transaction: for reads.
    pub async fn read<'a, T, F>(&'a self, work: F) -> Result<T, StorageError>
    where
        for<'c> F: AsyncFnOnce(Conn<'c>) -> Result<T, StorageError>
            + Work<Conn<'c>, Result<T, StorageError>, Fut: Send>
            + Send
            + 'a,
        T: Send + 'a,
    {
        match self {
            Db::Postgres(pool) => {
                let mut pooled = pool.get().await?;
                work(Conn::Postgres(&mut pooled)).await
            }
            Db::Sqlite(pool) => {
                let mut pooled = pool.get().await?;
                work(Conn::Sqlite(&mut pooled)).await
            }
        }
    }

    /// Runs `work` on a pooled connection outside any transaction, for a write of one
    /// statement that commits by itself (PostgreSQL holds its row locks for that
    /// statement only). Not for work of several statements that must stand or fall
    /// together: that is [`Db::write`].
    pub async fn autocommit<'a, T, F>(&'a self, work: F) -> Result<T, StorageError>
    where
        for<'c> F: AsyncFnOnce(Conn<'c>) -> Result<T, StorageError>
            + Work<Conn<'c>, Result<T, StorageError>, Fut: Send>
            + Send
            + 'a,
        T: Send + 'a,
    {
        self.read(work).await
    }

    /// Runs `work` in one write transaction: committed when it returns `Ok`, rolled
    /// back on `Err`. On SQLite the transaction starts with `BEGIN IMMEDIATE` (so one
    /// that reads before it writes never fails to upgrade its lock), behind an
    /// in-process gate that lets one writer in at a time.
    pub async fn write<'a, T, F>(&'a self, work: F) -> Result<T, StorageError>
    where
        for<'c> F: AsyncFnOnce(Conn<'c>) -> Result<T, StorageError>
            + Work<Conn<'c>, Result<T, StorageError>, Fut: Send>
            + Send
            + 'a,
        T: Send + 'a,
    {
        self.try_write(work).await
    }

    /// Like [`Db::write`], for work with an error type of its own: a refusal the work
    /// decides on under its locks (a change a use case turns down after reading the
    /// row) rolls the transaction back just as a fault does, and reaches the caller as
    /// it was returned.
    pub async fn try_write<'a, T, E, F>(&'a self, work: F) -> Result<T, E>
    where
        for<'c> F: AsyncFnOnce(Conn<'c>) -> Result<T, E>
            + Work<Conn<'c>, Result<T, E>, Fut: Send>
            + Send
            + 'a,
        T: Send + 'a,
        E: From<StorageError> + Send + 'a,
    {
        let unwrap = |e: Abort<E>| match e {
            Abort::Work(e) => e,
            Abort::Database(e) => E::from(StorageError::from(e)),
        };
        match self {
            Db::Postgres(pool) => {
                let mut pooled = pool.get().await.map_err(|e| E::from(e.into()))?;
                pooled
                    .transaction(async move |tx| {
                        work(Conn::Postgres(tx)).await.map_err(Abort::Work)
                    })
                    .await
                    .map_err(unwrap)
            }
            Db::Sqlite(pool) => {
                // SQLite allows one writer anyway; waiting here is cheaper and fairer
                // than its busy-retry backoff.
                let _writer = pool.write_gate.lock().await;
                let mut pooled = pool.get().await.map_err(|e| E::from(e.into()))?;
                immediate_transaction(&mut pooled, async move |tx| {
                    work(Conn::Sqlite(tx)).await.map_err(Abort::Work)
                })
                .await
                .map_err(unwrap)
            }
        }
    }
}

/// Runs `work` in a SQLite transaction begun with `BEGIN IMMEDIATE` (its write lock
/// taken at once): committed when it returns `Ok`, rolled back on `Err`.
async fn immediate_transaction<'a, R, E, F>(conn: &mut SqliteConn, work: F) -> Result<R, E>
where
    for<'r> F: AsyncFnOnce(&'r mut SqliteConn) -> Result<R, E>
        + Work<&'r mut SqliteConn, Result<R, E>, Fut: Send>
        + Send
        + 'a,
    E: From<diesel::result::Error> + Send + 'a,
    R: Send + 'a,
{
    use diesel::connection::AnsiTransactionManager;
    use diesel_async::TransactionManager as _;
    use diesel_async::sync_connection_wrapper::SyncTransactionManagerWrapper;
    type Manager = SyncTransactionManagerWrapper<AnsiTransactionManager>;

    // Taking the write lock is the one statement that may wait (for another process's
    // writer, up to the busy timeout), so it runs off the task's thread; what follows
    // holds the lock and runs inline.
    super::off_thread(|| {
        conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
    })
    .await?;
    match work(&mut *conn).await {
        Ok(value) => {
            Manager::commit_transaction(&mut *conn).await?;
            Ok(value)
        }
        Err(e) => {
            Manager::rollback_transaction(&mut *conn).await?;
            Err(e)
        }
    }
}

/// Why a transaction of [`Db::try_write`] did not commit: the work's own error, or the
/// database's (beginning, committing or rolling back).
enum Abort<E> {
    Work(E),
    Database(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Abort<E> {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e)
    }
}
