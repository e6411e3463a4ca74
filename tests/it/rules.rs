//! Eligibility rules: the shipped library, binding checks, live edits, the sandbox, and
//! exact limits under concurrency.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coupons::auth::Role;
use coupons::rules::{RuleLimits, RuleOrigin, Rules};
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Options, TestApp};

const VALIDATE: &str = r#"
query($input: ValidateCouponInput!) {
  validateCoupon(input: $input) { valid discount { amount } reasons { code rule ruleCode message } }
}"#;

const REDEEM: &str = r#"
mutation($input: RedeemCouponInput!) {
  redeemCoupon(input: $input) { redemption { id } userErrors { code message } }
}"#;

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// An order of its own (a coupon is used once per order id).
fn order(email: &str, subtotal: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({ "id": format!("o-{id}"), "currency": "USD", "subtotal": subtotal, "customer": { "email": email } })
}

async fn validate(app: &TestApp, code: &str, order: Value) -> Value {
    app.admin(
        VALIDATE,
        json!({ "input": { "code": code, "order": order } }),
    )
    .await["validateCoupon"]
        .clone()
}

#[test]
fn every_shipped_rule_compiles_and_passes_its_examples() {
    let rules = Rules::new(RuleLimits::default());
    assert_eq!(rules.load_dir(&shipped_dir()), Vec::new());
    let names = rules.names();
    for expected in [
        "allowed_email_domains",
        "per_customer_limit",
        "total_redemption_cap",
        "spend_budget",
        "min_subtotal",
        "min_item_count",
        "max_discount",
        "first_order_only",
        "sales_channels",
        "products",
        "day_hour_window",
        "customer_tags",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing shipped rule {expected}"
        );
    }
    for name in names {
        let rule = rules.get(&name).unwrap();
        let results = rules.run_examples(&rule).unwrap();
        assert!(results.len() >= 2, "{name} has too few examples");
        for r in results {
            assert_eq!(r.failure, None, "{name}: {}", r.name);
        }
    }
}

#[test]
fn broken_scripts_are_refused_with_line_and_column() {
    let rules = Rules::new(RuleLimits::default());
    let err = rules
        .compile(
            "broken",
            "fn check(ctx, params) {\n    let x = ;\n}\n",
            RuleOrigin::Inline,
        )
        .unwrap_err();
    assert_eq!((err.line, err.column.is_some()), (Some(2), true), "{err}");
    assert!(err.to_string().starts_with("broken:2:"), "{err}");
    let err = rules
        .compile("no_check", "fn other() { 1 }", RuleOrigin::Inline)
        .unwrap_err();
    assert!(err.message.contains("fn check"), "{err}");
    let err = rules
        .compile(
            "bad_params",
            "fn params() { #{ x: \"float\" } }\nfn check(ctx, params) { pass() }",
            RuleOrigin::Inline,
        )
        .unwrap_err();
    assert!(err.message.contains("unknown type"), "{err}");
    // Modules and eval are not available at all.
    assert!(
        rules
            .compile(
                "imports",
                "import \"x\" as x;\nfn check(ctx, params) { pass() }",
                RuleOrigin::Inline
            )
            .is_err()
    );
    assert!(
        rules
            .compile(
                "evals",
                "fn check(ctx, params) { eval(\"1\") }",
                RuleOrigin::Inline
            )
            .is_err()
    );
}

