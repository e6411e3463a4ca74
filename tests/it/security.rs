//! Abuse resistance: every limit of the endpoint is sent the abusive request it exists
//! for, and code guessing is throttled per key, address and customer.

use std::time::Duration;

use coupons::auth::Role;
use coupons::router::HttpSettings;
use coupons::service::limiter::{Budget, LimiterSettings};
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Options, Response, TestApp};

const VALIDATE: &str = r#"
query($input: ValidateCouponInput!) {
  validateCoupon(input: $input) { valid reasons { code message } }
}"#;

fn check(code: &str) -> Value {
    json!({ "input": { "code": code, "order": { "id": "o-1", "currency": "USD", "subtotal": "50" } } })
}

fn check_for(code: &str, email: &str) -> Value {
    let mut v = check(code);
    v["input"]["order"]["customer"] = json!({ "email": email });
    v
}

/// A document of `n` aliased `validateCoupon` fields.
fn aliased_guesses(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| {
            format!(
                r#"g{i}: validateCoupon(input: {{ code: "GUESS{i:05}", order: {{ id: "o", currency: "USD", subtotal: "50" }} }}) {{ valid }} "#
            )
        })
        .collect();
    format!("{{ {fields} }}")
}

fn assert_throttled(r: &Response) -> u64 {
    assert_eq!(r.error_code(), Some("THROTTLED"), "{:#}", r.body);
    let retry = r.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    retry
}

/// 1,000 aliased guesses in one document are refused, and count as 1,000 failures: the
/// public key is locked out afterwards, also for a single honest-looking check.
async fn aliases_over_the_cap_are_refused_and_counted(app: TestApp) {
    let public = app.key(Role::Public).await;
    let r = app
        .request(Some(&public), &aliased_guesses(1_000), json!({}))
        .await;
    assert_eq!(r.error_code(), Some("TOO_MANY_ALIASES"), "{:#}", r.body);
    assert!(r.body["data"].is_null());
    let r = app.request(Some(&public), VALIDATE, check("REAL")).await;
    assert_throttled(&r);

    // Under the cap every aliased check runs, and each counts.
    let other = app.key(Role::Public).await;
    let r = app
        .request(Some(&other), &aliased_guesses(30), json!({}))
        .await;
    assert_eq!(r.data()["g29"]["valid"], json!(false));
    // Another key is not locked out by the first one's guesses.
    let r = app.request(Some(&other), VALIDATE, check("REAL")).await;
    assert!(r.body.get("errors").is_none(), "{:#}", r.body);
}
both_backends!(aliases_over_the_cap_are_refused_and_counted);

/// A JSON batch of 1,000 guesses is refused with 400 and counts as 1,000 failures; a
/// small batch runs and answers in a list.
async fn batches_over_the_cap_are_refused_and_counted(app: TestApp) {
    create(
        &app,
        json!({ "name": "Batch", "code": "BATCH10", "discount": { "percentage": "10" } }),
    )
    .await;
    let public = app.key(Role::Public).await;
    let small: Vec<Value> = ["BATCH10", "NOPE1", "NOPE2"]
        .iter()
        .map(|c| json!({ "query": VALIDATE, "variables": check(c) }))
        .collect();
    let r = app
        .post(Some(&public), &[], Value::from(small).to_string())
        .await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["data"]["validateCoupon"]["valid"], json!(true));
    assert_eq!(
        list[2]["data"]["validateCoupon"]["reasons"][0]["code"],
        json!("NOT_FOUND")
    );

    let big: Vec<Value> = (0..1_000)
        .map(|i| json!({ "query": VALIDATE, "variables": check(&format!("GUESS{i}")) }))
        .collect();
    let r = app
        .post(Some(&public), &[], Value::from(big).to_string())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("BATCH_TOO_LARGE"), "{:#}", r.body);
    let r = app.request(Some(&public), VALIDATE, check("BATCH10")).await;
    assert_throttled(&r);
}
both_backends!(batches_over_the_cap_are_refused_and_counted);

