//! The root of all reads: the per-area query objects of `api/`, merged.

use async_graphql::MergedObject;

use super::api::abuse::AbuseQuery;
use super::api::campaigns::CampaignQuery;
use super::api::cart::CartQuery;
use super::api::checkout::CheckoutQuery;
use super::api::coupons::CouponQuery;
use super::api::jobs::BulkJobQuery;
use super::api::node::NodeQuery;
use super::api::payments::PaymentQuery;
use super::api::reports::ReportQuery;
use super::api::rules::RuleQuery;
use super::api::security::SecurityQuery;
use super::api::webhooks::WebhookQuery;

/// The root of all reads.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    CouponQuery,
    CheckoutQuery,
    CartQuery,
    RuleQuery,
    SecurityQuery,
    CampaignQuery,
    ReportQuery,
    BulkJobQuery,
    WebhookQuery,
    PaymentQuery,
    AbuseQuery,
);
