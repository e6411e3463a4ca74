//! Carts over REST: several codes on one order, validated, reserved or redeemed
//! together (all or none), and an order's reservations released or redemptions
//! reversed at once.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use coupons_domain::CartOutcome;
use serde::Serialize;
use utoipa::ToSchema;

use super::checkout::{Reason, RedemptionBody};
use super::{Authed, Body, Lang, Problem, RestState, changed, idempotency_key, keyed};
use crate::auth::Role;
use crate::graphql::api::cart::validation;
use crate::graphql::error::UserError;
use crate::graphql::guard::{CHECKOUT, VALIDATE};
use crate::graphql::inputs::{RedeemCartInput, ReserveCartInput, ValidateCartInput};
use crate::graphql::types::{CartCodeDiscount, CartCodeRejection, Money};
use crate::messages::{self, Language};
use crate::service::ServiceError;
use crate::service::cart;
use crate::service::checkout::visible_rejections;
use crate::storage::Idempotent;

/// A code of a cart that is left out, with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeftOut {
    /// The code as given (canonical case).
    code: String,
    /// Why, in the request's language.
    reasons: Vec<Reason>,
}

impl LeftOut {
    fn of(left: CartCodeRejection, language: Language) -> Self {
        Self {
            code: left.code,
            reasons: left
                .reasons
                .iter()
                .map(|r| Reason::of(&r.rejection, language))
                .collect(),
        }
    }
}

/// What an order with several codes gets.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartValidationBody {
    /// Whether every code given applies with the others.
    valid: bool,
    /// The total discount of the codes applied; null when none applies.
    discount: Option<Money>,
    /// The best set the order may have, in the order they apply, each with its
    /// discount (automatic discounts included).
    applied: Vec<CartCodeDiscount>,
    /// The codes left out, in the order given, with why.
    left_out: Vec<LeftOut>,
}

/// The reservations or redemptions of a cart call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartRedemptions {
    /// One per code, in the order given; for release and reverse, those released or
    /// reversed.
    redemptions: Vec<RedemptionBody>,
}

