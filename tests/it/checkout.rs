//! Checkout through the real HTTP server: exact limits under concurrency, idempotency,
//! reservations, reversals, every rejection reason, and counters that equal their rows.

use std::sync::Arc;

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::TestApp;

pub const REDEEM: &str = r#"
mutation($input: RedeemCouponInput!) {
  redeemCoupon(input: $input) {
    redemption { id status code orderId discount { amount currency } subtotal { amount currency } emailDomain }
    userErrors { field code message }
  }
}"#;

pub const RESERVE: &str = r#"
mutation($input: ReserveCouponInput!) {
  reserveCoupon(input: $input) {
    reservation { id status reservedUntil discount { amount currency } }
    userErrors { field code message }
  }
}"#;

pub const RELEASE: &str = r#"
mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { id status } userErrors { field code } } }"#;

pub const REVERSE: &str = r#"
mutation($input: ReverseRedemptionInput!) {
  reverseRedemption(input: $input) {
    redemption { id status discount { amount } refundedDiscount { amount } closedAt }
    userErrors { field code message }
  }
}"#;

pub const VALIDATE: &str = r#"
query($input: ValidateCouponInput!) {
  validateCoupon(input: $input) { valid discount { amount currency } reasons { code message } userErrors { field code } }
}"#;

pub fn order(id: &str, email: &str, subtotal: &str) -> Value {
    json!({ "id": id, "currency": "USD", "subtotal": subtotal, "customer": { "email": email } })
}

pub fn redeem_input(code: &str, order: Value, key: &str) -> Value {
    let mut input = json!({ "input": { "code": code, "idempotencyKey": key } });
    input["input"]["order"] = order;
    input
}

/// Counters equal rows: what `coupons reconcile` checks.
pub async fn assert_reconciled(app: &TestApp) {
    let mismatches = coupons::service::maintenance::reconcile(&app.db)
        .await
        .unwrap();
    assert!(
        mismatches.is_empty(),
        "counters differ from rows: {mismatches:#?}"
    );
}

async fn coupon_counts(app: &TestApp, code: &str) -> (i64, i64) {
    let data = app
        .admin(
            "query($c: String) { coupon(code: $c) { redemptionCount reservedCount } }",
            json!({ "c": code }),
        )
        .await;
    (
        data["coupon"]["redemptionCount"].as_i64().unwrap(),
        data["coupon"]["reservedCount"].as_i64().unwrap(),
    )
}

pub fn error_codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect()
}

/// 300 concurrent redeems, distinct customers and keys, on a coupon capped at 50.
async fn cap_holds_under_300_concurrent_redeems(app: TestApp) {
    create(&app, json!({ "name": "Cap", "code": "CAP50", "discount": { "percentage": "10" }, "maxRedemptions": 50 })).await;
    let storefront = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (app, client, key) = (app.clone(), client.clone(), storefront.clone());
            tokio::spawn(async move {
                let input = redeem_input(
                    "cap50",
                    order(&format!("o{i}"), &format!("c{i}@shop.test"), "100"),
                    &format!("k{i}"),
                );
                app.http(&client, &key, REDEEM, input).await.1
            })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let body = t.await.unwrap();
        let payload = &body["data"]["redeemCoupon"];
        if payload["redemption"].is_object() {
            assert_eq!(payload["redemption"]["discount"]["amount"], "10.00");
            ok += 1;
        } else {
            assert_eq!(error_codes(payload), ["USAGE_LIMIT_REACHED"], "{body:#}");
            limited += 1;
        }
    }
    assert_eq!((ok, limited), (50, 250));
    assert_eq!(coupon_counts(&app, "CAP50").await, (50, 0));
    assert_eq!(app.count("redemptions").await, 50);
    assert_reconciled(&app).await;
}
both_backends!(cap_holds_under_300_concurrent_redeems);

