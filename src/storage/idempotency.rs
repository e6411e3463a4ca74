//! Idempotency records: a key a caller sends with a checkout call, claimed inside the
//! call's transaction and answered with the stored response when it comes again.
//!
//! A claim is an insert that waits on the key's unique index, so of two concurrent
//! calls with one key the second waits for the first to commit, then replays its
//! response instead of executing. Records are kept until `expires_at`, then purged by
//! the sweep (or started afresh when their key comes back).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::{Conn, StorageError, on_backend};

/// An idempotency key, scoped to a caller and an operation.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    /// Operation and caller, e.g. `redeem:key:42`.
    pub scope: &'a str,
    /// The caller's key.
    pub key: &'a str,
    /// Hash of the canonical request; the same key with another hash is refused.
    pub request_hash: &'a str,
    /// Until when the record is kept.
    pub expires_at: DateTime<Utc>,
}

/// The result of an idempotent call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent<T> {
    /// Executed now.
    Fresh(T),
    /// An earlier response to the same key and request.
    Replayed(T),
    /// The key was used before for a different request.
    KeyReused,
}

fn corrupt_response(e: &serde_json::Error) -> StorageError {
    StorageError::Corrupt {
        table: "idempotency_keys",
        id: 0,
        reason: e.to_string(),
    }
}

/// Claims an idempotency key inside the current transaction: `Some(early answer)` when
/// the key was used already (a replay, or a key reused for another request), `None` to
/// go on. A concurrent duplicate waits on the key's unique index.
pub async fn claim_key<T: serde::de::DeserializeOwned>(
    c: &mut Conn<'_>,
    claim: Option<IdempotencyClaim<'_>>,
    now: DateTime<Utc>,
) -> Result<Option<Idempotent<T>>, StorageError> {
    let Some(claim) = claim else {
        return Ok(None);
    };
    on_backend!(c, |conn| {
        use schema::idempotency_keys::dsl as ik;
        let inserted = diesel::insert_into(ik::idempotency_keys)
            .values((
                ik::scope.eq(claim.scope),
                ik::key.eq(claim.key),
                ik::request_hash.eq(claim.request_hash),
                ik::response.eq(Value::Null),
                ik::created_at.eq(now),
                ik::expires_at.eq(claim.expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(None);
        }
        let (hash, response, expires_at): (String, Value, DateTime<Utc>) = ik::idempotency_keys
            .find((claim.scope, claim.key))
            .select((ik::request_hash, ik::response, ik::expires_at))
            .first(conn)
            .await?;
        if expires_at <= now {
            // Past retention: the key starts afresh.
            diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
                .set((
                    ik::request_hash.eq(claim.request_hash),
                    ik::response.eq(Value::Null),
                    ik::created_at.eq(now),
                    ik::expires_at.eq(claim.expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(None)
        } else if hash != claim.request_hash {
            Ok(Some(Idempotent::KeyReused))
        } else {
            let outcome: T = serde_json::from_value(response).map_err(|e| corrupt_response(&e))?;
            Ok(Some(Idempotent::Replayed(outcome)))
        }
    })
}

/// Stores the response for a claimed key.
pub async fn remember<T: serde::Serialize>(
    c: &mut Conn<'_>,
    claim: Option<IdempotencyClaim<'_>>,
    outcome: &T,
) -> Result<(), StorageError> {
    let Some(claim) = claim else {
        return Ok(());
    };
    let response = serde_json::to_value(outcome).map_err(|e| corrupt_response(&e))?;
    on_backend!(c, |conn| {
        use schema::idempotency_keys::dsl as ik;
        diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
            .set(ik::response.eq(response))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Deletes the records past their retention; returns how many. Runs on its own, outside
/// a transaction.
pub async fn purge_expired_keys(
    c: &mut Conn<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    on_backend!(c, |conn| {
        use schema::idempotency_keys::dsl as ik;
        Ok(
            diesel::delete(ik::idempotency_keys.filter(ik::expires_at.le(now)))
                .execute(conn)
                .await?,
        )
    })
}
