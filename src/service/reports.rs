//! Reports: what a coupon or a campaign did over a period.

use chrono::{DateTime, TimeDelta, Utc};
use coupons_domain::CouponId;

use super::{ServiceError, Services};
use crate::storage::{Bucket, ReportData, ReportScope, campaigns, coupons, reports};

/// Why a report's period cannot be reported on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The period ends before it starts.
    #[error("`to` must be later than `from`")]
    Reversed,
    /// More buckets than a report holds.
    #[error("a report in {bucket:?} buckets covers at most {days} days")]
    TooLong {
        /// The bucket size asked for.
        bucket: Bucket,
        /// The longest period in days.
        days: i64,
    },
}

/// The longest period a report in `bucket`s covers.
fn longest(bucket: Bucket) -> TimeDelta {
    match bucket {
        Bucket::Hour => TimeDelta::days(31),
        Bucket::Day => TimeDelta::days(3660),
    }
}

/// Checks a report's period.
pub fn check_period(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
) -> Result<(), PeriodError> {
    if to <= from {
        return Err(PeriodError::Reversed);
    }
    let longest = longest(bucket);
    if to - from > longest {
        return Err(PeriodError::TooLong {
            bucket,
            days: longest.num_days(),
        });
    }
    Ok(())
}

/// The report of a coupon or a campaign over `from..to`; `None` when it does not exist.
pub async fn report(
    svc: &Services,
    scope: ReportScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Option<ReportData>, ServiceError> {
    let exists = svc
        .db
        .read(async move |mut c| {
            Ok(match scope {
                ReportScope::Campaign(id) => campaigns::campaign(&mut c, id).await?.is_some(),
                ReportScope::Coupon(id) => coupons::coupon(&mut c, CouponId(id)).await?.is_some(),
            })
        })
        .await?;
    if !exists {
        return Ok(None);
    }
    Ok(Some(
        svc.db
            .read_long(async move |mut c| reports::report(&mut c, scope, from, to, bucket).await)
            .await?,
    ))
}
