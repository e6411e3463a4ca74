//! Redemptions and reservations, and the outcome of a checkout call.
//!
//! Outcomes are serialisable because the first outcome for an idempotency key is stored
//! and replayed, byte for byte, for retries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checkout::Rejection;

/// Where a redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedemptionStatus {
    /// Holds a use until its deadline.
    Reserved,
    /// Used.
    Redeemed,
    /// A reservation given back before its deadline.
    Released,
    /// A reservation whose deadline passed.
    Expired,
    /// Fully refunded.
    Reversed,
    /// Partly refunded; still a use.
    PartiallyReversed,
}

impl RedemptionStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Reserved,
        Self::Redeemed,
        Self::Released,
        Self::Expired,
        Self::Reversed,
        Self::PartiallyReversed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Redeemed => "REDEEMED",
            Self::Released => "RELEASED",
            Self::Expired => "EXPIRED",
            Self::Reversed => "REVERSED",
            Self::PartiallyReversed => "PARTIALLY_REVERSED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A reservation or redemption, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// Identity.
    pub id: i64,
    /// The coupon.
    pub coupon_id: i64,
    /// The code used (canonical).
    pub code: String,
    /// Where it stands.
    pub status: RedemptionStatus,
    /// The storefront's order id.
    pub order_id: String,
    /// Sales channel, if given.
    pub channel: Option<String>,
    /// Domain of the customer's e-mail, if given (the address itself is never stored).
    pub email_domain: Option<String>,
    /// ISO 4217 currency of the amounts.
    pub currency: String,
    /// Order subtotal, minor units.
    pub subtotal_minor: i64,
    /// Discount granted, minor units.
    pub discount_minor: i64,
    /// Discount refunded so far, minor units.
    pub refunded_minor: i64,
    /// Deadline of a reservation.
    pub reserved_until: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// When it was released, expired or fully reversed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// What a reserve, redeem, release or reverse call came to. Everything but faults is an
/// outcome: rejections are answers too, and are replayed like successes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutOutcome {
    /// Done; the redemption as it stands afterwards.
    Applied(Redemption),
    /// The coupon does not apply to the order.
    Rejected(Vec<Rejection>),
    /// No reservation or redemption with that id.
    NotFound,
    /// The reservation's deadline passed before it was redeemed.
    ReservationExpired,
    /// The reservation or redemption is not in a state that allows this call.
    WrongStatus(RedemptionStatus),
    /// The refund is larger than the discount not yet refunded.
    RefundExceedsDiscount {
        /// What may still be refunded, minor units.
        remaining_minor: i64,
    },
    /// The refund amount has more decimal places than the currency.
    RefundTooPrecise,
}
