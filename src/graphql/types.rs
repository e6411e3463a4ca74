//! Output types. Each wraps a domain or storage value; resolvers only format.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Interface, Json, Object, OutputType, Result, SimpleObject};
use chrono::Utc;
use coupons_domain as domain;

use super::error::{ApiError, query_error};
use super::guard::{READERS, RoleGuard};
use super::ids::{self, Kind};
use super::scalars::{DateTime, Decimal};
use crate::auth::{Principal, Role};
use crate::service::{ServiceError, Services, coupons, rules};
use crate::storage::{StoredApiKey, StoredCode};

/// Most items one page of a connection may hold.
pub const MAX_PAGE: usize = 100;
/// Items in a page when `first` is not given.
pub const DEFAULT_PAGE: usize = 20;

/// Checks `first` against [`MAX_PAGE`].
pub fn page_size(first: Option<i32>) -> Result<usize, ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (0..=MAX_PAGE as i32).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::BadUserInput(format!(
            "first must be between 0 and {MAX_PAGE} (got {n})"
        ))),
    }
}

/// Decodes an `after` cursor.
pub fn after_id(after: Option<&str>) -> Result<Option<i64>, ApiError> {
    after
        .map(|a| {
            ids::decode_cursor(a)
                .ok_or_else(|| ApiError::BadUserInput(format!("invalid cursor {a:?}")))
        })
        .transpose()
}

/// Where a page of a list stands.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items precede this page (true whenever `after` was given).
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// An item of a list, with its cursor.
#[derive(SimpleObject)]
#[graphql(concrete(name = "CouponEdge", params(Coupon)))]
#[graphql(concrete(name = "CouponCodeEdge", params(CouponCode)))]
#[graphql(concrete(name = "RedemptionEdge", params(Redemption)))]
#[graphql(concrete(name = "ApiKeyEdge", params(ApiKey)))]
#[graphql(concrete(name = "AuditEntryEdge", params(super::security::AuditEntry)))]
#[graphql(concrete(name = "CampaignEdge", params(super::campaigns::Campaign)))]
#[graphql(concrete(name = "WebhookEndpointEdge", params(super::webhooks::WebhookEndpoint)))]
#[graphql(concrete(name = "WebhookDeliveryEdge", params(super::webhooks::WebhookDelivery)))]
#[graphql(concrete(name = "BulkJobEdge", params(super::jobs::BulkJob)))]
pub struct Edge<T: OutputType> {
    /// Opaque position of this item in the list; pass it as `after` for the items after it.
    pub cursor: String,
    /// The item.
    pub node: T,
}

/// A coupon in a list.
pub type CouponEdge = Edge<Coupon>;
/// A code in a list.
pub type CouponCodeEdge = Edge<CouponCode>;
/// A redemption in a list.
pub type RedemptionEdge = Edge<Redemption>;
/// An API key in a list.
pub type ApiKeyEdge = Edge<ApiKey>;
/// An audit entry in a list.
pub type AuditEntryEdge = Edge<super::security::AuditEntry>;
/// A campaign in a list.
pub type CampaignEdge = Edge<super::campaigns::Campaign>;
/// A webhook endpoint in a list.
pub type WebhookEndpointEdge = Edge<super::webhooks::WebhookEndpoint>;
/// A webhook delivery in a list.
pub type WebhookDeliveryEdge = Edge<super::webhooks::WebhookDelivery>;
/// A bulk job in a list.
pub type BulkJobEdge = Edge<super::jobs::BulkJob>;

/// A page of a list (Relay connection).
#[derive(SimpleObject)]
#[graphql(concrete(name = "CouponConnection", params(Coupon, CouponEdge)))]
#[graphql(concrete(name = "CouponCodeConnection", params(CouponCode, CouponCodeEdge)))]
#[graphql(concrete(name = "RedemptionConnection", params(Redemption, RedemptionEdge)))]
#[graphql(concrete(name = "ApiKeyConnection", params(ApiKey, ApiKeyEdge)))]
#[graphql(concrete(
    name = "AuditEntryConnection",
    params(super::security::AuditEntry, AuditEntryEdge)
))]
#[graphql(concrete(
    name = "CampaignConnection",
    params(super::campaigns::Campaign, CampaignEdge)
))]
#[graphql(concrete(
    name = "WebhookEndpointConnection",
    params(super::webhooks::WebhookEndpoint, WebhookEndpointEdge)
))]
#[graphql(concrete(
    name = "WebhookDeliveryConnection",
    params(super::webhooks::WebhookDelivery, WebhookDeliveryEdge)
))]
#[graphql(concrete(name = "BulkJobConnection", params(super::jobs::BulkJob, BulkJobEdge)))]
pub struct Connection<T: OutputType, E: OutputType> {
    /// The items of this page with their cursors.
    pub edges: Vec<E>,
    /// The items of this page.
    pub nodes: Vec<T>,
    /// Where this page stands.
    pub page_info: PageInfo,
}

