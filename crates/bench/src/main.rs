//! Load benchmark: the real release server under concurrent GraphQL load, beside a
//! raw-SQL baseline of the same transactions run in the same invocation.
//!
//! For each backend it starts `coupons serve` on a fresh database, creates the coupons,
//! and measures over real HTTP:
//! - `validate`: `validateCoupon` on a random one of many coupons;
//! - `redeem-many`: `redeemCoupon` on a random one of many coupons;
//! - `redeem-hot`: `redeemCoupon`, every request on the same coupon;
//! - `reserve-redeem`: `reserveCoupon` then `redeemCoupon(reservationId)`, one operation.
//!
//! It then stops the server and runs the same statements as raw SQL against the same
//! database: pgbench with the scripts in `bench/*.sql` on PostgreSQL, and a plain loop
//! on one connection on SQLite. It also checks that a capped hot coupon never
//! over-redeems. See the README's performance section.
//!
//! With `--enumeration` it measures instead how long a storefront caller waits for
//! `validateCoupon` on an unknown code and on draft, paused, archived, deleted, not yet
//! started and active codes, interleaved on one connection: an outsider must not be
//! able to tell the first five apart by timing either.
//!
//! With `--generate N` it measures code generation instead (see `generate.rs`), and
//! with `--report N` report queries over N redemptions (see `report.rs`).
#![expect(
    clippy::print_stderr,
    reason = "progress of a command-line tool goes to stderr"
)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use rand::Rng;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

mod generate;
mod report;

const ADMIN_KEY: &str = "bench-admin-key-0123456789-0123456789";

/// Load benchmark of the coupon service.
#[derive(Debug, Parser)]
struct Args {
    /// The release server binary.
    #[arg(long, default_value = "target/release/coupons")]
    server: PathBuf,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// A PostgreSQL database to connect to for creating the benchmark database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Concurrent connections for validate.
    #[arg(long, default_value_t = 64)]
    read_conns: usize,
    /// Concurrent connections for the writing scenarios.
    #[arg(long, default_value_t = 32)]
    write_conns: usize,
    /// How many coupons the "many" scenarios spread over.
    #[arg(long, default_value_t = 1000)]
    coupons: usize,
    /// Directory with the pgbench scripts.
    #[arg(long, default_value = "bench")]
    scripts: PathBuf,
    /// Measure validation latency per kind of code instead (see the module docs).
    #[arg(long)]
    enumeration: bool,
    /// Requests per kind of code with `--enumeration`; redemptions with `--webhooks`.
    #[arg(long, default_value_t = 3000)]
    samples: usize,
    /// Measure webhook delivery instead: throughput and commit-to-receipt latency to a
    /// local receiver, beside a plain POST loop to the same receiver.
    #[arg(long)]
    webhooks: bool,
    /// Measure code generation instead: this many single-use codes with
    /// `generateCodes`, beside the database's raw bulk load of as many.
    #[arg(long)]
    generate: Option<usize>,
    /// Measure reports instead: `couponReport` over this many redemptions of one
    /// coupon, beside the raw SQL of its largest aggregate.
    #[arg(long)]
    report: Option<usize>,
}

/// Latencies and counts of one measured run.
struct Stats {
    ops: usize,
    failed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx] as f64 / 1000.0
    }
}

/// One row of the result table.
struct Row {
    backend: String,
    scenario: &'static str,
    conns: usize,
    service: Stats,
    baseline: Stats,
    baseline_conns: usize,
}

struct Server {
    child: tokio::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(binary: &Path, database_url: &str, pool: usize) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(binary)
            // Timing, not throttling, is measured: no lockouts.
            .env("COUPONS_STOREFRONT_ATTEMPT_LIMITS", "key=0,ip=0,customer=0")
            .env("DATABASE_URL", database_url)
            .env("COUPONS_BIND", "127.0.0.1:0")
            .env("COUPONS_ADMIN_KEY", ADMIN_KEY)
            .env("COUPONS_DB_POOL_SIZE", pool.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("Listening on ") {
                base = Some(url.trim().to_owned());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let base = base.context("the server printed no address")?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            child,
            base,
            client,
        })
    }

    async fn graphql(&self, key: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if body.get("errors").is_some() {
            bail!("GraphQL errors: {body}");
        }
        Ok(body)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        self.child.wait().await?;
        Ok(())
    }
}

