//! Several coupons on one order: a coupon is used at most once per order id, and the
//! discounts of an order never add up to more than its subtotal, however the calls
//! come (one after another, or racing).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{REDEEM, RESERVE, VALIDATE, assert_reconciled, order, redeem_input};
use crate::coupons::create;
use crate::harness::TestApp;

/// A fixed-amount coupon that shares orders with other order discounts.
fn fixed(code: &str, amount: &str) -> Value {
    json!({ "name": code, "code": code, "combinesWith": ["ORDER"],
            "discount": { "amount": { "amount": amount, "currency": "USD" } } })
}

async fn redeem(app: &TestApp, code: &str, order_id: &str, key: &str) -> Value {
    let data = app
        .admin(
            REDEEM,
            redeem_input(code, order(order_id, "ann@example.com", "100.00"), key),
        )
        .await;
    data["redeemCoupon"].clone()
}

fn user_error(payload: &Value) -> Option<&str> {
    payload["userErrors"][0]["code"].as_str()
}

/// The case that lost money: subtotal 100.00, coupon A (50.00), coupon B (60.00), then A
/// again, each redeemed separately with the same order id. A's second use is refused, B
/// gives only what is left (50.00), and a third coupon finds nothing left to take.
async fn one_order_cannot_take_more_than_its_subtotal(app: TestApp) {
    for (code, amount) in [("A50", "50"), ("B60", "60"), ("C10", "10")] {
        create(&app, fixed(code, amount)).await;
    }
    let a = redeem(&app, "A50", "order-1", "k1").await;
    assert_eq!(a["redemption"]["discount"]["amount"], "50.00", "{a:#}");

    let b = redeem(&app, "B60", "order-1", "k2").await;
    assert_eq!(b["redemption"]["discount"]["amount"], "50.00", "{b:#}");

    let again = redeem(&app, "A50", "order-1", "k3").await;
    assert_eq!(
        user_error(&again),
        Some("ALREADY_APPLIED_TO_ORDER"),
        "{again:#}"
    );
    assert!(again["redemption"].is_null());

    let c = redeem(&app, "C10", "order-1", "k4").await;
    assert_eq!(user_error(&c), Some("ORDER_FULLY_DISCOUNTED"), "{c:#}");

    // Validation tells the same, without writing.
    let validated = app
        .admin(
            VALIDATE,
            json!({ "input": { "code": "A50", "order": order("order-1", "ann@example.com", "100.00") } }),
        )
        .await;
    let reasons: Vec<&str> = validated["validateCoupon"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["ALREADY_APPLIED_TO_ORDER"]);

    // A retry with the first call's key replays it; it is not a second use.
    let replay = redeem(&app, "A50", "order-1", "k1").await;
    assert_eq!(replay["redemption"]["id"], a["redemption"]["id"]);

    // The same coupons on another order are untouched by this one.
    let other = redeem(&app, "A50", "order-2", "k5").await;
    assert_eq!(
        other["redemption"]["discount"]["amount"], "50.00",
        "{other:#}"
    );

    let total: i64 = app
        .scalar(
            "SELECT CAST(SUM(discount_minor) AS BIGINT) FROM redemptions WHERE order_id = 'order-1' AND holds_use",
        )
        .await;
    assert_eq!(total, 10_000);
    assert_reconciled(&app).await;
}
both_backends!(one_order_cannot_take_more_than_its_subtotal);

