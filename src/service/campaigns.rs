//! Campaigns: create and change them, move coupons in and out, read them.

use chrono::Utc;
use coupons_domain::campaign::{CampaignChanges, CampaignInput};
use coupons_domain::{Coupon, CouponId};

use super::{Caller, ServiceError, Services};
use crate::storage::{CampaignChange, CampaignPatch, MoveOutcome, StoredCampaign};

/// The storage patch of checked changes.
fn patch(changes: &CampaignChanges) -> CampaignPatch<'_> {
    CampaignPatch {
        name: changes.name.as_deref(),
        description: changes.description.as_ref().map(Option::as_deref),
        starts_at: changes.starts_at,
        ends_at: changes.ends_at,
        max_uses: changes.max_uses,
        budget: changes.budget,
    }
}

/// Creates a campaign; its fields are checked first (every problem is reported).
pub async fn create_campaign(
    svc: &Services,
    caller: &Caller,
    input: CampaignInput,
) -> Result<CampaignChange, ServiceError> {
    let changes = input.check()?;
    let patch = &patch(&changes);
    Ok(svc
        .db
        .insert_campaign(patch, &caller.actor(), Utc::now())
        .await?)
}

/// Changes a campaign; the fields given are checked first (every problem is reported).
pub async fn update_campaign(
    svc: &Services,
    caller: &Caller,
    id: i64,
    input: CampaignInput,
) -> Result<CampaignChange, ServiceError> {
    let changes = input.check()?;
    let patch = &patch(&changes);
    Ok(svc
        .db
        .update_campaign(id, patch, &caller.actor(), Utc::now())
        .await?)
}

/// Moves a coupon into a campaign (or out of any, with `None`); returns the outcome and,
/// when moved, the coupon as it is now.
pub async fn set_coupon_campaign(
    svc: &Services,
    caller: &Caller,
    coupon_id: i64,
    campaign_id: Option<i64>,
) -> Result<(MoveOutcome, Option<Coupon>), ServiceError> {
    let outcome = svc
        .db
        .set_coupon_campaign(coupon_id, campaign_id, &caller.actor(), Utc::now())
        .await?;
    let coupon = match outcome {
        MoveOutcome::Moved => svc.db.coupon(CouponId(coupon_id)).await?,
        MoveOutcome::CouponNotFound | MoveOutcome::CampaignNotFound => None,
    };
    Ok((outcome, coupon))
}

/// A campaign by id.
pub async fn find_campaign(
    svc: &Services,
    id: i64,
) -> Result<Option<StoredCampaign>, ServiceError> {
    Ok(svc.db.campaign(id).await?)
}

/// Campaigns newest first, with ids below `before`, at most `limit`.
pub async fn list_campaigns(
    svc: &Services,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredCampaign>, ServiceError> {
    Ok(svc.db.campaigns(before, limit).await?)
}

/// The campaigns with these ids, in one read (for the campaign loader); ids with no
/// campaign are left out.
pub async fn campaigns_by_ids(
    svc: &Services,
    ids: &[i64],
) -> Result<Vec<StoredCampaign>, ServiceError> {
    Ok(svc
        .db
        .read(async |mut c| crate::storage::lookups::campaigns_by_ids(&mut c, ids).await)
        .await?)
}