const CREATE: &str = "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { id } userErrors { code message } } }";
const VALIDATE: &str = "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid discount { amount } } }";
const REDEEM: &str = "mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { redemption { id status } userErrors { code } } }";
const RESERVE: &str = "mutation($input: ReserveCouponInput!) { reserveCoupon(input: $input) { reservation { id } userErrors { code } } }";

/// Creates coupons BENCH-1..BENCH-n (ids 1..n on a fresh database), the hot coupon
/// BENCH-{n+1}, and a capped coupon BENCH-CAP; returns a storefront key.
async fn set_up(server: &Server, many: usize) -> anyhow::Result<String> {
    for i in 1..=many + 1 {
        let input = json!({ "name": format!("Bench {i}"), "code": format!("BENCH-{i}"), "discount": { "percentage": "10" } });
        let r = server
            .graphql(ADMIN_KEY, CREATE, json!({ "input": input }))
            .await?;
        if r["data"]["createCoupon"]["userErrors"] != json!([]) {
            bail!("setup failed: {r}");
        }
    }
    let capped = json!({ "name": "Capped", "code": "BENCH-CAP", "discount": { "percentage": "10" }, "maxRedemptions": 500 });
    server
        .graphql(ADMIN_KEY, CREATE, json!({ "input": capped }))
        .await?;
    let key = server
        .graphql(
            ADMIN_KEY,
            "mutation { createApiKey(input: { name: \"bench\", role: STOREFRONT }) { secret } }",
            json!({}),
        )
        .await?;
    key["data"]["createApiKey"]["secret"]
        .as_str()
        .map(str::to_owned)
        .context("no key")
}

fn order(n: u64) -> Value {
    json!({ "id": format!("o-{n}"), "currency": "USD", "subtotal": "100", "customer": { "email": format!("c{n}@bench.test") } })
}

#[derive(Clone, Copy)]
enum Scenario {
    Validate,
    RedeemMany,
    RedeemHot,
    ReserveRedeem,
    Capped,
}

/// One operation of a scenario; `Ok(true)` when it did what it should.
async fn operation(
    server: &Server,
    key: &str,
    scenario: Scenario,
    many: usize,
    n: u64,
) -> anyhow::Result<bool> {
    let pick = || rand::rng().random_range(1..=many);
    match scenario {
        Scenario::Validate => {
            let input = json!({ "code": format!("BENCH-{}", pick()), "order": order(n) });
            let r = server
                .graphql(key, VALIDATE, json!({ "input": input }))
                .await?;
            Ok(r["data"]["validateCoupon"]["valid"] == true)
        }
        Scenario::RedeemMany | Scenario::RedeemHot | Scenario::Capped => {
            let (code, tag) = match scenario {
                Scenario::RedeemMany => (format!("BENCH-{}", pick()), "many"),
                Scenario::RedeemHot => (format!("BENCH-{}", many + 1), "hot"),
                _ => ("BENCH-CAP".to_owned(), "cap"),
            };
            // Keys are unique per scenario: a reused key would (rightly) be refused.
            let key_n = format!("{tag}-{n}");
            let input = json!({ "code": code, "order": order(n), "idempotencyKey": key_n });
            let r = server
                .graphql(key, REDEEM, json!({ "input": input }))
                .await?;
            Ok(r["data"]["redeemCoupon"]["redemption"]["status"] == "REDEEMED")
        }
        Scenario::ReserveRedeem => {
            let input = json!({ "code": format!("BENCH-{}", pick()), "order": order(n), "idempotencyKey": format!("r-{n}") });
            let r = server
                .graphql(key, RESERVE, json!({ "input": input }))
                .await?;
            let Some(id) = r["data"]["reserveCoupon"]["reservation"]["id"].as_str() else {
                return Ok(false);
            };
            let input = json!({ "reservationId": id, "idempotencyKey": format!("p-{n}") });
            let r = server
                .graphql(key, REDEEM, json!({ "input": input }))
                .await?;
            Ok(r["data"]["redeemCoupon"]["redemption"]["status"] == "REDEEMED")
        }
    }
}

