//! The hourly tally of validation attempts per coupon and outcome, which reports read.
//! Attempts are counted in memory (`service::attempts`) and added here in batches, so a
//! validation stays a read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Conn, StorageError, on_backend};

/// Adds (coupon id, hour, outcome, attempts) rows to the tally.
pub async fn add_validation_attempts(
    c: &mut Conn<'_>,
    rows: &[(i64, DateTime<Utc>, &str, i64)],
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use diesel::upsert::excluded;
        use schema::validation_attempts::dsl as va;
        for (coupon_id, hour, outcome, n) in rows {
            diesel::insert_into(va::validation_attempts)
                .values((
                    va::coupon_id.eq(coupon_id),
                    va::hour.eq(hour),
                    va::outcome.eq(outcome),
                    va::attempts.eq(n),
                ))
                .on_conflict((va::coupon_id, va::hour, va::outcome))
                .do_update()
                .set(va::attempts.eq(va::attempts + excluded(va::attempts)))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
}

/// Validation attempts recorded for a coupon (the ones written so far).
pub async fn validation_attempts(c: &mut Conn<'_>, coupon_id: i64) -> Result<i64, StorageError> {
    let counts: Vec<i64> = on_backend!(c, |conn| {
        use schema::validation_attempts::dsl as va;
        va::validation_attempts
            .filter(va::coupon_id.eq(coupon_id))
            .select(va::attempts)
            .load(conn)
            .await?
    });
    Ok(counts.into_iter().sum())
}
