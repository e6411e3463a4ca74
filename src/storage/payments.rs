//! Payments and provider events: the storage steps of payment hand-off.
//!
//! A provider event is claimed by its id ([`claim_event`]) inside the transaction that
//! applies it, like an idempotency key: a concurrent redelivery waits on the unique
//! index, then answers the stored outcome. A payment's row is locked
//! ([`lock_payment`]) before the reservations it pays for, so two events of one payment
//! apply one after the other.

use chrono::{DateTime, Utc};
use coupons_domain::payment::{Binding, PaymentFacts, Provider};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::{Conn, StorageError, on_backend};

/// A payment as stored: what it pays for and what its provider said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Row id.
    pub id: i64,
    /// The provider.
    pub provider: Provider,
    /// The provider's id of the payment (a PaymentIntent, a transaction).
    pub payment_ref: String,
    /// What it pays for, once an event named it.
    pub binding: Option<Binding>,
    /// Its currency (ISO 4217, upper case), once an event told it.
    pub currency: Option<String>,
    /// Everything its events said.
    pub facts: PaymentFacts,
    /// When its first event came.
    pub created_at: DateTime<Utc>,
    /// When its last event came.
    pub updated_at: DateTime<Utc>,
}

/// A `payments` row, in its columns' order.
type PaymentRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Value,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn corrupt(id: i64, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        table: "payments",
        id,
        reason: reason.to_string(),
    }
}

fn payment_of(row: PaymentRow) -> Result<Payment, StorageError> {
    let (id, provider, payment_ref, reservation, cart, currency, facts, created_at, updated_at) =
        row;
    let provider = Provider::parse(&provider).ok_or_else(|| corrupt(id, "unknown provider"))?;
    let binding = match (reservation, cart) {
        (Some(r), _) => Some(Binding::Reservation(r)),
        (None, Some(order)) => Some(Binding::Cart(order)),
        (None, None) => None,
    };
    let facts = serde_json::from_value(facts).map_err(|e| corrupt(id, e))?;
    Ok(Payment {
        id,
        provider,
        payment_ref,
        binding,
        currency,
        facts,
        created_at,
        updated_at,
    })
}

/// Claims a provider event inside the current transaction: `None` to go on, or the
/// outcome stored when it was applied before. A concurrent delivery of the same event
/// waits on the unique index until the first commits or rolls back.
pub async fn claim_event(
    c: &mut Conn<'_>,
    provider: Provider,
    event_id: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<Option<Value>, StorageError> {
    on_backend!(c, |conn| {
        use schema::payment_events::dsl as pe;
        let inserted = diesel::insert_into(pe::payment_events)
            .values((
                pe::provider.eq(provider.as_str()),
                pe::event_id.eq(event_id),
                pe::event_type.eq(event_type),
                pe::outcome.eq(Value::Null),
                pe::received_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(None);
        }
        Ok(Some(
            pe::payment_events
                .filter(pe::provider.eq(provider.as_str()))
                .filter(pe::event_id.eq(event_id))
                .select(pe::outcome)
                .first(conn)
                .await?,
        ))
    })
}

/// Stores a claimed event's outcome and the payment it was about.
pub async fn finish_event(
    c: &mut Conn<'_>,
    provider: Provider,
    event_id: &str,
    payment_id: Option<i64>,
    outcome: Value,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::payment_events::dsl as pe;
        diesel::update(
            pe::payment_events
                .filter(pe::provider.eq(provider.as_str()))
                .filter(pe::event_id.eq(event_id)),
        )
        .set((pe::payment_id.eq(payment_id), pe::outcome.eq(outcome)))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Finds or starts a payment's row and locks it for the rest of the transaction.
pub async fn lock_payment(
    c: &mut Conn<'_>,
    provider: Provider,
    payment_ref: &str,
    now: DateTime<Utc>,
) -> Result<Payment, StorageError> {
    let facts = serde_json::to_value(PaymentFacts::default()).map_err(|e| corrupt(0, e))?;
    let row: PaymentRow = on_backend!(c, |conn| {
        use schema::payments::dsl as p;
        diesel::insert_into(p::payments)
            .values((
                p::provider.eq(provider.as_str()),
                p::payment_ref.eq(payment_ref),
                p::facts.eq(facts),
                p::created_at.eq(now),
                p::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        // An update that changes nothing takes the row's lock on both backends.
        diesel::update(
            p::payments
                .filter(p::provider.eq(provider.as_str()))
                .filter(p::payment_ref.eq(payment_ref)),
        )
        .set(p::updated_at.eq(p::updated_at))
        .get_result(conn)
        .await?
    });
    payment_of(row)
}

/// Writes a locked payment back.
pub async fn save_payment(
    c: &mut Conn<'_>,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let facts = serde_json::to_value(&payment.facts).map_err(|e| corrupt(payment.id, e))?;
    let (reservation, cart) = match &payment.binding {
        None => (None, None),
        Some(Binding::Reservation(id)) => (Some(*id), None),
        Some(Binding::Cart(order)) => (None, Some(order.as_str())),
    };
    on_backend!(c, |conn| {
        use schema::payments::dsl as p;
        diesel::update(p::payments.find(payment.id))
            .set((
                p::reservation_id.eq(reservation),
                p::cart_order_id.eq(cart),
                p::currency.eq(payment.currency.as_deref()),
                p::facts.eq(facts),
                p::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Payments that name what they pay for, by id, after `after`; at most `limit`.
pub async fn bound_payments(
    c: &mut Conn<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<Payment>, StorageError> {
    let rows: Vec<PaymentRow> = on_backend!(c, |conn| {
        use schema::payments::dsl as p;
        p::payments
            .filter(p::id.gt(after))
            .filter(
                p::reservation_id
                    .is_not_null()
                    .or(p::cart_order_id.is_not_null()),
            )
            .order(p::id.asc())
            .limit(limit)
            .load(conn)
            .await?
    });
    rows.into_iter().map(payment_of).collect()
}