/// Runs `scenario` on `conns` concurrent connections for `duration`, or for `limit`
/// operations in total when given.
async fn load(
    server: Arc<Server>,
    key: Arc<str>,
    scenario: Scenario,
    many: usize,
    conns: usize,
    duration: Duration,
    limit: Option<u64>,
) -> Stats {
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (server, key, counter) = (server.clone(), key.clone(), counter.clone());
            tokio::spawn(async move {
                let (mut lat, mut failed) = (Vec::new(), 0);
                loop {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if limit.is_some_and(|l| n >= l)
                        || (limit.is_none() && Instant::now() >= deadline)
                    {
                        break;
                    }
                    let t = Instant::now();
                    match operation(&server, &key, scenario, many, n).await {
                        Ok(true) => lat.push(t.elapsed().as_micros() as u64),
                        Ok(false) => failed += 1,
                        Err(e) => {
                            if failed == 0 {
                                eprintln!("first failure: {e:#}");
                            }
                            failed += 1;
                        }
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let (mut latencies_us, mut failed) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            latencies_us.extend(lat);
            failed += f;
        }
    }
    Stats {
        ops: latencies_us.len(),
        failed,
        elapsed: started.elapsed(),
        latencies_us,
    }
}

/// pgbench with a script from `bench/`; latencies from its per-transaction log.
async fn pgbench(
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
    })
}

/// The same statements as the service, as a plain loop on one SQLite connection.
fn sqlite_loop(
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
        let auth = "SELECT id, role FROM api_keys WHERE secret_hash = 'baseline' AND revoked_at IS NULL LIMIT 1;";
        let now = "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')";
        let redeem = |status: &str, until: &str, redeemed: &str, key: &str, counter: &str| {
            format!(
                "BEGIN IMMEDIATE; \
                 INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at, expires_at) VALUES ('baseline', '{key}', 'h', 'null', {now}, {now}) ON CONFLICT DO NOTHING; \
                 SELECT coupon_id FROM coupon_codes WHERE code = 'BENCH-{c}' LIMIT 1; \
                 UPDATE coupons SET updated_at = updated_at WHERE id = {c} RETURNING *; \
                 UPDATE redemptions SET status = 'EXPIRED', holds_use = 0, closed_at = {now}, updated_at = {now} WHERE coupon_id = {c} AND status = 'RESERVED' AND reserved_until <= {now} RETURNING code_id; \
                 SELECT * FROM coupon_codes WHERE code = 'BENCH-{c}' LIMIT 1; \
                 INSERT INTO redemptions (coupon_id, code_id, code, status, holds_use, customer_key, email_domain, order_id, channel, currency, subtotal_minor, discount_minor, refunded_minor, reserved_until, created_at, redeemed_at, updated_at) \
                   VALUES ({c}, {c}, 'BENCH-{c}', '{status}', 1, '{key}', 'bench.test', 'o-{key}', NULL, 'USD', 10000, 1000, 0, {until}, {now}, {redeemed}, {now}) RETURNING *; \
                 UPDATE coupons SET {counter} = {counter} + 1 WHERE id = {c}; \
                 UPDATE coupon_codes SET {counter} = {counter} + 1 WHERE id = {c}; \
                 UPDATE idempotency_keys SET response = '{{}}' WHERE scope = 'baseline' AND key = '{key}'; \
                 COMMIT;"
            )
        };
        let sql = match scenario {
            Scenario::Validate => format!(
                "{auth} SELECT * FROM coupon_codes cc JOIN coupons c ON c.id = cc.coupon_id WHERE cc.code = 'BENCH-{c}' LIMIT 1;"
            ),
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
    })
}

/// A fresh database for one measurement: a new PostgreSQL database or SQLite file,
/// removed by [`Scratch::remove`].
struct Scratch {
    url: String,
    pg: Option<PgDatabase>,
    sqlite: Option<PathBuf>,
}

impl Scratch {
    async fn new(args: &Args, backend: &str, tag: &str) -> anyhow::Result<Self> {
        match backend {
            "sqlite" => {
                let path =
                    std::env::temp_dir().join(format!("coupons-{tag}-{}.db", std::process::id()));
                Ok(Self {
                    url: format!("sqlite://{}", path.display()),
                    pg: None,
                    sqlite: Some(path),
                })
            }
            "postgres" => {
                let db = PgDatabase::create(&args.pg_url).await?;
                Ok(Self {
                    url: db.url.clone(),
                    pg: Some(db),
                    sqlite: None,
                })
            }
            other => bail!("unknown backend {other:?}"),
        }
    }

