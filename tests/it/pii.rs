//! Personal data and secrets: the real binary, with the most verbose logs, is taken
//! through every flow that sees e-mail addresses and API keys; then its logs and every
//! byte of its database are searched for them. Also: production mode requires
//! `COUPONS_SECRET`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use coupons::storage::Db;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::{Backend, TestDatabase};
use crate::process::{BIN, Process};
const ADMIN_KEY: &str = "admin-key-for-the-pii-test-0123456789abcdef";
const SECRET: &str = "customer-hash-secret-for-the-pii-test-0123456789";
const MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// The binary in production mode, with the most verbose logs (JSON).
fn start(database_url: &str) -> Process {
    Process::start(
        database_url,
        &[
            ("COUPONS_ENV", "production"),
            ("COUPONS_SECRET", SECRET),
            ("COUPONS_MASTER_KEY", MASTER_KEY),
            ("COUPONS_ADMIN_KEY", ADMIN_KEY),
            ("COUPONS_LOG_FORMAT", "json"),
            ("COUPONS_SWEEP_SECONDS", "1"),
            ("RUST_LOG", "trace"),
        ],
    )
}

/// Every text value in every table, one row per line.
async fn dump(db: &Db) -> String {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let tables = [
        "coupons",
        "coupon_codes",
        "api_keys",
        "service_flags",
        "redemptions",
        "idempotency_keys",
        "service_secrets",
        "validation_attempts",
        "rule_versions",
        "rule_heads",
        "rule_audit",
        "audit_log",
    ];
    let mut out = String::new();
    for table in tables {
        let rows: Vec<Line> = match db {
            Db::Postgres(pool) => diesel::sql_query(format!(
                "SELECT row_to_json(t)::text AS line FROM {table} t"
            ))
            .load(&mut *pool.get().await.unwrap())
            .await
            .unwrap(),
            Db::Sqlite(pool) => {
                let conn = &mut *pool.get().await.unwrap();
                let columns: Vec<Line> = diesel::sql_query(format!(
                    "SELECT name AS line FROM pragma_table_info('{table}')"
                ))
                .load(conn)
                .await
                .unwrap();
                let quoted: Vec<String> = columns
                    .iter()
                    .map(|c| format!("quote(\"{}\")", c.line))
                    .collect();
                diesel::sql_query(format!(
                    "SELECT {} AS line FROM {table}",
                    quoted.join(" || ' ' || ")
                ))
                .load(conn)
                .await
                .unwrap()
            }
        };
        out.push_str(&format!("== {table}: {} rows\n", rows.len()));
        for r in rows {
            out.push_str(&r.line);
            out.push('\n');
        }
    }
    out
}

