//! `Discount`: what a coupon takes off, and its kind.

use async_graphql::{Enum, SimpleObject};
use coupons_domain as domain;

use super::Money;
use crate::graphql::scalars::Decimal;

/// The kind of discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountType {
    /// A percentage of the eligible subtotal, optionally capped by `maxDiscount`.
    Percentage,
    /// A fixed amount in one currency.
    FixedAmount,
}

/// What a coupon takes off an order.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    /// Percentage or fixed amount.
    #[graphql(name = "type")]
    #[serde(rename = "type")]
    pub kind: DiscountType,
    /// The percentage (PERCENTAGE only), e.g. "12.5".
    pub percentage: Option<Decimal>,
    /// The amount off in the coupon's main currency (FIXED_AMOUNT only).
    pub amount: Option<Money>,
    /// The amount off in each currency the coupon is offered in, the main one first
    /// (FIXED_AMOUNT only; empty otherwise).
    pub amounts: Vec<Money>,
    /// The most a percentage discount takes off, in the main currency (PERCENTAGE
    /// only; null for no cap).
    pub max_discount: Option<Money>,
    /// The cap in each currency, the main one first (empty for no cap).
    pub max_discounts: Vec<Money>,
}

impl Discount {
    /// The discount of a coupon's terms, in every currency it is offered in.
    pub fn of(prices: &domain::Prices) -> Self {
        let mut out = Self::from(prices.main().discount);
        for terms in prices.others() {
            match terms.discount {
                domain::Discount::FixedAmount(m) => out.amounts.push(m.into()),
                domain::Discount::Percentage {
                    max_discount: Some(m),
                    ..
                } => out.max_discounts.push(m.into()),
                domain::Discount::Percentage { .. } => {}
            }
        }
        out
    }
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
                amounts: Vec::new(),
                max_discount: max_discount.map(Into::into),
                max_discounts: max_discount.into_iter().map(Into::into).collect(),
            },
            domain::Discount::FixedAmount(m) => Self {
                kind: DiscountType::FixedAmount,
                percentage: None,
                amount: Some(m.into()),
                amounts: vec![m.into()],
                max_discount: None,
                max_discounts: Vec::new(),
            },
        }
    }
}
