//! `Node`: every object with a global ID.

use async_graphql::{ID, Interface};

use super::{BulkJob, Campaign, Coupon, CouponCode, Redemption};

/// An object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global ID."))]
pub enum Node {
    /// A coupon.
    Coupon(Coupon),
    /// A coupon code.
    CouponCode(CouponCode),
    /// A reservation or redemption.
    Redemption(Redemption),
    /// A campaign.
    Campaign(Campaign),
    /// A bulk job.
    BulkJob(BulkJob),
}
