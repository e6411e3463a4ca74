//! Validation and checkout make one decision. For random states (coupons with every
//! kind of term, orders, and the usage earlier checkouts left), `validateCoupon`'s
//! verdict and discount must equal what `reserveCoupon` or `redeemCoupon` then does on
//! the very same state: the same rejection codes, or the same amount.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{REDEEM, RELEASE, RESERVE, VALIDATE};
use crate::coupons::create;
use crate::harness::TestApp;

/// States tried per backend (`DIFF_CASES` to change).
fn cases() -> usize {
    std::env::var("DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_500)
}

const CAMPAIGN: &str = "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { campaign { id } userErrors { code } } }";
const SET: &str = "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { userErrors { code } } }";
const ADD_CODES: &str =
    "mutation($i: AddCodesInput!) { addCodes(input: $i) { userErrors { code } } }";

/// Coupons with every kind of term a decision reads.
async fn coupons(app: &TestApp) -> Vec<String> {
    let inputs = [
        json!({ "name": "Plain", "code": "D-PLAIN", "discount": { "percentage": "10" } }),
        json!({ "name": "Fixed", "code": "D-FIXED", "discount": { "amount": { "amount": "5", "currency": "USD" } }, "minSubtotal": { "amount": "20", "currency": "USD" } }),
        json!({ "name": "Capped", "code": "D-CAP", "discount": { "percentage": "15" }, "maxRedemptions": 6 }),
        json!({ "name": "Once each", "code": "D-ONCE", "discount": { "percentage": "20" }, "perCustomerLimit": 1 }),
        json!({ "name": "Web", "code": "D-WEB", "discount": { "percentage": "5" }, "channels": ["web"] }),
        json!({ "name": "Euro", "code": "D-EUR", "discount": { "amount": { "amount": "3", "currency": "EUR" } } }),
        json!({ "name": "Half", "code": "D-HALF", "discount": { "percentage": "50", "maxDiscount": { "amount": "10", "currency": "USD" } } }),
        json!({ "name": "Ruled", "code": "D-RULE", "discount": { "percentage": "30" },
            "rules": [{ "name": "max_discount", "params": { "amount": "4.50" } }, { "name": "per_customer_limit", "params": { "limit": 2 } }] }),
        json!({ "name": "Promo A", "code": "D-CAMPA", "discount": { "amount": { "amount": "7", "currency": "USD" } } }),
        json!({ "name": "Promo B", "code": "D-CAMPB", "discount": { "percentage": "25" } }),
        json!({ "name": "Later", "code": "D-LATER", "discount": { "percentage": "10" }, "startsAt": "2099-01-01T00:00:00Z" }),
        json!({ "name": "Over", "code": "D-OVER", "discount": { "percentage": "10" }, "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2021-01-01T00:00:00Z" }),
        json!({ "name": "Bundle", "code": "D-BUNDLE", "discount": { "percentage": "10" }, "minItems": 3 }),
    ];
    let mut ids = Vec::new();
    for input in inputs {
        ids.push(create(app, input).await["id"].clone());
    }
    // Two coupons share a campaign with a use cap and a budget.
    let made = app
        .admin(
            CAMPAIGN,
            json!({ "i": { "name": "Promo", "maxUses": 9, "budget": { "amount": "60", "currency": "USD" } } }),
        )
        .await;
    let campaign = made["createCampaign"]["campaign"]["id"].clone();
    for id in [&ids[8], &ids[9]] {
        let set = app.admin(SET, json!({ "c": id, "k": campaign })).await;
        assert_eq!(set["setCouponCampaign"]["userErrors"], json!([]));
    }
    // Single-use codes on the plain coupon, and codes of two uses each.
    for (codes, limit) in [(vec!["D-SINGLE1", "D-SINGLE2"], 1), (vec!["D-TWICE"], 2)] {
        let added = app
            .admin(
                ADD_CODES,
                json!({ "i": { "couponId": ids[0], "codes": codes, "usageLimit": limit } }),
            )
            .await;
        assert_eq!(added["addCodes"]["userErrors"], json!([]), "{added:#}");
    }
    let mut codes: Vec<String> = [
        "D-PLAIN",
        "D-FIXED",
        "D-CAP",
        "D-ONCE",
        "D-WEB",
        "D-EUR",
        "D-HALF",
        "D-RULE",
        "D-CAMPA",
        "D-CAMPB",
        "D-LATER",
        "D-OVER",
        "D-BUNDLE",
        "D-SINGLE1",
        "D-SINGLE2",
        "D-TWICE",
    ]
    .map(str::to_owned)
    .to_vec();
    codes.push("D-UNKNOWN".into());
    codes
}

/// A random order.
fn order(rng: &mut StdRng, n: usize) -> Value {
    let currency = if rng.random_bool(0.9) { "USD" } else { "EUR" };
    let subtotal = ["3.10", "12", "19.99", "20", "45.50", "80", "250"][rng.random_range(0..7)];
    let mut order =
        json!({ "id": format!("order-{n}"), "currency": currency, "subtotal": subtotal });
    if rng.random_bool(0.85) {
        let who = rng.random_range(0..5);
        order["customer"] = json!({ "email": format!("shopper{who}@example.com") });
    }
    let lines: Vec<Value> = (0..rng.random_range(0..3))
        .map(|i| json!({ "sku": format!("SKU-{i}"), "quantity": rng.random_range(1..3), "unitPrice": "1" }))
        .collect();
    if !lines.is_empty() {
        order["items"] = json!(lines);
    }
    match rng.random_range(0..4) {
        0 => order["channel"] = json!("web"),
        1 => order["channel"] = json!("pos"),
        _ => {}
    }
    order
}

/// What a validation said: the discount, or the rejection codes.
fn validated(answer: &Value) -> Result<Value, Vec<String>> {
    let v = &answer["validateCoupon"];
    assert_eq!(v["userErrors"], json!([]), "{answer:#}");
    if v["valid"] == json!(true) {
        Ok(v["discount"].clone())
    } else {
        Err(codes_of(&v["reasons"]))
    }
}

fn codes_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect()
}

