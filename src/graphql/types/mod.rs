//! Output types, one object per file. Each wraps a domain or storage value; resolvers
//! only format, and read what a list repeats through the loaders.

mod abuse_signal;
mod api_key;
mod audit_entry;
mod balance;
mod bulk_job;
mod campaign;
mod cart;
mod code;
mod coupon;
mod coupon_event;
mod discount;
mod money;
mod node;
mod redemption;
mod report;
mod rule;
mod rule_check;
mod rule_version;
mod simulation;
mod target;
mod validation;
mod viewer;
mod webhook_delivery;
mod webhook_endpoint;

pub use abuse_signal::{AbuseAction, AbuseSignal, AbuseSignalKind, AbuseSignalStatus};
pub use api_key::{ApiKey, ApiKeyRole};
pub use audit_entry::{AuditAction, AuditEntityType, AuditEntry};
pub use balance::{BalanceAssertions, PaymentMismatch, PaymentMismatchCode, PaymentProvider};
pub use bulk_job::{BulkJob, BulkJobKind, BulkJobStatus, CodePattern};
pub use campaign::Campaign;
pub use cart::{CartCodeDiscount, CartCodeRejection, CartValidation};
pub use code::CouponCode;
pub use coupon::{
    Coupon, CouponLifecycleStatus, CouponStatus, DiscountClass, ReversalPolicy, RuleBinding,
};
pub use coupon_event::{CouponEvent, CouponEventType};
pub use discount::{Discount, DiscountType};
pub use money::{Money, money};
pub use node::Node;
pub use redemption::{Redemption, RedemptionStatus};
pub use report::{
    ChannelFigures, OutcomeCount, RedemptionFigures, Report, ReportBucket, ReportPoint,
};
pub use rule::{Rule, RuleParameter, RuleSource};
pub use rule_check::{RuleCheck, RuleSourceError};
pub use rule_version::RuleVersion;
pub use simulation::{RuleSimulation, RuleSimulationResult, RuleVerdictKind};
pub use target::{BuyXGetY, LineDiscount, LineSelection, Target, TargetKind};
pub use validation::{CouponRejection, CouponValidation, RejectionCode};
pub use viewer::Viewer;
pub use webhook_delivery::{WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus};
pub use webhook_endpoint::WebhookEndpoint;
