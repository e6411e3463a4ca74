//! Counting validation attempts without a write per attempt.
//!
//! `validateCoupon` must stay a read, so attempts are tallied in memory per (coupon,
//! hour, outcome) and added to `validation_attempts` by the background sweep and at
//! shutdown. A crash loses at most one sweep interval of counts; these figures feed
//! reports, not limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::storage::{Db, StorageError, attempts};

/// (coupon id or 0, hour, outcome) → attempts.
type Tally = HashMap<(i64, DateTime<Utc>, &'static str), i64>;

/// Attempts not yet written.
#[derive(Clone, Default)]
pub struct AttemptCounter(Arc<Mutex<Tally>>);

impl AttemptCounter {
    /// Counts one attempt. `coupon_id` is `None` for a code that does not exist;
    /// `outcome` is `VALID` or the first rejection code.
    pub fn record(&self, coupon_id: Option<i64>, outcome: &'static str, at: DateTime<Utc>) {
        let hour = at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at);
        if let Ok(mut tally) = self.0.lock() {
            *tally
                .entry((coupon_id.unwrap_or(0), hour, outcome))
                .or_default() += 1;
        }
    }

    /// Writes the tally and clears it; on failure the counts are kept for next time.
    pub async fn flush(&self, db: &Db) -> Result<usize, StorageError> {
        let taken: Tally = match self.0.lock() {
            Ok(mut tally) => std::mem::take(&mut *tally),
            Err(_) => return Ok(0),
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(i64, DateTime<Utc>, &str, i64)> = taken
            .iter()
            .map(|((c, h, o), n)| (*c, *h, *o, *n))
            .collect();
        let written = rows.as_slice();
        let added = db
            .write(async move |mut c| attempts::add_validation_attempts(&mut c, written).await)
            .await;
        match added {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                if let Ok(mut tally) = self.0.lock() {
                    for (key, n) in taken {
                        *tally.entry(key).or_default() += n;
                    }
                }
                Err(e)
            }
        }
    }
}
