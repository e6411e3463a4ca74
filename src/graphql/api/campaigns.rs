//! Campaigns: read and list them, create and change them, move coupons in and out.

use std::sync::Arc;

use async_graphql::{Context, ID, MaybeUndefined, Object};
use coupons_domain::FieldError;
use coupons_domain::campaign::CampaignInput;

use super::split;
use crate::graphql::error::{ApiError, UserError, UserErrorCode};
use crate::graphql::guard::{ADMIN, READERS, RoleGuard};
use crate::graphql::inputs::{
    CampaignPayload, CreateCampaignInput, SetCouponCampaignInput, SetCouponCampaignPayload,
    UpdateCampaignInput,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::{Campaign, Coupon};
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::campaigns;
use crate::storage::{CampaignChange, MoveOutcome};

/// Campaign reads.
#[derive(Default)]
pub struct CampaignQuery;

/// Campaign reads.
#[Object]
impl CampaignQuery {
    /// Campaigns, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<Campaign>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let rows = campaigns::list_campaigns(services(ctx)?, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(
            rows,
            limit,
            after,
            |c| c.id,
            |c| Campaign(Arc::new(c)),
        ))
    }

    /// One campaign.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign's ID.")] id: ID,
    ) -> Result<Option<Campaign>, ApiError> {
        let Some(id) = ids::decode(Kind::Campaign, &id) else {
            return Ok(None);
        };
        let found = campaigns::find_campaign(services(ctx)?, id).await?;
        Ok(found.map(|c| Campaign(Arc::new(c))))
    }
}

/// Campaign changes.
#[derive(Default)]
pub struct CampaignMutation;

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn campaign_not_found(path: &[&str]) -> UserError {
    UserError::new(path, UserErrorCode::NotFound, "campaign not found")
}

/// The payload of a create or update: the campaign, or why it was refused.
fn changed(
    result: Result<CampaignChange, crate::service::ServiceError>,
) -> Result<CampaignPayload, ApiError> {
    let refuse = |user_errors| CampaignPayload {
        campaign: None,
        user_errors,
    };
    let (change, user_errors) = split(result, "id")?;
    Ok(match change {
        None => refuse(user_errors),
        Some(CampaignChange::Done(c)) => CampaignPayload {
            campaign: Some(Campaign(Arc::new(c))),
            user_errors: Vec::new(),
        },
        Some(CampaignChange::NotFound) => refuse(vec![campaign_not_found(&["input", "id"])]),
        Some(CampaignChange::Invalid(e)) => refuse(vec![FieldError::from(e).into()]),
        Some(CampaignChange::BudgetCurrencyConflict) => refuse(vec![UserError::new(
            &["input", "budget", "currency"],
            UserErrorCode::CurrencyMismatch,
            "the campaign already counts redemptions in another currency",
        )]),
    })
}

/// Campaign changes.
#[Object]
impl CampaignMutation {
    /// Creates a campaign, a named group of coupons.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Name and description.")] input: CreateCampaignInput,
    ) -> Result<CampaignPayload, ApiError> {
        let input = CampaignInput {
            name: Some(input.name),
            description: input.description,
            starts_at: Some(input.starts_at.map(|d| d.0)),
            ends_at: Some(input.ends_at.map(|d| d.0)),
            max_uses: Some(input.max_uses),
            budget: Some(input.budget.map(Into::into)),
        };
        changed(campaigns::create_campaign(services(ctx)?, &caller(ctx)?, input).await)
    }

    /// Renames a campaign or changes its description.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The campaign and what to change.")] input: UpdateCampaignInput,
    ) -> Result<CampaignPayload, ApiError> {
        let Some(id) = ids::decode(Kind::Campaign, &input.id) else {
            return changed(Ok(CampaignChange::NotFound));
        };
        let input = CampaignInput {
            name: input.name,
            description: input.description,
            starts_at: maybe(input.starts_at).map(|d| d.map(|d| d.0)),
            ends_at: maybe(input.ends_at).map(|d| d.map(|d| d.0)),
            max_uses: maybe(input.max_uses),
            budget: maybe(input.budget).map(|b| b.map(Into::into)),
        };
        changed(campaigns::update_campaign(services(ctx)?, &caller(ctx)?, id, input).await)
    }

    /// Puts a coupon in a campaign (out of any other), or takes it out.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn set_coupon_campaign(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The coupon and its campaign (null for none).")]
        input: SetCouponCampaignInput,
    ) -> Result<SetCouponCampaignPayload, ApiError> {
        let refuse = |e| SetCouponCampaignPayload {
            coupon: None,
            user_errors: vec![e],
        };
        let coupon_gone = || {
            UserError::new(
                &["input", "couponId"],
                UserErrorCode::NotFound,
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
        let (outcome, coupon) =
            campaigns::set_coupon_campaign(services(ctx)?, &caller(ctx)?, coupon_id, campaign_id)
                .await?;
        Ok(match outcome {
            MoveOutcome::Moved => SetCouponCampaignPayload {
                coupon: coupon.map(Coupon),
                user_errors: Vec::new(),
            },
            MoveOutcome::CouponNotFound => refuse(coupon_gone()),
            MoveOutcome::CampaignNotFound => refuse(campaign_not_found(&["input", "campaignId"])),
        })
    }
}
