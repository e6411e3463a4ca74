//! A rule's examples: the facts they start from, laying an example's sections over
//! them, running each example and comparing its verdict with what it expects.

use coupons_domain::{RuleFacts, RuleVerdict};
use rhai::{Array, Dynamic, Map};

use super::{CompiledRule, RuleError, Rules, facts_to_dynamic};

/// One example of a rule, run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleResult {
    /// The example's name.
    pub name: String,
    /// `None` when it behaved as expected, else what went wrong.
    pub failure: Option<String>,
}

impl Rules {
    /// Runs a rule's examples.
    pub fn run_examples(&self, rule: &CompiledRule) -> Result<Vec<ExampleResult>, RuleError> {
        if !rule.has_examples {
            return Ok(Vec::new());
        }
        let list = self
            .call(&rule.ast, "examples", ())
            .map_err(|e| RuleError::new(&rule.name, format!("fn examples: {e}"), e.position()))?;
        let list = list.try_cast::<Array>().ok_or_else(|| {
            RuleError::new(
                &rule.name,
                "fn examples must return an array of maps",
                rhai::Position::NONE,
            )
        })?;
        let mut results = Vec::with_capacity(list.len());
        for (i, example) in list.into_iter().enumerate() {
            let Some(example) = example.try_cast::<Map>() else {
                return Err(RuleError::new(
                    &rule.name,
                    format!("example {i} is not a map"),
                    rhai::Position::NONE,
                ));
            };
            let name = example
                .get("name")
                .and_then(|n| n.clone().into_string().ok())
                .unwrap_or_else(|| format!("example {i}"));
            let params: serde_json::Value = example
                .get("params")
                .and_then(|p| rhai::serde::from_dynamic(p).ok())
                .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
            let expect = example
                .get("expect")
                .and_then(|e| e.clone().into_string().ok())
                .unwrap_or_default();
            let failure = match Self::check_params(rule, &params) {
                Err(m) => Some(format!("invalid params: {m}")),
                Ok(()) => {
                    let ctx = example_context(&example);
                    match self.run(rule, ctx, &params) {
                        Err(e) => Some(format!("failed: {e}")),
                        Ok(verdict) => expectation_failure(&expect, &verdict),
                    }
                }
            };
            results.push(ExampleResult { name, failure });
        }
        Ok(results)
    }
}

/// Why `verdict` does not meet `expect` (`pass`, `reject`, `reject:CODE` or `cap:N`),
/// or `None` when it does.
fn expectation_failure(expect: &str, verdict: &RuleVerdict) -> Option<String> {
    let got = match verdict {
        RuleVerdict::Pass => "pass".to_owned(),
        RuleVerdict::Reject { code, .. } => format!("reject:{code}"),
        RuleVerdict::Cap(n) => format!("cap:{n}"),
        RuleVerdict::Shape(shape) => format!("shape:{}", shape.label()),
    };
    let matches = match expect {
        "pass" => got == "pass",
        "reject" => got.starts_with("reject:"),
        other => got == other,
    };
    (!matches).then(|| format!("expected {expect}, got {got}"))
}

/// The facts examples start from: a USD 100.00 web order of six items by a returning
/// customer with the tag `vip`, on Thursday 2026-01-01 00:00 UTC.
pub fn example_facts() -> RuleFacts {
    RuleFacts {
        coupon_id: 1,
        coupon_name: "Example".into(),
        coupon_metadata: serde_json::json!({}),
        code: "EXAMPLE".into(),
        order_id: "example-1".into(),
        order_currency: "USD".into(),
        subtotal: 10_000,
        shipping: 500,
        items: vec![
            coupons_domain::ItemFacts {
                sku: "SKU-1".into(),
                categories: vec!["shoes".into()],
                quantity: 2,
                unit_price: 3_000,
            },
            coupons_domain::ItemFacts {
                sku: "SKU-2".into(),
                categories: vec!["socks".into()],
                quantity: 4,
                unit_price: 1_000,
            },
        ],
        channel: Some("web".into()),
        customer_id: Some("cust-1".into()),
        email_domain: Some("example.com".into()),
        customer_tags: vec!["vip".into()],
        first_order: None,
        customer_orders: 2,
        coupon_uses: 10,
        code_uses: 1,
        customer_uses: 0,
        customer_use_times: Vec::new(),
        discount_total: 5_000,
        discount: 1_000,
        now: 1_767_225_600,
    }
}

/// The example facts with an example's sections laid over them: `coupon`, `order`,
/// `customer` and `usage` maps replace the keys they name; `code`, `discount` and `now`
/// replace the value.
fn example_context(example: &Map) -> Dynamic {
    let base = facts_to_dynamic(&example_facts());
    let Some(mut ctx) = base.try_cast::<Map>() else {
        return Dynamic::UNIT;
    };
    for section in ["coupon", "order", "customer", "usage"] {
        let Some(over) = example
            .get(section)
            .and_then(|v| v.clone().try_cast::<Map>())
        else {
            continue;
        };
        if let Some(target) = ctx
            .get_mut(section)
            .and_then(|v| v.write_lock::<Map>())
            .as_deref_mut()
        {
            for (k, v) in over {
                target.insert(k, v);
            }
        }
    }
    for key in ["code", "discount", "now"] {
        if let Some(v) = example.get(key) {
            ctx.insert(key.into(), v.clone());
        }
    }
    Dynamic::from_map(ctx)
}
