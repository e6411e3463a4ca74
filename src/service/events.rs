//! Committed events, as subscribers read them back from the outbox.

use std::collections::HashSet;

use chrono::Utc;
use coupons_domain::CouponId;

use super::{ServiceError, Services, checkout, coupons};
use crate::caller::Role;
use crate::storage::{EventType, StoredEvent, events};

/// The id of the newest event (0 when there is none).
pub async fn last_event_id(svc: &Services) -> Result<i64, ServiceError> {
    Ok(svc
        .db
        .read(async |mut c| events::last_event_id(&mut c).await)
        .await?)
}

/// Events after `after`, oldest first, at most `limit`.
pub async fn events_after(
    svc: &Services,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| events::events_after(&mut c, after, limit).await)
        .await?)
}

/// How much of an event a caller receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAccess {
    /// The whole event, with the stored row it carries (admins and analysts).
    Whole,
    /// Its id, type, coupon, entity id, time and counts, never a stored row (storefront
    /// and public callers).
    Summary,
}

/// Whether callers of `role` see every event whole (admins and analysts).
pub fn sees_whole(role: Role) -> bool {
    !matches!(role, Role::Storefront | Role::Public)
}

/// The payload fields a summary keeps: counts, nothing that names or describes anything.
const SUMMARY_FIELDS: &[&str] = &[
    "redemption_count",
    "reserved_count",
    "redeemed",
    "cap",
    "percent",
];

/// An event's payload as `access` shows it.
pub fn shaped_payload(event: &StoredEvent, access: EventAccess) -> serde_json::Value {
    match access {
        EventAccess::Whole => event.payload.clone(),
        EventAccess::Summary => serde_json::Value::Object(
            SUMMARY_FIELDS
                .iter()
                .filter_map(|f| {
                    let v = event.payload.get(*f)?;
                    v.is_number().then(|| ((*f).to_owned(), v.clone()))
                })
                .collect(),
        ),
    }
}

/// Of `events`, those a caller of `role` may receive, with how much of each: the policy
/// validation follows ([`checkout::outsiders_may_know`]). Storefront and public callers
/// get only events of coupons they could look up by code now (active and started; not
/// rule events, not deleted coupons, not payment events), as summaries; admins and analysts get everything.
pub async fn visible(
    svc: &Services,
    role: Role,
    events: Vec<StoredEvent>,
) -> Result<Vec<(StoredEvent, EventAccess)>, ServiceError> {
    if sees_whole(role) {
        return Ok(events
            .into_iter()
            .map(|e| (e, EventAccess::Whole))
            .collect());
    }
    let mut ids: Vec<CouponId> = events
        .iter()
        .filter_map(|e| e.coupon_id)
        .map(CouponId)
        .collect();
    ids.sort_unstable_by_key(|id| id.0);
    ids.dedup();
    let now = Utc::now();
    let known: HashSet<i64> = coupons::coupons_by_ids(svc, &ids)
        .await?
        .iter()
        .filter(|c| checkout::outsiders_may_know(c, now))
        .map(|c| c.id.0)
        .collect();
    Ok(events
        .into_iter()
        .filter(|e| EventType::parse(&e.event_type).is_some_and(EventType::outsiders_may_see))
        .filter(|e| e.coupon_id.is_some_and(|id| known.contains(&id)))
        .map(|e| (e, EventAccess::Summary))
        .collect())
}