/// Validate several codes on one order
///
/// What an order with several codes gets: the best set of them that may share the
/// order, each code's discount, and why each code left out is. Changes nothing.
#[utoipa::path(
    operation_id = "validateCart",
    post,
    path = "/api/carts/validate",
    tag = "checkout",
    request_body = ValidateCartInput,
    responses(
        (status = 200, description = "The answer", body = CartValidationBody),
        (status = 422, description = "A malformed order or code list", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn validate(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Body(input): Body<ValidateCartInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(VALIDATE)?;
    let check = cart::validate_cart(&state.services, &caller, &input.codes, input.order.into())
        .await
        .map_err(|e| Problem::from_service(e, "codes"))?;
    let answer = validation(&check, caller.role);
    Ok(axum::Json(CartValidationBody {
        valid: answer.valid,
        discount: answer.discount,
        applied: answer.applied,
        left_out: answer
            .left_out
            .into_iter()
            .map(|l| LeftOut::of(l, language))
            .collect(),
    })
    .into_response())
}

/// The answer to a cart change: its rows, or a problem naming each code left out.
fn outcome(
    result: Result<Idempotent<CartOutcome>, ServiceError>,
    (role, language): (Role, Language),
    status: StatusCode,
) -> Result<Response, Problem> {
    let (outcome, replayed) = keyed(result, "codes")?;
    match outcome {
        CartOutcome::Applied(rows) => {
            let body = CartRedemptions {
                redemptions: rows.into_iter().map(RedemptionBody::of).collect(),
            };
            Ok(changed(status, body, replayed))
        }
        // Nothing was written: every reason of every code left out, as the field
        // problems of `codes`.
        CartOutcome::Rejected(left_out) => {
            let errors = left_out
                .iter()
                .flat_map(|(code, reasons)| {
                    visible_rejections(reasons, role).into_iter().map(move |r| {
                        let message =
                            format!("{}: {}", code.trim(), messages::rejection(language, &r));
                        UserError::new(&["input", "codes"], r.kind().into(), message)
                    })
                })
                .collect();
            Err(Problem::from_user_errors(errors))
        }
    }
}

/// Reserve a cart's codes
///
/// Holds one use of every code for the order until a deadline: all of them, or none
/// when they do not all apply together.
#[utoipa::path(
    operation_id = "reserveCart",
    post,
    path = "/api/carts/reservations",
    tag = "checkout",
    request_body = ReserveCartInput,
    params(("Idempotency-Key" = String, Header, description = "Unique per logical request")),
    responses(
        (status = 201, description = "Reserved, one per code", body = CartRedemptions),
        (status = 409, description = "The key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not every code applies (each reason listed), or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn reserve(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    headers: HeaderMap,
    Body(input): Body<ReserveCartInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let result = cart::reserve_cart(
        &state.services,
        &caller,
        &input.codes,
        input.order.into(),
        input.hold_minutes.map(i64::from),
        &key,
    )
    .await;
    outcome(result, (caller.role, language), StatusCode::CREATED)
}

/// Redeem a cart's codes
///
/// Redeems every code for the order: all of them, or none when they do not all apply
/// together.
#[utoipa::path(
    operation_id = "redeemCart",
    post,
    path = "/api/carts/redemptions",
    tag = "checkout",
    request_body = RedeemCartInput,
    params(("Idempotency-Key" = String, Header, description = "Unique per logical request")),
    responses(
        (status = 201, description = "Redeemed, one per code", body = CartRedemptions),
        (status = 409, description = "The key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not every code applies (each reason listed), or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn redeem(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    headers: HeaderMap,
    Body(input): Body<RedeemCartInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let result = cart::redeem_cart(
        &state.services,
        &caller,
        &input.codes,
        input.order.into(),
        &key,
    )
    .await;
    outcome(result, (caller.role, language), StatusCode::CREATED)
}

/// Release an order's reservations
///
/// Gives back every live reservation of an order at once (none when it holds none).
#[utoipa::path(
    operation_id = "releaseCart",
    post,
    path = "/api/carts/{orderId}/release",
    tag = "checkout",
    params(("orderId" = String, Path, description = "The storefront's order id")),
    responses((status = 200, description = "The reservations released", body = CartRedemptions)),
)]
pub async fn release(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Path(order_id): Path<String>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let result = cart::release_cart(&state.services, &caller, &order_id)
        .await
        .map(Idempotent::Fresh);
    outcome(result, (caller.role, language), StatusCode::OK)
}

/// Reverse an order's redemptions
///
/// Reverses in full every redemption of an order at once.
#[utoipa::path(
    operation_id = "reverseCart",
    post,
    path = "/api/carts/{orderId}/reverse",
    tag = "checkout",
    params(
        ("orderId" = String, Path, description = "The storefront's order id"),
        ("Idempotency-Key" = String, Header, description = "Unique per logical request"),
    ),
    responses(
        (status = 200, description = "The redemptions reversed", body = CartRedemptions),
        (status = 409, description = "The key was used for another request", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reverse(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let result = cart::reverse_cart(&state.services, &caller, &order_id, &key).await;
    outcome(result, (caller.role, language), StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::error::UserErrorCode;

    #[test]
    fn a_rejected_cart_names_each_reason_under_codes() {
        let rejected = CartOutcome::Rejected(vec![(
            "save10".into(),
            vec![coupons_domain::Rejection::Expired],
        )]);
        let Err(problem) = outcome(
            Ok(Idempotent::Fresh(rejected)),
            (Role::Storefront, Language::De),
            StatusCode::CREATED,
        ) else {
            panic!("a rejected cart is a problem");
        };
        assert_eq!(problem.status, 422);
        assert_eq!(problem.code, UserErrorCode::Expired.name());
        assert_eq!(problem.errors[0].field, ["codes"]);
        assert_eq!(
            problem.errors[0].message,
            "save10: dieser Gutschein ist abgelaufen"
        );
    }
}
