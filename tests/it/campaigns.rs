//! Campaigns: named groups of coupons.

use std::sync::Arc;

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{
    REDEEM, RELEASE, RESERVE, REVERSE, VALIDATE, assert_reconciled, error_codes, order,
    redeem_input,
};
use crate::coupons::create;
use crate::harness::TestApp;

const CREATE: &str = "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) {
    campaign { id name description createdAt updatedAt } userErrors { field code message } } }";
const UPDATE: &str = "mutation($i: UpdateCampaignInput!) { updateCampaign(input: $i) {
    campaign { id name description } userErrors { field code message } } }";
const SET: &str =
    "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) {
    coupon { id campaign { id name } } userErrors { field code } } }";

async fn campaigns_group_coupons(app: TestApp) {
    // Validation.
    let bad = app.admin(CREATE, json!({ "i": { "name": "   " } })).await;
    assert_eq!(bad["createCampaign"]["userErrors"][0]["code"], "BLANK");
    let bad = app
        .admin(CREATE, json!({ "i": { "name": "x".repeat(201) } }))
        .await;
    assert_eq!(bad["createCampaign"]["userErrors"][0]["code"], "TOO_LONG");
    assert_eq!(app.count("campaigns").await, 0);

    let made = app
        .admin(
            CREATE,
            json!({ "i": { "name": " Black Friday ", "description": "Flyers" } }),
        )
        .await;
    let campaign = made["createCampaign"]["campaign"].clone();
    assert_eq!(campaign["name"], "Black Friday");
    assert_eq!(campaign["description"], "Flyers");
    let id = campaign["id"].clone();

    let changed = app
        .admin(
            UPDATE,
            json!({ "i": { "id": id, "name": "BF 2026", "description": "" } }),
        )
        .await;
    assert_eq!(changed["updateCampaign"]["campaign"]["name"], "BF 2026");
    assert_eq!(
        changed["updateCampaign"]["campaign"]["description"],
        Value::Null
    );
    let missing = app
        .admin(UPDATE, json!({ "i": { "id": "bm9wZTox", "name": "x" } }))
        .await;
    assert_eq!(
        missing["updateCampaign"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );

    // Membership.
    let a = create(
        &app,
        json!({ "name": "A", "code": "CMPA", "discount": { "percentage": "5" } }),
    )
    .await;
    let b = create(
        &app,
        json!({ "name": "B", "code": "CMPB", "discount": { "percentage": "5" } }),
    )
    .await;
    let moved = app.admin(SET, json!({ "c": a["id"], "k": id })).await;
    assert_eq!(
        moved["setCouponCampaign"]["coupon"]["campaign"]["name"],
        "BF 2026"
    );
    let unknown = app
        .admin(SET, json!({ "c": b["id"], "k": "bm9wZTox" }))
        .await;
    assert_eq!(
        unknown["setCouponCampaign"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        unknown["setCouponCampaign"]["userErrors"][0]["field"],
        json!(["input", "campaignId"])
    );
    let no_coupon = app.admin(SET, json!({ "c": id, "k": id })).await;
    assert_eq!(
        no_coupon["setCouponCampaign"]["userErrors"][0]["field"],
        json!(["input", "couponId"])
    );

    let listed = app
        .admin(
            "query($k: ID) { coupons(filter: { campaignId: $k }) { nodes { id } } }",
            json!({ "k": id }),
        )
        .await;
    assert_eq!(listed["coupons"]["nodes"], json!([{ "id": a["id"] }]));

    // Analysts read campaigns; storefront keys do not.
    let analyst = app.key(Role::Analyst).await;
    let r = app
        .request(
            Some(&analyst),
            "query($k: ID!) { campaign(id: $k) { name } campaigns { nodes { id } } node(id: $k) { id } }",
            json!({ "k": id }),
        )
        .await;
    assert_eq!(r.data()["campaign"]["name"], "BF 2026");
    assert_eq!(r.data()["campaigns"]["nodes"], json!([{ "id": id }]));
    assert_eq!(r.data()["node"]["id"], id);

    // Leaving: the coupon has no campaign; a second removal changes nothing.
    let out = app.admin(SET, json!({ "c": a["id"], "k": null })).await;
    assert_eq!(out["setCouponCampaign"]["coupon"]["campaign"], Value::Null);
    let audit_before = app.count("audit_log").await;
    let again = app.admin(SET, json!({ "c": a["id"], "k": null })).await;
    assert_eq!(again["setCouponCampaign"]["userErrors"], json!([]));
    assert_eq!(
        app.count("audit_log").await,
        audit_before,
        "no-op, no entry"
    );

    let audit = app
        .admin(
            "{ auditLog(first: 50) { edges { node { action entityType } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<String> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_owned())
        .filter(|a| !a.starts_with("API_KEY"))
        .collect();
    // Newest first: out, in, the two coupons, the update, the creation.
    assert_eq!(
        actions,
        [
            "COUPON_UPDATED",
            "COUPON_UPDATED",
            "COUPON_CREATED",
            "COUPON_CREATED",
            "CAMPAIGN_UPDATED",
            "CAMPAIGN_CREATED",
        ]
    );
}
both_backends!(campaigns_group_coupons);

const LIMITS: &str = "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) {
    campaign { id startsAt endsAt maxUses budget { amount currency } usedCount discountUsed { amount currency } }
    userErrors { field code } } }";
const CHANGE_LIMITS: &str = "mutation($i: UpdateCampaignInput!) { updateCampaign(input: $i) {
    campaign { id startsAt endsAt maxUses budget { amount currency } usedCount discountUsed { amount } }
    userErrors { field code } } }";
