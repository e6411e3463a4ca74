//! The real binary: first start, serving, `migrate`, `api-key create`, configuration
//! errors. Each case runs the built `coupons` executable as a user would.

use std::process::Command;

use serde_json::json;

use crate::harness::{Backend, TestDatabase};

use crate::process::{BIN, Process};

/// The admin key a first start printed, if any.
pub fn printed_admin_key(server: &Process) -> Option<String> {
    server
        .output()
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cpn_"))
        .map(str::to_owned)
}

pub fn run(args: &[&str], database_url: &str) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// First start on an empty database: URL and admin key printed; the key creates a
/// coupon that is found by code in another letter case; a restart prints no new key;
/// SIGTERM stops the server cleanly.
async fn first_start_prints_a_working_admin_key(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let server = Process::start(&db.url, &[]);
    let printed = server.output();
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with("GraphiQL: http://127.0.0.1:")),
        "{printed}"
    );
    let key = printed_admin_key(&server).unwrap_or_else(|| panic!("no key printed: {printed}"));
    let created = server
        .graphql(&key, "mutation { createCoupon(input: { name: \"Welcome\", code: \"welcome10\", discount: { percentage: \"10\" } }) { coupon { id code } userErrors { code } } }", json!({}))
        .await;
    assert_eq!(
        created["data"]["createCoupon"]["coupon"]["code"], "WELCOME10",
        "{created:#}"
    );
    let found = server
        .graphql(&key, "{ coupon(code: \"Welcome10\") { name } }", json!({}))
        .await;
    assert_eq!(found["data"]["coupon"]["name"], "Welcome");
    assert!(server.stop().0.success());

    let again = Process::start(&db.url, &[]);
    assert_eq!(printed_admin_key(&again), None, "{}", again.output());
    let still = again.graphql(&key, "{ viewer { role } }", json!({})).await;
    assert_eq!(still["data"]["viewer"]["role"], "ADMIN");
    assert!(again.stop().0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_a_working_admin_key_sqlite() {
    first_start_prints_a_working_admin_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_a_working_admin_key_postgres() {
    first_start_prints_a_working_admin_key(Backend::Postgres).await;
}

/// Started from an empty directory (no `rules/` beside it), the shipped rules are in
/// force: the README's STAFF30 coupon binds two of them and they decide. A rules
/// directory there overrides a shipped rule by name, and `coupons rules list` says where
/// each rule comes from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_rules_work_from_any_directory() {
    let Some(db) = TestDatabase::new(Backend::Sqlite).await else {
        return;
    };
    let empty = std::env::temp_dir().join(format!("coupons-empty-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&empty).unwrap();
    let key = "scripted-0123456789-0123456789-0123456789";
    let server = Process::start_in(&empty, Some(&db.url), &[("COUPONS_ADMIN_KEY", key)]);
    let made = server
        .graphql(
            key,
            r#"mutation {
      createCoupon(input: { name: "Staff 30%", code: "STAFF30", discount: { percentage: "30" },
        rules: [{ name: "allowed_email_domains", params: { domains: ["*.acme.com"] } },
                { name: "per_customer_limit", params: { limit: 3, window_hours: 720 } }] }) {
        coupon { id } userErrors { field code message }
      }
    }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        made["data"]["createCoupon"]["userErrors"],
        json!([]),
        "{made:#}"
    );
    let validate = "query($email: String!) { validateCoupon(input: { code: \"STAFF30\", order: { id: \"o1\", currency: \"USD\", subtotal: \"80\", customer: { email: $email } } }) { valid reasons { code ruleCode } } }";
    let staff = server
        .graphql(key, validate, json!({ "email": "ann@eu.acme.com" }))
        .await;
    assert_eq!(staff["data"]["validateCoupon"]["valid"], true, "{staff:#}");
    let other = server
        .graphql(key, validate, json!({ "email": "bob@example.com" }))
        .await;
    assert_eq!(
        other["data"]["validateCoupon"]["reasons"][0]["code"], "RULE_REJECTED",
        "{other:#}"
    );
    assert!(server.stop().0.success());

    let rules = empty.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("min_subtotal.rhai"),
        "// Always passes.\nfn check(ctx, params) { pass() }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(&empty)
        .args(["rules", "list"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{listed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = |name: &str| {
        listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        source("allowed_email_domains").as_deref(),
        Some("shipped"),
        "{listed}"
    );
    assert_eq!(
        source("min_subtotal").as_deref(),
        Some("file rules/min_subtotal.rhai"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1 + 15, "{listed}");
    std::fs::remove_dir_all(&empty).unwrap();
}

/// A start that cannot listen (its port is taken) fails before it writes anything, so
/// the next start is still the first: it prints the admin key, and `:0` and `host:0`
/// pick a free port. A later start says how to make another admin key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_cannot_listen_writes_nothing() {
    let Some(db) = TestDatabase::new(Backend::Sqlite).await else {
        return;
    };
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("COUPONS_BIND", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("binding 127.0.0.1:"), "{stderr}");
    let file = db.url.trim_start_matches("sqlite://");
    assert!(
        !std::path::Path::new(file).exists(),
        "the database was touched"
    );
    drop(busy);

    let server = Process::start(&db.url, &[("COUPONS_BIND", ":0")]);
    let key = printed_admin_key(&server).expect("the first real start prints a key");
    let me = server.graphql(&key, "{ viewer { role } }", json!({})).await;
    assert_eq!(me["data"]["viewer"]["role"], "ADMIN");
    assert!(server.stop().0.success());

    let again = Process::start(&db.url, &[("COUPONS_BIND", "localhost:0")]);
    assert_eq!(printed_admin_key(&again), None);
    assert!(
        again
            .output()
            .contains("coupons api-key create --role admin"),
        "{}",
        again.output()
    );
    assert!(again.stop().0.success());
}

/// `serve` on a PostgreSQL database that does not exist creates it and serves; a role
/// that may not create databases is told so, and the start fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_database_is_created() {
    use diesel_async::SimpleAsyncConnection;
    let base = crate::harness::postgres_url();
    let Some(mut admin) = crate::harness::postgres_admin().await else {
        return;
    };
    let suffix = format!("{:016x}", rand::random::<u64>());
    let (server_part, _) = base.rsplit_once('/').unwrap();
    let name = format!("coupons_new_{suffix}");
    let url = format!("{server_part}/{name}");
    let server = Process::start(&url, &[]);
    assert!(
        server
            .output()
            .contains(&format!("Created the database \"{name}\"")),
        "{}",
        server.output()
    );
    let key = printed_admin_key(&server).expect("a first start prints a key");
    let me = server.graphql(&key, "{ viewer { role } }", json!({})).await;
    assert_eq!(me["data"]["viewer"]["role"], "ADMIN");
    assert!(server.stop().0.success());
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();

    let role = format!("coupons_nocreate_{suffix}");
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN NOCREATEDB"))
        .await
        .unwrap();
    let (scheme, rest) = server_part.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let url = format!("{scheme}://{role}@{host}/{name}");
    let out = Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("COUPONS_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("may not create it"), "{stderr}");
}

/// `COUPONS_ADMIN_KEY` works for scripted set-ups and suppresses the generated key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_admin_key() {
    let Some(db) = TestDatabase::new(Backend::Sqlite).await else {
        return;
    };
    let key = "scripted-0123456789-0123456789-0123456789";
    let server = Process::start(&db.url, &[("COUPONS_ADMIN_KEY", key)]);
    assert_eq!(printed_admin_key(&server), None);
    let me = server.graphql(key, "{ viewer { role } }", json!({})).await;
    assert_eq!(me["data"]["viewer"]["role"], "ADMIN");
    assert!(server.stop().0.success());

    let out = Command::new(BIN)
        .env("DATABASE_URL", &db.url)
        .env("COUPONS_ADMIN_KEY", "short")
        .env("COUPONS_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COUPONS_ADMIN_KEY must be at least 32"));

    // Coupon defaults that cannot be used stop the start with a clear error.
    for (name, value, says) in [
        (
            "COUPONS_CODE_FORMAT",
            "SALE-{x}",
            "COUPONS_CODE_FORMAT: \"SALE-{x}\" is not a code format",
        ),
        (
            "COUPONS_DEFAULT_DISCOUNT_TYPE",
            "fixed_amount",
            "fixed_amount needs COUPONS_DEFAULT_CURRENCY",
        ),
        (
            "COUPONS_DEFAULT_CURRENCY",
            "XYZ",
            "COUPONS_DEFAULT_CURRENCY",
        ),
        (
            "COUPONS_DEFAULT_ALLOWED_EMAIL_DOMAINS",
            "a@acme.com",
            "is not a domain",
        ),
    ] {
        let out = Command::new(BIN)
            .env("DATABASE_URL", &db.url)
            .env("COUPONS_BIND", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{name}={value}: {err}");
    }
}

async fn migrate_and_api_key_create(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let (ok, out, err) = run(&["migrate"], &db.url);
    assert!(ok, "{err}");
    assert!(out.contains("Applied 20261121000001"), "{out}");
    let (ok, out, _) = run(&["migrate"], &db.url);
    assert!(ok && out.contains("up to date"), "{out}");

    let (ok, out, err) = run(
        &[
            "api-key",
            "create",
            "--role",
            "storefront",
            "--name",
            "Web shop",
        ],
        &db.url,
    );
    assert!(ok, "{err}");
    let key = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cpn_"))
        .unwrap()
        .to_owned();
    let (ok, _, err) = run(
        &["api-key", "create", "--role", "boss", "--name", "x"],
        &db.url,
    );
    assert!(!ok && err.contains("unknown role"), "{err}");

    // A key made by the CLI means this is no longer a first start.
    let server = Process::start(&db.url, &[]);
    assert_eq!(printed_admin_key(&server), None);
    let me = server
        .graphql(&key, "{ viewer { role name } }", json!({}))
        .await;
    assert_eq!(
        me["data"]["viewer"],
        json!({ "role": "STOREFRONT", "name": "Web shop" })
    );
    let denied = server
        .graphql(&key, "{ coupons { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert!(server.stop().0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_api_key_create_sqlite() {
    migrate_and_api_key_create(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_api_key_create_postgres() {
    migrate_and_api_key_create(Backend::Postgres).await;
}

#[test]
fn bad_database_url_is_a_clear_error() {
    let (ok, _, err) = run(&["migrate"], "mysql://nope");
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
}

/// `reconcile` is clean after real checkouts, and names every counter that drifts.
async fn reconcile_reports_drift(app: crate::harness::TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "R", "code": "RECON", "discount": { "percentage": "5" } }),
    )
    .await;
    for i in 0..3 {
        let input = json!({ "input": { "code": "RECON", "idempotencyKey": format!("k{i}"), "order": { "id": format!("o{i}"), "currency": "USD", "subtotal": "10" } } });
        app.admin("mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { userErrors { code } } }", input).await;
    }
    let (ok, out, err) = run(&["reconcile"], app.database_url());
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("All coupon, code and campaign counters equal"),
        "{out}"
    );
    app.sql("UPDATE coupons SET redemption_count = 7").await;
    app.sql("UPDATE coupon_codes SET reserved_count = 2").await;
    let (ok, out, _) = run(&["reconcile"], app.database_url());
    assert!(!ok);
    assert!(out.contains("2 counter(s) differ"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("coupon")
            && l.contains("redemption_count")
            && l.trim_end().ends_with('3')),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("code") && l.contains("reserved_count")),
        "{out}"
    );
}
crate::both_backends!(reconcile_reports_drift);
