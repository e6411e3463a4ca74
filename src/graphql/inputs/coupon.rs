//! Inputs and payloads of the coupon mutations, and the coupon list's filter.

use async_graphql::{Enum, ID, InputObject, Json, MaybeUndefined, SimpleObject};
use coupons_domain::{
    CouponDraft, CouponPatch, DiscountParts, Expiry, LifecycleStatus, MoneyGiven, PricesDraft,
};

use super::{MoneyInput, TargetInput};
use crate::graphql::error::UserError;
use crate::graphql::scalars::{Date, DateTime, Decimal};
use crate::graphql::types::{
    Coupon, CouponCode, CouponLifecycleStatus, CouponStatus, DiscountClass, ReversalPolicy,
};
use crate::service::coupons::NewCoupon;

/// A discount: give exactly one of `percentage` and `amount` (or `amounts`).
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscountInput {
    /// Percentage off, `0 < p <= 100`, at most 4 decimal places ("12.5").
    pub percentage: Option<Decimal>,
    /// Fixed amount off, in one currency.
    pub amount: Option<MoneyInput>,
    /// Fixed amount off in each currency the coupon is offered in (instead of
    /// `amount`): an order gets the amount in its own currency and is refused in any
    /// other. The first is the coupon's main currency.
    pub amounts: Option<Vec<MoneyInput>>,
    /// Cap on a percentage discount, in one currency: orders in other currencies are
    /// refused.
    pub max_discount: Option<MoneyInput>,
    /// Cap on a percentage discount in each currency it is offered in (instead of
    /// `maxDiscount`).
    pub max_discounts: Option<Vec<MoneyInput>>,
    /// A bare value instead of `percentage` or `amount`, read as the server's default
    /// discount type says (`COUPONS_DEFAULT_DISCOUNT_TYPE`: a percentage, or an amount
    /// in `COUPONS_DEFAULT_CURRENCY`). Only in `createCoupon`.
    pub value: Option<Decimal>,
}

impl From<DiscountInput> for DiscountParts {
    fn from(d: DiscountInput) -> Self {
        Self {
            percentage: d.percentage.map(|p| p.0),
            amounts: given(d.amount, d.amounts),
            max_discounts: given(d.max_discount, d.max_discounts),
        }
    }
}

/// An amount field and its list form, as the domain takes them.
fn given(one: Option<MoneyInput>, many: Option<Vec<MoneyInput>>) -> MoneyGiven {
    MoneyGiven {
        one: one.map(Into::into),
        many: many.map(|list| list.into_iter().map(Into::into).collect()),
    }
}

/// A nullable amount field and its nullable list form, as a patch: `None` when both are
/// left out; `null` clears.
fn given_patch(
    one: MaybeUndefined<MoneyInput>,
    many: MaybeUndefined<Vec<MoneyInput>>,
) -> Option<MoneyGiven> {
    if one.is_undefined() && many.is_undefined() {
        return None;
    }
    Some(given(one.take(), many.take()))
}

/// A rule to apply, with its parameters.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleBindingInput {
    /// The rule's name (lower-case snake_case), e.g. `allowed_email_domains`.
    pub name: String,
    /// Parameters for the rule, a JSON object (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub params: Option<Json<serde_json::Value>>,
}

