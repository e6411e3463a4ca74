//! The coupon domain: codes, money, discounts and the coupon lifecycle.
//!
//! This crate is pure. It knows nothing of HTTP, GraphQL, SQL or scripts, and the
//! compiler keeps it that way: its `Cargo.toml` lists none of those crates. Everything
//! here is a value type with its invariants checked at construction, plus the
//! validation vocabulary ([`Invalid`], [`FieldError`], [`Problem`]) that the edges map to
//! their own error formats.

pub mod abuse;
pub mod api_key;
pub mod bulk;
pub mod campaign;
pub mod checkout;
pub mod code;
pub mod coupon;
pub mod decision;
pub mod defaults;
pub mod delivery;
pub mod discount;
pub mod error;
pub mod money;
pub mod order;
pub mod pattern;
pub mod payment;
pub mod priced;
pub mod redemption;
pub mod rules;
pub mod stacking;
pub mod target;

pub use campaign::{CampaignLimits, CampaignUsage, LimitsError};
pub use checkout::{
    CodeTerms, Rejection, RejectionKind, Usage, evaluate, evaluate_in_campaign, evaluate_shaped,
};
pub use code::{CodeError, CouponCode};
pub use coupon::{
    Channels, Coupon, CouponDraft, CouponId, CouponPatch, CouponSpec, CouponStatus, DiscountParts,
    Expiry, LifecycleStatus, Limit, Metadata, ReversalPolicy, RuleBinding, TimeZone, Warning,
    WarningKind, Window, automatic_code,
};
pub use decision::{
    Alone, CartDecision, Found, History, Snapshot, UsageMark, beside_held, decide, decide_alone,
    decide_cart, decide_terms, usage_marks, with_rules,
};
pub use discount::{Discount, MoneyInput, Percentage};
pub use error::{Collector, Field, FieldError, Invalid, Problem};
pub use money::{Currency, Money, MoneyError};
pub use order::{Customer, Fingerprints, LineItem, LineItemDraft, Order, OrderDraft};
pub use pattern::{CodePattern, PatternError};
pub use priced::{CurrencyTerms, MoneyGiven, MoneyList, Prices, PricesDraft};
pub use redemption::{
    CartOutcome, CheckoutOutcome, Redemption, RedemptionStatus, Refund, Refusal, check_redeemable,
    check_releasable, plan_line_refund, plan_refund, plan_refund_minor,
};
pub use rules::{ItemFacts, NoRules, RuleEvaluator, RuleFacts, RuleVerdict, RulesOutcome, Shape};
pub use stacking::{Choice, Held, Offer, Stacked, Stacking, choose, left_beside};
pub use target::{
    BuyXGetY, DiscountClass, Granted, Left, LineSelector, LineShare, Reach, Target, allocate,
};
