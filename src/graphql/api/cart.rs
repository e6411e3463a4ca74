//! Carts: several codes on one order, validated, reserved or redeemed together.

use async_graphql::{Context, Object};
use coupons_domain::{CartOutcome, Money as DomainMoney, Rejection};

use crate::auth::Role;
use crate::graphql::error::{ApiError, key_reused, user_errors};
use crate::graphql::guard::{CHECKOUT, RoleGuard, VALIDATE};
use crate::graphql::inputs::{
    CartPayload, RedeemCartInput, ReleaseCartInput, ReserveCartInput, ReverseCartInput,
    ValidateCartInput,
};
use crate::graphql::types::{
    CartCodeDiscount, CartCodeRejection, CartValidation, CouponRejection, LineDiscount, Redemption,
};
use crate::graphql::{caller, services};
use crate::service::ServiceError;
use crate::service::cart::{self, CartCheck};
use crate::service::checkout::visible_rejections;
use crate::storage::Idempotent;

/// A code as shown back: canonical case.
fn shown(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// A left-out code with the reasons `role` may see.
fn rejection(code: &str, reasons: &[Rejection], role: Role) -> CartCodeRejection {
    CartCodeRejection {
        code: shown(code),
        reasons: visible_rejections(reasons, role)
            .into_iter()
            .map(CouponRejection::from)
            .collect(),
    }
}

/// The answer to `validateCart` from the check of a cart.
pub(crate) fn validation(check: &CartCheck, role: Role) -> CartValidation {
    let (codes, decision) = (&check.names, &check.decision);
    let total = decision
        .applied
        .iter()
        .map(|(_, g)| g.amount)
        .reduce(|a, b| DomainMoney {
            minor: a.minor + b.minor,
            currency: a.currency,
        });
    CartValidation {
        valid: decision.left_out.is_empty(),
        discount: total.map(Into::into),
        applied: decision
            .applied
            .iter()
            .map(|(i, g)| CartCodeDiscount {
                code: shown(&codes[*i]),
                automatic: check.is_automatic(*i),
                discount: g.amount.into(),
                lines: LineDiscount::list(&g.lines, g.amount.currency),
            })
            .collect(),
        left_out: decision
            .left_out
            .iter()
            .map(|(i, reasons)| rejection(&codes[*i], reasons, role))
            .collect(),
        user_errors: Vec::new(),
    }
}

/// Cart reads.
#[derive(Default)]
pub struct CartQuery;

/// Cart reads.
#[Object]
impl CartQuery {
    /// What an order with several codes gets: the best set of them that may share the
    /// order (the largest total discount under each coupon's `combinesWith`, ties to
    /// the higher priority, then the code), each code's discount, and why each code
    /// left out is. Coupons the order already holds come first. Changes nothing.
    #[graphql(guard = "RoleGuard::new(VALIDATE)")]
    async fn validate_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The codes and the order.")] input: ValidateCartInput,
    ) -> Result<CartValidation, ApiError> {
        let caller = caller(ctx)?;
        let result =
            cart::validate_cart(services(ctx)?, &caller, &input.codes, input.order.into()).await;
        Ok(match result {
            Ok(check) => validation(&check, caller.role),
            Err(e) => CartValidation {
                valid: false,
                discount: None,
                applied: Vec::new(),
                left_out: Vec::new(),
                user_errors: user_errors(e, "codes")?,
            },
        })
    }
}

/// Cart changes.
#[derive(Default)]
pub struct CartMutation;

/// The payload of a cart call.
fn cart_payload(
    result: Result<Idempotent<CartOutcome>, ServiceError>,
    role: Role,
) -> Result<CartPayload, ApiError> {
    let empty = |left_out, user_errors| CartPayload {
        redemptions: Vec::new(),
        left_out,
        user_errors,
    };
    Ok(match result {
        Ok(Idempotent::Fresh(outcome) | Idempotent::Replayed(outcome)) => match outcome {
            CartOutcome::Applied(rows) => CartPayload {
                redemptions: rows.into_iter().map(Redemption).collect(),
                left_out: Vec::new(),
                user_errors: Vec::new(),
            },
            CartOutcome::Rejected(left_out) => empty(
                left_out
                    .iter()
                    .map(|(code, reasons)| rejection(code, reasons, role))
                    .collect(),
                Vec::new(),
            ),
        },
        Ok(Idempotent::KeyReused) => empty(Vec::new(), vec![key_reused()]),
        Err(e) => empty(Vec::new(), user_errors(e, "codes")?),
    })
}

/// Cart changes.
#[Object]
impl CartMutation {
    /// Holds one use of every code for the order until a deadline, in one transaction:
    /// all of them, or none when they do not all apply together (`leftOut` says why).
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reserve_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The codes, the order, and an idempotency key.")] input: ReserveCartInput,
    ) -> Result<CartPayload, ApiError> {
        let caller = caller(ctx)?;
        let result = cart::reserve_cart(
            services(ctx)?,
            &caller,
            &input.codes,
            input.order.into(),
            input.hold_minutes.map(i64::from),
            &input.idempotency_key,
        )
        .await;
        cart_payload(result, caller.role)
    }

    /// Redeems every code for the order in one transaction: all of them, or none when
    /// they do not all apply together (`leftOut` says why). Retries with the same
    /// idempotency key get the first response.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn redeem_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The codes, the order, and an idempotency key.")] input: RedeemCartInput,
    ) -> Result<CartPayload, ApiError> {
        let caller = caller(ctx)?;
        let result = cart::redeem_cart(
            services(ctx)?,
            &caller,
            &input.codes,
            input.order.into(),
            &input.idempotency_key,
        )
        .await;
        cart_payload(result, caller.role)
    }

    /// Gives back every live reservation of an order at once, in one transaction; the
    /// reservations released (none when the order holds none).
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn release_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: ReleaseCartInput,
    ) -> Result<CartPayload, ApiError> {
        let caller = caller(ctx)?;
        let result = cart::release_cart(services(ctx)?, &caller, &input.order_id).await;
        cart_payload(result.map(Idempotent::Fresh), caller.role)
    }

    /// Reverses in full every redemption of an order at once, in one transaction (each
    /// coupon's `reversalPolicy` decides whether its use comes back); the redemptions
    /// reversed. Retries with the same idempotency key get the first response.
    #[graphql(guard = "RoleGuard::new(CHECKOUT)")]
    async fn reverse_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order and an idempotency key.")] input: ReverseCartInput,
    ) -> Result<CartPayload, ApiError> {
        let caller = caller(ctx)?;
        let result = cart::reverse_cart(
            services(ctx)?,
            &caller,
            &input.order_id,
            &input.idempotency_key,
        )
        .await;
        cart_payload(result, caller.role)
    }
}
