//! Bulk jobs (code generation): types, inputs and resolvers. The root fields in
//! `query.rs`, `mutation.rs` and `subscription.rs` call into here.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Result, SimpleObject};
use coupons_domain::CouponId;
use coupons_domain::bulk::JobStatus;
use futures_util::Stream;

use super::caller;
use super::error::{ApiError, CouponErrorCode, CouponUserError, query_error, user_errors};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use super::types::{Coupon, Page, after_id, page_size};
use crate::service::jobs::{self, PatternParts};
use crate::service::{ServiceError, Services, coupons};
use crate::storage::{CancelOutcome, StoredJob};

/// What a bulk job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum BulkJobKind {
    /// Generates unique codes for a coupon.
    GenerateCodes,
}

/// Where a bulk job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "JobStatus")]
pub enum BulkJobStatus {
    /// Waiting for an instance to take it.
    Queued,
    /// An instance is working on it.
    Running,
    /// Finished: everything asked for is done.
    Succeeded,
    /// Stopped by an error (see `error`); `done` says how far it got.
    Failed,
    /// Stopped on request; `done` says how far it got.
    Cancelled,
}

/// The pattern of generated codes.
#[derive(Debug, Clone, SimpleObject)]
pub struct CodePattern {
    /// Text before the random body.
    pub prefix: String,
    /// Text after the body (and check character).
    pub suffix: String,
    /// Random characters in the body.
    pub length: i32,
    /// The characters the body is drawn from.
    pub charset: String,
    /// Whether a check character follows the body.
    pub check_character: bool,
}

/// Long work run in the background: today, generating codes.
#[derive(Clone)]
pub struct BulkJob(pub Arc<StoredJob>);

/// Long work run in the background: today, generating codes. Follow it with
/// `bulkJob(id)` or the `bulkJobProgress(id)` subscription.
#[async_graphql::Object]
impl BulkJob {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::BulkJob, self.0.id)
    }

    /// What it does.
    async fn kind(&self) -> BulkJobKind {
        BulkJobKind::GenerateCodes
    }

    /// Where it is.
    async fn status(&self) -> Result<BulkJobStatus> {
        Ok(self.0.status().map_err(|e| ApiError::internal(&e))?.into())
    }

    /// The coupon it works on.
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>> {
        let svc = ctx.data::<Services>()?;
        Ok(coupons::coupon(svc, CouponId(self.0.coupon_id))
            .await
            .map_err(query_error)?
            .map(Coupon))
    }

    /// Codes asked for.
    async fn total(&self) -> i64 {
        self.0.total
    }

    /// Codes written so far: each one unique and stored.
    async fn done(&self) -> i64 {
        self.0.done
    }

    /// `done / total`, from 0 to 1.
    async fn progress(&self) -> f64 {
        self.0.done as f64 / self.0.total.max(1) as f64
    }

    /// The pattern of its codes.
    async fn pattern(&self) -> Result<CodePattern> {
        let spec = self.0.spec().map_err(|e| ApiError::internal(&e))?;
        Ok(CodePattern {
            prefix: spec.prefix,
            suffix: spec.suffix,
            length: i32::try_from(spec.length).unwrap_or(i32::MAX),
            charset: spec.charset,
            check_character: spec.check,
        })
    }

    /// Uses each code allows (1 = single-use); null for no limit of its own.
    async fn usage_limit(&self) -> Result<Option<i64>> {
        Ok(self
            .0
            .spec()
            .map_err(|e| ApiError::internal(&e))?
            .usage_limit)
    }

    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// Whether an admin asked it to stop.
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }

    /// When it was asked for.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When an instance first took it.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime)
    }

    /// When it ended.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }
}

/// The pattern of generated codes: `prefix`, a random body of `length` characters from
/// `charset`, an optional check character, `suffix`.
#[derive(Debug, Clone, InputObject)]
pub struct CodePatternInput {
    /// Text before the body: `A-Z`, `0-9`, `-`, `_` (lower case is raised).
    #[graphql(default)]
    pub prefix: String,
    /// Text after the body, same characters.
    #[graphql(default)]
    pub suffix: String,
    /// Random characters in the body, 4 to 32.
    #[graphql(default = 10)]
    pub length: i32,
    /// The characters of the body, from `A-Z` and `0-9`. Default: the 31 characters
    /// of `A-Z` and `2-9` without the look-alikes 0/O and 1/I/L.
    pub charset: Option<String>,
    /// Adds a check character after the body, so that any single mistyped character
    /// (and, on the default set, any swap of neighbours) is caught before a lookup. The
    /// set must have an even or a prime number of characters.
    #[graphql(default)]
    pub check_character: bool,
}

/// Input of `generateCodes`.
#[derive(Debug, Clone, InputObject)]
pub struct GenerateCodesInput {
    /// The coupon the codes point at.
    pub coupon_id: ID,
    /// How many codes, 1 to 10,000,000.
    pub count: i64,
    /// Their shape.
    pub pattern: CodePatternInput,
    /// Uses each code allows: 1 (single-use) when left out, null for no limit of its
    /// own.
    pub usage_limit: MaybeUndefined<i64>,
}

