//! Webhook endpoints, their deliveries and the delivery log.
//!
//! Deliveries are made from the outbox. Each endpoint has a cursor: the newest event
//! its deliveries were written for. `fan_out_endpoint` writes a delivery row for every
//! matching event after the cursor and moves the cursor, in one transaction, so each
//! event is offered to each endpoint exactly once, however many instances run it. An
//! instance leases a due delivery before attempting it; a lease that runs out (the
//! instance died mid-attempt) frees the delivery for another attempt. Delivery is
//! therefore at least once; receivers de-duplicate on the event id.

use chrono::{DateTime, TimeDelta, Utc};
use coupons_domain::delivery::{Breaker, BreakerPolicy};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::audit::{Actor, AuditAction, EntityType, write_audit};
use super::events::{EventType, StoredEvent};
use super::{Conn, StorageError, on_backend};

/// A `webhook_endpoints` row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredEndpoint {
    /// Row id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// JSON list of [`EventType`] names; empty for every type.
    pub event_types: Value,
    /// Only this coupon's events, if set.
    pub coupon_id: Option<i64>,
    /// The signing secret.
    pub secret: String,
    /// Paused endpoints keep their deliveries until resumed.
    pub active: bool,
    /// The newest event its deliveries were written for.
    pub cursor_event_id: i64,
    /// Failed attempts in a row (the breaker).
    pub failures: i64,
    /// Until when attempts are held back (the breaker).
    pub open_until: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredEndpoint {
    /// The event types it receives; empty for all.
    pub fn types(&self) -> Vec<EventType> {
        self.event_types
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().and_then(EventType::parse))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether it receives `event`.
    pub fn wants(&self, event: &StoredEvent) -> bool {
        let types = self.types();
        let type_ok = types.is_empty()
            || EventType::parse(&event.event_type).is_some_and(|t| types.contains(&t));
        type_ok && self.coupon_id.is_none_or(|c| event.coupon_id == Some(c))
    }

    /// Its circuit breaker.
    pub fn breaker(&self) -> Breaker {
        Breaker {
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            open_until: self.open_until,
        }
    }

    /// The audit view: everything but the secret and the delivery state.
    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "eventTypes": self.event_types,
            "couponId": self.coupon_id,
            "active": self.active,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or for its endpoint to be resumed).
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; `redeliverWebhook` tries again.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A `webhook_deliveries` row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredDelivery {
    /// Row id.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The outbox event.
    pub event_id: i64,
    /// Stored [`DeliveryStatus`] name.
    pub status: String,
    /// Attempts since it was written or last redelivered by hand.
    pub attempts: i64,
    /// When it is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Leased by an instance until then.
    pub leased_until: Option<DateTime<Utc>>,
    /// Which lease.
    pub lease_token: Option<String>,
    /// When it was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if there was an answer.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the endpoint accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl StoredDelivery {
    fn audit_json(&self) -> Value {
        json!({
            "id": self.id,
            "endpointId": self.endpoint_id,
            "eventId": self.event_id,
            "status": self.status,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at,
            "deliveredAt": self.delivered_at,
        })
    }
}

/// A `webhook_attempts` row: one POST.
#[derive(Debug, Clone, Queryable)]
pub struct StoredAttempt {
    /// Row id.
    pub id: i64,
    /// The delivery.
    pub delivery_id: i64,
    /// When the request was sent.
    pub started_at: DateTime<Utc>,
    /// How long until the answer (or the failure).
    pub duration_ms: i64,
    /// The HTTP status, if there was an answer.
    pub status_code: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the endpoint accepted it (2xx).
    pub succeeded: bool,
}

/// An endpoint to be stored.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where to POST.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// Types it receives; empty for all.
    pub event_types: Vec<EventType>,
    /// Only this coupon's events.
    pub coupon_id: Option<i64>,
    /// The signing secret.
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    /// New URL.
    pub url: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New types (empty for all).
    pub event_types: Option<Vec<EventType>>,
    /// New coupon filter (`Some(None)` clears it).
    pub coupon_id: Option<Option<i64>>,
    /// Pause or resume.
    pub active: Option<bool>,
    /// New signing secret.
    pub secret: Option<String>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this endpoint's.
    pub endpoint_id: Option<i64>,
    /// Only in this state.
    pub status: Option<DeliveryStatus>,
    /// Only of this event.
    pub event_id: Option<i64>,
}

/// The result of one attempt, to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// When the request was sent.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: i64,
    /// The HTTP status, if there was an answer.
    pub status_code: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// What happens to the delivery next.
    pub next: AfterAttempt,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// The endpoint accepted it.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// No attempts left.
    GiveUp,
}

