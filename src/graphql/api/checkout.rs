//! Checkout: validate a code against an order, reserve, redeem, release, reverse; list
//! reservations and redemptions.

use async_graphql::{Context, Object};
use coupons_domain::CheckoutOutcome;

use super::optional_filter_id;
use crate::auth::Role;
use crate::graphql::error::{
    ApiError, UserError, UserErrorCode, key_reused, outcome_errors, user_errors,
};
use crate::graphql::guard::{CHECKOUT, READERS, RoleGuard, VALIDATE};
use crate::graphql::inputs::{
    RedeemCouponInput, RedeemCouponPayload, RedemptionFilter, ReleaseReservationInput,
    ReleaseReservationPayload, ReserveCouponInput, ReserveCouponPayload, ReverseRedemptionInput,
    ReverseRedemptionPayload, ValidateCouponInput,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::{CouponRejection, CouponValidation, LineDiscount, Redemption};
use crate::graphql::{caller, language, services};
use crate::ids::{self, Kind};
use crate::messages::Language;
use crate::service::ServiceError;
use crate::service::checkout::{self, RedeemTarget, visible_rejections};
use crate::storage::{self, Idempotent};

/// Checkout reads.
#[derive(Default)]
pub struct CheckoutQuery;

/// Checkout reads.
#[Object]
impl CheckoutQuery {
    /// Whether a code applies to an order, and the discount it gives. Changes nothing.
    #[graphql(guard = "RoleGuard::new(VALIDATE)")]
    async fn validate_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code and the order.")] input: ValidateCouponInput,
    ) -> Result<CouponValidation, ApiError> {
        let caller = caller(ctx)?;
        let result =
            checkout::validate(services(ctx)?, &caller, &input.code, input.order.into()).await;
        Ok(match result {
            Ok(Ok(granted)) => CouponValidation {
                valid: true,
                discount: Some(granted.amount.into()),
                lines: LineDiscount::list(&granted.lines, granted.amount.currency),
                reasons: Vec::new(),
                user_errors: Vec::new(),
            },
            Ok(Err(reasons)) => CouponValidation {
                valid: false,
                discount: None,
                lines: Vec::new(),
                reasons: visible_rejections(&reasons, caller.role)
                    .into_iter()
                    .map(CouponRejection::from)
                    .collect(),
                user_errors: Vec::new(),
            },
            Err(e) => CouponValidation {
                valid: false,
                discount: None,
                lines: Vec::new(),
                reasons: Vec::new(),
                user_errors: user_errors(e, "code")?,
            },
        })
    }

    /// Reservations and redemptions, newest first.
    #[graphql(
        guard = "RoleGuard::new(READERS)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn redemptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which redemptions to list.")] filter: Option<RedemptionFilter>,
    ) -> Result<Page<Redemption>, ApiError> {
        let svc = services(ctx)?;
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let filter = filter.unwrap_or_default();
        let coupon_id = optional_filter_id(Kind::Coupon, filter.coupon_id.as_ref(), "a coupon ID")?;
        let customer_key = checkout::customer_filter_key(
            svc,
            filter.customer_id.as_deref(),
            filter.customer_email.as_deref(),
        )?;
        let filter = storage::RedemptionFilter {
            coupon_id,
            customer_key,
            order_id: filter.order_id,
            status: filter.status.map(Into::into),
            ..Default::default()
        };
        let rows = checkout::list_redemptions(svc, &filter, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(rows, limit, after, |r| r.id, Redemption))
    }
}

/// Checkout changes: each holds, takes or gives back a use of a code.
#[derive(Default)]
pub struct CheckoutMutation;

/// Splits a checkout result into (redemption, userErrors), or a top-level error for
/// faults.
fn checkout_result(
    result: Result<Idempotent<CheckoutOutcome>, ServiceError>,
    (role, language): (Role, Language),
    id_field: &str,
    not_found: UserErrorCode,
) -> Result<(Option<Redemption>, Vec<UserError>), ApiError> {
    match result {
        Ok(Idempotent::Fresh(outcome) | Idempotent::Replayed(outcome)) => match outcome {
            CheckoutOutcome::Applied(r) => Ok((Some(Redemption(*r)), Vec::new())),
            other => Ok((
                None,
                outcome_errors(&other, role, language, id_field, not_found),
            )),
        },
        Ok(Idempotent::KeyReused) => Ok((None, vec![key_reused()])),
        Err(e) => Ok((None, user_errors(e, id_field)?)),
    }
}

/// The userError of an ID that names no reservation or redemption.
fn not_found(field: &str, code: UserErrorCode) -> Vec<UserError> {
    vec![UserError::new(&["input", field], code, "not found")]
}

