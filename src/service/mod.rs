//! Use cases: validation through the domain; each use case opens its transaction
//! (`Db::write`, or `Db::read` for reads) and runs the storage steps it needs inside
//! it. Every function returns [`ServiceError`], which the GraphQL layer maps once.

pub mod abuse;
pub mod api_keys;
pub mod attempts;
pub mod campaigns;
pub mod cart;
pub mod checkout;
pub mod coupons;
mod error;
pub mod events;
pub mod jobs;
pub mod limiter;
pub mod maintenance;
pub mod payments;
pub mod reports;
pub mod rules;
pub mod secrets;
pub mod transfer;
pub mod webhooks;

pub use error::ServiceError;

use crate::storage::Db;
use limiter::Subject;

pub use crate::caller::Caller;

/// What the use cases ask of a caller.
impl Caller {
    /// Whose failed code checks this call counts towards.
    pub fn subjects(&self, customer_key: Option<&str>) -> Vec<Subject> {
        let mut subjects = vec![Subject::Key(self.scope())];
        subjects.extend(self.ip.map(Subject::Ip));
        subjects.extend(customer_key.map(|c| Subject::Customer(c.to_owned())));
        subjects
    }

    /// The caller as the audit log records it.
    pub fn actor(&self) -> crate::storage::Actor {
        crate::storage::Actor {
            key_id: self.key_id,
            role: self.role.as_str().to_owned(),
            name: self.name.clone(),
            ip: self.ip.map(|ip| ip.to_string()),
        }
    }

    /// Refuses an order on a channel this key may not use.
    pub fn check_channel(&self, channel: Option<&str>) -> Result<(), ServiceError> {
        if self.channels.is_empty() || channel.is_some_and(|c| self.channels.iter().any(|k| k == c))
        {
            Ok(())
        } else {
            Err(ServiceError::ChannelNotAllowed)
        }
    }
}

/// What the use cases need: the database and the settings that shape their results.
#[derive(Clone)]
pub struct Services {
    /// The database.
    pub db: Db,
    /// What a coupon created without some fields gets.
    pub coupon_defaults: coupons::CouponDefaults,
    /// Checkout settings.
    pub checkout: checkout::CheckoutSettings,
    /// Validation attempts not yet written.
    pub attempts: attempts::AttemptCounter,
    /// The eligibility rules in force.
    pub rules: std::sync::Arc<crate::rules::Rules>,
    /// Failed code checks per key, address and customer.
    pub limiter: limiter::Limiter,
    /// Committed events, for subscribers.
    pub events: crate::events::EventBus,
    /// Wakes this instance's bulk-job worker.
    pub jobs: crate::jobs::JobWaker,
    /// The API keys this instance read lately (cleared by every key change).
    pub keys: std::sync::Arc<crate::cache::KeyCache>,
    /// Abuse detection's settings and the failed checks not yet written.
    pub abuse: std::sync::Arc<abuse::AbuseWatch>,
    /// The coupon terms this instance decoded lately, by version.
    pub terms: std::sync::Arc<crate::cache::TermsCache>,
    /// What the operator watches (`/metrics`).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Seals the secrets stored in the database.
    pub sealer: std::sync::Arc<crate::seal::Sealer>,
}