/// What one fan-out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Endpoints there are.
    pub endpoints: usize,
    /// Deliveries written.
    pub deliveries: usize,
}

fn type_names(types: &[EventType]) -> Value {
    json!(types.iter().map(|t| t.as_str()).collect::<Vec<_>>())
}

/// Stores an endpoint. It receives events committed from now on.
pub async fn insert_webhook_endpoint(
    c: &mut Conn<'_>,
    new: &NewEndpoint,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredEndpoint, StorageError> {
    let stored = on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        use schema::webhook_endpoints::dsl as we;
        // Inside the transaction: on PostgreSQL, the lock makes every event
        // committed before this point have a smaller id than the cursor.
        if let Some(lock) = schema::EVENT_ORDER_LOCK {
            diesel::sql_query(lock).execute(conn).await?;
        }
        let last: Option<i64> = ev::outbox_events
            .select(diesel::dsl::max(ev::id))
            .first(conn)
            .await?;
        let stored: StoredEndpoint = diesel::insert_into(we::webhook_endpoints)
            .values((
                we::url.eq(&new.url),
                we::description.eq(new.description.as_deref()),
                we::event_types.eq(type_names(&new.event_types)),
                we::coupon_id.eq(new.coupon_id),
                we::secret.eq(&new.secret),
                we::active.eq(true),
                we::cursor_event_id.eq(last.unwrap_or(0)),
                we::failures.eq(0_i64),
                we::created_at.eq(now),
                we::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?;
        stored
    });
    let (action, entity) = (
        AuditAction::WebhookEndpointCreated,
        EntityType::WebhookEndpoint,
    );
    let after = Some(stored.audit_json());
    write_audit(c, actor, action, entity, stored.id, None, after, now).await?;
    Ok(stored)
}

/// Changes an endpoint; `None` if there is none with that id. Resuming an endpoint
/// also closes its breaker.
pub async fn update_webhook_endpoint(
    c: &mut Conn<'_>,
    id: i64,
    change: &EndpointChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<StoredEndpoint>, StorageError> {
    let (before, after) = on_backend!(c, |conn| {
        use schema::webhook_endpoints::dsl as we;
        let Some(before): Option<StoredEndpoint> = we::webhook_endpoints
            .find(id)
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let resumed = change.active == Some(true) && !before.active;
        let after: StoredEndpoint = diesel::update(we::webhook_endpoints.find(id))
            .set((
                we::url.eq(change.url.as_deref().unwrap_or(&before.url)),
                we::description.eq(match &change.description {
                    Some(d) => d.as_deref(),
                    None => before.description.as_deref(),
                }),
                we::event_types.eq(match &change.event_types {
                    Some(t) => type_names(t),
                    None => before.event_types.clone(),
                }),
                we::coupon_id.eq(change.coupon_id.unwrap_or(before.coupon_id)),
                we::secret.eq(change.secret.as_deref().unwrap_or(&before.secret)),
                we::active.eq(change.active.unwrap_or(before.active)),
                we::failures.eq(if resumed { 0 } else { before.failures }),
                we::open_until.eq(if resumed { None } else { before.open_until }),
                we::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?;
        (before, after)
    });
    let (action, entity) = (
        AuditAction::WebhookEndpointUpdated,
        EntityType::WebhookEndpoint,
    );
    let (old, new) = (Some(before.audit_json()), Some(after.audit_json()));
    write_audit(c, actor, action, entity, id, old, new, now).await?;
    Ok(Some(after))
}

/// Deletes an endpoint with its deliveries and their log; `None` if there is none
/// with that id.
pub async fn delete_webhook_endpoint(
    c: &mut Conn<'_>,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<StoredEndpoint>, StorageError> {
    let before = on_backend!(c, |conn| {
        use schema::webhook_attempts::dsl as wa;
        use schema::webhook_deliveries::dsl as wd;
        use schema::webhook_endpoints::dsl as we;
        let Some(before): Option<StoredEndpoint> = we::webhook_endpoints
            .find(id)
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let deliveries = wd::webhook_deliveries
            .filter(wd::endpoint_id.eq(id))
            .select(wd::id);
        diesel::delete(wa::webhook_attempts.filter(wa::delivery_id.eq_any(deliveries)))
            .execute(conn)
            .await?;
        diesel::delete(wd::webhook_deliveries.filter(wd::endpoint_id.eq(id)))
            .execute(conn)
            .await?;
        diesel::delete(we::webhook_endpoints.find(id))
            .execute(conn)
            .await?;
        before
    });
    let (action, entity) = (
        AuditAction::WebhookEndpointDeleted,
        EntityType::WebhookEndpoint,
    );
    let old = Some(before.audit_json());
    write_audit(c, actor, action, entity, id, old, None, now).await?;
    Ok(Some(before))
}

/// One endpoint.
pub async fn webhook_endpoint(
    c: &mut Conn<'_>,
    id: i64,
) -> Result<Option<StoredEndpoint>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::webhook_endpoints::dsl as we;
        we::webhook_endpoints
            .find(id)
            .first(conn)
            .await
            .optional()?
    }))
}

