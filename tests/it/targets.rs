//! What a coupon discounts: selected lines (shared between them), shipping, buy X get Y.
//! The figures are the worked example of docs/checkout.md ("Lines, shipping and buy X
//! get Y"); each target is checked through the API, on both backends.

use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::assert_reconciled;
use crate::coupons::create;
use crate::harness::TestApp;

/// Combines with every class.
const ALL: [&str; 3] = ["LINE", "ORDER", "SHIPPING"];

/// The tea shop's order: 2 green teas at 4.00, 3 black teas at 6.00, a mug at 12.00;
/// subtotal 38.00, shipping 5.00.
fn tea_order(id: &str) -> Value {
    json!({
        "id": id, "currency": "USD", "subtotal": "38.00", "shipping": "5.00",
        "customer": { "email": "ann@example.com" },
        "items": [
            { "sku": "TEA-GREEN", "categories": ["tea"], "quantity": 2, "unitPrice": "4.00" },
            { "sku": "TEA-BLACK", "categories": ["tea"], "quantity": 3, "unitPrice": "6.00" },
            { "sku": "MUG", "categories": ["kitchen"], "quantity": 1, "unitPrice": "12.00" },
        ]
    })
}

/// The four coupons of the worked example.
async fn tea_shop(app: &TestApp) {
    create(
        app,
        json!({ "name": "3 for 2 on tea", "code": "TEA3FOR2", "combinesWith": ALL,
                "discount": { "percentage": "100" },
                "target": { "buyXGetY": { "buy": { "categories": ["tea"] }, "buyQuantity": 2,
                                          "get": { "categories": ["tea"] }, "getQuantity": 1 } } }),
    )
    .await;
    create(
        app,
        json!({ "name": "25% off kitchen", "code": "MUG25", "combinesWith": ALL,
                "discount": { "percentage": "25" },
                "target": { "lines": { "categories": ["kitchen"] } } }),
    )
    .await;
    create(
        app,
        json!({ "name": "10% off", "code": "TEA10", "combinesWith": ALL,
                "discount": { "percentage": "10" } }),
    )
    .await;
    create(
        app,
        json!({ "name": "Free shipping", "code": "SHIPFREE", "combinesWith": ["LINE", "ORDER"],
                "discount": { "percentage": "100" }, "target": { "shipping": true } }),
    )
    .await;
}

const VALIDATE_CART: &str = r#"
query($input: ValidateCartInput!) {
  validateCart(input: $input) {
    valid discount { amount }
    applied { code discount { amount } lines { line sku discount { amount } } }
    leftOut { code reasons { code conflictingCode } }
    userErrors { field code message }
  }
}"#;

const REDEEM_CART: &str = r#"
mutation($input: RedeemCartInput!) {
  redeemCart(input: $input) {
    redemptions { id code discount { amount } lines { line sku discount { amount } } }
    leftOut { code reasons { code } }
    userErrors { field code message }
  }
}"#;

const REDEEM: &str = r#"
mutation($input: RedeemCouponInput!) {
  redeemCoupon(input: $input) {
    redemption { id discount { amount } lines { line sku discount { amount } } }
    userErrors { field code message }
  }
}"#;

const REVERSE: &str = r#"
mutation($input: ReverseRedemptionInput!) {
  reverseRedemption(input: $input) {
    redemption { status discount { amount } refundedDiscount { amount } lines { line sku discount { amount } } }
    userErrors { field code message }
  }
}"#;

fn share(line: i64, sku: &str, amount: &str) -> Value {
    json!({ "line": line, "sku": sku, "discount": { "amount": amount } })
}

/// The worked example's answer, its four coupons named in application order: the mug's
/// quarter, the free tea, 10% of what is left, the shipping.
fn worked_example([mug, tea, order, shipping]: [&str; 4]) -> Value {
    json!({
        "valid": true, "discount": { "amount": "15.10" },
        "applied": [
            { "code": mug, "discount": { "amount": "3.00" }, "lines": [share(2, "MUG", "3.00")] },
            { "code": tea, "discount": { "amount": "4.00" }, "lines": [share(0, "TEA-GREEN", "4.00")] },
            { "code": order, "discount": { "amount": "3.10" }, "lines": [] },
            { "code": shipping, "discount": { "amount": "5.00" }, "lines": [] },
        ],
        "leftOut": [], "userErrors": []
    })
}

