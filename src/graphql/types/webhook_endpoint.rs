//! `WebhookEndpoint`: where committed events are POSTed.

use std::sync::Arc;

use async_graphql::{ID, Object};

use super::CouponEventType;
use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::StoredEndpoint;

/// Where events are POSTed.
#[derive(Clone)]
pub struct WebhookEndpoint(pub Arc<StoredEndpoint>);

/// Where events are POSTed, signed with the endpoint's secret. See the README for the
/// request headers and how to check the signature.
#[Object]
impl WebhookEndpoint {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        global_id(Kind::WebhookEndpoint, self.0.id)
    }

    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The event types it receives; empty for every type.
    async fn event_types(&self) -> Vec<CouponEventType> {
        self.0.types().into_iter().map(Into::into).collect()
    }

    /// Only this coupon's events, if set.
    async fn coupon_id(&self) -> Option<ID> {
        self.0.coupon_id.map(|id| global_id(Kind::Coupon, id))
    }

    /// Whether deliveries go out. A paused endpoint's deliveries wait for it.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Failed attempts in a row.
    async fn consecutive_failures(&self) -> i64 {
        self.0.failures
    }

    /// While set and in the future, the breaker is open: no attempts go out until
    /// then, and then one trial attempt decides.
    async fn breaker_open_until(&self) -> Option<DateTime> {
        self.0.open_until.map(DateTime)
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}