/// A page of `T`s.
pub type Page<T> = Connection<T, Edge<T>>;

impl<T: OutputType + Clone> Page<T>
where
    Edge<T>: OutputType,
{
    /// A page of `items` with their cursors.
    pub fn new(items: Vec<(String, T)>, page_info: PageInfo) -> Self {
        Self {
            nodes: items.iter().map(|(_, n)| n.clone()).collect(),
            edges: items
                .into_iter()
                .map(|(cursor, node)| Edge { cursor, node })
                .collect(),
            page_info,
        }
    }

    /// A page from `limit + 1` fetched `rows` (see [`paginate`]), each made into a `T`.
    pub fn from_rows<R>(
        rows: Vec<R>,
        limit: usize,
        after: Option<i64>,
        id: impl Fn(&R) -> i64,
        wrap: impl Fn(R) -> T,
    ) -> Self {
        let (items, page_info) = paginate(rows, limit, after, id);
        Self::new(
            items.into_iter().map(|(c, r)| (c, wrap(r))).collect(),
            page_info,
        )
    }
}

/// Cuts a fetched run of `limit + 1` rows into one page: (rows, pageInfo).
pub fn paginate<T>(
    mut rows: Vec<T>,
    limit: usize,
    after: Option<i64>,
    id: impl Fn(&T) -> i64,
) -> (Vec<(String, T)>, PageInfo) {
    let has_next_page = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<(String, T)> = rows.into_iter().map(|r| (ids::cursor(id(&r)), r)).collect();
    let info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: items.first().map(|(c, _)| c.clone()),
        end_cursor: items.last().map(|(c, _)| c.clone()),
    };
    (items, info)
}

/// An object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global ID."))]
pub enum Node {
    /// A coupon.
    Coupon(Coupon),
    /// A coupon code.
    CouponCode(CouponCode),
    /// A reservation or redemption.
    Redemption(Redemption),
    /// A campaign.
    Campaign(super::campaigns::Campaign),
    /// A bulk job.
    BulkJob(super::jobs::BulkJob),
}

/// Status as the caller sees it now: the status an admin set, refined for active
/// coupons by their window and usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
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

impl From<domain::CouponStatus> for CouponStatus {
    fn from(s: domain::CouponStatus) -> Self {
        use domain::CouponStatus as D;
        match s {
            D::Draft => Self::Draft,
            D::Active => Self::Active,
            D::Paused => Self::Paused,
            D::Archived => Self::Archived,
            D::Scheduled => Self::Scheduled,
            D::Expired => Self::Expired,
            D::Exhausted => Self::Exhausted,
        }
    }
}

impl From<CouponStatus> for domain::CouponStatus {
    fn from(s: CouponStatus) -> Self {
        use CouponStatus as G;
        match s {
            G::Draft => Self::Draft,
            G::Active => Self::Active,
            G::Paused => Self::Paused,
            G::Archived => Self::Archived,
            G::Scheduled => Self::Scheduled,
            G::Expired => Self::Expired,
            G::Exhausted => Self::Exhausted,
        }
    }
}

/// The status an admin sets. DRAFT → ACTIVE | ARCHIVED; ACTIVE ⇄ PAUSED;
/// ACTIVE | PAUSED → ARCHIVED; ARCHIVED is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
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

impl From<domain::LifecycleStatus> for CouponLifecycleStatus {
    fn from(s: domain::LifecycleStatus) -> Self {
        use domain::LifecycleStatus as D;
        match s {
            D::Draft => Self::Draft,
            D::Active => Self::Active,
            D::Paused => Self::Paused,
            D::Archived => Self::Archived,
        }
    }
}

impl From<CouponLifecycleStatus> for domain::LifecycleStatus {
    fn from(s: CouponLifecycleStatus) -> Self {
        use CouponLifecycleStatus as G;
        match s {
            G::Draft => Self::Draft,
            G::Active => Self::Active,
            G::Paused => Self::Paused,
            G::Archived => Self::Archived,
        }
    }
}

