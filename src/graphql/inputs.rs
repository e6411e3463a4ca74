//! Input objects and mutation payloads.

use async_graphql::{Enum, ID, InputObject, Json, MaybeUndefined, SimpleObject};
use coupons_domain::{
    CouponDraft, Expiry, LifecycleStatus, LineItemDraft, MoneyInput as DomainMoney, OrderDraft,
};

use super::error::CouponUserError;
use super::scalars::{DateTime, Decimal};
use super::types::{
    ApiKey, ApiKeyRole, Coupon, CouponCode, CouponStatus, Redemption, RedemptionStatus,
    ReversalPolicy,
};
use crate::service::coupons::{CouponPatch, DiscountParts, NewCoupon};

/// An amount of money.
#[derive(Debug, Clone, InputObject)]
pub struct MoneyInput {
    /// Decimal amount as a string, with at most the currency's decimal places ("19.99").
    pub amount: Decimal,
    /// ISO 4217 currency code ("USD").
    pub currency: String,
}

impl From<MoneyInput> for DomainMoney {
    fn from(m: MoneyInput) -> Self {
        Self {
            amount: m.amount.0,
            currency: m.currency,
        }
    }
}

/// A discount: give exactly one of `percentage` and `amount`.
#[derive(Debug, Clone, InputObject)]
pub struct DiscountInput {
    /// Percentage off, `0 < p <= 100`, at most 4 decimal places ("12.5").
    pub percentage: Option<Decimal>,
    /// Fixed amount off, in the coupon's currency.
    pub amount: Option<MoneyInput>,
    /// Cap on a percentage discount.
    pub max_discount: Option<MoneyInput>,
    /// A bare value instead of `percentage` or `amount`, read as the server's default
    /// discount type says (`COUPONS_DEFAULT_DISCOUNT_TYPE`: a percentage, or an amount
    /// in `COUPONS_DEFAULT_CURRENCY`). Only in `createCoupon`.
    pub value: Option<Decimal>,
}

impl From<DiscountInput> for DiscountParts {
    fn from(d: DiscountInput) -> Self {
        Self {
            percentage: d.percentage.map(|p| p.0),
            amount: d.amount.map(Into::into),
            max_discount: d.max_discount.map(Into::into),
        }
    }
}

/// A rule to apply, with its parameters.
#[derive(Debug, Clone, InputObject)]
pub struct RuleBindingInput {
    /// The rule's name (lower-case snake_case), e.g. `allowed_email_domains`.
    pub name: String,
    /// Parameters for the rule, a JSON object (default `{}`).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum InitialCouponStatus {
    /// Prepared but not usable until set ACTIVE.
    Draft,
    /// Usable within its window and limits.
    Active,
}

/// A new coupon.
#[derive(Debug, Clone, InputObject)]
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
    pub status: InitialCouponStatus,
    /// What it takes off.
    pub discount: DiscountInput,
    /// First instant it can be used (default: now).
    pub starts_at: Option<DateTime>,
    /// First instant it can no longer be used. Omitted: the server's default expiry
    /// applies (if configured); `null`: never expires.
    pub expires_at: MaybeUndefined<DateTime>,
    /// Most redemptions over all its codes (at least 1; omit for no cap).
    pub max_redemptions: Option<i32>,
    /// Most redemptions by one customer (at least 1). Left out: the server's default
    /// (`COUPONS_DEFAULT_PER_CUSTOMER_LIMIT`, if set); `null`: no cap.
    pub per_customer_limit: MaybeUndefined<i32>,
    /// Sales channels it is limited to (lower case; empty for every channel).
    #[graphql(default)]
    pub channels: Vec<String>,
    /// Free-form JSON object (up to 16 KiB).
    pub metadata: Option<Json<serde_json::Value>>,
    /// Rules to apply, in order. Left out: the server's default e-mail domains
    /// (`COUPONS_DEFAULT_ALLOWED_EMAIL_DOMAINS`), if set; `[]`: none.
    pub rules: Option<Vec<RuleBindingInput>>,
    /// Smallest order subtotal the coupon applies to (in the coupon's currency).
    pub min_subtotal: Option<MoneyInput>,
    /// What a full reversal does to the use (default RESTORE_USAGE).
    #[graphql(default_with = "ReversalPolicy::RestoreUsage")]
    pub reversal_policy: ReversalPolicy,
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
            percentage: self.discount.percentage.map(|p| p.0),
            amount: self.discount.amount.map(Into::into),
            max_discount: self.discount.max_discount.map(Into::into),
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
            min_subtotal: self.min_subtotal.map(Into::into),
            reversal_policy: self.reversal_policy.into(),
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
#[derive(Debug, Clone, InputObject)]
pub struct UpdateCouponInput {
    /// The coupon's ID.
    pub id: ID,
    /// New display name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
    /// New discount, replacing the old one whole.
    pub discount: Option<DiscountInput>,
    /// New start.
    pub starts_at: Option<DateTime>,
    /// New end (`null`: never expires).
    pub expires_at: MaybeUndefined<DateTime>,
    /// New cap over all codes (`null`: no cap).
    pub max_redemptions: MaybeUndefined<i32>,
    /// New cap per customer (`null`: no cap).
    pub per_customer_limit: MaybeUndefined<i32>,
    /// New channel list.
    pub channels: Option<Vec<String>>,
    /// New metadata object.
    pub metadata: Option<Json<serde_json::Value>>,
    /// New rule bindings, replacing the old list.
    pub rules: Option<Vec<RuleBindingInput>>,
    /// New minimum order subtotal (`null`: none).
    pub min_subtotal: MaybeUndefined<MoneyInput>,
    /// New reversal policy.
    pub reversal_policy: Option<ReversalPolicy>,
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
            min_subtotal: maybe(self.min_subtotal, Into::into),
            reversal_policy: self.reversal_policy.map(Into::into),
        }
    }
}

