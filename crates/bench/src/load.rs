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

/// Measures every backend in `args` and prints the result table and the targets.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let ping = ping_ceilings(args).await?;
    let mut rows = Vec::new();
    let mut extras = Vec::new();
    for backend in &args.backends {
        extras.push(run_backend(args, backend, &mut rows).await?);
    }
    println!();
    println!(
        "| backend | scenario | conns | service ops/s | p50 ms | p99 ms | failed | server CPU µs/op | raw SQL ops/s (conns) | raw p50 ms | raw p99 ms | service / raw | ceiling ops/s | service / ceiling | ping ops/s | service / ping |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &mut rows {
        let (s50, s99) = (r.service.percentile_ms(0.50), r.service.percentile_ms(0.99));
        let (b50, b99) = (
            r.baseline.percentile_ms(0.50),
            r.baseline.percentile_ms(0.99),
        );
        let cpu = r
            .service
            .cpu_us_per_op()
            .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"));
        let ping = ping.get(&r.conns).copied().unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {cpu} | {:.0} ({}) | {:.2} | {:.2} | {:.0}% | {:.0} | {:.0}% | {ping:.0} | {:.0}% |",
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
            100.0 * r.service.rate() / ping,
        );
    }
    println!();
    println!("| backend | target | measured | goal | result |");
    println!("|---|---|---|---|---|");
    for t in targets(&mut rows, &extras, &ping) {
        println!(
            "| {} | {} | {} | {} | {} |",
            t.backend,
            t.name,
            t.measured,
            t.goal,
            if t.met { "PASS" } else { "SHORT" }
        );
    }
    Ok(())
}

/// The `{ ping }` ceiling at each connection count the scenarios use, from a minimal
/// async-graphql server on this machine (see `ping.rs`).
async fn ping_ceilings(args: &Args) -> anyhow::Result<std::collections::BTreeMap<usize, f64>> {
    let server = Arc::new(Server::start_ping().await?);
    let key: Arc<str> = "none".into();
    let mut ceilings = std::collections::BTreeMap::new();
    for conns in [args.read_conns, args.write_conns] {
        if ceilings.contains_key(&conns) {
            continue;
        }
        eprintln!(
            "ping ceiling: {{ ping }} ({conns} connections, {} s)",
            args.seconds
        );
        let duration = Duration::from_secs(args.seconds);
        let stats = load(
            server.clone(),
            key.clone(),
            Scenario::Ping,
            1,
            conns,
            duration,
            None,
        )
        .await;
        ceilings.insert(conns, stats.rate());
    }
    Arc::try_unwrap(server)
        .ok()
        .context("ping server still in use")?
        .stop()
        .await?;
    Ok(ceilings)
}

/// What a backend's run measured besides the scenario rows.
struct Extras {
    backend: String,
    /// Resident memory after start-up and set-up, before any load, MiB.
    rss_idle: Option<f64>,
    /// The most resident memory seen under the validate load, MiB.
    rss_validate: Option<f64>,
    /// Whether the capped coupon took exactly its cap.
    exact_cap: bool,
    /// The codes in the store for the catalogue rows, and validate and redeem-many
    /// measured with them.
    catalogue: Option<(usize, Stats, Stats)>,
}

/// One target of the issue and whether this run met it.
struct Target {
    backend: String,
    name: String,
    measured: String,
    goal: String,
    met: bool,
}