/// The kind of discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum DiscountType {
    /// A percentage of the eligible subtotal, optionally capped by `maxDiscount`.
    Percentage,
    /// A fixed amount in one currency.
    FixedAmount,
}

/// An amount of money.
#[derive(Debug, Clone, SimpleObject)]
pub struct Money {
    /// The amount, with exactly the currency's number of decimal places ("19.90",
    /// "1000" for JPY).
    pub amount: Decimal,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl From<domain::Money> for Money {
    fn from(m: domain::Money) -> Self {
        Self {
            amount: Decimal(m.to_decimal()),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// What a coupon takes off an order.
#[derive(Debug, Clone, SimpleObject)]
pub struct Discount {
    /// Percentage or fixed amount.
    #[graphql(name = "type")]
    pub kind: DiscountType,
    /// The percentage (PERCENTAGE only), e.g. "12.5".
    pub percentage: Option<Decimal>,
    /// The amount off (FIXED_AMOUNT only).
    pub amount: Option<Money>,
    /// The most a percentage discount takes off (PERCENTAGE only; null for no cap).
    pub max_discount: Option<Money>,
}

impl From<domain::Discount> for Discount {
    fn from(d: domain::Discount) -> Self {
        match d {
            domain::Discount::Percentage {
                percent,
                max_discount,
            } => Self {
                kind: DiscountType::Percentage,
                percentage: Some(Decimal(percent.value())),
                amount: None,
                max_discount: max_discount.map(Into::into),
            },
            domain::Discount::FixedAmount(m) => Self {
                kind: DiscountType::FixedAmount,
                percentage: None,
                amount: Some(m.into()),
                max_discount: None,
            },
        }
    }
}

/// Money from a stored currency code and minor units.
pub fn money(currency: &str, minor: i64) -> Option<Money> {
    domain::Currency::parse(currency)
        .ok()
        .map(|currency| domain::Money { minor, currency }.into())
}

/// What a full reversal does to the use a redemption took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ReversalPolicy {
    /// The use comes back: caps and per-customer limits no longer count it.
    RestoreUsage,
    /// The use stays counted.
    KeepUsage,
}

impl From<domain::ReversalPolicy> for ReversalPolicy {
    fn from(p: domain::ReversalPolicy) -> Self {
        match p {
            domain::ReversalPolicy::RestoreUsage => Self::RestoreUsage,
            domain::ReversalPolicy::KeepUsage => Self::KeepUsage,
        }
    }
}

impl From<ReversalPolicy> for domain::ReversalPolicy {
    fn from(p: ReversalPolicy) -> Self {
        match p {
            ReversalPolicy::RestoreUsage => Self::RestoreUsage,
            ReversalPolicy::KeepUsage => Self::KeepUsage,
        }
    }
}

/// Where a reservation or redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RedemptionStatus {
    /// Holds a use until `reservedUntil`.
    Reserved,
    /// Used.
    Redeemed,
    /// A reservation given back.
    Released,
    /// A reservation whose deadline passed; its use came back.
    Expired,
    /// Fully refunded.
    Reversed,
    /// Partly refunded; still a use.
    PartiallyReversed,
}

impl From<domain::RedemptionStatus> for RedemptionStatus {
    fn from(s: domain::RedemptionStatus) -> Self {
        use domain::RedemptionStatus as D;
        match s {
            D::Reserved => Self::Reserved,
            D::Redeemed => Self::Redeemed,
            D::Released => Self::Released,
            D::Expired => Self::Expired,
            D::Reversed => Self::Reversed,
            D::PartiallyReversed => Self::PartiallyReversed,
        }
    }
}

impl From<RedemptionStatus> for domain::RedemptionStatus {
    fn from(s: RedemptionStatus) -> Self {
        use RedemptionStatus as G;
        match s {
            G::Reserved => Self::Reserved,
            G::Redeemed => Self::Redeemed,
            G::Released => Self::Released,
            G::Expired => Self::Expired,
            G::Reversed => Self::Reversed,
            G::PartiallyReversed => Self::PartiallyReversed,
        }
    }
}

/// A reservation or redemption of a coupon code for an order.
#[derive(Debug, Clone)]
pub struct Redemption(pub domain::Redemption);

/// A reservation or redemption of a coupon code for an order.
#[Object]
impl Redemption {
    /// Opaque global ID; also the reservation ID to redeem or release.
    async fn id(&self) -> ID {
        ids::encode(Kind::Redemption, self.0.id)
    }

    /// Where it stands.
    async fn status(&self) -> RedemptionStatus {
        self.0.status.into()
    }

    /// The code used (canonical).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The storefront's order id.
    async fn order_id(&self) -> &str {
        &self.0.order_id
    }

    /// Sales channel of the order.
    async fn channel(&self) -> Option<&str> {
        self.0.channel.as_deref()
    }

    /// Domain of the customer's e-mail (the address itself is never stored).
    async fn email_domain(&self) -> Option<&str> {
        self.0.email_domain.as_deref()
    }

    /// The order subtotal.
    async fn subtotal(&self) -> Option<Money> {
        money(&self.0.currency, self.0.subtotal_minor)
    }

    /// The discount granted.
    async fn discount(&self) -> Option<Money> {
        money(&self.0.currency, self.0.discount_minor)
    }

    /// The part of the discount refunded by reversals.
    async fn refunded_discount(&self) -> Option<Money> {
        money(&self.0.currency, self.0.refunded_minor)
    }

    /// Deadline of a reservation.
    async fn reserved_until(&self) -> Option<DateTime> {
        self.0.reserved_until.map(DateTime)
    }

    /// When it was made.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was redeemed.
    async fn redeemed_at(&self) -> Option<DateTime> {
        self.0.redeemed_at.map(DateTime)
    }

    /// When it was released, expired or fully reversed.
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.closed_at.map(DateTime)
    }

    /// The coupon.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>> {
        let svc = ctx.data::<Services>()?;
        let coupon = coupons::coupon(svc, domain::CouponId(self.0.coupon_id))
            .await
            .map_err(query_error)?;
        Ok(coupon.map(Coupon))
    }
}