    /// Starts the server on it and creates one coupon with `code`; returns its ID.
    async fn serve_with_coupon(&self, args: &Args, code: &str) -> anyhow::Result<(Server, String)> {
        let server = Server::start(&args.server, &self.url, 8).await?;
        let made = server
            .graphql(
                ADMIN_KEY,
                CREATE,
                json!({ "input": { "name": code, "code": code, "discount": { "percentage": "10" } } }),
            )
            .await?;
        let coupon = made["data"]["createCoupon"]["coupon"]["id"]
            .as_str()
            .context("no coupon")?
            .to_owned();
        Ok((server, coupon))
    }

    async fn remove(self) -> anyhow::Result<()> {
        if let Some(db) = self.pg {
            db.drop().await?;
        }
        if let Some(path) = self.sqlite {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(())
    }
}

struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("coupons_bench_{}", std::process::id());
        let mut conn = AsyncPgConnection::establish(admin_url).await?;
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("database URL without a database name")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn drop(self) -> anyhow::Result<()> {
        let mut conn = AsyncPgConnection::establish(&self.admin_url).await?;
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await?;
        Ok(())
    }
}

async fn run_backend(args: &Args, backend: &str, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let seconds = args.seconds;
    let duration = Duration::from_secs(seconds);
    let (url, pg, sqlite_path, pool) = match backend {
        "sqlite" => {
            let path =
                std::env::temp_dir().join(format!("coupons-bench-{}.db", std::process::id()));
            (format!("sqlite://{}", path.display()), None, Some(path), 8)
        }
        "postgres" => {
            let db = PgDatabase::create(&args.pg_url).await?;
            (db.url.clone(), Some(db), None, args.write_conns)
        }
        other => bail!("unknown backend {other:?}"),
    };
    eprintln!(
        "[{backend}] starting the server and creating {} coupons",
        args.coupons + 2
    );
    let server = Arc::new(Server::start(&args.server, &url, pool).await?);
    let key: Arc<str> = set_up(&server, args.coupons).await?.into();
    let many = args.coupons;
    let scenarios = [
        (
            "validate",
            Scenario::Validate,
            args.read_conns,
            "validate.sql",
        ),
        (
            "redeem-many",
            Scenario::RedeemMany,
            args.write_conns,
            "redeem.sql",
        ),
        (
            "redeem-hot",
            Scenario::RedeemHot,
            args.write_conns,
            "redeem.sql",
        ),
        (
            "reserve-redeem",
            Scenario::ReserveRedeem,
            args.write_conns,
            "reserve_redeem.sql",
        ),
    ];
    let mut measured = Vec::new();
    for (name, scenario, conns, _) in scenarios {
        eprintln!("[{backend}] service: {name} ({conns} connections, {seconds} s)");
        measured.push(
            load(
                server.clone(),
                key.clone(),
                scenario,
                many,
                conns,
                duration,
                None,
            )
            .await,
        );
    }
    // Zero overshoot: 1,500 concurrent redeems of a coupon capped at 500.
    let capped = load(
        server.clone(),
        key.clone(),
        Scenario::Capped,
        many,
        args.read_conns,
        duration,
        Some(1500),
    )
    .await;
    let count = server
        .graphql(
            ADMIN_KEY,
            "{ coupon(code: \"BENCH-CAP\") { redemptionCount } }",
            json!({}),
        )
        .await?["data"]["coupon"]["redemptionCount"]
        .as_i64()
        .unwrap_or(-1);
    eprintln!(
        "[{backend}] capped hot coupon: {} of 1500 redeemed, redemptionCount {count} (cap 500)",
        capped.ops
    );
    if capped.ops != 500 || count != 500 {
        bail!(
            "[{backend}] the cap of 500 was not held exactly: {} redeemed, count {count}",
            capped.ops
        );
    }
    Arc::try_unwrap(server)
        .ok()
        .context("server still in use")?
        .stop()
        .await?;

    for ((name, scenario, conns, script), service) in scenarios.into_iter().zip(measured) {
        let (first, last) = match scenario {
            Scenario::RedeemHot => (many + 1, many + 1),
            _ => (1, many),
        };
        eprintln!("[{backend}] raw SQL: {name}");
        let (baseline, baseline_conns) = match (&pg, &sqlite_path) {
            (Some(db), _) => (
                pgbench(
                    &db.url,
                    &args.scripts.join(script),
                    conns,
                    seconds,
                    first,
                    last,
                )
                .await?,
                conns,
            ),
            (None, Some(path)) => {
                let path = path.display().to_string();
                (
                    tokio::task::spawn_blocking(move || {
                        sqlite_loop(&path, scenario, seconds, first, last)
                    })
                    .await??,
                    1,
                )
            }
            (None, None) => bail!("no database"),
        };
        rows.push(Row {
            backend: backend.to_owned(),
            scenario: name,
            conns,
            service,
            baseline,
            baseline_conns,
        });
    }
    if let Some(db) = pg {
        db.drop().await?;
    }
    if let Some(path) = sqlite_path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}

