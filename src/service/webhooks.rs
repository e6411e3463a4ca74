//! Webhook endpoints and their deliveries: create, change, delete and list endpoints;
//! read deliveries and attempts; put a delivery back in line; fan newly committed
//! events out to the endpoints' deliveries (for the delivery worker).

use chrono::{DateTime, Utc};

use coupons_domain::campaign::description;
use coupons_domain::{Collector, CouponId, Field, FieldError, Problem};

use super::{Caller, ServiceError, Services};
use crate::seal::WEBHOOK_SECRET;
use crate::storage::webhooks as steps;
use crate::storage::{
    Db, DeliveryFilter, EndpointChange, EventType, FanOut, NewEndpoint, StorageError,
    StoredAttempt, StoredDelivery, StoredEndpoint, StoredEvent, events,
};

/// Creates an endpoint.
pub async fn create_endpoint(
    svc: &Services,
    caller: &Caller,
    new: &NewEndpoint,
) -> Result<StoredEndpoint, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    Ok(svc
        .db
        .write(async move |mut c| steps::insert_webhook_endpoint(&mut c, new, actor, now).await)
        .await?)
}

/// Changes an endpoint; `None` when there is no such endpoint.
pub async fn update_endpoint(
    svc: &Services,
    caller: &Caller,
    id: i64,
    change: &EndpointChange,
) -> Result<Option<StoredEndpoint>, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    Ok(svc
        .db
        .write(async move |mut c| {
            steps::update_webhook_endpoint(&mut c, id, change, actor, now).await
        })
        .await?)
}

/// Deletes an endpoint with its deliveries; `None` when there is no such endpoint.
pub async fn delete_endpoint(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<Option<StoredEndpoint>, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    Ok(svc
        .db
        .write(async move |mut c| steps::delete_webhook_endpoint(&mut c, id, actor, now).await)
        .await?)
}

/// Puts a delivery back in line and wakes the delivery worker; returns the delivery
/// with its event, `None` when there is no such delivery.
pub async fn redeliver(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<Option<(StoredDelivery, Option<StoredEvent>)>, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    let Some(delivery) = svc
        .db
        .write(async move |mut c| steps::redeliver_webhook(&mut c, id, actor, now).await)
        .await?
    else {
        return Ok(None);
    };
    let event_id = delivery.event_id;
    let event = svc
        .db
        .read(async move |mut c| events::event(&mut c, event_id).await)
        .await?;
    svc.events.wake();
    Ok(Some((delivery, event)))
}

/// Endpoints in id order, after `after`.
pub async fn list_endpoints(
    svc: &Services,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredEndpoint>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::webhook_endpoints(&mut c, after, limit).await)
        .await?)
}

/// Deliveries matching `filter`, newest first, with ids below `before`.
pub async fn list_deliveries(
    svc: &Services,
    filter: &DeliveryFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(StoredDelivery, StoredEvent)>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::webhook_deliveries(&mut c, filter, before, limit).await)
        .await?)
}

/// A delivery's attempts, oldest first.
pub async fn attempts(
    svc: &Services,
    delivery_id: i64,
) -> Result<Vec<StoredAttempt>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::webhook_attempts(&mut c, delivery_id).await)
        .await?)
}

/// Writes the deliveries of every event committed after each endpoint's cursor and
/// moves the cursors, one transaction per endpoint that is behind. Paused endpoints get
/// theirs too, delivered when resumed.
pub async fn fan_out(db: &Db, now: DateTime<Utc>) -> Result<FanOut, StorageError> {
    let endpoints = db
        .read(async |mut c| steps::endpoint_cursors(&mut c).await)
        .await?;
    let mut done = FanOut {
        endpoints: endpoints.len(),
        deliveries: 0,
    };
    if endpoints.is_empty() {
        return Ok(done);
    }
    let newest = db
        .read(async |mut c| events::last_event_id(&mut c).await)
        .await?;
    for (id, cursor) in endpoints {
        if cursor < newest {
            done.deliveries += db
                .write(async move |mut c| steps::fan_out_endpoint(&mut c, id, now).await)
                .await?;
        }
    }
    Ok(done)
}

/// Longest endpoint URL.
const URL_MAX: usize = 2_048;
/// Longest endpoint description.
const DESCRIPTION_MAX: usize = 500;

