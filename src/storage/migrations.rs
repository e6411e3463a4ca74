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
