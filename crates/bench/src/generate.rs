//! `--generate N`: how long the real server takes to generate N single-use codes with
//! `generateCodes`, from the mutation to the job's `SUCCEEDED`, beside the database's
//! own bulk load of N codes of the same shape into a table shaped like `coupon_codes`
//! (same columns, constraints and indexes): `COPY` from a CSV file through `psql` on
//! PostgreSQL, multi-row `INSERT`s in one transaction on SQLite. Afterwards every
//! generated code is read back and checked against its pattern.
//!
//! Run it with `bash bench/run --generate 1000000`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use coupons_domain::CodePattern;
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl as _, SqliteConnection};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use rand::Rng;
use serde_json::json;

use crate::Args;
use crate::scratch::Scratch;
use crate::server::ADMIN_KEY;

const GENERATE: &str = "mutation($i: GenerateCodesInput!) { generateCodes(input: $i) { job { id } userErrors { code message } } }";
const JOB: &str =
    "query($id: ID!) { bulkJob(id: $id) { status done total error startedAt finishedAt } }";

/// Body characters and length of the generated codes: 31^12 leaves a million codes far
/// below the 0.1% fill limit.
const LENGTH: usize = 12;

struct Measured {
    backend: String,
    codes: usize,
    service: Duration,
    baseline: Duration,
    baseline_kind: &'static str,
}

/// Runs the generation benchmark on every backend and prints a table.
pub async fn run(args: &Args, count: usize) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in &args.backends {
        rows.push(one(args, backend, count).await?);
    }
    println!();
    println!(
        "| backend | codes | generateCodes s | codes/s | raw bulk load | raw s | raw codes/s | service / raw time |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|");
    for r in rows {
        let (s, b) = (r.service.as_secs_f64(), r.baseline.as_secs_f64());
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {:.2} | {:.0} | {:.2}× |",
            r.backend,
            r.codes,
            s,
            r.codes as f64 / s,
            r.baseline_kind,
            b,
            r.codes as f64 / b,
            s / b,
        );
    }
    Ok(())
}

async fn one(args: &Args, backend: &str, count: usize) -> anyhow::Result<Measured> {
    let scratch = Scratch::new(args, backend, "generate").await?;
    let (server, coupon) = scratch.serve_with_coupon(args, "GEN-BASE").await?;
    eprintln!("[{backend}] generating {count} codes");
    let started = Instant::now();
    let queued = server
        .graphql(
            ADMIN_KEY,
            GENERATE,
            json!({ "i": { "couponId": coupon, "count": count, "pattern": { "prefix": "G-", "length": LENGTH } } }),
        )
        .await?;
    let job = queued["data"]["generateCodes"]["job"]["id"]
        .as_str()
        .with_context(|| format!("not queued: {queued}"))?
        .to_owned();
    let service = loop {
        let j = server.graphql(ADMIN_KEY, JOB, json!({ "id": job })).await?;
        let j = &j["data"]["bulkJob"];
        match j["status"].as_str() {
            Some("SUCCEEDED") => break started.elapsed(),
            Some("QUEUED" | "RUNNING") => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => bail!("the job did not succeed: {j}"),
        }
    };
    eprintln!("[{backend}] generated in {:.2} s", service.as_secs_f64());
    server.stop().await?;

    let pattern = CodePattern::new("G-", "", LENGTH, None, false)?;
    let baseline_codes: Vec<String> = {
        let other = CodePattern::new("B-", "", LENGTH, None, false)?;
        let mut rng = rand::rng();
        (0..count)
            .map(|_| other.generate(|n| rng.random_range(0..n)))
            .collect()
    };
    let (baseline, baseline_kind, stored) = match (&scratch.pg, &scratch.sqlite) {
        (Some(db), _) => {
            let stored = pg_codes(&db.url).await?;
            (
                pg_copy(&db.url, &baseline_codes).await?,
                "COPY (psql)",
                stored,
            )
        }
        (_, Some(path)) => {
            let path = path.display().to_string();
            let stored = sqlite_codes(&path)?;
            (
                sqlite_insert(&path, &baseline_codes)?,
                "multi-row INSERT, one transaction",
                stored,
            )
        }
        _ => unreachable!("one backend is chosen above"),
    };
    let generated: Vec<&String> = stored.iter().filter(|c| *c != "GEN-BASE").collect();
    if generated.len() != count {
        bail!("{} codes stored, {count} asked for", generated.len());
    }
    if let Some(bad) = generated.iter().find(|c| !pattern.matches(c)) {
        bail!("{bad} does not match its pattern");
    }
    eprintln!("[{backend}] {count} codes stored, all unique (unique index), all of the pattern");
    scratch.remove().await?;
    Ok(Measured {
        backend: backend.to_owned(),
        codes: count,
        service,
        baseline,
        baseline_kind,
    })
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = diesel::sql_types::Text)]
    code: String,
}

