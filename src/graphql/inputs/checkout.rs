//! Inputs and payloads of validation and checkout, and the redemption list's filter.

use async_graphql::{ID, InputObject, SimpleObject};

use super::OrderInput;
use crate::graphql::error::UserError;
use crate::graphql::scalars::Decimal;
use crate::graphql::types::{Redemption, RedemptionStatus};

/// A code and an order to check it against.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateCouponInput {
    /// The code as the customer typed it (case and surrounding spaces are ignored).
    pub code: String,
    /// The order.
    pub order: OrderInput,
}

/// Hold one use of a code for an order until a deadline.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveCouponInput {
    /// The code as the customer typed it.
    pub code: String,
    /// The order.
    pub order: OrderInput,
    /// Minutes to hold the use (1 to 1440; default from the server's configuration).
    pub hold_minutes: Option<i32>,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Redeem a code for an order, or a reservation. Give `reservationId`, or `code` and
/// `order`.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemCouponInput {
    /// The code as the customer typed it (with `order`).
    pub code: Option<String>,
    /// The order (with `code`).
    pub order: Option<OrderInput>,
    /// A reservation to redeem, on the terms it was made on.
    #[schema(value_type = Option<String>)]
    pub reservation_id: Option<ID>,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Give a reservation's use back.
#[derive(Debug, Clone, InputObject)]
pub struct ReleaseReservationInput {
    /// The reservation.
    pub reservation_id: ID,
}

/// Record a refund of a redemption's discount.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReverseRedemptionInput {
    /// The redemption.
    #[serde(skip)]
    pub redemption_id: ID,
    /// The part of the discount refunded, in the redemption's currency; omit (with
    /// `line`) for all that is left.
    pub refunded_discount: Option<Decimal>,
    /// Refund one line's share of a line discount instead: the line's position in the
    /// order, as the redemption's `lines` give it. Not with `refundedDiscount`.
    pub line: Option<i32>,
    /// A unique key per logical request (1 to 255 characters).
    #[serde(skip)]
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
    pub user_errors: Vec<UserError>,
}

/// Result of `redeemCoupon`.
#[derive(SimpleObject)]
pub struct RedeemCouponPayload {
    /// The redemption; null when there are user errors.
    pub redemption: Option<Redemption>,
    /// Why nothing was redeemed; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `releaseReservation`.
#[derive(SimpleObject)]
pub struct ReleaseReservationPayload {
    /// The reservation as it stands; null when there are user errors.
    pub reservation: Option<Redemption>,
    /// What went wrong; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `reverseRedemption`.
#[derive(SimpleObject)]
pub struct ReverseRedemptionPayload {
    /// The redemption after the reversal; null when there are user errors.
    pub redemption: Option<Redemption>,
    /// What went wrong; empty on success.
    pub user_errors: Vec<UserError>,
}
