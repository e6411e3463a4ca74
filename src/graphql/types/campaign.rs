//! `Campaign`: a named group of coupons with shared limits.

use std::sync::Arc;

use async_graphql::{ID, Object};

use super::{Money, money};
use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::StoredCampaign;

/// A named group of coupons.
#[derive(Clone)]
pub struct Campaign(pub Arc<StoredCampaign>);

/// A named group of coupons: list them with `coupons(filter: {campaignId})`, and
/// follow them with `couponEvents(filter: {campaignId})` or a webhook.
#[Object]
impl Campaign {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        global_id(Kind::Campaign, self.0.id)
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Longer description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Before this instant none of its coupons applies (NOT_STARTED).
    async fn starts_at(&self) -> Option<DateTime> {
        self.0.starts_at.map(DateTime)
    }

    /// From this instant on none of its coupons applies (EXPIRED).
    async fn ends_at(&self) -> Option<DateTime> {
        self.0.ends_at.map(DateTime)
    }

    /// Uses allowed over all its coupons (redeemed and live reservations); null for no cap.
    async fn max_uses(&self) -> Option<i64> {
        self.0.max_uses
    }

    /// Total discount its coupons may give, net of refunds; null for no budget. Orders
    /// in another currency are refused while there is a budget.
    async fn budget(&self) -> Option<Money> {
        let (minor, currency) = (self.0.budget_minor?, self.0.budget_currency.as_deref()?);
        money(currency, minor)
    }

    /// Uses its coupons hold: redeemed, reserved, and reversed under a policy that
    /// keeps the use.
    async fn used_count(&self) -> i64 {
        self.0.used_count
    }

    /// Discount its coupons hold, net of refunds, in the budget's currency; null when
    /// there is no budget.
    async fn discount_used(&self) -> Option<Money> {
        money(
            self.0.budget_currency.as_deref()?,
            self.0.discount_used_minor,
        )
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