/// The worked example: line discounts first (MUG25: 25% of the 12.00 mug, 3.00; then
/// TEA3FOR2: five teas make one application, the cheapest tea free, 4.00), then TEA10 on
/// the 31.00 left of the subtotal (3.10), and SHIPFREE takes the 5.00 shipping: 15.10.
async fn lines_shipping_and_buy_x_get_y_on_one_cart(app: TestApp) {
    tea_shop(&app).await;
    let codes = ["TEA10", "SHIPFREE", "TEA3FOR2", "MUG25"];
    let cart = app
        .admin(
            VALIDATE_CART,
            json!({ "input": { "codes": codes, "order": tea_order("tea-1") } }),
        )
        .await;
    assert_eq!(
        cart["validateCart"],
        worked_example(["MUG25", "TEA3FOR2", "TEA10", "SHIPFREE"]),
        "{cart:#}"
    );

    // Redeemed, each code keeps its figures and its line shares.
    let redeemed = app
        .admin(
            REDEEM_CART,
            json!({ "input": { "codes": codes, "order": tea_order("tea-1"), "idempotencyKey": "tea-1" } }),
        )
        .await;
    let redemptions = redeemed["redeemCart"]["redemptions"].as_array().unwrap();
    let figures: Vec<(&str, &str)> = redemptions
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap(),
                r["discount"]["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("TEA10", "3.10"),
            ("SHIPFREE", "5.00"),
            ("TEA3FOR2", "4.00"),
            ("MUG25", "3.00")
        ],
        "{redeemed:#}"
    );
    assert_eq!(redemptions[3]["lines"], json!([share(2, "MUG", "3.00")]));

    // The order's lines limit a later line discount: the mug has 9.00 left.
    create(
        &app,
        json!({ "name": "Free mug", "code": "MUGFREE", "combinesWith": ALL,
                "discount": { "percentage": "100" }, "target": { "lines": { "skus": ["MUG"] } } }),
    )
    .await;
    let mug = app
        .admin(
            REDEEM,
            json!({ "input": { "code": "MUGFREE", "order": tea_order("tea-1"), "idempotencyKey": "tea-1-mug" } }),
        )
        .await;
    assert_eq!(
        mug["redeemCoupon"]["redemption"]["lines"],
        json!([share(2, "MUG", "9.00")]),
        "{mug:#}"
    );
    // SHIPFREE shares the order with line and order discounts only: not with another
    // shipping discount.
    create(
        &app,
        json!({ "name": "Ship 2 off", "code": "SHIP2", "combinesWith": ["LINE", "ORDER"],
                "discount": { "amount": { "amount": "2", "currency": "USD" } },
                "target": { "shipping": true } }),
    )
    .await;
    let ship = app
        .admin(
            REDEEM,
            json!({ "input": { "code": "SHIP2", "order": tea_order("tea-1"), "idempotencyKey": "tea-1-ship" } }),
        )
        .await;
    assert_eq!(
        ship["redeemCoupon"]["userErrors"][0]["code"], "NOT_COMBINABLE",
        "{ship:#}"
    );
    assert!(
        ship["redeemCoupon"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("SHIPFREE")
    );

    // One line's share is refunded on its own.
    let mug_id = mug["redeemCoupon"]["redemption"]["id"].clone();
    let reversed = app
        .admin(
            REVERSE,
            json!({ "input": { "redemptionId": mug_id, "line": 2, "idempotencyKey": "mug-back" } }),
        )
        .await;
    assert_eq!(
        reversed["reverseRedemption"]["redemption"],
        json!({ "status": "REVERSED", "discount": { "amount": "9.00" },
                "refundedDiscount": { "amount": "9.00" }, "lines": [] }),
        "{reversed:#}"
    );
    let again = app
        .admin(
            REVERSE,
            json!({ "input": { "redemptionId": redemptions[2]["id"], "line": 1, "idempotencyKey": "tea-back" } }),
        )
        .await;
    assert_eq!(
        again["reverseRedemption"]["userErrors"][0]["code"], "LINE_NOT_DISCOUNTED",
        "{again:#}"
    );
    assert_reconciled(&app).await;
}
both_backends!(lines_shipping_and_buy_x_get_y_on_one_cart);

const VALIDATE: &str = r#"
query($input: ValidateCouponInput!) {
  validateCoupon(input: $input) {
    valid discount { amount } lines { line sku discount { amount } }
    reasons { code }
  }
}"#;

async fn validate(app: &TestApp, code: &str, order: Value) -> Value {
    app.admin(
        VALIDATE,
        json!({ "input": { "code": code, "order": order } }),
    )
    .await["validateCoupon"]
        .clone()
}

