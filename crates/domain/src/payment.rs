//! Payments: what a payment provider has told about one payment, and what that means for
//! the reservations and redemptions it pays for.
//!
//! The receivers read each provider event into a [`Signal`]; a payment's signals fold
//! into its [`PaymentFacts`] in any order ([`PaymentFacts::merge`]); [`next_step`] says
//! what one bound reservation or redemption must do to agree with the facts, and
//! [`imbalances`] lists what still disagrees, for reconciliation. Nothing here reads a
//! clock, a database or a provider's format.
//!
//! The allocation rule: a refund takes back the share of the discount that the refund is
//! of the amount captured, `discount × refunded ÷ captured`, rounded half up to the minor
//! unit and computed on the running totals (so partial refunds never drift by rounding);
//! a refund of the whole capture, or a lost dispute, takes back all of it.

use serde::{Deserialize, Serialize};

use crate::redemption::{Redemption, RedemptionStatus};

/// A payment provider whose events the service receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// Stripe (PaymentIntents, Checkout Sessions, charges, disputes).
    Stripe,
    /// Braintree (transactions, subscriptions, disputes).
    Braintree,
}

impl Provider {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Braintree => "braintree",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Stripe, Self::Braintree]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// What a payment pays for, as the storefront put it in the payment's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Binding {
    /// One reservation (its row id).
    Reservation(i64),
    /// Every reservation of a cart: the order id the cart was reserved under.
    Cart(String),
}

/// What one provider event says about a payment. Amounts are minor units of the
/// payment's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// The payment was captured (or settled): `captured` was taken.
    Succeeded {
        /// Amount taken.
        captured: i64,
    },
    /// The payment was cancelled, failed, expired or declined.
    Failed,
    /// The payment's refunds now total `total` (a running total, as Stripe reports it).
    Refunded {
        /// All refunded so far.
        total: i64,
        /// The amount captured, when the event tells it.
        captured: Option<i64>,
    },
    /// One more refund of `amount` (Braintree reports each refund as its own
    /// transaction; each event is counted once, by its id).
    RefundAdded {
        /// This refund.
        amount: i64,
    },
    /// A dispute (chargeback) was opened.
    DisputeOpened,
    /// The dispute was decided for the merchant.
    DisputeWon,
    /// The dispute was lost: the money went back to the customer.
    DisputeLost,
}

/// Where a payment's dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dispute {
    /// Opened, not decided.
    Open,
    /// Decided for the merchant.
    Won,
    /// Decided for the customer.
    Lost,
}

impl Dispute {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Won => "WON",
            Self::Lost => "LOST",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Won, Self::Lost]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Everything the provider has told about one payment so far. Merging is order-free:
/// flags only turn on, totals only grow (added refunds excepted, which the caller counts
/// once per event), and a decided dispute outranks an open one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFacts {
    /// A capture or settlement was reported.
    pub succeeded: bool,
    /// A cancellation, failure, expiry or decline was reported.
    pub failed: bool,
    /// The amount captured, once known.
    pub captured: Option<i64>,
    /// The largest running total of refunds reported (Stripe's way).
    pub refunded_total: i64,
    /// The sum of single refunds reported (Braintree's way).
    pub refunded_sum: i64,
    /// The dispute, if any.
    pub dispute: Option<Dispute>,
}

impl PaymentFacts {
    /// Folds one signal in.
    pub fn merge(&mut self, signal: &Signal) {
        match *signal {
            Signal::Succeeded { captured } => {
                self.succeeded = true;
                self.captured = Some(self.captured.map_or(captured, |c| c.max(captured)));
            }
            Signal::Failed => self.failed = true,
            Signal::Refunded { total, captured } => {
                self.refunded_total = self.refunded_total.max(total);
                if let Some(c) = captured {
                    self.captured = Some(self.captured.map_or(c, |known| known.max(c)));
                }
            }
            Signal::RefundAdded { amount } => self.refunded_sum += amount.max(0),
            Signal::DisputeOpened => self.dispute = self.dispute.max(Some(Dispute::Open)),
            Signal::DisputeWon => self.dispute = self.dispute.max(Some(Dispute::Won)),
            Signal::DisputeLost => self.dispute = Some(Dispute::Lost),
        }
    }

    /// Refunded in all.
    pub fn refunded(&self) -> i64 {
        self.refunded_total.max(self.refunded_sum)
    }

