//! Checkout eligibility: whether a coupon applies to an order, and for how much.
//!
//! [`evaluate`] is pure. The storage layer calls it inside the transaction that writes the
//! redemption, with usage counted in that same transaction, so what it decides is exact
//! under any concurrency.

use chrono::{DateTime, Utc};

use crate::campaign::CampaignLimits;
use crate::coupon::{Coupon, LifecycleStatus};
use crate::money::Money;
use crate::order::Order;
use crate::rules::Shape;

/// Why a coupon does not apply. The order of variants is the order of checks.
///
/// [`RejectionKind`] is the same list without the details: a new reason is one variant
/// here, its code and message in [`RejectionKind::code`] and [`RejectionKind::message`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumDiscriminants,
)]
#[strum_discriminants(
    name(RejectionKind),
    derive(Hash, strum::VariantArray),
    doc = "The reasons a coupon does not apply, without their details: the vocabulary the API shows as `RejectionCode`, the validation-attempt counters record and reports count."
)]
pub enum Rejection {
    /// No such code (or, for storefront callers, one they may not know about).
    NotFound,
    /// The coupon or the code is switched off (draft, paused, archived, inactive code).
    NotActive,
    /// Its window has not started.
    NotStarted,
    /// Its window has ended.
    Expired,
    /// The order is in another currency than the coupon's.
    CurrencyMismatch,
    /// The order's channel is not one the coupon is limited to.
    ChannelNotEligible,
    /// The order subtotal is below the coupon's minimum.
    MinSubtotalNotMet,
    /// The order has fewer items than the coupon's minimum.
    MinItemsNotMet,
    /// None of the order's lines is one the coupon discounts (a line target matching no
    /// line, a buy X get Y whose terms the order does not meet).
    NoEligibleItems,
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
    /// This customer has had as much discount from the coupon as allowed.
    CustomerDiscountLimitReached,
    /// The coupon is already used on this order (reserved or redeemed).
    AlreadyAppliedToOrder,
    /// The coupon may not share the order with another coupon on it (or chosen for it).
    NotCombinable {
        /// The code of the coupon it may not share the order with.
        with: String,
    },
    /// Every use the coupon's campaign allows is taken.
    CampaignUsageLimitReached,
    /// The coupon's campaign has no discount budget left.
    CampaignBudgetExhausted,
    /// One of the coupon's rules rejected the order.
    RuleRejected {
        /// The rule's name.
        rule: String,
        /// The rule's own code.
        code: String,
        /// The rule's message.
        message: String,
    },
    /// One of the coupon's rules could not run; the details are in the server log.
    RuleFailed {
        /// The rule's name.
        rule: String,
    },
    /// The order already has as much discount as its subtotal, from other coupons.
    OrderFullyDiscounted,
}

impl RejectionKind {
    /// Every reason, in the order of checks.
    pub const ALL: &'static [RejectionKind] = <Self as strum::VariantArray>::VARIANTS;

