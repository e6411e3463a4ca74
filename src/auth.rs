//! Authentication: API keys sent as `Authorization: Bearer <key>`, and roles.
//!
//! A key is `cpn_` followed by 40 random letters and digits (about 238 bits), drawn from
//! the operating system's cryptographically secure generator. Only the SHA-256 of the
//! whole key is stored; a fast hash is right for secrets this long, and it makes the
//! lookup a single indexed read.

use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub use crate::caller::{Caller, Role, key_scope};
use crate::storage::{Actor, Db, KeyChange, NewApiKey, StorageError, StoredApiKey, api_keys};

/// What every key starts with, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "cpn_";
const SECRET_LEN: usize = 40;
/// Characters of a key shown in lists and logs.
const DISPLAY_PREFIX_LEN: usize = 12;

/// Why a request's credentials were refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("authentication required: send the header 'Authorization: Bearer <API key>'")]
    Missing,
    /// The header is not `Bearer <key>`.
    #[error("the Authorization header must be 'Bearer <API key>'")]
    Malformed,
    /// No key with this secret.
    #[error("this API key is not known")]
    UnknownKey,
    /// The key was revoked.
    #[error("this API key was revoked")]
    Revoked,
    /// The key was replaced by a rotation and its grace period is over.
    #[error("this API key has expired (it was rotated; use the new one)")]
    Expired,
    /// The key store could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A newly generated key. The secret is shown once and never stored.
pub struct GeneratedKey {
    /// The whole key, to hand to the user.
    pub secret: String,
    /// The stored record.
    pub stored: StoredApiKey,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn generate_secret() -> String {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    format!("{KEY_PREFIX}{random}")
}

fn display_prefix(secret: &str) -> &str {
    secret.get(..DISPLAY_PREFIX_LEN).unwrap_or(secret)
}

/// Creates and stores a new key on the command line (audited as such), valid for
/// every channel.
pub async fn create_api_key(db: &Db, name: &str, role: Role) -> Result<GeneratedKey, StorageError> {
    create_scoped_api_key(db, name, role, &[], &Actor::system("command line")).await
}

/// Creates and stores a new key, limited to `channels` (lower case) unless empty.
pub async fn create_scoped_api_key(
    db: &Db,
    name: &str,
    role: Role,
    channels: &[String],
    actor: &Actor,
) -> Result<GeneratedKey, StorageError> {
    let secret = generate_secret();
    let secret_hash = &hash(&secret);
    let key = NewApiKey {
        name,
        role: role.as_str(),
        prefix: display_prefix(&secret),
        secret_hash,
        channels,
    };
    let now = Utc::now();
    let stored = db
        .write(async move |mut c| api_keys::insert_api_key(&mut c, key, actor, now).await)
        .await?;
    Ok(GeneratedKey { secret, stored })
}

/// Replaces key `id` by a new one with the same name, role and channels; the old one
/// keeps working until `now + grace`. Returns the new key (shown once) and the old.
pub async fn rotate_api_key(
    db: &Db,
    id: i64,
    grace: chrono::Duration,
    actor: &Actor,
) -> Result<KeyChange<(StoredApiKey, GeneratedKey)>, StorageError> {
    let secret = generate_secret();
    let now = Utc::now();
    let (prefix, secret_hash) = (display_prefix(&secret), &hash(&secret));
    let changed = db
        .write(async move |mut c| {
            api_keys::rotate_api_key(&mut c, id, prefix, secret_hash, now + grace, actor, now).await
        })
        .await?;
    Ok(match changed {
        KeyChange::Changed((old, stored)) => {
            KeyChange::Changed((old, GeneratedKey { secret, stored }))
        }
        KeyChange::NotFound => KeyChange::NotFound,
        KeyChange::Inactive(k) => KeyChange::Inactive(k),
    })
}

/// On a database with no key at all, creates the first admin key (exactly once, even
/// when several instances start together). `None` when keys exist already.
pub async fn create_first_admin_key(db: &Db) -> Result<Option<GeneratedKey>, StorageError> {
    let secret = generate_secret();
    let secret_hash = &hash(&secret);
    let key = NewApiKey {
        name: "first admin key",
        role: Role::Admin.as_str(),
        prefix: display_prefix(&secret),
        secret_hash,
        channels: &[],
    };
    let now = Utc::now();
    let stored = db
        .write(async move |mut c| api_keys::insert_first_admin_key(&mut c, key, now).await)
        .await?;
    Ok(stored.map(|stored| GeneratedKey { secret, stored }))
}

/// Turns an `Authorization` header into a caller.
#[derive(Clone)]
pub struct Authenticator {
    db: Db,
    admin_key_hash: Option<String>,
}

impl Authenticator {
    /// `admin_key` is `COUPONS_ADMIN_KEY`, accepted as an admin key when set.
    pub fn new(db: Db, admin_key: Option<&str>) -> Self {
        Self {
            db,
            admin_key_hash: admin_key.map(|k| hash(k.trim())),
        }
    }

    /// The caller a header names (its address is the transport's to add); `Ok(None)` when
    /// no credentials were sent.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Option<Caller>, AuthError> {
        let Some(header) = header else {
            return Ok(None);
        };
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Malformed)?;
        let presented = hash(key);
        // Comparing hashes keeps the comparison's timing independent of the secret.
        if self.admin_key_hash.as_deref() == Some(presented.as_str()) {
            return Ok(Some(Caller {
                role: Role::Admin,
                key_id: None,
                key_prefix: display_prefix(key).to_owned(),
                name: "COUPONS_ADMIN_KEY".into(),
                channels: Vec::new(),
                ip: None,
            }));
        }
        let now = Utc::now();
        let presented = presented.as_str();
        let stored = self
            .db
            .read(async move |mut c| api_keys::api_key_by_hash(&mut c, presented).await)
            .await?
            .ok_or(AuthError::UnknownKey)?;
        if stored.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if stored.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::Expired);
        }
        let role = Role::parse(&stored.role).ok_or(AuthError::UnknownKey)?;
        if crate::storage::last_use_is_stale(stored.last_used_at, now)
            && let Err(e) = self.touch(stored.id, now).await
        {
            tracing::warn!(error = %e, key = %stored.prefix, "could not record API key use");
        }
        Ok(Some(Caller {
            role,
            key_id: Some(stored.id),
            channels: stored.channel_list(),
            key_prefix: stored.prefix,
            name: stored.name,
            ip: None,
        }))
    }
}

impl Authenticator {
    /// Records a use of a key, on its own (outside any transaction, as the lookup).
    async fn touch(&self, id: i64, now: chrono::DateTime<Utc>) -> Result<(), StorageError> {
        self.db
            .read(async move |mut c| api_keys::touch_api_key(&mut c, id, now).await)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognisable() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + SECRET_LEN);
        assert!(
            a[KEY_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(display_prefix(&a).len(), DISPLAY_PREFIX_LEN);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }
}
