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

/// One subject's shared count after [`add_shared_failures`].
#[derive(Debug, Clone, QueryableByName)]
pub struct SharedFailures {
    /// The subject's name (keyed hash).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub subject: String,
    /// The subject was locked out already: these failures were not counted, and their
    /// verdicts must not be told.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub refused: bool,
    /// Failures in the current window, after these (0 when they locked it out).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub failures: i32,
    /// Milliseconds of lockout left, if it is locked out.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub locked_ms: Option<i64>,
    /// These failures locked it out.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub locked_now: bool,
}

/// Adds `n` failures to each subject's shared count (PostgreSQL), in one statement:
/// a subject already locked out is left as it is and reported `refused`; a window
/// older than `window_ms` starts again; a count that reaches the subject's budget locks
/// it out for `lockout_ms` and starts again from zero. The same rules as the in-memory
/// limiter, applied under the row's lock, so failures counted by several instances at
/// once add up exactly. Nothing on SQLite (one instance; its limiter counts in memory).
/// One statement, run by itself ([`Db::autocommit`](super::Db::autocommit)); when it
/// locks a subject out, a second one tells the other instances.
pub async fn add_shared_failures(
    c: &mut Conn<'_>,
    subjects: &[String],
    budgets: &[i32],
    n: i32,
    window_ms: i64,
    lockout_ms: i64,
) -> Result<Vec<SharedFailures>, StorageError> {
    use diesel::sql_types::{Array, BigInt, Integer, Text};
    let Conn::Postgres(conn) = c else {
        return Ok(Vec::new());
    };
    let found = diesel::sql_query(ADD_SHARED_FAILURES)
        .bind::<Array<Text>, _>(subjects)
        .bind::<Array<Integer>, _>(budgets)
        .bind::<Integer, _>(n)
        .bind::<BigInt, _>(window_ms)
        .bind::<BigInt, _>(lockout_ms)
        .load::<SharedFailures>(&mut **conn)
        .await?;
    let locked: Vec<&str> = found
        .iter()
        .filter(|f| f.locked_now)
        .map(|f| f.subject.as_str())
        .collect();
    for subject in locked {
        let ms = lockout_ms.to_string();
        super::events::announce(c, &format!("{LOCKOUT_NOTICE}{subject}:{ms}")).await?;
    }
    Ok(found)
}

/// The start of the `NOTIFY coupon_events` payload that tells the other instances a
/// subject was locked out: `lockout:<subject>:<milliseconds>`.
pub const LOCKOUT_NOTICE: &str = "lockout:";

/// `$1` subjects, `$2` their budgets, `$3` failures to add, `$4` the window and `$5`
/// the lockout in milliseconds. In `DO UPDATE`, `b` is the row before the change.
const ADD_SHARED_FAILURES: &str = "\
WITH given AS (
    SELECT s.subject, s.budget FROM unnest($1::text[], $2::int[]) AS s(subject, budget)
)
INSERT INTO attempt_budgets AS b (subject, budget, window_start, failures, locked_until, refused)
SELECT subject, budget, now(),
       CASE WHEN $3 >= budget THEN 0 ELSE $3 END,
       CASE WHEN $3 >= budget THEN now() + $5 * interval '1 millisecond' END,
       false
FROM given
ON CONFLICT (subject) DO UPDATE SET
    budget = EXCLUDED.budget,
    refused = COALESCE(b.locked_until > now(), false),
    failures = CASE
        WHEN b.locked_until > now() THEN b.failures
        WHEN (CASE WHEN b.window_start <= now() - $4 * interval '1 millisecond' THEN 0 ELSE b.failures END)
             + $3 >= EXCLUDED.budget THEN 0
        ELSE (CASE WHEN b.window_start <= now() - $4 * interval '1 millisecond' THEN 0 ELSE b.failures END) + $3
    END,
    window_start = CASE
        WHEN b.locked_until > now() THEN b.window_start
        WHEN b.window_start <= now() - $4 * interval '1 millisecond' THEN now()
        WHEN b.failures + $3 >= EXCLUDED.budget THEN now()
        ELSE b.window_start
    END,
    locked_until = CASE
        WHEN b.locked_until > now() THEN b.locked_until
        WHEN (CASE WHEN b.window_start <= now() - $4 * interval '1 millisecond' THEN 0 ELSE b.failures END)
             + $3 >= EXCLUDED.budget THEN now() + $5 * interval '1 millisecond'
        ELSE b.locked_until
    END
RETURNING subject, refused, failures,
    CASE WHEN locked_until > now()
         THEN CAST(EXTRACT(EPOCH FROM locked_until - now()) * 1000 AS BIGINT) END AS locked_ms,
    COALESCE(NOT refused AND locked_until = now() + $5 * interval '1 millisecond', false) AS locked_now";

/// Forgets shared counts whose window and lockout are both over; how many it removed.
pub async fn prune_shared(c: &mut Conn<'_>, window_ms: i64) -> Result<usize, StorageError> {
    let Conn::Postgres(conn) = c else {
        return Ok(0);
    };
    Ok(diesel::sql_query(
        "DELETE FROM attempt_budgets WHERE window_start <= now() - $1 * interval '1 millisecond' \
         AND (locked_until IS NULL OR locked_until <= now())",
    )
    .bind::<diesel::sql_types::BigInt, _>(window_ms)
    .execute(&mut **conn)
    .await?)
}