/// Validation latency per kind of code, as a storefront caller sees it.
async fn enumeration(args: &Args, backend: &str) -> anyhow::Result<()> {
    let (url, pg, sqlite_path) = match backend {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("coupons-enum-{}.db", std::process::id()));
            (format!("sqlite://{}", path.display()), None, Some(path))
        }
        "postgres" => {
            let db = PgDatabase::create(&args.pg_url).await?;
            (db.url.clone(), Some(db), None)
        }
        other => bail!("unknown backend {other:?}"),
    };
    let server = Server::start(&args.server, &url, 4).await?;
    // Many other coupons, so lookups hit a real index.
    let key = set_up(&server, args.coupons).await?;
    let make = async |code: &str, extra: Value| -> anyhow::Result<Value> {
        let mut input = json!({ "name": code, "code": code, "discount": { "percentage": "10" },
            "perCustomerLimit": 1, "minSubtotal": { "amount": "1", "currency": "USD" } });
        if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
            i.extend(e.clone());
        }
        let r = server
            .graphql(ADMIN_KEY, CREATE, json!({ "input": input }))
            .await?;
        Ok(r["data"]["createCoupon"]["coupon"]["id"].clone())
    };
    make("ENUM-DRAFT", json!({ "status": "DRAFT" })).await?;
    let status = "mutation($id: ID!, $s: CouponStatus!) { setCouponStatus(input: { id: $id, status: $s }) { userErrors { code } } }";
    let paused = make("ENUM-PAUSED", json!({})).await?;
    server
        .graphql(ADMIN_KEY, status, json!({ "id": paused, "s": "PAUSED" }))
        .await?;
    let archived = make("ENUM-ARCHIVED", json!({})).await?;
    server
        .graphql(
            ADMIN_KEY,
            status,
            json!({ "id": archived, "s": "ARCHIVED" }),
        )
        .await?;
    let deleted = make("ENUM-DELETED", json!({})).await?;
    server
        .graphql(
            ADMIN_KEY,
            "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { userErrors { code } } }",
            json!({ "id": deleted }),
        )
        .await?;
    make("ENUM-LATER", json!({ "startsAt": "2099-01-01T00:00:00Z" })).await?;
    make("ENUM-ACTIVE", json!({})).await?;
    let kinds = [
        ("unknown", "ENUM-NEVER-MADE"),
        ("draft", "ENUM-DRAFT"),
        ("paused", "ENUM-PAUSED"),
        ("archived", "ENUM-ARCHIVED"),
        ("deleted", "ENUM-DELETED"),
        ("not started", "ENUM-LATER"),
        ("active (valid)", "ENUM-ACTIVE"),
    ];
    let mut latencies: Vec<Vec<u64>> = vec![Vec::with_capacity(args.samples); kinds.len()];
    let mut answers: Vec<Option<Value>> = vec![None; kinds.len()];
    // Warm up, then interleave the kinds so drift affects them alike.
    for round in 0..args.samples + 200 {
        for (i, (_, code)) in kinds.iter().enumerate() {
            let input = json!({ "code": code, "order": order(round as u64) });
            let t = Instant::now();
            let r = server
                .graphql(&key, "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid reasons { code message } } }", json!({ "input": input }))
                .await?;
            let us = t.elapsed().as_micros() as u64;
            if round >= 200 {
                latencies[i].push(us);
            }
            answers[i] = Some(r["data"]["validateCoupon"].clone());
        }
    }
    server.stop().await?;
    println!();
    println!(
        "{backend}: validateCoupon as a storefront key, {} samples per kind, one connection",
        args.samples
    );
    println!();
    println!("| code | answer | p50 ms | p90 ms | p99 ms | mean ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for (i, (kind, _)) in kinds.iter().enumerate() {
        let mut stats = Stats {
            ops: latencies[i].len(),
            failed: 0,
            elapsed: Duration::ZERO,
            latencies_us: std::mem::take(&mut latencies[i]),
        };
        let mean = stats.latencies_us.iter().sum::<u64>() as f64 / stats.ops.max(1) as f64 / 1000.0;
        let answer = answers[i]
            .as_ref()
            .map(|a| {
                a["reasons"][0]["code"]
                    .as_str()
                    .unwrap_or("VALID")
                    .to_owned()
            })
            .unwrap_or_default();
        println!(
            "| {kind} | {answer} | {:.3} | {:.3} | {:.3} | {mean:.3} |",
            stats.percentile_ms(0.5),
            stats.percentile_ms(0.9),
            stats.percentile_ms(0.99),
        );
    }
    let hidden: Vec<&Option<Value>> = answers[..6].iter().collect();
    if hidden.iter().any(|a| *a != hidden[0]) {
        bail!("{backend}: the answers for unknown and inactive codes differ: {hidden:?}");
    }
    if let Some(db) = pg {
        db.drop().await?;
    }
    if let Some(path) = sqlite_path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}

