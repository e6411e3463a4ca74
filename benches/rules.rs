//! Evaluating a coupon's rule set: five shipped rules on a realistic order.
//!
//! `cargo bench --bench rules`. Two measurements:
//! - `evaluate/five_rules`: one evaluation on one thread;
//! - `evaluate/five_rules_two_threads`: the same evaluation on two threads at once,
//!   timed per evaluation. If evaluations were serialised across threads (as with a
//!   shared Rhai string interner), this would take about twice as long per evaluation
//!   on a 2-core machine; when they run in parallel it stays close to the first.
#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coupons::rules::{RuleLimits, RuleOrigin, Rules, example_facts};
use coupons_domain::{ItemFacts, RuleBinding, RuleEvaluator, RuleFacts, RulesOutcome};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bindings() -> Vec<RuleBinding> {
    let raw = [
        (
            "allowed_email_domains",
            json!({ "domains": ["*.acme.com", "acme.com", "partner.example"] }),
        ),
        (
            "per_customer_limit",
            json!({ "limit": 3, "window_hours": 720 }),
        ),
        ("min_subtotal", json!({ "amount": "50.00" })),
        (
            "products",
            json!({ "include_categories": ["shoes", "socks"], "exclude_skus": ["GIFT-CARD"] }),
        ),
        ("max_discount", json!({ "amount": "25.00" })),
    ];
    raw.into_iter()
        .enumerate()
        .map(|(i, (n, p))| RuleBinding::new(n, p, i).unwrap())
        .collect()
}

fn facts() -> RuleFacts {
    let mut f = example_facts();
    f.email_domain = Some("eu.acme.com".into());
    f.customer_uses = 1;
    f.customer_use_times = vec![f.now - 86_400];
    f.items = (0..8)
        .map(|i| ItemFacts {
            sku: format!("SKU-{i}"),
            categories: vec![
                if i % 2 == 0 { "shoes" } else { "socks" }.into(),
                "sale".into(),
            ],
            quantity: 1 + i % 3,
            unit_price: 1_500 + 250 * i,
        })
        .collect();
    f.subtotal = f.items.iter().map(|i| i.quantity * i.unit_price).sum();
    f
}

fn rules() -> Rules {
    let rules = Rules::new(RuleLimits::default());
    let errors = rules.load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"));
    assert!(errors.is_empty(), "{errors:?}");
    rules
}

fn bench(c: &mut Criterion) {
    let rules = Arc::new(rules());
    let bindings = Arc::new(bindings());
    let facts = Arc::new(facts());
    assert!(matches!(
        rules.evaluate(&bindings, &facts),
        RulesOutcome::Pass { .. }
    ));
    let mut group = c.benchmark_group("evaluate");
    group.bench_function("five_rules", |b| {
        b.iter(|| rules.evaluate(&bindings, &facts));
    });
    // Where the time goes: building `ctx`, and one rule that does nothing.
    group.bench_function("facts_to_ctx", |b| {
        b.iter(|| coupons::rules::facts_to_dynamic(&facts));
    });
    let trivial = rules
        .compile(
            "trivial",
            "fn check(ctx, params) { pass() }",
            RuleOrigin::Inline,
        )
        .unwrap();
    rules.insert(trivial);
    let one = vec![RuleBinding::new("trivial", json!({}), 0).unwrap()];
    group.bench_function("one_trivial_rule", |b| {
        b.iter(|| rules.evaluate(&one, &facts));
    });
    for binding in bindings.iter() {
        let single = vec![binding.clone()];
        group.bench_function(format!("rule/{}", binding.name), |b| {
            b.iter(|| rules.evaluate(&single, &facts));
        });
    }
    group.bench_function("five_rules_two_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (rules, bindings, facts) = (rules.clone(), bindings.clone(), facts.clone());
                    std::thread::spawn(move || {
                        for _ in 0..iters {
                            std::hint::black_box(rules.evaluate(&bindings, &facts));
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            // Time per evaluation per thread: equal to the one-thread figure when the two
            // threads truly run side by side.
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