/// Checkout changes: each holds, takes or gives back a use of a code.
#[Object]
impl CheckoutMutation {
    /// Holds one use of a code for an order until a deadline (default from the server's
    /// configuration). Live reservations count against every limit; an expired one gives
    /// its use back by itself.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reserve_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code, the order, and an idempotency key.")] input: ReserveCouponInput,
    ) -> Result<ReserveCouponPayload, ApiError> {
        let caller = caller(ctx)?;
        let result = checkout::reserve(
            services(ctx)?,
            &caller,
            &input.code,
            input.order.into(),
            input.hold_minutes.map(i64::from),
            &input.idempotency_key,
        )
        .await;
        let (reservation, user_errors) = checkout_result(
            result,
            (caller.role, language(ctx)),
            "reservationId",
            UserErrorCode::ReservationNotFound,
        )?;
        Ok(ReserveCouponPayload {
            reservation,
            user_errors,
        })
    }

    /// Redeems a code for an order, or a reservation made earlier. The limits are checked
    /// and the use recorded in one transaction; retries with the same idempotency key get
    /// the first response.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn redeem_coupon(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A reservation, or a code and an order; and an idempotency key.")]
        input: RedeemCouponInput,
    ) -> Result<RedeemCouponPayload, ApiError> {
        let refuse = |user_errors| {
            Ok(RedeemCouponPayload {
                redemption: None,
                user_errors,
            })
        };
        let target = match (input.reservation_id, input.code, input.order) {
            (Some(id), None, None) => match ids::decode(Kind::Redemption, &id) {
                Some(n) => RedeemTarget::Reservation(n),
                None => {
                    return refuse(not_found(
                        "reservationId",
                        UserErrorCode::ReservationNotFound,
                    ));
                }
            },
            (None, Some(code), Some(order)) => RedeemTarget::Code {
                code,
                order: Box::new(order.into()),
            },
            _ => {
                return refuse(vec![UserError::new(
                    &["input"],
                    UserErrorCode::TooMany,
                    "give either reservationId, or code and order",
                )]);
            }
        };
        let caller = caller(ctx)?;
        let result =
            checkout::redeem(services(ctx)?, &caller, target, &input.idempotency_key).await;
        let (redemption, user_errors) = checkout_result(
            result,
            (caller.role, language(ctx)),
            "reservationId",
            UserErrorCode::ReservationNotFound,
        )?;
        Ok(RedeemCouponPayload {
            redemption,
            user_errors,
        })
    }

    /// Gives a reservation's use back at once. Releasing twice is harmless.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn release_reservation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reservation.")] input: ReleaseReservationInput,
    ) -> Result<ReleaseReservationPayload, ApiError> {
        let Some(id) = ids::decode(Kind::Redemption, &input.reservation_id) else {
            return Ok(ReleaseReservationPayload {
                reservation: None,
                user_errors: not_found("reservationId", UserErrorCode::ReservationNotFound),
            });
        };
        let caller = caller(ctx)?;
        let result = checkout::release(services(ctx)?, &caller, id)
            .await
            .map(Idempotent::Fresh);
        let (reservation, user_errors) = checkout_result(
            result,
            (caller.role, language(ctx)),
            "reservationId",
            UserErrorCode::ReservationNotFound,
        )?;
        Ok(ReleaseReservationPayload {
            reservation,
            user_errors,
        })
    }

    /// Records a refund of all or part of a redemption's discount: an amount, one line's
    /// share of a line discount, or all that is left. A full reversal gives the use back
    /// when the coupon's reversal policy is RESTORE_USAGE.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reverse_redemption(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The redemption, the refunded part, and an idempotency key.")]
        input: ReverseRedemptionInput,
    ) -> Result<ReverseRedemptionPayload, ApiError> {
        let Some(id) = ids::decode(Kind::Redemption, &input.redemption_id) else {
            return Ok(ReverseRedemptionPayload {
                redemption: None,
                user_errors: not_found("redemptionId", UserErrorCode::RedemptionNotFound),
            });
        };
        let caller = caller(ctx)?;
        let result = checkout::reverse(
            services(ctx)?,
            &caller,
            id,
            checkout::RefundOf::from_parts(input.refunded_discount.map(|d| d.0), input.line),
            &input.idempotency_key,
        )
        .await;
        let (redemption, user_errors) = checkout_result(
            result,
            (caller.role, language(ctx)),
            "redemptionId",
            UserErrorCode::RedemptionNotFound,
        )?;
        Ok(ReverseRedemptionPayload {
            redemption,
            user_errors,
        })
    }
}