/// What the local webhook receiver saw: arrival time and event entity id.
type Arrivals = Arc<std::sync::Mutex<Vec<(Instant, String)>>>;

/// A local HTTP receiver that answers 204 and records each event's arrival.
async fn receiver() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let entity = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["entityId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if let Ok(mut list) = seen.lock() {
                    list.push((Instant::now(), entity));
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, arrivals))
}

/// Webhook delivery: `samples` redemptions on `write_conns` connections, each event
/// POSTed to one endpoint; throughput and latency from the redemption's response to the
/// event's arrival. Baseline: the same number of POSTs of the same body from one
/// sequential client, the worker's own pattern.
async fn webhooks(args: &Args, backend: &str) -> anyhow::Result<()> {
    let (url, pg, sqlite_path) = match backend {
        "sqlite" => {
            let path =
                std::env::temp_dir().join(format!("coupons-hooks-{}.db", std::process::id()));
            (format!("sqlite://{}", path.display()), None, Some(path))
        }
        "postgres" => {
            let db = PgDatabase::create(&args.pg_url).await?;
            (db.url.clone(), Some(db), None)
        }
        other => bail!("unknown backend {other:?}"),
    };
    let pool = if pg.is_some() { args.write_conns } else { 8 };
    let server = Arc::new(Server::start(&args.server, &url, pool).await?);
    let key: Arc<str> = set_up(&server, 10).await?.into();
    let (hook, arrivals) = receiver().await?;
    server
        .graphql(
            ADMIN_KEY,
            "mutation($u: String!) { createWebhookEndpoint(input: { url: $u, eventTypes: [COUPON_REDEEMED] }) { userErrors { code } } }",
            json!({ "u": hook }),
        )
        .await?;
    let n = args.samples;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.write_conns {
        let (server, key, next) = (server.clone(), key.clone(), next.clone());
        tasks.spawn(async move {
            let mut done: Vec<(String, Instant)> = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let input = json!({ "code": format!("BENCH-{}", i % 10 + 1), "order": order(i as u64), "idempotencyKey": format!("hook-{i}") });
                let r = server
                    .graphql(&key, REDEEM, json!({ "input": input }))
                    .await?;
                let id = r["data"]["redeemCoupon"]["redemption"]["id"]
                    .as_str()
                    .context("not redeemed")?
                    .to_owned();
                done.push((id, Instant::now()));
            }
            anyhow::Ok(done)
        });
    }
    let mut committed: HashMap<String, Instant> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        for (id, at) in done?? {
            committed.insert(id, at);
        }
    }
    let redeemed_in = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let got = arrivals.lock().map(|a| a.len()).unwrap_or(0);
        if got >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("{backend}: {got} of {n} webhook deliveries within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived: Vec<(Instant, String)> = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let last = arrived.iter().map(|(t, _)| *t).max().unwrap_or(started);
    // Redemption ids are global IDs; the event carries the row id.
    let mut latency = Vec::new();
    let mut unique = HashSet::new();
    for (at, entity) in &arrived {
        unique.insert(entity.clone());
        let global = base64_id(entity);
        if let Some(done) = committed.get(&global) {
            latency.push(at.saturating_duration_since(*done).as_micros() as u64);
        }
    }
    Arc::try_unwrap(server)
        .ok()
        .context("server still in use")?
        .stop()
        .await?;

    // Baseline: one client POSTing the same bodies in sequence.
    let client = reqwest::Client::new();
    let body =
        json!({ "id": "1", "type": "COUPON_REDEEMED", "couponId": "Q291cG9uOjE", "entityId": "1",
        "payload": { "status": "REDEEMED" }, "occurredAt": "2026-11-21T00:00:00Z" })
        .to_string();
    let raw_start = Instant::now();
    let mut raw_latency = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .post(&hook)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        raw_latency.push(t.elapsed().as_micros() as u64);
    }
    let raw = Stats {
        ops: n,
        failed: 0,
        elapsed: raw_start.elapsed(),
        latencies_us: raw_latency,
    };
    let mut delivered = Stats {
        ops: arrived.len(),
        failed: 0,
        elapsed: last.saturating_duration_since(started),
        latencies_us: latency,
    };
    let mut raw = raw;
    println!();
    println!(
        "{backend}: {n} redemptions on {} connections in {:.1} s ({:.0}/s); webhook deliveries to one endpoint:",
        args.write_conns,
        redeemed_in.as_secs_f64(),
        n as f64 / redeemed_in.as_secs_f64()
    );
    println!();
    println!("| | per s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    println!(
        "| deliveries (first redemption to last arrival; latency from the redemption's response) | {:.0} | {:.1} | {:.1} |",
        delivered.rate(),
        delivered.percentile_ms(0.5),
        delivered.percentile_ms(0.99)
    );
    println!(
        "| raw sequential POSTs to the same receiver | {:.0} | {:.2} | {:.2} |",
        raw.rate(),
        raw.percentile_ms(0.5),
        raw.percentile_ms(0.99)
    );
    println!();
    println!(
        "{} received, {} distinct events, {} duplicates",
        arrived.len(),
        unique.len(),
        arrived.len() - unique.len()
    );
    if let Some(db) = pg {
        db.drop().await?;
    }
    if let Some(path) = sqlite_path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}

