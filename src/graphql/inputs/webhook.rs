//! Inputs and payloads of the webhook mutations, and the delivery log's filter.

use async_graphql::{ID, InputObject, SimpleObject};

use crate::graphql::error::UserError;
use crate::graphql::types::{
    CouponEventType, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint,
};

/// Input of `createWebhookEndpoint`.
#[derive(Debug, Clone, InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to POST events: an absolute `http` or `https` URL.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// The event types to send (every type when omitted or empty).
    pub event_types: Option<Vec<CouponEventType>>,
    /// Only this coupon's events.
    pub coupon_id: Option<ID>,
}

/// Result of `createWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint; it receives events committed from now on.
    pub webhook_endpoint: Option<WebhookEndpoint>,
    /// The signing secret. Shown only in this response: store it now.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Input of `updateWebhookEndpoint`: fields left out are unchanged.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint's ID.
    pub id: ID,
    /// New URL.
    pub url: Option<String>,
    /// New description (empty text clears it).
    pub description: Option<String>,
    /// New event types (empty for every type).
    pub event_types: Option<Vec<CouponEventType>>,
    /// New coupon filter.
    pub coupon_id: Option<ID>,
    /// Send events to every coupon's events again.
    #[graphql(default)]
    pub all_coupons: bool,
    /// Pause (false) or resume (true). Resuming closes the breaker; the deliveries
    /// that waited go out.
    pub active: Option<bool>,
    /// Replace the signing secret; the new one is in the response.
    #[graphql(default)]
    pub rotate_secret: bool,
}

/// Result of `updateWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct UpdateWebhookEndpointPayload {
    /// The endpoint as changed.
    pub webhook_endpoint: Option<WebhookEndpoint>,
    /// The new signing secret, when `rotateSecret` was set. Shown only here.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Input of `deleteWebhookEndpoint`.
#[derive(Debug, Clone, InputObject)]
pub struct DeleteWebhookEndpointInput {
    /// The endpoint's ID.
    pub id: ID,
}

/// Result of `deleteWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    /// The deleted endpoint's ID.
    pub deleted_id: Option<ID>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Input of `redeliverWebhook`.
#[derive(Debug, Clone, InputObject)]
pub struct RedeliverWebhookInput {
    /// The delivery to send again.
    pub delivery_id: ID,
}

/// Result of `redeliverWebhook`.
#[derive(SimpleObject)]
pub struct RedeliverWebhookPayload {
    /// The delivery, pending again with a fresh set of attempts.
    pub webhook_delivery: Option<WebhookDelivery>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct WebhookDeliveryFilter {
    /// Only this endpoint's.
    pub endpoint_id: Option<ID>,
    /// Only in this state.
    pub status: Option<WebhookDeliveryStatus>,
    /// Only of this event (its `id`, as sent in `Coupons-Event-Id`).
    pub event_id: Option<ID>,
}