/// Each target alone: a line discount is shared by line total and rounded once; a line
/// target that matches nothing, and a buy X get Y the order does not meet, give
/// NO_ELIGIBLE_ITEMS; a shipping discount on an order without shipping gives nothing;
/// buy X get Y stops at its maximum applications; the target is read back as created,
/// and a buy X get Y with a fixed amount is refused.
async fn each_target_through_the_api(app: TestApp) {
    let teas = create(
        &app,
        json!({ "name": "A third off tea", "code": "TEA33", "discount": { "percentage": "33.3333" },
                "target": { "lines": { "categories": ["tea"], "skus": [" MUG ", "MUG"] } } }),
    )
    .await;
    let read = app
        .admin(
            "query($id: ID) { coupon(id: $id) { discountClass target { kind lines { skus categories } buyXGetY { buyQuantity } } } }",
            json!({ "id": teas["id"] }),
        )
        .await;
    assert_eq!(
        read["coupon"],
        json!({ "discountClass": "LINE",
                "target": { "kind": "LINES", "lines": { "skus": ["MUG"], "categories": ["tea"] }, "buyXGetY": null } })
    );
    // 33.3333% of 38.00 (every line) is 12.67, shared 2.67 / 6.00 / 4.00 by line total
    // (8.00 / 18.00 / 12.00), the units left over going to the largest remainders.
    let all = validate(&app, "TEA33", tea_order("o-1")).await;
    assert_eq!(all["discount"]["amount"], "12.67", "{all:#}");
    assert_eq!(
        all["lines"],
        json!([
            share(0, "TEA-GREEN", "2.67"),
            share(1, "TEA-BLACK", "6.00"),
            share(2, "MUG", "4.00")
        ])
    );
    let no_tea = json!({ "id": "o-2", "currency": "USD", "subtotal": "9.00",
        "items": [{ "sku": "SPOON", "categories": ["kitchen"], "quantity": 1, "unitPrice": "9.00" }] });
    assert_eq!(
        validate(&app, "TEA33", no_tea.clone()).await["reasons"],
        json!([{ "code": "NO_ELIGIBLE_ITEMS" }])
    );

    create(
        &app,
        json!({ "name": "Half off shipping", "code": "SHIPHALF",
                "discount": { "percentage": "50" }, "target": { "shipping": true } }),
    )
    .await;
    assert_eq!(
        validate(&app, "SHIPHALF", tea_order("o-3")).await["discount"]["amount"],
        "2.50"
    );
    assert_eq!(
        validate(&app, "SHIPHALF", no_tea.clone()).await["reasons"],
        json!([{ "code": "ZERO_DISCOUNT" }])
    );

    // Buy 1 get 1 half price on tea, at most twice: of five teas, the two cheapest
    // (both green, 4.00 each) are half price.
    create(
        &app,
        json!({ "name": "Second tea half price", "code": "TEAB1G1",
                "discount": { "percentage": "50" },
                "target": { "buyXGetY": { "buy": { "categories": ["tea"] }, "buyQuantity": 1,
                                          "get": { "categories": ["tea"] }, "getQuantity": 1,
                                          "maxApplications": 2 } } }),
    )
    .await;
    let bogo = validate(&app, "TEAB1G1", tea_order("o-4")).await;
    assert_eq!(bogo["discount"]["amount"], "4.00", "{bogo:#}");
    assert_eq!(bogo["lines"], json!([share(0, "TEA-GREEN", "4.00")]));
    assert_eq!(
        validate(&app, "TEAB1G1", no_tea).await["reasons"],
        json!([{ "code": "NO_ELIGIBLE_ITEMS" }])
    );

    let bad = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { userErrors { field code } } }",
            json!({ "input": { "name": "Bad", "code": "BADBXGY",
                "discount": { "amount": { "amount": "5", "currency": "USD" } },
                "target": { "buyXGetY": { "buy": {}, "buyQuantity": 0, "get": {}, "getQuantity": 1 } } } }),
        )
        .await;
    assert_eq!(
        bad["createCoupon"]["userErrors"],
        json!([
            { "field": ["input", "target"], "code": "PERCENTAGE_REQUIRED" },
            { "field": ["input", "target", "buyXGetY", "buyQuantity"], "code": "OUT_OF_RANGE" }
        ]),
        "{bad:#}"
    );
}
both_backends!(each_target_through_the_api);

const PUBLISH: &str = "mutation($n: String!, $s: String!) { publishRule(input: { name: $n, source: $s }) { rule { name } userErrors { code message } } }";