/// The global ID of a redemption row id (`base64url("Redemption:<id>")`).
fn base64_id(row: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Redemption:{row}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(count) = args.generate {
        return generate::run(&args, count).await;
    }
    if let Some(count) = args.report {
        return report::run(&args, count).await;
    }
    if args.webhooks {
        for backend in &args.backends {
            webhooks(&args, backend).await?;
        }
        return Ok(());
    }
    if args.enumeration {
        for backend in &args.backends {
            enumeration(&args, backend).await?;
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for backend in &args.backends {
        run_backend(&args, backend, &mut rows).await?;
    }
    println!();
    println!(
        "| backend | scenario | conns | service ops/s | p50 ms | p99 ms | failed | raw SQL ops/s (conns) | raw p50 ms | raw p99 ms | service / raw |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mut r in rows {
        let (s50, s99) = (r.service.percentile_ms(0.50), r.service.percentile_ms(0.99));
        let (b50, b99) = (
            r.baseline.percentile_ms(0.50),
            r.baseline.percentile_ms(0.99),
        );
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} ({}) | {:.2} | {:.2} | {:.0}% |",
            r.backend,
            r.scenario,
            r.conns,
            r.service.rate(),
            s50,
            s99,
            r.service.failed,
            r.baseline.rate(),
            r.baseline_conns,
            b50,
            b99,
            100.0 * r.service.rate() / r.baseline.rate(),
        );
    }
    Ok(())
}