/// An endpoint as an admin describes it: on creation the URL at least, on update what
/// to change (`None` leaves a field as it is).
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    /// Where to POST events.
    pub url: Option<String>,
    /// What it is for (empty text clears it).
    pub description: Option<String>,
    /// The event types it receives (empty for every type).
    pub event_types: Option<Vec<EventType>>,
    /// Only this coupon's events: its row id, or `None` when the ID given names no
    /// coupon.
    pub coupon: Option<Option<i64>>,
    /// Every coupon's events again (excludes `coupon`).
    pub all_coupons: bool,
    /// Pause (false) or resume (true).
    pub active: Option<bool>,
    /// Replace the signing secret.
    pub rotate_secret: bool,
}

/// Checks an URL: absolute, `http` or `https`, with a host.
fn check_url(url: &str) -> Result<String, FieldError> {
    let url = url.trim();
    let bad = |message: String| FieldError::new(Field::Url, Problem::InvalidUrl(message));
    if url.len() > URL_MAX {
        return Err(bad(format!("the URL is longer than {URL_MAX} characters")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the URL must start with http:// or https://".into()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host".into()));
    }
    Ok(url.to_owned())
}

/// Checks every field given, collecting every problem, into the change to store (with
/// a fresh secret when one is asked for).
async fn check_endpoint(
    svc: &Services,
    input: EndpointInput,
) -> Result<EndpointChange, ServiceError> {
    let mut e = Collector::default();
    let url = input.url.as_deref().and_then(|u| e.take(check_url(u)));
    let description = input
        .description
        .as_deref()
        .and_then(|d| e.take(description(d, DESCRIPTION_MAX, Field::Description)));
    let coupon_id = match (input.coupon, input.all_coupons) {
        (Some(_), true) => {
            e.push(FieldError::new(
                Field::AllCoupons,
                Problem::Exclusive("give couponId or allCoupons, not both"),
            ));
            None
        }
        (Some(id), false) => {
            let found = match id {
                Some(id) => super::coupons::coupon(svc, CouponId(id))
                    .await?
                    .map(|c| c.id.0),
                None => None,
            };
            let missing = FieldError::new(Field::CouponId, Problem::NotFound("coupon"));
            e.take(found.ok_or(missing)).map(Some)
        }
        (None, true) => Some(None),
        (None, false) => None,
    };
    e.finish()?;
    let event_types = input.event_types.map(|types| {
        let mut unique: Vec<EventType> = Vec::new();
        for t in types {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        unique
    });
    Ok(EndpointChange {
        url,
        description,
        event_types,
        coupon_id,
        active: input.active,
        secret: input.rotate_secret.then(new_secret),
    })
}

/// Registers an endpoint from an admin's input, checked first; returns it with its
/// signing secret.
pub async fn register_endpoint(
    svc: &Services,
    caller: &Caller,
    input: EndpointInput,
) -> Result<(StoredEndpoint, String), ServiceError> {
    let change = check_endpoint(svc, input).await?;
    let secret = new_secret();
    let new = NewEndpoint {
        url: change.url.unwrap_or_default(),
        description: change.description.flatten(),
        event_types: change.event_types.unwrap_or_default(),
        coupon_id: change.coupon_id.flatten(),
        secret: svc.sealer.seal(WEBHOOK_SECRET, &secret),
    };
    let stored = create_endpoint(svc, caller, &new).await?;
    Ok((stored, secret))
}

/// Changes an endpoint from an admin's input, checked first; returns it with its new
/// secret when one was asked for, `None` when there is no such endpoint.
pub async fn change_endpoint(
    svc: &Services,
    caller: &Caller,
    id: i64,
    input: EndpointInput,
) -> Result<Option<(StoredEndpoint, Option<String>)>, ServiceError> {
    let mut change = check_endpoint(svc, input).await?;
    let secret = change.secret.take();
    change.secret = secret.as_ref().map(|s| svc.sealer.seal(WEBHOOK_SECRET, s));
    let changed = update_endpoint(svc, caller, id, &change).await?;
    Ok(changed.map(|e| (e, secret)))
}

/// A new signing secret: `whsec_` and 32 random bytes, hex. Endpoints get one when they
/// are created and each time their secret is rotated.
pub fn new_secret() -> String {
    use rand::Rng as _;
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_long() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
    }
}
