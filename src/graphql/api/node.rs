//! `node(id)`: any object by its global ID.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use coupons_domain::CouponId;

use crate::graphql::error::ApiError;
use crate::graphql::guard::{READERS, RoleGuard};
use crate::graphql::services;
use crate::graphql::types::{BulkJob, Campaign, Coupon, CouponCode, Node, Redemption};
use crate::ids::{self, Kind};
use crate::service::{campaigns, checkout, coupons, jobs};

/// Reads by global ID.
#[derive(Default)]
pub struct NodeQuery;

/// Reads by global ID.
#[Object]
impl NodeQuery {
    /// Any object by its global ID.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global ID.")] id: ID,
    ) -> Result<Option<Node>, ApiError> {
        let svc = services(ctx)?;
        Ok(match ids::decode_any(&id) {
            Some((Kind::Coupon, n)) => coupons::coupon(svc, CouponId(n))
                .await?
                .map(|c| Node::Coupon(Coupon(c))),
            Some((Kind::CouponCode, n)) => coupons::code(svc, n)
                .await?
                .map(|c| Node::CouponCode(CouponCode(c))),
            Some((Kind::Redemption, n)) => checkout::redemption(svc, n)
                .await?
                .map(|r| Node::Redemption(Redemption(r))),
            Some((Kind::Campaign, n)) => campaigns::find_campaign(svc, n)
                .await?
                .map(|c| Node::Campaign(Campaign(Arc::new(c)))),
            Some((Kind::BulkJob, n)) => jobs::find_job(svc, n)
                .await?
                .map(|j| Node::BulkJob(BulkJob(Arc::new(j)))),
            Some((
                Kind::ApiKey
                | Kind::AuditEntry
                | Kind::WebhookEndpoint
                | Kind::WebhookDelivery
                | Kind::AbuseSignal,
                _,
            ))
            | None => None,
        })
    }
}