fn behind_proxy() -> Options {
    Options {
        http: Some(HttpSettings {
            trusted_proxy_header: Some("x-forwarded-for".parse().unwrap()),
            ..HttpSettings::default()
        }),
        ..Options::default()
    }
}

/// Failures are counted per client address (from the trusted header), per customer and
/// per key; a locked-out subject gets THROTTLED with retryAfter, others go on.
async fn guesses_are_limited_per_address_customer_and_key(app: TestApp) {
    create(
        &app,
        json!({ "name": "Real", "code": "REAL10", "discount": { "percentage": "10" } }),
    )
    .await;
    let public = app.key(Role::Public).await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let send = |key: String, ip: &'static str, vars: Value| {
        let app = &app;
        async move {
            let body = json!({ "query": VALIDATE, "variables": vars }).to_string();
            app.post(Some(&key), &from(ip), body).await
        }
    };
    // Public: 10 failures per address. Valid checks do not count.
    for i in 0..10 {
        let r = send(public.clone(), "203.0.113.7", check("REAL10")).await;
        assert_eq!(r.data()["validateCoupon"]["valid"], json!(true));
        let r = send(public.clone(), "203.0.113.7", check(&format!("NOPE{i}"))).await;
        assert_eq!(
            r.data()["validateCoupon"]["reasons"][0]["code"],
            json!("NOT_FOUND")
        );
    }
    assert_throttled(&send(public.clone(), "203.0.113.7", check("REAL10")).await);
    // The proxy's own address is the earlier entry; only the last one counts.
    assert_throttled(&send(public.clone(), "198.51.100.1, 203.0.113.7", check("REAL10")).await);
    let r = send(public.clone(), "203.0.113.8", check("REAL10")).await;
    assert_eq!(r.data()["validateCoupon"]["valid"], json!(true));

    // Storefront: no limit per address, 10 failures per customer.
    let store = app.key(Role::Storefront).await;
    for i in 0..10 {
        let r = send(
            store.clone(),
            "192.0.2.1",
            check_for(&format!("NOPE{i}"), "Eve@Example.com"),
        )
        .await;
        assert_eq!(r.data()["validateCoupon"]["valid"], json!(false));
    }
    assert_throttled(
        &send(
            store.clone(),
            "192.0.2.1",
            check_for("REAL10", "eve@example.com"),
        )
        .await,
    );
    let r = send(
        store.clone(),
        "192.0.2.1",
        check_for("REAL10", "ann@example.com"),
    )
    .await;
    assert_eq!(r.data()["validateCoupon"]["valid"], json!(true));
    // Reserving and redeeming by code are checks too, and are refused alike.
    let r = app
        .post(
            Some(&store),
            &from("192.0.2.1"),
            json!({
                "query": "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id } } }",
                "variables": { "input": { "code": "REAL10", "idempotencyKey": "k1",
                    "order": { "id": "o-9", "currency": "USD", "subtotal": "50", "customer": { "email": "eve@example.com" } } } }
            })
            .to_string(),
        )
        .await;
    assert_throttled(&r);
    assert_eq!(app.count("redemptions").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
    // Admins are never throttled.
    for i in 0..20 {
        let r = app
            .request(
                Some(&app.admin),
                VALIDATE,
                check_for(&format!("NOPE{i}"), "eve@example.com"),
            )
            .await;
        assert_eq!(r.data()["validateCoupon"]["valid"], json!(false));
    }
}
both_backends!(
    guesses_are_limited_per_address_customer_and_key,
    super::behind_proxy()
);

fn tight_key_budget() -> Options {
    Options {
        limiter: Some(LimiterSettings {
            public: "key=5,ip=0,customer=0".parse::<Budget>().unwrap(),
            ..LimiterSettings::default()
        }),
        ..Options::default()
    }
}