/// Endpoints by id, after `after`, at most `limit`.
pub async fn webhook_endpoints(
    c: &mut Conn<'_>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredEndpoint>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::webhook_endpoints::dsl as we;
        we::webhook_endpoints
            .filter(we::id.gt(after.unwrap_or(0)))
            .order(we::id.asc())
            .limit(limit)
            .load(conn)
            .await?
    }))
}

/// Every endpoint's id with its cursor (paused ones too: they get their deliveries,
/// delivered when resumed).
pub async fn endpoint_cursors(c: &mut Conn<'_>) -> Result<Vec<(i64, i64)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::webhook_endpoints::dsl as we;
        Ok(we::webhook_endpoints
            .select((we::id, we::cursor_event_id))
            .load(conn)
            .await?)
    })
}

/// Fans out one endpoint, as its own transaction: writes the deliveries of the matching
/// events after its cursor with one `INSERT … SELECT`, and moves the cursor; returns
/// how many.
pub async fn fan_out_endpoint(
    c: &mut Conn<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    on_backend!(c, |conn| {
        use diesel::sql_types::{BigInt, Text};
        use schema::outbox_events::dsl as ev;
        use schema::webhook_deliveries::dsl as wd;
        use schema::webhook_endpoints::dsl as we;
        // Writing the row first locks it (PostgreSQL): instances fanning out the
        // same endpoint take turns, and the second sees the first's cursor.
        let Some(endpoint): Option<StoredEndpoint> = diesel::update(we::webhook_endpoints.find(id))
            .set(we::cursor_event_id.eq(we::cursor_event_id))
            .get_result(conn)
            .await
            .optional()?
        else {
            return Ok(0);
        };
        let newest: Option<i64> = ev::outbox_events
            .select(diesel::dsl::max(ev::id))
            .first(conn)
            .await?;
        let newest = newest.unwrap_or(0);
        if newest <= endpoint.cursor_event_id {
            return Ok(0);
        }
        let mut events = ev::outbox_events
            .filter(ev::id.gt(endpoint.cursor_event_id))
            .filter(ev::id.le(newest))
            .select((
                id.into_sql::<BigInt>(),
                ev::id,
                DeliveryStatus::Pending.as_str().into_sql::<Text>(),
                0_i64.into_sql::<BigInt>(),
                now.into_sql::<schema::Instant>(),
                now.into_sql::<schema::Instant>(),
            ))
            .into_boxed();
        let types: Vec<&str> = endpoint.types().iter().map(|t| t.as_str()).collect();
        if !types.is_empty() {
            events = events.filter(ev::event_type.eq_any(types));
        }
        if let Some(coupon) = endpoint.coupon_id {
            events = events.filter(ev::coupon_id.eq(coupon));
        }
        let written = diesel::insert_into(wd::webhook_deliveries)
            .values(events)
            .into_columns((
                wd::endpoint_id,
                wd::event_id,
                wd::status,
                wd::attempts,
                wd::next_attempt_at,
                wd::created_at,
            ))
            .execute(conn)
            .await?;
        diesel::update(we::webhook_endpoints.find(id))
            .set(we::cursor_event_id.eq(newest))
            .execute(conn)
            .await?;
        Ok(written)
    })
}