/// 100 concurrent redeems by one customer against a per-customer limit of 2.
async fn per_customer_limit_holds_under_concurrency(app: TestApp) {
    create(&app, json!({ "name": "Two each", "code": "TWOEACH", "discount": { "percentage": "10" }, "perCustomerLimit": 2 })).await;
    let storefront = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (app, client, key) = (app.clone(), client.clone(), storefront.clone());
            // The same customer, spelled in different ways.
            let email = if i % 2 == 0 {
                " Ann@Shop.Test "
            } else {
                "ann@shop.test"
            };
            tokio::spawn(async move {
                app.http(
                    &client,
                    &key,
                    REDEEM,
                    redeem_input(
                        "TWOEACH",
                        order(&format!("o{i}"), email, "20"),
                        &format!("k{i}"),
                    ),
                )
                .await
                .1
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let body = t.await.unwrap();
        let payload = &body["data"]["redeemCoupon"];
        if payload["redemption"].is_object() {
            ok += 1;
        } else {
            assert_eq!(error_codes(payload), ["CUSTOMER_LIMIT_REACHED"], "{body:#}");
        }
    }
    assert_eq!(ok, 2);
    // Another customer is not affected.
    let other = app
        .http(
            &client,
            &storefront,
            REDEEM,
            redeem_input("TWOEACH", order("o-bob", "bob@shop.test", "20"), "k-bob"),
        )
        .await
        .1;
    assert!(
        other["data"]["redeemCoupon"]["redemption"].is_object(),
        "{other:#}"
    );
    // A customer id takes precedence over the e-mail.
    let by_id = json!({ "id": "o-id", "currency": "USD", "subtotal": "20", "customer": { "id": "cust-1", "email": "ann@shop.test" } });
    let body = app
        .http(
            &client,
            &storefront,
            REDEEM,
            redeem_input("TWOEACH", by_id, "k-id"),
        )
        .await
        .1;
    assert!(
        body["data"]["redeemCoupon"]["redemption"].is_object(),
        "{body:#}"
    );
    assert_reconciled(&app).await;
    // No raw e-mail address is stored.
    assert_eq!(
        app.count("redemptions WHERE customer_key LIKE '%@%' OR customer_key LIKE '%ann%'")
            .await,
        0
    );
}
both_backends!(per_customer_limit_holds_under_concurrency);

/// Single-use codes are used once each, however many tries race for them.
async fn single_use_codes_are_used_once(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "Flyers", "discount": { "amount": { "amount": "5", "currency": "USD" } } }),
    )
    .await;
    let codes: Vec<String> = (0..5).map(|i| format!("FLYER-{i}")).collect();
    let added = app.admin("mutation($id: ID!, $codes: [String!]!) { addCodes(input: { couponId: $id, codes: $codes, usageLimit: 1 }) { userErrors { code } } }", json!({ "id": coupon["id"], "codes": codes })).await;
    assert_eq!(added["addCodes"]["userErrors"], json!([]));
    let storefront = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let (app, client, key) = (app.clone(), client.clone(), storefront.clone());
            let code = format!("flyer-{}", i % 5);
            tokio::spawn(async move {
                (
                    code.to_uppercase(),
                    app.http(
                        &client,
                        &key,
                        REDEEM,
                        redeem_input(
                            &code,
                            order(&format!("o{i}"), &format!("c{i}@x.test"), "30"),
                            &format!("k{i}"),
                        ),
                    )
                    .await
                    .1,
                )
            })
        })
        .collect();
    let mut used = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        let payload = &body["data"]["redeemCoupon"];
        if payload["redemption"].is_object() {
            assert_eq!(payload["redemption"]["code"], code.as_str());
            *used.entry(code).or_default() += 1;
        } else {
            assert_eq!(
                error_codes(payload),
                ["CODE_USAGE_LIMIT_REACHED"],
                "{body:#}"
            );
        }
    }
    assert_eq!(used.len(), 5);
    assert!(used.values().all(|n| *n == 1), "{used:?}");
    assert_reconciled(&app).await;
}
both_backends!(single_use_codes_are_used_once);

/// A retry storm: 100 identical requests with one idempotency key, all at once.
async fn retry_storm_redeems_once_with_identical_responses(app: TestApp) {
    create(
        &app,
        json!({ "name": "Storm", "code": "STORM", "discount": { "percentage": "15" } }),
    )
    .await;
    let storefront = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let input = redeem_input("STORM", order("o-1", "ann@shop.test", "80"), "same-key");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, client, key, input) = (
                app.clone(),
                client.clone(),
                storefront.clone(),
                input.clone(),
            );
            tokio::spawn(async move { app.http(&client, &key, REDEEM, input).await.0 })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "responses differ");
    let first: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(
        first["data"]["redeemCoupon"]["redemption"]["status"], "REDEEMED",
        "{first:#}"
    );
    assert_eq!(app.count("redemptions").await, 1);
    assert_eq!(coupon_counts(&app, "STORM").await, (1, 0));

    // The same key with a different request is refused, and changes nothing.
    let other = redeem_input("STORM", order("o-2", "ann@shop.test", "80"), "same-key");
    let body = app.http(&client, &storefront, REDEEM, other).await.1;
    assert_eq!(
        error_codes(&body["data"]["redeemCoupon"]),
        ["IDEMPOTENCY_KEY_REUSED"]
    );
    assert_eq!(
        body["data"]["redeemCoupon"]["userErrors"][0]["field"],
        json!(["input", "idempotencyKey"])
    );
    // Keys belong to the API key that sent them.
    let second_shop = app.key(Role::Storefront).await;
    let body = app
        .http(
            &client,
            &second_shop,
            REDEEM,
            redeem_input("STORM", order("o-3", "bob@shop.test", "80"), "same-key"),
        )
        .await
        .1;
    assert!(
        body["data"]["redeemCoupon"]["redemption"].is_object(),
        "{body:#}"
    );
    assert_eq!(app.count("redemptions").await, 2);
    assert_reconciled(&app).await;
}
both_backends!(retry_storm_redeems_once_with_identical_responses);

