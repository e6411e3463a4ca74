//! `BulkJob`: long work run in the background (code generation), with its pattern.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use coupons_domain::CouponId;
use coupons_domain::bulk::JobStatus;

use super::Coupon;
use crate::graphql::error::ApiError;
use crate::graphql::global_id;
use crate::graphql::loaders::{self, CouponKey};
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::StoredJob;

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
#[Object]
impl BulkJob {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        global_id(Kind::BulkJob, self.0.id)
    }

    /// What it does.
    async fn kind(&self) -> BulkJobKind {
        BulkJobKind::GenerateCodes
    }

    /// Where it is.
    async fn status(&self) -> Result<BulkJobStatus, ApiError> {
        Ok(self.0.status()?.into())
    }

    /// The coupon it works on.
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>, ApiError> {
        loaders::load(ctx, CouponKey(CouponId(self.0.coupon_id))).await
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
    async fn pattern(&self) -> Result<CodePattern, ApiError> {
        let spec = self.0.spec()?;
        Ok(CodePattern {
            prefix: spec.prefix,
            suffix: spec.suffix,
            length: i32::try_from(spec.length).unwrap_or(i32::MAX),
            charset: spec.charset,
            check_character: spec.check,
        })
    }

    /// Uses each code allows (1 = single-use); null for no limit of its own.
    async fn usage_limit(&self) -> Result<Option<i64>, ApiError> {
        Ok(self.0.spec()?.usage_limit)
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
