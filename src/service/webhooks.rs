//! Webhook endpoints and their deliveries: create, change, delete and list endpoints;
//! read deliveries and attempts; put a delivery back in line.

use chrono::Utc;

use super::{Caller, ServiceError, Services};
use crate::storage::{
    DeliveryFilter, EndpointChange, NewEndpoint, StoredAttempt, StoredDelivery, StoredEndpoint,
    StoredEvent,
};

/// Creates an endpoint.
pub async fn create_endpoint(
    svc: &Services,
    caller: &Caller,
    new: &NewEndpoint,
) -> Result<StoredEndpoint, ServiceError> {
    Ok(svc
        .db
        .insert_webhook_endpoint(new, &caller.actor(), Utc::now())
        .await?)
}

/// Changes an endpoint; `None` when there is no such endpoint.
pub async fn update_endpoint(
    svc: &Services,
    caller: &Caller,
    id: i64,
    change: &EndpointChange,
) -> Result<Option<StoredEndpoint>, ServiceError> {
    Ok(svc
        .db
        .update_webhook_endpoint(id, change, &caller.actor(), Utc::now())
        .await?)
}

/// Deletes an endpoint with its deliveries; `None` when there is no such endpoint.
pub async fn delete_endpoint(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<Option<StoredEndpoint>, ServiceError> {
    Ok(svc
        .db
        .delete_webhook_endpoint(id, &caller.actor(), Utc::now())
        .await?)
}

/// Puts a delivery back in line and wakes the delivery worker; returns the delivery
/// with its event, `None` when there is no such delivery.
pub async fn redeliver(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<Option<(StoredDelivery, Option<StoredEvent>)>, ServiceError> {
    let Some(delivery) = svc
        .db
        .redeliver_webhook(id, &caller.actor(), Utc::now())
        .await?
    else {
        return Ok(None);
    };
    let event = svc.db.event(delivery.event_id).await?;
    svc.events.wake();
    Ok(Some((delivery, event)))
}

/// Endpoints in id order, after `after`.
pub async fn list_endpoints(
    svc: &Services,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredEndpoint>, ServiceError> {
    Ok(svc.db.webhook_endpoints(after, limit).await?)
}

/// Deliveries matching `filter`, newest first, with ids below `before`.
pub async fn list_deliveries(
    svc: &Services,
    filter: &DeliveryFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(StoredDelivery, StoredEvent)>, ServiceError> {
    Ok(svc.db.webhook_deliveries(filter, before, limit).await?)
}

/// A delivery's attempts, oldest first.
pub async fn attempts(
    svc: &Services,
    delivery_id: i64,
) -> Result<Vec<StoredAttempt>, ServiceError> {
    Ok(svc.db.webhook_attempts(delivery_id).await?)
}