#[test]
fn check_rules_command_reports_failures() {
    let bin = env!("CARGO_BIN_EXE_coupons");
    let ok = std::process::Command::new(bin)
        .args(["check-rules", "--rules-dir"])
        .arg(shipped_dir())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let dir = tempdir("check");
    std::fs::write(dir.join("wrong_example.rhai"), "fn check(ctx, params) { pass() }\nfn examples() { [#{ name: \"should reject\", expect: \"reject\" }] }\n").unwrap();
    std::fs::write(
        dir.join("syntax.rhai"),
        "fn check(ctx, params) {\n  pass(\n}\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["check-rules", "--rules-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("should reject") && text.contains("expected reject, got pass"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("syntax.rhai:")),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coupons-rules-{tag}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Shipped rules through the API: pass, reject with the rule's code, cap the discount.
async fn shipped_rules_decide_validation_and_redemption(app: TestApp) {
    create(&app, json!({ "name": "Staff", "code": "STAFF", "discount": { "percentage": "50" },
        "rules": [
            { "name": "allowed_email_domains", "params": { "domains": ["*.acme.com", "acme.com"] } },
            { "name": "max_discount", "params": { "amount": "20.00" } }
        ] })).await;
    let ok = validate(&app, "STAFF", order("ann@eu.acme.com", "100")).await;
    assert_eq!(ok["valid"], true, "{ok:#}");
    assert_eq!(ok["discount"]["amount"], "20.00");
    let small = validate(&app, "STAFF", order("ann@acme.com", "30")).await;
    assert_eq!(small["discount"]["amount"], "15.00");
    let no = validate(&app, "STAFF", order("ann@gmail.com", "100")).await;
    assert_eq!(no["reasons"][0]["code"], "RULE_REJECTED");
    assert_eq!(no["reasons"][0]["rule"], "allowed_email_domains");
    assert_eq!(no["reasons"][0]["ruleCode"], "EMAIL_DOMAIN_NOT_ALLOWED");
    let redeem = app.admin(REDEEM, json!({ "input": { "code": "STAFF", "order": order("bob@gmail.com", "100"), "idempotencyKey": "g" } })).await;
    assert_eq!(
        redeem["redeemCoupon"]["userErrors"][0]["code"],
        "RULE_REJECTED"
    );
    assert!(
        redeem["redeemCoupon"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_email_domains")
    );

    create(&app, json!({ "name": "Tagged", "code": "TAGGED", "discount": { "percentage": "10" },
        "rules": [{ "name": "customer_tags", "params": { "any_of": ["vip"] } }, { "name": "first_order_only" }] })).await;
    let tagged = |tags: Value, first: bool| json!({ "id": "o", "currency": "USD", "subtotal": "10", "customer": { "id": "c1", "tags": tags, "firstOrder": first } });
    assert_eq!(
        validate(&app, "TAGGED", tagged(json!(["vip"]), true)).await["valid"],
        true
    );
    assert_eq!(
        validate(&app, "TAGGED", tagged(json!([]), true)).await["reasons"][0]["ruleCode"],
        "CUSTOMER_TAG_REQUIRED"
    );
    assert_eq!(
        validate(&app, "TAGGED", tagged(json!(["vip"]), false)).await["reasons"][0]["ruleCode"],
        "NOT_FIRST_ORDER"
    );

    // Spend budget reads the discount granted so far, counted in the transaction.
    create(&app, json!({ "name": "Budget", "code": "BUDGET", "discount": { "amount": { "amount": "10", "currency": "USD" } },
        "rules": [{ "name": "spend_budget", "params": { "budget": "25.00" } }] })).await;
    let mut granted = Vec::new();
    for i in 0..4 {
        let r = app.admin(REDEEM, json!({ "input": { "code": "BUDGET", "order": order(&format!("c{i}@x.test"), "50"), "idempotencyKey": format!("b{i}") } })).await;
        granted.push(
            r["redeemCoupon"]["userErrors"][0]["code"]
                .as_str()
                .map(str::to_owned),
        );
    }
    assert_eq!(
        granted,
        [None, None, None, Some("RULE_REJECTED".to_owned())]
    );
    let total = app
        .admin(
            "{ coupon(code: \"BUDGET\") { totalDiscount { amount } } }",
            json!({}),
        )
        .await;
    assert_eq!(total["coupon"]["totalDiscount"][0]["amount"], "25.00");
}
both_backends!(shipped_rules_decide_validation_and_redemption);

async fn bindings_must_name_a_rule_and_fit_its_parameters(app: TestApp) {
    let cases = [
        (json!([{ "name": "no_such_rule" }]), "RULE_NOT_FOUND"),
        (
            json!([{ "name": "allowed_email_domains" }]),
            "INVALID_RULE_PARAMS",
        ),
        (
            json!([{ "name": "allowed_email_domains", "params": { "domains": "acme.com" } }]),
            "INVALID_RULE_PARAMS",
        ),
        (
            json!([{ "name": "max_discount", "params": { "amount": "20", "extra": 1 } }]),
            "INVALID_RULE_PARAMS",
        ),
        (
            json!([{ "name": "min_subtotal", "params": { "amount": "lots" } }]),
            "INVALID_RULE_PARAMS",
        ),
    ];
    for (rules, code) in cases {
        let data = app.admin("mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { id } userErrors { field code message } } }",
            json!({ "input": { "name": "x", "discount": { "percentage": "5" }, "rules": rules } })).await;
        let e = &data["createCoupon"]["userErrors"][0];
        assert_eq!(
            (e["code"].as_str(), &e["field"]),
            (Some(code), &json!(["input", "rules", "0"])),
            "{rules}: {data:#}"
        );
    }
    assert_eq!(app.count("coupons").await, 0);
    let c = create(
        &app,
        json!({ "name": "y", "discount": { "percentage": "5" } }),
    )
    .await;
    let data = app.admin("mutation($id: ID!) { updateCoupon(input: { id: $id, rules: [{ name: \"nope\" }] }) { userErrors { code } } }", json!({ "id": c["id"] })).await;
    assert_eq!(
        data["updateCoupon"]["userErrors"][0]["code"],
        "RULE_NOT_FOUND"
    );
}
both_backends!(bindings_must_name_a_rule_and_fit_its_parameters);

/// 200 concurrent redemptions by one customer; the only per-customer limit is the shipped
/// rule with limit 3.
async fn rule_limit_is_exact_under_concurrency(app: TestApp) {
    create(
        &app,
        json!({ "name": "Three", "code": "THREE", "discount": { "percentage": "5" },
        "rules": [{ "name": "per_customer_limit", "params": { "limit": 3 } }] }),
    )
    .await;
    let shop = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (app, client, shop) = (app.clone(), client.clone(), shop.clone());
            tokio::spawn(async move {
                let input = json!({ "input": { "code": "THREE", "order": { "id": format!("o{i}"), "currency": "USD", "subtotal": "20", "customer": { "id": "same-customer" } }, "idempotencyKey": format!("k{i}") } });
                app.http(&client, &shop, REDEEM, input).await.1
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let body = t.await.unwrap();
        let p = &body["data"]["redeemCoupon"];
        if p["redemption"].is_object() {
            ok += 1;
        } else {
            assert_eq!(p["userErrors"][0]["code"], "RULE_REJECTED", "{body:#}");
        }
    }
    assert_eq!(ok, 3);
    assert!(
        coupons::service::maintenance::reconcile(&app.db)
            .await
            .unwrap()
            .is_empty()
    );
}
both_backends!(rule_limit_is_exact_under_concurrency);

const PASSING: &str = "fn check(ctx, params) { pass() }\n";
const REJECTING: &str = "fn check(ctx, params) { reject(\"EDITED\", \"edited on disk\") }\n";

/// A rule edited on disk decides the next validation, without a restart; a broken edit
/// is refused and the version in force keeps working.
async fn rules_edited_on_disk_apply_at_once(app: TestApp) {
    let dir = app.rules_dir.clone().unwrap();
    create(&app, json!({ "name": "Live", "code": "LIVE", "discount": { "percentage": "5" }, "rules": [{ "name": "live_rule" }] })).await;
    assert_eq!(
        validate(&app, "LIVE", order("a@x.test", "10")).await["valid"],
        true
    );

    let wait_for = |want: bool| {
        let app = &app;
        async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let v = validate(app, "LIVE", order("a@x.test", "10")).await;
                if v["valid"] == want {
                    return;
                }
                assert!(Instant::now() < deadline, "no reload within 3 s: {v:#}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let started = Instant::now();
    std::fs::write(dir.join("live_rule.rhai"), REJECTING).unwrap();
    wait_for(false).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "reload took {:?}",
        started.elapsed()
    );
    let v = validate(&app, "LIVE", order("a@x.test", "10")).await;
    assert_eq!(v["reasons"][0]["ruleCode"], "EDITED");

    // A broken edit: refused, the rejecting version stays in force.
    std::fs::write(
        dir.join("live_rule.rhai"),
        "fn check(ctx, params) {\n  let = 1;\n}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        validate(&app, "LIVE", order("a@x.test", "10")).await["reasons"][0]["ruleCode"],
        "EDITED"
    );
    let errors = app.rules.load_dir(&dir);
    assert!(errors.iter().any(|e| e.line == Some(2)), "{errors:?}");

    // Saved the way editors do (write elsewhere, rename over): picked up too.
    std::fs::write(dir.join("tmp.txt"), PASSING).unwrap();
    std::fs::rename(dir.join("tmp.txt"), dir.join("live_rule.rhai")).unwrap();
    wait_for(true).await;
}
fn live_options() -> Options {
    let dir = tempdir("live");
    std::fs::write(dir.join("live_rule.rhai"), PASSING).unwrap();
    Options {
        rules_dir: Some(dir),
        ..Options::default()
    }
}
both_backends!(rules_edited_on_disk_apply_at_once, super::live_options());

/// Scripts that break the sandbox are stopped; the redemption is refused with
/// RULE_FAILED, quickly, and the server keeps serving.
async fn sandbox_stops_runaway_rules(app: TestApp) {
    let dir = app.rules_dir.clone().unwrap();
    let scripts = [
        ("infinite_loop", "fn check(ctx, params) { loop { } }"),
        (
            "huge_string",
            "fn check(ctx, params) { let s = \"x\"; while true { s += s; } }",
        ),
        (
            "ten_megabytes",
            "fn check(ctx, params) { let s = \"0123456789\"; for i in 0..20 { s = s + s; } pass() }",
        ),
        (
            "deep_recursion",
            "fn down(n) { down(n + 1) }\nfn check(ctx, params) { down(0) }",
        ),
        (
            "huge_array",
            "fn check(ctx, params) { let a = []; loop { a.push(1); } }",
        ),
        ("bad_verdict", "fn check(ctx, params) { 42 }"),
        ("throws", "fn check(ctx, params) { throw \"boom\"; }"),
        // `ctx` is read-only: one rule cannot change what the next one sees.
        (
            "mutates_ctx",
            "fn check(ctx, params) { ctx.discount = 0; pass() }",
        ),
    ];
    for (name, source) in scripts {
        std::fs::write(dir.join(format!("{name}.rhai")), source).unwrap();
    }
    assert_eq!(app.rules.load_dir(&dir), Vec::new());
    for (name, _) in scripts {
        let code = format!("SANDBOX-{}", name.to_uppercase().replace('_', "-"));
        create(&app, json!({ "name": name, "code": code, "discount": { "percentage": "5" }, "rules": [{ "name": name }] })).await;
        let started = Instant::now();
        let v = validate(&app, &code, order("a@x.test", "10")).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name} took {:?}",
            started.elapsed()
        );
        assert_eq!(v["reasons"][0]["code"], "RULE_FAILED", "{name}: {v:#}");
        assert_eq!(v["reasons"][0]["rule"], name);
        let r = app.admin(REDEEM, json!({ "input": { "code": code, "order": order("a@x.test", "10"), "idempotencyKey": name } })).await;
        assert_eq!(r["redeemCoupon"]["userErrors"][0]["code"], "RULE_FAILED");
    }
    // Still healthy.
    assert_eq!(app.get("/healthz").await.0, 200);
    create(
        &app,
        json!({ "name": "fine", "code": "FINE", "discount": { "percentage": "5" } }),
    )
    .await;
    assert_eq!(
        validate(&app, "FINE", order("a@x.test", "10")).await["valid"],
        true
    );
    // Imports and eval never compile; the file is reported.
    std::fs::write(
        dir.join("imports.rhai"),
        "import \"os\" as os;\nfn check(ctx, params) { pass() }",
    )
    .unwrap();
    std::fs::write(
        dir.join("evals.rhai"),
        "fn check(ctx, params) { eval(\"pass()\") }",
    )
    .unwrap();
    let errors = app.rules.load_dir(&dir);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(app.rules.get("imports").is_none() && app.rules.get("evals").is_none());
}
fn sandbox_options() -> Options {
    Options {
        rules_dir: Some(tempdir("sandbox")),
        ..Options::default()
    }
}
both_backends!(sandbox_stops_runaway_rules, super::sandbox_options());

const PUBLISH: &str = r#"
mutation($name: String!, $source: String!) {
  publishRule(input: { name: $name, source: $source }) { rule { name version sourceKind } userErrors { field code message } }
}"#;

const ROLLBACK: &str = r#"
mutation($name: String!, $version: Int!) {
  rollbackRule(input: { name: $name, version: $version }) { rule { name version } userErrors { field code message } }
}"#;

fn vip_rule(allow: bool) -> String {
    let verdict = if allow {
        "pass()"
    } else {
        "reject(\"VIP_ONLY\", \"for VIP customers\")"
    };
    format!(
        "// Published in a test.\nfn check(ctx, params) {{ if ctx.customer.tags.contains(\"vip\") {{ pass() }} else {{ {verdict} }} }}\n"
    )
}

/// Published versions decide the next validation; a rollback restores the old one; a
/// script that does not compile, or fails its examples, is refused and changes nothing.
async fn published_rules_are_versioned_and_roll_back(app: TestApp) {
    let p1 = app
        .admin(
            PUBLISH,
            json!({ "name": "vip_gate", "source": vip_rule(false) }),
        )
        .await;
    assert_eq!(
        p1["publishRule"]["rule"],
        json!({ "name": "vip_gate", "version": 1, "sourceKind": "PUBLISHED" }),
        "{p1:#}"
    );
    create(&app, json!({ "name": "Gate", "code": "GATE", "discount": { "percentage": "5" }, "rules": [{ "name": "vip_gate" }] })).await;
    let plain = order("a@x.test", "10");
    assert_eq!(
        validate(&app, "GATE", plain.clone()).await["reasons"][0]["ruleCode"],
        "VIP_ONLY"
    );

    let p2 = app
        .admin(
            PUBLISH,
            json!({ "name": "vip_gate", "source": vip_rule(true) }),
        )
        .await;
    assert_eq!(p2["publishRule"]["rule"]["version"], 2);
    assert_eq!(validate(&app, "GATE", plain.clone()).await["valid"], true);

    // Refused: a syntax error (with line and column) and failing examples. Version 2 stays.
    let broken = app
        .admin(
            PUBLISH,
            json!({ "name": "vip_gate", "source": "fn check(ctx, params) {\n  let = ;\n}" }),
        )
        .await;
    let e = &broken["publishRule"]["userErrors"][0];
    assert_eq!(
        (e["code"].as_str(), &e["field"]),
        (Some("RULE_COMPILE_ERROR"), &json!(["input", "source"]))
    );
    assert!(
        e["message"].as_str().unwrap().starts_with("vip_gate:2:"),
        "{e}"
    );
    let failing = "fn check(ctx, params) { pass() }\nfn examples() { [#{ name: \"must reject\", expect: \"reject\" }] }";
    let f = app
        .admin(PUBLISH, json!({ "name": "vip_gate", "source": failing }))
        .await;
    assert_eq!(
        f["publishRule"]["userErrors"][0]["code"],
        "RULE_EXAMPLES_FAILED"
    );
    let bad_name = app
        .admin(
            PUBLISH,
            json!({ "name": "Not A Name", "source": vip_rule(true) }),
        )
        .await;
    assert_eq!(
        bad_name["publishRule"]["userErrors"][0]["code"],
        "INVALID_RULE_NAME"
    );
    assert_eq!(validate(&app, "GATE", plain.clone()).await["valid"], true);

    let back = app
        .admin(ROLLBACK, json!({ "name": "vip_gate", "version": 1 }))
        .await;
    assert_eq!(back["rollbackRule"]["rule"]["version"], 1, "{back:#}");
    assert_eq!(
        validate(&app, "GATE", plain.clone()).await["reasons"][0]["ruleCode"],
        "VIP_ONLY"
    );
    let missing = app
        .admin(ROLLBACK, json!({ "name": "vip_gate", "version": 9 }))
        .await;
    assert_eq!(
        missing["rollbackRule"]["userErrors"][0]["code"],
        "RULE_VERSION_NOT_FOUND"
    );

    let listed = app.admin("{ rule(name: \"vip_gate\") { version description versions { version author } } rules { name sourceKind } }", json!({})).await;
    assert_eq!(listed["rule"]["version"], 1);
    assert_eq!(listed["rule"]["description"], "Published in a test.");
    let versions: Vec<i64> = listed["rule"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    assert!(
        listed["rule"]["versions"][0]["author"]
            .as_str()
            .unwrap()
            .contains("test admin")
    );
    assert!(
        listed["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "allowed_email_domains" && r["sourceKind"] == "FILE")
    );
    // Every change is audited: two publishes and one rollback.
    assert_eq!(app.count("rule_audit WHERE name = 'vip_gate'").await, 3);
    // Only admins publish.
    let analyst = app.key(Role::Analyst).await;
    let denied = app
        .request(
            Some(&analyst),
            PUBLISH,
            json!({ "name": "x", "source": vip_rule(true) }),
        )
        .await;
    assert_eq!(denied.error_code(), Some("FORBIDDEN"));
}
both_backends!(published_rules_are_versioned_and_roll_back);

/// Two server processes on one PostgreSQL database: a rule published through one is in
/// force on the other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_rules_reach_every_instance() {
    let Some(db) = crate::harness::TestDatabase::new(crate::harness::Backend::Postgres).await
    else {
        return;
    };
    let rules_dir = tempdir("instances");
    let admin = "instances-admin-key-0123456789-0123456789";
    let start = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coupons"))
            .env("DATABASE_URL", &db.url)
            .env("COUPONS_BIND", "127.0.0.1:0")
            .env("COUPONS_ADMIN_KEY", admin)
            .env("COUPONS_RULES_DIR", &rules_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut base = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("Listening on ") {
                base = url.trim().to_owned();
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        (child, base)
    };
    let (mut a, base_a) = start();
    let (mut b, base_b) = start();
    let client = reqwest::Client::new();
    let gql = |base: String, query: &'static str, variables: Value| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/graphql"))
                .bearer_auth(admin)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let published = gql(
        base_a.clone(),
        PUBLISH,
        json!({ "name": "vip_gate", "source": vip_rule(false) }),
    )
    .await;
    assert_eq!(
        published["data"]["publishRule"]["rule"]["version"], 1,
        "{published:#}"
    );
    let create = "mutation { createCoupon(input: { name: \"Gate\", code: \"GATE\", discount: { percentage: \"5\" }, rules: [{ name: \"vip_gate\" }] }) { userErrors { code } } }";
    // The binding is checked on B, which must already know the rule.
    let started = Instant::now();
    let validate_b = "query { validateCoupon(input: { code: \"GATE\", order: { id: \"o\", currency: \"USD\", subtotal: \"10\" } }) { valid reasons { ruleCode } } }";
    loop {
        let r = gql(base_b.clone(), create, json!({})).await;
        if r["data"]["createCoupon"]["userErrors"] == json!([]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "rule not on B within 1 s: {r:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v = gql(base_b.clone(), validate_b, json!({})).await;
    assert_eq!(
        v["data"]["validateCoupon"]["reasons"][0]["ruleCode"],
        "VIP_ONLY"
    );
    // A new version through A changes B's answer within a second.
    gql(
        base_a.clone(),
        PUBLISH,
        json!({ "name": "vip_gate", "source": vip_rule(true) }),
    )
    .await;
    let started = Instant::now();
    loop {
        let v = gql(base_b.clone(), validate_b, json!({})).await;
        if v["data"]["validateCoupon"]["valid"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "new version not on B within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for child in [&mut a, &mut b] {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::fs::remove_dir_all(rules_dir).unwrap();
}

const SIMULATE: &str = r#"
mutation($input: SimulateRulesInput!) {
  simulateRules(input: $input) {
    discount { amount currency }
    reasons { code }
    results { rule verdict code message capMinor micros }
    userErrors { field code message }
  }
}"#;

/// Simulation runs every bound rule (even after a rejection) and writes nothing.
async fn simulation_reports_each_rule_without_writing(app: TestApp) {
    let c = create(
        &app,
        json!({ "name": "Sim", "code": "SIM", "discount": { "percentage": "50" },
        "rules": [
            { "name": "allowed_email_domains", "params": { "domains": ["acme.com"] } },
            { "name": "max_discount", "params": { "amount": "5.00" } },
            { "name": "min_item_count", "params": { "count": 3 } }
        ] }),
    )
    .await;
    let o = json!({ "id": "o", "currency": "USD", "subtotal": "40", "customer": { "email": "a@gmail.com" },
        "items": [{ "sku": "A", "quantity": 1, "unitPrice": "40" }] });
    let before = (
        app.count("redemptions").await,
        app.count("idempotency_keys").await,
    );
    for target in [json!({ "code": "sim" }), json!({ "couponId": c["id"] })] {
        let mut input = target;
        input["order"] = o.clone();
        let s = app.admin(SIMULATE, json!({ "input": input })).await["simulateRules"].clone();
        assert_eq!(
            s["discount"],
            json!({ "amount": "20.00", "currency": "USD" }),
            "{s:#}"
        );
        let verdicts: Vec<(&str, &str)> = s["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["rule"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("allowed_email_domains", "REJECT"),
                ("max_discount", "CAP"),
                ("min_item_count", "REJECT")
            ]
        );
        assert_eq!(s["results"][0]["code"], "EMAIL_DOMAIN_NOT_ALLOWED");
        assert_eq!(s["results"][1]["capMinor"], 500);
        assert!(
            s["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["micros"].as_i64().unwrap() >= 0)
        );
    }
    // A draft, with parameters, and a broken draft.
    let draft = json!({ "input": { "source": "fn params() { #{ min: \"int\" } }\nfn check(ctx, params) { if ctx.order.subtotal < params.min { reject(\"SMALL\", \"small\") } else { pass() } }", "params": { "min": 5000 }, "order": o } });
    let d = app.admin(SIMULATE, draft).await;
    assert_eq!(d["simulateRules"]["results"][0]["verdict"], "REJECT");
    assert_eq!(d["simulateRules"]["results"][0]["code"], "SMALL");
    let broken = app
        .admin(
            SIMULATE,
            json!({ "input": { "source": "fn check(ctx, params) {\n  pass(\n}", "order": o } }),
        )
        .await;
    assert_eq!(
        broken["simulateRules"]["userErrors"][0]["code"],
        "RULE_COMPILE_ERROR"
    );
    let runaway = app
        .admin(
            SIMULATE,
            json!({ "input": { "source": "fn check(ctx, params) { loop {} }", "order": o } }),
        )
        .await;
    assert_eq!(runaway["simulateRules"]["results"][0]["verdict"], "FAILED");
    let unknown = app
        .admin(SIMULATE, json!({ "input": { "code": "NOPE", "order": o } }))
        .await;
    assert_eq!(unknown["simulateRules"]["reasons"][0]["code"], "NOT_FOUND");
    assert_eq!(
        (
            app.count("redemptions").await,
            app.count("idempotency_keys").await
        ),
        before
    );
}
both_backends!(simulation_reports_each_rule_without_writing);
