//! `Discount`: what a coupon takes off, and its kind.

use async_graphql::{Enum, SimpleObject};
use coupons_domain as domain;

use super::Money;
use crate::graphql::scalars::Decimal;

/// The kind of discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum DiscountType {
    /// A percentage of the eligible subtotal, optionally capped by `maxDiscount`.
    Percentage,
    /// A fixed amount in one currency.
    FixedAmount,
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
