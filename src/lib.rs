//! The coupon service.
pub mod storage;
