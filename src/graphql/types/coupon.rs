//! `Coupon`: a discount definition, with its statuses and reversal policy.

use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use chrono::Utc;
use coupons_domain as domain;

use super::{Campaign, CouponCode, Discount, Money, money};
use crate::graphql::error::ApiError;
use crate::graphql::guard::{READERS, RoleGuard};
use crate::graphql::loaders::{self, CampaignKey, FirstCodeKey};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::scalars::{DateTime, Decimal};
use crate::graphql::{global_id, services};
use crate::ids::Kind;
use crate::service::coupons;

/// Status as the caller sees it now: the status an admin set, refined for active
/// coupons by their window and usage.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "domain::CouponStatus")]
pub enum CouponStatus {
    /// Being prepared; cannot be used.
    Draft,
    /// Usable: active, within its window, with uses left.
    Active,
    /// Temporarily switched off.
    Paused,
    /// Retired for good; kept for history.
    Archived,
    /// Active, but its window has not started yet.
    Scheduled,
    /// Active, but its window has ended.
    Expired,
    /// Active, but every allowed redemption is used.
    Exhausted,
}

/// The status an admin sets. DRAFT → ACTIVE | ARCHIVED; ACTIVE ⇄ PAUSED;
/// ACTIVE | PAUSED → ARCHIVED; ARCHIVED is final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "domain::LifecycleStatus")]
pub enum CouponLifecycleStatus {
    /// Being prepared; cannot be used.
    Draft,
    /// Usable within its window and limits.
    Active,
    /// Temporarily switched off.
    Paused,
    /// Retired for good.
    Archived,
}

/// What a full reversal does to the use a redemption took.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[graphql(remote = "domain::ReversalPolicy")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReversalPolicy {
    /// The use comes back: caps and per-customer limits no longer count it.
    RestoreUsage,
    /// The use stays counted.
    KeepUsage,
}

impl ReversalPolicy {
    /// The default of a new coupon.
    pub fn restore_usage() -> Self {
        Self::RestoreUsage
    }
}

/// What part of an order a coupon takes its discount from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[graphql(remote = "domain::DiscountClass")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountClass {
    /// Some of the order's lines (a LINES or BUY_X_GET_Y target); applies first.
    Line,
    /// The order subtotal; applies after line discounts.
    Order,
    /// The shipping price.
    Shipping,
}

/// A rule the coupon applies, with its parameters.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleBinding {
    /// The rule's name, e.g. `allowed_email_domains`.
    pub name: String,
    /// The parameters passed to the rule (a JSON object).
    #[schema(value_type = Object)]
    pub params: Json<serde_json::Value>,
}

/// A discount definition, reachable through any of its codes.
#[derive(Debug, Clone)]
pub struct Coupon(pub domain::Coupon);

impl Coupon {
    fn zone(&self) -> domain::TimeZone {
        self.0.spec.time_zone.unwrap_or(domain::TimeZone::UTC)
    }

    /// One amount of its terms in each currency that has it, the main one first.
    pub(crate) fn per_currency(
        &self,
        amount: fn(&domain::CurrencyTerms) -> Option<domain::Money>,
    ) -> Vec<Money> {
        let all = self.0.spec.prices.all();
        all.iter()
            .filter_map(|t| amount(t).map(Into::into))
            .collect()
    }
}

