//! Checkout over REST: `POST /api/coupon/validate`, reservations and redemptions, each
//! change with an `Idempotency-Key` header.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use coupons_domain::{CheckoutOutcome, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Authed, Body, Lang, Problem, RestState, changed, idempotency_key, keyed};
use crate::auth::Role;
use crate::graphql::error::{UserErrorCode, outcome_errors};
use crate::graphql::guard::{CHECKOUT, VALIDATE};
use crate::graphql::inputs::{
    RedeemCouponInput, ReserveCouponInput, ReverseRedemptionInput, ValidateCouponInput,
};
use crate::graphql::scalars::DateTime;
use crate::graphql::types::{LineDiscount, Money, RedemptionStatus, money};
use crate::ids::{self, Kind};
use crate::messages::{self, Language};
use crate::service::checkout::{self, RedeemTarget, RefundOf, visible_rejections};
use crate::storage::Idempotent;

/// One reason a code does not apply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// Stable, machine-readable reason (`RejectionCode` in the GraphQL schema).
    code: &'static str,
    /// The reason in the request's language (`Accept-Language`).
    message: String,
    /// For RULE_REJECTED and RULE_FAILED: the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    /// For RULE_REJECTED: the rule's own code.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_code: Option<String>,
    /// For NOT_COMBINABLE: the code it may not share the order with.
    #[serde(skip_serializing_if = "Option::is_none")]
    conflicting_code: Option<String>,
}

impl Reason {
    /// The reason `r` for people reading `language`.
    pub(super) fn of(r: &Rejection, language: Language) -> Self {
        let (rule, rule_code, conflicting_code) = match r {
            Rejection::RuleRejected { rule, code, .. } => {
                (Some(rule.clone()), Some(code.clone()), None)
            }
            Rejection::RuleFailed { rule } => (Some(rule.clone()), None, None),
            Rejection::NotCombinable { with } => (None, None, Some(with.clone())),
            _ => (None, None, None),
        };
        Self {
            code: r.code(),
            message: messages::rejection(language, r),
            rule,
            rule_code,
            conflicting_code,
        }
    }
}

/// Whether a code applies to an order, and the discount.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// Whether the code applies to the order now.
    valid: bool,
    /// The discount it would give; null when not valid.
    discount: Option<Money>,
    /// For a line discount, its share on each line; empty otherwise.
    lines: Vec<LineDiscount>,
    /// Why it does not apply; empty when valid.
    reasons: Vec<Reason>,
}

