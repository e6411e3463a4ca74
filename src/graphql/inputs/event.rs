//! `CouponEventFilter`: which committed events a subscriber receives.

use async_graphql::{ID, InputObject};

use crate::graphql::types::CouponEventType;

/// Which events to receive.
#[derive(Debug, Clone, Default, InputObject)]
pub struct CouponEventFilter {
    /// Only events of this coupon.
    pub coupon_id: Option<ID>,
    /// Only events of coupons in this campaign (as they were when the event was
    /// written).
    pub campaign_id: Option<ID>,
    /// Only these types (all when omitted).
    pub types: Option<Vec<CouponEventType>>,
}
