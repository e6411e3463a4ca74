//! API keys: creating, revoking and rotating them (each with its audit entry), the
//! first admin key of a new database, and the lookup every request makes. Only a hash
//! of each secret is stored.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use serde_json::{Value, json};

use super::audit::{Actor, AuditAction, EntityType, write_audit};
use super::{Conn, StorageError, on_backend};

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
    /// Channels it is limited to (JSON list of names; empty for all).
    pub channels: Value,
    /// When it stops working (set when it is rotated).
    pub expires_at: Option<DateTime<Utc>>,
    /// The key that replaced it by rotation.
    pub replaced_by: Option<i64>,
}

impl StoredApiKey {
    /// The channels it is limited to; empty for all.
    pub fn channel_list(&self) -> Vec<String> {
        self.channels
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether it is usable at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }

    /// The audit view: everything but the hash.
    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "channels": self.channels,
            "createdAt": self.created_at,
            "revokedAt": self.revoked_at,
            "expiresAt": self.expires_at,
            "replacedBy": self.replaced_by,
        })
    }
}

/// What revoking or rotating found.
#[derive(Debug)]
pub enum KeyChange<T> {
    /// Done.
    Changed(T),
    /// No key with that id.
    NotFound,
    /// The key is revoked or expired already.
    Inactive(StoredApiKey),
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
    /// Channels it is limited to (lower case); empty for all.
    pub channels: &'a [String],
}

/// A new key's row, for either backend's `api_keys` table.
#[derive(diesel::Insertable)]
#[diesel(table_name = super::schema::pg::api_keys, treat_none_as_default_value = false)]
#[diesel(table_name = super::schema::sqlite::api_keys)]
struct KeyRow<'a> {
    name: &'a str,
    role: &'a str,
    prefix: &'a str,
    secret_hash: &'a str,
    created_at: DateTime<Utc>,
    channels: Value,
}

impl<'a> NewApiKey<'a> {
    fn row(&self, now: DateTime<Utc>) -> KeyRow<'a> {
        KeyRow {
            name: self.name,
            role: self.role,
            prefix: self.prefix,
            secret_hash: self.secret_hash,
            created_at: now,
            channels: json!(self.channels),
        }
    }
}

/// Stores a new key.
pub async fn insert_api_key(
    c: &mut Conn<'_>,
    key: NewApiKey<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredApiKey, StorageError> {
    let stored = on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        let stored: StoredApiKey = diesel::insert_into(k::api_keys)
            .values(key.row(now))
            .get_result(conn)
            .await?;
        stored
    });
    let (action, entity) = (AuditAction::ApiKeyCreated, EntityType::ApiKey);
    let after = Some(stored.audit_json());
    write_audit(c, actor, action, entity, stored.id, None, after, now).await?;
    Ok(stored)
}

/// Revokes a key: it is refused from the next request on, on every instance.
pub async fn revoke_api_key(
    c: &mut Conn<'_>,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<KeyChange<StoredApiKey>, StorageError> {
    let (current, revoked) = on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        let current: Option<StoredApiKey> = k::api_keys.find(id).first(conn).await.optional()?;
        let Some(current) = current else {
            return Ok(KeyChange::NotFound);
        };
        if current.revoked_at.is_some() {
            return Ok(KeyChange::Inactive(current));
        }
        let revoked: StoredApiKey = diesel::update(k::api_keys.find(id))
            .set(k::revoked_at.eq(now))
            .get_result(conn)
            .await?;
        (current, revoked)
    });
    super::events::announce(c, crate::cache::KEYS_CHANGED).await?;
    let (action, entity) = (AuditAction::ApiKeyRevoked, EntityType::ApiKey);
    let (before, after) = (Some(current.audit_json()), Some(revoked.audit_json()));
    write_audit(c, actor, action, entity, id, before, after, now).await?;
    Ok(KeyChange::Changed(revoked))
}