/// Leases up to `limit` of the endpoint's due deliveries, oldest event first, until
/// `until` under `token`, each with its event.
pub async fn claim_webhook_deliveries(
    c: &mut Conn<'_>,
    endpoint_id: i64,
    token: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(StoredDelivery, StoredEvent)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        use schema::webhook_deliveries::dsl as wd;
        let due: Vec<i64> = wd::webhook_deliveries
            .filter(wd::endpoint_id.eq(endpoint_id))
            .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(wd::next_attempt_at.le(now))
            .filter(wd::leased_until.is_null().or(wd::leased_until.le(now)))
            .order(wd::event_id.asc())
            .select(wd::id)
            .limit(limit)
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // The conditions are checked again on each row: on PostgreSQL an instance
        // that waited for a competitor's row locks then finds those rows leased and
        // leaves them out.
        let mut claimed: Vec<StoredDelivery> = diesel::update(
            wd::webhook_deliveries
                .filter(wd::id.eq_any(&due))
                .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(wd::leased_until.is_null().or(wd::leased_until.le(now))),
        )
        .set((wd::leased_until.eq(until), wd::lease_token.eq(token)))
        .get_results(conn)
        .await?;
        claimed.sort_by_key(|d| d.event_id);
        let ids: Vec<i64> = claimed.iter().map(|d| d.event_id).collect();
        let events: Vec<StoredEvent> = ev::outbox_events
            .filter(ev::id.eq_any(&ids))
            .order(ev::id.asc())
            .load(conn)
            .await?;
        // Both are in event order and an event's row always exists.
        Ok(claimed.into_iter().zip(events).collect())
    })
}