/// A discount definition, reachable through any of its codes.
#[Object]
impl Coupon {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        global_id(Kind::Coupon, self.0.id.0)
    }

    /// The campaign it belongs to, if any.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign(&self, ctx: &Context<'_>) -> Result<Option<Campaign>, ApiError> {
        match self.0.campaign_id {
            None => Ok(None),
            Some(id) => loaders::load(ctx, CampaignKey(id)).await,
        }
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// Longer description.
    async fn description(&self) -> Option<&str> {
        self.0.spec.description.as_deref()
    }

    /// Status now, derived from the lifecycle status, the window and usage.
    async fn status(&self) -> CouponStatus {
        self.0.status(Utc::now()).into()
    }

    /// Status as set by an admin.
    async fn lifecycle_status(&self) -> CouponLifecycleStatus {
        self.0.lifecycle.into()
    }

    /// What it takes off.
    async fn discount(&self) -> Discount {
        Discount::of(&self.0.spec.prices)
    }

    /// First instant it can be used.
    async fn starts_at(&self) -> DateTime {
        DateTime(self.0.spec.window.starts_at)
    }

    /// First instant it can no longer be used; null for never.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.spec.window.expires_at.map(DateTime)
    }

    /// The IANA time zone its dates are read and shown in; null: UTC.
    async fn time_zone(&self) -> Option<&'static str> {
        self.0.spec.time_zone.map(domain::TimeZone::name)
    }

    /// `startsAt` in the coupon's time zone (RFC 3339 with that zone's offset).
    async fn starts_at_local(&self) -> String {
        self.zone().show(self.0.spec.window.starts_at)
    }

    /// `expiresAt` in the coupon's time zone; null for never.
    async fn expires_at_local(&self) -> Option<String> {
        let zone = self.zone();
        self.0.spec.window.expires_at.map(|t| zone.show(t))
    }

    /// Most redemptions over all its codes; null for no cap.
    async fn max_redemptions(&self) -> Option<u32> {
        self.0.spec.max_redemptions.get()
    }

    /// Most redemptions by one customer; null for no cap.
    async fn per_customer_limit(&self) -> Option<u32> {
        self.0.spec.per_customer_limit.get()
    }

    /// Sales channels it is limited to; empty for every channel.
    async fn channels(&self) -> &[String] {
        self.0.spec.channels.as_slice()
    }

    /// Rules it applies, in order.
    async fn rules(&self) -> Vec<RuleBinding> {
        self.0
            .spec
            .rules
            .iter()
            .map(|r| RuleBinding {
                name: r.name.clone(),
                params: Json(r.params.clone()),
            })
            .collect()
    }

    /// Free-form JSON object.
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.0.spec.metadata.as_value().clone())
    }

    /// Redemptions that hold a use: redeemed ones, and reversed ones whose use the
    /// reversal policy keeps.
    async fn redemption_count(&self) -> i64 {
        self.0.redemption_count
    }

    /// Reservations that hold a use now (until they are redeemed, released or expire).
    async fn reserved_count(&self) -> i64 {
        self.0.reserved_count
    }

    /// Discount granted, less refunds, per currency.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn total_discount(&self, ctx: &Context<'_>) -> Result<Vec<Money>, ApiError> {
        let totals = coupons::total_discounts(services(ctx)?, self.0.id).await?;
        Ok(totals
            .into_iter()
            .filter_map(|(currency, minor)| money(&currency, minor))
            .collect())
    }

    /// `validateCoupon` calls that found this coupon, valid or not (written every
    /// sweep interval, so the latest few seconds may be missing).
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn validation_attempts(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        Ok(coupons::validation_attempts(services(ctx)?, self.0.id).await?)
    }

    /// Smallest order subtotal the coupon applies to, in its main currency; null for
    /// none.
    async fn min_subtotal(&self) -> Option<Money> {
        self.0.spec.prices.main().min_subtotal.map(Into::into)
    }

    /// Smallest order subtotal in each currency it is offered in, the main one first.
    async fn min_subtotals(&self) -> Vec<Money> {
        self.per_currency(|t| t.min_subtotal)
    }

    /// The currencies it is offered in, the main one first: orders in others are
    /// refused. Empty: any (a percentage with no amounts).
    async fn currencies(&self) -> Vec<String> {
        let currencies = self.0.spec.prices.currencies();
        currencies.iter().map(|c| c.code().to_owned()).collect()
    }

    /// Smallest number of items (the sum of line quantities) an order must have; null
    /// for none.
    async fn min_items(&self) -> Option<i32> {
        self.0
            .spec
            .min_items
            .get()
            .and_then(|n| i32::try_from(n).ok())
    }

    /// The class of discount it gives, from its target.
    async fn discount_class(&self) -> DiscountClass {
        self.0.spec.class().into()
    }

    /// The most discount one customer may have from it over all their uses, less
    /// refunds; null for no cap.
    async fn max_discount_per_customer(&self) -> Option<Money> {
        let main = self.0.spec.prices.main();
        main.max_discount_per_customer.map(Into::into)
    }

    /// The per-customer discount cap in each currency, the main one first (each
    /// currency counted on its own).
    async fn max_discounts_per_customer(&self) -> Vec<Money> {
        self.per_currency(|t| t.max_discount_per_customer)
    }

    /// The most the order's line and order discounts may add up to once it has taken
    /// its own, in percent of the subtotal; null for no cap of its own.
    async fn max_order_discount_percent(&self) -> Option<Decimal> {
        self.0.spec.max_order_discount.map(|p| Decimal(p.value()))
    }

    /// Whether it is an automatic discount: no code; every cart it applies to gets it.
    async fn automatic(&self) -> bool {
        self.0.spec.automatic
    }

    /// What part of an order it discounts.
    async fn target(&self) -> super::Target {
        (&self.0.spec.target).into()
    }

    /// The classes of discount it shares an order with; empty: it applies alone
    /// (`exclusive`).
    async fn combines_with(&self) -> Vec<DiscountClass> {
        self.0
            .spec
            .stacking
            .combines_with()
            .iter()
            .map(|c| (*c).into())
            .collect()
    }

    /// Whether it applies only alone on an order.
    async fn exclusive(&self) -> bool {
        self.0.spec.stacking.exclusive()
    }

    /// Its place among the coupons of one order: higher applies first, and wins
    /// between sets that give the same discount.
    async fn priority(&self) -> i32 {
        self.0.spec.stacking.priority
    }

    /// What a full reversal does to the use it took.
    async fn reversal_policy(&self) -> ReversalPolicy {
        self.0.spec.reversal_policy.into()
    }

    /// Its first code (the one given at creation, else the oldest); null if it has none.
    async fn code(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        loaders::load(ctx, FirstCodeKey(self.0.id)).await
    }

    /// Its codes, oldest first.
    #[graphql(complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)")]
    async fn codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<CouponCode>, ApiError> {
        let limit = page_size(first)?;
        let after = after_id(after.as_deref())?;
        let rows = coupons::codes(services(ctx)?, self.0.id, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(rows, limit, after, |r| r.id, CouponCode))
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