/// Validate a code against an order
///
/// Whether a code applies to an order, and the discount it gives. Changes nothing. A
/// `public` key sees an unknown code and one not live yet alike (`NOT_FOUND`); failed
/// checks count towards the caller's lockout (`429`).
#[utoipa::path(
    operation_id = "validateCoupon",
    post,
    path = "/api/coupon/validate",
    tag = "checkout",
    request_body = ValidateCouponInput,
    responses(
        (status = 200, description = "The answer, valid or not", body = Validation),
        (status = 422, description = "A malformed order", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks: wait `retryAfter` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn validate(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Body(input): Body<ValidateCouponInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(VALIDATE)?;
    let result = checkout::validate(&state.services, &caller, &input.code, input.order.into())
        .await
        .map_err(|e| Problem::from_service(e, "code"))?;
    let answer = match result {
        Ok(granted) => Validation {
            valid: true,
            discount: Some(granted.amount.into()),
            lines: LineDiscount::list(&granted.lines, granted.amount.currency),
            reasons: Vec::new(),
        },
        Err(reasons) => Validation {
            valid: false,
            discount: None,
            lines: Vec::new(),
            reasons: visible_rejections(&reasons, caller.role)
                .iter()
                .map(|r| Reason::of(r, language))
                .collect(),
        },
    };
    Ok(axum::Json(answer).into_response())
}

/// A reservation or redemption of a code for an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionBody {
    /// Opaque ID; also the reservation ID to redeem or release.
    id: String,
    /// The coupon's ID.
    coupon_id: String,
    /// Where it stands.
    status: RedemptionStatus,
    /// The code used.
    code: String,
    /// The storefront's order id.
    order_id: String,
    /// The order's sales channel.
    channel: Option<String>,
    /// The order subtotal.
    subtotal: Option<Money>,
    /// The discount granted.
    discount: Option<Money>,
    /// For a line discount, its share on each line.
    lines: Vec<LineDiscount>,
    /// The part of the discount refunded.
    refunded_discount: Option<Money>,
    /// A reservation's deadline.
    reserved_until: Option<DateTime>,
    /// When it was made.
    created_at: DateTime,
    /// When it was redeemed.
    redeemed_at: Option<DateTime>,
    /// When it was released, expired or fully reversed.
    closed_at: Option<DateTime>,
}

impl RedemptionBody {
    /// The body, with GraphQL's conversions.
    pub(super) fn of(r: coupons_domain::Redemption) -> Self {
        let amount = |minor| money(&r.currency, minor);
        let lines = match coupons_domain::Currency::parse(&r.currency) {
            Ok(currency) => LineDiscount::list(&r.lines, currency),
            Err(_) => Vec::new(),
        };
        Self {
            id: ids::encode(Kind::Redemption, r.id),
            coupon_id: ids::encode(Kind::Coupon, r.coupon_id),
            status: r.status.into(),
            subtotal: amount(r.subtotal_minor),
            discount: amount(r.discount_minor),
            refunded_discount: amount(r.refunded_minor),
            lines,
            reserved_until: r.reserved_until.map(DateTime),
            created_at: DateTime(r.created_at),
            redeemed_at: r.redeemed_at.map(DateTime),
            closed_at: r.closed_at.map(DateTime),
            code: r.code,
            order_id: r.order_id,
            channel: r.channel,
        }
    }
}

/// The answer to a checkout change: the reservation or redemption (`status` when
/// fresh, marked `Idempotent-Replayed: true` when it repeats an earlier answer), or the
/// problem with its reasons in the request's language.
fn outcome(
    result: Result<Idempotent<CheckoutOutcome>, crate::service::ServiceError>,
    (role, language): (Role, Language),
    (status, id_field, not_found): (StatusCode, &str, UserErrorCode),
) -> Result<Response, Problem> {
    let (outcome, replayed) = keyed(result, id_field)?;
    match outcome {
        CheckoutOutcome::Applied(r) => Ok(changed(status, RedemptionBody::of(*r), replayed)),
        other => Err(Problem::from_user_errors(outcome_errors(
            &other, role, language, id_field, not_found,
        ))),
    }
}

/// Reserve a code for an order
///
/// Holds one use of a code for an order until a deadline. Live reservations count
/// against every limit; an expired one gives its use back by itself.
#[utoipa::path(
    operation_id = "reserveCoupon",
    post,
    path = "/api/reservations",
    tag = "checkout",
    request_body = ReserveCouponInput,
    params(("Idempotency-Key" = String, Header, description = "Unique per logical request; a retry with the same key gets the first answer")),
    responses(
        (status = 201, description = "Reserved", body = RedemptionBody),
        (status = 409, description = "The key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code does not apply (each reason listed), or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn reserve(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    headers: HeaderMap,
    Body(input): Body<ReserveCouponInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let result = checkout::reserve(
        &state.services,
        &caller,
        &input.code,
        input.order.into(),
        input.hold_minutes.map(i64::from),
        &key,
    )
    .await;
    let not_found = UserErrorCode::ReservationNotFound;
    outcome(
        result,
        (caller.role, language),
        (StatusCode::CREATED, "reservationId", not_found),
    )
}

/// Redeem a code or a reservation
///
/// Redeems a code for an order, or a reservation made earlier (give `reservationId`,
/// or `code` and `order`). Limits are checked and the use recorded in one transaction.
#[utoipa::path(
    operation_id = "redeemCoupon",
    post,
    path = "/api/redemptions",
    tag = "checkout",
    request_body = RedeemCouponInput,
    params(("Idempotency-Key" = String, Header, description = "Unique per logical request; a retry with the same key gets the first answer")),
    responses(
        (status = 201, description = "Redeemed", body = RedemptionBody),
        (status = 404, description = "No such reservation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key was used for another request, or the reservation is not live", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code does not apply (each reason listed), or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed checks", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    ),
)]
pub async fn redeem(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    headers: HeaderMap,
    Body(input): Body<RedeemCouponInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let not_found = UserErrorCode::ReservationNotFound;
    let target = match (input.reservation_id, input.code, input.order) {
        (Some(id), None, None) => match ids::decode(Kind::Redemption, &id) {
            Some(n) => RedeemTarget::Reservation(n),
            None => {
                return Err(Problem::field(
                    StatusCode::NOT_FOUND,
                    &["reservationId"],
                    not_found.name(),
                    "not found",
                ));
            }
        },
        (None, Some(code), Some(order)) => RedeemTarget::Code {
            code,
            order: Box::new(order.into()),
        },
        _ => {
            return Err(Problem::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                &[],
                UserErrorCode::TooMany.name(),
                "give either reservationId, or code and order",
            ));
        }
    };
    let result = checkout::redeem(&state.services, &caller, target, &key).await;
    outcome(
        result,
        (caller.role, language),
        (StatusCode::CREATED, "reservationId", not_found),
    )
}

/// Release a reservation
///
/// Gives a reservation's use back at once. Releasing twice is harmless.
#[utoipa::path(
    operation_id = "releaseReservation",
    post,
    path = "/api/reservations/{id}/release",
    tag = "checkout",
    params(("id" = String, Path, description = "The reservation's ID")),
    responses(
        (status = 200, description = "Released (or released already)", body = RedemptionBody),
        (status = 404, description = "No such reservation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Redeemed already", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn release(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let not_found = UserErrorCode::ReservationNotFound;
    let result = match ids::decode(Kind::Redemption, &id) {
        Some(id) => checkout::release(&state.services, &caller, id)
            .await
            .map(Idempotent::Fresh),
        None => Ok(Idempotent::Fresh(CheckoutOutcome::NotFound)),
    };
    outcome(
        result,
        (caller.role, language),
        (StatusCode::OK, "id", not_found),
    )
}

/// Reverse a redemption
///
/// Records a refund of all or part of a redemption's discount: an amount
/// (`refundedDiscount`), one line's share (`line`), or all that is left (neither). A
/// full reversal gives the use back under the coupon's RESTORE_USAGE policy.
#[utoipa::path(
    operation_id = "reverseRedemption",
    post,
    path = "/api/redemptions/{id}/reverse",
    tag = "checkout",
    request_body = ReverseRedemptionInput,
    params(
        ("id" = String, Path, description = "The redemption's ID"),
        ("Idempotency-Key" = String, Header, description = "Unique per logical request; a retry with the same key gets the first answer"),
    ),
    responses(
        (status = 200, description = "Reversed", body = RedemptionBody),
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not redeemed, or the key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The refund is larger than what is left, or invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reverse(
    State(state): State<RestState>,
    authed: Authed,
    Lang(language): Lang,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(input): Body<ReverseRedemptionInput>,
) -> Result<Response, Problem> {
    let caller = authed.allowed(CHECKOUT)?;
    let key = idempotency_key(&headers)?;
    let not_found = UserErrorCode::RedemptionNotFound;
    let refund = RefundOf::from_parts(input.refunded_discount.map(|d| d.0), input.line);
    let result = match ids::decode(Kind::Redemption, &id) {
        Some(id) => checkout::reverse(&state.services, &caller, id, refund, &key).await,
        None => Ok(Idempotent::Fresh(CheckoutOutcome::NotFound)),
    };
    outcome(
        result,
        (caller.role, language),
        (StatusCode::OK, "id", not_found),
    )
}
