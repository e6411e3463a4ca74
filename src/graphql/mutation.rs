//! The root of all changes: the per-area mutation objects of `api/`, merged. Each
//! mutation parses its input, calls one service function, and maps the result into a
//! payload with `userErrors`.

use async_graphql::MergedObject;

use super::api::abuse::AbuseMutation;
use super::api::campaigns::CampaignMutation;
use super::api::cart::CartMutation;
use super::api::checkout::CheckoutMutation;
use super::api::coupons::CouponMutation;
use super::api::jobs::BulkJobMutation;
use super::api::rules::RuleMutation;
use super::api::security::SecurityMutation;
use super::api::webhooks::WebhookMutation;

/// The root of all changes.
#[derive(MergedObject, Default)]
pub struct Mutation(
    CouponMutation,
    CheckoutMutation,
    CartMutation,
    RuleMutation,
    CampaignMutation,
    BulkJobMutation,
    WebhookMutation,
    SecurityMutation,
    AbuseMutation,
);
