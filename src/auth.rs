//! Authentication: API keys or OpenID access tokens sent as `Authorization: Bearer …`,
//! console sessions (a cookie, with a CSRF token on every change), and roles.
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
    /// A bearer access token (a JWT) that the OpenID provider's keys and claims refuse.
    #[error("the access token was refused: {0}")]
    Token(String),
    /// A bearer access token could not be checked: the OpenID provider's keys could not
    /// be read (the details are logged).
    #[error("the identity provider could not be reached to check the access token")]
    ProviderUnavailable,
    /// The console session's cookie names no live session (signed out, idle or too old).
    #[error("the console session has ended; sign in again")]
    SessionEnded,
    /// A console request that may change something without its session's CSRF token.
    #[error("a console request must carry its session's X-CSRF-Token header")]
    CsrfMissing,
    /// The key store could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The cookie that carries a console session.
pub const SESSION_COOKIE: &str = "coupons_session";
/// The header that carries a console session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long console sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Unused this long, a session ends.
    pub idle: chrono::Duration,
    /// A session ends this long after it began, used or not.
    pub absolute: chrono::Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle: chrono::Duration::minutes(30),
            absolute: chrono::Duration::hours(12),
        }
    }
}

/// The SHA-256 (hex) of a session cookie's value: what is stored.
pub fn session_hash(value: &str) -> String {
    hash(value)
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

/// Turns a request's credentials into a caller: an API key or an OpenID access token in
/// `Authorization`, or a console session's cookie.
#[derive(Clone)]
pub struct Authenticator {
    db: Db,
    admin_key_hash: Option<String>,
    oidc: Option<crate::oidc::Oidc>,
    sessions: SessionLimits,
    keys: std::sync::Arc<crate::cache::KeyCache>,
}

impl Authenticator {
    /// `admin_key` is `COUPONS_ADMIN_KEY`, accepted as an admin key when set.
    pub fn new(db: Db, admin_key: Option<&str>) -> Self {
        Self {
            db,
            admin_key_hash: admin_key.map(|k| hash(k.trim())),
            oidc: None,
            sessions: SessionLimits::default(),
            keys: std::sync::Arc::default(),
        }
    }

    /// Reads keys through `keys`, the cache the service's key changes clear.
    #[must_use]
    pub fn with_key_cache(mut self, keys: std::sync::Arc<crate::cache::KeyCache>) -> Self {
        self.keys = keys;
        self
    }

    /// Also accepts the OpenID provider's access tokens (and signs people in to the
    /// console through it).
    #[must_use]
    pub fn with_oidc(mut self, oidc: Option<crate::oidc::Oidc>) -> Self {
        self.oidc = oidc;
        self
    }

    /// Console sessions last this long.
    #[must_use]
    pub fn with_session_limits(mut self, limits: SessionLimits) -> Self {
        self.sessions = limits;
        self
    }

    /// The OpenID provider, when one is configured.
    pub fn oidc(&self) -> Option<&crate::oidc::Oidc> {
        self.oidc.as_ref()
    }

    /// How long console sessions last.
    pub fn session_limits(&self) -> SessionLimits {
        self.sessions
    }

    /// The database sessions live in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The caller a request's headers name: `Authorization` when sent, else the console
    /// session's cookie, which for any method but `GET`, `HEAD` and `OPTIONS` must come
    /// with the session's CSRF token. `Ok(None)` when neither was sent.
    pub async fn authenticate_request(
        &self,
        headers: &axum::http::HeaderMap,
        method: &axum::http::Method,
    ) -> Result<Option<Caller>, AuthError> {
        use axum::http::Method;
        if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
            let header = value.to_str().map_err(|_| AuthError::Malformed)?;
            return self.authenticate(Some(header)).await;
        }
        let Some(cookie) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let session = self.session(cookie).await?.ok_or(AuthError::SessionEnded)?;
        if ![Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            // Comparing hashes keeps the comparison's timing independent of the token.
            if sent.map(hash) != Some(hash(&session.csrf_token)) {
                return Err(AuthError::CsrfMissing);
            }
        }
        Ok(Some(session_caller(&session)))
    }

    /// The live session a cookie value names (recording its use), or `None`.
    pub async fn session(
        &self,
        cookie: &str,
    ) -> Result<Option<crate::storage::sessions::StoredSession>, StorageError> {
        use crate::storage::sessions;
        let id_hash = &hash(cookie);
        let now = Utc::now();
        let found = self
            .db
            .read(async move |mut c| sessions::session(&mut c, id_hash).await)
            .await?;
        let Some(s) = found else {
            return Ok(None);
        };
        if s.expires_at <= now || s.last_seen_at + self.sessions.idle <= now {
            self.db
                .write(async move |mut c| sessions::delete_session(&mut c, id_hash).await)
                .await?;
            return Ok(None);
        }
        // Uses are recorded to the half minute: enough for the idle timeout.
        if now - s.last_seen_at >= chrono::Duration::seconds(30) {
            self.db
                .write(async move |mut c| sessions::touch_session(&mut c, id_hash, now).await)
                .await?;
        }
        Ok(Some(s))
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
        if let Some(oidc) = &self.oidc
            && crate::oidc::looks_like_jwt(key)
        {
            let person = oidc.bearer(key).await.map_err(|e| match e {
                crate::oidc::OidcError::Provider(detail) => {
                    tracing::error!(%detail, "the identity provider could not be reached");
                    AuthError::ProviderUnavailable
                }
                other => AuthError::Token(other.to_string()),
            })?;
            return Ok(Some(person_caller(&person)));
        }
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
                subject: None,
            }));
        }
        let now = Utc::now();
        let presented = presented.as_str();
        let stored = match self.keys.get(presented) {
            Some(stored) => stored,
            None => {
                let (generation, read_at) = (self.keys.generation(), std::time::Instant::now());
                let stored = self
                    .db
                    .read(async move |mut c| api_keys::api_key_by_hash(&mut c, presented).await)
                    .await?
                    .ok_or(AuthError::UnknownKey)?;
                self.keys.put(generation, read_at, stored.clone());
                stored
            }
        };
        if stored.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if stored.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::Expired);
        }
        let role = Role::parse(&stored.role).ok_or(AuthError::UnknownKey)?;
        if crate::storage::last_use_is_stale(stored.last_used_at, now) {
            match self.touch(stored.id, now).await {
                Ok(()) => self.keys.used(presented, now),
                Err(e) => {
                    tracing::warn!(error = %e, key = %stored.prefix, "could not record API key use");
                }
            }
        }
        Ok(Some(Caller {
            role,
            key_id: Some(stored.id),
            channels: stored.channel_list(),
            key_prefix: stored.prefix,
            name: stored.name,
            ip: None,
            subject: None,
        }))
    }
}

/// The caller a person is, signed in through the OpenID provider.
pub fn person_caller(person: &crate::oidc::Person) -> Caller {
    Caller {
        role: person.role,
        key_id: None,
        key_prefix: String::new(),
        name: person.display(),
        channels: Vec::new(),
        ip: None,
        subject: Some(person.subject.clone()),
    }
}

/// The caller a console session is: its person (named `e-mail (sub)` as in the audit
/// log), or the admin key it was made from.
pub fn session_caller(s: &crate::storage::sessions::StoredSession) -> Caller {
    let person = s.key_id.is_none() && s.subject != "COUPONS_ADMIN_KEY";
    let name = match (&s.email, person) {
        (Some(email), true) => format!("{email} ({})", s.subject),
        (None, true) => s.subject.clone(),
        (_, false) => s.name.clone(),
    };
    Caller {
        role: Role::parse(&s.role).unwrap_or(Role::Analyst),
        key_id: s.key_id,
        key_prefix: String::new(),
        name,
        channels: Vec::new(),
        ip: None,
        subject: person.then(|| s.subject.clone()),
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
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
