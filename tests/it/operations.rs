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

/// A new storefront key, made through `server`; its secret.
async fn storefront_key(server: &Process, name: &str) -> String {
    let created = server
        .graphql(
            ADMIN,
            "mutation($n: String!) { createApiKey(input: { name: $n, role: STOREFRONT }) { secret } }",
            json!({ "n": name }),
        )
        .await;
    created["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{created:#}"))
        .to_owned()
}

/// One guess with `key` at a code that does not exist: `true` when it was answered
/// `NOT_FOUND`, `false` when throttled.
async fn guess(server: &Process, key: &str, n: usize) -> bool {
    let body = server
        .graphql(
            key,
            "query($code: String!) { validateCoupon(input: { code: $code, order: { id: \"g\", currency: \"USD\", subtotal: \"40\" } }) { valid reasons { code } } }",
            json!({ "code": format!("GUESS{n}") }),
        )
        .await;
    if body["errors"][0]["extensions"]["code"] == json!("THROTTLED") {
        return false;
    }
    assert_eq!(
        body["data"]["validateCoupon"]["reasons"][0]["code"],
        json!("NOT_FOUND"),
        "{body:#}"
    );
    true
}

/// Guesses with `key`, taking the servers in turn, until one answers throttled; how
/// many guesses were answered `NOT_FOUND`.
async fn guesses_told(servers: &[&Process], key: &str) -> usize {
    let mut told = 0;
    for n in 0.. {
        assert!(n < 100, "never throttled");
        if !guess(servers[n % servers.len()], key, n).await {
            break;
        }
        told += 1;
    }
    told
}

/// The failure budget of a key is one budget however many instances serve the
/// database (PostgreSQL; SQLite serves one instance). Two server processes, a key
/// budget of 12 failures: a guesser on one instance is told 12 times that a code does
/// not exist, one alternating between the two is told 12 times as well, and once it is
/// locked out both refuse it. 40 guesses sent at once over both instances are told
/// exactly 12 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guesser_gets_one_budget_from_any_number_of_instances_postgres() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let env = [
        ("COUPONS_ADMIN_KEY", ADMIN),
        (
            "COUPONS_STOREFRONT_ATTEMPT_LIMITS",
            "key=12,ip=0,customer=0",
        ),
    ];
    let (a, b) = (Process::start(&db.url, &env), Process::start(&db.url, &env));
    let (one, two, three) = (
        storefront_key(&a, "one").await,
        storefront_key(&a, "two").await,
        storefront_key(&a, "three").await,
    );

    let against_one = guesses_told(&[&a], &one).await;
    let alternating = guesses_told(&[&a, &b], &two).await;
    eprintln!("failure verdicts told: {against_one} by one instance, {alternating} by two in turn");
    assert_eq!(against_one, 12);
    assert_eq!(alternating, 12);
    assert!(!guess(&a, &two, 1000).await);
    assert!(!guess(&b, &two, 1001).await);

    let at_once = futures_util::future::join_all(
        (0..40).map(|n| guess(if n % 2 == 0 { &a } else { &b }, &three, n)),
    )
    .await;
    let told = at_once.iter().filter(|t| **t).count();
    eprintln!("failure verdicts told to 40 guesses at once over two instances: {told}");
    assert_eq!(told, 12);
}

/// The detector runs by itself in the server: with the action `PAUSE` for every coupon
/// and a leak threshold of 5 customers, a code redeemed by 6 customers is paused by the
/// server within a couple of its one-second looks, and the next redemption is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pauses_a_leaked_code_by_itself_postgres() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let env = [
        ("COUPONS_ADMIN_KEY", ADMIN),
        ("COUPONS_ABUSE_ACTION", "PAUSE"),
        ("COUPONS_ABUSE_INTERVAL_SECONDS", "1"),
        (
            "COUPONS_ABUSE_THRESHOLDS",
            "leak_min_customers=5,velocity_min_uses=1000",
        ),
    ];
    let server = Process::start(&db.url, &env);
    let created = server
        .graphql(
            ADMIN,
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } userErrors { code } } }",
            json!({ "i": { "name": "Shared", "code": "SHARED", "discount": { "percentage": "10" } } }),
        )
        .await;
    let id = created["data"]["createCoupon"]["coupon"]["id"].clone();
    for n in 0..6 {
        let body = server
            .graphql(
                ADMIN,
                "mutation($o: String!, $c: String!) { redeemCoupon(input: { code: \"SHARED\", idempotencyKey: $o, order: { id: $o, currency: \"USD\", subtotal: \"40\", customer: { id: $c } } }) { redemption { id } } }",
                json!({ "o": format!("o-{n}"), "c": format!("c-{n}") }),
            )
            .await;
        assert!(
            body["data"]["redeemCoupon"]["redemption"]["id"].is_string(),
            "{body:#}"
        );
    }
    let start = Instant::now();
    loop {
        let status = server
            .graphql(
                ADMIN,
                "query($id: ID!) { coupon(id: $id) { status } }",
                json!({ "id": id }),
            )
            .await;
        if status["data"]["coupon"]["status"] == json!("PAUSED") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not paused: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("paused {:?} after the sixth customer", start.elapsed());
    let signals = server
        .graphql(
            ADMIN,
            "{ abuseSignals { nodes { kind action changed } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        signals["data"]["abuseSignals"]["nodes"],
        json!([{ "kind": "LEAKED_CODE", "action": "PAUSE", "changed": { "status": "ACTIVE" } }])
    );
}
