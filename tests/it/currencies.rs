//! One coupon in several currencies: a fixed amount, a cap, a minimum subtotal and a
//! per-customer cap given once per currency, the order's currency choosing which apply.

use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{REDEEM, VALIDATE, redeem_input};
use crate::harness::TestApp;

const CREATE: &str = r#"
mutation($input: CreateCouponInput!) {
  createCoupon(input: $input) {
    coupon {
      id currencies
      discount { type amount { amount currency } amounts { amount currency }
                 maxDiscount { amount currency } maxDiscounts { amount currency } }
      minSubtotal { amount currency } minSubtotals { amount currency }
      maxDiscountsPerCustomer { amount currency }
    }
    userErrors { field code message }
  }
}"#;

const UPDATE: &str = r#"
mutation($input: UpdateCouponInput!) {
  updateCoupon(input: $input) {
    coupon { currencies discount { amounts { amount currency } } minSubtotals { amount currency } }
    userErrors { field code message }
  }
}"#;

fn order(id: &str, currency: &str, subtotal: &str) -> Value {
    json!({ "id": id, "currency": currency, "subtotal": subtotal,
            "customer": { "email": "ann@example.com" } })
}

fn money(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(a, c)| json!({ "amount": a, "currency": c }))
            .collect(),
    )
}

/// What `validateCoupon` says for `code` on `order`: the discount, or the first reason.
async fn validate(app: &TestApp, code: &str, order: Value) -> String {
    let data = app
        .admin(
            VALIDATE,
            json!({ "input": { "code": code, "order": order } }),
        )
        .await;
    let v = &data["validateCoupon"];
    if v["valid"] == json!(true) {
        format!(
            "{} {}",
            v["discount"]["amount"].as_str().unwrap(),
            v["discount"]["currency"].as_str().unwrap()
        )
    } else {
        v["reasons"][0]["code"].as_str().unwrap_or("?").to_owned()
    }
}

async fn create(app: &TestApp, input: Value) -> Value {
    app.admin(CREATE, json!({ "input": input })).await["createCoupon"].clone()
}

