//! The outbox: domain events, written with [`write_event`] (the one way an event is
//! written) inside the transaction of the change they announce, and read back in order.
//! An event exists exactly when its change committed, and ids increase in commit order
//! (see `EVENT_ORDER_LOCK` in `schema.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::{Conn, StorageError, on_backend};

/// What happened.
///
/// Stored by name: the variant's name in `SCREAMING_SNAKE_CASE`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// A coupon was created.
    CouponCreated,
    /// A coupon's definition changed.
    CouponUpdated,
    /// A coupon's lifecycle status changed.
    CouponStatusChanged,
    /// A coupon was deleted.
    CouponDeleted,
    /// Codes were added to a coupon.
    CodesAdded,
    /// A use of a code was reserved.
    CouponReserved,
    /// A code or a reservation was redeemed.
    CouponRedeemed,
    /// A reservation was released.
    ReservationReleased,
    /// A reservation passed its deadline unredeemed.
    ReservationExpired,
    /// A redemption was reversed, fully or in part.
    RedemptionReversed,
    /// A rule version was put in force (published or rolled back to).
    RulePublished,
    /// A capped coupon's redemptions reached 50% or 90% of its cap.
    UsageThresholdReached,
    /// A capped coupon's redemptions reached its cap.
    CouponExhausted,
    /// A payment provider's event was applied: what it said and what it changed.
    PaymentReceived,
    /// Abuse detection raised a signal (its kind, evidence and the action taken).
    AbuseSignalRaised,
}

impl EventType {
    /// Every type.
    pub const ALL: &'static [EventType] = <Self as strum::VariantArray>::VARIANTS;

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// Whether storefront and public subscribers may receive events of this type (as
    /// summaries); payment events are for the back office only.
    pub fn outsiders_may_see(self) -> bool {
        !matches!(self, Self::PaymentReceived | Self::AbuseSignalRaised)
    }
}

/// One stored event.
#[derive(Debug, Clone, Queryable)]
pub struct StoredEvent {
    /// Position in commit order.
    pub id: i64,
    /// Stored [`EventType`] name.
    pub event_type: String,
    /// The coupon concerned, if any.
    pub coupon_id: Option<i64>,
    /// The entity's id (a rule's name for rules).
    pub entity_id: String,
    /// What the entity looked like after the change.
    pub payload: Value,
    /// When it was committed (the transaction's time).
    pub created_at: DateTime<Utc>,
    /// The campaign of its coupon at the time.
    pub campaign_id: Option<i64>,
}

/// The coupon an event is about, which also says where the campaign it records comes
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCoupon {
    /// None (a rule's event).
    None,
    /// This coupon; the insert reads its campaign from the coupon row as it is now,
    /// with a sub-select (no extra round trip on the checkout path).
    Live(i64),
    /// A coupon deleted in this transaction, with the campaign its row had.
    Deleted {
        /// The coupon's id.
        id: i64,
        /// Its campaign.
        campaign_id: Option<i64>,
    },
}

impl From<Option<i64>> for EventCoupon {
    fn from(coupon_id: Option<i64>) -> Self {
        coupon_id.map_or(Self::None, Self::Live)
    }
}

/// Writes one event to the outbox inside the caller's transaction, after taking the
/// commit-order lock (PostgreSQL), so that the event exists exactly when its change
/// commits.
pub async fn write_event(
    c: &mut Conn<'_>,
    event_type: EventType,
    coupon: impl Into<EventCoupon> + Send,
    entity_id: impl std::fmt::Display + Sync,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let (coupon_id, deleted_campaign) = match coupon.into() {
        EventCoupon::None => (None, None),
        EventCoupon::Live(id) => (Some(id), None),
        EventCoupon::Deleted { id, campaign_id } => (Some(id), Some(campaign_id)),
    };
    let entity_id = entity_id.to_string();
    on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        use schema::outbox_events::dsl as ev;
        if let Some(lock) = schema::EVENT_ORDER_LOCK {
            diesel::sql_query(lock).execute(conn).await?;
        }
        let values = (
            ev::event_type.eq(event_type.as_str()),
            ev::coupon_id.eq(coupon_id),
            ev::entity_id.eq(entity_id),
            ev::payload.eq(payload),
            ev::created_at.eq(now),
        );
        match deleted_campaign {
            None => {
                let campaign = cp::coupons
                    .filter(cp::id.nullable().eq(coupon_id))
                    .select(cp::campaign_id)
                    .single_value();
                diesel::insert_into(ev::outbox_events)
                    .values((values, ev::campaign_id.eq(campaign)))
                    .execute(conn)
                    .await?;
            }
            Some(campaign) => {
                diesel::insert_into(ev::outbox_events)
                    .values((values, ev::campaign_id.eq(campaign)))
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    })
}

/// Events after `after_id`, oldest first, at most `limit`.
pub async fn events_after(
    c: &mut Conn<'_>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StorageError> {
    on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        Ok(ev::outbox_events
            .filter(ev::id.gt(after_id))
            .order(ev::id.asc())
            .limit(limit)
            .load(conn)
            .await?)
    })
}

/// One event.
pub async fn event(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredEvent>, StorageError> {
    on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        Ok(ev::outbox_events.find(id).first(conn).await.optional()?)
    })
}

/// The id of the newest event, 0 when there is none.
pub async fn last_event_id(c: &mut Conn<'_>) -> Result<i64, StorageError> {
    let last: Option<i64> = on_backend!(c, |conn| {
        use schema::outbox_events::dsl as ev;
        ev::outbox_events
            .select(diesel::dsl::max(ev::id))
            .first(conn)
            .await?
    });
    Ok(last.unwrap_or(0))
}

/// Tells every instance, when the transaction commits, that what `topic` names changed
/// (PostgreSQL `NOTIFY` on the event channel; on SQLite, one instance, nothing to tell).
pub async fn announce(c: &mut Conn<'_>, topic: &str) -> Result<(), StorageError> {
    if let Conn::Postgres(conn) = c {
        diesel::sql_query("SELECT pg_notify('coupon_events', $1)")
            .bind::<diesel::sql_types::Text, _>(topic)
            .execute(&mut **conn)
            .await?;
    }
    Ok(())
}