    /// The stable code, as the API shows it.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::NotActive => "NOT_ACTIVE",
            Self::NotStarted => "NOT_STARTED",
            Self::Expired => "EXPIRED",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::ChannelNotEligible => "CHANNEL_NOT_ELIGIBLE",
            Self::MinSubtotalNotMet => "MIN_SUBTOTAL_NOT_MET",
            Self::MinItemsNotMet => "MIN_ITEMS_NOT_MET",
            Self::NoEligibleItems => "NO_ELIGIBLE_ITEMS",
            Self::ZeroDiscount => "ZERO_DISCOUNT",
            Self::UsageLimitReached => "USAGE_LIMIT_REACHED",
            Self::CodeUsageLimitReached => "CODE_USAGE_LIMIT_REACHED",
            Self::CustomerRequired => "CUSTOMER_REQUIRED",
            Self::CustomerLimitReached => "CUSTOMER_LIMIT_REACHED",
            Self::CustomerDiscountLimitReached => "CUSTOMER_DISCOUNT_LIMIT_REACHED",
            Self::AlreadyAppliedToOrder => "ALREADY_APPLIED_TO_ORDER",
            Self::NotCombinable => "NOT_COMBINABLE",
            Self::CampaignUsageLimitReached => "CAMPAIGN_USAGE_LIMIT_REACHED",
            Self::CampaignBudgetExhausted => "CAMPAIGN_BUDGET_EXHAUSTED",
            Self::RuleRejected => "RULE_REJECTED",
            Self::RuleFailed => "RULE_FAILED",
            Self::OrderFullyDiscounted => "ORDER_FULLY_DISCOUNTED",
        }
    }

    /// A sentence for people (the rule's own message, for a rule's rejection).
    pub const fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no such coupon code",
            Self::NotActive => "this coupon is not active",
            Self::NotStarted => "this coupon is not valid yet",
            Self::Expired => "this coupon has expired",
            Self::CurrencyMismatch => "this coupon does not apply to orders in this currency",
            Self::ChannelNotEligible => "this coupon does not apply in this sales channel",
            Self::MinSubtotalNotMet => "the order subtotal is below this coupon's minimum",
            Self::MinItemsNotMet => "the order has fewer items than this coupon's minimum",
            Self::NoEligibleItems => "none of the order's items qualifies for this coupon",
            Self::ZeroDiscount => "this coupon gives no discount on this order",
            Self::UsageLimitReached => "this coupon has been used as often as allowed",
            Self::CodeUsageLimitReached => "this code has been used as often as allowed",
            Self::CustomerRequired => "this coupon needs a customer id or e-mail on the order",
            Self::CustomerLimitReached => "this customer has used this coupon as often as allowed",
            Self::CustomerDiscountLimitReached => {
                "this customer has had as much discount from this coupon as allowed"
            }
            Self::AlreadyAppliedToOrder => "this coupon is already used on this order",
            Self::NotCombinable => "this coupon cannot be combined with another on the order",
            Self::CampaignUsageLimitReached => "this promotion has been used as often as allowed",
            Self::CampaignBudgetExhausted => "this promotion has no budget left",
            Self::RuleRejected => "one of this coupon's rules rejected the order",
            Self::RuleFailed => "one of this coupon's rules could not be evaluated",
            Self::OrderFullyDiscounted => "this order already has as much discount as it can take",
        }
    }
}

impl Rejection {
    /// Which reason this is.
    pub fn kind(&self) -> RejectionKind {
        self.into()
    }

    /// The stable code, as the API shows it.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Self::RuleRejected { rule, message, .. } => format!("{message} (rule {rule})"),
            Self::RuleFailed { rule } => format!("rule {rule} could not be evaluated"),
            Self::NotCombinable { with } => {
                format!("this coupon cannot be combined with {with}")
            }
            other => other.kind().message().to_owned(),
        }
    }
}

/// How much of each limit is taken, counted in the deciding transaction. Live
/// reservations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Uses of the coupon over all codes.
    pub coupon: i64,
    /// Uses of this code.
    pub code: i64,
    /// Uses by this customer (only counted when the coupon has a per-customer limit).
    pub customer: i64,
    /// Uses of the coupon on this order id: at most one is allowed.
    pub order: i64,
    /// Discount this customer has from the coupon, less refunds, in minor units of
    /// its currency (only counted when the coupon caps it).
    pub customer_discount: i64,
}

/// The code being used, as far as eligibility is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeTerms {
    /// Whether the code is switched on.
    pub active: bool,
    /// The code's own cap.
    pub usage_limit: Option<i64>,
}

/// [`evaluate`] for a coupon that may belong to a campaign: the campaign's window closes
/// the coupon as its own would, checked right after the coupon's lifecycle and window.
/// The campaign's caps are applied to the final discount ([`CampaignLimits::limit`]).
/// With a `shape` (a rule's), the discount is the shaped one ([`evaluate_shaped`]).
pub fn evaluate_in_campaign(
    coupon: &Coupon,
    campaign: Option<&CampaignLimits>,
    code: CodeTerms,
    order: &Order,
    usage: Usage,
    shape: Option<&Shape>,
    now: DateTime<Utc>,
) -> Result<Money, Vec<Rejection>> {
    let decided = evaluate_shaped(coupon, shape, code, order, usage, now);
    if let Err(reasons) = &decided
        && matches!(
            reasons.as_slice(),
            [Rejection::NotActive | Rejection::NotStarted | Rejection::Expired]
        )
    {
        return decided;
    }
    if let Some(Err(reason)) = campaign.map(|c| c.window(now)) {
        return Err(vec![reason]);
    }
    decided
}

