//! Bulk jobs: rows with their progress, the lease an instance holds while it works on
//! one, and the chunks of generated codes written under that lease.
//!
//! Progress and the codes of a chunk commit in ONE transaction
//! (`service::jobs::write_chunk`) that first re-checks the lease on the job's row: a
//! chunk is counted exactly when its codes are stored, and an instance that lost its
//! lease (it stalled, another took over) writes nothing more.

use chrono::{DateTime, TimeDelta, Utc};
use coupons_domain::bulk::{GenerateSpec, JobStatus};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::audit::{Actor, AuditAction, EntityType, write_audit};
use super::{Conn, StorageError, on_backend};

/// The kind of job that generates codes.
pub const GENERATE_CODES: &str = "GENERATE_CODES";

/// A `bulk_jobs` row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredJob {
    /// Row id.
    pub id: i64,
    /// `GENERATE_CODES`.
    pub kind: String,
    /// The coupon it works on.
    pub coupon_id: i64,
    /// `QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    /// What was asked for ([`GenerateSpec`] as JSON).
    pub params: Value,
    /// Items asked for.
    pub total: i64,
    /// Items done.
    pub done: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether an admin asked it to stop.
    pub cancel_requested: bool,
    /// The instance working on it.
    pub lease_owner: Option<String>,
    /// Until when that instance holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When an instance first took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredJob {
    /// Its status.
    pub fn status(&self) -> Result<JobStatus, StorageError> {
        JobStatus::parse(&self.status).ok_or_else(|| self.corrupt("unknown status"))
    }

    /// What a code generation was asked for.
    pub fn spec(&self) -> Result<GenerateSpec, StorageError> {
        serde_json::from_value(self.params.clone()).map_err(|e| self.corrupt(&e.to_string()))
    }

    fn corrupt(&self, reason: &str) -> StorageError {
        StorageError::Corrupt {
            table: "bulk_jobs",
            id: self.id,
            reason: reason.to_owned(),
        }
    }

    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "couponId": self.coupon_id,
            "status": self.status,
            "params": self.params,
            "total": self.total,
            "done": self.done,
        })
    }
}

/// What asking a job to stop found.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// Cancelled now (it was queued), or it will stop before its next chunk.
    Cancelling(StoredJob),
    /// It had ended already.
    Finished(StoredJob),
    /// No such job.
    NotFound,
}

/// What writing a chunk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Stored: how many of the codes were new, and whether the job is complete.
    Stored {
        /// Codes written (the others were taken already).
        inserted: i64,
        /// Whether the job now has all it asked for.
        complete: bool,
    },
    /// An admin asked it to stop; it is now `CANCELLED` and nothing was written.
    Cancelled,
    /// This instance no longer holds the job (or it is gone); nothing was written.
    LeaseLost,
}

/// A coupon row held by `KEEP_COUPON` (see `schema.rs`).
#[derive(QueryableByName)]
struct KeptRow {
    #[diesel(sql_type = BigInt)]
    #[expect(dead_code, reason = "only whether a row came back matters")]
    id: i64,
}

/// The statuses a job can be taken in.
const OPEN: [&str; 2] = ["QUEUED", "RUNNING"];

/// Queues a code generation for a coupon; `None` when the coupon does not exist.
pub async fn insert_generate_job(
    c: &mut Conn<'_>,
    coupon_id: i64,
    spec: &GenerateSpec,
    count: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<StoredJob>, StorageError> {
    let params = serde_json::to_value(spec).map_err(|e| StorageError::Corrupt {
        table: "bulk_jobs",
        id: 0,
        reason: e.to_string(),
    })?;
    let job = on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        use schema::coupons::dsl as c;
        let found: Option<i64> = c::coupons
            .find(coupon_id)
            .select(c::id)
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Ok(None);
        }
        let job: StoredJob = diesel::insert_into(j::bulk_jobs)
            .values((
                j::kind.eq(GENERATE_CODES),
                j::coupon_id.eq(coupon_id),
                j::status.eq(JobStatus::Queued.as_str()),
                j::params.eq(&params),
                j::total.eq(count),
                j::created_at.eq(now),
                j::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?;
        job
    });
    let (action, entity) = (AuditAction::BulkJobCreated, EntityType::BulkJob);
    let after = Some(job.audit_json());
    write_audit(c, actor, action, entity, job.id, None, after, now).await?;
    Ok(Some(job))
}

