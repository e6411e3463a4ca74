//! The audit trail and API key management, through the real server.

use coupons::auth::Role;
use coupons::storage::Actor;
use coupons_domain::{CouponCode, CouponId, Limit};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{TestApp, request_to};

const LAST_ENTRY: &str = r#"{ auditLog(first: 1) { edges { node {
  id at action actorKeyId actorRole actorName clientIp entityType entityId before after } } } }"#;

const TRAIL: &str = r#"{ auditLog(first: 100) { edges { node {
  at action actorKeyId actorRole actorName clientIp entityType entityId before after } } } }"#;

/// The id part of a global ID.
fn id_of(global: &Value) -> String {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(global.as_str().unwrap())
        .unwrap();
    String::from_utf8(raw)
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Sends `query` over real HTTP as `key` and checks that exactly one audit entry was
/// written, with this action, actor and client address; returns the response data and
/// the entry.
/// Who sends a request: the key, its global ID (if known) and its role.
struct Sender<'a> {
    key: &'a str,
    key_id: Option<&'a str>,
    role: &'a str,
}

async fn one_entry(
    app: &TestApp,
    client: &reqwest::Client,
    Sender { key, key_id, role }: Sender<'_>,
    query: &str,
    variables: Value,
    action: &str,
) -> (Value, Value) {
    let before = app.count("audit_log").await;
    let (_, body) = app.http(client, key, query, variables).await;
    assert!(body.get("errors").is_none(), "{action}: {body:#}");
    let data = body["data"].clone();
    let payload = data.as_object().unwrap().values().next().unwrap();
    assert_eq!(
        payload.get("userErrors").cloned().unwrap_or(json!([])),
        json!([]),
        "{action}: {data:#}"
    );
    assert_eq!(app.count("audit_log").await, before + 1, "{action}");
    let entry = app.admin(LAST_ENTRY, json!({})).await["auditLog"]["edges"][0]["node"].clone();
    assert_eq!(entry["action"], json!(action), "{entry:#}");
    assert_eq!(entry["actorRole"], json!(role), "{entry:#}");
    assert_eq!(entry["clientIp"], json!("127.0.0.1"), "{entry:#}");
    match key_id {
        Some(id) => assert_eq!(entry["actorKeyId"], json!(id), "{entry:#}"),
        None => assert!(entry["actorKeyId"].is_string()),
    }
    (data, entry)
}

