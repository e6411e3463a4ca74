//! Inputs and payloads of the campaign mutations.

use async_graphql::{ID, InputObject, MaybeUndefined, SimpleObject};

use super::MoneyInput;
use crate::graphql::error::UserError;
use crate::graphql::scalars::DateTime;
use crate::graphql::types::{Campaign, Coupon};

/// Input of `createCampaign`.
#[derive(Debug, Clone, InputObject)]
pub struct CreateCampaignInput {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// Start of the window: before it none of the campaign's coupons applies.
    pub starts_at: Option<DateTime>,
    /// End of the window (exclusive), later than `startsAt`.
    pub ends_at: Option<DateTime>,
    /// Uses allowed over all its coupons, at least 1.
    pub max_uses: Option<i64>,
    /// Total discount its coupons may give, net of refunds, above zero. The discount
    /// that would cross it is lowered to what is left.
    pub budget: Option<MoneyInput>,
}

/// Input of `updateCampaign`: fields left out are unchanged, null clears a limit.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateCampaignInput {
    /// The campaign's ID.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description (empty text clears it).
    pub description: Option<String>,
    /// New start of the window; null for none.
    pub starts_at: MaybeUndefined<DateTime>,
    /// New end of the window; null for none.
    pub ends_at: MaybeUndefined<DateTime>,
    /// New cap on uses; null for none. A cap below the uses held refuses new ones.
    pub max_uses: MaybeUndefined<i64>,
    /// New budget; null for none. It must be in the currency of the redemptions the
    /// campaign already counts.
    pub budget: MaybeUndefined<MoneyInput>,
}

/// Result of `createCampaign` and `updateCampaign`.
#[derive(SimpleObject)]
pub struct CampaignPayload {
    /// The campaign; null when there are user errors.
    pub campaign: Option<Campaign>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
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
    pub user_errors: Vec<UserError>,
}