/// A change of lifecycle status.
#[derive(Debug, Clone, InputObject)]
pub struct SetCouponStatusInput {
    /// The coupon's ID.
    pub id: ID,
    /// The new status.
    pub status: super::types::CouponLifecycleStatus,
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

/// A new API key.
#[derive(Debug, Clone, InputObject)]
pub struct CreateApiKeyInput {
    /// Who or what the key is for.
    pub name: String,
    /// What it may do.
    pub role: ApiKeyRole,
    /// Channels it may be used for (validation and checkout must name one of them);
    /// empty or omitted for every channel.
    #[graphql(default)]
    pub channels: Vec<String>,
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
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `updateCoupon`.
#[derive(SimpleObject)]
pub struct UpdateCouponPayload {
    /// The changed coupon; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `setCouponStatus`.
#[derive(SimpleObject)]
pub struct SetCouponStatusPayload {
    /// The coupon with its new status; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `deleteCoupon`.
#[derive(SimpleObject)]
pub struct DeleteCouponPayload {
    /// The ID of the deleted coupon; null when there are user errors.
    pub deleted_coupon_id: Option<ID>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `addCodes`.
#[derive(SimpleObject)]
pub struct AddCodesPayload {
    /// The coupon; null when there are user errors.
    pub coupon: Option<Coupon>,
    /// The codes added, in the order given.
    pub codes: Vec<CouponCode>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `createApiKey`.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key's record.
    pub api_key: Option<ApiKey>,
    /// The key itself. Shown only in this response: store it now.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// One line of an order.
#[derive(Debug, Clone, InputObject)]
pub struct LineItemInput {
    /// Product identifier.
    pub sku: String,
    /// Categories the product belongs to.
    #[graphql(default)]
    pub categories: Vec<String>,
    /// How many (at least 1).
    pub quantity: i32,
    /// Price of one, in the order's currency.
    pub unit_price: Decimal,
}

/// The buyer. Per-customer limits use the id when given, else the e-mail (trimmed,
/// lower case); only a keyed hash of either is stored.
#[derive(Debug, Clone, InputObject)]
pub struct CustomerInput {
    /// The storefront's customer id.
    pub id: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Tags the storefront gives the customer (rules may read them).
    #[graphql(default)]
    pub tags: Vec<String>,
    /// Whether this is the customer's first order (rules may read it).
    #[graphql(default)]
    pub first_order: bool,
}

/// The order a coupon is applied to.
#[derive(Debug, Clone, InputObject)]
pub struct OrderInput {
    /// The storefront's order id.
    pub id: String,
    /// ISO 4217 currency of every amount in the order.
    pub currency: String,
    /// The subtotal the discount applies to.
    pub subtotal: Decimal,
    /// The order's lines.
    #[graphql(default)]
    pub items: Vec<LineItemInput>,
    /// The buyer.
    pub customer: Option<CustomerInput>,
    /// Sales channel (e.g. `web`, `pos`).
    pub channel: Option<String>,
}

impl From<OrderInput> for OrderDraft {
    fn from(o: OrderInput) -> Self {
        let (customer_id, customer_email, customer_tags, first_order) = match o.customer {
            Some(c) => (c.id, c.email, c.tags, c.first_order),
            None => (None, None, Vec::new(), false),
        };
        Self {
            id: o.id,
            currency: o.currency,
            subtotal: o.subtotal.0,
            items: o
                .items
                .into_iter()
                .map(|i| LineItemDraft {
                    sku: i.sku,
                    categories: i.categories,
                    quantity: i64::from(i.quantity),
                    unit_price: i.unit_price.0,
                })
                .collect(),
            customer_id,
            customer_email,
            customer_tags,
            first_order,
            channel: o.channel,
        }
    }
}

/// A code and an order to check it against.
#[derive(Debug, Clone, InputObject)]
pub struct ValidateCouponInput {
    /// The code as the customer typed it (case and surrounding spaces are ignored).
    pub code: String,
    /// The order.
    pub order: OrderInput,
}

/// Hold one use of a code for an order until a deadline.
#[derive(Debug, Clone, InputObject)]
pub struct ReserveCouponInput {
    /// The code as the customer typed it.
    pub code: String,
    /// The order.
    pub order: OrderInput,
    /// Minutes to hold the use (1 to 1440; default from the server's configuration).
    pub hold_minutes: Option<i32>,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    pub idempotency_key: String,
}

/// Redeem a code for an order, or a reservation. Give `reservationId`, or `code` and
/// `order`.
#[derive(Debug, Clone, InputObject)]
pub struct RedeemCouponInput {
    /// The code as the customer typed it (with `order`).
    pub code: Option<String>,
    /// The order (with `code`).
    pub order: Option<OrderInput>,
    /// A reservation to redeem, on the terms it was made on.
    pub reservation_id: Option<ID>,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    pub idempotency_key: String,
}

/// Give a reservation's use back.
#[derive(Debug, Clone, InputObject)]
pub struct ReleaseReservationInput {
    /// The reservation.
    pub reservation_id: ID,
}

/// Record a refund of a redemption's discount.
#[derive(Debug, Clone, InputObject)]
pub struct ReverseRedemptionInput {
    /// The redemption.
    pub redemption_id: ID,
    /// The part of the discount refunded, in the redemption's currency; omit for all
    /// that is left.
    pub refunded_discount: Option<Decimal>,
    /// A unique key per logical request (1 to 255 characters).
    pub idempotency_key: String,
}

/// Which redemptions to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct RedemptionFilter {
    /// Of this coupon.
    pub coupon_id: Option<ID>,
    /// Of the customer with this id.
    pub customer_id: Option<String>,
    /// Of the customer with this e-mail (used when no customer id is given).
    pub customer_email: Option<String>,
    /// For this order.
    pub order_id: Option<String>,
    /// In this status.
    pub status: Option<RedemptionStatus>,
}

/// Result of `reserveCoupon`.
#[derive(SimpleObject)]
pub struct ReserveCouponPayload {
    /// The reservation; null when there are user errors.
    pub reservation: Option<Redemption>,
    /// Why nothing was reserved; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `redeemCoupon`.
#[derive(SimpleObject)]
pub struct RedeemCouponPayload {
    /// The redemption; null when there are user errors.
    pub redemption: Option<Redemption>,
    /// Why nothing was redeemed; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `releaseReservation`.
#[derive(SimpleObject)]
pub struct ReleaseReservationPayload {
    /// The reservation as it stands; null when there are user errors.
    pub reservation: Option<Redemption>,
    /// What went wrong; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Result of `reverseRedemption`.
#[derive(SimpleObject)]
pub struct ReverseRedemptionPayload {
    /// The redemption after the reversal; null when there are user errors.
    pub redemption: Option<Redemption>,
    /// What went wrong; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// A new version of a rule.
#[derive(Debug, Clone, InputObject)]
pub struct PublishRuleInput {
    /// The rule's name (lower-case snake_case). A published rule takes precedence over a
    /// file of the same name.
    pub name: String,
    /// The Rhai source; see rules/README.md for the contract.
    pub source: String,
}

/// An earlier version to put back in force.
#[derive(Debug, Clone, InputObject)]
pub struct RollbackRuleInput {
    /// The rule's name.
    pub name: String,
    /// The version to restore.
    pub version: i32,
}

/// Result of `publishRule` and `rollbackRule`.
#[derive(SimpleObject)]
pub struct RulePayload {
    /// The rule now in force; null when there are user errors.
    pub rule: Option<super::types::Rule>,
    /// What was wrong (e.g. RULE_COMPILE_ERROR with line and column); empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// What to simulate, against which order. Give exactly one of `code`, `couponId` and
/// `source`.
#[derive(Debug, Clone, InputObject)]
pub struct SimulateRulesInput {
    /// Run the rules of the coupon this code points at, with usage as it stands.
    pub code: Option<String>,
    /// Run the rules this coupon binds.
    pub coupon_id: Option<ID>,
    /// Run a draft rule (not yet published) with `params`; usage counts are zero.
    pub source: Option<String>,
    /// Parameters for the draft rule (default `{}`).
    pub params: Option<Json<serde_json::Value>>,
    /// The order.
    pub order: OrderInput,
}
