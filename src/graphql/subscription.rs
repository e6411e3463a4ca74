//! Subscriptions: committed coupon events, as this instance's relay publishes them.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::guard::{EVENTS, RoleGuard};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use crate::service::Services;
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
}

/// A committed change, in commit order.
pub struct CouponEvent(pub Arc<StoredEvent>);

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
        self.0.coupon_id.map(|id| ids::encode(Kind::Coupon, id))
    }

    /// The entity changed: a coupon's, a reservation's or redemption's row id, or a
    /// rule's name.
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }

    /// The entity after the change (before it, for a deletion).
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }

    /// When the change was made.
    async fn occurred_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// Which events to receive.
#[derive(Debug, Clone, Default, InputObject)]
pub struct CouponEventFilter {
    /// Only events of this coupon.
    pub coupon_id: Option<ID>,
    /// Only these types (all when omitted).
    pub types: Option<Vec<CouponEventType>>,
}

/// The root of all subscriptions.
#[derive(Default)]
pub struct Subscription;

/// The root of all subscriptions.
#[Subscription]
impl Subscription {
    /// Coupon events as they commit, in commit order. A subscriber that falls more than
    /// 4096 events behind gets a `SUBSCRIBER_LAGGED` error and the subscription ends:
    /// nothing is skipped silently.
    #[graphql(guard = "RoleGuard::new(EVENTS)")]
    async fn coupon_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events to receive (all when omitted).")] filter: Option<
            CouponEventFilter,
        >,
    ) -> Result<impl Stream<Item = Result<CouponEvent>>> {
        let svc = ctx.data::<Services>()?;
        let filter = filter.unwrap_or_default();
        let coupon =
            match &filter.coupon_id {
                None => None,
                Some(id) => Some(ids::decode(Kind::Coupon, id).ok_or_else(|| {
                    ApiError::BadUserInput(format!("{:?} is not a coupon ID", id.0))
                })?),
            };
        let types: Option<Vec<EventType>> = filter
            .types
            .map(|t| t.into_iter().map(Into::into).collect());
        let wanted = move |e: &StoredEvent| {
            coupon.is_none_or(|c| e.coupon_id == Some(c))
                && types.as_ref().is_none_or(|t| {
                    EventType::parse(&e.event_type).is_some_and(|et| t.contains(&et))
                })
        };
        let rx = svc.events.subscribe();
        Ok(futures_util::stream::unfold(
            (rx, wanted, false),
            |(mut rx, wanted, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    match rx.recv().await {
                        Ok(event) if wanted(&event) => {
                            return Some((Ok(CouponEvent(event)), (rx, wanted, false)));
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            let e = ApiError::SubscriberLagged { missed };
                            return Some((Err(e.into()), (rx, wanted, true)));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
