//! What a cart gets: the codes applied with their discounts, the codes left out.

use async_graphql::SimpleObject;

use super::{CouponRejection, LineDiscount, Money};
use crate::graphql::error::UserError;

/// A code of a cart and the discount it gives there.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartCodeDiscount {
    /// The code (canonical: trimmed, upper case); for an automatic discount, its code
    /// row (`AUTO#<coupon id>`, which no one can type).
    pub code: String,
    /// Whether it is an automatic discount, applied without being asked for.
    pub automatic: bool,
    /// What it takes off this order, after the codes applied before it.
    pub discount: Money,
    /// For a line discount, its share on each line (adding up to `discount`); empty
    /// otherwise.
    pub lines: Vec<LineDiscount>,
}

/// A code of a cart that is left out, with why.
#[derive(Debug, Clone, SimpleObject)]
pub struct CartCodeRejection {
    /// The code as given (canonical case when it can be a code).
    pub code: String,
    /// Why: its own rejection, `NOT_COMBINABLE` naming the coupon it may not share the
    /// order with, or `ORDER_FULLY_DISCOUNTED` when the codes before it left nothing.
    pub reasons: Vec<CouponRejection>,
}

/// The answer to `validateCart`.
#[derive(SimpleObject)]
pub struct CartValidation {
    /// Whether every code given applies with the others: `reserveCart` and `redeemCart`
    /// would take them all.
    pub valid: bool,
    /// The total discount of the codes applied; null when none applies.
    pub discount: Option<Money>,
    /// The best set the order may have: the codes applied, in the order they apply
    /// (higher priority first, then by code), each with its discount.
    pub applied: Vec<CartCodeDiscount>,
    /// The codes left out, in the order given, with why.
    pub left_out: Vec<CartCodeRejection>,
    /// Problems with the input itself (e.g. a malformed order); empty otherwise.
    pub user_errors: Vec<UserError>,
}