/// A coupon that combines with nothing (the default) is alone on its order: another
/// coupon on the order refuses it, naming that coupon, and it refuses the next one.
async fn an_exclusive_coupon_is_alone_on_its_order(app: TestApp) {
    create(&app, fixed("SHARE10", "10")).await;
    let solo = create(
        &app,
        json!({ "name": "Solo", "code": "SOLO20",
                "discount": { "amount": { "amount": "20", "currency": "USD" } } }),
    )
    .await;
    let policy = app
        .admin(
            "query($id: ID) { coupon(id: $id) { discountClass combinesWith exclusive priority } }",
            json!({ "id": solo["id"] }),
        )
        .await;
    assert_eq!(
        policy["coupon"],
        json!({ "discountClass": "ORDER", "combinesWith": [], "exclusive": true, "priority": 0 })
    );
    assert!(redeem(&app, "SHARE10", "order-x", "x1").await["redemption"].is_object());
    let refused = redeem(&app, "SOLO20", "order-x", "x2").await;
    assert_eq!(user_error(&refused), Some("NOT_COMBINABLE"), "{refused:#}");
    assert!(
        refused["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("SHARE10"),
        "{refused:#}"
    );
    let validated = app
        .admin(
            "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { reasons { code conflictingCode } } }",
            json!({ "input": { "code": "SOLO20", "order": order("order-x", "ann@example.com", "100.00") } }),
        )
        .await;
    assert_eq!(
        validated["validateCoupon"]["reasons"],
        json!([{ "code": "NOT_COMBINABLE", "conflictingCode": "SHARE10" }])
    );

    assert!(redeem(&app, "SOLO20", "order-y", "y1").await["redemption"].is_object());
    let after = redeem(&app, "SHARE10", "order-y", "y2").await;
    assert_eq!(user_error(&after), Some("NOT_COMBINABLE"), "{after:#}");
    assert_reconciled(&app).await;
}
both_backends!(an_exclusive_coupon_is_alone_on_its_order);

/// A reservation is a use on its order too: the same coupon cannot be reserved twice
/// for one order, nor redeemed by code beside its reservation; releasing it frees it.
async fn a_reservation_holds_its_place_on_the_order(app: TestApp) {
    create(&app, fixed("HOLD30", "30")).await;
    let reserve = |key: &'static str| {
        let mut input = redeem_input("HOLD30", order("order-7", "ann@example.com", "100.00"), key);
        input["input"]["holdMinutes"] = json!(5);
        input
    };
    let first = app.admin(RESERVE, reserve("r1")).await;
    let id = first["reserveCoupon"]["reservation"]["id"].clone();
    assert!(id.is_string(), "{first:#}");
    let second = app.admin(RESERVE, reserve("r2")).await;
    assert_eq!(
        user_error(&second["reserveCoupon"]),
        Some("ALREADY_APPLIED_TO_ORDER")
    );
    let direct = redeem(&app, "HOLD30", "order-7", "d1").await;
    assert_eq!(user_error(&direct), Some("ALREADY_APPLIED_TO_ORDER"));

    app.admin(
        "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { userErrors { code } } }",
        json!({ "id": id }),
    )
    .await;
    let after = redeem(&app, "HOLD30", "order-7", "d2").await;
    assert_eq!(
        after["redemption"]["discount"]["amount"], "30.00",
        "{after:#}"
    );
    assert_reconciled(&app).await;
}
both_backends!(a_reservation_holds_its_place_on_the_order);

/// Racing calls on one order: 40 redemptions of one coupon with distinct keys give one
/// use; 40 calls spread over eight 30.00 coupons never take more than the 100.00
/// subtotal between them.
async fn racing_calls_on_one_order_stay_within_it(app: TestApp) {
    let app = Arc::new(app);
    create(&app, fixed("SAME25", "25")).await;
    for i in 0..8 {
        create(&app, fixed(&format!("MANY{i}"), "30")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let same = redeem(&app, "SAME25", "race-1", &format!("same-{i}")).await;
            let many = redeem(
                &app,
                &format!("MANY{}", i % 8),
                "race-2",
                &format!("many-{i}"),
            )
            .await;
            (same, many)
        }));
    }
    let mut applied_same = 0;
    for task in tasks {
        let (same, many) = task.await.unwrap();
        for payload in [&same, &many] {
            if let Some(code) = user_error(payload) {
                assert!(
                    ["ALREADY_APPLIED_TO_ORDER", "ORDER_FULLY_DISCOUNTED"].contains(&code),
                    "{payload:#}"
                );
            }
        }
        if same["redemption"].is_object() {
            applied_same += 1;
        }
    }
    assert_eq!(applied_same, 1);
    let total = |order: &'static str| {
        let app = app.clone();
        async move {
            app.scalar(&format!(
                "SELECT CAST(COALESCE(SUM(discount_minor), 0) AS BIGINT) FROM redemptions WHERE order_id = '{order}' AND holds_use"
            ))
            .await
        }
    };
    assert_eq!(total("race-1").await, 2_500);
    assert_eq!(
        total("race-2").await,
        10_000,
        "the subtotal is used up exactly"
    );
    let uses: i64 = app
        .scalar("SELECT COUNT(*) FROM redemptions WHERE order_id = 'race-2' AND holds_use")
        .await;
    assert_eq!(uses, 4, "30 + 30 + 30 + 10");
    assert_reconciled(&app).await;
}
both_backends!(racing_calls_on_one_order_stay_within_it);