/// Why a coupon does not apply to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RejectionCode {
    /// No such code (also answered to storefront and public callers for codes that are
    /// switched off).
    NotFound,
    /// The coupon or the code is switched off (draft, paused, archived, deactivated).
    NotActive,
    /// The coupon's window has not started.
    NotStarted,
    /// The coupon's window has ended.
    Expired,
    /// The order is in another currency than the coupon's.
    CurrencyMismatch,
    /// The order's channel is not one the coupon is limited to.
    ChannelNotEligible,
    /// The order subtotal is below the coupon's minimum.
    MinSubtotalNotMet,
    /// The discount on this order would be zero.
    ZeroDiscount,
    /// Every use of the coupon is taken (redeemed or reserved).
    UsageLimitReached,
    /// Every use of this code is taken (a used single-use code).
    CodeUsageLimitReached,
    /// The coupon has a per-customer limit and the order names no customer.
    CustomerRequired,
    /// This customer has used the coupon as often as allowed.
    CustomerLimitReached,
    /// Every use the coupon's campaign allows is taken.
    CampaignUsageLimitReached,
    /// The coupon's campaign has spent its discount budget.
    CampaignBudgetExhausted,
    /// One of the coupon's rules rejected the order; see `rule` and `ruleCode`.
    RuleRejected,
    /// One of the coupon's rules could not be evaluated; the coupon does not apply.
    RuleFailed,
}

impl From<&domain::Rejection> for RejectionCode {
    fn from(r: &domain::Rejection) -> Self {
        use domain::Rejection as R;
        match r {
            R::NotFound => Self::NotFound,
            R::NotActive => Self::NotActive,
            R::NotStarted => Self::NotStarted,
            R::Expired => Self::Expired,
            R::CurrencyMismatch => Self::CurrencyMismatch,
            R::ChannelNotEligible => Self::ChannelNotEligible,
            R::MinSubtotalNotMet => Self::MinSubtotalNotMet,
            R::ZeroDiscount => Self::ZeroDiscount,
            R::UsageLimitReached => Self::UsageLimitReached,
            R::CodeUsageLimitReached => Self::CodeUsageLimitReached,
            R::CustomerRequired => Self::CustomerRequired,
            R::CustomerLimitReached => Self::CustomerLimitReached,
            R::CampaignUsageLimitReached => Self::CampaignUsageLimitReached,
            R::CampaignBudgetExhausted => Self::CampaignBudgetExhausted,
            R::RuleRejected { .. } => Self::RuleRejected,
            R::RuleFailed { .. } => Self::RuleFailed,
        }
    }
}