/// Rejections are answers too: replayed for the same key.
async fn rejections_are_replayed_for_the_same_key(app: TestApp) {
    create(&app, json!({ "name": "One", "code": "ONLYONE", "discount": { "percentage": "5" }, "maxRedemptions": 1 })).await;
    let first = app
        .admin(
            REDEEM,
            redeem_input("ONLYONE", order("o1", "a@x.test", "10"), "a"),
        )
        .await;
    assert!(first["redeemCoupon"]["redemption"].is_object());
    let rejected = app
        .admin(
            REDEEM,
            redeem_input("ONLYONE", order("o2", "b@x.test", "10"), "b"),
        )
        .await;
    assert_eq!(
        error_codes(&rejected["redeemCoupon"]),
        ["USAGE_LIMIT_REACHED"]
    );
    let again = app
        .admin(
            REDEEM,
            redeem_input("ONLYONE", order("o2", "b@x.test", "10"), "b"),
        )
        .await;
    assert_eq!(again, rejected);
}
both_backends!(rejections_are_replayed_for_the_same_key);

/// A reservation holds the last use; releasing it, or its expiry, lets the next
/// customer in.
async fn released_and_expired_reservations_free_their_use(app: TestApp) {
    create(&app, json!({ "name": "Last one", "code": "LAST", "discount": { "percentage": "10" }, "maxRedemptions": 1 })).await;
    let shop = app.key(Role::Storefront).await;
    let client = reqwest::Client::new();
    let reserve = |who: &str, key: &str| json!({ "input": { "code": "last", "order": order(&format!("o-{who}"), &format!("{who}@x.test"), "50"), "idempotencyKey": key, "holdMinutes": 10 } });

    let a = app
        .http(&client, &shop, RESERVE, reserve("ann", "r1"))
        .await
        .1;
    let reservation = a["data"]["reserveCoupon"]["reservation"].clone();
    assert_eq!(reservation["status"], "RESERVED", "{a:#}");
    assert_eq!(coupon_counts(&app, "LAST").await, (0, 1));
    let b = app
        .http(&client, &shop, RESERVE, reserve("bob", "r2"))
        .await
        .1;
    assert_eq!(
        error_codes(&b["data"]["reserveCoupon"]),
        ["USAGE_LIMIT_REACHED"]
    );
    // Validation sees the reservation too.
    let v = app
        .http(
            &client,
            &shop,
            VALIDATE,
            json!({ "input": { "code": "LAST", "order": order("o-x", "x@x.test", "50") } }),
        )
        .await
        .1;
    assert_eq!(
        v["data"]["validateCoupon"]["reasons"][0]["code"],
        "USAGE_LIMIT_REACHED"
    );

    // Release: the next customer gets in; releasing again is harmless.
    let released = app
        .http(&client, &shop, RELEASE, json!({ "id": reservation["id"] }))
        .await
        .1;
    assert_eq!(
        released["data"]["releaseReservation"]["reservation"]["status"],
        "RELEASED"
    );
    let again = app
        .http(&client, &shop, RELEASE, json!({ "id": reservation["id"] }))
        .await
        .1;
    assert_eq!(
        again["data"]["releaseReservation"]["reservation"]["status"],
        "RELEASED"
    );
    let b = app
        .http(&client, &shop, RESERVE, reserve("bob", "r3"))
        .await
        .1;
    let bob = b["data"]["reserveCoupon"]["reservation"].clone();
    assert_eq!(bob["status"], "RESERVED", "{b:#}");
    // A released reservation cannot be redeemed.
    let late = app
        .http(
            &client,
            &shop,
            REDEEM,
            json!({ "input": { "reservationId": reservation["id"], "idempotencyKey": "late" } }),
        )
        .await
        .1;
    assert_eq!(
        error_codes(&late["data"]["redeemCoupon"]),
        ["INVALID_REDEMPTION_STATUS"]
    );

    // Expiry: move Bob's deadline into the past, as time would.
    app.sql("UPDATE redemptions SET reserved_until = created_at WHERE status = 'RESERVED'")
        .await;
    // Capacity comes back without any call, through the background sweep...
    let (expired, _) = coupons::service::maintenance::sweep(&app.db).await.unwrap();
    assert_eq!(expired, 1);
    assert_eq!(coupon_counts(&app, "LAST").await, (0, 0));
    let expired_redeem = app
        .http(
            &client,
            &shop,
            REDEEM,
            json!({ "input": { "reservationId": bob["id"], "idempotencyKey": "bob-pays" } }),
        )
        .await
        .1;
    assert_eq!(
        error_codes(&expired_redeem["data"]["redeemCoupon"]),
        ["RESERVATION_EXPIRED"]
    );
    // ...and a reservation that expires between sweeps is expired by the next checkout.
    let c = app
        .http(&client, &shop, RESERVE, reserve("cat", "r4"))
        .await
        .1;
    let cat = c["data"]["reserveCoupon"]["reservation"].clone();
    app.sql("UPDATE redemptions SET reserved_until = created_at WHERE status = 'RESERVED'")
        .await;
    let d = app
        .http(
            &client,
            &shop,
            REDEEM,
            redeem_input("LAST", order("o-dan", "dan@x.test", "50"), "dan"),
        )
        .await
        .1;
    assert_eq!(
        d["data"]["redeemCoupon"]["redemption"]["status"], "REDEEMED",
        "{d:#}"
    );
    let cat_row = app
        .admin(
            "query($id: ID!) { node(id: $id) { ... on Redemption { status closedAt } } }",
            json!({ "id": cat["id"] }),
        )
        .await;
    assert_eq!(cat_row["node"]["status"], "EXPIRED");
    assert_eq!(coupon_counts(&app, "LAST").await, (1, 0));
    assert_reconciled(&app).await;
}
both_backends!(released_and_expired_reservations_free_their_use);

