//! Campaigns: named groups of coupons.

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
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