const USAGE: &str =
    "query($k: ID!) { campaign(id: $k) { usedCount discountUsed { amount currency } } }";

/// A campaign with `limits` and one coupon per entry of `coupons` (code, discount) in it.
async fn campaign_with(app: &TestApp, limits: Value, coupons: &[(&str, Value)]) -> Value {
    let mut input = json!({ "name": "Limited" });
    input
        .as_object_mut()
        .unwrap()
        .extend(limits.as_object().unwrap().clone());
    let made = app.admin(LIMITS, json!({ "i": input })).await;
    assert_eq!(made["createCampaign"]["userErrors"], json!([]), "{made:#}");
    let id = made["createCampaign"]["campaign"]["id"].clone();
    for (code, discount) in coupons {
        let c = create(
            app,
            json!({ "name": code, "code": code, "discount": discount }),
        )
        .await;
        let moved = app.admin(SET, json!({ "c": c["id"], "k": id })).await;
        assert_eq!(moved["setCouponCampaign"]["userErrors"], json!([]));
    }
    id
}

async fn campaign_limits_are_validated_and_changed(app: TestApp) {
    let refused = |r: &Value| -> Vec<(String, String)> {
        r["createCampaign"]["userErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].to_string(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let bad = app
        .admin(
            LIMITS,
            json!({ "i": { "name": "x", "maxUses": 0, "budget": { "amount": "0", "currency": "USD" } } }),
        )
        .await;
    assert_eq!(
        refused(&bad),
        [
            (r#"["input","maxUses"]"#.into(), "INVALID_LIMIT".into()),
            (
                r#"["input","budget","amount"]"#.into(),
                "AMOUNT_NOT_POSITIVE".into()
            ),
        ]
    );
    let bad = app
        .admin(
            LIMITS,
            json!({ "i": { "name": "x", "budget": { "amount": "1.001", "currency": "USD" } } }),
        )
        .await;
    assert_eq!(refused(&bad)[0].1, "AMOUNT_TOO_PRECISE");
    let bad = app
        .admin(
            LIMITS,
            json!({ "i": { "name": "x", "budget": { "amount": "1", "currency": "XYZ" } } }),
        )
        .await;
    assert_eq!(refused(&bad)[0].1, "UNKNOWN_CURRENCY");
    let bad = app
        .admin(
            LIMITS,
            json!({ "i": { "name": "x", "startsAt": "2026-12-01T00:00:00Z", "endsAt": "2026-12-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        refused(&bad),
        [(r#"["input","endsAt"]"#.into(), "INVALID_DATE_RANGE".into())]
    );
    assert_eq!(app.count("campaigns").await, 0);

    let made = app
        .admin(
            LIMITS,
            json!({ "i": { "name": "BF", "startsAt": "2026-11-27T00:00:00Z", "endsAt": "2026-11-30T00:00:00Z",
                "maxUses": 1000, "budget": { "amount": "5000", "currency": "EUR" } } }),
        )
        .await;
    let c = &made["createCampaign"]["campaign"];
    assert_eq!(c["startsAt"], "2026-11-27T00:00:00Z");
    assert_eq!(c["maxUses"], 1000);
    assert_eq!(
        c["budget"],
        json!({ "amount": "5000.00", "currency": "EUR" })
    );
    assert_eq!(c["usedCount"], 0);
    assert_eq!(
        c["discountUsed"],
        json!({ "amount": "0.00", "currency": "EUR" })
    );

    // Left out: unchanged; null: cleared; a window reversed by half a change is refused.
    let id = c["id"].clone();
    let reversed = app
        .admin(
            CHANGE_LIMITS,
            json!({ "i": { "id": id, "startsAt": "2026-12-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        reversed["updateCampaign"]["userErrors"][0]["code"],
        "INVALID_DATE_RANGE"
    );
    let cleared = app
        .admin(
            CHANGE_LIMITS,
            json!({ "i": { "id": id, "endsAt": null, "budget": null, "maxUses": 10 } }),
        )
        .await;
    let c = &cleared["updateCampaign"]["campaign"];
    assert_eq!(c["startsAt"], "2026-11-27T00:00:00Z");
    assert_eq!(
        (c["endsAt"].clone(), c["budget"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(c["maxUses"], 10);

    // A budget must be in the currency of what the campaign already counts.
    let usd = campaign_with(&app, json!({}), &[("CURRA", json!({ "percentage": "10" }))]).await;
    let r = app
        .admin(
            REDEEM,
            redeem_input("CURRA", order("o1", "a@x.test", "100"), "k1"),
        )
        .await;
    assert!(r["redeemCoupon"]["redemption"].is_object(), "{r:#}");
    let eur = app
        .admin(
            CHANGE_LIMITS,
            json!({ "i": { "id": usd, "budget": { "amount": "50", "currency": "EUR" } } }),
        )
        .await;
    assert_eq!(
        eur["updateCampaign"]["userErrors"],
        json!([{ "field": ["input", "budget", "currency"], "code": "CURRENCY_MISMATCH" }])
    );
    let ok = app
        .admin(
            CHANGE_LIMITS,
            json!({ "i": { "id": usd, "budget": { "amount": "50", "currency": "USD" } } }),
        )
        .await;
    let c = &ok["updateCampaign"]["campaign"];
    assert_eq!(
        (c["usedCount"].clone(), c["discountUsed"]["amount"].clone()),
        (json!(1), json!("10.00"))
    );
    assert_reconciled(&app).await;
}
both_backends!(campaign_limits_are_validated_and_changed);

/// 240 concurrent redemptions over three coupons of a campaign capped at 40 uses.
async fn campaign_use_cap_holds_under_concurrency(app: TestApp) {
    let codes = ["CUSA", "CUSB", "CUSC"];
    let coupons: Vec<_> = codes
        .iter()
        .map(|c| (*c, json!({ "percentage": "10" })))
        .collect();
    let id = campaign_with(&app, json!({ "maxUses": 40 }), &coupons).await;
    let shop = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..240)
        .map(|i| {
            let (app, client, shop) = (app.clone(), client.clone(), shop.clone());
            let code = codes[i % 3];
            tokio::spawn(async move {
                let input = redeem_input(
                    code,
                    order(&format!("o{i}"), &format!("c{i}@x.test"), "100"),
                    &format!("k{i}"),
                );
                app.http(&client, &shop, REDEEM, input).await.1
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
            assert_eq!(
                error_codes(payload),
                ["CAMPAIGN_USAGE_LIMIT_REACHED"],
                "{body:#}"
            );
        }
    }
    assert_eq!(ok, 40);
    assert_eq!(app.count("redemptions").await, 40);
    let used = app.admin(USAGE, json!({ "k": id })).await;
    assert_eq!(used["campaign"]["usedCount"], 40);
    assert_reconciled(&app).await;
}
both_backends!(campaign_use_cap_holds_under_concurrency);

/// 200 concurrent redemptions of $7 and $10 against a $500 budget: the discounts add up
/// to the budget exactly, the one that would cross it is lowered, and the rest refused.
async fn campaign_budget_holds_under_concurrency(app: TestApp) {
    let id = campaign_with(
        &app,
        json!({ "budget": { "amount": "500", "currency": "USD" } }),
        &[
            (
                "BUDA",
                json!({ "amount": { "amount": "7", "currency": "USD" } }),
            ),
            ("BUDB", json!({ "percentage": "10" })),
        ],
    )
    .await;
    let shop = app.key(Role::Storefront).await;
    let app = Arc::new(app);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (app, client, shop) = (app.clone(), client.clone(), shop.clone());
            let code = if i % 2 == 0 { "BUDA" } else { "BUDB" };
            tokio::spawn(async move {
                let input = redeem_input(
                    code,
                    order(&format!("o{i}"), &format!("c{i}@x.test"), "100"),
                    &format!("k{i}"),
                );
                app.http(&client, &shop, REDEEM, input).await.1
            })
        })
        .collect();
    let (mut total_cents, mut lowered, mut refused) = (0_i64, 0, 0);
    for t in tasks {
        let body = t.await.unwrap();
        let payload = &body["data"]["redeemCoupon"];
        if payload["redemption"].is_object() {
            let amount = payload["redemption"]["discount"]["amount"]
                .as_str()
                .unwrap();
            let cents = (amount.parse::<f64>().unwrap() * 100.0).round() as i64;
            if cents != 700 && cents != 1000 {
                lowered += 1;
            }
            total_cents += cents;
        } else {
            assert_eq!(
                error_codes(payload),
                ["CAMPAIGN_BUDGET_EXHAUSTED"],
                "{body:#}"
            );
            refused += 1;
        }
    }
    assert_eq!(total_cents, 50_000, "the budget is spent exactly");
    assert!(lowered <= 1, "only the last discount is lowered");
    assert!(refused > 100);
    let sum: i64 = app
        .scalar("SELECT CAST(SUM(discount_minor) AS BIGINT) FROM redemptions")
        .await;
    assert_eq!(sum, 50_000);
    let used = app.admin(USAGE, json!({ "k": id })).await;
    assert_eq!(
        used["campaign"]["discountUsed"],
        json!({ "amount": "500.00", "currency": "USD" })
    );

    // An order in another currency is refused while there is a budget.
    let eur = app
        .admin(
            VALIDATE,
            json!({ "input": { "code": "BUDB", "order": { "id": "e", "currency": "EUR", "subtotal": "100" } } }),
        )
        .await;
    assert_eq!(
        eur["validateCoupon"]["reasons"][0]["code"],
        "CURRENCY_MISMATCH"
    );
    assert_reconciled(&app).await;
}
both_backends!(campaign_budget_holds_under_concurrency);

/// Releases, expiries and reversals give a campaign its uses and budget back; its window
/// closes its coupons; storefront callers see a campaign not started as not found.
async fn campaign_usage_comes_back_and_its_window_closes(app: TestApp) {
    let id = campaign_with(
        &app,
        json!({ "maxUses": 2, "budget": { "amount": "25", "currency": "USD" } }),
        &[("BACKA", json!({ "percentage": "10" }))],
    )
    .await;
    let reserve = |n: &str| json!({ "input": { "code": "BACKA", "order": order(n, &format!("{n}@x.test"), "100"), "idempotencyKey": n, "holdMinutes": 10 } });
    let a = app.admin(RESERVE, reserve("a")).await;
    let b = app.admin(RESERVE, reserve("b")).await;
    assert_eq!(campaign_usage(&app, &id).await, (2, "20.00".into()));
    let c = app.admin(RESERVE, reserve("c")).await;
    assert_eq!(
        error_codes(&c["reserveCoupon"]),
        ["CAMPAIGN_USAGE_LIMIT_REACHED"]
    );

    // Released: one use and its discount come back.
    let released = app
        .admin(
            RELEASE,
            json!({ "id": a["reserveCoupon"]["reservation"]["id"] }),
        )
        .await;
    assert_eq!(
        released["releaseReservation"]["reservation"]["status"],
        "RELEASED"
    );
    assert_eq!(campaign_usage(&app, &id).await, (1, "10.00".into()));
    // The budget lowers the next discount to what is left: $15 of $25.
    let d = app
        .admin(
            REDEEM,
            redeem_input("BACKA", order("d", "d@x.test", "200"), "d"),
        )
        .await;
    assert_eq!(
        d["redeemCoupon"]["redemption"]["discount"]["amount"], "15.00",
        "{d:#}"
    );
    assert_eq!(campaign_usage(&app, &id).await, (2, "25.00".into()));

    // Expired: a reservation past its deadline no longer counts, even before any write
    // expires it, and the next checkout expires it.
    app.sql("UPDATE redemptions SET reserved_until = created_at WHERE status = 'RESERVED'")
        .await;
    let check = app
        .admin(
            VALIDATE,
            json!({ "input": { "code": "BACKA", "order": order("e", "e@x.test", "50") } }),
        )
        .await;
    assert_eq!(
        check["validateCoupon"]["discount"]["amount"], "5.00",
        "{check:#}"
    );
    let e = app
        .admin(
            REDEEM,
            redeem_input("BACKA", order("e", "e@x.test", "50"), "e"),
        )
        .await;
    assert_eq!(
        e["redeemCoupon"]["redemption"]["discount"]["amount"], "5.00",
        "{e:#}"
    );
    let b_row = app
        .admin(
            "query($id: ID!) { node(id: $id) { ... on Redemption { status } } }",
            json!({ "id": b["reserveCoupon"]["reservation"]["id"] }),
        )
        .await;
    assert_eq!(b_row["node"]["status"], "EXPIRED");
    assert_eq!(campaign_usage(&app, &id).await, (2, "20.00".into()));

    // Reversed in part: the refund comes back to the budget; in full: the use too.
    let e_id = e["redeemCoupon"]["redemption"]["id"].clone();
    let part = app
        .admin(REVERSE, json!({ "input": { "redemptionId": e_id, "refundedDiscount": "2", "idempotencyKey": "rev1" } }))
        .await;
    assert_eq!(
        part["reverseRedemption"]["redemption"]["status"],
        "PARTIALLY_REVERSED"
    );
    assert_eq!(campaign_usage(&app, &id).await, (2, "18.00".into()));
    let full = app
        .admin(
            REVERSE,
            json!({ "input": { "redemptionId": e_id, "idempotencyKey": "rev2" } }),
        )
        .await;
    assert_eq!(
        full["reverseRedemption"]["redemption"]["status"],
        "REVERSED"
    );
    assert_eq!(campaign_usage(&app, &id).await, (1, "15.00".into()));
    assert_reconciled(&app).await;

    // The window: not started is NOT_STARTED to admins and NOT_FOUND to storefronts;
    // ended is EXPIRED.
    let future = app
        .admin(
            CHANGE_LIMITS,
            json!({ "i": { "id": id, "startsAt": "2999-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(future["updateCampaign"]["userErrors"], json!([]));
    let v = json!({ "input": { "code": "BACKA", "order": order("f", "f@x.test", "50") } });
    let admin = app.admin(VALIDATE, v.clone()).await;
    assert_eq!(admin["validateCoupon"]["reasons"][0]["code"], "NOT_STARTED");
    let shop = app.key(Role::Storefront).await;
    let outside = app.request(Some(&shop), VALIDATE, v.clone()).await;
    assert_eq!(
        outside.data()["validateCoupon"]["reasons"][0]["code"],
        "NOT_FOUND"
    );
    app.admin(
        CHANGE_LIMITS,
        json!({ "i": { "id": id, "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2021-01-01T00:00:00Z" } }),
    )
    .await;
    let ended = app.admin(VALIDATE, v).await;
    assert_eq!(ended["validateCoupon"]["reasons"][0]["code"], "EXPIRED");
    let refused = app
        .admin(
            REDEEM,
            redeem_input("BACKA", order("g", "g@x.test", "50"), "g"),
        )
        .await;
    assert_eq!(error_codes(&refused["redeemCoupon"]), ["EXPIRED"]);
}
both_backends!(campaign_usage_comes_back_and_its_window_closes);

/// A campaign's (uses, discount used).
async fn campaign_usage(app: &TestApp, id: &Value) -> (i64, String) {
    let u = app.admin(USAGE, json!({ "k": id })).await;
    (
        u["campaign"]["usedCount"].as_i64().unwrap(),
        u["campaign"]["discountUsed"]["amount"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}