    /// How much of a discount of `discount` minor units the refunds and a lost dispute
    /// take back, by the allocation rule (see the module).
    pub fn discount_taken_back(&self, discount: i64) -> i64 {
        if self.dispute == Some(Dispute::Lost) {
            return discount;
        }
        let Some(captured) = self.captured.filter(|c| *c > 0) else {
            return 0;
        };
        if self.refunded() >= captured {
            return discount;
        }
        let refunded = i128::from(self.refunded().max(0));
        let (discount_w, captured_w) = (i128::from(discount), i128::from(captured));
        let share = (2 * discount_w * refunded + captured_w) / (2 * captured_w);
        i64::try_from(share).unwrap_or(discount).min(discount)
    }
}

/// What one bound reservation or redemption must do to agree with its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Redeem the reservation: the payment went through.
    Redeem,
    /// Give the reservation's use back: the payment will not come.
    Release,
    /// Take back this much more of the discount (minor units): refunds or a lost dispute.
    Refund {
        /// Minor units to refund now.
        amount: i64,
    },
    /// Nothing: it agrees, or nothing can be done (see [`imbalances`]).
    Nothing,
}

/// The next step for `current` under `facts`. Applying steps until [`Step::Nothing`]
/// brings a reservation to the state its payment says, whatever order the facts came in,
/// with one exception the books show: a reservation released or expired before its
/// payment succeeded stays closed (its use may be gone to another customer), and
/// [`imbalances`] reports it as paid but not redeemed.
pub fn next_step(facts: &PaymentFacts, current: &Redemption) -> Step {
    match current.status {
        RedemptionStatus::Reserved if facts.succeeded => Step::Redeem,
        RedemptionStatus::Reserved if facts.failed => Step::Release,
        RedemptionStatus::Redeemed | RedemptionStatus::PartiallyReversed
            if facts.captured.is_some() || facts.dispute == Some(Dispute::Lost) =>
        {
            let owed = facts.discount_taken_back(current.discount_minor) - current.refunded_minor;
            if owed > 0 {
                Step::Refund { amount: owed }
            } else {
                Step::Nothing
            }
        }
        _ => Step::Nothing,
    }
}

/// A way an order's coupon books and its payment disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Imbalance {
    /// The payment names a reservation or cart that has no reservation here.
    ReservationNotFound,
    /// The payment succeeded but this use is not redeemed (it was released or expired
    /// first, or is still held).
    PaidNotRedeemed {
        /// The reservation.
        redemption_id: i64,
        /// Where it stands.
        status: RedemptionStatus,
    },
    /// The payment failed or was cancelled and never succeeded, yet this use is redeemed.
    RedeemedNotPaid {
        /// The redemption.
        redemption_id: i64,
    },
    /// The discount taken back differs from what the refunds and disputes say.
    RefundNotReversed {
        /// The redemption.
        redemption_id: i64,
        /// What the allocation rule takes back, minor units.
        expected: i64,
        /// What was reversed, minor units.
        reversed: i64,
    },
    /// The amount captured is not the order's subtotal less its discounts.
    CaptureDiffers {
        /// Subtotal less discounts, minor units.
        expected: i64,
        /// Captured, minor units.
        captured: i64,
    },
    /// The payment's currency is not the order's.
    CurrencyDiffers {
        /// The payment's.
        payment: String,
        /// The order's.
        order: String,
    },
}

impl Imbalance {
    /// The name reports and the API use.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ReservationNotFound => "RESERVATION_NOT_FOUND",
            Self::PaidNotRedeemed { .. } => "PAID_NOT_REDEEMED",
            Self::RedeemedNotPaid { .. } => "REDEEMED_NOT_PAID",
            Self::RefundNotReversed { .. } => "REFUND_NOT_REVERSED",
            Self::CaptureDiffers { .. } => "CAPTURE_DIFFERS",
            Self::CurrencyDiffers { .. } => "CURRENCY_DIFFERS",
        }
    }
}

fn counts_as_used(status: RedemptionStatus) -> bool {
    matches!(
        status,
        RedemptionStatus::Redeemed
            | RedemptionStatus::PartiallyReversed
            | RedemptionStatus::Reversed
    )
}