/// Every admin mutation and every checkout mutation writes exactly one entry, with the
/// key, role and address of the caller and the entity before and after; failures,
/// replays and no-ops write none.
async fn every_change_leaves_exactly_one_audit_entry(app: TestApp) {
    let client = reqwest::Client::new();
    let admin = app.admin.clone();
    let me = app.admin("{ viewer { name } }", json!({})).await;
    assert!(me["viewer"]["name"].is_string());
    let a = |q: &'static str, v: Value, action: &'static str| {
        let (app, client, admin) = (&app, &client, admin.clone());
        async move {
            let who = Sender {
                key: &admin,
                key_id: None,
                role: "ADMIN",
            };
            one_entry(app, client, who, q, v, action).await
        }
    };

    let (d, e) = a(
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } userErrors { code } } }",
        json!({ "i": { "name": "Audited", "code": "AUDIT1", "discount": { "percentage": "10" } } }),
        "COUPON_CREATED",
    )
    .await;
    let coupon = d["createCoupon"]["coupon"]["id"].clone();
    assert_eq!(e["entityType"], json!("COUPON"));
    assert_eq!(e["entityId"], coupon);
    assert!(e["before"].is_null());
    assert_eq!(e["after"]["codes"], json!(["AUDIT1"]));
    assert_eq!(e["after"]["coupon"]["name"], json!("Audited"));

    let (_, e) = a(
        "mutation($i: UpdateCouponInput!) { updateCoupon(input: $i) { coupon { id } userErrors { code } } }",
        json!({ "i": { "id": coupon, "name": "Audited twice" } }),
        "COUPON_UPDATED",
    )
    .await;
    assert_eq!(e["before"]["name"], json!("Audited"));
    assert_eq!(e["after"]["name"], json!("Audited twice"));
    a(
        "mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { coupon { id } userErrors { code } } }",
        json!({ "id": coupon }),
        "COUPON_STATUS_CHANGED",
    )
    .await;
    a(
        "mutation($id: ID!) { setCouponStatus(input: { id: $id, status: ACTIVE }) { coupon { id } userErrors { code } } }",
        json!({ "id": coupon }),
        "COUPON_STATUS_CHANGED",
    )
    .await;
    let (_, e) = a(
        "mutation($id: ID!) { addCodes(input: { couponId: $id, codes: [\"audit2\", \"AUDIT3\"], usageLimit: 1 }) { coupon { id } userErrors { code } } }",
        json!({ "id": coupon }),
        "CODES_ADDED",
    )
    .await;
    assert_eq!(e["after"]["codes"], json!(["AUDIT2", "AUDIT3"]));
    let doomed = crate::coupons::create(
        &app,
        json!({ "name": "Doomed", "discount": { "percentage": "5" } }),
    )
    .await;
    let (_, e) = a(
        "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { deletedCouponId userErrors { code } } }",
        json!({ "id": doomed["id"] }),
        "COUPON_DELETED",
    )
    .await;
    assert_eq!(e["before"]["name"], json!("Doomed"));
    assert!(e["after"].is_null());
    let rule = "fn check(ctx, params) { pass() }\n";
    let publish = "mutation($n: String!, $s: String!) { publishRule(input: { name: $n, source: $s }) { rule { name } userErrors { code } } }";
    a(
        publish,
        json!({ "n": "audited_rule", "s": rule }),
        "RULE_PUBLISHED",
    )
    .await;
    let (_, e) = a(
        publish,
        json!({ "n": "audited_rule", "s": format!("{rule}// v2\n") }),
        "RULE_PUBLISHED",
    )
    .await;
    assert_eq!(e["entityType"], json!("RULE"));
    assert_eq!(e["entityId"], json!("audited_rule"));
    assert_eq!(e["before"], json!({ "version": 1 }));
    let (_, e) = a(
        "mutation { rollbackRule(input: { name: \"audited_rule\", version: 1 }) { rule { name } userErrors { code } } }",
        json!({}),
        "RULE_ROLLED_BACK",
    )
    .await;
    // The version in force before the rollback, and the one after.
    assert_eq!(e["before"], json!({ "version": 2 }));
    assert_eq!(e["after"], json!({ "version": 1 }));
    a(
        "mutation($o: OrderInput!) { simulateRules(input: { code: \"AUDIT1\", order: $o }) { reasons { code } userErrors { code } } }",
        json!({ "o": { "id": "sim", "currency": "USD", "subtotal": "10" } }),
        "RULES_SIMULATED",
    )
    .await;
    let (d, _) = a(
        "mutation { createApiKey(input: { name: \"till 7\", role: STOREFRONT }) { apiKey { id } secret userErrors { code } } }",
        json!({}),
        "API_KEY_CREATED",
    )
    .await;
    let store = d["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let store_id = d["createApiKey"]["apiKey"]["id"].clone();
    let store_key = store_id.as_str().unwrap().to_owned();

    // Checkout calls, as the storefront key.
    let s = |q: &'static str, v: Value, action: &'static str| {
        let (app, client, store, id) = (&app, &client, store.clone(), store_key.clone());
        async move {
            let who = Sender {
                key: &store,
                key_id: Some(&id),
                role: "STOREFRONT",
            };
            one_entry(app, client, who, q, v, action).await
        }
    };
    let order = |id: &str| json!({ "id": id, "currency": "USD", "subtotal": "80", "customer": { "email": "Pat@Example.com" } });
    let reserve = "mutation($i: ReserveCouponInput!) { reserveCoupon(input: $i) { reservation { id status } userErrors { code } } }";
    let redeem = "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id status } userErrors { code } } }";
    let (d, e) = s(
        reserve,
        json!({ "i": { "code": "AUDIT1", "order": order("o-1"), "idempotencyKey": "r-1" } }),
        "COUPON_RESERVED",
    )
    .await;
    let reservation = d["reserveCoupon"]["reservation"]["id"].clone();
    assert_eq!(e["entityType"], json!("REDEMPTION"));
    assert_eq!(e["entityId"], reservation);
    assert_eq!(e["after"]["status"], json!("RESERVED"));
    assert_eq!(e["after"]["email_domain"], json!("example.com"));
    assert!(!e.to_string().to_lowercase().contains("pat@"), "{e:#}");
    let (_, e) = s(
        redeem,
        json!({ "i": { "reservationId": reservation, "idempotencyKey": "r-2" } }),
        "COUPON_REDEEMED",
    )
    .await;
    assert_eq!(e["before"]["status"], json!("RESERVED"));
    assert_eq!(e["after"]["status"], json!("REDEEMED"));
    let (d, _) = s(
        redeem,
        json!({ "i": { "code": "audit2", "order": order("o-2"), "idempotencyKey": "r-3" } }),
        "COUPON_REDEEMED",
    )
    .await;
    let redemption = d["redeemCoupon"]["redemption"]["id"].clone();
    let (d, _) = s(
        reserve,
        json!({ "i": { "code": "AUDIT1", "order": order("o-3"), "idempotencyKey": "r-4" } }),
        "COUPON_RESERVED",
    )
    .await;
    let held = d["reserveCoupon"]["reservation"]["id"].clone();
    s(
        "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { id } userErrors { code } } }",
        json!({ "id": held }),
        "RESERVATION_RELEASED",
    )
    .await;
    let (_, e) = s(
        "mutation($id: ID!) { reverseRedemption(input: { redemptionId: $id, refundedDiscount: \"1\", idempotencyKey: \"r-5\" }) { redemption { id } userErrors { code } } }",
        json!({ "id": redemption }),
        "REDEMPTION_REVERSED",
    )
    .await;
    assert_eq!(e["after"]["status"], json!("PARTIALLY_REVERSED"));

    // Key management, as admin.
    let (d, e) = a(
        "mutation($id: ID!) { rotateApiKey(input: { id: $id, graceMinutes: 5 }) { apiKey { id } secret userErrors { code } } }",
        json!({ "id": store_id }),
        "API_KEY_ROTATED",
    )
    .await;
    assert_eq!(e["entityId"], store_id);
    assert!(
        !e.to_string()
            .contains(d["rotateApiKey"]["secret"].as_str().unwrap())
    );
    a(
        "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } userErrors { code } } }",
        json!({ "id": d["rotateApiKey"]["apiKey"]["id"] }),
        "API_KEY_REVOKED",
    )
    .await;

    // Webhook endpoints and deliveries; the secret is never recorded.
    let (d, e) = a(
        "mutation { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/audit\" }) { webhookEndpoint { id } secret userErrors { code } } }",
        json!({}),
        "WEBHOOK_ENDPOINT_CREATED",
    )
    .await;
    let endpoint = d["createWebhookEndpoint"]["webhookEndpoint"]["id"].clone();
    assert_eq!(e["entityType"], json!("WEBHOOK_ENDPOINT"));
    assert_eq!(e["entityId"], endpoint);
    assert_eq!(e["after"]["url"], json!("http://127.0.0.1:9/audit"));
    let secret = d["createWebhookEndpoint"]["secret"].as_str().unwrap();
    assert!(!e.to_string().contains(secret));
    let (_, e) = a(
        "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, active: false, rotateSecret: true }) { secret userErrors { code } } }",
        json!({ "id": endpoint }),
        "WEBHOOK_ENDPOINT_UPDATED",
    )
    .await;
    assert_eq!(e["before"]["active"], json!(true));
    assert_eq!(e["after"]["active"], json!(false));
    a(
        "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } userErrors { code } } }",
        json!({ "i": { "name": "Hooked", "discount": { "percentage": "10" } } }),
        "COUPON_CREATED",
    )
    .await;
    coupons::service::webhooks::fan_out(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    let delivery = app
        .admin(
            "{ webhookDeliveries(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await["webhookDeliveries"]["nodes"][0]["id"]
        .clone();
    let (_, e) = a(
        "mutation($id: ID!) { redeliverWebhook(input: { deliveryId: $id }) { webhookDelivery { id } userErrors { code } } }",
        json!({ "id": delivery }),
        "WEBHOOK_REDELIVERED",
    )
    .await;
    assert_eq!(e["entityType"], json!("WEBHOOK_DELIVERY"));
    assert_eq!(e["entityId"], delivery);
    a(
        "mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { deletedId userErrors { code } } }",
        json!({ "id": endpoint }),
        "WEBHOOK_ENDPOINT_DELETED",
    )
    .await;

    // Nothing is recorded for refusals, replays and no-ops.
    let n = app.count("audit_log").await;
    let refusals = [
        (
            r#"mutation { createCoupon(input: { name: "", discount: { percentage: "500" } }) { userErrors { code } } }"#,
            json!({}),
        ),
        (
            r#"mutation { createCoupon(input: { name: "Dup", code: "AUDIT1", discount: { percentage: "5" } }) { userErrors { code } } }"#,
            json!({}),
        ),
        (
            r#"mutation($id: ID!) { addCodes(input: { couponId: $id, codes: ["FRESH1", "AUDIT3"] }) { userErrors { code } } }"#,
            json!({ "id": coupon }),
        ),
        (
            r#"mutation($id: ID!) { setCouponStatus(input: { id: $id, status: DRAFT }) { userErrors { code } } }"#,
            json!({ "id": coupon }),
        ),
        (
            r#"mutation { publishRule(input: { name: "broken_rule", source: "fn check(" }) { userErrors { code } } }"#,
            json!({}),
        ),
        (
            r#"mutation { createWebhookEndpoint(input: { url: "ftp://example.com" }) { userErrors { code } } }"#,
            json!({}),
        ),
        (
            r#"mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { userErrors { code } } }"#,
            json!({ "id": endpoint }),
        ),
    ];
    for (q, v) in refusals {
        let d = app.admin(q, v).await;
        let payload = d.as_object().unwrap().values().next().unwrap();
        assert_ne!(payload["userErrors"], json!([]), "{q}");
    }
    // The rotated key is in its grace period: its replay answers as before, its second
    // release changes nothing.
    let replay = app
        .request(
            Some(&store),
            redeem,
            json!({ "i": { "code": "audit2", "order": order("o-2"), "idempotencyKey": "r-3" } }),
        )
        .await;
    assert_eq!(
        replay.data()["redeemCoupon"]["redemption"]["id"],
        redemption
    );
    let again = app.request(Some(&store), "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { status } } }", json!({ "id": held })).await;
    assert_eq!(
        again.data()["releaseReservation"]["reservation"]["status"],
        json!("RELEASED")
    );
    assert_eq!(app.count("audit_log").await, n);
    // The whole trail, newest first: every entry's action, actor and the entity before
    // and after, as an auditor reads them.
    let trail = app.admin(TRAIL, json!({})).await["auditLog"]["edges"].clone();
    insta::assert_json_snapshot!("audit_trail", crate::snapshot::redacted(&trail));
}
both_backends!(every_change_leaves_exactly_one_audit_entry);

/// The entry is written in the change's transaction: when the change rolls back (here a
/// code that is taken, found by the database itself), no entry remains.
async fn a_rolled_back_change_leaves_no_entry(app: TestApp) {
    let coupon = crate::coupons::create(
        &app,
        json!({ "name": "Rollback", "code": "TAKEN1", "discount": { "percentage": "5" } }),
    )
    .await;
    let id = CouponId(id_of(&coupon["id"]).parse().unwrap());
    let before = app.count("audit_log").await;
    let codes = [
        CouponCode::parse("FRESH1").unwrap(),
        CouponCode::parse("TAKEN1").unwrap(),
    ];
    let actor = Actor::system("test");
    let add = async |codes: &[CouponCode]| {
        let (actor, now) = (&actor, chrono::Utc::now());
        app.db
            .write(async move |mut c| {
                coupons::storage::coupons::add_codes(&mut c, id, codes, Limit::NONE, actor, now)
                    .await
            })
            .await
    };
    let result = add(&codes).await;
    assert!(
        matches!(
            result,
            Err(coupons::storage::StorageError::UniqueViolation(_))
        ),
        "{result:?}"
    );
    assert_eq!(app.count("audit_log").await, before);
    assert_eq!(app.count("coupon_codes").await, 1);
    // The same call without the taken code commits both.
    add(&codes[..1]).await.unwrap();
    assert_eq!(app.count("audit_log").await, before + 1);
}
both_backends!(a_rolled_back_change_leaves_no_entry);

/// The log is filtered and paged; only admins read it.
async fn the_audit_log_is_filtered_and_paged(app: TestApp) {
    for i in 0..5 {
        crate::coupons::create(&app, json!({ "name": format!("C{i}"), "code": format!("PAGE{i}"), "discount": { "percentage": "5" } })).await;
    }
    let q = r#"query($f: AuditLogFilter, $after: String) { auditLog(first: 2, after: $after, filter: $f) {
        edges { cursor node { action entityType after } } pageInfo { hasNextPage endCursor } } }"#;
    let f = json!({ "action": "COUPON_CREATED" });
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let d = app.admin(q, json!({ "f": f, "after": after })).await;
        for e in d["auditLog"]["edges"].as_array().unwrap() {
            seen.push(e["node"]["after"]["codes"][0].as_str().unwrap().to_owned());
        }
        if d["auditLog"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = d["auditLog"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["PAGE4", "PAGE3", "PAGE2", "PAGE1", "PAGE0"]);
    let d = app
        .admin(q, json!({ "f": { "action": "COUPON_DELETED" } }))
        .await;
    assert_eq!(d["auditLog"]["edges"], json!([]));
    let d = app
        .admin(q, json!({ "f": { "until": "2000-01-01T00:00:00Z" } }))
        .await;
    assert_eq!(d["auditLog"]["edges"], json!([]));
    for role in [Role::Analyst, Role::Storefront, Role::Public] {
        let key = app.key(role).await;
        let r = app.request(Some(&key), q, json!({})).await;
        assert_eq!(r.error_code(), Some("FORBIDDEN"), "{role}");
    }
}
both_backends!(the_audit_log_is_filtered_and_paged);

const KEYS: &str = r#"query($all: Boolean! = false) { apiKeys(first: 100, filter: { includeInactive: $all }) {
  nodes { id name role prefix channels lastUsedAt revokedAt expiresAt active replacedById } } }"#;