async fn reservation_is_redeemed_on_its_terms(app: TestApp) {
    create(&app, json!({ "name": "R", "code": "RES", "discount": { "percentage": "20" }, "maxRedemptions": 5 })).await;
    let r = app.admin(RESERVE, json!({ "input": { "code": "RES", "order": order("o1", "a@x.test", "40"), "idempotencyKey": "r" } })).await;
    let reservation = &r["reserveCoupon"]["reservation"];
    assert_eq!(reservation["discount"]["amount"], "8.00");
    // Default hold: 15 minutes.
    let until =
        chrono::DateTime::parse_from_rfc3339(reservation["reservedUntil"].as_str().unwrap())
            .unwrap();
    let minutes = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((13..=15).contains(&minutes), "{minutes}");
    let redeemed = app
        .admin(
            REDEEM,
            json!({ "input": { "reservationId": reservation["id"], "idempotencyKey": "p" } }),
        )
        .await;
    let red = &redeemed["redeemCoupon"]["redemption"];
    assert_eq!(
        (
            red["id"].clone(),
            red["status"].as_str(),
            red["discount"]["amount"].as_str()
        ),
        (reservation["id"].clone(), Some("REDEEMED"), Some("8.00"))
    );
    assert_eq!(coupon_counts(&app, "RES").await, (1, 0));
    let twice = app
        .admin(
            REDEEM,
            json!({ "input": { "reservationId": reservation["id"], "idempotencyKey": "p2" } }),
        )
        .await;
    assert_eq!(
        error_codes(&twice["redeemCoupon"]),
        ["INVALID_REDEMPTION_STATUS"]
    );
    let unknown = app
        .admin(
            REDEEM,
            json!({ "input": { "reservationId": "UmVkZW1wdGlvbjo5OTk5", "idempotencyKey": "p3" } }),
        )
        .await;
    assert_eq!(
        error_codes(&unknown["redeemCoupon"]),
        ["RESERVATION_NOT_FOUND"]
    );
    let both = app.admin(REDEEM, json!({ "input": { "reservationId": reservation["id"], "code": "RES", "idempotencyKey": "p4" } })).await;
    assert_eq!(
        both["redeemCoupon"]["userErrors"][0]["field"],
        json!(["input"])
    );
    let bad_hold = app.admin(RESERVE, json!({ "input": { "code": "RES", "order": order("o2", "a@x.test", "40"), "idempotencyKey": "h", "holdMinutes": 0 } })).await;
    assert_eq!(
        bad_hold["reserveCoupon"]["userErrors"][0]["field"],
        json!(["input", "holdMinutes"])
    );
    assert_reconciled(&app).await;
}
both_backends!(reservation_is_redeemed_on_its_terms);

