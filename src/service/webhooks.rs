//! Webhook endpoints and their deliveries: create, change, delete and list endpoints;
//! read deliveries and attempts; put a delivery back in line; fan newly committed
//! events out to the endpoints' deliveries (for the delivery worker).

use chrono::{DateTime, Utc};

use super::{Caller, ServiceError, Services};
use crate::storage::webhooks as steps;
use crate::storage::{
    Db, DeliveryFilter, EndpointChange, FanOut, NewEndpoint, StorageError, StoredAttempt,
    StoredDelivery, StoredEndpoint, StoredEvent, events,
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