const VALIDATE_CART: &str = r#"
query($input: ValidateCartInput!) {
  validateCart(input: $input) {
    valid discount { amount currency }
    applied { code discount { amount } }
    leftOut { code reasons { code conflictingCode } }
    userErrors { field code message }
  }
}"#;

const REDEEM_CART: &str = r#"
mutation($input: RedeemCartInput!) {
  redeemCart(input: $input) {
    redemptions { id code status discount { amount } }
    leftOut { code reasons { code conflictingCode } }
    userErrors { field code message }
  }
}"#;

fn cart(codes: &[&str], order_id: &str, subtotal: &str) -> Value {
    json!({ "input": { "codes": codes, "order": order(order_id, "ann@example.com", subtotal) } })
}

fn redeem_cart_input(codes: &[&str], order_id: &str, key: &str) -> Value {
    let mut input = cart(codes, order_id, "100.00");
    input["input"]["idempotencyKey"] = json!(key);
    input
}

/// The worked example of docs/checkout.md: on a 100.00 order, SAVE10 (10%, combines with
/// order discounts), TAKE20 (20.00 off, combines, priority 1) and SOLO30 (30% alone).
/// Together SAVE10 and TAKE20 give 28.00 (TAKE20 first, then 10% of the 80.00 left),
/// less than SOLO30's 30.00 alone, so SOLO30 wins; with SOLO25 instead, the pair wins.
async fn a_cart_gets_the_best_set_of_its_codes(app: TestApp) {
    create(
        &app,
        json!({ "name": "Save 10%", "code": "SAVE10", "combinesWith": ["ORDER"],
        "discount": { "percentage": "10" } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "Take 20", "code": "TAKE20", "combinesWith": ["ORDER"], "priority": 1,
        "discount": { "amount": { "amount": "20", "currency": "USD" } } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "Solo 30%", "code": "SOLO30", "discount": { "percentage": "30" } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "Solo 25%", "code": "SOLO25", "discount": { "percentage": "25" } }),
    )
    .await;

    let three = app
        .admin(
            VALIDATE_CART,
            cart(&["save10", "take20", "solo30"], "cart-1", "100.00"),
        )
        .await;
    assert_eq!(
        three["validateCart"],
        json!({
            "valid": false,
            "discount": { "amount": "30.00", "currency": "USD" },
            "applied": [{ "code": "SOLO30", "discount": { "amount": "30.00" } }],
            "leftOut": [
                { "code": "SAVE10", "reasons": [{ "code": "NOT_COMBINABLE", "conflictingCode": "SOLO30" }] },
                { "code": "TAKE20", "reasons": [{ "code": "NOT_COMBINABLE", "conflictingCode": "SOLO30" }] }
            ],
            "userErrors": []
        })
    );
    let pair_wins = app
        .admin(
            VALIDATE_CART,
            cart(&["SAVE10", "SOLO25", "TAKE20"], "cart-1", "100.00"),
        )
        .await;
    assert_eq!(
        pair_wins["validateCart"]["applied"],
        json!([
            { "code": "TAKE20", "discount": { "amount": "20.00" } },
            { "code": "SAVE10", "discount": { "amount": "8.00" } }
        ])
    );
    assert_eq!(pair_wins["validateCart"]["discount"]["amount"], "28.00");
    assert_eq!(
        pair_wins["validateCart"]["leftOut"],
        json!([{ "code": "SOLO25", "reasons": [{ "code": "NOT_COMBINABLE", "conflictingCode": "TAKE20" }] }])
    );

    // All or none: a cart with a code that does not fit writes nothing.
    let refused = app
        .admin(
            REDEEM_CART,
            redeem_cart_input(&["SAVE10", "TAKE20", "SOLO25"], "cart-1", "c1"),
        )
        .await;
    assert_eq!(refused["redeemCart"]["redemptions"], json!([]));
    assert_eq!(refused["redeemCart"]["leftOut"][0]["code"], "SOLO25");
    assert_eq!(app.count("redemptions").await, 0);

    let done = app
        .admin(
            REDEEM_CART,
            redeem_cart_input(&["SAVE10", "TAKE20"], "cart-1", "c2"),
        )
        .await;
    let rows = done["redeemCart"]["redemptions"]
        .as_array()
        .unwrap()
        .clone();
    let amounts: Vec<&str> = rows
        .iter()
        .map(|r| r["discount"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["8.00", "20.00"], "{done:#}");
    let replay = app
        .admin(
            REDEEM_CART,
            redeem_cart_input(&["SAVE10", "TAKE20"], "cart-1", "c2"),
        )
        .await;
    assert_eq!(replay["redeemCart"]["redemptions"], json!(rows));

    // The order now holds both: a third code must fit beside them.
    let after = app
        .admin(VALIDATE_CART, cart(&["SOLO30"], "cart-1", "100.00"))
        .await;
    assert_eq!(
        after["validateCart"]["leftOut"][0]["reasons"][0]["code"],
        "NOT_COMBINABLE"
    );
    assert_reconciled(&app).await;
}
both_backends!(a_cart_gets_the_best_set_of_its_codes);

/// 200 carts at once over four capped coupons that share orders, each naming two or
/// three of them in a different order, and a capped automatic discount every cart gets
/// while it lasts: every cap is exact, every order's total within its subtotal, every
/// answer all or nothing for the typed codes, and no caller sees a deadlock.
async fn racing_carts_keep_every_cap(app: TestApp) {
    let app = Arc::new(app);
    let names = ["RACE1", "RACE2", "RACE3", "RACE4"];
    for name in names {
        create(
            &app,
            json!({ "name": name, "code": name, "combinesWith": ["ORDER"], "maxRedemptions": 40,
            "discount": { "amount": { "amount": "15", "currency": "USD" } } }),
        )
        .await;
    }
    create(
        &app,
        json!({ "name": "AUTORACE", "automatic": true, "combinesWith": ["ORDER"], "maxRedemptions": 60,
        "discount": { "amount": { "amount": "5", "currency": "USD" } } }),
    )
    .await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..200_usize {
        let app = app.clone();
        let client = client.clone();
        let mut codes: Vec<&str> = (0..2 + i % 2)
            .map(|k| names[(i + k * (1 + i % 3)) % 4])
            .collect();
        codes.sort_unstable();
        codes.dedup();
        // Half the carts name their coupons in the opposite order.
        if i % 2 == 1 {
            codes.reverse();
        }
        tasks.push(tokio::spawn(async move {
            let vars = redeem_cart_input(&codes, &format!("race-cart-{i}"), &format!("k{i}"));
            let (_, body) = app.http(&client, &app.admin, REDEEM_CART, vars).await;
            (codes.len(), body)
        }));
    }
    let mut applied = 0;
    for task in tasks {
        let (n, body) = task.await.unwrap();
        assert!(body.get("errors").is_none(), "{body:#}");
        let payload = &body["data"]["redeemCart"];
        let redemptions = payload["redemptions"].as_array().unwrap();
        let automatic = redemptions
            .iter()
            .filter(|r| r["code"].as_str().unwrap().starts_with("AUTO#"))
            .count();
        assert!(automatic <= 1, "{payload:#}");
        let written = redemptions.len() - automatic;
        assert!(written == 0 || written == n, "all or nothing: {payload:#}");
        if written == 0 {
            for left in payload["leftOut"].as_array().unwrap() {
                let reason = left["reasons"][0]["code"].as_str().unwrap();
                assert_eq!(reason, "USAGE_LIMIT_REACHED", "{payload:#}");
            }
        }
        applied += written;
    }
    let mut at_cap = 0;
    for name in names {
        let used: i64 = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE c.name = '{name}' AND r.holds_use"
            ))
            .await;
        assert!(used <= 40, "{name}: {used}");
        at_cap += usize::from(used == 40);
    }
    assert!(at_cap > 0, "the caps were reached");
    let automatic: i64 = app
        .scalar("SELECT COUNT(*) FROM redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE c.name = 'AUTORACE' AND r.holds_use")
        .await;
    assert_eq!(automatic, 60, "the automatic discount's cap, exactly");
    assert!(applied >= 100, "most carts fit: {applied}");
    let over: i64 = app
        .scalar("SELECT COUNT(*) FROM (SELECT order_id FROM redemptions GROUP BY order_id HAVING SUM(discount_minor) > 10000) t")
        .await;
    assert_eq!(over, 0);
    assert_reconciled(&app).await;
}
both_backends!(racing_carts_keep_every_cap);