/// Reversals: full with RESTORE_USAGE frees the use; KEEP_USAGE keeps it; partial
/// refunds are recorded and never exceed the discount.
async fn reversals_follow_the_coupon_policy(app: TestApp) {
    create(&app, json!({ "name": "Restore", "code": "RESTORE", "discount": { "percentage": "10" }, "maxRedemptions": 1 })).await;
    create(&app, json!({ "name": "Keep", "code": "KEEP", "discount": { "percentage": "10" }, "maxRedemptions": 1, "reversalPolicy": "KEEP_USAGE" })).await;
    for (code, frees) in [("RESTORE", true), ("KEEP", false)] {
        let first = app
            .admin(
                REDEEM,
                redeem_input(
                    code,
                    order(&format!("{code}-1"), "a@x.test", "100"),
                    &format!("{code}-a"),
                ),
            )
            .await;
        let id = first["redeemCoupon"]["redemption"]["id"].clone();
        let blocked = app
            .admin(
                REDEEM,
                redeem_input(
                    code,
                    order(&format!("{code}-2"), "b@x.test", "100"),
                    &format!("{code}-b"),
                ),
            )
            .await;
        assert_eq!(
            error_codes(&blocked["redeemCoupon"]),
            ["USAGE_LIMIT_REACHED"]
        );
        let reversed = app
            .admin(
                REVERSE,
                json!({ "input": { "redemptionId": id, "idempotencyKey": format!("{code}-rev") } }),
            )
            .await;
        let r = &reversed["reverseRedemption"]["redemption"];
        assert_eq!(
            (
                r["status"].as_str(),
                r["refundedDiscount"]["amount"].as_str()
            ),
            (Some("REVERSED"), Some("10.00")),
            "{reversed:#}"
        );
        assert!(r["closedAt"].is_string());
        let next = app
            .admin(
                REDEEM,
                redeem_input(
                    code,
                    order(&format!("{code}-3"), "c@x.test", "100"),
                    &format!("{code}-c"),
                ),
            )
            .await;
        assert_eq!(
            next["redeemCoupon"]["redemption"].is_object(),
            frees,
            "{code}: {next:#}"
        );
        let again = app.admin(REVERSE, json!({ "input": { "redemptionId": id, "idempotencyKey": format!("{code}-rev2") } })).await;
        assert_eq!(
            error_codes(&again["reverseRedemption"]),
            ["INVALID_REDEMPTION_STATUS"]
        );
    }

    create(&app, json!({ "name": "Partial", "code": "PARTIAL", "discount": { "amount": { "amount": "10", "currency": "USD" } }, "maxRedemptions": 1 })).await;
    let first = app
        .admin(
            REDEEM,
            redeem_input("PARTIAL", order("p-1", "a@x.test", "100"), "p-a"),
        )
        .await;
    let id = first["redeemCoupon"]["redemption"]["id"].clone();
    let rev = |amount: &str, key: &str| json!({ "input": { "redemptionId": id, "refundedDiscount": amount, "idempotencyKey": key } });
    let part = app.admin(REVERSE, rev("4", "p1")).await;
    assert_eq!(
        part["reverseRedemption"]["redemption"]["status"],
        "PARTIALLY_REVERSED"
    );
    assert_eq!(
        part["reverseRedemption"]["redemption"]["refundedDiscount"]["amount"],
        "4.00"
    );
    // A partial refund keeps the use.
    let blocked = app
        .admin(
            REDEEM,
            redeem_input("PARTIAL", order("p-2", "b@x.test", "100"), "p-b"),
        )
        .await;
    assert_eq!(
        error_codes(&blocked["redeemCoupon"]),
        ["USAGE_LIMIT_REACHED"]
    );
    assert_eq!(
        error_codes(&app.admin(REVERSE, rev("6.01", "p2")).await["reverseRedemption"]),
        ["REFUND_EXCEEDS_DISCOUNT"]
    );
    assert_eq!(
        error_codes(&app.admin(REVERSE, rev("0.001", "p3")).await["reverseRedemption"]),
        ["AMOUNT_TOO_PRECISE"]
    );
    assert_eq!(
        error_codes(&app.admin(REVERSE, rev("-1", "p4")).await["reverseRedemption"]),
        ["AMOUNT_NOT_POSITIVE"]
    );
    let total = app
        .admin(
            "{ coupon(code: \"PARTIAL\") { totalDiscount { amount currency } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        total["coupon"]["totalDiscount"],
        json!([{ "amount": "6.00", "currency": "USD" }])
    );
    let rest = app.admin(REVERSE, rev("6", "p5")).await;
    assert_eq!(
        rest["reverseRedemption"]["redemption"]["status"],
        "REVERSED"
    );
    let next = app
        .admin(
            REDEEM,
            redeem_input("PARTIAL", order("p-3", "c@x.test", "100"), "p-c"),
        )
        .await;
    assert!(next["redeemCoupon"]["redemption"].is_object());
    let missing = app
        .admin(
            REVERSE,
            json!({ "input": { "redemptionId": "UmVkZW1wdGlvbjo5OTk5", "idempotencyKey": "m" } }),
        )
        .await;
    assert_eq!(
        error_codes(&missing["reverseRedemption"]),
        ["REDEMPTION_NOT_FOUND"]
    );
    assert_reconciled(&app).await;
}
both_backends!(reversals_follow_the_coupon_policy);