/// Rules that shape the discount give the worked example's figures from coupons whose
/// own discount is plain: `three_for_two` on tea, a published rule that puts a 25%
/// order discount on the mug only, `free_shipping_over` 30.00. A shaped coupon takes
/// the class of its shape (the free shipping is a SHIPPING discount beside the others);
/// below the amount the shipping coupon is left out with the rule's reason.
/// `first_order_only` reads the service's own history: Ann, who redeemed on an earlier
/// order, is refused whatever her storefront says; Bob, unknown here, is not.
async fn rules_shape_the_discount(app: TestApp) {
    let published = app
        .admin(
            PUBLISH,
            json!({ "n": "mug_only", "s": "fn check(ctx, params) { only_lines([\"MUG\"]) }" }),
        )
        .await;
    assert_eq!(
        published["publishRule"]["userErrors"],
        json!([]),
        "{published:#}"
    );
    let rule = |name: &str, params: Value| json!([{ "name": name, "params": params }]);
    for (code, percentage, combines, rules) in [
        (
            "RULE3FOR2",
            "10",
            json!(ALL),
            rule("three_for_two", json!({ "categories": ["tea"] })),
        ),
        ("MUGONLY", "25", json!(ALL), rule("mug_only", json!({}))),
        ("TEA10", "10", json!(ALL), json!([])),
        (
            "RULESHIP",
            "10",
            json!(["LINE", "ORDER"]),
            rule("free_shipping_over", json!({ "amount": "30.00" })),
        ),
    ] {
        create(
            &app,
            json!({ "name": code, "code": code, "combinesWith": combines,
                    "discount": { "percentage": percentage }, "rules": rules }),
        )
        .await;
    }
    let codes = ["TEA10", "RULESHIP", "RULE3FOR2", "MUGONLY"];
    let cart = app
        .admin(
            VALIDATE_CART,
            json!({ "input": { "codes": codes, "order": tea_order("shaped-1") } }),
        )
        .await;
    assert_eq!(
        cart["validateCart"],
        worked_example(["MUGONLY", "RULE3FOR2", "TEA10", "RULESHIP"]),
        "{cart:#}"
    );

    // Under 30.00 of tea, no free shipping: the rule's reason.
    let mut small = tea_order("shaped-2");
    small["subtotal"] = json!("20.00");
    small["items"] = json!([{ "sku": "TEA-BLACK", "categories": ["tea"], "quantity": 3, "unitPrice": "6.00" },
                            { "sku": "TEA-GREEN", "categories": ["tea"], "quantity": 1, "unitPrice": "2.00" }]);
    let cart = app
        .admin(
            VALIDATE_CART,
            json!({ "input": { "codes": ["RULESHIP", "RULE3FOR2"], "order": small } }),
        )
        .await;
    assert_eq!(
        cart["validateCart"]["applied"],
        json!([{ "code": "RULE3FOR2", "discount": { "amount": "2.00" }, "lines": [share(1, "TEA-GREEN", "2.00")] }]),
        "{cart:#}"
    );
    assert_eq!(
        cart["validateCart"]["leftOut"][0]["reasons"][0]["code"],
        "RULE_REJECTED"
    );

    // Redeemed: the shaped coupon's share of the lines is stored with it.
    let redeemed = app
        .admin(
            REDEEM_CART,
            json!({ "input": { "codes": codes, "order": tea_order("shaped-1"), "idempotencyKey": "shaped-1" } }),
        )
        .await;
    let redemptions = redeemed["redeemCart"]["redemptions"].as_array().unwrap();
    let three_for_two = redemptions
        .iter()
        .find(|r| r["code"] == "RULE3FOR2")
        .unwrap();
    assert_eq!(
        three_for_two["lines"],
        json!([share(0, "TEA-GREEN", "4.00")])
    );
    assert_reconciled(&app).await;

    // First orders, from the service's own history.
    create(
        &app,
        json!({ "name": "Welcome", "code": "WELCOME", "discount": { "percentage": "15" },
                "combinesWith": ALL,
                "rules": rule("first_order_only", json!({})) }),
    )
    .await;
    let first = |email: &str, id: &str, first_order: Value| {
        let mut order = tea_order(id);
        order["customer"] = json!({ "email": email });
        if !first_order.is_null() {
            order["customer"]["firstOrder"] = first_order;
        }
        let app = &app;
        async move {
            let data = app
                .admin(
                    "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid reasons { code ruleCode } } }",
                    json!({ "input": { "code": "WELCOME", "order": order } }),
                )
                .await;
            data["validateCoupon"].clone()
        }
    };
    let ann = first("ann@example.com", "shaped-3", json!(true)).await;
    assert_eq!(ann["reasons"][0]["ruleCode"], "NOT_FIRST_ORDER", "{ann:#}");
    let same_order = first("ann@example.com", "shaped-1", Value::Null).await;
    assert_eq!(
        same_order["valid"], true,
        "the order being redeemed is not an earlier one: {same_order:#}"
    );
    let bob = first("bob@example.com", "shaped-4", Value::Null).await;
    assert_eq!(bob["valid"], true, "{bob:#}");
    let bob_says_not = first("bob@example.com", "shaped-5", json!(false)).await;
    assert_eq!(bob_says_not["reasons"][0]["ruleCode"], "NOT_FIRST_ORDER");
}

both_backends!(rules_shape_the_discount);
