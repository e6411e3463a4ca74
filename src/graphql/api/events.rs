//! Coupon events as they commit: the `couponEvents` subscription, replaying the outbox
//! after a given event, then following this instance's relay.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::optional_filter_id;
use crate::caller::Role;
use crate::graphql::error::ApiError;
use crate::graphql::guard::{EVENTS, RoleGuard};
use crate::graphql::inputs::CouponEventFilter;
use crate::graphql::types::CouponEvent;
use crate::graphql::{caller, services};
use crate::ids::Kind;
use crate::service::events::EventAccess;
use crate::service::{Services, events};
use crate::storage::{EventType, StoredEvent};

/// Event subscriptions.
#[derive(Default)]
pub struct EventSubscription;

/// Event subscriptions.
#[Subscription]
impl EventSubscription {
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
    ) -> Result<impl Stream<Item = async_graphql::Result<CouponEvent>>, ApiError> {
        let svc = services(ctx)?;
        let filter = filter.unwrap_or_default();
        let coupon = optional_filter_id(Kind::Coupon, filter.coupon_id.as_ref(), "a coupon ID")?;
        let campaign =
            optional_filter_id(Kind::Campaign, filter.campaign_id.as_ref(), "a campaign ID")?;
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
            let newest = events::last_event_id(svc).await?;
            if after > newest {
                return Err(ApiError::BadUserInput(format!(
                    "there is no event {after} yet (the newest is {newest})"
                )));
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
            role: caller(ctx)?.role,
            after,
            backlog: VecDeque::new(),
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

/// Events to send after `after` from the outbox, then live from the bus, each as much of
/// it as the subscriber's role may see ([`events::visible`]).
struct Replay {
    svc: Services,
    role: Role,
    /// The next outbox page starts after this id; `None` once caught up (or live only).
    after: Option<i64>,
    backlog: VecDeque<(StoredEvent, EventAccess)>,
    /// The newest id sent or skipped.
    seen: i64,
    rx: tokio::sync::broadcast::Receiver<Arc<StoredEvent>>,
    ended: bool,
}

/// Outbox events read per page while catching up.
const REPLAY_PAGE: i64 = 500;

impl Replay {
    /// Ends the stream with `e`.
    fn fail(
        &mut self,
        e: crate::service::ServiceError,
    ) -> Option<async_graphql::Result<CouponEvent>> {
        self.ended = true;
        Some(Err(ApiError::from(e).into()))
    }

    async fn next(
        &mut self,
        wanted: &impl Fn(&StoredEvent) -> bool,
    ) -> Option<async_graphql::Result<CouponEvent>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some((event, access)) = self.backlog.pop_front() {
                return Some(Ok(CouponEvent(Arc::new(event), access)));
            }
            if let Some(after) = self.after {
                let page = match events::events_after(&self.svc, after, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => return self.fail(e),
                };
                let last = page.last().map(|e| e.id);
                self.after = last.filter(|_| page.len() as i64 == REPLAY_PAGE);
                self.seen = self.seen.max(last.unwrap_or(0));
                let page = page.into_iter().filter(|e| wanted(e)).collect();
                match events::visible(&self.svc, self.role, page).await {
                    Ok(shown) => self.backlog.extend(shown),
                    Err(e) => return self.fail(e),
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.id <= self.seen => {}
                Ok(event) => {
                    self.seen = event.id;
                    if !wanted(&event) {
                        continue;
                    }
                    if events::sees_whole(self.role) {
                        return Some(Ok(CouponEvent(event, EventAccess::Whole)));
                    }
                    let one = vec![StoredEvent::clone(&event)];
                    match events::visible(&self.svc, self.role, one).await {
                        Ok(mut shown) => {
                            if let Some((_, access)) = shown.pop() {
                                return Some(Ok(CouponEvent(event, access)));
                            }
                        }
                        Err(e) => return self.fail(e),
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
