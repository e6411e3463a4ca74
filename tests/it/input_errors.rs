//! What a client is told about input the service refuses: one table of refused inputs
//! per area (coupons, codes, campaigns, webhook endpoints, API keys, rules), each with
//! the whole `userErrors` list it gets back (code, field path and message), kept as one
//! snapshot. Nothing a refused input carries is stored.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

const CREATE_COUPON: &str = "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } userErrors { field code message } } }";
const ADD_CODES: &str = "mutation($i: AddCodesInput!) { addCodes(input: $i) { coupon { id } userErrors { field code message } } }";
const GENERATE: &str = "mutation($i: GenerateCodesInput!) { generateCodes(input: $i) { job { id } userErrors { field code message } } }";
const CREATE_CAMPAIGN: &str = "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { campaign { id } userErrors { field code message } } }";
const UPDATE_CAMPAIGN: &str = "mutation($i: UpdateCampaignInput!) { updateCampaign(input: $i) { campaign { id } userErrors { field code message } } }";
const CREATE_ENDPOINT: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { webhookEndpoint { id } secret userErrors { field code message } } }";
const UPDATE_ENDPOINT: &str = "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { webhookEndpoint { id } userErrors { field code message } } }";
const CREATE_KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret userErrors { field code message } } }";
const PUBLISH_RULE: &str = "mutation($i: PublishRuleInput!) { publishRule(input: $i) { userErrors { field code message } } }";

