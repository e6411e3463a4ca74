//! The one error type the service layer returns, and the only one the GraphQL layer maps.

use coupons_domain::Invalid;

use crate::storage::StorageError;

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is wrong; every problem is listed with its field. Nothing was written.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The coupon named by the input does not exist.
    #[error("coupon not found")]
    CouponNotFound,
    /// The coupon has been used and cannot be deleted (archive it instead).
    #[error("coupon has redemptions; archive it instead")]
    CouponHasRedemptions,
    /// A storage fault: logged in full, reported to callers as an internal error.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