/// Decides whether `coupon` (through a code with `code` terms) applies to `order` at
/// `now`, and the discount. On refusal, every applicable reason in check order; the
/// lifecycle and window checks stop early, since nothing else matters then.
pub fn evaluate(
    coupon: &Coupon,
    code: CodeTerms,
    order: &Order,
    usage: Usage,
    now: DateTime<Utc>,
) -> Result<Money, Vec<Rejection>> {
    evaluate_shaped(coupon, None, code, order, usage, now)
}

/// [`evaluate`] with the coupon's discount shaped by a rule: the shape's target and
/// percentage instead of the coupon's, everything else (terms, limits, caps) the same.
pub fn evaluate_shaped(
    coupon: &Coupon,
    shape: Option<&Shape>,
    code: CodeTerms,
    order: &Order,
    usage: Usage,
    now: DateTime<Utc>,
) -> Result<Money, Vec<Rejection>> {
    if coupon.lifecycle != LifecycleStatus::Active || !code.active {
        return Err(vec![Rejection::NotActive]);
    }
    let spec = &coupon.spec;
    if spec.window.not_started(now) {
        return Err(vec![Rejection::NotStarted]);
    }
    if spec.window.ended(now) {
        return Err(vec![Rejection::Expired]);
    }
    let mut reasons = Vec::new();
    // The terms of the order's currency; none: the coupon is not offered in it.
    let terms = spec.prices.in_currency(order.currency);
    if terms.is_none() {
        reasons.push(Rejection::CurrencyMismatch);
    }
    let channels = spec.channels.as_slice();
    if !channels.is_empty() && !order.channel.as_ref().is_some_and(|c| channels.contains(c)) {
        reasons.push(Rejection::ChannelNotEligible);
    }
    if terms
        .and_then(|t| t.min_subtotal)
        .is_some_and(|min| order.subtotal.minor < min.minor)
    {
        reasons.push(Rejection::MinSubtotalNotMet);
    }
    if spec
        .min_items
        .get()
        .is_some_and(|min| order.item_count() < u64::from(min))
    {
        reasons.push(Rejection::MinItemsNotMet);
    }
    let reach = shape.map_or(&spec.target, |s| &s.target).reach(order);
    if reach.misses() {
        reasons.push(Rejection::NoEligibleItems);
    }
    let discount = terms.map(|t| {
        let discount = shape.map_or(t.discount, |s| s.discount(&t.discount));
        crate::Left::of(order)
            .take(&discount, &reach, i64::MAX, order)
            .amount
    });
    if discount.is_some_and(|d| d.minor == 0)
        && !reasons.contains(&Rejection::CurrencyMismatch)
        && !reasons.contains(&Rejection::NoEligibleItems)
    {
        reasons.push(Rejection::ZeroDiscount);
    }
    if spec
        .max_redemptions
        .get()
        .is_some_and(|cap| usage.coupon >= i64::from(cap))
    {
        reasons.push(Rejection::UsageLimitReached);
    }
    if code.usage_limit.is_some_and(|cap| usage.code >= cap) {
        reasons.push(Rejection::CodeUsageLimitReached);
    }
    if let Some(limit) = spec.per_customer_limit.get() {
        if order.customer.identity().is_none() {
            reasons.push(Rejection::CustomerRequired);
        } else if usage.customer >= i64::from(limit) {
            reasons.push(Rejection::CustomerLimitReached);
        }
    }
    let mut customer_room = i64::MAX;
    if let Some(cap) = terms.and_then(|t| t.max_discount_per_customer) {
        if order.customer.identity().is_none() {
            if !reasons.contains(&Rejection::CustomerRequired) {
                reasons.push(Rejection::CustomerRequired);
            }
        } else if usage.customer_discount >= cap.minor {
            reasons.push(Rejection::CustomerDiscountLimitReached);
        } else {
            customer_room = cap.minor - usage.customer_discount;
        }
    }
    if usage.order > 0 {
        reasons.push(Rejection::AlreadyAppliedToOrder);
    }
    match discount {
        Some(d) if reasons.is_empty() => Ok(Money {
            minor: d.minor.min(customer_room),
            currency: d.currency,
        }),
        Some(_) => Err(reasons),
        None => {
            if !reasons.contains(&Rejection::CurrencyMismatch) {
                reasons.insert(0, Rejection::CurrencyMismatch);
            }
            Err(reasons)
        }
    }
}
