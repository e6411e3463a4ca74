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