/// One reason a coupon does not apply.
#[derive(Debug, Clone, SimpleObject)]
pub struct CouponRejection {
    /// Stable, machine-readable reason.
    pub code: RejectionCode,
    /// Explanation for a person.
    pub message: String,
    /// For RULE_REJECTED and RULE_FAILED: the rule.
    pub rule: Option<String>,
    /// For RULE_REJECTED: the rule's own code (e.g. `EMAIL_DOMAIN_NOT_ALLOWED`).
    pub rule_code: Option<String>,
}

impl From<domain::Rejection> for CouponRejection {
    fn from(r: domain::Rejection) -> Self {
        let (rule, rule_code) = match &r {
            domain::Rejection::RuleRejected { rule, code, .. } => {
                (Some(rule.clone()), Some(code.clone()))
            }
            domain::Rejection::RuleFailed { rule } => (Some(rule.clone()), None),
            _ => (None, None),
        };
        Self {
            code: (&r).into(),
            message: r.message(),
            rule,
            rule_code,
        }
    }
}

/// The answer to `validateCoupon`.
#[derive(SimpleObject)]
pub struct CouponValidation {
    /// Whether the code applies to the order now.
    pub valid: bool,
    /// The discount it would give; null when not valid.
    pub discount: Option<Money>,
    /// Why it does not apply; empty when valid.
    pub reasons: Vec<CouponRejection>,
    /// Problems with the input itself (e.g. a malformed order); empty otherwise.
    pub user_errors: Vec<super::error::CouponUserError>,
}

/// A rule the coupon applies, with its parameters.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleBinding {
    /// The rule's name, e.g. `allowed_email_domains`.
    pub name: String,
    /// The parameters passed to the rule (a JSON object).
    pub params: Json<serde_json::Value>,
}

/// A discount definition, reachable through any of its codes.
#[derive(Debug, Clone)]
pub struct Coupon(pub domain::Coupon);

/// Loads the first code of many coupons in one query (for `Coupon.code` in lists).
pub struct FirstCodeLoader(pub Services);

impl Loader<i64> for FirstCodeLoader {
    type Value = String;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, String>, Self::Error> {
        coupons::first_codes(&self.0, keys).await.map_err(Arc::new)
    }
}

/// A discount definition, reachable through any of its codes.
#[Object]
impl Coupon {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::Coupon, self.0.id.0)
    }

    /// The campaign it belongs to, if any.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn campaign(&self, ctx: &Context<'_>) -> Result<Option<super::campaigns::Campaign>> {
        match self.0.campaign_id {
            None => Ok(None),
            Some(id) => super::campaigns::campaign(ctx, &ids::encode(Kind::Campaign, id)).await,
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
        self.0.spec.discount.into()
    }

    /// First instant it can be used.
    async fn starts_at(&self) -> DateTime {
        DateTime(self.0.spec.window.starts_at)
    }

    /// First instant it can no longer be used; null for never.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.spec.window.expires_at.map(DateTime)
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
    async fn total_discount(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        let svc = ctx.data::<Services>()?;
        let totals = coupons::total_discounts(svc, self.0.id)
            .await
            .map_err(query_error)?;
        Ok(totals
            .into_iter()
            .filter_map(|(currency, minor)| money(&currency, minor))
            .collect())
    }

    /// `validateCoupon` calls that found this coupon, valid or not (written every
    /// sweep interval, so the latest few seconds may be missing).
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn validation_attempts(&self, ctx: &Context<'_>) -> Result<i64> {
        let svc = ctx.data::<Services>()?;
        coupons::validation_attempts(svc, self.0.id)
            .await
            .map_err(|e| query_error(e).into())
    }

    /// Smallest order subtotal the coupon applies to; null for none.
    async fn min_subtotal(&self) -> Option<Money> {
        self.0.spec.min_subtotal.map(Into::into)
    }

    /// What a full reversal does to the use it took.
    async fn reversal_policy(&self) -> ReversalPolicy {
        self.0.spec.reversal_policy.into()
    }

    /// Its first code (the one given at creation, else the oldest); null if it has none.
    async fn code(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let loader = ctx.data::<DataLoader<FirstCodeLoader>>()?;
        loader
            .load_one(self.0.id.0)
            .await
            .map_err(|e| ApiError::internal(&*e).into())
    }

    /// Its codes, oldest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, child_complexity)")]
    async fn codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
    ) -> Result<Page<CouponCode>> {
        let svc = ctx.data::<Services>()?;
        let limit = page_size(first)?;
        let after = after_id(after.as_deref())?;
        let rows = coupons::codes(svc, self.0.id, after, limit as i64 + 1)
            .await
            .map_err(query_error)?;
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

/// A customer-facing code of a coupon, stored in canonical form (upper case).
#[derive(Debug, Clone)]
pub struct CouponCode(pub StoredCode);

/// A customer-facing code of a coupon, stored in canonical form (upper case).
#[Object]
impl CouponCode {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::CouponCode, self.0.id)
    }

    /// The code, canonical: trimmed and upper case. Lookups ignore case.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Most uses of this code (1 for single-use); null for no own cap.
    async fn usage_limit(&self) -> Option<i64> {
        self.0.usage_limit
    }

    /// Uses counted so far.
    async fn redemption_count(&self) -> i64 {
        self.0.redemption_count
    }

    /// Whether the code can be used.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// The bulk job that generated it; null for codes added otherwise.
    async fn batch_id(&self) -> Option<ID> {
        self.0.batch_id.map(|id| ids::encode(Kind::BulkJob, id))
    }

    /// When it was added.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The coupon it belongs to.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>> {
        let svc = ctx.data::<Services>()?;
        let coupon = coupons::coupon(svc, domain::CouponId(self.0.coupon_id))
            .await
            .map_err(query_error)?;
        Ok(coupon.map(Coupon))
    }
}

