//! `--enumeration`: how long a storefront caller waits for `validateCoupon` on an
//! unknown code and on draft, paused, archived, deleted, not yet started and active
//! codes, interleaved on one connection.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use crate::Args;
use crate::scratch::PgDatabase;
use crate::server::{ADMIN_KEY, CREATE, Server, order, set_up};
use crate::stats::Stats;

/// Validation latency per kind of code, as a storefront caller sees it.
pub async fn run(args: &Args, backend: &str) -> anyhow::Result<()> {
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
            let input = json!({ "code": code, "order": order("enum", round as u64) });
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
            server_cpu: None,
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
