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
    /// How a line discount is shared between the order's lines, less what refunds of a
    /// line took back; empty for a discount on the subtotal or shipping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<crate::LineShare>,
}

/// What a reserve, redeem, release or reverse call came to. Everything but faults is an
/// outcome: rejections are answers too, and are replayed like successes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutOutcome {
    /// Done; the redemption as it stands afterwards.
    Applied(Box<Redemption>),
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
    /// The line named has no share of the discount left to refund.
    LineNotDiscounted,
}

/// What a reserve or redeem call for several codes on one order came to: all of them,
/// or none. Replayed like a [`CheckoutOutcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartOutcome {
    /// Every code applied; the reservations or redemptions, in the order the codes
    /// were given.
    Applied(Vec<Redemption>),
    /// Not every code applies with the others: nothing was written. The codes left out
    /// (as given), each with why.
    Rejected(Vec<(String, Vec<Rejection>)>),
}

/// Why a reservation or redemption cannot be changed as asked; each is also a
/// [`CheckoutOutcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The reservation's deadline passed before it was redeemed.
    ReservationExpired,
    /// Not in a state that allows this call.
    WrongStatus(RedemptionStatus),
    /// The refund is larger than the discount not yet refunded.
    RefundExceedsDiscount {
        /// What may still be refunded, minor units.
        remaining_minor: i64,
    },
    /// The refund amount has more decimal places than the currency.
    RefundTooPrecise,
    /// The line named has no share of the discount left to refund.
    LineNotDiscounted,
}

impl From<Refusal> for CheckoutOutcome {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::ReservationExpired => Self::ReservationExpired,
            Refusal::WrongStatus(status) => Self::WrongStatus(status),
            Refusal::RefundExceedsDiscount { remaining_minor } => {
                Self::RefundExceedsDiscount { remaining_minor }
            }
            Refusal::RefundTooPrecise => Self::RefundTooPrecise,
            Refusal::LineNotDiscounted => Self::LineNotDiscounted,
        }
    }
}

/// Whether a reservation can be redeemed: the outcome to answer instead when not.
pub fn check_redeemable(current: &Redemption) -> Result<(), Refusal> {
    match current.status {
        RedemptionStatus::Reserved => Ok(()),
        RedemptionStatus::Expired => Err(Refusal::ReservationExpired),
        other => Err(Refusal::WrongStatus(other)),
    }
}

/// Whether a reservation is to be released now: `Ok(false)` when it was released or
/// expired already (releasing is idempotent: the answer is the reservation as it
/// stands), the outcome to answer when it cannot be released.
pub fn check_releasable(current: &Redemption) -> Result<bool, Refusal> {
    match current.status {
        RedemptionStatus::Reserved => Ok(true),
        RedemptionStatus::Released | RedemptionStatus::Expired => Ok(false),
        other => Err(Refusal::WrongStatus(other)),
    }
}

/// What a refund does to a redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Refunded now, minor units.
    pub amount: i64,
    /// Refunded in all, after this one.
    pub refunded: i64,
    /// Whether all of the discount is refunded now.
    pub full: bool,
    /// Whether the redemption gives its use back (a full refund, when the coupon's
    /// policy says so).
    pub gives_use_back: bool,
    /// The line shares after a refund of one line (that line's share gone); `None`
    /// when they do not change.
    pub lines: Option<Vec<crate::LineShare>>,
}

/// Decides a refund of `requested` (all that is left when `None`, in the redemption's
/// `currency`) of a redemption, under the coupon's reversal policy: the outcome to
/// answer instead when it cannot be made.
pub fn plan_refund(
    current: &Redemption,
    currency: crate::Currency,
    requested: Option<rust_decimal::Decimal>,
    policy: crate::ReversalPolicy,
) -> Result<Refund, Refusal> {
    match current.status {
        RedemptionStatus::Redeemed | RedemptionStatus::PartiallyReversed => {}
        other => return Err(Refusal::WrongStatus(other)),
    }
    let amount = match requested {
        None => current.discount_minor - current.refunded_minor,
        Some(decimal) => {
            crate::Money::from_decimal(decimal, currency)
                .map_err(|_| Refusal::RefundTooPrecise)?
                .minor
        }
    };
    plan_refund_minor(current, amount, policy)
}