/// A role an API key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ApiKeyRole {
    /// Everything: coupons, keys, configuration.
    Admin,
    /// Server-to-server checkout: validate, reserve, redeem, release, reverse.
    Storefront,
    /// Read-only: coupons, redemption history, reports.
    Analyst,
    /// Publishable key for browser widgets: validation only, strictly limited.
    Public,
}

impl From<Role> for ApiKeyRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => Self::Admin,
            Role::Storefront => Self::Storefront,
            Role::Analyst => Self::Analyst,
            Role::Public => Self::Public,
        }
    }
}

impl From<ApiKeyRole> for Role {
    fn from(r: ApiKeyRole) -> Self {
        match r {
            ApiKeyRole::Admin => Self::Admin,
            ApiKeyRole::Storefront => Self::Storefront,
            ApiKeyRole::Analyst => Self::Analyst,
            ApiKeyRole::Public => Self::Public,
        }
    }
}

/// An API key. The secret itself is never shown again after creation.
#[derive(Debug, Clone)]
pub struct ApiKey(pub StoredApiKey);

/// An API key. The secret itself is never shown again after creation.
#[Object]
impl ApiKey {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::ApiKey, self.0.id)
    }

    /// Who or what the key is for.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the key may do.
    async fn role(&self) -> Option<ApiKeyRole> {
        Role::parse(&self.0.role).map(Into::into)
    }

    /// The first characters of the key, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last used (to the minute).
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(DateTime)
    }

    /// Channels the key may be used for (checkout and validation must name one);
    /// empty for every channel.
    async fn channels(&self) -> Vec<String> {
        self.0.channel_list()
    }

    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(DateTime)
    }

    /// When it stops working: set when the key is rotated (the end of the grace
    /// period).
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(DateTime)
    }

    /// Whether it works now: not revoked, not expired.
    async fn active(&self) -> bool {
        self.0.is_active(Utc::now())
    }

    /// The key that replaced this one by rotation.
    async fn replaced_by_id(&self) -> Option<ID> {
        self.0.replaced_by.map(|id| ids::encode(Kind::ApiKey, id))
    }
}

/// The caller, as identified by its API key.
#[derive(Debug, Clone)]
pub struct Viewer(pub Principal);

/// The caller, as identified by its API key.
#[Object]
impl Viewer {
    /// The key's role.
    async fn role(&self) -> ApiKeyRole {
        self.0.role.into()
    }

    /// The key's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The key's first characters.
    async fn key_prefix(&self) -> &str {
        &self.0.key_prefix
    }
}

/// Where the rule in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RuleSource {
    /// A file in the rules directory.
    File,
    /// Published through `publishRule` (stored in the database, versioned).
    Published,
}

