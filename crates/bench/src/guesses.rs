//! `--guesses`: what counting a failed code check costs. `validateCoupon` on codes that
//! do not exist, on `--conns` connections, against two servers on one database that
//! differ only in the storefront budget: none (nothing is counted) and one too large
//! to reach (every failure is counted; on PostgreSQL, added to the count the instances
//! share). Each is measured twice, in turn, so drift affects both alike; the difference
//! is the cost of one failed check's count.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::Args;
use crate::baseline::pgbench;
use crate::scratch::PgDatabase;
use crate::server::{Server, VALIDATE, order, set_up};
use crate::stats::Stats;

/// The storefront budgets of the two servers: nothing counted, and every failure
/// counted against a budget no run reaches.
const SETTINGS: [(&str, &str); 2] = [
    ("not counted", "key=0,ip=0,customer=0"),
    ("counted", "key=2000000000,ip=0,customer=2000000000"),
];

/// Failed checks per second and what each costs, counted and not.
pub async fn run(args: &Args, backend: &str) -> anyhow::Result<()> {
    let (url, pg, sqlite_path, pool) = match backend {
        "sqlite" => {
            let path =
                std::env::temp_dir().join(format!("coupons-guesses-{}.db", std::process::id()));
            (format!("sqlite://{}", path.display()), None, Some(path), 8)
        }
        "postgres" => {
            let db = PgDatabase::create(&args.pg_url).await?;
            (db.url.clone(), Some(db), None, args.write_conns)
        }
        other => bail!("unknown backend {other:?}"),
    };
    let key: Arc<str> = {
        let server = Server::start(&args.server, &url, 4).await?;
        let key = set_up(&server, args.coupons).await?;
        server.stop().await?;
        key.into()
    };
    let duration = Duration::from_secs(args.seconds);
    let mut rows = Vec::new();
    for round in 1..=2 {
        for (name, limits) in SETTINGS {
            let stats = measure(
                &args.server,
                &url,
                limits,
                key.clone(),
                pool,
                args,
                duration,
            )
            .await?;
            rows.push((round, name, stats));
        }
    }
    println!();
    println!(
        "{backend}: validateCoupon on unknown codes as a storefront key, {} connections, {} s each, no NOT_FOUND floor",
        args.read_conns, args.seconds
    );
    println!();
    println!("| round | failures | checks/s | p50 ms | p99 ms | server CPU µs/check |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut p50: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (round, name, stats) in &mut rows {
        let us = stats.cpu_us_per_op();
        let median = stats.percentile_ms(0.5);
        let i = usize::from(*name == SETTINGS[1].0);
        cpu[i].extend(us);
        p50[i].push(median);
        println!(
            "| {round} | {name} | {:.0} | {median:.2} | {:.2} | {} |",
            stats.rate(),
            stats.percentile_ms(0.99),
            us.map_or("n/a".to_owned(), |us| format!("{us:.0}")),
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!();
    println!(
        "{backend}: counting a failed check costs {:+.0} µs of server CPU and {:+.2} ms at the median",
        mean(&cpu[1]) - mean(&cpu[0]),
        mean(&p50[1]) - mean(&p50[0]),
    );
    if let Some(db) = &pg {
        // The raw limit: the same statements from pgbench, on the same database.
        let mut raw = pgbench(
            &db.url,
            &args.scripts.join("guess.sql"),
            args.read_conns,
            args.seconds,
            1,
            1,
        )
        .await?;
        let counted: Vec<f64> = rows
            .iter()
            .filter(|(_, name, _)| *name == SETTINGS[1].0)
            .map(|(_, _, s)| s.rate())
            .collect();
        println!(
            "{backend}: raw SQL of a counted failure (bench/guess.sql, {} connections): {:.0}/s, p50 {:.2} ms; counted checks / raw = {:.0}%",
            args.read_conns,
            raw.rate(),
            raw.percentile_ms(0.5),
            mean(&counted) * 100.0 / raw.rate(),
        );
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

/// Starts a server with storefront budgets `limits`, sends failed checks for
/// `duration`, and stops it.
async fn measure(
    binary: &Path,
    url: &str,
    limits: &str,
    key: Arc<str>,
    pool: usize,
    args: &Args,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let env = [
        ("COUPONS_STOREFRONT_ATTEMPT_LIMITS", limits),
        ("COUPONS_NOT_FOUND_FLOOR_MS", "0"),
    ];
    let server = Arc::new(Server::start_with(binary, url, pool, &env).await?);
    let counter = Arc::new(AtomicU64::new(0));
    let cpu_before = server.cpu_time();
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..args.read_conns)
        .map(|_| {
            let (server, key, counter) = (server.clone(), key.clone(), counter.clone());
            tokio::spawn(async move {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let input =
                        json!({ "code": format!("NEVER-MADE-{n}"), "order": order("g", n) });
                    let t = Instant::now();
                    match server
                        .graphql(&key, VALIDATE, json!({ "input": input }))
                        .await
                    {
                        Ok(r) if r["data"]["validateCoupon"]["valid"] == false => {
                            latencies.push(t.elapsed().as_micros() as u64);
                        }
                        _ => failed += 1,
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let (mut latencies_us, mut failed) = (Vec::new(), 0);
    for task in tasks {
        let (l, f) = task.await?;
        latencies_us.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_before
        .zip(server.cpu_time())
        .map(|(before, after)| after.saturating_sub(before));
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await?;
    }
    Ok(Stats {
        ops: latencies_us.len(),
        failed,
        elapsed,
        latencies_us,
        server_cpu,
    })
}