/// Every rejection reason, each asserted by its code.
async fn every_rejection_reason_has_its_code(app: TestApp) {
    let c = |input: Value| {
        let app = &app;
        async move { create(app, input).await }
    };
    c(json!({ "name": "ok", "code": "OK-USD", "discount": { "amount": { "amount": "5", "currency": "USD" } }, "minSubtotal": { "amount": "20", "currency": "USD" }, "channels": ["web"] })).await;
    c(json!({ "name": "draft", "code": "DRAFTED", "status": "DRAFT", "discount": { "percentage": "5" } })).await;
    let paused =
        c(json!({ "name": "paused", "code": "PAUSED1", "discount": { "percentage": "5" } })).await;
    app.admin("mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { userErrors { code } } }", json!({ "id": paused["id"] })).await;
    c(json!({ "name": "later", "code": "LATER", "discount": { "percentage": "5" }, "startsAt": "2099-01-01T00:00:00Z" })).await;
    c(json!({ "name": "past", "code": "PAST", "discount": { "percentage": "5" }, "startsAt": "2001-01-01T00:00:00Z", "expiresAt": "2002-01-01T00:00:00Z" })).await;
    c(json!({ "name": "capped", "code": "CAPPED", "discount": { "percentage": "5" }, "maxRedemptions": 1 })).await;
    c(json!({ "name": "limited", "code": "PERCUST", "discount": { "percentage": "5" }, "perCustomerLimit": 1 })).await;
    c(json!({ "name": "bundle", "code": "BUNDLE3", "discount": { "percentage": "5" }, "minItems": 3 })).await;
    let single = c(json!({ "name": "single", "discount": { "percentage": "5" } })).await;
    app.admin("mutation($id: ID!) { addCodes(input: { couponId: $id, codes: [\"ONCE\"], usageLimit: 1 }) { userErrors { code } } }", json!({ "id": single["id"] })).await;
    app.admin(
        REDEEM,
        redeem_input("CAPPED", order("x1", "a@x.test", "50"), "x1"),
    )
    .await;
    app.admin(
        REDEEM,
        redeem_input("ONCE", order("x2", "a@x.test", "50"), "x2"),
    )
    .await;
    app.admin(
        REDEEM,
        redeem_input("PERCUST", order("x3", "a@x.test", "50"), "x3"),
    )
    .await;

    let shop = app.key(Role::Storefront).await;
    let public = app.key(Role::Public).await;
    let web = |subtotal: &str, currency: &str, channel: Option<&str>| json!({ "id": "v", "currency": currency, "subtotal": subtotal, "channel": channel, "customer": { "email": "a@x.test" } });
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        (
            "NO-SUCH-CODE",
            web("50", "USD", Some("web")),
            "NOT_FOUND",
            None,
        ),
        (
            "DRAFTED",
            web("50", "USD", None),
            "NOT_ACTIVE",
            Some("NOT_FOUND"),
        ),
        (
            "PAUSED1",
            web("50", "USD", None),
            "NOT_ACTIVE",
            Some("NOT_FOUND"),
        ),
        (
            "LATER",
            web("50", "USD", None),
            "NOT_STARTED",
            Some("NOT_FOUND"),
        ),
        ("PAST", web("50", "USD", None), "EXPIRED", None),
        (
            "OK-USD",
            web("50", "EUR", Some("web")),
            "CURRENCY_MISMATCH",
            None,
        ),
        (
            "OK-USD",
            web("50", "USD", Some("pos")),
            "CHANNEL_NOT_ELIGIBLE",
            None,
        ),
        (
            "OK-USD",
            web("19.99", "USD", Some("web")),
            "MIN_SUBTOTAL_NOT_MET",
            None,
        ),
        (
            "BUNDLE3",
            json!({ "id": "v", "currency": "USD", "subtotal": "50", "customer": { "email": "a@x.test" },
                    "items": [{ "sku": "A", "quantity": 2, "unitPrice": "25" }] }),
            "MIN_ITEMS_NOT_MET",
            None,
        ),
        (
            "LATER",
            web("50", "USD", None),
            "NOT_STARTED",
            Some("NOT_FOUND"),
        ),
        // A used-up code tells outsiders only that, not its other terms.
        (
            "CAPPED",
            web("0", "USD", None),
            "ZERO_DISCOUNT",
            Some("USAGE_LIMIT_REACHED"),
        ),
        (
            "CAPPED",
            web("50", "USD", None),
            "USAGE_LIMIT_REACHED",
            None,
        ),
        (
            "ONCE",
            web("50", "USD", None),
            "CODE_USAGE_LIMIT_REACHED",
            None,
        ),
        (
            "PERCUST",
            json!({ "id": "v", "currency": "USD", "subtotal": "50" }),
            "CUSTOMER_REQUIRED",
            None,
        ),
        (
            "PERCUST",
            web("50", "USD", None),
            "CUSTOMER_LIMIT_REACHED",
            None,
        ),
    ];
    // Three items (two lines) meet BUNDLE3's minimum of three.
    let three = json!({ "id": "v", "currency": "USD", "subtotal": "50", "customer": { "email": "a@x.test" },
                        "items": [{ "sku": "A", "quantity": 2, "unitPrice": "20" }, { "sku": "B", "quantity": 1, "unitPrice": "10" }] });
    let v = app
        .admin(
            VALIDATE,
            json!({ "input": { "code": "BUNDLE3", "order": three } }),
        )
        .await;
    assert_eq!(v["validateCoupon"]["valid"], true, "{v:#}");
    for (code, order, admin_sees, outsiders_see) in cases {
        let input = json!({ "input": { "code": code, "order": order } });
        let as_admin = app.admin(VALIDATE, input.clone()).await;
        let v = &as_admin["validateCoupon"];
        assert_eq!(v["valid"], false, "{code}");
        assert_eq!(v["reasons"][0]["code"], admin_sees, "{code}: {v:#}");
        for key in [&shop, &public] {
            let outside = app.request(Some(key), VALIDATE, input.clone()).await;
            assert_eq!(
                outside.data()["validateCoupon"]["reasons"][0]["code"],
                outsiders_see.unwrap_or(admin_sees),
                "{code}"
            );
        }
        // The same reason blocks a redemption, under the code field.
        let redeemed = app.request(Some(&shop), REDEEM, json!({ "input": { "code": code, "order": input["input"]["order"], "idempotencyKey": format!("v-{code}-{admin_sees}") } })).await;
        let payload = &redeemed.data()["redeemCoupon"];
        assert_eq!(
            payload["userErrors"][0]["code"],
            outsiders_see.unwrap_or(admin_sees),
            "{code}"
        );
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "code"]));
    }
    // Valid: the discount is computed, and validation writes nothing.
    let before = app.count("redemptions").await;
    let ok = app
        .request(
            Some(&public),
            VALIDATE,
            json!({ "input": { "code": "ok-usd", "order": web("50", "USD", Some("web")) } }),
        )
        .await;
    assert_eq!(
        ok.data()["validateCoupon"],
        json!({ "valid": true, "discount": { "amount": "5.00", "currency": "USD" }, "reasons": [], "userErrors": [] })
    );
    assert_eq!(app.count("redemptions").await, before);
    // Bad order input is a userError naming the field.
    let bad = app.admin(VALIDATE, json!({ "input": { "code": "OK-USD", "order": { "id": "v", "currency": "USD", "subtotal": "-1", "customer": { "email": "nope" } } } })).await;
    let fields: Vec<Value> = bad["validateCoupon"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(
        fields,
        [
            json!(["input", "order", "subtotal"]),
            json!(["input", "order", "customer", "email"])
        ]
    );
    // Public keys may validate, but not redeem.
    let denied = app
        .request(
            Some(&public),
            REDEEM,
            redeem_input("OK-USD", web("50", "USD", Some("web")), "pub"),
        )
        .await;
    assert_eq!(denied.error_code(), Some("FORBIDDEN"));
}
// This test checks one customer's reasons over and over; it is not about throttling.
both_backends!(
    every_rejection_reason_has_its_code,
    crate::harness::Options {
        limiter: Some(coupons::service::limiter::LimiterSettings {
            public: coupons::service::limiter::Budget::UNLIMITED,
            storefront: coupons::service::limiter::Budget::UNLIMITED,
            ..Default::default()
        }),
        ..Default::default()
    }
);

