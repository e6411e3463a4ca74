//! Payment hand-off: a provider's event, read and verified by its receiver
//! (`crate::payments`), applied to the reservations its payment pays for.
//!
//! One event is one transaction: claim the event's id → lock the payment → fold the
//! event's [`Signal`] into the payment's facts → lock the reservations it is bound to →
//! step each to the state the facts say ([`next_step`]) with the checkout's own storage
//! steps → write the audit entry and the `PAYMENT_RECEIVED` event → store the outcome.
//! A fault rolls all of it back, so the provider's retry finds nothing half-done; a
//! redelivery answers the stored outcome and changes nothing.

use chrono::{DateTime, Utc};
use coupons_domain::payment::{
    Binding, Imbalance, PaymentFacts, Provider, Signal, Step, imbalances, next_step, paid_for,
};
use coupons_domain::{
    Currency, Money, Redemption, RedemptionStatus, plan_refund_minor, usage_marks,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ServiceError, Services};
use crate::ids::{self, Kind};
use crate::storage::checkout::{self as steps, LockedRedemption};
use crate::storage::payments::{self as store, Payment};
use crate::storage::{
    Actor, AuditAction, Conn, Db, EntityType, EventType, StorageError, redemptions,
};

/// An amount as the provider wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// In minor units (Stripe).
    Minor(i64),
    /// In major units, as a decimal (Braintree), read in the payment's currency.
    Major(Decimal),
}

/// What a provider event says, before its amounts are read in the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Captured or settled.
    Succeeded(Amount),
    /// Cancelled, failed, expired or declined.
    Failed,
    /// Refunds now total this (minor units), with the capture when told.
    Refunded {
        /// Running total.
        total: i64,
        /// Amount captured.
        captured: Option<i64>,
    },
    /// One more refund.
    RefundAdded(Amount),
    /// A dispute opened.
    DisputeOpened,
    /// A dispute won.
    DisputeWon,
    /// A dispute lost.
    DisputeLost,
}

/// A verified provider event about one payment.
#[derive(Debug, Clone)]
pub struct ProviderEvent {
    /// Who sent it.
    pub provider: Provider,
    /// The provider's id of the event (unique per provider).
    pub event_id: String,
    /// The provider's name of the event's type.
    pub event_type: String,
    /// The provider's id of the payment it is about.
    pub payment_ref: String,
    /// What the payment's metadata names, if this event carries it.
    pub binding: Option<Binding>,
    /// The payment's currency, if this event tells it.
    pub currency: Option<String>,
    /// What it says.
    pub said: Said,
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentResult {
    /// Reservations were redeemed, released or reversed.
    Applied,
    /// Kept with the payment; nothing to change now (a refund before the capture, a
    /// dispute opened, a change already made).
    Recorded,
    /// The payment names no reservation or cart yet; kept until an event does.
    Unbound,
    /// The reservation or cart the payment names has no reservation here.
    ReservationNotFound,
    /// The payment succeeded after its reservation was released or expired: not
    /// redeemed (its use may have gone to someone else); reconciliation lists it.
    PaidNotRedeemed,
}

impl PaymentResult {
    /// The name the answer, the audit entry and the event carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "APPLIED",
            Self::Recorded => "RECORDED",
            Self::Unbound => "UNBOUND",
            Self::ReservationNotFound => "RESERVATION_NOT_FOUND",
            Self::PaidNotRedeemed => "PAID_NOT_REDEEMED",
        }
    }
}

/// What an event did, stored with it and answered again on redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub result: PaymentResult,
    /// Reservations redeemed (global IDs).
    pub redeemed: Vec<String>,
    /// Reservations released (global IDs).
    pub released: Vec<String>,
    /// Redemptions reversed (global IDs) with the discount taken back, minor units.
    pub reversed: Vec<(String, i64)>,
}

/// An event's outcome, and whether it is a redelivery's stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// What the event did (when it was first applied).
    pub outcome: Outcome,
    /// Whether it was applied before.
    pub replayed: bool,
}

/// Applies one verified provider event, exactly once (see the module).
pub async fn receive(
    svc: &Services,
    event: ProviderEvent,
    ip: Option<String>,
) -> Result<Received, ServiceError> {
    let now = Utc::now();
    let actor = Actor {
        key_id: None,
        role: "system".into(),
        name: format!("{} payments", event.provider.as_str()),
        ip,
    };
    let (event, actor) = (&event, &actor);
    Ok(svc
        .db
        .write(async move |mut c| {
            let claimed = store::claim_event(
                &mut c,
                event.provider,
                &event.event_id,
                &event.event_type,
                now,
            )
            .await?;
            if let Some(stored) = claimed {
                let outcome =
                    serde_json::from_value(stored).map_err(|e| StorageError::Corrupt {
                        table: "payment_events",
                        id: 0,
                        reason: e.to_string(),
                    })?;
                return Ok(Received {
                    outcome,
                    replayed: true,
                });
            }
            let outcome = apply(&mut c, event, actor, now).await?;
            Ok(Received {
                outcome,
                replayed: false,
            })
        })
        .await?)
}

