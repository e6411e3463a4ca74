//! Embedded migrations, one set per backend (`migrations/postgres`, `migrations/sqlite`).

use diesel::migration::MigrationSource;
use diesel_async::AsyncMigrationHarness;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Db, StorageError};

/// PostgreSQL migrations.
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// SQLite migrations.
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The names of the embedded migrations of one backend, in order.
pub fn names(source: &EmbeddedMigrations) -> Vec<String> {
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(source)
        .map(|ms| ms.iter().map(|m| m.name().to_string()).collect())
        .unwrap_or_default()
}

impl Db {
    /// Applies every pending migration; returns the versions applied.
    ///
    /// The harness blocks its thread, so it runs on the blocking pool: this also works
    /// from a current-thread runtime.
    pub async fn run_migrations(&self) -> Result<Vec<String>, StorageError> {
        let result = match self {
            Db::Postgres(pool) => {
                let conn = pool.get().await?;
                tokio::task::spawn_blocking(move || {
                    AsyncMigrationHarness::new(conn)
                        .run_pending_migrations(POSTGRES)
                        .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
                })
                .await
            }
            Db::Sqlite(pool) => {
                let conn = pool.get().await?;
                tokio::task::spawn_blocking(move || {
                    AsyncMigrationHarness::new(conn)
                        .run_pending_migrations(SQLITE)
                        .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
                })
                .await
            }
        };
        result
            .map_err(|e| StorageError::Migration(e.to_string()))?
            .map_err(|e| StorageError::Migration(e.to_string()))
    }
}

/// What [`create_missing_database`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSetUp {
    /// The database was there (or the URL is not PostgreSQL's).
    Existed,
    /// It did not exist and was created.
    Created(String),
}

/// Why a missing PostgreSQL database could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateDatabaseError {
    /// The role may not create databases.
    #[error(
        "database {database:?} does not exist, and role {role:?} may not create it; \
         create it (createdb {database}, or CREATE DATABASE as a role that may) or give \
         the role CREATEDB"
    )]
    NotAllowed {
        /// The database named in the URL.
        database: String,
        /// The role the URL logs in as.
        role: String,
    },
    /// Anything else: the server cannot be reached, the URL is malformed, ….
    #[error("{0}")]
    Other(String),
}

/// Creates the PostgreSQL database `url` names when it does not exist, connecting to the
/// server's `postgres` database with the same credentials to do it. SQLite creates its
/// file by itself, so any other URL is left alone.
pub async fn create_missing_database(url: &str) -> Result<DatabaseSetUp, CreateDatabaseError> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(DatabaseSetUp::Existed);
    }
    let missing = match AsyncPgConnection::establish(url).await {
        Ok(_) => return Ok(DatabaseSetUp::Existed),
        Err(e) => {
            let text = e.to_string();
            if !(text.contains("database") && text.contains("does not exist")) {
                return Err(CreateDatabaseError::Other(text));
            }
            text
        }
    };
    let parsed = url::Url::parse(url).map_err(|e| CreateDatabaseError::Other(e.to_string()))?;
    let database = parsed.path().trim_start_matches('/').to_owned();
    if database.is_empty() {
        return Err(CreateDatabaseError::Other(missing));
    }
    let role = match parsed.username() {
        "" => std::env::var("USER").unwrap_or_default(),
        user => user.to_owned(),
    };
    let mut admin_url = parsed.clone();
    admin_url.set_path("/postgres");
    let mut admin = AsyncPgConnection::establish(admin_url.as_str())
        .await
        .map_err(|e| CreateDatabaseError::Other(format!("{missing}; and {e}")))?;
    let quoted = format!("\"{}\"", database.replace('"', "\"\""));
    match admin
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(()) => Ok(DatabaseSetUp::Created(database)),
        // Another instance created it in the meantime.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("already exists") =>
        {
            Ok(DatabaseSetUp::Existed)
        }
        Err(e) if e.to_string().contains("permission denied") => {
            Err(CreateDatabaseError::NotAllowed { database, role })
        }
        Err(e) => Err(CreateDatabaseError::Other(e.to_string())),
    }
}