/// Every code generation so far, of any coupon, with the codes it produced or may
/// still produce (its `total`; `done` for failed and cancelled ones).
pub async fn generations(c: &mut Conn<'_>) -> Result<Vec<(GenerateSpec, i64)>, StorageError> {
    let rows: Vec<StoredJob> = on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        j::bulk_jobs
            .filter(j::kind.eq(GENERATE_CODES))
            .load(conn)
            .await?
    });
    rows.into_iter()
        .map(|job| {
            let counts = match job.status()? {
                JobStatus::Queued | JobStatus::Running | JobStatus::Succeeded => job.total,
                JobStatus::Failed | JobStatus::Cancelled => job.done,
            };
            Ok((job.spec()?, counts))
        })
        .collect()
}

/// One job.
pub async fn job(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredJob>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        j::bulk_jobs.find(id).first(conn).await.optional()?
    }))
}

/// Jobs newest first, with ids below `before` when given, of one coupon when given.
pub async fn jobs(
    c: &mut Conn<'_>,
    coupon_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredJob>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        let mut q = j::bulk_jobs.into_boxed();
        if let Some(c) = coupon_id {
            q = q.filter(j::coupon_id.eq(c));
        }
        if let Some(b) = before {
            q = q.filter(j::id.lt(b));
        }
        q.order(j::id.desc()).limit(limit).load(conn).await?
    }))
}

/// Takes the oldest job that is queued, or running under a lease that ran out, for
/// `owner` until `now + lease`. The update re-checks the row, so of several
/// instances reaching for one job exactly one gets it.
pub async fn claim_job(
    c: &mut Conn<'_>,
    owner: &str,
    lease: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Option<StoredJob>, StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        let takeable = || {
            j::status.eq(JobStatus::Queued.as_str()).or(j::status
                .eq(JobStatus::Running.as_str())
                .and(j::lease_until.le(now)))
        };
        let candidate: Option<i64> = j::bulk_jobs
            .filter(j::status.eq_any(OPEN))
            .filter(takeable())
            .order(j::id.asc())
            .select(j::id)
            .first(conn)
            .await
            .optional()?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        let job: Option<StoredJob> = diesel::update(j::bulk_jobs.find(id).filter(takeable()))
            .set((
                j::status.eq(JobStatus::Running.as_str()),
                j::lease_owner.eq(owner),
                j::lease_until.eq(now + lease),
                j::started_at.eq(diesel::dsl::case_when(j::started_at.is_null(), Some(now))
                    .otherwise(j::started_at)),
                j::updated_at.eq(now),
            ))
            .get_result(conn)
            .await
            .optional()?;
        Ok(job)
    })
}

/// Holds the coupon of a job for the rest of the transaction (see `KEEP_COUPON` in
/// `schema.rs`): taken before the job's row, as a deletion of the coupon locks the
/// coupon first and then its jobs, so the other order could deadlock with it. `false`
/// when the job or its coupon is gone.
pub async fn keep_job_coupon(c: &mut Conn<'_>, job_id: i64) -> Result<bool, StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        let coupon: Option<i64> = j::bulk_jobs
            .find(job_id)
            .select(j::coupon_id)
            .first(conn)
            .await
            .optional()?;
        let Some(coupon) = coupon else {
            return Ok(false);
        };
        let kept: Vec<KeptRow> = diesel::sql_query(schema::KEEP_COUPON)
            .bind::<BigInt, _>(coupon)
            .load(conn)
            .await?;
        Ok(!kept.is_empty())
    })
}

/// Renews `owner`'s lease on a running job until `now + lease`, which locks its row
/// and proves the lease is still `owner`'s; the job as it now is, or `None` when
/// `owner` no longer holds it.
pub async fn renew_lease(
    c: &mut Conn<'_>,
    job_id: i64,
    owner: &str,
    lease: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Option<StoredJob>, StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        Ok(diesel::update(
            j::bulk_jobs
                .find(job_id)
                .filter(j::status.eq(JobStatus::Running.as_str()))
                .filter(j::lease_owner.eq(owner)),
        )
        .set((j::lease_until.eq(now + lease), j::updated_at.eq(now)))
        .get_result(conn)
        .await
        .optional()?)
    })
}

