//! Load benchmark: the real release server under concurrent GraphQL load, beside a
//! raw-SQL baseline of the same transactions run in the same invocation.
//!
//! For each backend it starts `coupons serve` on a fresh database, creates the coupons,
//! and measures over real HTTP:
//! - `validate`: `validateCoupon` on a random one of many coupons;
//! - `validate-rest`: the same over REST, `POST /api/coupon/validate`;
//! - `redeem-many`: `redeemCoupon` on a random one of many coupons;
//! - `redeem-hot`: `redeemCoupon`, every request on the same coupon;
//! - `reserve-redeem`: `reserveCoupon` then `redeemCoupon(reservationId)`, one operation.
//!
//! It then stops the server and runs the same statements as raw SQL against the same
//! database: pgbench with the scripts in `bench/*.sql` on PostgreSQL, and a plain loop
//! on one connection on SQLite. It also checks that a capped hot coupon never
//! over-redeems. See `docs/performance.md`.
//!
//! With `--enumeration` it measures instead how long a storefront caller waits for
//! `validateCoupon` on an unknown code and on draft, paused, archived, deleted, not yet
//! started and active codes, interleaved on one connection: an outsider must not be
//! able to tell the first five apart by timing either.
//!
//! With `--generate N` it measures code generation instead (see `generate.rs`), and
//! with `--report N` report queries over N redemptions (see `report.rs`).
//!
//! This file reads the flags and hands over to the mode's module: `load` (the default,
//! with its raw-SQL baselines in `baseline`), `enumeration`, `webhooks`, `generate` and
//! `report`; `server`, `scratch` and `stats` are what the modes share, and `ping` the
//! minimal GraphQL server the load mode measures as the HTTP+GraphQL ceiling.
#![expect(
    clippy::print_stderr,
    reason = "progress of a command-line tool goes to stderr"
)]

use std::path::PathBuf;

use clap::Parser;

mod baseline;
mod enumeration;
mod generate;
mod guesses;
mod load;
mod ping;
mod report;
mod scratch;
mod server;
mod stats;
mod webhooks;

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
    /// After the scenarios, add this many codes with `generateCodes` and measure
    /// validate and redeem-many again (0: leave the catalogue rows out).
    #[arg(long, default_value_t = 1_000_000)]
    catalogue: usize,
    /// Measure what counting a failed code check costs instead: failed checks against
    /// a server that counts them and one that does not (see `guesses.rs`).
    #[arg(long)]
    guesses: bool,
    /// Serve the `{ ping }` ceiling server (the load mode starts it itself).
    #[arg(long, hide = true)]
    serve_ping: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.serve_ping {
        return ping::serve().await;
    }
    if let Some(count) = args.generate {
        return generate::run(&args, count).await;
    }
    if let Some(count) = args.report {
        return report::run(&args, count).await;
    }
    if args.webhooks {
        for backend in &args.backends {
            webhooks::run(&args, backend).await?;
        }
        return Ok(());
    }
    if args.guesses {
        for backend in &args.backends {
            guesses::run(&args, backend).await?;
        }
        return Ok(());
    }
    if args.enumeration {
        for backend in &args.backends {
            enumeration::run(&args, backend).await?;
        }
        return Ok(());
    }
    load::run(&args).await
}
