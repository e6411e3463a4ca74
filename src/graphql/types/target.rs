//! `Target`: what part of an order a coupon discounts, and `LineDiscount`: one line's
//! share of a discount.

use async_graphql::{Enum, SimpleObject};
use coupons_domain as domain;

use super::Money;

/// The kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetKind {
    /// The order subtotal.
    Order,
    /// The lines `lines` picks.
    Lines,
    /// The shipping price (100 percent off: free shipping).
    Shipping,
    /// Buy X get Y (`buyXGetY`).
    BuyXGetY,
}

/// Lines of an order: those with one of the SKUs or in one of the categories; every
/// line when both lists are empty.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineSelection {
    /// SKUs, exact.
    pub skus: Vec<String>,
    /// Categories, exact.
    pub categories: Vec<String>,
}

impl From<&domain::LineSelector> for LineSelection {
    fn from(s: &domain::LineSelector) -> Self {
        Self {
            skus: s.skus.clone(),
            categories: s.categories.clone(),
        }
    }
}

/// Buy `buyQuantity` units of the `buy` lines, get `getQuantity` units of the `get`
/// lines (the cheapest first) at the coupon's percentage off; 100 is free.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuyXGetY {
    /// The lines whose units count as bought.
    pub buy: LineSelection,
    /// Units bought per application.
    pub buy_quantity: i32,
    /// The lines whose units are discounted.
    pub get: LineSelection,
    /// Units discounted per application.
    pub get_quantity: i32,
    /// The most applications on one order; null: as many as the order allows.
    pub max_applications: Option<i32>,
}

/// What part of an order a coupon discounts.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Which kind.
    pub kind: TargetKind,
    /// For LINES: the lines.
    pub lines: Option<LineSelection>,
    /// For BUY_X_GET_Y: its terms.
    pub buy_x_get_y: Option<BuyXGetY>,
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<&domain::Target> for Target {
    fn from(t: &domain::Target) -> Self {
        let plain = |kind| Self {
            kind,
            lines: None,
            buy_x_get_y: None,
        };
        match t {
            domain::Target::Order => plain(TargetKind::Order),
            domain::Target::Shipping => plain(TargetKind::Shipping),
            domain::Target::Lines(s) => Self {
                lines: Some(s.into()),
                ..plain(TargetKind::Lines)
            },
            domain::Target::BuyXGetY(b) => Self {
                buy_x_get_y: Some(BuyXGetY {
                    buy: (&b.buy).into(),
                    buy_quantity: count(b.buy_quantity),
                    get: (&b.get).into(),
                    get_quantity: count(b.get_quantity),
                    max_applications: b.max_applications.map(count),
                }),
                ..plain(TargetKind::BuyXGetY)
            },
        }
    }
}

/// One line's share of a line discount.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineDiscount {
    /// The line's position in the order's `items` (from 0).
    pub line: i32,
    /// The line's SKU.
    pub sku: String,
    /// Its share of the discount.
    pub discount: Money,
}

impl LineDiscount {
    /// The shares of a discount in `currency`.
    pub fn list(shares: &[domain::LineShare], currency: domain::Currency) -> Vec<Self> {
        shares
            .iter()
            .map(|s| Self {
                line: i32::try_from(s.line).unwrap_or(i32::MAX),
                sku: s.sku.clone(),
                discount: domain::Money {
                    minor: s.minor,
                    currency,
                }
                .into(),
            })
            .collect()
    }
}
