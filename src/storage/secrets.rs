//! Secrets the service keeps for itself in its database (the key of the customer-key
//! HMAC when none is configured), so that every instance on one database uses the same.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Conn, StorageError, on_backend};

/// The secret called `name`, stored as `candidate` if there is none yet. Concurrent
/// first calls agree on one value: the insert that loses does nothing, and both read
/// the one that won.
pub async fn service_secret(
    c: &mut Conn<'_>,
    name: &str,
    candidate: &str,
    now: DateTime<Utc>,
) -> Result<String, StorageError> {
    on_backend!(c, |conn| {
        use schema::service_secrets::dsl as s;
        diesel::insert_into(s::service_secrets)
            .values((
                s::name.eq(name),
                s::value.eq(candidate),
                s::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        Ok(s::service_secrets
            .find(name)
            .select(s::value)
            .first::<String>(conn)
            .await?)
    })
}
