//! The levels an operator watches that live in the database, read when the metrics are
//! asked for (see `crate::metrics`): reservations held, webhook deliveries by state and
//! the backlog, bulk jobs by state and the items they have left, the newest event.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Db, StorageError, events, on_backend};

/// Every state a webhook delivery can be in.
const DELIVERY_STATES: [&str; 3] = ["PENDING", "DELIVERED", "FAILED"];
/// Every state a bulk job can be in.
const JOB_STATES: [&str; 5] = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];

/// `counts` for every one of `states` (0 for a state no row is in).
fn every_state(states: &[&str], counts: &[(String, i64)]) -> Vec<(String, i64)> {
    states
        .iter()
        .map(|state| {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            ((*state).to_owned(), n)
        })
        .collect()
}

/// The levels at one moment.
#[derive(Debug, Default)]
pub struct Levels {
    /// Reservations held and not past their deadline.
    pub reservations_live: i64,
    /// Webhook deliveries by stored state (every state, 0 when none).
    pub deliveries: Vec<(String, i64)>,
    /// Pending deliveries whose next attempt is due.
    pub delivery_backlog: i64,
    /// Bulk jobs by stored state (every state, 0 when none).
    pub jobs: Vec<(String, i64)>,
    /// Items queued and running jobs have still to do.
    pub job_items_left: i64,
    /// The newest event's id (0 when none).
    pub last_event: i64,
}

/// Reads the levels (on SQLite off the request threads, as they count whole tables).
pub async fn read(db: &Db) -> Result<Levels, StorageError> {
    let now = Utc::now();
    db.read_long(async move |mut c| {
        let last_event = events::last_event_id(&mut c).await?;
        let levels = on_backend!(&mut c, |conn| {
            use schema::bulk_jobs::dsl as j;
            use schema::redemptions::dsl as r;
            use schema::webhook_deliveries::dsl as d;
            let reservations_live: i64 = r::redemptions
                .filter(r::status.eq("RESERVED"))
                .filter(r::reserved_until.gt(now))
                .count()
                .get_result(conn)
                .await?;
            let deliveries: Vec<(String, i64)> = d::webhook_deliveries
                .group_by(d::status)
                .select((d::status, diesel::dsl::count_star()))
                .load(conn)
                .await?;
            let delivery_backlog: i64 = d::webhook_deliveries
                .filter(d::status.eq("PENDING"))
                .filter(d::next_attempt_at.le(now))
                .count()
                .get_result(conn)
                .await?;
            let jobs: Vec<(String, i64)> = j::bulk_jobs
                .group_by(j::status)
                .select((j::status, diesel::dsl::count_star()))
                .load(conn)
                .await?;
            let open: Vec<(i64, i64)> = j::bulk_jobs
                .filter(j::status.eq_any(["QUEUED", "RUNNING"]))
                .select((j::total, j::done))
                .load(conn)
                .await?;
            Levels {
                reservations_live,
                deliveries: every_state(&DELIVERY_STATES, &deliveries),
                delivery_backlog,
                jobs: every_state(&JOB_STATES, &jobs),
                job_items_left: open.iter().map(|(total, done)| (total - done).max(0)).sum(),
                last_event,
            }
        });
        Ok(levels)
    })
    .await
}