/// The raw bytes of an SQLite database and its journal files, as text.
fn raw_sqlite_files(url: &str) -> String {
    let path = Path::new(url.trim_start_matches("sqlite://"));
    let mut out = String::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

async fn no_raw_email_or_key_in_logs_or_database(backend: Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    let server = start(&database.url);
    let admin = ADMIN_KEY;

    let emails = [
        "Ann.Secret@Example.COM",
        "bob+promo@shop.test",
        "carol-nine@corp.example",
        "dave@not-allowed.test",
    ];
    let mut keys: Vec<String> = vec![ADMIN_KEY.to_owned(), SECRET.to_owned()];
    let new_key = async |role: &str| -> String {
        let d = server
            .graphql(admin, "mutation($r: ApiKeyRole!) { createApiKey(input: { name: \"pii\", role: $r }) { apiKey { id } secret } }", json!({ "r": role }))
            .await;
        d["data"]["createApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let store = new_key("STOREFRONT").await;
    let public = new_key("PUBLIC").await;
    keys.push(store.clone());
    keys.push(public.clone());

    let d = server
        .graphql(admin, r#"mutation { createCoupon(input: { name: "Staff", code: "PII-STAFF", perCustomerLimit: 1,
            discount: { percentage: "10" },
            rules: [{ name: "allowed_email_domains", params: { domains: ["example.com", "*.test", "corp.example"] } }] }) { coupon { id } userErrors { code } } }"#, json!({}))
        .await;
    assert_eq!(d["data"]["createCoupon"]["userErrors"], json!([]), "{d:#}");

    let order = |id: &str, email: &str| json!({ "id": id, "currency": "USD", "subtotal": "40", "customer": { "email": email } });
    let validate = "query($i: ValidateCouponInput!) { validateCoupon(input: $i) { valid reasons { code message } userErrors { code message } } }";
    let reserve = "mutation($i: ReserveCouponInput!) { reserveCoupon(input: $i) { reservation { id } userErrors { code message } } }";
    let redeem = "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id emailDomain } userErrors { code message } } }";
    for (n, email) in emails.iter().enumerate() {
        let o = order(&format!("pii-{n}"), email);
        server
            .graphql(
                &public,
                validate,
                json!({ "i": { "code": "pii-staff", "order": o } }),
            )
            .await;
        server
            .graphql(
                &public,
                validate,
                json!({ "i": { "code": "NO-SUCH-CODE", "order": o } }),
            )
            .await;
        let r = server.graphql(&store, reserve, json!({ "i": { "code": "PII-STAFF", "order": o, "idempotencyKey": format!("res-{n}") } })).await;
        if let Some(id) = r["data"]["reserveCoupon"]["reservation"]["id"].as_str() {
            server
                .graphql(
                    &store,
                    redeem,
                    json!({ "i": { "reservationId": id, "idempotencyKey": format!("red-{n}") } }),
                )
                .await;
        }
        // A second use by the same customer is refused by the per-customer limit.
        server.graphql(&store, redeem, json!({ "i": { "code": "PII-STAFF", "order": order(&format!("again-{n}"), email), "idempotencyKey": format!("again-{n}") } })).await;
    }
    // Bad e-mails, throttling, and redemptions looked up by e-mail.
    for i in 0..12 {
        server.graphql(&public, validate, json!({ "i": { "code": format!("GUESS{i}"), "order": order("g", "Ann.Secret@Example.COM") } })).await;
    }
    let bad = server.graphql(&store, validate, json!({ "i": { "code": "PII-STAFF", "order": order("x", "not an e-mail eve@@evil.test") } })).await;
    assert_eq!(
        bad["data"]["validateCoupon"]["userErrors"][0]["code"],
        json!("INVALID_EMAIL"),
        "{bad:#}"
    );
    assert!(!bad.to_string().contains("eve@@evil.test"));
    let listed = server
        .graphql(admin, "query($e: String) { redemptions(filter: { customerEmail: $e }) { nodes { id emailDomain } } }", json!({ "e": "ANN.SECRET@example.com" }))
        .await;
    assert_eq!(
        listed["data"]["redemptions"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{listed:#}"
    );
    // Keys rotated, revoked and sent after revocation; a key in a body and a URL.
    let rotated = server
        .graphql(
            admin,
            "{ apiKeys(first: 100) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let id = rotated["data"]["apiKeys"]["nodes"][0]["id"].clone();
    let d = server
        .graphql(
            admin,
            "mutation($id: ID!) { rotateApiKey(input: { id: $id, graceMinutes: 0 }) { secret } }",
            json!({ "id": id }),
        )
        .await;
    keys.push(
        d["data"]["rotateApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    for key in &keys {
        server.graphql(key, "{ viewer { role } }", json!({})).await;
    }
    let _ = reqwest::Client::new()
        .post(format!("{}/graphql?key={}", server.base, store))
        .header("authorization", format!("Bearer {public}x"))
        .body(format!("{{\"query\": \"{store} Ann.Secret@Example.COM\""))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let (_, logs) = server.stop();
    assert!(
        logs.lines().count() > 50,
        "too few log lines to mean anything:\n{logs}"
    );
    let db = crate::harness::inspect(&database.url);
    let mut stored = dump(&db).await;
    assert!(
        stored.contains("example.com"),
        "the dump should hold e-mail domains:\n{stored}"
    );
    if backend == Backend::Sqlite {
        stored.push_str(&raw_sqlite_files(&database.url));
    }
    for needle in emails
        .iter()
        .map(|e| e.to_string())
        .chain(keys.iter().cloned())
    {
        for (place, text) in [("logs", &logs), ("database", &stored)] {
            for variant in [needle.clone(), needle.to_lowercase()] {
                assert!(!text.contains(&variant), "{variant:?} found in the {place}");
            }
        }
    }
    for local_part in ["ann.secret@", "bob+promo@", "carol-nine@"] {
        assert!(!logs.to_lowercase().contains(local_part));
        assert!(!stored.to_lowercase().contains(local_part));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_raw_email_or_key_in_logs_or_database_sqlite() {
    no_raw_email_or_key_in_logs_or_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_raw_email_or_key_in_logs_or_database_postgres() {
    no_raw_email_or_key_in_logs_or_database(Backend::Postgres).await;
}

/// What a production start on `url` with `env` printed to stderr; it must fail.
fn refused_production_start(url: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("COUPONS_BIND", "127.0.0.1:0")
        .env("COUPONS_ENV", "production")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Production mode refuses to start without `COUPONS_SECRET` or without a master key,
/// creating nothing; development generates the secret and keeps it.
#[test]
fn production_requires_the_secret() {
    let path = std::env::temp_dir().join(format!("coupons-prod-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let err = refused_production_start(&url, &[("COUPONS_MASTER_KEY", MASTER_KEY)]);
    assert!(
        err.contains("COUPONS_ENV=production requires COUPONS_SECRET"),
        "{err}"
    );
    assert!(
        !path.exists(),
        "nothing is created before the configuration is checked"
    );
    // Nor without a master key for the secrets at rest.
    let err = refused_production_start(&url, &[("COUPONS_SECRET", SECRET)]);
    assert!(
        err.contains("COUPONS_ENV=production requires COUPONS_MASTER_KEY"),
        "{err}"
    );
    assert!(!path.exists(), "nothing is created without the master key");
    let out = Command::new(BIN)
        .args(["serve", "--env", "staging"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_file(&path);
}
