//! Console sessions and sign-ins under way.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Conn, StorageError, on_backend};

/// A console session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredSession {
    /// SHA-256 (hex) of the cookie's value.
    pub id_hash: String,
    /// The person's `sub`, or `key:<id>` for a session made from an admin key.
    pub subject: String,
    /// The person's e-mail, if known.
    pub email: Option<String>,
    /// How the console and the audit log name them.
    pub name: String,
    /// `admin` or `analyst`.
    pub role: String,
    /// The admin key the session was made from, if it was.
    pub key_id: Option<i64>,
    /// What a change must carry in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_seen_at: DateTime<Utc>,
    /// When it ends whatever happens (the absolute timeout).
    pub expires_at: DateTime<Utc>,
}

/// Stores a new session, and drops the ones that have ended.
pub async fn create_session(c: &mut Conn<'_>, s: &StoredSession) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::console_sessions::dsl as cs;
        diesel::delete(cs::console_sessions.filter(cs::expires_at.le(s.created_at)))
            .execute(conn)
            .await?;
        diesel::insert_into(cs::console_sessions)
            .values((
                cs::id_hash.eq(&s.id_hash),
                cs::subject.eq(&s.subject),
                cs::email.eq(&s.email),
                cs::name.eq(&s.name),
                cs::role.eq(&s.role),
                cs::key_id.eq(s.key_id),
                cs::csrf_token.eq(&s.csrf_token),
                cs::created_at.eq(s.created_at),
                cs::last_seen_at.eq(s.last_seen_at),
                cs::expires_at.eq(s.expires_at),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// The session whose cookie hashes to `id_hash`.
pub async fn session(
    c: &mut Conn<'_>,
    id_hash: &str,
) -> Result<Option<StoredSession>, StorageError> {
    on_backend!(c, |conn| {
        use schema::console_sessions::dsl as cs;
        Ok(cs::console_sessions
            .find(id_hash)
            .first(conn)
            .await
            .optional()?)
    })
}

/// Records a use of a session.
pub async fn touch_session(
    c: &mut Conn<'_>,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::console_sessions::dsl as cs;
        diesel::update(cs::console_sessions.find(id_hash))
            .set(cs::last_seen_at.eq(now))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Ends a session.
pub async fn delete_session(c: &mut Conn<'_>, id_hash: &str) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::console_sessions::dsl as cs;
        diesel::delete(cs::console_sessions.find(id_hash))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Remembers a sign-in under way, and drops the ones older than `stale_before`.
pub async fn save_login(
    c: &mut Conn<'_>,
    state: &str,
    nonce: &str,
    verifier: &str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::console_logins::dsl as cl;
        diesel::delete(cl::console_logins.filter(cl::created_at.lt(stale_before)))
            .execute(conn)
            .await?;
        diesel::insert_into(cl::console_logins)
            .values((
                cl::state.eq(state),
                cl::nonce.eq(nonce),
                cl::verifier.eq(verifier),
                cl::created_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Takes (reads and deletes) a sign-in under way: its nonce, verifier and start.
pub async fn take_login(
    c: &mut Conn<'_>,
    state: &str,
) -> Result<Option<(String, String, DateTime<Utc>)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::console_logins::dsl as cl;
        Ok(diesel::delete(cl::console_logins.find(state))
            .returning((cl::nonce, cl::verifier, cl::created_at))
            .get_result(conn)
            .await
            .optional()?)
    })
}