/// Which of the uses a payment names it paid for: the reservation, or a cart's uses
/// that are held or used; a cart whose uses are all released or expired (the payment
/// came too late) is paid for by all of them. Uses a cart gave back when it was reserved
/// again are not part of what was paid.
pub fn paid_for(mut uses: Vec<Redemption>) -> Vec<Redemption> {
    let closed = |u: &Redemption| {
        matches!(
            u.status,
            RedemptionStatus::Released | RedemptionStatus::Expired
        )
    };
    if uses.iter().any(|u| !closed(u)) {
        uses.retain(|u| !closed(u));
    }
    uses
}

/// Every way the uses a payment paid for (see [`paid_for`]) disagree with its facts. `currency` is the payment's,
/// when the provider told it. Empty when the books balance.
pub fn imbalances(
    facts: &PaymentFacts,
    currency: Option<&str>,
    uses: &[Redemption],
) -> Vec<Imbalance> {
    if uses.is_empty() {
        return vec![Imbalance::ReservationNotFound];
    }
    let mut found = Vec::new();
    if let Some(payment) = currency
        && let Some(order) = uses.first().map(|u| u.currency.as_str())
        && !payment.eq_ignore_ascii_case(order)
    {
        found.push(Imbalance::CurrencyDiffers {
            payment: payment.to_ascii_uppercase(),
            order: order.to_owned(),
        });
    }
    for u in uses {
        let used = counts_as_used(u.status);
        if facts.succeeded && !used {
            found.push(Imbalance::PaidNotRedeemed {
                redemption_id: u.id,
                status: u.status,
            });
        }
        if facts.failed && !facts.succeeded && used {
            found.push(Imbalance::RedeemedNotPaid {
                redemption_id: u.id,
            });
        }
        if used && (facts.captured.is_some() || facts.dispute == Some(Dispute::Lost)) {
            let expected = facts.discount_taken_back(u.discount_minor);
            if expected != u.refunded_minor {
                found.push(Imbalance::RefundNotReversed {
                    redemption_id: u.id,
                    expected,
                    reversed: u.refunded_minor,
                });
            }
        }
    }
    if facts.succeeded
        && let Some(captured) = facts.captured
    {
        let subtotal = uses.iter().map(|u| u.subtotal_minor).max().unwrap_or(0);
        // The payment was priced with every discount it paid for, used or not.
        let discounts: i64 = uses.iter().map(|u| u.discount_minor).sum();
        let expected = subtotal - discounts;
        if captured != expected {
            found.push(Imbalance::CaptureDiffers { expected, captured });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(signals: &[Signal]) -> PaymentFacts {
        let mut f = PaymentFacts::default();
        for s in signals {
            f.merge(s);
        }
        f
    }

    #[test]
    fn refunds_take_back_their_share_rounded_half_up() {
        let f = facts(&[
            Signal::Succeeded { captured: 9_000 },
            Signal::Refunded {
                total: 3_000,
                captured: None,
            },
        ]);
        // 1000 × 3000 / 9000 = 333.33…
        assert_eq!(f.discount_taken_back(1_000), 333);
        let f = facts(&[
            Signal::Succeeded { captured: 8_000 },
            Signal::Refunded {
                total: 1_000,
                captured: None,
            },
        ]);
        // 500 × 1/8 = 62.5 → 63
        assert_eq!(f.discount_taken_back(500), 63);
        let f = facts(&[
            Signal::Succeeded { captured: 8_000 },
            Signal::Refunded {
                total: 8_000,
                captured: None,
            },
        ]);
        assert_eq!(f.discount_taken_back(500), 500);
        let f = facts(&[Signal::DisputeLost, Signal::DisputeOpened]);
        assert_eq!(f.dispute, Some(Dispute::Lost));
        assert_eq!(f.discount_taken_back(500), 500);
        assert_eq!(
            facts(&[Signal::Refunded {
                total: 10,
                captured: None
            }])
            .discount_taken_back(500),
            0
        );
    }

    #[test]
    fn a_running_total_seen_late_does_not_lower_the_refund() {
        let f = facts(&[
            Signal::Refunded {
                total: 5_000,
                captured: Some(9_000),
            },
            Signal::Refunded {
                total: 2_000,
                captured: Some(9_000),
            },
        ]);
        assert_eq!(f.refunded(), 5_000);
        assert_eq!(f.captured, Some(9_000));
    }
}
