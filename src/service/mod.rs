//! Use cases: validation through the domain, transactions through storage. Every
//! function returns [`ServiceError`], which the GraphQL layer maps once.

pub mod attempts;
pub mod checkout;
pub mod coupons;
mod error;
pub mod maintenance;
pub mod rules;

pub use error::ServiceError;

use crate::storage::Db;

/// What the use cases need: the database and the settings that shape their results.
#[derive(Clone)]
pub struct Services {
    /// The database.
    pub db: Db,
    /// Days until a coupon created without an end expires; `None` for never.
    pub default_expiration_days: Option<u32>,
    /// Checkout settings.
    pub checkout: checkout::CheckoutSettings,
    /// Validation attempts not yet written.
    pub attempts: attempts::AttemptCounter,
    /// The eligibility rules in force.
    pub rules: std::sync::Arc<crate::rules::Rules>,
}
