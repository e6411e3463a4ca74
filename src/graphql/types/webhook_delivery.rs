//! `WebhookDelivery`: one event for one endpoint, with its attempts.

use crate::service::events::EventAccess;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};

use super::CouponEvent;
use crate::graphql::error::ApiError;
use crate::graphql::scalars::DateTime;
use crate::graphql::{global_id, services};
use crate::ids::Kind;
use crate::service::webhooks;
use crate::storage::{DeliveryStatus, StoredAttempt, StoredDelivery, StoredEvent};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt (or for its endpoint to be resumed).
    Pending,
    /// The endpoint answered with a 2xx status.
    Delivered,
    /// Every attempt failed; `redeliverWebhook` tries again.
    Failed,
}

/// One event for one endpoint.
#[derive(Clone)]
pub struct WebhookDelivery {
    /// The delivery row.
    pub delivery: Arc<StoredDelivery>,
    /// The event it carries.
    pub event: Arc<StoredEvent>,
}

/// One event for one endpoint, with its attempts.
#[Object]
impl WebhookDelivery {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        global_id(Kind::WebhookDelivery, self.delivery.id)
    }

    /// The endpoint's ID.
    async fn endpoint_id(&self) -> ID {
        global_id(Kind::WebhookEndpoint, self.delivery.endpoint_id)
    }

    /// The event delivered; its `id` is sent in `Coupons-Event-Id`.
    async fn event(&self) -> CouponEvent {
        CouponEvent(self.event.clone(), EventAccess::Whole)
    }

    /// Where it stands.
    async fn status(&self) -> Option<WebhookDeliveryStatus> {
        DeliveryStatus::parse(&self.delivery.status).map(Into::into)
    }

    /// Attempts since it was written or last redelivered by hand.
    async fn attempts(&self) -> i64 {
        self.delivery.attempts
    }

    /// When it is next attempted, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        (self.delivery.status == DeliveryStatus::Pending.as_str())
            .then_some(DateTime(self.delivery.next_attempt_at))
    }

    /// When it was last attempted.
    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.delivery.last_attempt_at.map(DateTime)
    }

    /// The HTTP status of the last attempt, if the endpoint answered.
    async fn last_status_code(&self) -> Option<i64> {
        self.delivery.last_status_code
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.delivery.last_error.as_deref()
    }

    /// When the endpoint accepted it.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.delivery.delivered_at.map(DateTime)
    }

    /// When it was written.
    async fn created_at(&self) -> DateTime {
        DateTime(self.delivery.created_at)
    }

    /// Every attempt, oldest first, redeliveries included.
    async fn attempt_log(&self, ctx: &Context<'_>) -> Result<Vec<WebhookAttempt>, ApiError> {
        Ok(webhooks::attempts(services(ctx)?, self.delivery.id)
            .await?
            .into_iter()
            .map(WebhookAttempt::from)
            .collect())
    }
}

/// One POST of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// When it was sent.
    pub started_at: DateTime,
    /// Milliseconds until the answer or the failure.
    pub duration_ms: i64,
    /// The HTTP status, if the endpoint answered.
    pub status_code: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the endpoint accepted it (2xx).
    pub succeeded: bool,
}

impl From<StoredAttempt> for WebhookAttempt {
    fn from(a: StoredAttempt) -> Self {
        Self {
            started_at: DateTime(a.started_at),
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
            succeeded: a.succeeded,
        }
    }
}