/// How long until `router` refuses `key` (it is asked every 10 ms, for at most 3 s).
async fn until_refused(router: &axum::Router, key: &str) -> std::time::Duration {
    let start = std::time::Instant::now();
    while request_to(router, key, "{ viewer { role } }", json!({}))
        .await
        .status
        != 401
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(3),
            "still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// The bound the README states: a key changed on one instance is refused by the others
/// within the key cache's age limit (plus a request's time).
fn within_the_cache_bound(waited: std::time::Duration) {
    let bound = coupons::cache::KEY_MAX_AGE + std::time::Duration::from_millis(250);
    assert!(waited <= bound, "refused after {waited:?}");
}

/// Keys are listed, revoked and rotated; a revoked key is refused at once by the
/// instance that revoked it and within the cache bound by another instance on the same
/// database; a rotated key works through its grace period only.
async fn api_keys_are_listed_revoked_and_rotated(app: TestApp) {
    let other = app.second_instance();
    let create = "mutation($n: String!) { createApiKey(input: { name: $n, role: STOREFRONT }) { apiKey { id } secret } }";
    let d = app.admin(create, json!({ "n": "till 1" })).await;
    let (k1, k1_id) = (
        d["createApiKey"]["secret"].as_str().unwrap().to_owned(),
        d["createApiKey"]["apiKey"]["id"].clone(),
    );
    let viewer = "{ viewer { role } }";
    assert_eq!(request_to(&other, &k1, viewer, json!({})).await.status, 200);
    let keys = app.admin(KEYS, json!({})).await;
    let listed = keys["apiKeys"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == k1_id)
        .unwrap()
        .clone();
    assert_eq!(listed["role"], json!("STOREFRONT"));
    assert!(listed["lastUsedAt"].is_string(), "{listed:#}");
    assert!(!keys.to_string().contains(&k1));

    // Revoked through one instance, refused by the other on its next request.
    let revoke = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt active } userErrors { code } } }";
    let d = app.admin(revoke, json!({ "id": k1_id })).await;
    assert_eq!(d["revokeApiKey"]["apiKey"]["active"], json!(false));
    assert_eq!(app.request(Some(&k1), viewer, json!({})).await.status, 401);
    within_the_cache_bound(until_refused(&other, &k1).await);
    let d = app.admin(revoke, json!({ "id": k1_id })).await;
    assert_eq!(
        d["revokeApiKey"]["userErrors"][0]["code"],
        json!("KEY_INACTIVE")
    );
    let listed = app.admin(KEYS, json!({})).await.to_string();
    assert!(!listed.contains(k1_id.as_str().unwrap()));
    let listed = app.admin(KEYS, json!({ "all": true })).await.to_string();
    assert!(listed.contains(k1_id.as_str().unwrap()));

    // Rotation: both keys work during the grace period, then only the new one.
    let d = app.admin(create, json!({ "n": "till 2" })).await;
    let (k2, k2_id) = (
        d["createApiKey"]["secret"].as_str().unwrap().to_owned(),
        d["createApiKey"]["apiKey"]["id"].clone(),
    );
    let rotate = "mutation($id: ID!, $g: Int!) { rotateApiKey(input: { id: $id, graceMinutes: $g }) { apiKey { id name role } secret previousApiKey { expiresAt replacedById } userErrors { code field } } }";
    let d = app.admin(rotate, json!({ "id": k2_id, "g": 60 })).await;
    let r = &d["rotateApiKey"];
    assert_eq!(r["apiKey"]["name"], json!("till 2"));
    assert_eq!(r["apiKey"]["role"], json!("STOREFRONT"));
    assert_eq!(r["previousApiKey"]["replacedById"], r["apiKey"]["id"]);
    assert!(r["previousApiKey"]["expiresAt"].is_string());
    let k3 = r["secret"].as_str().unwrap().to_owned();
    assert_eq!(request_to(&other, &k2, viewer, json!({})).await.status, 200);
    assert_eq!(request_to(&other, &k3, viewer, json!({})).await.status, 200);
    let d = app.admin(rotate, json!({ "id": k2_id, "g": 60 })).await;
    assert_eq!(
        d["rotateApiKey"]["userErrors"][0]["code"],
        json!("KEY_INACTIVE")
    );
    app.sql(&format!(
        "UPDATE api_keys SET expires_at = '2001-01-01T00:00:00Z' WHERE id = {}",
        id_of(&k2_id)
    ))
    .await;
    within_the_cache_bound(until_refused(&other, &k2).await);
    assert_eq!(request_to(&other, &k3, viewer, json!({})).await.status, 200);

    // Without a grace period the old key stops at once.
    let k3_id = d["rotateApiKey"]["apiKey"]["id"].clone();
    let k3_id = if k3_id.is_null() {
        r["apiKey"]["id"].clone()
    } else {
        k3_id
    };
    let d = app.admin(rotate, json!({ "id": k3_id, "g": 0 })).await;
    let k4 = d["rotateApiKey"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.request(Some(&k3), viewer, json!({})).await.status, 401);
    within_the_cache_bound(until_refused(&other, &k3).await);
    assert_eq!(request_to(&other, &k4, viewer, json!({})).await.status, 200);
    let d = app.admin(rotate, json!({ "id": k3_id, "g": 20_000 })).await;
    assert_eq!(
        d["rotateApiKey"]["userErrors"][0]["field"],
        json!(["input", "graceMinutes"])
    );
}
both_backends!(api_keys_are_listed_revoked_and_rotated);

