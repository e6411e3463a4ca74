//! Campaigns: create and change them, move coupons in and out, read them.

use chrono::Utc;
use coupons_domain::campaign::{CampaignChanges, CampaignInput};
use coupons_domain::{CampaignLimits, Coupon, CouponId};

use super::{Caller, ServiceError, Services};
use crate::storage::{CampaignChange, CampaignPatch, MoveOutcome, StoredCampaign};
use crate::storage::{campaigns as steps, coupons};

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

/// Creates a campaign; its fields are checked first (every problem is reported), and
/// the limits they make before anything is written.
pub async fn create_campaign(
    svc: &Services,
    caller: &Caller,
    input: CampaignInput,
) -> Result<CampaignChange, ServiceError> {
    let changes = input.check()?;
    let patch = &patch(&changes);
    let limits = &patch.apply(CampaignLimits::default());
    if let Err(e) = limits.validate() {
        return Ok(CampaignChange::Invalid(e));
    }
    let (actor, now) = (&caller.actor(), Utc::now());
    let stored = svc
        .db
        .write(async move |mut c| steps::insert_campaign(&mut c, patch, limits, actor, now).await)
        .await?;
    Ok(CampaignChange::Done(stored))
}

/// Changes a campaign; the fields given are checked first (every problem is
/// reported). Its row is locked first, so the change and the checkouts that read its
/// limits are serialised; the limits with the change applied must hold together, and a
/// budget must be in the currency of every redemption the campaign counts.
pub async fn update_campaign(
    svc: &Services,
    caller: &Caller,
    id: i64,
    input: CampaignInput,
) -> Result<CampaignChange, ServiceError> {
    let changes = input.check()?;
    let patch = &patch(&changes);
    let (actor, now) = (&caller.actor(), Utc::now());
    Ok(svc
        .db
        .write(async move |mut c| {
            let Some(before) = steps::lock_campaign(&mut c, id).await? else {
                return Ok(CampaignChange::NotFound);
            };
            let limits = patch.apply(before.limits()?);
            if let Err(e) = limits.validate() {
                return Ok(CampaignChange::Invalid(e));
            }
            if let Some(budget) = limits.budget
                && steps::other_currency_spend(&mut c, id, budget.currency.code()).await?
            {
                return Ok(CampaignChange::BudgetCurrencyConflict);
            }
            let after = steps::update_campaign(&mut c, &before, patch, &limits, actor, now).await?;
            Ok(CampaignChange::Done(after))
        })
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
    let (actor, now) = (&caller.actor(), Utc::now());
    let outcome = svc
        .db
        .write(async move |mut c| {
            steps::set_coupon_campaign(&mut c, coupon_id, campaign_id, actor, now).await
        })
        .await?;
    let coupon = match outcome {
        MoveOutcome::Moved => {
            svc.db
                .read(async move |mut c| coupons::coupon(&mut c, CouponId(coupon_id)).await)
                .await?
        }
        MoveOutcome::CouponNotFound | MoveOutcome::CampaignNotFound => None,
    };
    Ok((outcome, coupon))
}

/// A campaign by id.
pub async fn find_campaign(
    svc: &Services,
    id: i64,
) -> Result<Option<StoredCampaign>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::campaign(&mut c, id).await)
        .await?)
}

/// Campaigns newest first, with ids below `before`, at most `limit`.
pub async fn list_campaigns(
    svc: &Services,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredCampaign>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::campaigns(&mut c, before, limit).await)
        .await?)
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
