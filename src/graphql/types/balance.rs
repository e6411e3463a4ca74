//! `BalanceAssertions`: orders paid through a payment provider whose coupon books do not
//! agree with the provider's events.

use async_graphql::{Enum, ID, Object, SimpleObject};
use coupons_domain::payment::{Imbalance, Provider};

use crate::graphql::global_id;
use crate::ids::Kind;
use crate::service::payments::{Unbalanced, describe};

/// A payment provider whose webhooks the service receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "Provider")]
pub enum PaymentProvider {
    /// Stripe.
    Stripe,
    /// Braintree.
    Braintree,
}

/// How an order's books and its payment disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PaymentMismatchCode {
    /// The payment names a reservation or cart that does not exist.
    ReservationNotFound,
    /// The payment succeeded, but the reservation was released or expired first.
    PaidNotRedeemed,
    /// The payment failed and never succeeded, yet the use is redeemed.
    RedeemedNotPaid,
    /// The discount reversed is not the share the refunds and disputes take back.
    RefundNotReversed,
    /// The amount captured is not the order's subtotal less its discounts.
    CaptureDiffers,
    /// The payment's currency is not the order's.
    CurrencyDiffers,
}

impl From<&Imbalance> for PaymentMismatchCode {
    fn from(i: &Imbalance) -> Self {
        match i {
            Imbalance::ReservationNotFound => Self::ReservationNotFound,
            Imbalance::PaidNotRedeemed { .. } => Self::PaidNotRedeemed,
            Imbalance::RedeemedNotPaid { .. } => Self::RedeemedNotPaid,
            Imbalance::RefundNotReversed { .. } => Self::RefundNotReversed,
            Imbalance::CaptureDiffers { .. } => Self::CaptureDiffers,
            Imbalance::CurrencyDiffers { .. } => Self::CurrencyDiffers,
        }
    }
}

/// One way an order's books and its payment disagree.
#[derive(SimpleObject)]
pub struct PaymentMismatch {
    /// Who took the payment.
    pub provider: PaymentProvider,
    /// The provider's id of the payment (a PaymentIntent, a transaction).
    pub payment_id: String,
    /// The order paid for; null when the payment names nothing that exists.
    pub order_id: Option<String>,
    /// What disagrees.
    pub code: PaymentMismatchCode,
    /// The reservation or redemption concerned, when one is.
    pub redemption_id: Option<ID>,
    /// What was expected and what was found, for a person (amounts in minor units).
    pub detail: String,
}

/// The books against the payment providers' events.
pub struct BalanceAssertions {
    /// Payments checked (those that name a reservation or cart).
    pub checked: usize,
    /// The payments that do not balance.
    pub unbalanced: Vec<Unbalanced>,
}

/// The books against the payment providers' events: for each order paid through a
/// provider, the amount captured against subtotal less discounts, and refunds and lost
/// disputes against reversals (by the allocation rule in `docs/payments.md`).
#[Object]
impl BalanceAssertions {
    /// Whether every payment balances.
    async fn balanced(&self) -> bool {
        self.unbalanced.is_empty()
    }

    /// How many payments were checked.
    async fn checked_payments(&self) -> u64 {
        self.checked as u64
    }

    /// Every mismatch, by payment.
    async fn mismatches(&self) -> Vec<PaymentMismatch> {
        self.unbalanced
            .iter()
            .flat_map(|u| {
                u.imbalances.iter().map(|i| PaymentMismatch {
                    provider: u.payment.provider.into(),
                    payment_id: u.payment.payment_ref.clone(),
                    order_id: u.order_id.clone(),
                    code: i.into(),
                    redemption_id: match i {
                        Imbalance::PaidNotRedeemed { redemption_id, .. }
                        | Imbalance::RedeemedNotPaid { redemption_id }
                        | Imbalance::RefundNotReversed { redemption_id, .. } => {
                            Some(global_id(Kind::Redemption, *redemption_id))
                        }
                        _ => None,
                    },
                    detail: describe(i),
                })
            })
            .collect()
    }
}
