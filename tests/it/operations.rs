//! Running several instances: what one instance changes, the others follow, measured on
//! real server processes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Backend, TestDatabase};
use crate::process::Process;

const ADMIN: &str = "cpn_operations_admin_key_for_two_instances";

/// Asks `server` `{ viewer { role } }` with `key`; the HTTP status.
async fn status_with(server: &Process, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(key)
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Two server processes on one database. A key used on both (so each holds it in its
/// cache) is revoked through the first: the first refuses it at once, the second within
/// the bound the README states, and on PostgreSQL well inside it, as the change reaches
/// it by notification rather than by the cache's age limit.
async fn a_revoked_key_is_refused_by_every_instance_within_a_second(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let env = [("COUPONS_ADMIN_KEY", ADMIN)];
    let (a, b) = (Process::start(&db.url, &env), Process::start(&db.url, &env));
    let created = a
        .graphql(
            ADMIN,
            "mutation { createApiKey(input: { name: \"till\", role: STOREFRONT }) { apiKey { id } secret } }",
            json!({}),
        )
        .await;
    let key = created["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["data"]["createApiKey"]["apiKey"]["id"].clone();
    for _ in 0..3 {
        assert_eq!(status_with(&a, &key).await, 200);
        assert_eq!(status_with(&b, &key).await, 200);
    }
    let revoked = a
        .graphql(
            ADMIN,
            "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { active } } }",
            json!({ "id": id }),
        )
        .await;
    let start = Instant::now();
    assert_eq!(revoked["data"]["revokeApiKey"]["apiKey"]["active"], false);
    assert_eq!(status_with(&a, &key).await, 401, "the revoking instance");
    while status_with(&b, &key).await != 401 {
        assert!(start.elapsed() < Duration::from_secs(3), "still accepted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waited = start.elapsed();
    eprintln!("{backend:?}: the other instance refused the revoked key after {waited:?}");
    let bound = match backend {
        Backend::Postgres => Duration::from_millis(500),
        Backend::Sqlite => coupons::cache::KEY_MAX_AGE + Duration::from_millis(250),
    };
    assert!(waited <= bound, "refused after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_instance_within_a_second_sqlite() {
    a_revoked_key_is_refused_by_every_instance_within_a_second(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_instance_within_a_second_postgres() {
    a_revoked_key_is_refused_by_every_instance_within_a_second(Backend::Postgres).await;
}

/// With a read replica (`COUPONS_READ_DATABASE_URL`), the long reads (reports, exports,
/// reconciliation, the metrics' levels) go to it and everything else to the primary. A
/// second, empty database stands in for the replica, so where each read went shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reads_go_to_the_read_replica() {
    use coupons::storage::{Db, PoolOptions, events::last_event_id};
    let Some(app) = crate::harness::TestApp::with(Backend::Postgres, Default::default()).await
    else {
        return;
    };
    let Some(other) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let options = PoolOptions {
        max_size: 2,
        wait_timeout: Duration::from_secs(10),
    };
    Db::connect(&other.url, options)
        .unwrap()
        .run_migrations()
        .await
        .unwrap();
    crate::coupons::create(
        &app,
        json!({ "name": "Primary only", "code": "PRIMARY", "discount": { "percentage": "5" } }),
    )
    .await;
    let db = Db::connect(app.database_url(), options)
        .unwrap()
        .with_replica(&other.url, options)
        .unwrap();
    let on_primary = db
        .read(async |mut c| last_event_id(&mut c).await)
        .await
        .unwrap();
    let on_replica = db
        .read_long(async |mut c| last_event_id(&mut c).await)
        .await
        .unwrap();
    assert!(on_primary > 0);
    assert_eq!(on_replica, 0, "the long read went to the primary");
    let levels = coupons::storage::levels::read(&db).await.unwrap();
    assert_eq!(levels.last_event, 0);

    let sqlite = Db::connect("sqlite://replica-test.db", options).unwrap();
    assert!(sqlite.with_replica(&other.url, options).is_err());
    let _ = std::fs::remove_file("replica-test.db");
}

/// What `validateCoupon` says for `code` on a 40 USD order; `"VALID"` or the first
/// reason's code.
async fn verdict(server: &Process, code: &str) -> String {
    let body = server
        .graphql(
            ADMIN,
            "query($code: String!) { validateCoupon(input: { code: $code, order: { id: \"o-terms\", currency: \"USD\", subtotal: \"40\" } }) { valid reasons { code } } }",
            json!({ "code": code }),
        )
        .await;
    let answer = &body["data"]["validateCoupon"];
    if answer["valid"] == json!(true) {
        return "VALID".to_owned();
    }
    answer["reasons"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{body:#}"))
        .to_owned()
}

/// Redeems `code` on a 40 USD order through `server`; `"REDEEMED"` or the first error
/// code.
async fn redeem(server: &Process, code: &str, order: &str) -> String {
    let body = server
        .graphql(
            ADMIN,
            "mutation($code: String!, $o: String!) { redeemCoupon(input: { code: $code, idempotencyKey: $o, order: { id: $o, currency: \"USD\", subtotal: \"40\" } }) { redemption { status } userErrors { code } } }",
            json!({ "code": code, "o": order }),
        )
        .await;
    let answer = &body["data"]["redeemCoupon"];
    match answer["redemption"]["status"].as_str() {
        Some(status) => status.to_owned(),
        None => answer["userErrors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{body:#}"))
            .to_owned(),
    }
}

/// Each instance keeps the coupon terms it decoded, checked against the version read
/// with the counters. Two processes on one database: after a change made through the
/// first, the very next check on the second decides on the new terms, with no wait, and
/// uses counted through the first are counted by the second.
async fn every_instance_decides_on_the_terms_as_they_stand(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let env = [("COUPONS_ADMIN_KEY", ADMIN)];
    let (a, b) = (Process::start(&db.url, &env), Process::start(&db.url, &env));
    let created = a
        .graphql(
            ADMIN,
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } userErrors { code } } }",
            json!({ "i": { "name": "Terms", "code": "TERMS", "discount": { "percentage": "10" }, "maxRedemptions": 3 } }),
        )
        .await;
    let id = created["data"]["createCoupon"]["coupon"]["id"].clone();
    assert!(id.is_string(), "{created:#}");
    let change = "mutation($i: UpdateCouponInput!) { updateCoupon(input: $i) { coupon { id } userErrors { code } } }";
    let status = "mutation($id: ID!, $s: CouponStatus!) { setCouponStatus(input: { id: $id, status: $s }) { coupon { id } userErrors { code } } }";
    for _ in 0..3 {
        assert_eq!(verdict(&b, "TERMS").await, "VALID");
    }
    assert_eq!(redeem(&b, "TERMS", "o-1").await, "REDEEMED");

    let raised = json!({ "i": { "id": id, "minSubtotal": { "amount": "50", "currency": "USD" } } });
    assert!(a.graphql(ADMIN, change, raised).await["data"]["updateCoupon"]["coupon"].is_object());
    assert_eq!(verdict(&b, "TERMS").await, "MIN_SUBTOTAL_NOT_MET");
    assert_eq!(redeem(&b, "TERMS", "o-2").await, "MIN_SUBTOTAL_NOT_MET");

    let lowered =
        json!({ "i": { "id": id, "minSubtotal": { "amount": "30", "currency": "USD" } } });
    assert!(a.graphql(ADMIN, change, lowered).await["data"]["updateCoupon"]["coupon"].is_object());
    assert_eq!(verdict(&b, "TERMS").await, "VALID");

    let paused = a
        .graphql(ADMIN, status, json!({ "id": id, "s": "PAUSED" }))
        .await;
    assert!(
        paused["data"]["setCouponStatus"]["coupon"].is_object(),
        "{paused:#}"
    );
    assert_eq!(verdict(&b, "TERMS").await, "NOT_ACTIVE");
    a.graphql(ADMIN, status, json!({ "id": id, "s": "ACTIVE" }))
        .await;
    assert_eq!(verdict(&b, "TERMS").await, "VALID");

    // The counters are never taken from the cache: the last two uses, made through
    // the first instance, exhaust the coupon for the second.
    assert_eq!(redeem(&a, "TERMS", "o-3").await, "REDEEMED");
    assert_eq!(redeem(&a, "TERMS", "o-4").await, "REDEEMED");
    assert_eq!(verdict(&b, "TERMS").await, "USAGE_LIMIT_REACHED");
    assert_eq!(redeem(&b, "TERMS", "o-5").await, "USAGE_LIMIT_REACHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_decides_on_the_terms_as_they_stand_sqlite() {
    every_instance_decides_on_the_terms_as_they_stand(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_decides_on_the_terms_as_they_stand_postgres() {
    every_instance_decides_on_the_terms_as_they_stand(Backend::Postgres).await;
}