async fn discounts_are_computed_and_rounded(app: TestApp) {
    create(&app, json!({ "name": "Odd", "code": "ODD", "discount": { "percentage": "12.5", "maxDiscount": { "amount": "3", "currency": "USD" } } })).await;
    create(
        &app,
        json!({ "name": "Yen", "code": "YEN", "discount": { "percentage": "25" } }),
    )
    .await;
    let check = |code: &str, currency: &str, subtotal: &str| {
        let app = &app;
        let input = json!({ "input": { "code": code, "order": { "id": "d", "currency": currency, "subtotal": subtotal } } });
        async move { app.admin(VALIDATE, input).await["validateCoupon"]["discount"].clone() }
    };
    // 12.5% of 1.00 = 0.125 -> 0.13 (half away from zero).
    assert_eq!(
        check("ODD", "USD", "1.00").await,
        json!({ "amount": "0.13", "currency": "USD" })
    );
    // Capped at 3.00.
    assert_eq!(
        check("ODD", "USD", "100").await,
        json!({ "amount": "3.00", "currency": "USD" })
    );
    // 25% of 50 JPY = 12.5 -> 13 yen; no cap, so any currency.
    assert_eq!(
        check("YEN", "JPY", "50").await,
        json!({ "amount": "13", "currency": "JPY" })
    );
}
both_backends!(discounts_are_computed_and_rounded);