async fn apply(
    c: &mut Conn<'_>,
    event: &ProviderEvent,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Outcome, StorageError> {
    let mut payment = store::lock_payment(c, event.provider, &event.payment_ref, now).await?;
    if payment.binding.is_none() {
        payment.binding.clone_from(&event.binding);
    }
    if payment.currency.is_none() {
        payment.currency = event.currency.as_deref().map(str::to_ascii_uppercase);
    }
    let mut locked = match &payment.binding {
        None => None,
        Some(binding) => Some(lock_bound(c, binding, now).await?),
    };
    // Amounts in major units are read in the payment's currency, else the order's.
    let currency = payment
        .currency
        .clone()
        .or_else(|| locked.as_ref()?.first().map(|l| l.current.currency.clone()));
    let signal = signal_of(&event.said, currency.as_deref());
    payment.facts.merge(&signal);
    let mut outcome = Outcome {
        result: PaymentResult::Recorded,
        redeemed: Vec::new(),
        released: Vec::new(),
        reversed: Vec::new(),
    };
    let mut coupon_id = None;
    match locked.as_mut() {
        None => outcome.result = PaymentResult::Unbound,
        Some(uses) if uses.is_empty() => outcome.result = PaymentResult::ReservationNotFound,
        Some(uses) => {
            coupon_id = uses.first().map(|u| u.coupon.id.0);
            for used in uses.iter_mut() {
                converge(c, used, &payment.facts, actor, now, &mut outcome).await?;
            }
            let current: Vec<Redemption> = uses.iter().map(|u| u.current.clone()).collect();
            let found = imbalances(
                &payment.facts,
                payment.currency.as_deref(),
                &paid_for(current),
            );
            if found
                .iter()
                .any(|i| matches!(i, Imbalance::PaidNotRedeemed { .. }))
            {
                outcome.result = PaymentResult::PaidNotRedeemed;
            } else if !(outcome.redeemed.is_empty()
                && outcome.released.is_empty()
                && outcome.reversed.is_empty())
            {
                outcome.result = PaymentResult::Applied;
            }
        }
    }
    store::save_payment(c, &payment, now).await?;
    record(c, event, &payment, &outcome, coupon_id, actor, now).await?;
    let stored = serde_json::to_value(&outcome).map_err(|e| StorageError::Corrupt {
        table: "payment_events",
        id: payment.id,
        reason: e.to_string(),
    })?;
    store::finish_event(c, event.provider, &event.event_id, Some(payment.id), stored).await?;
    Ok(outcome)
}

/// The reservations and redemptions a binding names, locked in checkout's lock order.
/// A cart's released and expired uses come too, so that a payment arriving after them is
/// told apart from one for an unknown cart.
async fn lock_bound(
    c: &mut Conn<'_>,
    binding: &Binding,
    now: DateTime<Utc>,
) -> Result<Vec<LockedRedemption>, StorageError> {
    match binding {
        Binding::Reservation(id) => Ok(steps::lock_use(c, *id, now).await?.into_iter().collect()),
        Binding::Cart(order) => steps::lock_order_uses(c, order, &RedemptionStatus::ALL, now).await,
    }
}

fn signal_of(said: &Said, currency: Option<&str>) -> Signal {
    let minor = |amount: &Amount| match *amount {
        Amount::Minor(m) => m,
        Amount::Major(d) => currency
            .and_then(|c| Currency::parse(c).ok())
            .and_then(|c| Money::from_decimal(d, c).ok())
            .map_or(0, |m| m.minor),
    };
    match said {
        Said::Succeeded(a) => Signal::Succeeded { captured: minor(a) },
        Said::Failed => Signal::Failed,
        Said::Refunded { total, captured } => Signal::Refunded {
            total: *total,
            captured: *captured,
        },
        Said::RefundAdded(a) => Signal::RefundAdded { amount: minor(a) },
        Said::DisputeOpened => Signal::DisputeOpened,
        Said::DisputeWon => Signal::DisputeWon,
        Said::DisputeLost => Signal::DisputeLost,
    }
}

/// Steps one locked use until it agrees with the facts.
async fn converge(
    c: &mut Conn<'_>,
    used: &mut LockedRedemption,
    facts: &PaymentFacts,
    actor: &Actor,
    now: DateTime<Utc>,
    outcome: &mut Outcome,
) -> Result<(), StorageError> {
    // Redeem, then at most one refund: two steps bring any use to rest.
    for _ in 0..3 {
        let id = used.current.id;
        let global = ids::encode(Kind::Redemption, id);
        match next_step(facts, &used.current) {
            Step::Nothing => return Ok(()),
            Step::Redeem => {
                let coupon = &used.coupon;
                let marks = usage_marks(coupon.redemption_count, coupon.spec.max_redemptions.get());
                steps::redeem_locked(c, used, &marks, actor, now).await?;
                outcome.redeemed.push(global);
            }
            Step::Release => {
                steps::release_locked(c, used, actor, now).await?;
                outcome.released.push(global);
            }
            Step::Refund { amount } => {
                let policy = used.coupon.spec.reversal_policy;
                // The step never asks for more than is left, so the plan is never refused.
                let Ok(plan) = plan_refund_minor(&used.current, amount, policy) else {
                    return Ok(());
                };
                steps::refund_locked(c, used, plan, actor, now).await?;
                outcome.reversed.push((global, amount));
            }
        }
        // Read it again under the lock the transaction holds.
        match steps::lock_use(c, id, now).await? {
            Some(again) => *used = again,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// The audit entry and the event of one applied provider event.
async fn record(
    c: &mut Conn<'_>,
    event: &ProviderEvent,
    payment: &Payment,
    outcome: &Outcome,
    coupon_id: Option<i64>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let payload = json!({
        "provider": event.provider.as_str(),
        "event_id": event.event_id,
        "event_type": event.event_type,
        "payment": payment.payment_ref,
        "reservation": match &payment.binding {
            Some(Binding::Reservation(id)) => Some(ids::encode(Kind::Redemption, *id)),
            _ => None,
        },
        "cart": match &payment.binding {
            Some(Binding::Cart(order)) => Some(order.as_str()),
            _ => None,
        },
        "result": outcome.result.as_str(),
        "redeemed": outcome.redeemed,
        "released": outcome.released,
        "reversed": outcome.reversed.iter().map(|(id, minor)| json!({ "id": id, "amount_minor": minor })).collect::<Vec<_>>(),
        "facts": payment.facts,
    });
    crate::storage::audit::write_audit(
        c,
        actor,
        AuditAction::PaymentReceived,
        EntityType::Payment,
        payment.id,
        None,
        Some(payload.clone()),
        now,
    )
    .await?;
    crate::storage::events::write_event(
        c,
        EventType::PaymentReceived,
        coupon_id,
        payment.id,
        payload,
        now,
    )
    .await
}

/// An imbalance told to a person: what was expected and what was found.
pub fn describe(imbalance: &Imbalance) -> String {
    match imbalance {
        Imbalance::ReservationNotFound => {
            "the payment names a reservation or cart that does not exist".into()
        }
        Imbalance::PaidNotRedeemed {
            redemption_id,
            status,
        } => format!(
            "paid, but reservation {} is {}",
            ids::encode(Kind::Redemption, *redemption_id),
            status.as_str()
        ),
        Imbalance::RedeemedNotPaid { redemption_id } => format!(
            "the payment failed, but {} is redeemed",
            ids::encode(Kind::Redemption, *redemption_id)
        ),
        Imbalance::RefundNotReversed {
            redemption_id,
            expected,
            reversed,
        } => format!(
            "refunds take back {expected} of the discount of {}, {reversed} was reversed",
            ids::encode(Kind::Redemption, *redemption_id)
        ),
        Imbalance::CaptureDiffers { expected, captured } => {
            format!("captured {captured}, subtotal less discounts is {expected}")
        }
        Imbalance::CurrencyDiffers { payment, order } => {
            format!("the payment is in {payment}, the order in {order}")
        }
    }
}

/// One payment whose books do not balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbalanced {
    /// The payment.
    pub payment: Payment,
    /// The order it paid for.
    pub order_id: Option<String>,
    /// What disagrees.
    pub imbalances: Vec<Imbalance>,
}

/// [`unbalanced`] on the service's database: what `balanceAssertions` shows.
pub async fn balance(svc: &Services) -> Result<(usize, Vec<Unbalanced>), ServiceError> {
    unbalanced(&svc.db).await
}

/// Balance assertions: every bound payment whose facts disagree with the reservations
/// and redemptions it paid for, and how many payments were checked.
pub async fn unbalanced(db: &Db) -> Result<(usize, Vec<Unbalanced>), ServiceError> {
    Ok(db
        .read(async move |mut c| {
            let (mut checked, mut found, mut after) = (0, Vec::new(), 0);
            loop {
                let page = store::bound_payments(&mut c, after, 500).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for payment in page {
                    checked += 1;
                    let uses = match &payment.binding {
                        Some(Binding::Reservation(id)) => redemptions::redemption(&mut c, *id)
                            .await?
                            .into_iter()
                            .collect(),
                        Some(Binding::Cart(order)) => {
                            let filter = crate::storage::RedemptionFilter {
                                order_id: Some(order.clone()),
                                ..Default::default()
                            };
                            redemptions::list_redemptions(&mut c, &filter, None, 1_000).await?
                        }
                        None => continue,
                    };
                    let order_id = uses.first().map(|u| u.order_id.clone());
                    let imbalances =
                        imbalances(&payment.facts, payment.currency.as_deref(), &paid_for(uses));
                    if !imbalances.is_empty() {
                        found.push(Unbalanced {
                            payment,
                            order_id,
                            imbalances,
                        });
                    }
                }
            }
            Ok((checked, found))
        })
        .await?)
}
