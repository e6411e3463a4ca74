//! Background upkeep: expiring overdue reservations (so their capacity shows as free
//! even when no checkout touches the coupon) and dropping idempotency records past
//! their retention. Safe to run on every instance at once: each expiry is its own
//! transaction under the coupon's lock.

use std::time::Duration;

use chrono::Utc;

use super::attempts::AttemptCounter;
use super::limiter::Limiter;
use crate::storage::{Db, StorageError};

/// Coupons handled per expiry batch.
const BATCH: i64 = 100;

/// One round of upkeep; returns (reservations expired, idempotency records removed).
pub async fn sweep(db: &Db) -> Result<(usize, usize), StorageError> {
    let mut expired = 0;
    loop {
        let n = db.expire_due_reservations(Utc::now(), BATCH).await?;
        expired += n;
        if n == 0 {
            break;
        }
    }
    let purged = db.purge_idempotency_keys(Utc::now()).await?;
    Ok((expired, purged))
}

/// Runs [`sweep`], flushes validation attempts and forgets finished attempt windows
/// every `interval` until the task is aborted.
pub async fn run(db: Db, attempts: AttemptCounter, limiter: Limiter, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        limiter.prune();
        if let Err(e) = attempts.flush(&db).await {
            tracing::warn!(error = %e, "could not write validation attempts; will retry");
        }
        match sweep(&db).await {
            Ok((0, 0)) => {}
            Ok((expired, purged)) => tracing::info!(expired, purged, "upkeep"),
            Err(e) => tracing::warn!(error = %e, "upkeep failed; will retry"),
        }
    }
}