/// Replaces a key by `new` (same name, role and channels); the old one keeps working
/// until `old_until`. Returns (old, new).
pub async fn rotate_api_key(
    c: &mut Conn<'_>,
    id: i64,
    new_prefix: &str,
    new_hash: &str,
    old_until: DateTime<Utc>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<KeyChange<(StoredApiKey, StoredApiKey)>, StorageError> {
    let (current, old, created) = on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        // Writing first locks the row, so two rotations of one key do not both win.
        let current: Option<StoredApiKey> = diesel::update(k::api_keys.find(id))
            .set(k::name.eq(k::name))
            .get_result(conn)
            .await
            .optional()?;
        let Some(current) = current else {
            return Ok(KeyChange::NotFound);
        };
        if !current.is_active(now) || current.replaced_by.is_some() {
            return Ok(KeyChange::Inactive(current));
        }
        let channels = current.channel_list();
        let new = NewApiKey {
            name: &current.name,
            role: &current.role,
            prefix: new_prefix,
            secret_hash: new_hash,
            channels: &channels,
        };
        let created: StoredApiKey = diesel::insert_into(k::api_keys)
            .values(new.row(now))
            .get_result(conn)
            .await?;
        let old: StoredApiKey = diesel::update(k::api_keys.find(id))
            .set((
                k::expires_at.eq(Some(old_until)),
                k::replaced_by.eq(Some(created.id)),
            ))
            .get_result(conn)
            .await?;
        (current, old, created)
    });
    super::events::announce(c, crate::cache::KEYS_CHANGED).await?;
    let (action, entity) = (AuditAction::ApiKeyRotated, EntityType::ApiKey);
    let before = Some(current.audit_json());
    let after = Some(json!({ "old": old.audit_json(), "new": created.audit_json() }));
    write_audit(c, actor, action, entity, id, before, after, now).await?;
    Ok(KeyChange::Changed((old, created)))
}

/// Keys, newest first, with ids below `before_id`; revoked and expired ones only
/// when asked.
pub async fn list_api_keys(
    c: &mut Conn<'_>,
    include_inactive: bool,
    before_id: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<StoredApiKey>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        let mut q = k::api_keys.into_boxed();
        if !include_inactive {
            q = q
                .filter(k::revoked_at.is_null())
                .filter(k::expires_at.is_null().or(k::expires_at.gt(now)));
        }
        if let Some(id) = before_id {
            q = q.filter(k::id.lt(id));
        }
        q.order(k::id.desc()).limit(limit).load(conn).await?
    }))
}

/// A key by id.
pub async fn api_key(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredApiKey>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        k::api_keys.find(id).first(conn).await.optional()?
    }))
}

/// Stores `key` as the first admin key, only if the database has no key at all and
/// no first key was ever made. Concurrent first starts create exactly one.
pub async fn insert_first_admin_key(
    c: &mut Conn<'_>,
    key: NewApiKey<'_>,
    now: DateTime<Utc>,
) -> Result<Option<StoredApiKey>, StorageError> {
    let stored = on_backend!(c, |conn| {
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
        let stored: StoredApiKey = diesel::insert_into(k::api_keys)
            .values(key.row(now))
            .get_result(conn)
            .await?;
        stored
    });
    let (action, entity) = (AuditAction::ApiKeyCreated, EntityType::ApiKey);
    let actor = Actor::system("first start");
    let after = Some(stored.audit_json());
    write_audit(c, &actor, action, entity, stored.id, None, after, now).await?;
    Ok(Some(stored))
}

/// The key with this hash, whatever its state (the caller tells a revoked or expired
/// key from an unknown one). Read on every request, so a revocation holds from the next
/// request on every instance.
pub async fn api_key_by_hash(
    c: &mut Conn<'_>,
    hash: &str,
) -> Result<Option<StoredApiKey>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::api_keys::dsl as k;
        k::api_keys
            .filter(k::secret_hash.eq(hash))
            .first(conn)
            .await
            .optional()?
    }))
}

/// Records a use of the key, at most once per minute.
pub async fn touch_api_key(
    c: &mut Conn<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let stale = now - LAST_USED_GRANULARITY;
    on_backend!(c, |conn| {
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
