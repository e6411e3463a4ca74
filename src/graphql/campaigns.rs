//! Campaigns: types, inputs and resolvers. The root fields in `query.rs` and
//! `mutation.rs` call into here.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Result, SimpleObject};

use super::caller;
use super::error::{ApiError, CouponErrorCode, CouponUserError, optional_text, query_error};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use super::types::{Coupon, Page, after_id, page_size};
use crate::service::Services;
use crate::storage::{MoveOutcome, StoredCampaign};

/// Longest campaign name.
const NAME_MAX: usize = 200;
/// Longest campaign description.
const DESCRIPTION_MAX: usize = 2_000;

/// A named group of coupons.
#[derive(Clone)]
pub struct Campaign(pub Arc<StoredCampaign>);

/// A named group of coupons: list them with `coupons(filter: {campaignId})`, and
/// follow them with `couponEvents(filter: {campaignId})` or a webhook.
#[async_graphql::Object]
impl Campaign {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Campaign, self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Longer description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

/// Input of `createCampaign`.
#[derive(Debug, Clone, InputObject)]
pub struct CreateCampaignInput {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
}

/// Input of `updateCampaign`: fields left out are unchanged.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateCampaignInput {
    /// The campaign's ID.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description (empty text clears it).
    pub description: Option<String>,
}

/// Result of `createCampaign` and `updateCampaign`.
#[derive(SimpleObject)]
pub struct CampaignPayload {
    /// The campaign; null when there are user errors.
    pub campaign: Option<Campaign>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `setCouponCampaign`.
#[derive(Debug, Clone, InputObject)]
pub struct SetCouponCampaignInput {
    /// The coupon.
    pub coupon_id: ID,
    /// Its campaign; null takes it out of its campaign.
    pub campaign_id: Option<ID>,
}

/// Result of `setCouponCampaign`.
#[derive(SimpleObject)]
pub struct SetCouponCampaignPayload {
    /// The coupon as it now is.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

fn check_name(name: &str, path: &[&str]) -> Result<String, CouponUserError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CouponUserError::new(
            path,
            CouponErrorCode::Blank,
            "the name is empty",
        ));
    }
    if name.chars().count() > NAME_MAX {
        return Err(CouponUserError::new(
            path,
            CouponErrorCode::TooLong,
            format!("the name is longer than {NAME_MAX} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn campaign_not_found(path: &[&str]) -> CouponUserError {
    CouponUserError::new(path, CouponErrorCode::NotFound, "campaign not found")
}

/// `createCampaign`.
pub async fn create(ctx: &Context<'_>, input: CreateCampaignInput) -> Result<CampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let name = check_name(&input.name, &["input", "name"]);
    let description = input
        .description
        .as_deref()
        .map(|d| optional_text(d, DESCRIPTION_MAX, &["input", "description"]))
        .transpose();
    let (name, description) = match (name, description) {
        (Ok(n), Ok(d)) => (n, d.flatten()),
        (n, d) => {
            return Ok(CampaignPayload {
                campaign: None,
                user_errors: n.err().into_iter().chain(d.err()).collect(),
            });
        }
    };
    let stored = svc
        .db
        .insert_campaign(
            &name,
            description.as_deref(),
            &caller(ctx)?.actor(),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(CampaignPayload {
        campaign: Some(Campaign(Arc::new(stored))),
        user_errors: Vec::new(),
    })
}

/// `updateCampaign`.
pub async fn update(ctx: &Context<'_>, input: UpdateCampaignInput) -> Result<CampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let refuse = |user_errors| CampaignPayload {
        campaign: None,
        user_errors,
    };
    let Some(id) = ids::decode(Kind::Campaign, &input.id) else {
        return Ok(refuse(vec![campaign_not_found(&["input", "id"])]));
    };
    let name = input
        .name
        .as_deref()
        .map(|n| check_name(n, &["input", "name"]))
        .transpose();
    let description = input
        .description
        .as_deref()
        .map(|d| optional_text(d, DESCRIPTION_MAX, &["input", "description"]))
        .transpose();
    let (name, description) = match (name, description) {
        (Ok(n), Ok(d)) => (n, d),
        (n, d) => return Ok(refuse(n.err().into_iter().chain(d.err()).collect())),
    };
    let changed = svc
        .db
        .update_campaign(
            id,
            name.as_deref(),
            description.as_ref().map(Option::as_deref),
            &caller(ctx)?.actor(),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(match changed {
        Some(c) => CampaignPayload {
            campaign: Some(Campaign(Arc::new(c))),
            user_errors: Vec::new(),
        },
        None => refuse(vec![campaign_not_found(&["input", "id"])]),
    })
}

/// `setCouponCampaign`.
pub async fn set_coupon_campaign(
    ctx: &Context<'_>,
    input: SetCouponCampaignInput,
) -> Result<SetCouponCampaignPayload> {
    let svc = ctx.data::<Services>()?;
    let refuse = |e| SetCouponCampaignPayload {
        coupon: None,
        user_errors: vec![e],
    };
    let coupon_gone = || {
        CouponUserError::new(
            &["input", "couponId"],
            CouponErrorCode::NotFound,
            "coupon not found",
        )
    };
    let Some(coupon_id) = ids::decode(Kind::Coupon, &input.coupon_id) else {
        return Ok(refuse(coupon_gone()));
    };
    let campaign_id = match &input.campaign_id {
        None => None,
        Some(id) => match ids::decode(Kind::Campaign, id) {
            Some(n) => Some(n),
            None => return Ok(refuse(campaign_not_found(&["input", "campaignId"]))),
        },
    };
    let outcome = svc
        .db
        .set_coupon_campaign(
            coupon_id,
            campaign_id,
            &caller(ctx)?.actor(),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match outcome {
        MoveOutcome::Moved => {}
        MoveOutcome::CouponNotFound => return Ok(refuse(coupon_gone())),
        MoveOutcome::CampaignNotFound => {
            return Ok(refuse(campaign_not_found(&["input", "campaignId"])));
        }
    }
    let coupon = svc
        .db
        .coupon(coupons_domain::CouponId(coupon_id))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(SetCouponCampaignPayload {
        coupon: coupon.map(Coupon),
        user_errors: Vec::new(),
    })
}

/// `campaign(id)`.
pub async fn campaign(ctx: &Context<'_>, id: &ID) -> Result<Option<Campaign>> {
    let svc = ctx.data::<Services>()?;
    let Some(id) = ids::decode(Kind::Campaign, id) else {
        return Ok(None);
    };
    Ok(svc
        .db
        .campaign(id)
        .await
        .map_err(|e| query_error(e.into()))?
        .map(|c| Campaign(Arc::new(c))))
}

/// `campaigns`: newest first.
pub async fn campaigns(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<Campaign>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let rows = svc
        .db
        .campaigns(after, limit as i64 + 1)
        .await
        .map_err(|e| query_error(e.into()))?;
    Ok(Page::from_rows(
        rows,
        limit,
        after,
        |c| c.id,
        |c| Campaign(Arc::new(c)),
    ))
}
