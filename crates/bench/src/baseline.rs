//! The raw-SQL baselines of the load scenarios: pgbench with the scripts in `bench/`
//! on PostgreSQL, and the same statements as a plain loop on one SQLite connection.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use rand::Rng;

use crate::load::Scenario;
use crate::stats::Stats;

/// pgbench with a script from `bench/`; latencies from its per-transaction log.
pub async fn pgbench(
    url: &str,
    script: &Path,
    conns: usize,
    seconds: u64,
    first: usize,
    last: usize,
) -> anyhow::Result<Stats> {
    let dir = std::env::temp_dir().join(format!("coupons-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let prefix = dir.join("log");
    let out = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &conns.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
        ])
        .args([
            "-D",
            &format!("first={first}"),
            "-D",
            &format!("last={last}"),
        ])
        .arg("-f")
        .arg(script)
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()))
        .arg(url)
        .output()
        .await
        .context("running pgbench")?;
    if !out.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut latencies_us = Vec::new();
    let mut failed = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        for line in std::fs::read_to_string(&path)?.lines() {
            // client_id transaction_no time script_no time_epoch time_us
            match line.split_whitespace().nth(2).map(str::parse::<u64>) {
                Some(Ok(us)) => latencies_us.push(us),
                _ => failed += 1,
            }
        }
        std::fs::remove_file(path)?;
    }
    std::fs::remove_dir(&dir)?;
    Ok(Stats {
        ops: latencies_us.len(),
        failed,
        elapsed: Duration::from_secs(seconds),
        latencies_us,
        server_cpu: None,
    })
}

/// The same statements as the service, as a plain loop on one SQLite connection.
pub fn sqlite_loop(
    path: &str,
    scenario: Scenario,
    seconds: u64,
    first: usize,
    last: usize,
) -> anyhow::Result<Stats> {
    let mut conn = SqliteConnection::establish(path)?;
    conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    let mut rng = rand::rng();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut latencies_us = Vec::new();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        n += 1;
        let c = rng.random_range(first..=last);
        let t = Instant::now();
        // The service reads a key from the database at most once a second per instance
        // (see `src/cache.rs`), so no key lookup is part of an operation; a coupon's
        // terms come from the same module's cache, checked against the version read
        // with the counters.
        let auth = "";
        let now = "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')";
        let redeem = |status: &str, until: &str, redeemed: &str, key: &str, counter: &str| {
            format!(
                "BEGIN IMMEDIATE; \
                 INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at, expires_at) VALUES ('baseline', '{key}', 'h', 'null', {now}, {now}) ON CONFLICT DO NOTHING; \
                 UPDATE coupons SET updated_at = updated_at WHERE id IN (SELECT coupon_id FROM coupon_codes WHERE code = 'BENCH-{c}') RETURNING id, redemption_count, reserved_count, updated_at; \
                 UPDATE redemptions SET status = 'EXPIRED', holds_use = 0, closed_at = {now}, updated_at = {now} WHERE coupon_id = {c} AND status = 'RESERVED' AND reserved_until <= {now} RETURNING code_id; \
                 SELECT * FROM coupon_codes WHERE code = 'BENCH-{c}' LIMIT 1; \
                 SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines FROM redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE r.order_id = 'o-{key}' AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > {now}); \
                 INSERT INTO redemptions (coupon_id, code_id, code, status, holds_use, customer_key, email_domain, order_id, channel, currency, subtotal_minor, discount_minor, refunded_minor, reserved_until, created_at, redeemed_at, updated_at, lines, device_key, payment_key, address_key, mailbox_key) \
                   VALUES ({c}, {c}, 'BENCH-{c}', '{status}', 1, '{key}', 'bench.test', 'o-{key}', NULL, 'USD', 10000, 1000, 0, {until}, {now}, {redeemed}, {now}, NULL, NULL, NULL, NULL, 'm{key}') RETURNING *; \
                 UPDATE coupons SET {counter} = {counter} + 1 WHERE id = {c}; \
                 UPDATE coupon_codes SET {counter} = {counter} + 1 WHERE id = {c}; \
                 UPDATE idempotency_keys SET response = '{{}}' WHERE scope = 'baseline' AND key = '{key}'; \
                 COMMIT;"
            )
        };
        let sql = match scenario {
            Scenario::Ceiling | Scenario::Ping => "SELECT 1;".to_owned(),
            // The same use case, whichever transport carries it.
            Scenario::Validate | Scenario::ValidateRest => format!(
                "{auth} SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'BENCH-{c}' LIMIT 1; \
                 SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines FROM redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE r.order_id = 'v-{c}' AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > {now});"
            ),
            Scenario::ValidateCart => {
                let mut sql = auth.to_string();
                for code in c..c + 3 {
                    sql.push_str(&format!(
                        " SELECT cc.*, c.id, c.redemption_count, c.reserved_count, c.updated_at FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'CART-{code}' LIMIT 1; \
                         SELECT r.coupon_id, r.code, r.currency, r.discount_minor - r.refunded_minor, c.combines_with, c.priority, c.target, r.lines FROM redemptions r JOIN coupons c ON c.id = r.coupon_id WHERE r.order_id = 'cart-{n}' AND r.holds_use AND (r.status <> 'RESERVED' OR r.reserved_until > {now});"
                    ));
                }
                sql.push_str(&format!(
                    " SELECT id FROM coupons WHERE automatic = 1 AND status = 'ACTIVE' AND starts_at <= {now} \
                     AND (expires_at IS NULL OR expires_at > {now}) ORDER BY id LIMIT 50;"
                ));
                sql
            }
            Scenario::RedeemMany | Scenario::RedeemHot | Scenario::Capped => format!(
                "{auth} {}",
                redeem(
                    "REDEEMED",
                    "NULL",
                    now,
                    &format!("b{n}"),
                    "redemption_count"
                )
            ),
            Scenario::ReserveRedeem => format!(
                "{auth} {} {auth} BEGIN IMMEDIATE; \
                 INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at, expires_at) VALUES ('baseline', 'p{n}', 'h', 'null', {now}, {now}) ON CONFLICT DO NOTHING; \
                 SELECT * FROM redemptions WHERE order_id = 'o-r{n}' LIMIT 1; \
                 UPDATE coupons SET updated_at = updated_at WHERE id = {c} RETURNING *; \
                 UPDATE redemptions SET status = 'EXPIRED' WHERE coupon_id = {c} AND status = 'RESERVED' AND reserved_until <= {now} RETURNING code_id; \
                 UPDATE redemptions SET status = 'REDEEMED', redeemed_at = {now}, reserved_until = NULL, updated_at = {now} WHERE order_id = 'o-r{n}' RETURNING *; \
                 UPDATE coupons SET redemption_count = redemption_count + 1, reserved_count = reserved_count - 1 WHERE id = {c}; \
                 UPDATE coupon_codes SET redemption_count = redemption_count + 1, reserved_count = reserved_count - 1 WHERE id = {c}; \
                 UPDATE idempotency_keys SET response = '{{}}' WHERE scope = 'baseline' AND key = 'p{n}'; \
                 COMMIT;",
                redeem(
                    "RESERVED",
                    "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '+15 minutes')",
                    "NULL",
                    &format!("r{n}"),
                    "reserved_count"
                )
            ),
        };
        conn.batch_execute(&sql)?;
        latencies_us.push(t.elapsed().as_micros() as u64);
    }
    Ok(Stats {
        ops: latencies_us.len(),
        failed: 0,
        elapsed: started.elapsed(),
        latencies_us,
        server_cpu: None,
    })
}
