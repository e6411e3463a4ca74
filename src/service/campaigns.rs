//! Campaigns: create and change them, move coupons in and out, read them.

use chrono::Utc;
use coupons_domain::{Coupon, CouponId};

use super::{Caller, ServiceError, Services};
use crate::storage::{CampaignChange, CampaignPatch, MoveOutcome, StoredCampaign};

/// Creates a campaign from a checked patch.
pub async fn create_campaign(
    svc: &Services,
    caller: &Caller,
    patch: &CampaignPatch<'_>,
) -> Result<CampaignChange, ServiceError> {
    Ok(svc
        .db
        .insert_campaign(patch, &caller.actor(), Utc::now())
        .await?)
}

/// Changes a campaign with a checked patch.
pub async fn update_campaign(
    svc: &Services,
    caller: &Caller,
    id: i64,
    patch: &CampaignPatch<'_>,
) -> Result<CampaignChange, ServiceError> {
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
