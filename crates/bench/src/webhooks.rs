//! `--webhooks`: webhook delivery throughput and latency to a local receiver, beside
//! a plain sequential POST loop to the same receiver.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::Args;
use crate::scratch::PgDatabase;
use crate::server::{ADMIN_KEY, REDEEM, Server, order, set_up};
use crate::stats::Stats;

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
pub async fn run(args: &Args, backend: &str) -> anyhow::Result<()> {
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
                let input = json!({ "code": format!("BENCH-{}", i % 10 + 1), "order": order("hook", i as u64), "idempotencyKey": format!("hook-{i}") });
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
        server_cpu: None,
    };
    let mut delivered = Stats {
        ops: arrived.len(),
        failed: 0,
        elapsed: last.saturating_duration_since(started),
        latencies_us: latency,
        server_cpu: None,
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
