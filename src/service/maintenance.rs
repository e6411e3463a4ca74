//! Background upkeep: expiring overdue reservations (so their capacity shows as free
//! even when no checkout touches the coupon) and dropping idempotency records past
//! their retention. Safe to run on every instance at once: each expiry is its own
//! transaction under the coupon's lock.

use std::time::Duration;

use chrono::Utc;

use super::attempts::AttemptCounter;
use super::limiter::Limiter;
use crate::storage::checkout::{coupons_with_overdue_reservations, expire_overdue};
use crate::storage::idempotency::purge_expired_keys;
use crate::storage::{CounterMismatch, Db, StorageError, redemptions};

/// Coupons handled per expiry batch.
const BATCH: i64 = 100;

/// One round of upkeep; returns (reservations expired, idempotency records removed).
pub async fn sweep(db: &Db) -> Result<(usize, usize), StorageError> {
    let mut expired = 0;
    loop {
        let n = expire_due_reservations(db, Utc::now(), BATCH).await?;
        expired += n;
        if n == 0 {
            break;
        }
    }
    let now = Utc::now();
    let purged = db
        .read(async move |mut c| purge_expired_keys(&mut c, now).await)
        .await?;
    Ok((expired, purged))
}

/// Expires the overdue reservations of up to `max_coupons` coupons, one transaction
/// per coupon under its lock; returns how many reservations expired.
async fn expire_due_reservations(
    db: &Db,
    now: chrono::DateTime<Utc>,
    max_coupons: i64,
) -> Result<usize, StorageError> {
    let coupons = db
        .read(async move |mut c| coupons_with_overdue_reservations(&mut c, now, max_coupons).await)
        .await?;
    let mut expired = 0;
    for coupon_id in coupons {
        expired += db
            .write(async move |mut c| expire_overdue(&mut c, coupon_id, now).await)
            .await?;
    }
    Ok(expired)
}

/// Every coupon, code and campaign counter that does not equal its redemption rows
/// (`coupons reconcile`; empty when all agree).
pub async fn reconcile(db: &Db) -> Result<Vec<CounterMismatch>, StorageError> {
    db.read_long(async |mut c| redemptions::counter_mismatches(&mut c).await)
        .await
}

/// Runs [`sweep`], flushes validation attempts and forgets finished attempt windows
/// every `interval` until the task is aborted.
pub async fn run(db: Db, attempts: AttemptCounter, limiter: Limiter, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        limiter.prune();
        if let Err(e) = limiter.prune_shared().await {
            tracing::warn!(error = %e, "could not forget finished shared attempt counts; will retry");
        }
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
