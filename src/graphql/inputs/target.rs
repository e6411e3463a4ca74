//! `TargetInput`: what part of an order a coupon discounts.

use async_graphql::{InputObject, OneofObject};
use coupons_domain::{BuyXGetY, LineSelector, Target};

/// Lines of an order: those with one of the SKUs or in one of the categories; every
/// line when both are left out.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineSelectionInput {
    /// SKUs, exact.
    #[graphql(default)]
    #[serde(default)]
    pub skus: Vec<String>,
    /// Categories, exact.
    #[graphql(default)]
    #[serde(default)]
    pub categories: Vec<String>,
}

impl From<LineSelectionInput> for LineSelector {
    fn from(s: LineSelectionInput) -> Self {
        Self {
            skus: s.skus,
            categories: s.categories,
        }
    }
}

/// Buy `buyQuantity` units of the `buy` lines, get `getQuantity` units of the `get`
/// lines (the cheapest first) at the coupon's percentage off (100: free).
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuyXGetYInput {
    /// The lines whose units count as bought.
    pub buy: LineSelectionInput,
    /// Units bought per application (1 to 1000).
    pub buy_quantity: i32,
    /// The lines whose units are discounted.
    pub get: LineSelectionInput,
    /// Units discounted per application (1 to 1000).
    pub get_quantity: i32,
    /// The most applications on one order (at least 1); left out: no limit.
    pub max_applications: Option<i32>,
}

/// What part of an order a coupon discounts: exactly one of these.
#[derive(Debug, Clone, OneofObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum TargetInput {
    /// The order subtotal (the default): `{order: true}`.
    Order(bool),
    /// The lines picked by SKU or category; the discount is shared between them.
    Lines(LineSelectionInput),
    /// The shipping price: `{shipping: true}`; 100 percent off is free shipping.
    Shipping(bool),
    /// Buy X get Y; the coupon's discount must be a percentage.
    BuyXGetY(BuyXGetYInput),
}

/// A count as sent, out-of-range values kept out of range (0) for validation to report.
fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

impl From<TargetInput> for Target {
    fn from(t: TargetInput) -> Self {
        match t {
            TargetInput::Order(_) => Self::Order,
            TargetInput::Shipping(_) => Self::Shipping,
            TargetInput::Lines(s) => Self::Lines(s.into()),
            TargetInput::BuyXGetY(b) => Self::BuyXGetY(Box::new(BuyXGetY {
                buy: b.buy.into(),
                buy_quantity: count(b.buy_quantity),
                get: b.get.into(),
                get_quantity: count(b.get_quantity),
                max_applications: b.max_applications.map(count),
            })),
        }
    }
}
