//! Inputs and the payload of carts: several codes on one order.

use async_graphql::{InputObject, SimpleObject};

use super::OrderInput;
use crate::graphql::error::UserError;
use crate::graphql::types::{CartCodeRejection, Redemption};

/// Several codes and the order they are for.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateCartInput {
    /// The codes as the customer typed them, up to 10 (none: automatic discounts only).
    pub codes: Vec<String>,
    /// The order.
    pub order: OrderInput,
}

/// Hold one use of each of several codes for an order until a deadline: all or none.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveCartInput {
    /// The codes as the customer typed them, up to 10 (none: automatic discounts only).
    pub codes: Vec<String>,
    /// The order.
    pub order: OrderInput,
    /// Minutes to hold the uses (1 to 1440; default from the server's configuration).
    pub hold_minutes: Option<i32>,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Redeem several codes for an order: all or none.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemCartInput {
    /// The codes as the customer typed them, up to 10 (none: automatic discounts only).
    pub codes: Vec<String>,
    /// The order.
    pub order: OrderInput,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Give back every live reservation of an order.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseCartInput {
    /// The order's id, as given when its codes were reserved.
    pub order_id: String,
}

/// Reverse in full every redemption of an order.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReverseCartInput {
    /// The order's id, as given when its codes were redeemed.
    pub order_id: String,
    /// A unique key per logical request (1 to 255 characters). Retries with the same key
    /// and request get the first response; the same key with another request is refused.
    #[serde(skip)]
    pub idempotency_key: String,
}

/// Result of `reserveCart`, `redeemCart`, `releaseCart` and `reverseCart`.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// One reservation or redemption per code, in the order the codes were given; empty
    /// when not every code applies. For `releaseCart` and `reverseCart`: the
    /// reservations released or the redemptions reversed.
    pub redemptions: Vec<Redemption>,
    /// When not every code applies with the others: the codes left out, with why.
    /// Nothing was written then.
    pub left_out: Vec<CartCodeRejection>,
    /// What was wrong with the input; empty otherwise.
    pub user_errors: Vec<UserError>,
}
