//! The one error type the service layer returns, and the only one the GraphQL layer maps.

use coupons_domain::{FieldError, Invalid};

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
    /// The coupon changed since the version the caller named (`If-Match`): nothing was
    /// written; read it again.
    #[error("the coupon changed since it was read; read it again")]
    Stale,
    /// Too many failed code checks by this caller: refused until the lockout ends.
    #[error("throttled for {} s", .0.retry_after_secs)]
    Throttled(super::limiter::Throttled),
    /// The caller's key is limited to channels, and the call names another or none.
    #[error("the API key may not be used for this channel")]
    ChannelNotAllowed,
    /// A storage fault: logged in full, reported to callers as an internal error.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e.into())
    }
}
