//! Subscriptions: committed coupon events, as this instance's relay publishes them.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::error::{ApiError, query_error};
use super::guard::{EVENTS, READERS, RoleGuard};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use crate::service::{Services, events};
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
    /// Only events of coupons in this campaign (as they were when the event was
    /// written).
    pub campaign_id: Option<ID>,
    /// Only these types (all when omitted).
    pub types: Option<Vec<CouponEventType>>,
}

/// The root of all subscriptions.
#[derive(Default)]
pub struct Subscription;

/// The root of all subscriptions.
#[Subscription]
impl Subscription {
    /// A bulk job's progress: the job now, then each time its progress or status
    /// changes, ending once it has ended. Follows a job whichever instance runs it.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn bulk_job_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's ID.")] id: ID,
    ) -> Result<impl Stream<Item = Result<super::jobs::BulkJob>>> {
        let svc = ctx.data::<Services>()?;
        super::jobs::progress(svc.clone(), id).await
    }

    /// Coupon events as they commit, in commit order. With `after`, the events
    /// committed after that event id come first, from the outbox, then the live ones,
    /// with none missed or repeated: a client that reconnects passes the last id it
    /// saw. A subscriber that falls more than 4096 events behind gets a
    /// `SUBSCRIBER_LAGGED` error and the subscription ends: nothing is skipped
    /// silently.
    #[graphql(guard = "RoleGuard::new(EVENTS)")]
    async fn coupon_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events to receive (all when omitted).")] filter: Option<
            CouponEventFilter,
        >,
        #[graphql(desc = "Resume after this event id (an `id` received before).")] after: Option<
            ID,
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
        let campaign = match &filter.campaign_id {
            None => None,
            Some(id) => Some(ids::decode(Kind::Campaign, id).ok_or_else(|| {
                ApiError::BadUserInput(format!("{:?} is not a campaign ID", id.0))
            })?),
        };
        let after = match &after {
            None => None,
            Some(id) => Some(
                id.0.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        ApiError::BadUserInput(format!("{:?} is not an event ID", id.0))
                    })?,
            ),
        };
        if let Some(after) = after {
            let newest = events::last_event_id(svc).await.map_err(query_error)?;
            if after > newest {
                return Err(ApiError::BadUserInput(format!(
                    "there is no event {after} yet (the newest is {newest})"
                ))
                .into());
            }
        }
        let types: Option<Vec<EventType>> = filter
            .types
            .map(|t| t.into_iter().map(Into::into).collect());
        let wanted = move |e: &StoredEvent| {
            coupon.is_none_or(|c| e.coupon_id == Some(c))
                && campaign.is_none_or(|c| e.campaign_id == Some(c))
                && types.as_ref().is_none_or(|t| {
                    EventType::parse(&e.event_type).is_some_and(|et| t.contains(&et))
                })
        };
        // Subscribe before reading the outbox: every event committed after the read is
        // then in the receiver, and those the read returned are skipped there by id.
        let rx = svc.events.subscribe();
        let state = Replay {
            svc: svc.clone(),
            after,
            backlog: std::collections::VecDeque::new(),
            seen: after.unwrap_or(0),
            rx,
            ended: false,
        };
        Ok(futures_util::stream::unfold(
            (state, wanted),
            |(mut state, wanted)| async move {
                let item = state.next(&wanted).await?;
                Some((item, (state, wanted)))
            },
        ))
    }
}

/// Events to send after `after` from the outbox, then live from the bus.
struct Replay {
    svc: Services,
    /// The next outbox page starts after this id; `None` once caught up (or live only).
    after: Option<i64>,
    backlog: std::collections::VecDeque<StoredEvent>,
    /// The newest id sent or skipped.
    seen: i64,
    rx: tokio::sync::broadcast::Receiver<Arc<StoredEvent>>,
    ended: bool,
}

/// Outbox events read per page while catching up.
const REPLAY_PAGE: i64 = 500;

impl Replay {
    async fn next(
        &mut self,
        wanted: &impl Fn(&StoredEvent) -> bool,
    ) -> Option<Result<CouponEvent>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.seen = event.id;
                if wanted(&event) {
                    return Some(Ok(CouponEvent(Arc::new(event))));
                }
                continue;
            }
            if let Some(after) = self.after {
                match events::events_after(&self.svc, after, REPLAY_PAGE).await {
                    Ok(page) => {
                        self.after = page
                            .last()
                            .map(|e| e.id)
                            .filter(|_| page.len() as i64 == REPLAY_PAGE);
                        self.backlog.extend(page);
                        continue;
                    }
                    Err(e) => {
                        self.ended = true;
                        return Some(Err(ApiError::internal(&e).into()));
                    }
                }
            }
            match self.rx.recv().await {
                Ok(event) if event.id <= self.seen => {}
                Ok(event) => {
                    self.seen = event.id;
                    if wanted(&event) {
                        return Some(Ok(CouponEvent(event)));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    self.ended = true;
                    return Some(Err(ApiError::SubscriberLagged { missed }.into()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
