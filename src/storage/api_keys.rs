//! API key queries. Only a hash of each secret is stored.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Db, StorageError, with_conn, with_tx};

/// The flag recorded when the first admin key has been created.
const FIRST_ADMIN_KEY: &str = "first_admin_key";

/// How stale `last_used_at` may get before a request refreshes it (saves a write per
/// request).
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::seconds(60);

/// Whether a key's `last_used_at` is old enough to be refreshed. Checked before
/// writing, so a request costs a write at most once a minute per key.
pub fn last_use_is_stale(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|t| t < now - LAST_USED_GRANULARITY)
}

/// An `api_keys` row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredApiKey {
    /// Row id.
    pub id: i64,
    /// Who or what the key is for.
    pub name: String,
    /// `admin`, `storefront`, `analyst` or `public`.
    pub role: String,
    /// The first characters of the key, for recognising it in lists and logs.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used (refreshed at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to be stored.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    /// Who or what the key is for.
    pub name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Display prefix.
    pub prefix: &'a str,
    /// SHA-256 of the whole key, hex.
    pub secret_hash: &'a str,
}

/// The column values of a new key, against a backend's `api_keys` table.
macro_rules! api_key_values {
    ($k:ident, $key:expr, $now:expr) => {
        (
            $k::name.eq($key.name),
            $k::role.eq($key.role),
            $k::prefix.eq($key.prefix),
            $k::secret_hash.eq($key.secret_hash),
            $k::created_at.eq($now),
        )
    };
}

impl Db {
    /// Stores a new key.
    pub async fn insert_api_key(
        &self,
        key: NewApiKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<StoredApiKey, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::api_keys::dsl as k;
            diesel::insert_into(k::api_keys)
                .values(api_key_values!(k, key, now))
                .get_result(conn)
                .await?
        }))
    }

    /// Stores `key` as the first admin key, only if the database has no key at all and
    /// no first key was ever made. Concurrent first starts create exactly one.
    pub async fn insert_first_admin_key(
        &self,
        key: NewApiKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredApiKey>, StorageError> {
        with_tx!(self, |conn| {
            use schema::api_keys::dsl as k;
            use schema::service_flags::dsl as f;
            let claimed = diesel::insert_into(f::service_flags)
                .values((f::name.eq(FIRST_ADMIN_KEY), f::created_at.eq(now)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            let existing: i64 = k::api_keys.count().get_result(conn).await?;
            if claimed == 0 || existing > 0 {
                return Ok(None);
            }
            let stored = diesel::insert_into(k::api_keys)
                .values(api_key_values!(k, key, now))
                .get_result(conn)
                .await?;
            Ok(Some(stored))
        })
    }

    /// The key with this hash, if it exists and is not revoked.
    pub async fn active_api_key(&self, hash: &str) -> Result<Option<StoredApiKey>, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::api_keys::dsl as k;
            k::api_keys
                .filter(k::secret_hash.eq(hash))
                .filter(k::revoked_at.is_null())
                .first(conn)
                .await
                .optional()?
        }))
    }

    /// Records a use of the key, at most once per minute.
    pub async fn touch_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        let stale = now - LAST_USED_GRANULARITY;
        with_conn!(self, |conn| {
            use schema::api_keys::dsl as k;
            diesel::update(
                k::api_keys
                    .find(id)
                    .filter(k::last_used_at.is_null().or(k::last_used_at.lt(stale))),
            )
            .set(k::last_used_at.eq(now))
            .execute(conn)
            .await?;
        });
        Ok(())
    }
}