/// A cart's reservations are released, and its redemptions reversed, all at once: each
/// row as its own release or reversal would leave it, the counters given back, and a
/// retried reversal replayed.
async fn a_whole_cart_is_released_or_reversed_at_once(app: TestApp) {
    for code in ["BAG1", "BAG2"] {
        create(&app, fixed(code, "10")).await;
    }
    let reserve = "mutation($input: ReserveCartInput!) { reserveCart(input: $input) { redemptions { id status } userErrors { code } } }";
    let mut input = cart(&["BAG1", "BAG2"], "bag-1", "100.00");
    input["input"]["idempotencyKey"] = json!("bag-1-hold");
    let held = app.admin(reserve, input).await;
    assert_eq!(
        held["reserveCart"]["redemptions"].as_array().unwrap().len(),
        2,
        "{held:#}"
    );

    let release = "mutation($o: String!) { releaseCart(input: { orderId: $o }) { redemptions { code status } userErrors { code } } }";
    let released = app.admin(release, json!({ "o": "bag-1" })).await;
    assert_eq!(
        released["releaseCart"]["redemptions"],
        json!([{ "code": "BAG1", "status": "RELEASED" }, { "code": "BAG2", "status": "RELEASED" }])
    );
    let again = app.admin(release, json!({ "o": "bag-1" })).await;
    assert_eq!(again["releaseCart"]["redemptions"], json!([]));

    let done = app
        .admin(
            REDEEM_CART,
            redeem_cart_input(&["BAG1", "BAG2"], "bag-2", "bag-2-pay"),
        )
        .await;
    assert_eq!(
        done["redeemCart"]["redemptions"].as_array().unwrap().len(),
        2
    );
    let reverse = "mutation($o: String!, $k: String!) { reverseCart(input: { orderId: $o, idempotencyKey: $k }) { redemptions { id code status } userErrors { code } } }";
    let reversed = app
        .admin(reverse, json!({ "o": "bag-2", "k": "bag-2-back" }))
        .await;
    let statuses: Vec<&str> = reversed["reverseCart"]["redemptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["REVERSED", "REVERSED"], "{reversed:#}");
    let replay = app
        .admin(reverse, json!({ "o": "bag-2", "k": "bag-2-back" }))
        .await;
    assert_eq!(replay["reverseCart"], reversed["reverseCart"]);
    let holding: i64 = app
        .scalar(
            "SELECT COUNT(*) FROM redemptions WHERE order_id IN ('bag-1', 'bag-2') AND holds_use",
        )
        .await;
    assert_eq!(holding, 0, "every use given back");
    assert_reconciled(&app).await;
}
both_backends!(a_whole_cart_is_released_or_reversed_at_once);

fn half_at_most() -> crate::harness::Options {
    crate::harness::Options {
        max_order_discount: Some(
            coupons_domain::Percentage::new(rust_decimal::Decimal::from(50)).unwrap(),
        ),
        ..crate::harness::Options::default()
    }
}

/// With `COUPONS_MAX_ORDER_DISCOUNT_PERCENT=50`, no order's discounts take more than half
/// of it: one coupon alone is cut to the half, and in a cart the later coupon gets what
/// is left of it (a percentage still counts on what is left of the subtotal).
async fn the_configured_share_caps_every_order(app: TestApp) {
    create(
        &app,
        json!({ "name": "Big", "code": "BIG80", "discount": { "percentage": "80" } }),
    )
    .await;
    for code in ["PCT30A", "PCT30B"] {
        create(
            &app,
            json!({ "name": code, "code": code, "combinesWith": ["ORDER"],
            "discount": { "percentage": "30" } }),
        )
        .await;
    }
    let alone = redeem(&app, "BIG80", "share-1", "s1").await;
    assert_eq!(
        alone["redemption"]["discount"]["amount"], "50.00",
        "{alone:#}"
    );

    let pair = app
        .admin(
            VALIDATE_CART,
            cart(&["PCT30A", "PCT30B"], "share-2", "100.00"),
        )
        .await;
    assert_eq!(
        pair["validateCart"]["applied"],
        json!([
            { "code": "PCT30A", "discount": { "amount": "30.00" } },
            { "code": "PCT30B", "discount": { "amount": "20.00" } }
        ])
    );
    let done = app
        .admin(
            REDEEM_CART,
            redeem_cart_input(&["PCT30A", "PCT30B"], "share-2", "s2"),
        )
        .await;
    assert_eq!(
        done["redeemCart"]["redemptions"].as_array().unwrap().len(),
        2,
        "{done:#}"
    );
    let third = redeem(&app, "BIG80", "share-2", "s3").await;
    assert_eq!(user_error(&third), Some("NOT_COMBINABLE"), "{third:#}");
    let total: i64 = app
        .scalar("SELECT CAST(SUM(discount_minor) AS BIGINT) FROM redemptions WHERE order_id = 'share-2'")
        .await;
    assert_eq!(total, 5_000);
    assert_reconciled(&app).await;
}
both_backends!(the_configured_share_caps_every_order, super::half_at_most());

/// A per-customer cap on discount *amount*: 20% off, at most 30.00 per customer. Ann's
/// first order gets 20.00, her second the 10.00 left, her third nothing
/// (CUSTOMER_DISCOUNT_LIMIT_REACHED); Bob is counted apart; an order without a customer
/// is refused; a refund gives the amount back; the cap must be in the coupon's currency.
async fn a_customer_gets_no_more_discount_than_the_coupon_allows(app: TestApp) {
    create(
        &app,
        json!({ "name": "20% up to 30 each", "code": "CAP30", "discount": { "percentage": "20" },
                "maxDiscountPerCustomer": { "amount": "30", "currency": "USD" } }),
    )
    .await;
    let redeem_as = |email: &'static str, order_id: &'static str| {
        let app = &app;
        async move {
            app.admin(
                REDEEM,
                redeem_input("CAP30", order(order_id, email, "100.00"), order_id),
            )
            .await["redeemCoupon"]
                .clone()
        }
    };
    let first = redeem_as("ann@example.com", "cap-1").await;
    assert_eq!(first["redemption"]["discount"]["amount"], "20.00");
    let second = redeem_as("ann@example.com", "cap-2").await;
    assert_eq!(
        second["redemption"]["discount"]["amount"], "10.00",
        "{second:#}"
    );
    let third = redeem_as("ann@example.com", "cap-3").await;
    assert_eq!(
        user_error(&third),
        Some("CUSTOMER_DISCOUNT_LIMIT_REACHED"),
        "{third:#}"
    );
    let bob = redeem_as("bob@example.com", "cap-4").await;
    assert_eq!(bob["redemption"]["discount"]["amount"], "20.00");
    let nobody = app
        .admin(
            REDEEM,
            redeem_input(
                "CAP30",
                json!({ "id": "cap-5", "currency": "USD", "subtotal": "100.00" }),
                "cap-5",
            ),
        )
        .await;
    assert_eq!(
        user_error(&nobody["redeemCoupon"]),
        Some("CUSTOMER_REQUIRED")
    );
    // Ann's first redemption refunded: its 20.00 no longer counts.
    app.admin(
        "mutation($id: ID!) { reverseRedemption(input: { redemptionId: $id, idempotencyKey: \"back\" }) { userErrors { code } } }",
        json!({ "id": first["redemption"]["id"] }),
    )
    .await;
    let again = redeem_as("ann@example.com", "cap-6").await;
    assert_eq!(
        again["redemption"]["discount"]["amount"], "20.00",
        "{again:#}"
    );

    let wrong = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { userErrors { field code } } }",
            json!({ "input": { "name": "Euro", "code": "EURCAP",
                "discount": { "amount": { "amount": "5", "currency": "EUR" } },
                "maxDiscountPerCustomer": { "amount": "30", "currency": "USD" } } }),
        )
        .await;
    assert_eq!(
        wrong["createCoupon"]["userErrors"],
        json!([{ "field": ["input", "maxDiscountPerCustomer", "currency"], "code": "CURRENCY_MISMATCH" }])
    );
    assert_reconciled(&app).await;
}
both_backends!(a_customer_gets_no_more_discount_than_the_coupon_allows);

