//! What eligibility rules see and answer, independent of the script engine.
//!
//! A rule sees [`RuleFacts`] (never the database) and answers a [`RuleVerdict`]. The
//! engine that runs scripts implements [`RuleEvaluator`]; checkout calls it inside the
//! redemption transaction with usage counted there, so rules that read usage are exact.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coupon::RuleBinding;
use crate::discount::{Discount, Percentage};
use crate::order::Order;
use crate::target::{BuyXGetY, LineSelector, Target};

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
    /// Shipping price (zero when the order has none).
    pub shipping: i64,
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
    /// Whether this is the customer's first order, as the storefront said (`None`: it
    /// did not say).
    pub first_order: Option<bool>,
    /// Earlier orders of this customer on which a coupon was redeemed here (counted
    /// only for coupons with rules, and only when the order names a customer).
    pub customer_orders: i64,
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
            shipping: order.shipping.minor,
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
            customer_orders: 0,
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
    /// The coupon applies, shaped: on this order it takes off what the shape says
    /// instead of what the coupon defines.
    Shape(Shape),
}

/// What a rule makes of a coupon's discount on one order, instead of what the coupon
/// defines: the part of the order it reaches and, optionally, the percentage taken off
/// it (else the coupon's own discount applies there). The coupon's caps, limits and
/// budgets still apply, and so does a rule's `cap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// The part of the order it reaches.
    pub target: Target,
    /// The percentage off it; `None`: the coupon's own discount.
    pub percent: Option<Percentage>,
}

impl Shape {
    /// The coupon's own discount, on these lines only.
    pub fn lines(skus: Vec<String>) -> Self {
        Self {
            target: Target::Lines(LineSelector {
                skus,
                categories: Vec::new(),
            }),
            percent: None,
        }
    }

    /// The whole shipping price off.
    pub fn free_shipping() -> Self {
        Self {
            target: Target::Shipping,
            percent: Some(Percentage::ALL),
        }
    }

    /// A buy-X-get-Y at `percent` off the units got.
    pub fn buy_x_get_y(offer: BuyXGetY, percent: Percentage) -> Self {
        Self {
            target: Target::BuyXGetY(Box::new(offer)),
            percent: Some(percent),
        }
    }

    /// The shape validated as a coupon's target would be, against the discount it
    /// gives. Why not, for people.
    pub fn check(self) -> Result<Self, String> {
        let discount = self.discount(&Discount::Percentage {
            percent: Percentage::ALL,
            max_discount: None,
        });
        let target = self.target.check(&discount).map_err(|invalid| {
            invalid
                .0
                .iter()
                .map(|e| e.problem.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(Self { target, ..self })
    }

    /// The discount it gives where the coupon gives `own`.
    pub fn discount(&self, own: &Discount) -> Discount {
        match self.percent {
            Some(percent) => Discount::Percentage {
                percent,
                max_discount: None,
            },
            None => *own,
        }
    }

    /// A short name for people and examples: `lines:A,B`, `free_shipping`,
    /// `buy_x_get_y`, `shipping`, `order`.
    pub fn label(&self) -> String {
        match (&self.target, self.percent) {
            (Target::Lines(s), _) => format!("lines:{}", s.skus.join(",")),
            (Target::Shipping, Some(p)) if p == Percentage::ALL => "free_shipping".into(),
            (Target::Shipping, _) => "shipping".into(),
            (Target::BuyXGetY(_), _) => "buy_x_get_y".into(),
            (Target::Order, _) => "order".into(),
        }
    }
}

/// The result of a coupon's rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RulesOutcome {
    /// Every rule passed; the discount is capped at the smallest cap, if any, and
    /// shaped by the first shape a rule gave, if any.
    Pass {
        /// The lowest cap a rule set.
        cap: Option<i64>,
        /// The first shape a rule gave.
        shape: Option<Shape>,
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
            None => RulesOutcome::Pass {
                cap: None,
                shape: None,
            },
            Some(b) => RulesOutcome::Failed {
                rule: b.name.clone(),
            },
        }
    }
}
