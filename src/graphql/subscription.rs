//! The root of all subscriptions: bulk-job progress and committed coupon events.

use async_graphql::MergedSubscription;

use super::api::events::EventSubscription;
use super::api::jobs::BulkJobSubscription;

/// The root of all subscriptions.
#[derive(MergedSubscription, Default)]
pub struct Subscription(BulkJobSubscription, EventSubscription);
