//! What eligibility rules see and answer, independent of the script engine.
//!
//! A rule sees [`RuleFacts`] (never the database) and answers a [`RuleVerdict`]. The
//! engine that runs scripts implements [`RuleEvaluator`]; checkout calls it inside the
//! redemption transaction with usage counted there, so rules that read usage are exact.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coupon::RuleBinding;
use crate::order::Order;

/// One line of the order, as rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFacts {
    /// Product identifier.
    pub sku: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Quantity.
    pub quantity: i64,
    /// Unit price, minor units.
    pub unit_price: i64,
}

/// Everything a rule may read. Amounts are minor units of `order_currency`; instants are
/// Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFacts {
    /// Coupon id.
    pub coupon_id: i64,
    /// Coupon name.
    pub coupon_name: String,
    /// The coupon's metadata object.
    pub coupon_metadata: Value,
    /// The code used (canonical).
    pub code: String,
    /// Order id.
    pub order_id: String,
    /// Order currency (ISO 4217).
    pub order_currency: String,
    /// Order subtotal.
    pub subtotal: i64,
    /// Lines.
    pub items: Vec<ItemFacts>,
    /// Sales channel.
    pub channel: Option<String>,
    /// Customer id.
    pub customer_id: Option<String>,
    /// Domain of the customer's e-mail.
    pub email_domain: Option<String>,
    /// Customer tags, as the storefront sent them.
    pub customer_tags: Vec<String>,
    /// Whether this is the customer's first order, as the storefront said.
    pub first_order: bool,
    /// Uses of the coupon (redeemed and live reservations), all codes.
    pub coupon_uses: i64,
    /// Uses of this code.
    pub code_uses: i64,
    /// Uses by this customer.
    pub customer_uses: i64,
    /// When this customer's uses happened (most recent first, at most 1,000).
    pub customer_use_times: Vec<i64>,
    /// Discount granted by the coupon so far (less refunds), in the order's currency.
    pub discount_total: i64,
    /// The discount this order would get before rules.
    pub discount: i64,
    /// Now.
    pub now: i64,
}

impl RuleFacts {
    /// The facts an order gives, with no coupon and no usage yet (for drafts, and as the
    /// base the storage layer fills in). `now` is in Unix seconds.
    pub fn for_order(order: &Order, now: i64) -> Self {
        Self {
            coupon_id: 0,
            coupon_name: String::new(),
            coupon_metadata: Value::Object(serde_json::Map::new()),
            code: String::new(),
            order_id: order.id.clone(),
            order_currency: order.currency.code().to_owned(),
            subtotal: order.subtotal.minor,
            items: order
                .items
                .iter()
                .map(|i| ItemFacts {
                    sku: i.sku.clone(),
                    categories: i.categories.clone(),
                    quantity: i64::from(i.quantity),
                    unit_price: i.unit_price.minor,
                })
                .collect(),
            channel: order.channel.clone(),
            customer_id: order.customer.id.clone(),
            email_domain: order.customer.email_domain().map(str::to_owned),
            customer_tags: order.customer.tags.clone(),
            first_order: order.customer.first_order,
            coupon_uses: 0,
            code_uses: 0,
            customer_uses: 0,
            customer_use_times: Vec::new(),
            discount_total: 0,
            discount: 0,
            now,
        }
    }
}

/// A rule's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RuleVerdict {
    /// The coupon may apply.
    Pass,
    /// The coupon does not apply.
    Reject {
        /// The rule's own stable code.
        code: String,
        /// Explanation for people.
        message: String,
        /// Anything else the rule reports (a JSON object).
        details: Value,
    },
    /// The coupon applies with at most this discount (minor units).
    Cap(i64),
}

/// The result of a coupon's rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RulesOutcome {
    /// Every rule passed; the discount is capped at the smallest cap, if any.
    Pass {
        /// The lowest cap a rule set.
        cap: Option<i64>,
    },
    /// A rule rejected (the first one, in binding order).
    Rejected {
        /// The rule.
        rule: String,
        /// The rule's code.
        code: String,
        /// The rule's message.
        message: String,
    },
    /// A rule failed to run (missing, broken, or over a sandbox limit). Logged in full;
    /// callers see only that the rule failed.
    Failed {
        /// The rule.
        rule: String,
    },
}

/// Runs a coupon's rule bindings against facts.
pub trait RuleEvaluator: Send + Sync {
    /// Evaluates `bindings` in order, stopping at the first rejection or failure.
    fn evaluate(&self, bindings: &[RuleBinding], facts: &RuleFacts) -> RulesOutcome;
}

/// A rule set with no rules: everything passes. For callers that have no engine.
pub struct NoRules;

impl RuleEvaluator for NoRules {
    fn evaluate(&self, bindings: &[RuleBinding], _facts: &RuleFacts) -> RulesOutcome {
        match bindings.first() {
            None => RulesOutcome::Pass { cap: None },
            Some(b) => RulesOutcome::Failed {
                rule: b.name.clone(),
            },
        }
    }
}