async fn pg_codes(url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let rows: Vec<Code> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT code FROM coupon_codes"),
        &mut conn,
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.code).collect())
}

fn sqlite_codes(path: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = SqliteConnection::establish(path)?;
    let rows: Vec<Code> = diesel::sql_query("SELECT code FROM coupon_codes").load(&mut conn)?;
    Ok(rows.into_iter().map(|r| r.code).collect())
}

/// `COPY` of `codes` into a fresh table like `coupon_codes` (constraints, indexes,
/// identity), from a CSV file, through `psql`.
async fn pg_copy(url: &str, codes: &[String]) -> anyhow::Result<Duration> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    conn.batch_execute("CREATE TABLE copy_baseline (LIKE coupon_codes INCLUDING ALL)")
        .await?;
    let file = std::env::temp_dir().join(format!("coupons-copy-{}.csv", std::process::id()));
    let now = chrono::Utc::now().to_rfc3339();
    let mut csv = String::with_capacity(codes.len() * 48);
    for code in codes {
        csv.push_str(&format!("1,{code},1,{now},1\n"));
    }
    std::fs::write(&file, csv)?;
    let started = Instant::now();
    let out = tokio::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!(
            "\\copy copy_baseline (coupon_id, code, usage_limit, created_at, batch_id) FROM '{}' WITH (FORMAT csv)",
            file.display()
        ))
        .output()
        .await
        .context("running psql")?;
    let took = started.elapsed();
    std::fs::remove_file(&file)?;
    if !out.status.success() {
        bail!("COPY failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// Multi-row `INSERT`s of `codes` in one transaction into a fresh table like
/// `coupon_codes` (its own DDL and indexes), with the server's pragmas.
fn sqlite_insert(path: &str, codes: &[String]) -> anyhow::Result<Duration> {
    #[derive(QueryableByName)]
    struct Ddl {
        #[diesel(sql_type = diesel::sql_types::Text)]
        sql: String,
    }
    let mut conn = SqliteConnection::establish(path)?;
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
    )?;
    let ddl: Vec<Ddl> = diesel::sql_query(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'coupon_codes' AND sql IS NOT NULL",
    )
    .load(&mut conn)?;
    for d in ddl {
        let sql = d
            .sql
            .replace("coupon_codes_", "copy_baseline_")
            .replace("coupon_codes", "copy_baseline");
        conn.batch_execute(&sql)?;
    }
    let now = chrono::Utc::now().to_rfc3339();
    let mut statements = String::from("BEGIN;");
    for part in codes.chunks(1000) {
        statements.push_str(
            "INSERT INTO copy_baseline (coupon_id, code, usage_limit, created_at, batch_id) VALUES ",
        );
        let values: Vec<String> = part
            .iter()
            .map(|c| format!("(1,'{c}',1,'{now}',1)"))
            .collect();
        statements.push_str(&values.join(","));
        statements.push(';');
    }
    statements.push_str("COMMIT;");
    let started = Instant::now();
    conn.batch_execute(&statements)?;
    Ok(started.elapsed())
}
