//! `Redemption`: a reservation or redemption of a code for an order.

use async_graphql::{Context, Enum, ID, Object};
use coupons_domain::{self as domain, CouponId};

use super::{Coupon, Money, money};
use crate::graphql::error::ApiError;
use crate::graphql::global_id;
use crate::graphql::guard::{READERS, RoleGuard};
use crate::graphql::loaders::{self, CouponKey};
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;

/// Where a reservation or redemption stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(remote = "domain::RedemptionStatus")]
pub enum RedemptionStatus {
    /// Holds a use until `reservedUntil`.
    Reserved,
    /// Used.
    Redeemed,
    /// A reservation given back.
    Released,
    /// A reservation whose deadline passed; its use came back.
    Expired,
    /// Fully refunded.
    Reversed,
    /// Partly refunded; still a use.
    PartiallyReversed,
}

/// A reservation or redemption of a coupon code for an order.
#[derive(Debug, Clone)]
pub struct Redemption(pub domain::Redemption);

/// A reservation or redemption of a coupon code for an order.
#[Object]
impl Redemption {
    /// Opaque global ID; also the reservation ID to redeem or release.
    pub async fn id(&self) -> ID {
        global_id(Kind::Redemption, self.0.id)
    }

    /// Where it stands.
    async fn status(&self) -> RedemptionStatus {
        self.0.status.into()
    }

    /// The code used (canonical).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The storefront's order id.
    async fn order_id(&self) -> &str {
        &self.0.order_id
    }

    /// Sales channel of the order.
    async fn channel(&self) -> Option<&str> {
        self.0.channel.as_deref()
    }

    /// Domain of the customer's e-mail (the address itself is never stored).
    async fn email_domain(&self) -> Option<&str> {
        self.0.email_domain.as_deref()
    }

    /// The order subtotal.
    async fn subtotal(&self) -> Option<Money> {
        money(&self.0.currency, self.0.subtotal_minor)
    }

    /// The discount granted.
    async fn discount(&self) -> Option<Money> {
        money(&self.0.currency, self.0.discount_minor)
    }

    /// For a line discount, its share on each line of the order (less what refunds of
    /// a line took back); empty otherwise.
    async fn lines(&self) -> Vec<super::LineDiscount> {
        match domain_currency(&self.0.currency) {
            Some(currency) => super::LineDiscount::list(&self.0.lines, currency),
            None => Vec::new(),
        }
    }

    /// The part of the discount refunded by reversals.
    async fn refunded_discount(&self) -> Option<Money> {
        money(&self.0.currency, self.0.refunded_minor)
    }

    /// Deadline of a reservation.
    async fn reserved_until(&self) -> Option<DateTime> {
        self.0.reserved_until.map(DateTime)
    }

    /// When it was made.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was redeemed.
    async fn redeemed_at(&self) -> Option<DateTime> {
        self.0.redeemed_at.map(DateTime)
    }

    /// When it was released, expired or fully reversed.
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.closed_at.map(DateTime)
    }

    /// The coupon.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>, ApiError> {
        loaders::load(ctx, CouponKey(CouponId(self.0.coupon_id))).await
    }
}

fn domain_currency(code: &str) -> Option<coupons_domain::Currency> {
    coupons_domain::Currency::parse(code).ok()
}
