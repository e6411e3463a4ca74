//! Bulk jobs (code generation): queue, cancel, read, list, and follow their progress.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, MaybeUndefined, Object, Subscription};
use coupons_domain::CouponId;
use coupons_domain::bulk::JobStatus;
use futures_util::Stream;

use super::{filter_id, optional_filter_id, split};
use crate::graphql::error::{ApiError, UserError, UserErrorCode, user_errors};
use crate::graphql::guard::{ADMIN, READERS, RoleGuard};
use crate::graphql::inputs::{
    CancelBulkJobInput, CancelBulkJobPayload, GenerateCodesInput, GenerateCodesPayload,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::BulkJob;
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::jobs::{self, PatternParts};
use crate::service::{ServiceError, Services};
use crate::storage::CancelOutcome;

/// Bulk-job reads.
#[derive(Default)]
pub struct BulkJobQuery;

/// Bulk-job reads.
#[Object]
impl BulkJobQuery {
    /// One bulk job.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn bulk_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's ID.")] id: ID,
    ) -> Result<Option<BulkJob>, ApiError> {
        let Some(id) = ids::decode(Kind::BulkJob, &id) else {
            return Ok(None);
        };
        let found = jobs::find_job(services(ctx)?, id).await?;
        Ok(found.map(|j| BulkJob(Arc::new(j))))
    }

    /// Bulk jobs, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn bulk_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the jobs of this coupon.")] coupon_id: Option<ID>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<BulkJob>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let coupon = optional_filter_id(Kind::Coupon, coupon_id.as_ref(), "a coupon ID")?;
        let rows = jobs::list_jobs(services(ctx)?, coupon, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(
            rows,
            limit,
            after,
            |j| j.id,
            |j| BulkJob(Arc::new(j)),
        ))
    }
}

/// Bulk-job changes.
#[derive(Default)]
pub struct BulkJobMutation;

fn job_not_found() -> UserError {
    UserError::new(&["input", "id"], UserErrorCode::NotFound, "job not found")
}

/// Bulk-job changes.
#[Object]
impl BulkJobMutation {
    /// Queues the generation of unique codes for a coupon, run in the background: follow
    /// it with `bulkJob(id)` or the `bulkJobProgress(id)` subscription. A pattern with
    /// too little room for the count is refused before anything is written.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn generate_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon, how many codes, their pattern and usage limit.")]
        input: GenerateCodesInput,
    ) -> Result<GenerateCodesPayload, ApiError> {
        let Some(coupon) = ids::decode(Kind::Coupon, &input.coupon_id) else {
            return Ok(GenerateCodesPayload {
                job: None,
                user_errors: user_errors(ServiceError::CouponNotFound, "couponId")?,
            });
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
        let queued = jobs::generate_codes(
            services(ctx)?,
            &caller(ctx)?,
            CouponId(coupon),
            input.count,
            &pattern,
            usage_limit,
        )
        .await;
        let (job, user_errors) = split(queued, "couponId")?;
        Ok(GenerateCodesPayload {
            job: job.map(|j| BulkJob(Arc::new(j))),
            user_errors,
        })
    }

    /// Asks a bulk job to stop: a queued job is cancelled at once, a running one before
    /// its next chunk. Codes already written stay (they carry the job in `batchId`).
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn cancel_bulk_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job.")] input: CancelBulkJobInput,
    ) -> Result<CancelBulkJobPayload, ApiError> {
        let Some(id) = ids::decode(Kind::BulkJob, &input.id) else {
            return Ok(CancelBulkJobPayload {
                job: None,
                user_errors: vec![job_not_found()],
            });
        };
        Ok(
            match jobs::cancel_job(services(ctx)?, &caller(ctx)?, id).await? {
                CancelOutcome::Cancelling(job) => CancelBulkJobPayload {
                    job: Some(BulkJob(Arc::new(job))),
                    user_errors: Vec::new(),
                },
                CancelOutcome::Finished(job) => CancelBulkJobPayload {
                    user_errors: vec![UserError::new(
                        &["input", "id"],
                        UserErrorCode::JobFinished,
                        format!("the job has ended already ({})", job.status),
                    )],
                    job: Some(BulkJob(Arc::new(job))),
                },
                CancelOutcome::NotFound => CancelBulkJobPayload {
                    job: None,
                    user_errors: vec![job_not_found()],
                },
            },
        )
    }
}

/// Bulk-job progress.
#[derive(Default)]
pub struct BulkJobSubscription;

/// How often a progress subscription reads the job.
const PROGRESS_POLL: Duration = Duration::from_millis(200);

/// Bulk-job progress.
#[Subscription]
impl BulkJobSubscription {
    /// A bulk job's progress: the job now, then each time its progress or status
    /// changes, ending once it has ended. Follows a job whichever instance runs it.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn bulk_job_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's ID.")] id: ID,
    ) -> Result<impl Stream<Item = async_graphql::Result<BulkJob>> + use<>, ApiError> {
        let svc = services(ctx)?.clone();
        let id = filter_id(Kind::BulkJob, &id, "a bulk job ID")?;
        if jobs::find_job(&svc, id).await?.is_none() {
            return Err(ApiError::BadUserInput("no such bulk job".into()));
        }
        Ok(progress(svc, id))
    }
}

/// The job now, then each time its progress or status changes, ending after it has
/// ended. It reads the job's row, so it follows a job run by any instance.
fn progress(svc: Services, id: i64) -> impl Stream<Item = async_graphql::Result<BulkJob>> {
    // State: the (status, done) last sent, and whether the job has ended.
    futures_util::stream::unfold((None::<(String, i64)>, false), move |(last, ended)| {
        let svc = svc.clone();
        async move {
            if ended {
                return None;
            }
            loop {
                let job = match jobs::find_job(&svc, id).await {
                    Ok(Some(job)) => job,
                    Ok(None) => return None,
                    Err(e) => return Some((Err(ApiError::from(e).into()), (last, true))),
                };
                let seen = (job.status.clone(), job.done);
                if last.as_ref() != Some(&seen) {
                    let finished = job.status().is_ok_and(JobStatus::is_finished);
                    return Some((Ok(BulkJob(Arc::new(job))), (Some(seen), finished)));
                }
                tokio::time::sleep(PROGRESS_POLL).await;
            }
        }
    })
}