/// Moves the lease of the deliveries still held under `token` to `until`.
pub async fn extend_webhook_leases(
    c: &mut Conn<'_>,
    ids: &[i64],
    token: &str,
    until: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::webhook_deliveries::dsl as wd;
        diesel::update(
            wd::webhook_deliveries
                .filter(wd::id.eq_any(ids))
                .filter(wd::lease_token.eq(token)),
        )
        .set(wd::leased_until.eq(until))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Gives back the leases of deliveries not attempted after all (callers skip the call
/// when there are none).
pub async fn release_webhook_leases(
    c: &mut Conn<'_>,
    ids: &[i64],
    token: &str,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::webhook_deliveries::dsl as wd;
        diesel::update(
            wd::webhook_deliveries
                .filter(wd::id.eq_any(ids))
                .filter(wd::lease_token.eq(token)),
        )
        .set((
            wd::leased_until.eq(None::<DateTime<Utc>>),
            wd::lease_token.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Records attempts made under `token`, in the order they were made: each moves
/// its delivery on, and the endpoint's breaker follows their outcomes. A delivery
/// whose lease was lost meanwhile (it ran out and another instance took it) gets its
/// attempt logged and is otherwise left to the new holder. Callers skip the call when
/// there is nothing to record.
pub async fn record_webhook_attempts(
    c: &mut Conn<'_>,
    endpoint_id: i64,
    attempts: &[(StoredDelivery, AttemptRecord)],
    token: &str,
    breaker: BreakerPolicy,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::webhook_attempts::dsl as wa;
        use schema::webhook_deliveries::dsl as wd;
        use schema::webhook_endpoints::dsl as we;
        for (delivery, record) in attempts {
            diesel::insert_into(wa::webhook_attempts)
                .values((
                    wa::delivery_id.eq(delivery.id),
                    wa::started_at.eq(record.started_at),
                    wa::duration_ms.eq(record.duration_ms),
                    wa::status_code.eq(record.status_code),
                    wa::error.eq(record.error.as_deref()),
                    wa::succeeded.eq(record.next == AfterAttempt::Delivered),
                ))
                .execute(conn)
                .await?;
            let (status, next_at, delivered_at) = match record.next {
                AfterAttempt::Delivered => (
                    DeliveryStatus::Delivered,
                    record.started_at,
                    Some(record.started_at + TimeDelta::milliseconds(record.duration_ms)),
                ),
                AfterAttempt::RetryAt(at) => (DeliveryStatus::Pending, at, None),
                AfterAttempt::GiveUp => (DeliveryStatus::Failed, record.started_at, None),
            };
            diesel::update(
                wd::webhook_deliveries
                    .find(delivery.id)
                    .filter(wd::lease_token.eq(token)),
            )
            .set((
                wd::status.eq(status.as_str()),
                wd::attempts.eq(wd::attempts + 1),
                wd::next_attempt_at.eq(next_at),
                wd::leased_until.eq(None::<DateTime<Utc>>),
                wd::lease_token.eq(None::<String>),
                wd::last_attempt_at.eq(record.started_at),
                wd::last_status_code.eq(record.status_code),
                wd::last_error.eq(record.error.as_deref()),
                wd::delivered_at.eq(delivered_at),
            ))
            .execute(conn)
            .await?;
        }
        let endpoint: Option<StoredEndpoint> = we::webhook_endpoints
            .find(endpoint_id)
            .first(conn)
            .await
            .optional()?;
        if let Some(endpoint) = endpoint {
            let state = attempts
                .iter()
                .fold(endpoint.breaker(), |state, (_, record)| match record.next {
                    AfterAttempt::Delivered => state.succeeded(),
                    _ => state.failed(breaker, now),
                });
            diesel::update(we::webhook_endpoints.find(endpoint_id))
                .set((
                    we::failures.eq(i64::from(state.failures)),
                    we::open_until.eq(state.open_until),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
}

/// Puts a delivery back in line now, with a fresh set of attempts; `None` if there
/// is none with that id.
pub async fn redeliver_webhook(
    c: &mut Conn<'_>,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<StoredDelivery>, StorageError> {
    let (before, after) = on_backend!(c, |conn| {
        use schema::webhook_deliveries::dsl as wd;
        let Some(before): Option<StoredDelivery> = wd::webhook_deliveries
            .find(id)
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let after: StoredDelivery = diesel::update(wd::webhook_deliveries.find(id))
            .set((
                wd::status.eq(DeliveryStatus::Pending.as_str()),
                wd::attempts.eq(0_i64),
                wd::next_attempt_at.eq(now),
                wd::delivered_at.eq(None::<DateTime<Utc>>),
            ))
            .get_result(conn)
            .await?;
        (before, after)
    });
    let (action, entity) = (AuditAction::WebhookRedelivered, EntityType::WebhookDelivery);
    let (old, new) = (Some(before.audit_json()), Some(after.audit_json()));
    write_audit(c, actor, action, entity, id, old, new, now).await?;
    Ok(Some(after))
}

/// Deliveries, newest first, with their events.
pub async fn webhook_deliveries(
    c: &mut Conn<'_>,
    filter: &DeliveryFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(StoredDelivery, StoredEvent)>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        use schema::webhook_deliveries::dsl as wd;
        let mut q = wd::webhook_deliveries
            .inner_join(ev::outbox_events)
            .select((
                wd::webhook_deliveries::all_columns(),
                ev::outbox_events::all_columns(),
            ))
            .order(wd::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(b) = before {
            q = q.filter(wd::id.lt(b));
        }
        if let Some(e) = filter.endpoint_id {
            q = q.filter(wd::endpoint_id.eq(e));
        }
        if let Some(s) = filter.status {
            q = q.filter(wd::status.eq(s.as_str()));
        }
        if let Some(e) = filter.event_id {
            q = q.filter(wd::event_id.eq(e));
        }
        q.load(conn).await?
    }))
}

/// A delivery's attempts, oldest first.
pub async fn webhook_attempts(
    c: &mut Conn<'_>,
    delivery_id: i64,
) -> Result<Vec<StoredAttempt>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::webhook_attempts::dsl as wa;
        wa::webhook_attempts
            .filter(wa::delivery_id.eq(delivery_id))
            .order(wa::id.asc())
            .load(conn)
            .await?
    }))
}

/// For each active endpoint with pending deliveries: when it next has one to
/// attempt. Its breaker, and a delivery in flight (leased), push that later.
pub async fn webhook_due(
    c: &mut Conn<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>, StorageError> {
    let endpoints: Vec<(i64, Option<DateTime<Utc>>)> = on_backend!(c, |conn| {
        use schema::webhook_endpoints::dsl as we;
        we::webhook_endpoints
            .filter(we::active.eq(true))
            .select((we::id, we::open_until))
            .load(conn)
            .await?
    });
    let mut due = Vec::new();
    for (id, open_until) in endpoints {
        let (next, lease): (Option<DateTime<Utc>>, Option<Option<DateTime<Utc>>>) =
            on_backend!(c, |conn| {
                use schema::webhook_deliveries::dsl as wd;
                let pending = wd::webhook_deliveries
                    .filter(wd::endpoint_id.eq(id))
                    .filter(wd::status.eq(DeliveryStatus::Pending.as_str()));
                let next = pending
                    .order(wd::next_attempt_at.asc())
                    .select(wd::next_attempt_at)
                    .first(conn)
                    .await
                    .optional()?;
                let lease = pending
                    .filter(wd::leased_until.gt(now))
                    .order(wd::leased_until.desc())
                    .select(wd::leased_until)
                    .first(conn)
                    .await
                    .optional()?;
                (next, lease)
            });
        if let Some(next) = next {
            let later = [lease.flatten(), open_until].into_iter().flatten();
            due.push((id, later.fold(next, DateTime::max)));
        }
    }
    Ok(due)
}

/// How long an instance may hold a delivery: twice the request timeout and a second,
/// so a lease outlives its attempt and its recording.
pub fn lease_for(timeout: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(timeout * 2).unwrap_or(TimeDelta::minutes(1)) + TimeDelta::seconds(1)
}