/// Decides a refund of `amount` minor units (payment hand-off computes it by the
/// allocation rule); refused when more than what is left of the discount.
pub fn plan_refund_minor(
    current: &Redemption,
    amount: i64,
    policy: crate::ReversalPolicy,
) -> Result<Refund, Refusal> {
    match current.status {
        RedemptionStatus::Redeemed | RedemptionStatus::PartiallyReversed => {}
        other => return Err(Refusal::WrongStatus(other)),
    }
    let remaining = current.discount_minor - current.refunded_minor;
    if amount > remaining {
        return Err(Refusal::RefundExceedsDiscount {
            remaining_minor: remaining,
        });
    }
    Ok(refund_of(current, amount, policy, None))
}

fn refund_of(
    current: &Redemption,
    amount: i64,
    policy: crate::ReversalPolicy,
    lines: Option<Vec<crate::LineShare>>,
) -> Refund {
    let refunded = current.refunded_minor + amount;
    let full = refunded == current.discount_minor;
    Refund {
        amount,
        refunded,
        full,
        gives_use_back: full && policy == crate::ReversalPolicy::RestoreUsage,
        lines,
    }
}

/// Decides the refund of one line's share of a line discount (the line as numbered in
/// the order, see [`Redemption::lines`]): its share, or what is left of the discount
/// when less, taken off the line shares.
pub fn plan_line_refund(
    current: &Redemption,
    line: u32,
    policy: crate::ReversalPolicy,
) -> Result<Refund, Refusal> {
    match current.status {
        RedemptionStatus::Redeemed | RedemptionStatus::PartiallyReversed => {}
        other => return Err(Refusal::WrongStatus(other)),
    }
    let share = current
        .lines
        .iter()
        .find(|s| s.line == line && s.minor > 0)
        .ok_or(Refusal::LineNotDiscounted)?;
    let amount = share
        .minor
        .min(current.discount_minor - current.refunded_minor);
    if amount <= 0 {
        return Err(Refusal::LineNotDiscounted);
    }
    let lines = current
        .lines
        .iter()
        .filter(|s| s.line != line)
        .cloned()
        .collect();
    Ok(refund_of(current, amount, policy, Some(lines)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Currency, ReversalPolicy};

    fn redeemed(discount: i64, refunded: i64) -> Redemption {
        Redemption {
            id: 1,
            coupon_id: 1,
            code: "C".into(),
            status: if refunded > 0 {
                RedemptionStatus::PartiallyReversed
            } else {
                RedemptionStatus::Redeemed
            },
            order_id: "o".into(),
            channel: None,
            email_domain: None,
            currency: "USD".into(),
            subtotal_minor: 10_000,
            discount_minor: discount,
            refunded_minor: refunded,
            reserved_until: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            redeemed_at: None,
            closed_at: None,
            lines: Vec::new(),
        }
    }

    #[test]
    fn refunds_are_planned_within_what_is_left() {
        let usd = Currency::parse("USD").unwrap();
        let keep = ReversalPolicy::KeepUsage;
        let restore = ReversalPolicy::RestoreUsage;
        let full = plan_refund(&redeemed(500, 0), usd, None, restore).unwrap();
        assert_eq!(
            (full.amount, full.full, full.gives_use_back),
            (500, true, true)
        );
        assert!(
            !plan_refund(&redeemed(500, 0), usd, None, keep)
                .unwrap()
                .gives_use_back
        );
        let part = plan_refund(
            &redeemed(500, 200),
            usd,
            Some("1.50".parse().unwrap()),
            restore,
        );
        assert_eq!(part.map(|p| (p.refunded, p.full)), Ok((350, false)));
        assert_eq!(
            plan_refund(
                &redeemed(500, 200),
                usd,
                Some("3.01".parse().unwrap()),
                keep
            ),
            Err(Refusal::RefundExceedsDiscount {
                remaining_minor: 300
            })
        );
        assert_eq!(
            plan_refund(&redeemed(500, 0), usd, Some("0.001".parse().unwrap()), keep),
            Err(Refusal::RefundTooPrecise)
        );
        let mut reserved = redeemed(500, 0);
        reserved.status = RedemptionStatus::Reserved;
        assert_eq!(
            plan_refund(&reserved, usd, None, keep),
            Err(Refusal::WrongStatus(RedemptionStatus::Reserved))
        );
        assert_eq!(check_redeemable(&reserved), Ok(()));
        assert_eq!(check_releasable(&reserved), Ok(true));
        reserved.status = RedemptionStatus::Expired;
        assert_eq!(
            check_redeemable(&reserved),
            Err(Refusal::ReservationExpired)
        );
        assert_eq!(check_releasable(&reserved), Ok(false));
    }
}