/// A key limited to channels may only validate and check out orders on them, and only
/// touch reservations and redemptions made on them.
async fn channel_scoped_keys_stay_in_their_channels(app: TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "Any", "code": "ANYWHERE", "discount": { "percentage": "5" } }),
    )
    .await;
    let create = "mutation($c: [String!]!) { createApiKey(input: { name: \"web shop\", role: STOREFRONT, channels: $c }) { apiKey { channels } secret userErrors { code field } } }";
    let d = app.admin(create, json!({ "c": ["Web"] })).await;
    assert_eq!(d["createApiKey"]["apiKey"]["channels"], json!(["web"]));
    let web = d["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let d = app.admin(create, json!({ "c": ["bad channel!"] })).await;
    assert_eq!(
        d["createApiKey"]["userErrors"][0]["code"],
        json!("INVALID_CHANNEL")
    );

    let validate = "query($c: String) { validateCoupon(input: { code: \"ANYWHERE\", order: { id: \"o\", currency: \"USD\", subtotal: \"10\", channel: $c } }) { valid } }";
    let r = app
        .request(Some(&web), validate, json!({ "c": "web" }))
        .await;
    assert_eq!(r.data()["validateCoupon"]["valid"], json!(true));
    for channel in [json!("pos"), Value::Null] {
        let r = app
            .request(Some(&web), validate, json!({ "c": channel }))
            .await;
        assert_eq!(r.error_code(), Some("FORBIDDEN"), "{channel}: {:#}", r.body);
    }
    let reserve = "mutation($c: String, $k: String!) { reserveCoupon(input: { code: \"ANYWHERE\", idempotencyKey: $k, order: { id: $k, currency: \"USD\", subtotal: \"10\", channel: $c } }) { reservation { id } userErrors { code } } }";
    let r = app
        .request(Some(&web), reserve, json!({ "c": "pos", "k": "w-1" }))
        .await;
    assert_eq!(r.error_code(), Some("FORBIDDEN"));
    assert_eq!(app.count("redemptions").await, 0);
    let r = app
        .request(Some(&web), reserve, json!({ "c": "web", "k": "w-2" }))
        .await;
    assert!(r.data()["reserveCoupon"]["reservation"]["id"].is_string());
    // A reservation made on another channel by an unscoped key is out of reach.
    let shop = app.key(Role::Storefront).await;
    let r = app
        .request(Some(&shop), reserve, json!({ "c": "pos", "k": "s-1" }))
        .await;
    let pos = r.data()["reserveCoupon"]["reservation"]["id"].clone();
    let release = "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { status } userErrors { code } } }";
    let r = app.request(Some(&web), release, json!({ "id": pos })).await;
    assert_eq!(r.error_code(), Some("FORBIDDEN"));
    let r = app
        .request(Some(&shop), release, json!({ "id": pos }))
        .await;
    assert_eq!(
        r.data()["releaseReservation"]["reservation"]["status"],
        json!("RELEASED")
    );
}
both_backends!(channel_scoped_keys_stay_in_their_channels);