/// What a reservation or redemption did: the discount, or the rejection codes.
fn applied(payload: &Value, object: &str) -> Result<Value, Vec<String>> {
    match payload[object].as_object() {
        Some(made) => Ok(made["discount"].clone()),
        None => Err(codes_of(&payload["userErrors"])),
    }
}

async fn validation_and_checkout_agree(app: TestApp) {
    let codes = coupons(&app).await;
    let mut rng = StdRng::seed_from_u64(0x5eed_c0de);
    let mut reservations: Vec<Value> = Vec::new();
    let (mut agreed_valid, mut agreed_refused) = (0, 0);
    for n in 0..cases() {
        let code = &codes[rng.random_range(0..codes.len())];
        let order = order(&mut rng, n);
        let input = json!({ "input": { "code": code, "order": order } });
        let said = validated(&app.admin(VALIDATE, input).await);
        let key = format!("diff-{n}");
        let reserve = rng.random_bool(0.3);
        let done = if reserve {
            let input = json!({ "input": { "code": code, "order": order, "idempotencyKey": key, "holdMinutes": 30 } });
            let data = app.admin(RESERVE, input).await;
            let payload = &data["reserveCoupon"];
            if let Some(id) = payload["reservation"]["id"].as_str() {
                reservations.push(json!(id));
            }
            applied(payload, "reservation")
        } else {
            let input = json!({ "input": { "code": code, "order": order, "idempotencyKey": key } });
            let data = app.admin(REDEEM, input).await;
            applied(&data["redeemCoupon"], "redemption")
        };
        assert_eq!(
            said,
            done,
            "state {n}: {code} for {order}: validation said {said:?}, {} did {done:?}",
            if reserve { "reservation" } else { "redemption" }
        );
        if said.is_ok() {
            agreed_valid += 1;
        } else {
            agreed_refused += 1;
        }
        // Now and then a reservation is released, giving its use back.
        if !reservations.is_empty() && rng.random_bool(0.15) {
            let id = reservations.swap_remove(rng.random_range(0..reservations.len()));
            app.admin(RELEASE, json!({ "id": id })).await;
        }
    }
    // Both outcomes were exercised, many times.
    assert!(agreed_valid > cases() / 10, "{agreed_valid} valid states");
    assert!(
        agreed_refused > cases() / 10,
        "{agreed_refused} refused states"
    );
}
both_backends!(validation_and_checkout_agree);
