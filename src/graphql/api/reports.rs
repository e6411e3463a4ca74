//! Reports: what a coupon or a campaign did over a time range.

use async_graphql::{Context, ID, Object};

use crate::graphql::error::ApiError;
use crate::graphql::guard::{READERS, RoleGuard};
use crate::graphql::scalars::DateTime;
use crate::graphql::services;
use crate::graphql::types::{Report, ReportBucket};
use crate::ids::{self, Kind};
use crate::service::reports;
use crate::storage::ReportScope;

/// Report reads.
#[derive(Default)]
pub struct ReportQuery;

/// A report of the coupon or campaign `id` names; `None` when it names none.
async fn report(
    ctx: &Context<'_>,
    scope: fn(i64) -> ReportScope,
    kind: Kind,
    id: &ID,
    (from, to): (DateTime, DateTime),
    bucket: ReportBucket,
) -> Result<Option<Report>, ApiError> {
    reports::check_period(from.0, to.0, bucket.into())?;
    let Some(n) = ids::decode(kind, id) else {
        return Ok(None);
    };
    match reports::report(services(ctx)?, scope(n), from.0, to.0, bucket.into()).await? {
        Some(data) => Report::new(from, to, data).map(Some),
        None => Ok(None),
    }
}

/// Report reads.
#[Object]
impl ReportQuery {
    /// What a coupon did over `[from, to)`: codes issued, validation attempts and their
    /// outcomes, reservations, redemptions, reversals, unique customers, discount and
    /// order value per currency, redemption rate, a time series and a breakdown by
    /// channel. Null when there is no such coupon.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon's ID.")] coupon_id: ID,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime,
        #[graphql(
            desc = "Width of the time series' buckets.",
            default_with = "ReportBucket::Day"
        )]
        bucket: ReportBucket,
    ) -> Result<Option<Report>, ApiError> {
        report(
            ctx,
            ReportScope::Coupon,
            Kind::Coupon,
            &coupon_id,
            (from, to),
            bucket,
        )
        .await
    }

    /// What a campaign did over `[from, to)`: the redemptions made under it, and the
    /// codes and validation attempts of the coupons in it now. Null when there is no
    /// such campaign.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign's ID.")] campaign_id: ID,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime,
        #[graphql(
            desc = "Width of the time series' buckets.",
            default_with = "ReportBucket::Day"
        )]
        bucket: ReportBucket,
    ) -> Result<Option<Report>, ApiError> {
        let scope = ReportScope::Campaign;
        report(ctx, scope, Kind::Campaign, &campaign_id, (from, to), bucket).await
    }
}