async fn refused_inputs_are_told_field_by_field(app: TestApp) {
    let coupon = crate::coupons::create(
        &app,
        json!({ "name": "Host", "code": "HOST1", "discount": { "percentage": "10" } }),
    )
    .await;
    let campaign = app
        .admin(CREATE_CAMPAIGN, json!({ "i": { "name": "Spring" } }))
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let endpoint = app
        .admin(
            CREATE_ENDPOINT,
            json!({ "i": { "url": "https://example.com/hook" } }),
        )
        .await["createWebhookEndpoint"]["webhookEndpoint"]["id"]
        .clone();
    let tables = app.count("coupons").await
        + app.count("coupon_codes").await
        + app.count("campaigns").await
        + app.count("webhook_endpoints").await
        + app.count("api_keys").await
        + app.count("bulk_jobs").await;

    let percent = |p: &str| json!({ "percentage": p });
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "coupon: blank name",
            CREATE_COUPON,
            json!({ "name": "  ", "discount": percent("10") }),
        ),
        (
            "coupon: bad code",
            CREATE_COUPON,
            json!({ "name": "N", "code": "a b", "discount": percent("10") }),
        ),
        (
            "coupon: taken code",
            CREATE_COUPON,
            json!({ "name": "N", "code": "host1", "discount": percent("10") }),
        ),
        (
            "coupon: percentage over 100",
            CREATE_COUPON,
            json!({ "name": "N", "discount": percent("150") }),
        ),
        (
            "coupon: two discounts",
            CREATE_COUPON,
            json!({ "name": "N", "discount": { "percentage": "10", "amount": { "amount": "5", "currency": "USD" } } }),
        ),
        (
            "coupon: unknown currency",
            CREATE_COUPON,
            json!({ "name": "N", "discount": { "amount": { "amount": "5", "currency": "XYZ" } } }),
        ),
        (
            "coupon: ends before it starts",
            CREATE_COUPON,
            json!({ "name": "N", "discount": percent("10"), "startsAt": "2030-01-01T00:00:00Z", "expiresAt": "2029-01-01T00:00:00Z" }),
        ),
        (
            "coupon: negative cap",
            CREATE_COUPON,
            json!({ "name": "N", "discount": percent("10"), "maxRedemptions": -1 }),
        ),
        (
            "coupon: unknown rule",
            CREATE_COUPON,
            json!({ "name": "N", "discount": percent("10"), "rules": [{ "name": "no_such_rule", "params": {} }] }),
        ),
        (
            "codes: duplicate in the list",
            ADD_CODES,
            json!({ "couponId": coupon["id"], "codes": ["DUP1", "dup1"] }),
        ),
        (
            "codes: one taken",
            ADD_CODES,
            json!({ "couponId": coupon["id"], "codes": ["HOST1"] }),
        ),
        (
            "codes: unknown coupon",
            ADD_CODES,
            json!({ "couponId": "bm9wZTox", "codes": ["NEW1"] }),
        ),
        (
            "generate: zero codes",
            GENERATE,
            json!({ "couponId": coupon["id"], "count": 0, "pattern": { "length": 8 } }),
        ),
        (
            "generate: bad pattern",
            GENERATE,
            json!({ "couponId": coupon["id"], "count": 10, "pattern": { "prefix": "a b", "length": 8 } }),
        ),
        (
            "generate: pattern too small",
            GENERATE,
            json!({ "couponId": coupon["id"], "count": 1000, "pattern": { "length": 4 } }),
        ),
        (
            "campaign: blank name",
            CREATE_CAMPAIGN,
            json!({ "name": "" }),
        ),
        (
            "campaign: ends before it starts",
            CREATE_CAMPAIGN,
            json!({ "name": "C", "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2029-01-01T00:00:00Z" }),
        ),
        (
            "campaign: negative cap",
            CREATE_CAMPAIGN,
            json!({ "name": "C", "maxUses": -5 }),
        ),
        (
            "campaign: negative budget",
            CREATE_CAMPAIGN,
            json!({ "name": "C", "budget": { "amount": "-1", "currency": "USD" } }),
        ),
        (
            "campaign: unknown",
            UPDATE_CAMPAIGN,
            json!({ "id": "bm9wZTox", "name": "C" }),
        ),
        (
            "campaign: blank new name",
            UPDATE_CAMPAIGN,
            json!({ "id": campaign, "name": " " }),
        ),
        (
            "endpoint: not http",
            CREATE_ENDPOINT,
            json!({ "url": "ftp://example.com/hook" }),
        ),
        (
            "endpoint: unknown coupon",
            CREATE_ENDPOINT,
            json!({ "url": "https://example.com/h", "couponId": "bm9wZTox" }),
        ),
        (
            "endpoint: unknown",
            UPDATE_ENDPOINT,
            json!({ "id": "bm9wZTox", "active": false }),
        ),
        (
            "endpoint: coupon and all coupons",
            UPDATE_ENDPOINT,
            json!({ "id": endpoint, "couponId": coupon["id"], "allCoupons": true }),
        ),
        (
            "key: blank name",
            CREATE_KEY,
            json!({ "name": " ", "role": "STOREFRONT" }),
        ),
        (
            "key: bad channel",
            CREATE_KEY,
            json!({ "name": "till", "role": "STOREFRONT", "channels": ["not a channel!"] }),
        ),
        (
            "rule: bad name",
            PUBLISH_RULE,
            json!({ "name": "Bad Name", "source": "fn check(ctx, params) { pass() }" }),
        ),
        (
            "rule: does not compile",
            PUBLISH_RULE,
            json!({ "name": "broken", "source": "fn check(ctx, params) {" }),
        ),
    ];
    let mut told = serde_json::Map::new();
    for (case, mutation, input) in cases {
        let data = app.admin(mutation, json!({ "i": input })).await;
        let payload = data.as_object().unwrap().values().next().unwrap();
        assert_ne!(payload["userErrors"], json!([]), "{case}: {data:#}");
        told.insert(case.to_owned(), payload.clone());
    }
    insta::assert_json_snapshot!("refused_inputs", Value::Object(told));
    let after = app.count("coupons").await
        + app.count("coupon_codes").await
        + app.count("campaigns").await
        + app.count("webhook_endpoints").await
        + app.count("api_keys").await
        + app.count("bulk_jobs").await;
    assert_eq!(after, tables, "a refused input stores nothing");
}
both_backends!(refused_inputs_are_told_field_by_field);