/// Ends a held job an admin asked to stop as `CANCELLED`, giving its lease up.
pub async fn cancel_held(
    c: &mut Conn<'_>,
    job_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        diesel::update(j::bulk_jobs.find(job_id))
            .set((
                j::status.eq(JobStatus::Cancelled.as_str()),
                j::lease_owner.eq(None::<String>),
                j::lease_until.eq(None::<DateTime<Utc>>),
                j::finished_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Writes generated codes for a held job's coupon, skipping taken ones (never an
/// error); returns how many were new.
pub async fn insert_generated_codes(
    c: &mut Conn<'_>,
    job: &StoredJob,
    spec: &GenerateSpec,
    codes: &[String],
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let listed = serde_json::to_string(codes).map_err(|e| job.corrupt(&e.to_string()))?;
    on_backend!(c, |conn| {
        let inserted = diesel::sql_query(schema::INSERT_GENERATED_CODES)
            .bind::<BigInt, _>(job.coupon_id)
            .bind::<Nullable<BigInt>, _>(spec.usage_limit)
            .bind::<schema::Instant, _>(now)
            .bind::<BigInt, _>(job.id)
            .bind::<Text, _>(listed)
            .execute(conn)
            .await?;
        Ok(inserted as i64)
    })
}

/// Records a held job's progress: `done` items, `SUCCEEDED` when `complete`.
pub async fn record_progress(
    c: &mut Conn<'_>,
    job_id: i64,
    done: i64,
    complete: bool,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        diesel::update(j::bulk_jobs.find(job_id))
            .set((
                j::done.eq(done),
                j::status.eq(if complete {
                    JobStatus::Succeeded.as_str()
                } else {
                    JobStatus::Running.as_str()
                }),
                j::finished_at.eq(complete.then_some(now)),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Ends a job `owner` holds as `FAILED` with `error`.
pub async fn fail_job(
    c: &mut Conn<'_>,
    job_id: i64,
    owner: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        diesel::update(
            j::bulk_jobs
                .find(job_id)
                .filter(j::status.eq(JobStatus::Running.as_str()))
                .filter(j::lease_owner.eq(owner)),
        )
        .set((
            j::status.eq(JobStatus::Failed.as_str()),
            j::error.eq(error),
            j::lease_owner.eq(None::<String>),
            j::lease_until.eq(None::<DateTime<Utc>>),
            j::finished_at.eq(now),
            j::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Gives up `owner`'s lease at once (on shutdown), so another instance, or this one
/// after a restart, takes the job over where it stopped.
pub async fn release_job(c: &mut Conn<'_>, job_id: i64, owner: &str) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        diesel::update(
            j::bulk_jobs
                .find(job_id)
                .filter(j::status.eq(JobStatus::Running.as_str()))
                .filter(j::lease_owner.eq(owner)),
        )
        .set(j::lease_until.eq(j::updated_at.nullable()))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Asks a job to stop: a queued one is cancelled at once, a running one before its
/// next chunk (the codes written so far stay).
pub async fn cancel_job(
    c: &mut Conn<'_>,
    job_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<CancelOutcome, StorageError> {
    let (before, after) = on_backend!(c, |conn| {
        use schema::bulk_jobs::dsl as j;
        let Some(before): Option<StoredJob> = diesel::update(j::bulk_jobs.find(job_id))
            .set(j::updated_at.eq(j::updated_at))
            .get_result(conn)
            .await
            .optional()?
        else {
            return Ok(CancelOutcome::NotFound);
        };
        let status = before.status()?;
        if status.is_finished() {
            return Ok(CancelOutcome::Finished(before));
        }
        if before.cancel_requested {
            return Ok(CancelOutcome::Cancelling(before));
        }
        let queued = status == JobStatus::Queued;
        let after: StoredJob = diesel::update(j::bulk_jobs.find(job_id))
            .set((
                j::cancel_requested.eq(true),
                j::status.eq(if queued {
                    JobStatus::Cancelled.as_str()
                } else {
                    JobStatus::Running.as_str()
                }),
                j::finished_at.eq(queued.then_some(now)),
                j::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?;
        (before, after)
    });
    let (action, entity) = (AuditAction::BulkJobCancelled, EntityType::BulkJob);
    let (old, new) = (Some(before.audit_json()), Some(after.audit_json()));
    write_audit(c, actor, action, entity, job_id, old, new, now).await?;
    Ok(CancelOutcome::Cancelling(after))
}