async fn redemption_history_filters(app: TestApp) {
    let a = create(
        &app,
        json!({ "name": "A", "code": "HIST-A", "discount": { "percentage": "5" } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "B", "code": "HIST-B", "discount": { "percentage": "5" } }),
    )
    .await;
    for i in 0..5 {
        app.admin(
            REDEEM,
            redeem_input(
                "HIST-A",
                order(&format!("a{i}"), &format!("u{}@x.test", i % 2), "10"),
                &format!("a{i}"),
            ),
        )
        .await;
    }
    app.admin(
        REDEEM,
        redeem_input("HIST-B", order("b0", "u0@x.test", "10"), "b0"),
    )
    .await;
    app.admin(RESERVE, json!({ "input": { "code": "HIST-B", "order": order("b1", "u1@x.test", "10"), "idempotencyKey": "b1" } })).await;
    let list = |filter: Value| {
        let app = &app;
        async move {
            let d = app.admin("query($f: RedemptionFilter) { redemptions(first: 100, filter: $f) { nodes { orderId status } } }", json!({ "f": filter })).await;
            d["redemptions"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["orderId"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(json!({ "couponId": a["id"] })).await,
        ["a4", "a3", "a2", "a1", "a0"]
    );
    assert_eq!(
        list(json!({ "customerEmail": " U0@x.test" })).await,
        ["b0", "a4", "a2", "a0"]
    );
    assert_eq!(list(json!({ "orderId": "b1" })).await, ["b1"]);
    assert_eq!(list(json!({ "status": "RESERVED" })).await, ["b1"]);
    assert_eq!(list(json!({})).await.len(), 7);
    let page = app
        .admin(
            "{ redemptions(first: 3) { pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(page["redemptions"]["pageInfo"]["hasNextPage"], true);
    let totals = app.admin("{ coupon(code: \"HIST-A\") { redemptionCount reservedCount totalDiscount { amount currency } } }", json!({})).await;
    assert_eq!(
        totals["coupon"],
        json!({ "redemptionCount": 5, "reservedCount": 0, "totalDiscount": [{ "amount": "2.50", "currency": "USD" }] })
    );
    // Analysts read history; storefronts do not.
    let analyst = app.key(Role::Analyst).await;
    assert!(
        app.request(
            Some(&analyst),
            "{ redemptions { nodes { id } } }",
            json!({})
        )
        .await
        .error_code()
        .is_none()
    );
    let shop = app.key(Role::Storefront).await;
    assert_eq!(
        app.request(Some(&shop), "{ redemptions { nodes { id } } }", json!({}))
            .await
            .error_code(),
        Some("FORBIDDEN")
    );
}
both_backends!(redemption_history_filters);

async fn delete_is_refused_after_a_real_redemption(app: TestApp) {
    let c = create(
        &app,
        json!({ "name": "Used", "code": "USED", "discount": { "percentage": "5" } }),
    )
    .await;
    app.admin(
        REDEEM,
        redeem_input("USED", order("u1", "a@x.test", "10"), "u1"),
    )
    .await;
    let d = app
        .admin(
            "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { userErrors { code } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(
        d["deleteCoupon"]["userErrors"][0]["code"],
        "HAS_REDEMPTIONS"
    );
}
both_backends!(delete_is_refused_after_a_real_redemption);

/// A coupon whose only uses were given back (a reservation released, a redemption fully
/// reversed) keeps its history, so it is refused too: no fault from the history's
/// references.
async fn delete_is_refused_after_uses_given_back(app: TestApp) {
    let delete = async |id: &Value| {
        let d = app
            .admin(
                "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { deletedCouponId userErrors { code } } }",
                json!({ "id": id }),
            )
            .await;
        d["deleteCoupon"]["userErrors"][0]["code"].clone()
    };
    let reserved = create(
        &app,
        json!({ "name": "Held", "code": "HELD", "discount": { "percentage": "5" } }),
    )
    .await;
    let r = app
        .admin(
            RESERVE,
            redeem_input("HELD", order("h1", "a@x.test", "10"), "h1"),
        )
        .await;
    assert_eq!(
        delete(&reserved["id"]).await,
        "HAS_REDEMPTIONS",
        "a live reservation"
    );
    app.admin(
        "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { userErrors { code } } }",
        json!({ "id": r["reserveCoupon"]["reservation"]["id"] }),
    )
    .await;
    assert_eq!(
        delete(&reserved["id"]).await,
        "HAS_REDEMPTIONS",
        "a released one"
    );

    let reversed = create(
        &app,
        json!({ "name": "Back", "code": "BACK", "discount": { "percentage": "5" } }),
    )
    .await;
    let r = app
        .admin(
            REDEEM,
            redeem_input("BACK", order("b1", "a@x.test", "10"), "b1"),
        )
        .await;
    app.admin(
        "mutation($id: ID!) { reverseRedemption(input: { redemptionId: $id, idempotencyKey: \"b1-back\" }) { userErrors { code } } }",
        json!({ "id": r["redeemCoupon"]["redemption"]["id"] }),
    )
    .await;
    assert_eq!(
        delete(&reversed["id"]).await,
        "HAS_REDEMPTIONS",
        "a reversed one"
    );
}
both_backends!(delete_is_refused_after_uses_given_back);

/// Validation changes nothing but the attempt count, which is kept per coupon, hour and
/// outcome.
async fn validation_attempts_are_counted(app: TestApp) {
    create(&app, json!({ "name": "Counted", "code": "COUNTED", "discount": { "percentage": "10" }, "minSubtotal": { "amount": "50", "currency": "USD" } })).await;
    let shop = app.key(Role::Storefront).await;
    for subtotal in ["60", "70", "80", "10", "20"] {
        app.request(
            Some(&shop),
            VALIDATE,
            json!({ "input": { "code": "counted", "order": order("v", "a@x.test", subtotal) } }),
        )
        .await;
    }
    for code in ["NOPE1", "bad code!"] {
        app.request(
            Some(&shop),
            VALIDATE,
            json!({ "input": { "code": code, "order": order("v", "a@x.test", "10") } }),
        )
        .await;
    }
    assert_eq!(app.count("redemptions").await, 0);
    app.attempts.flush(&app.db).await.unwrap();
    let data = app
        .admin(
            "{ coupon(code: \"COUNTED\") { validationAttempts } }",
            json!({}),
        )
        .await;
    assert_eq!(data["coupon"]["validationAttempts"], 5);
    assert_eq!(
        app.count("validation_attempts WHERE outcome = 'VALID' AND attempts = 3")
            .await,
        1
    );
    assert_eq!(
        app.count("validation_attempts WHERE outcome = 'MIN_SUBTOTAL_NOT_MET' AND attempts = 2")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "validation_attempts WHERE coupon_id = 0 AND outcome = 'NOT_FOUND' AND attempts = 2"
        )
        .await,
        1
    );
    // A second flush adds to the same rows.
    app.request(
        Some(&shop),
        VALIDATE,
        json!({ "input": { "code": "COUNTED", "order": order("v", "a@x.test", "90") } }),
    )
    .await;
    app.attempts.flush(&app.db).await.unwrap();
    assert_eq!(
        app.count("validation_attempts WHERE outcome = 'VALID' AND attempts = 4")
            .await,
        1
    );
}
both_backends!(validation_attempts_are_counted);
