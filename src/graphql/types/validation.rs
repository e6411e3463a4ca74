//! `CouponValidation`: the answer to `validateCoupon`, and why a coupon does not apply.

use async_graphql::{ComplexObject, Context, Enum, SimpleObject};
use coupons_domain as domain;

use super::{LineDiscount, Money};
use crate::graphql::error::UserError;

// Mirrors the domain's `RejectionKind`: a reason is added there first.
/// Why a coupon does not apply to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::RejectionKind")]
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
    /// The order has fewer items than the coupon's minimum (`minItems`).
    MinItemsNotMet,
    /// None of the order's lines qualifies (a LINES target matching no line, a
    /// BUY_X_GET_Y whose terms the order does not meet).
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
    /// This customer has had as much discount from the coupon as allowed
    /// (`maxDiscountPerCustomer`).
    CustomerDiscountLimitReached,
    /// The coupon is already used on this order (reserved or redeemed).
    AlreadyAppliedToOrder,
    /// The coupon may not share the order with another coupon (see `conflictingCode`).
    NotCombinable,
    /// Every use the coupon's campaign allows is taken.
    CampaignUsageLimitReached,
    /// The coupon's campaign has spent its discount budget.
    CampaignBudgetExhausted,
    /// One of the coupon's rules rejected the order; see `rule` and `ruleCode`.
    RuleRejected,
    /// One of the coupon's rules could not be evaluated; the coupon does not apply.
    RuleFailed,
    /// The order already has as much discount as its subtotal, from other coupons.
    OrderFullyDiscounted,
}

/// One reason a coupon does not apply.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct CouponRejection {
    /// Stable, machine-readable reason.
    pub code: RejectionCode,
    /// The rejection, for its message in the request's language.
    #[graphql(skip)]
    pub rejection: domain::Rejection,
    /// For RULE_REJECTED and RULE_FAILED: the rule.
    pub rule: Option<String>,
    /// For RULE_REJECTED: the rule's own code (e.g. `EMAIL_DOMAIN_NOT_ALLOWED`).
    pub rule_code: Option<String>,
    /// For NOT_COMBINABLE: the code of the coupon it may not share the order with.
    pub conflicting_code: Option<String>,
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
        let conflicting_code = match &r {
            domain::Rejection::NotCombinable { with } => Some(with.clone()),
            _ => None,
        };
        Self {
            code: r.kind().into(),
            rule,
            rule_code,
            conflicting_code,
            rejection: r,
        }
    }
}

#[ComplexObject]
impl CouponRejection {
    /// Explanation for a person, in the language the request's `Accept-Language` asks
    /// for (English, German, French or Spanish; English otherwise). `code` is the same in
    /// every language.
    async fn message(&self, ctx: &Context<'_>) -> String {
        crate::messages::rejection(crate::graphql::language(ctx), &self.rejection)
    }
}

/// The answer to `validateCoupon`.
#[derive(SimpleObject)]
pub struct CouponValidation {
    /// Whether the code applies to the order now.
    pub valid: bool,
    /// The discount it would give; null when not valid.
    pub discount: Option<Money>,
    /// For a line discount, its share on each line (adding up to `discount`); empty
    /// otherwise.
    pub lines: Vec<LineDiscount>,
    /// Why it does not apply; empty when valid.
    pub reasons: Vec<CouponRejection>,
    /// Problems with the input itself (e.g. a malformed order); empty otherwise.
    pub user_errors: Vec<UserError>,
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType as _;

    use super::*;

    #[test]
    fn every_code_is_the_domain_code() {
        for &kind in domain::RejectionKind::ALL {
            let code = RejectionCode::from(kind);
            let name = RejectionCode::items()
                .iter()
                .find(|i| i.value == code)
                .unwrap()
                .name;
            assert_eq!(name, kind.code());
        }
        assert_eq!(
            RejectionCode::items().len(),
            domain::RejectionKind::ALL.len()
        );
    }
}