/// Without a configured proxy header, the header is ignored: the TCP peer is the
/// address, so spoofed headers do not buy more guesses. The key budget applies too.
async fn spoofed_forwarding_headers_are_ignored(app: TestApp) {
    let public = app.key(Role::Public).await;
    let client = reqwest::Client::new();
    let url = format!("{}/graphql", app.base_url().await);
    let mut last = Value::Null;
    for i in 0..12 {
        last = client
            .post(&url)
            .bearer_auth(&public)
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .json(&json!({ "query": VALIDATE, "variables": check(&format!("NOPE{i}")) }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(
        last["errors"][0]["extensions"]["code"],
        json!("THROTTLED"),
        "{last:#}"
    );
}
both_backends!(spoofed_forwarding_headers_are_ignored);
both_backends!(key_budgets_are_configurable, super::tight_key_budget());
async fn key_budgets_are_configurable(app: TestApp) {
    let public = app.key(Role::Public).await;
    for i in 0..5 {
        let r = app
            .request(Some(&public), VALIDATE, check(&format!("X{i}")))
            .await;
        assert!(r.body.get("errors").is_none());
    }
    assert_throttled(&app.request(Some(&public), VALIDATE, check("X9")).await);
}

/// Depth, complexity, parse nesting, body size, malformed bodies and suggestions.
async fn document_limits_refuse_abusive_requests(app: TestApp) {
    let admin = Some(app.admin.as_str());
    // Depth: selections nested past 16 levels (node → ... through codes → coupon).
    let mut deep = String::from("id");
    for _ in 0..5 {
        deep = format!("coupon {{ codes(first: 1) {{ nodes {{ {deep} }} }} }}");
    }
    let q = format!(
        "{{ coupons(first: 1) {{ nodes {{ codes(first: 1) {{ nodes {{ {deep} }} }} }} }} }}"
    );
    let r = app.request(admin, &q, json!({})).await;
    assert_eq!(r.error_code(), Some("QUERY_TOO_DEEP"), "{q}\n{:#}", r.body);

    // Complexity: 100 coupons × 100 codes each.
    let q = "{ coupons(first: 100) { nodes { codes(first: 100) { nodes { code usageLimit redemptionCount } } } } }";
    let r = app.request(admin, q, json!({})).await;
    assert_eq!(r.error_code(), Some("QUERY_TOO_COMPLEX"), "{:#}", r.body);

    // Text nested beyond what is parsed.
    let q = format!(
        "{{ viewer(x: {}1{}) {{ role }} }}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let r = app.request(admin, &q, json!({})).await;
    assert_eq!(r.error_code(), Some("GRAPHQL_PARSE_FAILED"), "{:#}", r.body);
    let r = app.request(admin, "{ viewer { role ", json!({})).await;
    assert_eq!(r.error_code(), Some("GRAPHQL_PARSE_FAILED"), "{:#}", r.body);

    // A body over 1 MiB.
    let huge = json!({ "query": format!("{{ viewer {{ role }} }} # {}", "x".repeat(2 << 20)) });
    let r = app.post(admin, &[], huge.to_string()).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), Some("BODY_TOO_LARGE"), "{:#}", r.body);

    // Bodies that are not GraphQL requests.
    for body in [
        "",
        "not json",
        "[]",
        "{\"query\": 5}",
        "{\"variables\": {}}",
    ] {
        let r = app.post(admin, &[], body.to_owned()).await;
        assert_eq!(r.status, 400, "{body}: {:#}", r.body);
        assert_eq!(r.error_code(), Some("BAD_REQUEST"), "{body}");
    }

    // No suggestions of field names to a prober.
    let r = app
        .request(admin, "{ cupons { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        r.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        r.body
    );
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    assert!(!message.contains("coupons"), "{message}");
}
both_backends!(document_limits_refuse_abusive_requests);

/// Introspection is for admin and analyst keys (by default); storefront, public and
/// anonymous callers cannot read the schema.
async fn introspection_is_off_for_storefront_and_public_keys(app: TestApp) {
    let q = "{ __schema { queryType { name } } }";
    for role in [Role::Admin, Role::Analyst] {
        let key = app.key(role).await;
        let r = app.request(Some(&key), q, json!({})).await;
        assert_eq!(
            r.data()["__schema"]["queryType"]["name"],
            json!("Query"),
            "{role}"
        );
    }
    for role in [Role::Storefront, Role::Public] {
        let key = app.key(role).await;
        for q in [q, "{ __type(name: \"Coupon\") { fields { name } } }"] {
            let r = app.request(Some(&key), q, json!({})).await;
            assert_eq!(r.error_code(), Some("FORBIDDEN"), "{role}: {:#}", r.body);
            assert!(r.body["data"].is_null(), "{role}: {:#}", r.body);
            assert!(!r.body.to_string().contains("validateCoupon"), "{role}");
        }
        let r = app.request(Some(&key), "{ __typename }", json!({})).await;
        assert_eq!(r.data()["__typename"], json!("Query"));
    }
    // Without a key nothing runs at all: 401, before the document is read.
    let r = app.request(None, q, json!({})).await;
    assert_eq!(r.status, 401, "{:#}", r.body);
    assert_eq!(r.error_code(), Some("UNAUTHENTICATED"), "{:#}", r.body);
}
both_backends!(introspection_is_off_for_storefront_and_public_keys);

fn short_timeout() -> Options {
    Options {
        http: Some(HttpSettings {
            request_timeout: Duration::from_millis(400),
            ..HttpSettings::default()
        }),
        ..Options::default()
    }
}

/// A request stuck behind a lock held elsewhere is abandoned at the timeout with 503
/// TIMEOUT; nothing half-done remains, and the service goes on serving.
async fn requests_are_abandoned_at_the_timeout(app: TestApp) {
    create(
        &app,
        json!({ "name": "Slow", "code": "SLOW10", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let redeem = |key: &'static str| {
        json!({
            "query": "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id status } userErrors { code } } }",
            "variables": { "input": { "code": "SLOW10", "idempotencyKey": key,
                "order": { "id": key, "currency": "USD", "subtotal": "50" } } }
        })
        .to_string()
    };
    // Use the key once first, so authenticating it later needs no write.
    app.post(
        Some(&store),
        &[],
        json!({ "query": "{ viewer { role } }" }).to_string(),
    )
    .await;
    let blocker = crate::harness::hold_write_lock(app.database_url()).await;
    let started = std::time::Instant::now();
    let r = app.post(Some(&store), &[], redeem("t-1")).await;
    assert_eq!(r.status, 503, "{:#}", r.body);
    assert_eq!(r.error_code(), Some("TIMEOUT"), "{:#}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    blocker.release().await;

    // The service still serves, and the abandoned call left no redemption half-made.
    let r = app.post(Some(&store), &[], redeem("t-2")).await;
    assert_eq!(
        r.data()["redeemCoupon"]["redemption"]["status"],
        json!("REDEEMED"),
        "{:#}",
        r.body
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counters = coupons::service::maintenance::reconcile(&app.db)
        .await
        .unwrap();
    assert!(counters.is_empty(), "{counters:?}");
    assert!(app.count("redemptions").await <= 2);
}
both_backends!(
    requests_are_abandoned_at_the_timeout,
    super::short_timeout()
);

/// Storefront and public callers get the very same answer, byte for byte, for an
/// unknown code and for a draft, paused, archived, deleted or not-yet-started one; an
/// expired or used-up code says only that, never its terms.
async fn outsiders_cannot_tell_unknown_codes_from_inactive_ones(app: TestApp) {
    let terms = json!({ "percentage": "10" });
    let make = |code: &str, extra: Value| {
        let mut input = json!({ "name": code, "code": code, "discount": terms,
            "minSubtotal": { "amount": "100", "currency": "USD" } });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let app = &app;
        async move { create(app, input).await }
    };
    make("DRAFT1", json!({ "status": "DRAFT" })).await;
    let paused = make("PAUSED1", json!({})).await;
    let archived = make("ARCHIVED1", json!({})).await;
    let deleted = make("DELETED1", json!({})).await;
    make("LATER1", json!({ "startsAt": "2099-01-01T00:00:00Z" })).await;
    make(
        "OVER1",
        json!({ "startsAt": "2001-01-01T00:00:00Z", "expiresAt": "2002-01-01T00:00:00Z" }),
    )
    .await;
    make("LIVE1", json!({})).await;
    let status = "mutation($id: ID!, $s: CouponStatus!) { setCouponStatus(input: { id: $id, status: $s }) { userErrors { code } } }";
    app.admin(status, json!({ "id": paused["id"], "s": "PAUSED" }))
        .await;
    app.admin(status, json!({ "id": archived["id"], "s": "ARCHIVED" }))
        .await;
    let del = app
        .admin(
            "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { userErrors { code } } }",
            json!({ "id": deleted["id"] }),
        )
        .await;
    assert_eq!(del["deleteCoupon"]["userErrors"], json!([]));

    let query = r#"query($input: ValidateCouponInput!) {
      validateCoupon(input: $input) { valid discount { amount } reasons { code message } userErrors { code message } } }"#;
    let store = app.key(Role::Storefront).await;
    let public = app.key(Role::Public).await;
    for key in [&store, &public] {
        let answer = |code: &'static str| {
            let app = &app;
            async move {
                let r = app
                    .request(
                        Some(key),
                        query,
                        check_for(code, &format!("{code}@example.com")),
                    )
                    .await;
                r.data()["validateCoupon"].clone()
            }
        };
        let unknown = answer("NEVER-MADE").await;
        assert_eq!(unknown["reasons"][0]["code"], json!("NOT_FOUND"));
        for code in ["DRAFT1", "PAUSED1", "ARCHIVED1", "DELETED1", "LATER1"] {
            assert_eq!(answer(code).await, unknown, "{code}");
        }
        // Over: says so, but not that the order is also under the minimum subtotal.
        let over = answer("OVER1").await;
        assert_eq!(
            over["reasons"],
            json!([{ "code": "EXPIRED", "message": over["reasons"][0]["message"] }])
        );
        // Usable: the terms are told.
        let live = answer("LIVE1").await;
        assert_eq!(live["reasons"][0]["code"], json!("MIN_SUBTOTAL_NOT_MET"));
    }
    // Admins see the real reason.
    let r = app.request(Some(&app.admin), query, check("PAUSED1")).await;
    assert_eq!(
        r.data()["validateCoupon"]["reasons"][0]["code"],
        json!("NOT_ACTIVE")
    );
}
both_backends!(outsiders_cannot_tell_unknown_codes_from_inactive_ones);

fn long_floor() -> Options {
    Options {
        not_found_floor: Some(Duration::from_millis(300)),
        ..Options::default()
    }
}

/// An outsider's NOT_FOUND is held until the floor has passed, whatever the code was:
/// unknown, unparseable, switched off or not started; by validation or by redemption.
async fn not_found_answers_to_outsiders_wait_for_the_floor(app: TestApp) {
    create(&app, json!({ "name": "Draft", "code": "FLOOR-DRAFT", "status": "DRAFT", "discount": { "percentage": "5" } })).await;
    let store = app.key(Role::Storefront).await;
    for code in ["FLOOR-NONE", "FLOOR-DRAFT", "no spaces allowed"] {
        let started = std::time::Instant::now();
        let r = app.request(Some(&store), VALIDATE, check(code)).await;
        assert_eq!(
            r.data()["validateCoupon"]["reasons"][0]["code"],
            json!("NOT_FOUND")
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{code}: {:?}",
            started.elapsed()
        );
        let started = std::time::Instant::now();
        let r = app
            .request(
                Some(&store),
                "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { userErrors { code } } }",
                json!({ "i": { "code": code, "idempotencyKey": code, "order": check(code)["input"]["order"] } }),
            )
            .await;
        assert_eq!(
            r.data()["redeemCoupon"]["userErrors"][0]["code"],
            json!("NOT_FOUND")
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{code}: {:?}",
            started.elapsed()
        );
    }
}
both_backends!(
    not_found_answers_to_outsiders_wait_for_the_floor,
    super::long_floor()
);