/// Result of `generateCodes`.
#[derive(SimpleObject)]
pub struct GenerateCodesPayload {
    /// The queued job; null when there are user errors.
    pub job: Option<BulkJob>,
    /// What was wrong with the input; empty on success. Nothing is written then.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `cancelBulkJob`.
#[derive(Debug, Clone, InputObject)]
pub struct CancelBulkJobInput {
    /// The job.
    pub id: ID,
}

/// Result of `cancelBulkJob`.
#[derive(SimpleObject)]
pub struct CancelBulkJobPayload {
    /// The job as it now is: `CANCELLED` if it was queued, else still `RUNNING` with
    /// `cancelRequested` until it stops before its next chunk.
    pub job: Option<BulkJob>,
    /// Why it could not be cancelled; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

fn job_not_found() -> CouponUserError {
    CouponUserError::new(&["input", "id"], CouponErrorCode::NotFound, "job not found")
}

/// `generateCodes`.
pub async fn generate(
    ctx: &Context<'_>,
    input: GenerateCodesInput,
) -> Result<GenerateCodesPayload> {
    let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
    let refuse = |user_errors| GenerateCodesPayload {
        job: None,
        user_errors,
    };
    let Some(coupon) = ids::decode(Kind::Coupon, &input.coupon_id) else {
        return Ok(refuse(user_errors(
            ServiceError::CouponNotFound,
            "couponId",
        )?));
    };
    let pattern = PatternParts {
        prefix: input.pattern.prefix,
        suffix: input.pattern.suffix,
        length: usize::try_from(input.pattern.length).unwrap_or(0),
        charset: input.pattern.charset,
        check: input.pattern.check_character,
    };
    let usage_limit = match input.usage_limit {
        MaybeUndefined::Undefined => Some(1),
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(n) => Some(n),
    };
    match jobs::generate_codes(
        svc,
        &caller,
        CouponId(coupon),
        input.count,
        &pattern,
        usage_limit,
    )
    .await
    {
        Ok(job) => Ok(GenerateCodesPayload {
            job: Some(BulkJob(Arc::new(job))),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(refuse(user_errors(e, "couponId")?)),
    }
}

/// `cancelBulkJob`.
pub async fn cancel(ctx: &Context<'_>, input: CancelBulkJobInput) -> Result<CancelBulkJobPayload> {
    let (svc, caller) = (ctx.data::<Services>()?, caller(ctx)?);
    let Some(id) = ids::decode(Kind::BulkJob, &input.id) else {
        return Ok(CancelBulkJobPayload {
            job: None,
            user_errors: vec![job_not_found()],
        });
    };
    let outcome = jobs::cancel_job(svc, &caller, id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(match outcome {
        CancelOutcome::Cancelling(job) => CancelBulkJobPayload {
            job: Some(BulkJob(Arc::new(job))),
            user_errors: Vec::new(),
        },
        CancelOutcome::Finished(job) => CancelBulkJobPayload {
            user_errors: vec![CouponUserError::new(
                &["input", "id"],
                CouponErrorCode::JobFinished,
                format!("the job has ended already ({})", job.status),
            )],
            job: Some(BulkJob(Arc::new(job))),
        },
        CancelOutcome::NotFound => CancelBulkJobPayload {
            job: None,
            user_errors: vec![job_not_found()],
        },
    })
}

/// `bulkJob(id)`.
pub async fn job(ctx: &Context<'_>, id: &ID) -> Result<Option<BulkJob>> {
    let svc = ctx.data::<Services>()?;
    let Some(id) = ids::decode(Kind::BulkJob, id) else {
        return Ok(None);
    };
    Ok(jobs::find_job(svc, id)
        .await
        .map_err(query_error)?
        .map(|j| BulkJob(Arc::new(j))))
}

/// `bulkJobs`: newest first, of one coupon when given.
pub async fn jobs(
    ctx: &Context<'_>,
    coupon_id: Option<&ID>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<BulkJob>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let coupon = match coupon_id {
        None => None,
        Some(id) => Some(
            ids::decode(Kind::Coupon, id)
                .ok_or_else(|| ApiError::BadUserInput(format!("{:?} is not a coupon ID", id.0)))?,
        ),
    };
    let rows = jobs::list_jobs(svc, coupon, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
    Ok(Page::from_rows(
        rows,
        limit,
        after,
        |j| j.id,
        |j| BulkJob(Arc::new(j)),
    ))
}

/// How often a progress subscription reads the job.
const PROGRESS_POLL: Duration = Duration::from_millis(200);

/// `bulkJobProgress(id)`: the job now, then each time its progress or status changes,
/// ending after it has ended. It reads the job's row, so it follows a job run by any
/// instance.
pub async fn progress(svc: Services, id: ID) -> Result<impl Stream<Item = Result<BulkJob>>> {
    let Some(id) = ids::decode(Kind::BulkJob, &id) else {
        return Err(ApiError::BadUserInput(format!("{:?} is not a bulk job ID", id.0)).into());
    };
    if jobs::find_job(&svc, id)
        .await
        .map_err(query_error)?
        .is_none()
    {
        return Err(ApiError::BadUserInput("no such bulk job".into()).into());
    }
    // State: the (status, done) last sent, and whether the job has ended.
    Ok(futures_util::stream::unfold(
        (None::<(String, i64)>, false),
        move |(last, ended)| {
            let svc = svc.clone();
            async move {
                if ended {
                    return None;
                }
                loop {
                    let job = match jobs::find_job(&svc, id).await {
                        Ok(Some(job)) => job,
                        Ok(None) => return None,
                        Err(e) => return Some((Err(query_error(e).into()), (last, true))),
                    };
                    let seen = (job.status.clone(), job.done);
                    if last.as_ref() != Some(&seen) {
                        let finished = job.status().is_ok_and(JobStatus::is_finished);
                        return Some((Ok(BulkJob(Arc::new(job))), (Some(seen), finished)));
                    }
                    tokio::time::sleep(PROGRESS_POLL).await;
                }
            }
        },
    ))
}
