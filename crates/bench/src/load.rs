//! The default mode: the service under concurrent `validate`, `redeem-many`,
//! `redeem-hot` and `reserve-redeem` load, the zero-overshoot check of a capped coupon,
//! and each scenario beside its two limits measured in the same run: the raw SQL of the
//! same statements, and the HTTP+GraphQL ceiling (`{ __typename }` with the same key
//! and connections: the key check, HTTP and GraphQL, and no coupon work). Each row also
//! gives the server's CPU time per operation, which other work on the machine barely
//! moves, unlike throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::Rng;
use serde_json::json;

use crate::Args;
use crate::baseline::{pgbench, sqlite_loop};
use crate::scratch::PgDatabase;
use crate::server::{
    ADMIN_KEY, CEILING, REDEEM, RESERVE, Server, VALIDATE, VALIDATE_CART, cart_order, order,
    set_up, set_up_cart,
};
use crate::stats::Stats;

/// Measures every backend in `args` and prints the result table.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in &args.backends {
        run_backend(args, backend, &mut rows).await?;
    }
    println!();
    println!(
        "| backend | scenario | conns | service ops/s | p50 ms | p99 ms | failed | server CPU µs/op | raw SQL ops/s (conns) | raw p50 ms | raw p99 ms | service / raw | ceiling ops/s | service / ceiling |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mut r in rows {
        let (s50, s99) = (r.service.percentile_ms(0.50), r.service.percentile_ms(0.99));
        let (b50, b99) = (
            r.baseline.percentile_ms(0.50),
            r.baseline.percentile_ms(0.99),
        );
        let cpu = r
            .service
            .cpu_us_per_op()
            .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"));
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {cpu} | {:.0} ({}) | {:.2} | {:.2} | {:.0}% | {:.0} | {:.0}% |",
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
            r.ceiling,
            100.0 * r.service.rate() / r.ceiling,
        );
    }
    Ok(())
}

/// Coupons that share orders, for the cart scenario.
const CART_COUPONS: usize = 50;

/// One row of the result table.
struct Row {
    backend: String,
    scenario: &'static str,
    conns: usize,
    service: Stats,
    baseline: Stats,
    baseline_conns: usize,
    /// The HTTP+GraphQL ceiling at the same connection count, operations per second.
    ceiling: f64,
}

/// What one operation of a load run does.
#[derive(Clone, Copy)]
pub enum Scenario {
    /// `validateCoupon` on a random one of many coupons.
    Validate,
    /// `redeemCoupon` on a random one of many coupons.
    RedeemMany,
    /// `redeemCoupon`, every request on the same coupon.
    RedeemHot,
    /// `reserveCoupon` then `redeemCoupon(reservationId)`.
    ReserveRedeem,
    /// `redeemCoupon` on the coupon capped at 500 uses.
    Capped,
    /// `validateCart` with three of the cart coupons and a 20-line order.
    ValidateCart,
    /// `POST /api/coupon/validate`: the same use case as `Validate`, over REST.
    ValidateRest,
    /// `{ __typename }`: the HTTP+GraphQL ceiling.
    Ceiling,
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
        Scenario::Ceiling => {
            let r = server.graphql(key, CEILING, json!({})).await?;
            Ok(r["data"]["__typename"] == "Query")
        }
        Scenario::Validate => {
            let input = json!({ "code": format!("BENCH-{}", pick()), "order": order("v", n) });
            let r = server
                .graphql(key, VALIDATE, json!({ "input": input }))
                .await?;
            Ok(r["data"]["validateCoupon"]["valid"] == true)
        }
        Scenario::ValidateRest => {
            let body = json!({ "code": format!("BENCH-{}", pick()), "order": order("v", n) });
            let (status, r) = server.rest(key, "/api/coupon/validate", body).await?;
            Ok(status.is_success() && r["valid"] == true)
        }
        Scenario::RedeemMany | Scenario::RedeemHot | Scenario::Capped => {
            let (code, tag) = match scenario {
                Scenario::RedeemMany => (format!("BENCH-{}", pick()), "many"),
                Scenario::RedeemHot => (format!("BENCH-{}", many + 1), "hot"),
                _ => ("BENCH-CAP".to_owned(), "cap"),
            };
            // Keys are unique per scenario: a reused key would (rightly) be refused.
            let key_n = format!("{tag}-{n}");
            let input = json!({ "code": code, "order": order(tag, n), "idempotencyKey": key_n });
            let r = server
                .graphql(key, REDEEM, json!({ "input": input }))
                .await?;
            Ok(r["data"]["redeemCoupon"]["redemption"]["status"] == "REDEEMED")
        }
        Scenario::ValidateCart => {
            let first = rand::rng().random_range(1..=CART_COUPONS - 2);
            let codes: Vec<String> = (first..first + 3).map(|c| format!("CART-{c}")).collect();
            let input = json!({ "codes": codes, "order": cart_order(n) });
            let r = server
                .graphql(key, VALIDATE_CART, json!({ "input": input }))
                .await?;
            Ok(r["data"]["validateCart"]["valid"] == true)
        }
        Scenario::ReserveRedeem => {
            let input = json!({ "code": format!("BENCH-{}", pick()), "order": order("r", n), "idempotencyKey": format!("r-{n}") });
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
    let cpu_before = server.cpu_time();
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
    let elapsed = started.elapsed();
    let server_cpu = cpu_before
        .zip(server.cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    Stats {
        ops: latencies_us.len(),
        failed,
        elapsed,
        latencies_us,
        server_cpu,
    }
}

/// Measures the scenarios on `backend` and adds their rows to `rows`.
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
    let carts = set_up_cart(&server, CART_COUPONS).await?;
    if !carts {
        eprintln!("[{backend}] this server has no carts: validate-cart is left out");
    }
    let mut scenarios = vec![
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
    if carts {
        scenarios.push((
            "validate-cart",
            Scenario::ValidateCart,
            args.read_conns,
            "validate_cart.sql",
        ));
    }
    let probe = json!({ "code": "BENCH-1", "order": order("v", 0) });
    if server.rest(&key, "/api/coupon/validate", probe).await?.0 == 404 {
        eprintln!("[{backend}] this server has no REST API: validate-rest is left out");
    } else {
        scenarios.push((
            "validate-rest",
            Scenario::ValidateRest,
            args.read_conns,
            "validate.sql",
        ));
    }
    // The ceiling at each connection count the scenarios use.
    let mut ceilings = std::collections::BTreeMap::new();
    for conns in [args.read_conns, args.write_conns] {
        if ceilings.contains_key(&conns) {
            continue;
        }
        eprintln!("[{backend}] ceiling: {{ __typename }} ({conns} connections, {seconds} s)");
        let stats = load(
            server.clone(),
            key.clone(),
            Scenario::Ceiling,
            many,
            conns,
            duration,
            None,
        )
        .await;
        ceilings.insert(conns, stats.rate());
    }
    let mut measured = Vec::new();
    for &(name, scenario, conns, _) in &scenarios {
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
            Scenario::ValidateCart => (1, CART_COUPONS - 2),
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
            ceiling: ceilings.get(&conns).copied().unwrap_or(f64::NAN),
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