/// The targets, from the run's rows.
fn targets(
    rows: &mut [Row],
    extras: &[Extras],
    ping: &std::collections::BTreeMap<usize, f64>,
) -> Vec<Target> {
    let mut out = Vec::new();
    let ratio = |backend: &str, name: &str, of: f64, by: f64, what: &str, goal: f64| Target {
        backend: backend.to_owned(),
        name: name.to_owned(),
        measured: format!("{:.0}% ({of:.0} / {by:.0} {what})", 100.0 * of / by),
        goal: format!("≥ {:.0}%", 100.0 * goal),
        met: of / by >= goal,
    };
    for r in rows.iter_mut() {
        let rate = r.service.rate();
        let raw = r.baseline.rate();
        let ping = ping.get(&r.conns).copied().unwrap_or(f64::NAN);
        match (r.backend.as_str(), r.scenario) {
            ("sqlite", "validate") => {
                out.push(ratio(
                    "sqlite",
                    "validate / ping ceiling",
                    rate,
                    ping,
                    "ops/s",
                    0.40,
                ));
            }
            ("sqlite", "redeem-many") => {
                out.push(ratio(
                    "sqlite",
                    "redeem-many / raw loop",
                    rate,
                    raw,
                    "ops/s",
                    0.60,
                ));
            }
            ("postgres", "validate") => {
                let p99 = r.service.percentile_ms(0.99);
                let absolute = rate >= 10_000.0 && p99 < 10.0;
                out.push(Target {
                    backend: "postgres".into(),
                    name: "validate: 10,000/s with p99 < 10 ms, or ≥ 100% of the raw statements"
                        .into(),
                    measured: format!(
                        "{rate:.0}/s, p99 {p99:.1} ms; {:.0}% of raw {raw:.0}/s",
                        100.0 * rate / raw
                    ),
                    goal: "either".into(),
                    met: absolute || rate >= raw,
                });
            }
            ("postgres", "redeem-many") => {
                out.push(ratio(
                    "postgres",
                    "redeem-many / raw transaction",
                    rate,
                    raw,
                    "ops/s",
                    0.80,
                ));
            }
            ("postgres", "redeem-hot") => {
                out.push(ratio(
                    "postgres",
                    "redeem-hot / raw hot row",
                    rate,
                    raw,
                    "ops/s",
                    0.80,
                ));
            }
            _ => {}
        }
    }
    for e in extras {
        let b = e.backend.clone();
        out.push(Target {
            backend: b.clone(),
            name: "zero overshoot (1,500 redeems of a coupon capped at 500)".into(),
            measured: if e.exact_cap {
                "500 of 500"
            } else {
                "cap not held"
            }
            .into(),
            goal: "exactly 500".into(),
            met: e.exact_cap,
        });
        let mib = |m: Option<f64>| m.map_or_else(|| "-".to_owned(), |m| format!("{m:.1} MiB"));
        out.push(Target {
            backend: b.clone(),
            name: "RSS idle".into(),
            measured: mib(e.rss_idle),
            goal: "< 50 MB".into(),
            met: e.rss_idle.is_some_and(|m| m * 1.048_576 < 50.0),
        });
        out.push(Target {
            backend: b.clone(),
            name: "RSS under the validate load".into(),
            measured: mib(e.rss_validate),
            goal: "< 200 MB".into(),
            met: e.rss_validate.is_some_and(|m| m * 1.048_576 < 200.0),
        });
        if let Some((codes, validate, redeem)) = &e.catalogue {
            for (scenario, big) in [("validate", validate), ("redeem-many", redeem)] {
                let Some(small) = rows
                    .iter()
                    .find(|r| r.backend == b && r.scenario == scenario)
                else {
                    continue;
                };
                let (of, by) = (big.rate(), small.service.rate());
                out.push(Target {
                    backend: b.clone(),
                    name: format!("{scenario} with {codes} codes / with 1,000"),
                    measured: format!("{:.0}% ({of:.0} / {by:.0} ops/s)", 100.0 * of / by),
                    goal: "≥ 90%".into(),
                    met: of / by >= 0.90,
                });
            }
        }
    }
    out
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
    /// `{ __typename }`: the HTTP+GraphQL ceiling with the service's key check.
    Ceiling,
    /// `{ ping }` against the minimal async-graphql server.
    Ping,
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
        Scenario::Ping => {
            let r = server.graphql(key, "{ ping }", json!({})).await?;
            Ok(r["data"]["ping"] == "pong")
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

/// Measures the scenarios on `backend` and adds their rows to `rows`; what else it
/// measured.
async fn run_backend(args: &Args, backend: &str, rows: &mut Vec<Row>) -> anyhow::Result<Extras> {
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss_mib();
    let mut rss_validate = None;
    let mut measured = Vec::new();
    for &(name, scenario, conns, _) in &scenarios {
        eprintln!("[{backend}] service: {name} ({conns} connections, {seconds} s)");
        let sampler = matches!(scenario, Scenario::Validate).then(|| rss_sampler(server.clone()));
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
        if let Some((stop, most)) = sampler {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            rss_validate = most.await.ok().flatten();
        }
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
    let exact_cap = capped.ops == 500 && count == 500;
    if !exact_cap {
        eprintln!(
            "[{backend}] FAILED: the cap of 500 was not held exactly: {} redeemed, count {count}",
            capped.ops
        );
    }
    let catalogue = if args.catalogue > 0 {
        fill_catalogue(&server, backend, args.catalogue).await?;
        // A store that holds a million codes wrote them long before: let the writes
        // settle (SQLite's checkpoint of the WAL, PostgreSQL's autovacuum).
        tokio::time::sleep(Duration::from_secs(10)).await;
        let mut again = Vec::new();
        for (scenario, conns) in [
            (Scenario::Validate, args.read_conns),
            (Scenario::RedeemMany, args.write_conns),
        ] {
            eprintln!(
                "[{backend}] service with {} codes ({conns} connections, {seconds} s)",
                args.catalogue
            );
            again.push(
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
        let redeem = again.pop().context("no redeem row")?;
        let validate = again.pop().context("no validate row")?;
        Some((args.catalogue, validate, redeem))
    } else {
        None
    };
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
    Ok(Extras {
        backend: backend.to_owned(),
        rss_idle,
        rss_validate,
        exact_cap,
        catalogue,
    })
}

/// Samples the server's resident memory every 100 ms until told to stop; the most seen.
fn rss_sampler(
    server: Arc<Server>,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<Option<f64>>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let most = tokio::spawn(async move {
        let mut most: Option<f64> = None;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(m) = server.rss_mib() {
                most = Some(most.map_or(m, |x| x.max(m)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        most
    });
    (stop, most)
}

/// Adds `count` single-use codes to a coupon of their own with `generateCodes`, so that
/// the store holds that many more codes than the scenarios use.
async fn fill_catalogue(server: &Server, backend: &str, count: usize) -> anyhow::Result<()> {
    const GENERATE: &str = "mutation($i: GenerateCodesInput!) { generateCodes(input: $i) { job { id } userErrors { code message } } }";
    const JOB: &str = "query($id: ID!) { bulkJob(id: $id) { status done total error } }";
    let input =
        json!({ "name": "Catalogue", "code": "BENCH-BIG", "discount": { "percentage": "10" } });
    let created = server
        .graphql(ADMIN_KEY, crate::server::CREATE, json!({ "input": input }))
        .await?;
    let coupon = created["data"]["createCoupon"]["coupon"]["id"]
        .as_str()
        .with_context(|| format!("no catalogue coupon: {created}"))?
        .to_owned();
    eprintln!("[{backend}] generating {count} codes for the catalogue rows");
    let started = Instant::now();
    let queued = server
        .graphql(
            ADMIN_KEY,
            GENERATE,
            json!({ "i": { "couponId": coupon, "count": count, "pattern": { "prefix": "BIG-", "length": 12 } } }),
        )
        .await?;
    let job = queued["data"]["generateCodes"]["job"]["id"]
        .as_str()
        .with_context(|| format!("not queued: {queued}"))?
        .to_owned();
    loop {
        let j = server.graphql(ADMIN_KEY, JOB, json!({ "id": job })).await?;
        match j["data"]["bulkJob"]["status"].as_str() {
            Some("SUCCEEDED") => break,
            Some("QUEUED" | "RUNNING") => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => bail!("the catalogue job did not succeed: {j}"),
        }
    }
    eprintln!(
        "[{backend}] {count} codes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
