//! `CouponEvent`: a committed change, as subscriptions and webhooks carry it.

use crate::service::events::{EventAccess, shaped_payload};
use std::sync::Arc;

use async_graphql::{Enum, ID, Json, Object};

use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::{EventType, StoredEvent};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "EventType")]
pub enum CouponEventType {
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
    /// A payment provider's event was applied: what it said and what it changed (the
    /// redemptions it redeemed, released or reversed have their own events).
    PaymentReceived,
    /// Abuse detection raised a signal: its kind, the evidence, what it names (keyed
    /// hashes) and the action taken. Admins and analysts only.
    AbuseSignalRaised,
}

/// A committed change, in commit order, as much of it as the reader may see.
pub struct CouponEvent(pub Arc<StoredEvent>, pub EventAccess);

/// A committed change, in commit order.
#[Object]
impl CouponEvent {
    /// The event's position: later events have larger numbers (decimal text). Use it
    /// to drop duplicates.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// What happened.
    #[graphql(name = "type")]
    async fn event_type(&self) -> Option<CouponEventType> {
        EventType::parse(&self.0.event_type).map(Into::into)
    }

    /// The coupon concerned; null for rule events.
    async fn coupon_id(&self) -> Option<ID> {
        self.0.coupon_id.map(|id| global_id(Kind::Coupon, id))
    }

    /// The entity changed: a coupon's, a reservation's or redemption's row id, or a
    /// rule's name.
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }

    /// The entity after the change (before it, for a deletion). Storefront subscribers
    /// get only its counts (`redemption_count`, `reserved_count`; `redeemed`, `cap` and
    /// `percent` for usage marks), never the stored row.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(shaped_payload(&self.0, self.1))
    }

    /// When the change was made.
    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}
