//! Secrets at rest, on the real binary: after a run that made every kind of secret, no
//! secret's bytes are anywhere in the database's files (SQLite) or its dump
//! (PostgreSQL); `coupons rotate-master-key` seals them all again under a new key, after
//! which the old key alone no longer opens them.

use std::process::Command;

use coupons::seal::{PREFIX, Sealer, parse_key, service_secret};
use serde_json::json;

use crate::harness::{Backend, TestDatabase};
use crate::process::{BIN, Process};

const ADMIN: &str = "cpn_secrets_admin_key_for_the_scan_at_rest_test";
const STRIPE: &str = "whsec_stripe_signing_secret_for_the_scan_test_0001";
const BRAINTREE_PRIVATE: &str = "braintree_private_key_for_the_scan_test";
const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { webhookEndpoint { id } secret userErrors { code } } }";
const ROTATE: &str = "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, rotateSecret: true }) { secret userErrors { code } } }";

/// Every byte the database keeps: the SQLite file with its WAL, or a PostgreSQL dump.
fn database_bytes(url: &str) -> Vec<u8> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
        }
        assert!(!bytes.is_empty());
        bytes
    } else {
        let out = Command::new("pg_dump").arg(url).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The stored value of the service secret `name`, read from the database.
async fn stored_service_secret(url: &str, name: &str) -> String {
    let db = crate::harness::inspect(url);
    let all = db
        .read(async |mut c| coupons::storage::secrets::stored_secrets(&mut c).await)
        .await
        .unwrap();
    all.into_iter()
        .find_map(|(slot, value)| {
            (slot == coupons::storage::secrets::SecretSlot::Service(name.to_owned()))
                .then_some(value)
        })
        .unwrap()
}

fn rotate(url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("rotate-master-key")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn secrets_are_sealed_at_rest(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let (k1, k2) = (coupons::seal::new_key(), coupons::seal::new_key());
    let braintree = format!("braintree_public:{BRAINTREE_PRIVATE}");
    let server = Process::start(
        &db.url,
        &[
            ("COUPONS_ADMIN_KEY", ADMIN),
            ("COUPONS_MASTER_KEY", &k1),
            ("COUPONS_STRIPE_WEBHOOK_SECRET", STRIPE),
            ("COUPONS_BRAINTREE_KEYS", &braintree),
        ],
    );
    let mut secrets = vec![
        ADMIN.to_owned(),
        STRIPE.to_owned(),
        BRAINTREE_PRIVATE.to_owned(),
        k1.clone(),
    ];
    let mut endpoints = Vec::new();
    for n in 0..2 {
        let d = server
            .graphql(
                ADMIN,
                CREATE,
                json!({ "i": { "url": format!("https://hooks.example.test/{n}") } }),
            )
            .await;
        let created = &d["data"]["createWebhookEndpoint"];
        secrets.push(
            created["secret"]
                .as_str()
                .unwrap_or_else(|| panic!("{d:#}"))
                .to_owned(),
        );
        endpoints.push(created["webhookEndpoint"]["id"].clone());
    }
    let d = server
        .graphql(ADMIN, ROTATE, json!({ "id": endpoints[0] }))
        .await;
    secrets.push(
        d["data"]["updateWebhookEndpoint"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let d = server
        .graphql(
            ADMIN,
            "mutation { createApiKey(input: { name: \"till\", role: STOREFRONT }) { secret } }",
            json!({}),
        )
        .await;
    secrets.push(
        d["data"]["createApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert!(server.stop().0.success());

    // The generated service secret: opened with the key, it is the secret to look for.
    let old = Sealer::new(&parse_key(&k1).unwrap(), &[]);
    let purpose = service_secret("customer_key");
    let stored = stored_service_secret(&db.url, "customer_key").await;
    assert!(stored.starts_with(PREFIX), "{stored}");
    secrets.push(old.open(&purpose, &stored).unwrap());

    let bytes = database_bytes(&db.url);
    for secret in &secrets {
        assert!(!holds(&bytes, secret), "{secret} is in the database");
    }
    assert!(holds(&bytes, &format!("{PREFIX}{}:", old.key_id())));

    // Rotation: with the new key current and the old one previous, every value (two
    // endpoints' secrets, the service secret) is sealed again; then the new key alone serves, and the old key alone cannot.
    let (ok, said) = rotate(
        &db.url,
        &[
            ("COUPONS_MASTER_KEY", &k2),
            ("COUPONS_MASTER_KEY_PREVIOUS", &k1),
        ],
    );
    assert!(ok, "{said}");
    assert!(said.contains("Sealed 3 secret(s)"), "{said}");
    let new = Sealer::new(&parse_key(&k2).unwrap(), &[]);
    let bytes = database_bytes(&db.url);
    assert!(!holds(&bytes, &format!("{PREFIX}{}:", old.key_id())));
    assert!(holds(&bytes, &format!("{PREFIX}{}:", new.key_id())));
    for secret in &secrets {
        assert!(
            !holds(&bytes, secret),
            "{secret} is in the database after rotation"
        );
    }
    let stored = stored_service_secret(&db.url, "customer_key").await;
    assert_eq!(
        new.open(&purpose, &stored).unwrap(),
        secrets.last().unwrap().as_str()
    );

    let again = Process::start(
        &db.url,
        &[("COUPONS_ADMIN_KEY", ADMIN), ("COUPONS_MASTER_KEY", &k2)],
    );
    assert!(again.stop().0.success());
    let (ok, said) = rotate(&db.url, &[("COUPONS_MASTER_KEY", &k1)]);
    assert!(!ok, "the old key alone opened the new seals: {said}");
    assert!(said.contains("master key"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_sqlite() {
    secrets_are_sealed_at_rest(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_postgres() {
    secrets_are_sealed_at_rest(Backend::Postgres).await;
}