/// A parameter a rule takes.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleParameter {
    /// Its name in the binding's `params`.
    pub name: String,
    /// What it must be.
    pub kind: String,
    /// Whether it may be left out.
    pub optional: bool,
}

/// A published version of a rule.
#[derive(Debug, Clone)]
pub struct RuleVersion(pub crate::storage::StoredRuleVersion);

/// A published version of a rule.
#[Object]
impl RuleVersion {
    /// The version number, from 1.
    async fn version(&self) -> i64 {
        self.0.version
    }

    /// Who published it.
    async fn author(&self) -> &str {
        &self.0.author
    }

    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The Rhai source.
    async fn source(&self) -> &str {
        &self.0.source
    }
}

/// An eligibility rule in force.
#[derive(Debug, Clone)]
pub struct Rule(pub Arc<crate::rules::CompiledRule>);

/// An eligibility rule in force.
#[Object]
impl Rule {
    /// The name coupons bind it by.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it does (the comment at the top of its source).
    async fn description(&self) -> String {
        self.0.description()
    }

    /// Where it comes from.
    async fn source_kind(&self) -> RuleSource {
        match self.0.origin {
            crate::rules::RuleOrigin::Published { .. } => RuleSource::Published,
            _ => RuleSource::File,
        }
    }

    /// The published version in force; null for a file rule.
    async fn version(&self) -> Option<i64> {
        match self.0.origin {
            crate::rules::RuleOrigin::Published { version } => Some(version),
            _ => None,
        }
    }

    /// The Rhai source in force.
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// The parameters it takes.
    async fn parameters(&self) -> Vec<RuleParameter> {
        self.0
            .parameters()
            .into_iter()
            .map(|(name, kind, optional)| RuleParameter {
                name,
                kind: kind.to_owned(),
                optional,
            })
            .collect()
    }

    /// Every published version, newest first (empty for a rule never published).
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<RuleVersion>> {
        let svc = ctx.data::<Services>()?;
        let versions = rules::rule_versions(svc, &self.0.name)
            .await
            .map_err(query_error)?;
        Ok(versions.into_iter().map(RuleVersion).collect())
    }
}

/// How a rule answered in a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RuleVerdictKind {
    /// The coupon may apply.
    Pass,
    /// The coupon does not apply.
    Reject,
    /// The coupon applies with a lower discount.
    Cap,
    /// The rule could not run (see `message`).
    Failed,
}

/// One rule's answer in a simulation.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleSimulationResult {
    /// The rule.
    pub rule: String,
    /// Its answer.
    pub verdict: RuleVerdictKind,
    /// For REJECT, the rule's own code.
    pub code: Option<String>,
    /// For REJECT, the rule's message; for FAILED, the error (with line and column).
    pub message: Option<String>,
    /// For CAP, the most the coupon may take off, in minor units of the order's currency.
    pub cap_minor: Option<i64>,
    /// How long the rule took, in microseconds.
    pub micros: i64,
}

impl From<rules::RuleRun> for RuleSimulationResult {
    fn from(run: rules::RuleRun) -> Self {
        let micros = i64::try_from(run.elapsed.as_micros()).unwrap_or(i64::MAX);
        let (verdict, code, message, cap_minor) = match run.verdict {
            Ok(domain::RuleVerdict::Pass) => (RuleVerdictKind::Pass, None, None, None),
            Ok(domain::RuleVerdict::Reject { code, message, .. }) => {
                (RuleVerdictKind::Reject, Some(code), Some(message), None)
            }
            Ok(domain::RuleVerdict::Cap(n)) => (RuleVerdictKind::Cap, None, None, Some(n)),
            Err(e) => (RuleVerdictKind::Failed, None, Some(e), None),
        };
        Self {
            rule: run.rule,
            verdict,
            code,
            message,
            cap_minor,
            micros,
        }
    }
}

/// Result of `simulateRules`. Nothing is written.
#[derive(SimpleObject)]
pub struct RuleSimulation {
    /// The discount before rules, when the coupon's built-in checks pass.
    pub discount: Option<Money>,
    /// Why the coupon's built-in checks refuse the order, if they do.
    pub reasons: Vec<CouponRejection>,
    /// Every rule, in binding order (all of them, even after a rejection).
    pub results: Vec<RuleSimulationResult>,
    /// Problems with the input (e.g. RULE_COMPILE_ERROR for a draft); empty otherwise.
    pub user_errors: Vec<super::error::CouponUserError>,
}