fn rules(list: Vec<RuleBindingInput>) -> Vec<(String, serde_json::Value)> {
    list.into_iter()
        .map(|r| {
            (
                r.name,
                r.params.map(|p| p.0).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

/// The status a new coupon starts in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InitialCouponStatus {
    /// Prepared but not usable until set ACTIVE.
    Draft,
    /// Usable within its window and limits.
    Active,
}

impl InitialCouponStatus {
    /// The default of a new coupon.
    pub fn active() -> Self {
        Self::Active
    }
}

/// A new coupon.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCouponInput {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// Longer description (up to 2000 characters).
    pub description: Option<String>,
    /// Its first code: 3 to 64 of `A-Z 0-9 - _`, stored in upper case. More codes can be
    /// added with `addCodes` and `generateCodes`. Left out: one is made up in the
    /// server's code format (`COUPONS_CODE_FORMAT`), if it has one.
    pub code: Option<String>,
    /// Starting status (default ACTIVE).
    #[graphql(default_with = "InitialCouponStatus::Active")]
    #[serde(default = "InitialCouponStatus::active")]
    pub status: InitialCouponStatus,
    /// What it takes off.
    pub discount: DiscountInput,
    /// First instant it can be used (default: now).
    pub starts_at: Option<DateTime>,
    /// First instant it can no longer be used. Omitted: the server's default expiry
    /// applies (if configured); `null`: never expires.
    #[serde(default)]
    #[schema(value_type = Option<DateTime>)]
    pub expires_at: MaybeUndefined<DateTime>,
    /// Most redemptions over all its codes (at least 1; omit for no cap).
    pub max_redemptions: Option<i32>,
    /// Most redemptions by one customer (at least 1). Left out: the server's default
    /// (`COUPONS_DEFAULT_PER_CUSTOMER_LIMIT`, if set); `null`: no cap.
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub per_customer_limit: MaybeUndefined<i32>,
    /// Sales channels it is limited to (lower case; empty for every channel).
    #[graphql(default)]
    #[serde(default)]
    pub channels: Vec<String>,
    /// Free-form JSON object (up to 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Json<serde_json::Value>>,
    /// Rules to apply, in order. Left out: the server's default e-mail domains
    /// (`COUPONS_DEFAULT_ALLOWED_EMAIL_DOMAINS`), if set; `[]`: none.
    pub rules: Option<Vec<RuleBindingInput>>,
    /// Smallest order subtotal the coupon applies to, in one currency: orders in other
    /// currencies are refused.
    pub min_subtotal: Option<MoneyInput>,
    /// Smallest order subtotal in each of the coupon's currencies (instead of
    /// `minSubtotal`).
    pub min_subtotals: Option<Vec<MoneyInput>>,
    /// Smallest number of items (the sum of the lines' quantities) an order must have;
    /// at least 1.
    pub min_items: Option<i32>,
    /// What a full reversal does to the use (default RESTORE_USAGE).
    #[graphql(default_with = "ReversalPolicy::RestoreUsage")]
    #[serde(default = "ReversalPolicy::restore_usage")]
    pub reversal_policy: ReversalPolicy,
    /// The classes of discount it may share an order with (default none: it applies
    /// alone).
    #[graphql(default)]
    #[serde(default)]
    pub combines_with: Vec<DiscountClass>,
    /// Its place among the coupons of one order (default 0): higher applies first.
    #[graphql(default)]
    #[serde(default)]
    pub priority: i32,
    /// What part of an order it discounts (default: the subtotal).
    pub target: Option<TargetInput>,
    /// An automatic discount: no code; every cart it applies to gets it without asking
    /// (default false). Not with `code`.
    #[graphql(default)]
    #[serde(default)]
    pub automatic: bool,
    /// The most discount one customer may have from it over all their uses, less
    /// refunds (in the coupon's currency); the use that would pass it is lowered to what
    /// is left. Needs a customer on the order. Counted per currency.
    pub max_discount_per_customer: Option<MoneyInput>,
    /// The same cap in each of the coupon's currencies (instead of
    /// `maxDiscountPerCustomer`).
    pub max_discounts_per_customer: Option<Vec<MoneyInput>>,
    /// IANA time zone (e.g. `Europe/Berlin`) that `startsOn` and `endsOn` are read in
    /// and the window is shown in (`startsAtLocal`, `expiresAtLocal`); default UTC.
    pub time_zone: Option<String>,
    /// First day of validity, from local midnight (instead of `startsAt`).
    pub starts_on: Option<Date>,
    /// Last day of validity, up to local midnight after it (instead of `expiresAt`).
    pub ends_on: Option<Date>,
    /// The most the order's line and order discounts may add up to once this coupon has
    /// taken its own, in percent of the subtotal ("30"): it gives up what it would take
    /// beyond. Not for shipping discounts. The server's `COUPONS_MAX_ORDER_DISCOUNT_PERCENT`
    /// caps every order besides.
    pub max_order_discount_percent: Option<Decimal>,
}

impl CreateCouponInput {
    /// The service's input: the draft, and what the server's defaults fill in.
    pub fn into_new(self) -> NewCoupon {
        let per_customer_limit_omitted = self.per_customer_limit.is_undefined();
        let rules_omitted = self.rules.is_none();
        let discount_value = self.discount.value.as_ref().map(|v| v.0);
        let (draft, code, status) = self.into_parts();
        NewCoupon {
            draft,
            code,
            status,
            discount_value,
            per_customer_limit_omitted,
            rules_omitted,
        }
    }

    /// Splits into the domain draft, the first code and the status.
    pub fn into_parts(self) -> (CouponDraft, Option<String>, LifecycleStatus) {
        let status = match self.status {
            InitialCouponStatus::Draft => LifecycleStatus::Draft,
            InitialCouponStatus::Active => LifecycleStatus::Active,
        };
        let expires_at = match self.expires_at {
            MaybeUndefined::Undefined => Expiry::Default,
            MaybeUndefined::Null => Expiry::Never,
            MaybeUndefined::Value(t) => Expiry::At(t.0),
        };
        let draft = CouponDraft {
            name: self.name,
            description: self.description,
            prices: PricesDraft {
                percentage: self.discount.percentage.map(|p| p.0),
                amounts: given(self.discount.amount, self.discount.amounts),
                max_discounts: given(self.discount.max_discount, self.discount.max_discounts),
                min_subtotals: given(self.min_subtotal, self.min_subtotals),
                max_discounts_per_customer: given(
                    self.max_discount_per_customer,
                    self.max_discounts_per_customer,
                ),
            },
            starts_at: self.starts_at.map(|t| t.0),
            expires_at: Some(expires_at),
            max_redemptions: self.max_redemptions.map(i64::from),
            per_customer_limit: self.per_customer_limit.take().map(i64::from),
            channels: self.channels,
            rules: rules(self.rules.unwrap_or_default()),
            metadata: self
                .metadata
                .map(|m| m.0)
                .unwrap_or(serde_json::Value::Null),
            min_items: self.min_items.map(i64::from),
            reversal_policy: self.reversal_policy.into(),
            combines_with: self.combines_with.into_iter().map(Into::into).collect(),
            priority: self.priority,
            target: self.target.map(Into::into).unwrap_or_default(),
            automatic: self.automatic,
            time_zone: self.time_zone,
            starts_on: self.starts_on.map(|d| d.0),
            ends_on: self.ends_on.map(|d| d.0),
            max_order_discount: self.max_order_discount_percent.map(|p| p.0),
        };
        (draft, self.code, status)
    }
}

fn maybe<T, U>(m: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

/// A change to a coupon: omitted fields stay as they are; `null` clears a nullable one.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCouponInput {
    /// The coupon's ID.
    #[serde(skip)]
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: MaybeUndefined<String>,
    /// New discount, replacing the old one whole.
    pub discount: Option<DiscountInput>,
    /// New start.
    pub starts_at: Option<DateTime>,
    /// New end (`null`: never expires).
    #[serde(default)]
    #[schema(value_type = Option<DateTime>)]
    pub expires_at: MaybeUndefined<DateTime>,
    /// New cap over all codes (`null`: no cap).
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub max_redemptions: MaybeUndefined<i32>,
    /// New cap per customer (`null`: no cap).
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub per_customer_limit: MaybeUndefined<i32>,
    /// New channel list.
    pub channels: Option<Vec<String>>,
    /// New metadata object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Json<serde_json::Value>>,
    /// New rule bindings, replacing the old list.
    pub rules: Option<Vec<RuleBindingInput>>,
    /// New minimum order subtotal (`null`: none).
    #[serde(default)]
    #[schema(value_type = Option<MoneyInput>)]
    pub min_subtotal: MaybeUndefined<MoneyInput>,
    /// New minimum subtotals, one per currency (instead of `minSubtotal`; `null`: none).
    #[serde(default)]
    #[schema(value_type = Option<Vec<MoneyInput>>)]
    pub min_subtotals: MaybeUndefined<Vec<MoneyInput>>,
    /// New smallest number of items (`null`: none).
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    pub min_items: MaybeUndefined<i32>,
    /// New reversal policy.
    pub reversal_policy: Option<ReversalPolicy>,
    /// New classes of discount it may share an order with (empty: alone only).
    pub combines_with: Option<Vec<DiscountClass>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New target.
    pub target: Option<TargetInput>,
    /// New per-customer discount cap (`null`: none).
    #[serde(default)]
    #[schema(value_type = Option<MoneyInput>)]
    pub max_discount_per_customer: MaybeUndefined<MoneyInput>,
    /// New per-customer discount caps, one per currency (instead of
    /// `maxDiscountPerCustomer`; `null`: none).
    #[serde(default)]
    #[schema(value_type = Option<Vec<MoneyInput>>)]
    pub max_discounts_per_customer: MaybeUndefined<Vec<MoneyInput>>,
    /// New time zone (`null`: UTC); the window's instants stay as they are.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub time_zone: MaybeUndefined<String>,
    /// New first day, read in the coupon's (new) time zone (instead of `startsAt`).
    pub starts_on: Option<Date>,
    /// New last day, read in the coupon's (new) time zone (instead of `expiresAt`).
    pub ends_on: Option<Date>,
    /// New cap on the order's line and order discounts, percent of the subtotal
    /// (`null`: none).
    #[serde(default)]
    #[schema(value_type = Option<Decimal>)]
    pub max_order_discount_percent: MaybeUndefined<Decimal>,
}

impl UpdateCouponInput {
    /// The patch, without the ID.
    pub fn into_patch(self) -> CouponPatch {
        CouponPatch {
            name: self.name,
            description: maybe(self.description, |d| d),
            discount: self.discount.map(Into::into),
            starts_at: self.starts_at.map(|t| t.0),
            expires_at: maybe(self.expires_at, |t| t.0),
            max_redemptions: maybe(self.max_redemptions, i64::from),
            per_customer_limit: maybe(self.per_customer_limit, i64::from),
            channels: self.channels,
            rules: self.rules.map(rules),
            metadata: self.metadata.map(|m| m.0),
            min_subtotals: given_patch(self.min_subtotal, self.min_subtotals),
            min_items: maybe(self.min_items, i64::from),
            reversal_policy: self.reversal_policy.map(Into::into),
            combines_with: self
                .combines_with
                .map(|c| c.into_iter().map(Into::into).collect()),
            priority: self.priority,
            target: self.target.map(Into::into),
            max_discounts_per_customer: given_patch(
                self.max_discount_per_customer,
                self.max_discounts_per_customer,
            ),
            time_zone: maybe(self.time_zone, |z| z),
            starts_on: self.starts_on.map(|d| d.0),
            ends_on: self.ends_on.map(|d| d.0),
            max_order_discount: maybe(self.max_order_discount_percent, |p| p.0),
        }
    }
}

/// A change of lifecycle status.
#[derive(Debug, Clone, InputObject)]
pub struct SetCouponStatusInput {
    /// The coupon's ID.
    pub id: ID,
    /// The new status.
    pub status: CouponLifecycleStatus,
}

/// A coupon to delete.
#[derive(Debug, Clone, InputObject)]
pub struct DeleteCouponInput {
    /// The coupon's ID.
    pub id: ID,
}

/// Codes to add to a coupon, all or none.
#[derive(Debug, Clone, InputObject)]
pub struct AddCodesInput {
    /// The coupon's ID.
    pub coupon_id: ID,
    /// 1 to 1000 codes, each 3 to 64 of `A-Z 0-9 - _` (case is ignored).
    pub codes: Vec<String>,
    /// Most uses of each code (1 for single-use; omit for no own cap).
    pub usage_limit: Option<i32>,
}

/// Which coupons to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct CouponFilter {
    /// Only coupons with this status now.
    pub status: Option<CouponStatus>,
    /// Case-insensitive text found in the name or in any code.
    pub query: Option<String>,
    /// Only coupons of this campaign.
    pub campaign_id: Option<ID>,
}

/// Result of `createCoupon`.
#[derive(SimpleObject)]
pub struct CreateCouponPayload {
    /// The new coupon; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
    /// What is allowed but probably not meant about the coupon as created.
    pub warnings: Vec<CouponWarning>,
}

/// What is odd about a coupon's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "coupons_domain::WarningKind")]
pub enum CouponWarningCode {
    /// Its window has already ended: no order can use it.
    WindowOver,
    /// A percentage coupon with no cap is tied to a currency only by its minimum
    /// subtotal: orders in any other currency are refused.
    CurrencyOnlyFromMinimum,
}

/// Something about a coupon's definition that is allowed but probably not meant.
#[derive(Debug, Clone, SimpleObject)]
pub struct CouponWarning {
    /// Stable code.
    pub code: CouponWarningCode,
    /// Explanation for a person.
    pub message: String,
}

/// The warnings about `coupon` now (none without a coupon).
pub fn warnings(coupon: Option<&coupons_domain::Coupon>) -> Vec<CouponWarning> {
    coupon
        .map(|c| c.spec.warnings(chrono::Utc::now()))
        .unwrap_or_default()
        .into_iter()
        .map(|w| CouponWarning {
            code: w.kind().into(),
            message: w.message(),
        })
        .collect()
}

/// Result of `updateCoupon`.
#[derive(SimpleObject)]
pub struct UpdateCouponPayload {
    /// The changed coupon; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
    /// What is allowed but probably not meant about the coupon as changed.
    pub warnings: Vec<CouponWarning>,
}

/// Result of `setCouponStatus`.
#[derive(SimpleObject)]
pub struct SetCouponStatusPayload {
    /// The coupon with its new status; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteCoupon`.
#[derive(SimpleObject)]
pub struct DeleteCouponPayload {
    /// The ID of the deleted coupon; null when there are user errors.
    pub deleted_coupon_id: Option<ID>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `addCodes`.
#[derive(SimpleObject)]
pub struct AddCodesPayload {
    /// The coupon; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// The codes added, in the order given.
    pub codes: Vec<CouponCode>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}
