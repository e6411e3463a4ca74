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