/// A fixed amount in three currencies with a minimum in each: an order gets the terms of
/// its currency, another currency is refused; a capped percentage caps in the order's
/// currency; the per-customer cap counts each currency apart; every list must name the
/// same currencies; an update keeps them together.
async fn one_coupon_in_several_currencies(app: TestApp) {
    let made = create(
        &app,
        json!({ "name": "Ten off", "code": "TENOFF",
                "discount": { "amounts": money(&[("10", "USD"), ("9", "EUR"), ("1500", "JPY")]) },
                "minSubtotals": money(&[("50", "USD"), ("45", "EUR"), ("7000", "JPY")]) }),
    )
    .await;
    assert_eq!(made["userErrors"], json!([]), "{made:#}");
    let coupon = &made["coupon"];
    assert_eq!(coupon["currencies"], json!(["USD", "EUR", "JPY"]));
    assert_eq!(
        coupon["discount"]["amount"],
        json!({ "amount": "10.00", "currency": "USD" })
    );
    assert_eq!(
        coupon["discount"]["amounts"],
        money(&[("10.00", "USD"), ("9.00", "EUR"), ("1500", "JPY")])
    );
    assert_eq!(
        coupon["minSubtotals"],
        money(&[("50.00", "USD"), ("45.00", "EUR"), ("7000", "JPY")])
    );
    for (currency, subtotal, expected) in [
        ("USD", "60.00", "10.00 USD"),
        ("EUR", "60.00", "9.00 EUR"),
        ("EUR", "40.00", "MIN_SUBTOTAL_NOT_MET"),
        ("JPY", "8000", "1500 JPY"),
        ("JPY", "5000", "MIN_SUBTOTAL_NOT_MET"),
        ("GBP", "100.00", "CURRENCY_MISMATCH"),
    ] {
        assert_eq!(
            validate(&app, "TENOFF", order("o", currency, subtotal)).await,
            expected,
            "{currency} {subtotal}"
        );
    }

    // A percentage capped per currency, with a per-customer cap per currency.
    let capped = create(
        &app,
        json!({ "name": "Fifth", "code": "FIFTH",
                "discount": { "percentage": "20", "maxDiscounts": money(&[("15", "USD"), ("12", "EUR")]) },
                "maxDiscountsPerCustomer": money(&[("25", "USD"), ("20", "EUR")]) }),
    )
    .await;
    assert_eq!(capped["userErrors"], json!([]), "{capped:#}");
    assert_eq!(
        capped["coupon"]["discount"]["maxDiscount"],
        json!({ "amount": "15.00", "currency": "USD" })
    );
    assert_eq!(
        capped["coupon"]["maxDiscountsPerCustomer"],
        money(&[("25.00", "USD"), ("20.00", "EUR")])
    );
    assert_eq!(
        validate(&app, "FIFTH", order("o", "EUR", "100.00")).await,
        "12.00 EUR"
    );
    assert_eq!(
        validate(&app, "FIFTH", order("o", "CHF", "100.00")).await,
        "CURRENCY_MISMATCH"
    );
    let redeem = |id: &'static str, currency: &'static str| {
        let app = &app;
        async move {
            let data = app
                .admin(
                    REDEEM,
                    redeem_input("FIFTH", order(id, currency, "100.00"), id),
                )
                .await;
            let r = &data["redeemCoupon"];
            r["redemption"]["discount"]["amount"]
                .as_str()
                .map_or_else(|| r["userErrors"][0]["code"].to_string(), str::to_owned)
        }
    };
    // USD: 15 of the 25 allowed, then the 10 left, then nothing; euros are counted apart.
    assert_eq!(redeem("f-1", "USD").await, "15.00");
    assert_eq!(redeem("f-2", "USD").await, "10.00");
    assert_eq!(
        redeem("f-3", "USD").await,
        "\"CUSTOMER_DISCOUNT_LIMIT_REACHED\""
    );
    assert_eq!(redeem("f-4", "EUR").await, "12.00");
    assert_eq!(redeem("f-5", "EUR").await, "8.00");

    // Every list names the coupon's currencies, each once.
    let bad = create(
        &app,
        json!({ "name": "Bad", "code": "BADCUR",
                "discount": { "amounts": money(&[("10", "USD"), ("9", "usd")]) },
                "minSubtotals": money(&[("50", "USD"), ("40", "GBP")]) }),
    )
    .await;
    let errors: Vec<(Value, Value)> = bad["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].clone(), e["code"].clone()))
        .collect();
    assert_eq!(
        errors[0],
        (
            json!(["input", "discount", "amounts", "1", "currency"]),
            json!("DUPLICATE_CURRENCY")
        ),
        "{bad:#}"
    );
    let bad = create(
        &app,
        json!({ "name": "Bad", "code": "BADCUR",
                "discount": { "amounts": money(&[("10", "USD"), ("9", "EUR")]) },
                "minSubtotals": money(&[("50", "USD"), ("40", "GBP")]) }),
    )
    .await;
    assert_eq!(
        bad["userErrors"][0]["field"],
        json!(["input", "minSubtotals"])
    );
    assert_eq!(bad["userErrors"][0]["code"], "CURRENCY_MISMATCH");
    assert!(
        bad["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("USD, EUR"),
        "{bad:#}"
    );
    let both = create(
        &app,
        json!({ "name": "Bad", "code": "BADCUR",
                "discount": { "amount": { "amount": "10", "currency": "USD" },
                              "amounts": money(&[("9", "EUR")]) } }),
    )
    .await;
    assert_eq!(
        both["userErrors"][0]["field"],
        json!(["input", "discount", "amount", "amount"])
    );

    // An update that drops a currency from the discount must drop it from the minimum
    // too; together they go through, and the coupon is then refused in that currency.
    let id = coupon["id"].clone();
    let update = |input: Value| {
        let app = &app;
        async move { app.admin(UPDATE, json!({ "input": input })).await["updateCoupon"].clone() }
    };
    let half = update(
        json!({ "id": id, "discount": { "amounts": money(&[("10", "USD"), ("9", "EUR")]) } }),
    )
    .await;
    assert_eq!(
        half["userErrors"][0]["code"], "CURRENCY_MISMATCH",
        "{half:#}"
    );
    let whole = update(json!({ "id": id,
        "discount": { "amounts": money(&[("10", "USD"), ("9", "EUR")]) },
        "minSubtotals": money(&[("50", "USD"), ("45", "EUR")]) }))
    .await;
    assert_eq!(whole["userErrors"], json!([]), "{whole:#}");
    assert_eq!(whole["coupon"]["currencies"], json!(["USD", "EUR"]));
    assert_eq!(
        validate(&app, "TENOFF", order("o", "JPY", "8000")).await,
        "CURRENCY_MISMATCH"
    );
    let cleared = update(json!({ "id": id, "minSubtotals": null })).await;
    assert_eq!(cleared["coupon"]["minSubtotals"], json!([]), "{cleared:#}");
    assert_eq!(
        validate(&app, "TENOFF", order("o", "EUR", "5.00")).await,
        "5.00 EUR"
    );
}

both_backends!(one_coupon_in_several_currencies);
