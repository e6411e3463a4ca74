//! `CouponCode`: a customer-facing code of a coupon.

use async_graphql::{Context, ID, Object};
use coupons_domain::CouponId;

use super::Coupon;
use crate::graphql::error::ApiError;
use crate::graphql::global_id;
use crate::graphql::guard::{READERS, RoleGuard};
use crate::graphql::loaders::{self, CouponKey};
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::StoredCode;

/// A customer-facing code of a coupon, stored in canonical form (upper case).
#[derive(Debug, Clone)]
pub struct CouponCode(pub StoredCode);

/// A customer-facing code of a coupon, stored in canonical form (upper case).
#[Object]
impl CouponCode {
    /// Opaque global ID.
    pub async fn id(&self) -> ID {
        global_id(Kind::CouponCode, self.0.id)
    }

    /// The code, canonical: trimmed and upper case. Lookups ignore case.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Most uses of this code (1 for single-use); null for no own cap.
    async fn usage_limit(&self) -> Option<i64> {
        self.0.usage_limit
    }

    /// Uses counted so far.
    async fn redemption_count(&self) -> i64 {
        self.0.redemption_count
    }

    /// Whether the code can be used.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// The bulk job that generated it; null for codes added otherwise.
    async fn batch_id(&self) -> Option<ID> {
        self.0.batch_id.map(|id| global_id(Kind::BulkJob, id))
    }

    /// When it was added.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The coupon it belongs to.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn coupon(&self, ctx: &Context<'_>) -> Result<Option<Coupon>, ApiError> {
        loaders::load(ctx, CouponKey(CouponId(self.0.coupon_id))).await
    }
}
