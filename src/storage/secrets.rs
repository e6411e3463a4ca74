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

/// Where a stored secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSlot {
    /// A webhook endpoint's signing secret, by endpoint id.
    Webhook(i64),
    /// A service secret, by name.
    Service(String),
}

/// Every stored secret, as stored (sealed, or plain from before sealing), in a stable
/// order.
pub async fn stored_secrets(c: &mut Conn<'_>) -> Result<Vec<(SecretSlot, String)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::service_secrets::dsl as s;
        use schema::webhook_endpoints::dsl as w;
        let webhooks: Vec<(i64, String)> = w::webhook_endpoints
            .select((w::id, w::secret))
            .order(w::id)
            .load(conn)
            .await?;
        let services: Vec<(String, String)> = s::service_secrets
            .select((s::name, s::value))
            .order(s::name)
            .load(conn)
            .await?;
        Ok(webhooks
            .into_iter()
            .map(|(id, v)| (SecretSlot::Webhook(id), v))
            .chain(
                services
                    .into_iter()
                    .map(|(n, v)| (SecretSlot::Service(n), v)),
            )
            .collect())
    })
}

/// Stores `value` in `slot` in place of what is there.
pub async fn replace_secret(
    c: &mut Conn<'_>,
    slot: &SecretSlot,
    value: &str,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::service_secrets::dsl as s;
        use schema::webhook_endpoints::dsl as w;
        match slot {
            SecretSlot::Webhook(id) => {
                diesel::update(w::webhook_endpoints.find(id))
                    .set(w::secret.eq(value))
                    .execute(conn)
                    .await?;
            }
            SecretSlot::Service(name) => {
                diesel::update(s::service_secrets.find(name))
                    .set(s::value.eq(value))
                    .execute(conn)
                    .await?;
            }
        }
    });
    Ok(())
}
