//! Bulk jobs: queueing a code generation, asking a job to stop, and writing a chunk of
//! generated codes under the lease (for the worker, `crate::jobs`).

use chrono::{DateTime, TimeDelta, Utc};
use coupons_domain::bulk::{GENERATE_MAX, GenerateSpec};
use coupons_domain::{
    CodePattern, Collector, CouponId, Field, FieldError, Invalid, Limit, Problem,
};

use serde_json::json;

use super::{Caller, ServiceError, Services};
use crate::storage::events::write_event;
use crate::storage::jobs as steps;
use crate::storage::{CancelOutcome, Chunk, Db, EventType, StorageError, StoredJob};

/// The pattern of generated codes, as a caller gives it.
#[derive(Debug, Clone, Default)]
pub struct PatternParts {
    /// Text before the random body.
    pub prefix: String,
    /// Text after it.
    pub suffix: String,
    /// Random characters in the body.
    pub length: usize,
    /// The body's characters; `None` for the default set without look-alikes.
    pub charset: Option<String>,
    /// Whether a check character follows the body.
    pub check: bool,
}

/// Queues the generation of `count` codes of `pattern` for a coupon; each code allows
/// `usage_limit` uses. Refused before anything is written when the pattern has too
/// little room: the codes asked for, with those that earlier generations of the same
/// pattern made or are making, must fill at most 0.1% of the pattern's space.
pub async fn generate_codes(
    svc: &Services,
    caller: &Caller,
    coupon: CouponId,
    count: i64,
    pattern: &PatternParts,
    usage_limit: Option<i64>,
) -> Result<StoredJob, ServiceError> {
    let mut e = Collector::default();
    let count = e.take(
        u64::try_from(count)
            .ok()
            .filter(|n| (1..=GENERATE_MAX).contains(n))
            .ok_or(FieldError::new(
                Field::Count,
                Problem::OutOfRange {
                    min: 1,
                    max: GENERATE_MAX,
                },
            )),
    );
    let limit = e.take(Limit::new(usage_limit, Field::UsageLimit));
    let pattern = e.take(
        CodePattern::new(
            &pattern.prefix,
            &pattern.suffix,
            pattern.length,
            pattern.charset.as_deref(),
            pattern.check,
        )
        .map_err(FieldError::from),
    );
    e.finish()?;
    let (Some(count), Some(limit), Some(pattern)) = (count, limit, pattern) else {
        return Err(Invalid(Vec::new()).into());
    };
    let spec = GenerateSpec::new(&pattern, limit.get().map(i64::from));
    let earlier: i64 = svc
        .db
        .read(async |mut c| steps::generations(&mut c).await)
        .await?
        .iter()
        .filter(|(s, _)| s.same_space(&spec))
        .map(|(_, n)| n)
        .sum();
    let earlier = u64::try_from(earlier).unwrap_or(0);
    if let Err(too_small) = pattern.check_room(count + earlier) {
        let mut message = too_small.to_string();
        if earlier > 0 {
            message.push_str(&format!(
                " ({earlier} of them from earlier generations of this pattern)"
            ));
        }
        return Err(FieldError::new(Field::Pattern, Problem::PatternTooSmall(message)).into());
    }
    let (actor, now, spec) = (&caller.actor(), Utc::now(), &spec);
    let count = count as i64;
    let job = svc
        .db
        .write(async move |mut c| {
            steps::insert_generate_job(&mut c, coupon.0, spec, count, actor, now).await
        })
        .await?
        .ok_or(ServiceError::CouponNotFound)?;
    svc.jobs.wake();
    Ok(job)
}

/// Asks a job to stop.
pub async fn cancel_job(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<CancelOutcome, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    Ok(svc
        .db
        .write(async move |mut c| steps::cancel_job(&mut c, id, actor, now).await)
        .await?)
}

/// A bulk job by id.
pub async fn find_job(svc: &Services, id: i64) -> Result<Option<StoredJob>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::job(&mut c, id).await)
        .await?)
}

/// Bulk jobs newest first (of one coupon, when given), with ids below `before`.
pub async fn list_jobs(
    svc: &Services,
    coupon_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredJob>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::jobs(&mut c, coupon_id, before, limit).await)
        .await?)
}

/// Writes one chunk of generated codes under `owner`'s lease, in one transaction, and
/// counts the new ones; taken codes are skipped, never counted. Completes the job (with
/// its `CODES_ADDED` event) when it has all it asked for, and stops it when an admin
/// asked. An instance that no longer holds the lease writes nothing.
pub async fn write_chunk(
    db: &Db,
    job_id: i64,
    owner: &str,
    codes: &[String],
    lease: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Chunk, StorageError> {
    db.write(async move |mut c| {
        if !steps::keep_job_coupon(&mut c, job_id).await? {
            return Ok(Chunk::LeaseLost);
        }
        let Some(job) = steps::renew_lease(&mut c, job_id, owner, lease, now).await? else {
            return Ok(Chunk::LeaseLost);
        };
        if job.cancel_requested {
            steps::cancel_held(&mut c, job_id, now).await?;
            return Ok(Chunk::Cancelled);
        }
        let spec = job.spec()?;
        let wanted = usize::try_from(job.total - job.done).unwrap_or(0);
        let wanted = &codes[..codes.len().min(wanted)];
        let inserted = steps::insert_generated_codes(&mut c, &job, &spec, wanted, now).await?;
        let done = job.done + inserted;
        let complete = done >= job.total;
        steps::record_progress(&mut c, job_id, done, complete, now).await?;
        if complete {
            let payload = json!({ "jobId": job.id, "count": done, "usageLimit": spec.usage_limit });
            let (coupon, kind) = (Some(job.coupon_id), EventType::CodesAdded);
            write_event(&mut c, kind, coupon, job.coupon_id, payload, now).await?;
        }
        Ok(Chunk::Stored { inserted, complete })
    })
    .await
}