/// A coupon's own cap on the order (`maxOrderDiscountPercent`): TOPUP (20%, capped at 25%
/// of the order) gives 20.00 alone; after TAKE15 (15.00, priority 1) in a cart it gives
/// only the 10.00 that brings the order to 25.00 (not 20% of the 85.00 left); on an order
/// that already holds 30.00 it gives nothing and is left out. The cap is refused on a
/// shipping discount and can be cleared.
async fn a_coupon_caps_the_order_it_joins(app: TestApp) {
    let topup = create(
        &app,
        json!({ "name": "Top up", "code": "TOPUP", "combinesWith": ["ORDER"],
                "discount": { "percentage": "20" }, "maxOrderDiscountPercent": "25" }),
    )
    .await;
    let read = app
        .admin(
            "query($id: ID!) { coupon(id: $id) { maxOrderDiscountPercent } }",
            json!({ "id": topup["id"] }),
        )
        .await;
    assert_eq!(read["coupon"]["maxOrderDiscountPercent"], "25");
    create(
        &app,
        json!({ "name": "Take 15", "code": "TAKE15", "combinesWith": ["ORDER"], "priority": 1,
                "discount": { "amount": { "amount": "15", "currency": "USD" } } }),
    )
    .await;
    create(
        &app,
        json!({ "name": "Take 30", "code": "TAKE30", "combinesWith": ["ORDER"],
                "discount": { "amount": { "amount": "30", "currency": "USD" } } }),
    )
    .await;
    let alone = app
        .admin(VALIDATE_CART, cart(&["TOPUP"], "top-1", "100.00"))
        .await;
    assert_eq!(
        alone["validateCart"]["applied"],
        json!([{ "code": "TOPUP", "discount": { "amount": "20.00" } }])
    );
    let pair = app
        .admin(VALIDATE_CART, cart(&["TOPUP", "TAKE15"], "top-1", "100.00"))
        .await;
    assert_eq!(
        pair["validateCart"]["applied"],
        json!([
            { "code": "TAKE15", "discount": { "amount": "15.00" } },
            { "code": "TOPUP", "discount": { "amount": "10.00" } }
        ]),
        "{pair:#}"
    );
    let held = redeem(&app, "TAKE30", "top-2", "t2").await;
    assert_eq!(held["redemption"]["discount"]["amount"], "30.00");
    let late = redeem(&app, "TOPUP", "top-2", "t3").await;
    assert_eq!(
        user_error(&late),
        Some("ORDER_FULLY_DISCOUNTED"),
        "{late:#}"
    );

    let shipping = app
        .admin(
            crate::coupons::CREATE,
            json!({ "input": { "name": "Ship", "code": "SHIPCAP", "discount": { "percentage": "100" },
                               "target": { "shipping": true }, "maxOrderDiscountPercent": "25" } }),
        )
        .await;
    assert_eq!(
        shipping["createCoupon"]["userErrors"][0]["field"],
        json!(["input", "maxOrderDiscountPercent"])
    );
    let cleared = app
        .admin(
            "mutation($id: ID!) { updateCoupon(input: { id: $id, maxOrderDiscountPercent: null }) { coupon { maxOrderDiscountPercent } userErrors { code } } }",
            json!({ "id": topup["id"] }),
        )
        .await;
    assert_eq!(
        cleared["updateCoupon"]["coupon"]["maxOrderDiscountPercent"],
        Value::Null
    );
    let late = redeem(&app, "TOPUP", "top-2", "t4").await;
    assert_eq!(
        late["redemption"]["discount"]["amount"], "14.00",
        "20% of the 70.00 left: {late:#}"
    );
    assert_reconciled(&app).await;
}
both_backends!(a_coupon_caps_the_order_it_joins);
