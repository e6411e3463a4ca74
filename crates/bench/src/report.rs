//! `--report N`: how long `couponReport` takes over the real server when the coupon has
//! N redemptions (written straight into the table, spread over 30 days, three channels
//! and 50,000 customers), beside the raw SQL of its largest single aggregate (the
//! per-currency totals) run on its own. Each figure is the median of 5 runs.

use std::time::{Duration, Instant};

use anyhow::bail;
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::json;

use crate::Args;
use crate::scratch::Scratch;
use crate::server::ADMIN_KEY;

const REPORT: &str = "query($c: ID!, $from: DateTime!, $to: DateTime!, $b: ReportBucket!) {
  couponReport(couponId: $c, from: $from, to: $to, bucket: $b) {
    codesIssued validationAttempts reservations uniqueCustomers codesRedeemed redemptionRate
    totals { redemptions reversals totalDiscount { amount } totalOrderValue { amount } }
    series { start figures { redemptions } } channels { channel figures { redemptions } } } }";

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the report benchmark on every backend and prints a table.
pub async fn run(args: &Args, count: usize) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in &args.backends {
        rows.push(one(args, backend, count).await?);
    }
    println!();
    println!(
        "| backend | redemptions | couponReport, 30 days by DAY (ms) | couponReport, 7 days by HOUR (ms) | raw totals query, 30 days (ms) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (backend, day, hour, raw) in rows {
        println!(
            "| {backend} | {count} | {:.1} | {:.1} | {:.1} |",
            day.as_secs_f64() * 1e3,
            hour.as_secs_f64() * 1e3,
            raw.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn fill_sql(backend: &str, count: usize) -> String {
    let columns = "coupon_id, code_id, code, status, holds_use, customer_key, email_domain, order_id, \
        channel, currency, subtotal_minor, discount_minor, refunded_minor, created_at, redeemed_at, updated_at";
    match backend {
        "postgres" => format!(
            "INSERT INTO redemptions ({columns}) SELECT 1, 1, 'REPORT-1', 'REDEEMED', true, 'c' || (g % 50000), 'x.test', \
             'o' || g, (ARRAY['web', 'app', NULL])[1 + g % 3], 'USD', 5000 + g % 1000, 500, 0, \
             now() - (g % 720) * interval '1 hour', now() - (g % 720) * interval '1 hour', now() \
             FROM generate_series(1, {count}) AS g; ANALYZE redemptions;"
        ),
        _ => format!(
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) \
             INSERT INTO redemptions ({columns}) SELECT 1, 1, 'REPORT-1', 'REDEEMED', 1, 'c' || (g % 50000), 'x.test', \
             'o' || g, CASE g % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'app' END, 'USD', 5000 + g % 1000, 500, 0, \
             strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '-' || (g % 720) || ' hours'), \
             strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '-' || (g % 720) || ' hours'), \
             strftime('%Y-%m-%d %H:%M:%f+00:00', 'now') FROM s; ANALYZE;"
        ),
    }
}

fn raw_sql(backend: &str) -> String {
    let since = match backend {
        "postgres" => "now() - interval '30 days'",
        _ => "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '-30 days')",
    };
    format!(
        "SELECT currency, COUNT(*), SUM(discount_minor - refunded_minor), SUM(subtotal_minor) \
         FROM redemptions WHERE coupon_id = 1 AND redeemed_at IS NOT NULL AND redeemed_at >= {since} \
         GROUP BY currency"
    )
}

async fn one(
    args: &Args,
    backend: &str,
    count: usize,
) -> anyhow::Result<(String, Duration, Duration, Duration)> {
    let scratch = Scratch::new(args, backend, "report").await?;
    let (server, coupon) = scratch.serve_with_coupon(args, "REPORT-1").await?;
    eprintln!("[{backend}] writing {count} redemptions");
    let fill = fill_sql(backend, count);
    let raw = raw_sql(backend);
    let mut raw_times = Vec::new();
    match (&scratch.pg, &scratch.sqlite) {
        (Some(db), _) => {
            let mut conn = AsyncPgConnection::establish(&db.url).await?;
            conn.batch_execute(&fill).await?;
            for _ in 0..RUNS {
                let t = Instant::now();
                conn.batch_execute(&raw).await?;
                raw_times.push(t.elapsed());
            }
        }
        (_, Some(path)) => {
            let mut conn = SqliteConnection::establish(&path.display().to_string())?;
            conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
            conn.batch_execute(&fill)?;
            for _ in 0..RUNS {
                let t = Instant::now();
                conn.batch_execute(&raw)?;
                raw_times.push(t.elapsed());
            }
        }
        _ => unreachable!("one backend is chosen above"),
    }
    let now = chrono::Utc::now();
    let timed = |days: i64, bucket: &'static str| {
        let vars = json!({ "c": coupon, "from": (now - chrono::Duration::days(days)).to_rfc3339(),
            "to": (now + chrono::Duration::hours(1)).to_rfc3339(), "b": bucket });
        let server = &server;
        async move {
            let mut times = Vec::new();
            let mut redemptions = 0;
            for _ in 0..RUNS {
                let t = Instant::now();
                let r = server.graphql(ADMIN_KEY, REPORT, vars.clone()).await?;
                times.push(t.elapsed());
                redemptions = r["data"]["couponReport"]["totals"]["redemptions"]
                    .as_i64()
                    .unwrap_or(0);
            }
            anyhow::Ok((median(times), redemptions))
        }
    };
    let (day, in_month) = timed(30, "DAY").await?;
    let (hour, in_week) = timed(7, "HOUR").await?;
    eprintln!("[{backend}] report counted {in_month} redemptions in 30 days, {in_week} in 7 days");
    if in_month as usize != count {
        bail!("the 30-day report counted {in_month} of {count} redemptions");
    }
    server.stop().await?;
    scratch.remove().await?;
    Ok((backend.to_owned(), day, hour, median(raw_times)))
}
