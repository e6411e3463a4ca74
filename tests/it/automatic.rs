//! Automatic discounts: coupons with no code that every cart they apply to gets without
//! asking, chosen with the typed codes under the same combination rules, and counted
//! like any coupon (caps, counters, events).

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{assert_reconciled, order};
use crate::coupons::create;
use crate::harness::TestApp;

const VALIDATE_CART: &str = r#"
query($input: ValidateCartInput!) {
  validateCart(input: $input) {
    valid discount { amount }
    applied { code automatic discount { amount } }
    leftOut { code reasons { code } }
    userErrors { field code message }
  }
}"#;

const REDEEM_CART: &str = r#"
mutation($input: RedeemCartInput!) {
  redeemCart(input: $input) {
    redemptions { code discount { amount } }
    leftOut { code reasons { code } }
    userErrors { field code message }
  }
}"#;

/// A storefront's call: data, no top-level errors.
async fn storefront(app: &TestApp, query: &str, variables: Value) -> Value {
    let key = app.key(Role::Storefront).await;
    app.request(Some(&key), query, variables)
        .await
        .data()
        .clone()
}

async fn validate_cart(app: &TestApp, codes: &[&str], order_id: &str) -> Value {
    storefront(
        app,
        VALIDATE_CART,
        json!({ "input": { "codes": codes, "order": order(order_id, "ann@example.com", "100.00") } }),
    )
    .await["validateCart"]
        .clone()
}

async fn redeem_cart(app: &TestApp, codes: &[&str], order_id: &str) -> Value {
    storefront(
        app,
        REDEEM_CART,
        json!({ "input": { "codes": codes, "idempotencyKey": order_id,
                           "order": order(order_id, "ann@example.com", "100.00") } }),
    )
    .await["redeemCart"]
        .clone()
}

fn applied(cart: &Value) -> Vec<(String, bool, String)> {
    cart["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["code"].as_str().unwrap().to_owned(),
                a["automatic"].as_bool().unwrap(),
                a["discount"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn automatic_discounts_join_every_cart(app: TestApp) {
    // An automatic coupon takes no code.
    let refused = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { userErrors { field code } } }",
            json!({ "input": { "name": "Bad", "code": "AUTOBAD", "automatic": true,
                               "discount": { "percentage": "5" } } }),
        )
        .await;
    assert_eq!(
        refused["createCoupon"]["userErrors"][0]["field"],
        json!(["input", "code"])
    );
    let auto = create(
        &app,
        json!({ "name": "5% for everyone", "automatic": true, "maxRedemptions": 2,
                "combinesWith": ["LINE", "ORDER", "SHIPPING"], "discount": { "percentage": "5" } }),
    )
    .await;
    let id = app.scalar("SELECT id FROM coupons WHERE automatic").await;
    let name = format!("AUTO#{id}");
    let read = app
        .admin(
            "query($id: ID) { coupon(id: $id) { automatic } }",
            json!({ "id": auto["id"] }),
        )
        .await;
    assert_eq!(read["coupon"]["automatic"], true);

    // Asked for nothing, the cart gets it.
    let alone = validate_cart(&app, &[], "a-0").await;
    assert_eq!(alone["valid"], true, "{alone:#}");
    assert_eq!(applied(&alone), [(name.clone(), true, "5.00".to_owned())]);

    // Beside a typed code it combines with, both apply (by code: AUTO# first).
    create(
        &app,
        json!({ "name": "Take 10", "code": "TAKE10", "combinesWith": ["ORDER"],
                "discount": { "amount": { "amount": "10", "currency": "USD" } } }),
    )
    .await;
    let both = validate_cart(&app, &["take10"], "a-0").await;
    assert_eq!(
        applied(&both),
        [
            (name.clone(), true, "5.00".to_owned()),
            ("TAKE10".to_owned(), false, "10.00".to_owned())
        ],
        "{both:#}"
    );
    // A typed coupon that must be alone and gives more wins; the automatic one is not
    // applied, and is not reported as left out.
    create(
        &app,
        json!({ "name": "Solo", "code": "SOLO30", "discount": { "percentage": "30" } }),
    )
    .await;
    let solo = validate_cart(&app, &["SOLO30"], "a-0").await;
    assert_eq!(solo["valid"], true);
    assert_eq!(
        applied(&solo),
        [("SOLO30".to_owned(), false, "30.00".to_owned())]
    );
    assert_eq!(solo["leftOut"], json!([]));

    // No one can type its code row.
    let typed = validate_cart(&app, &[&name], "a-0").await;
    assert_eq!(
        typed["leftOut"],
        json!([{ "code": name, "reasons": [{ "code": "NOT_FOUND" }] }])
    );

    // Redeemed carts count it against its cap: two orders get it, the third does not.
    for (i, order_id) in ["a-1", "a-2", "a-3"].into_iter().enumerate() {
        let cart = redeem_cart(&app, &[], order_id).await;
        let redemptions = cart["redemptions"].as_array().unwrap();
        if i < 2 {
            assert_eq!(
                redemptions,
                &[json!({ "code": name, "discount": { "amount": "5.00" } })],
                "{cart:#}"
            );
        } else {
            assert!(redemptions.is_empty(), "{cart:#}");
            assert_eq!(cart["userErrors"], json!([]));
        }
    }
    let counted: i64 = app
        .scalar(&format!(
            "SELECT redemption_count FROM coupons WHERE id = {id}"
        ))
        .await;
    assert_eq!(counted, 2);
    let events: i64 = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM outbox_events WHERE coupon_id = {id} AND event_type = 'COUPON_REDEEMED'"
        ))
        .await;
    assert_eq!(events, 2);

    // Paused, it joins no cart.
    let paused = app
        .admin(
            "mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { userErrors { code } } }",
            json!({ "id": auto["id"] }),
        )
        .await;
    assert_eq!(paused["setCouponStatus"]["userErrors"], json!([]));
    let paused = validate_cart(&app, &[], "a-9").await;
    assert_eq!(paused["applied"], json!([]), "{paused:#}");
    assert_reconciled(&app).await;
}
both_backends!(automatic_discounts_join_every_cart);
