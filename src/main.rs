//! The `coupons` command: `serve` (the default), `migrate`, `api-key create`,
//! `reconcile`, `check-rules`, `export`, `import`, `print-schema`, `print-openapi`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use coupons::app::{self, redact_url};
use coupons::auth::{self, Role};
use coupons::config::{
    DatabaseConfig, Environment, LogFormat, MasterKeyConfig, RulesConfig, ServeConfig,
};
use coupons::ids::{self, Kind};
use coupons::rules::{RuleOrigin, Rules};
use coupons::service::maintenance;
use coupons::service::secrets::{Reseal, reseal};
use coupons::service::transfer::{self, ImportError};
use coupons::storage::{Db, RedemptionFilter};
use coupons_domain::CouponId;
use tracing_subscriber::EnvFilter;

/// Coupon-code service: validate, reserve and redeem discount codes over GraphQL.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default). Migrates the database first.
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Manage API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Recompute every usage counter from the redemption rows; report each mismatch and
    /// exit non-zero if there is any. With `--payments`, also compare every order paid
    /// through a payment provider with what its payment events say.
    Reconcile(ReconcileArgs),
    /// Compile every rule in the rules directory and run each rule's examples; exit
    /// non-zero if any fails.
    CheckRules(RulesConfig),
    /// The rules in force.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Write codes or redemptions as CSV to standard output (or `--out`).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Import codes from a CSV file: all rows or, when any is bad, none (every bad row is
    /// reported with its line).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Seal every stored secret (webhook signing secrets, the generated service secret)
    /// again under the current master key, in one transaction. Run it once every
    /// instance has the new key as `COUPONS_MASTER_KEY` and the old one as
    /// `COUPONS_MASTER_KEY_PREVIOUS`; then the old key may go.
    RotateMasterKey(RotateArgs),
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    PrintSchema,
    /// Print the REST API's OpenAPI 3.1 document; `openapi.json` is this output.
    PrintOpenapi,
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    master_key: MasterKeyConfig,
    /// `development` or `production`, as the service runs.
    #[arg(long = "env", env = "COUPONS_ENV", value_enum, default_value_t = Environment::Development)]
    environment: Environment,
}

#[derive(Debug, clap::Args)]
struct ReconcileArgs {
    /// Also check the books against the payment providers' events: amount captured
    /// against subtotal less discount, refunds and lost disputes against reversals.
    #[arg(long)]
    payments: bool,
    #[command(flatten)]
    database: DatabaseConfig,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// A coupon's codes: code, usage_limit, redemption_count, reserved_count, active,
    /// batch_id, created_at.
    Codes {
        /// The coupon's ID.
        #[arg(long)]
        coupon: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Redemptions, oldest first, of one coupon or campaign and within a time range when
    /// given.
    Redemptions {
        /// Only this coupon's (its ID).
        #[arg(long)]
        coupon: Option<String>,
        /// Only those made under this campaign (its ID).
        #[arg(long)]
        campaign: Option<String>,
        /// Made at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Made before this instant (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Every rule in force, with where it comes from: shipped in the binary, a file of
    /// the rules directory (which overrides a shipped rule), or published (with its
    /// version; it overrides both).
    List {
        #[command(flatten)]
        rules: RulesConfig,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Codes for a coupon from a CSV file with a header: `code`, and optionally
    /// `usage_limit` and `active`.
    Codes {
        /// The coupon's ID.
        #[arg(long)]
        coupon: String,
        /// The CSV file (`-` for standard input).
        file: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it (it is shown only once).
    Create {
        /// admin, storefront, analyst or public.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Who or what the key is for.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// `serve` with nothing but environment and defaults.
#[derive(Debug, Parser)]
struct ServeDefaults {
    #[command(flatten)]
    config: ServeConfig,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("unknown role {s:?}: use admin, storefront, analyst or public"))
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeDefaults::parse_from(["coupons"]).config).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::Migrate(database)) => migrate(database).await,
        Some(Command::RotateMasterKey(args)) => rotate_master_key(&args).await,
        Some(Command::ApiKey(ApiKeyCommand::Create {
            role,
            name,
            database,
        })) => create_key(database, role, &name).await,
        Some(Command::Reconcile(database)) => match reconcile(database).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::Rules(RulesCommand::List { rules, database })) => {
            list_rules(&rules, database).await
        }
        Some(Command::CheckRules(rules)) => match check_rules(&rules) {
            true => Ok(()),
            false => return ExitCode::FAILURE,
        },
        Some(Command::Export(command)) => export(command).await,
        Some(Command::Import(ImportCommand::Codes {
            coupon,
            file,
            database,
        })) => match import_codes(&coupon, &file, database).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some(Command::PrintSchema) => {
            print!("{}", coupons::graphql::sdl());
            Ok(())
        }
        Some(Command::PrintOpenapi) => {
            print!("{}", coupons::rest::openapi_json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln_error(&e);
            ExitCode::FAILURE
        }
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the CLI's last word on failure goes to stderr"
)]
fn eprintln_error(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let server = app::prepare(&config).await?;
    let base = format!("http://{}", server.local_addr);
    println!(
        "Coupon service {} on {} ({})",
        env!("CARGO_PKG_VERSION"),
        server.backend,
        redact_url(&config.database.database_url)
    );
    println!("Listening on {base}");
    println!("GraphQL:  POST {base}/graphql");
    if config.graphiql {
        println!("GraphiQL: {base}/graphql");
    }
    println!("REST:     {base}/api (reference: {base}/api/docs)");
    match server.metrics_addr {
        Some(addr) => println!("Metrics:  http://{addr}/metrics (no key: for scrapers)"),
        None => println!("Metrics:  {base}/metrics (admin keys)"),
    }
    if config.demo {
        println!("Demo:     {base}/demo");
    }
    if let Some(key) = &server.first_admin_key {
        println!();
        println!(
            "First start: created an admin API key. It is shown only this once; store it now:"
        );
        println!("    {key}");
        println!("Send it as the header   Authorization: Bearer {key}");
        println!("(in GraphiQL: paste it into the API key box at the top)");
        println!();
    } else if config.admin_key.is_none() {
        println!(
            "No admin key printed: only the first start on an empty database prints one. \
             To make another: coupons api-key create --role admin --name NAME"
        );
    }
    println!("Press Ctrl-C to stop.");
    tracing::info!(addr = %server.local_addr, backend = server.backend, "serving");
    server.serve().await
}

async fn connect(database: &DatabaseConfig) -> anyhow::Result<Db> {
    database
        .open()
        .with_context(|| format!("opening {}", redact_url(&database.database_url)))
}

async fn migrate(database: DatabaseConfig) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    let db = connect(&database).await?;
    let applied = db.run_migrations().await?;
    if applied.is_empty() {
        println!("Database is up to date.");
    } else {
        for m in applied {
            println!("Applied {m}");
        }
    }
    Ok(())
}

/// Re-seals every stored secret under the current master key.
async fn rotate_master_key(args: &RotateArgs) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    let url = &args.database.database_url;
    let sealer = args.master_key.sealer(args.environment, url)?;
    let db = connect(&args.database).await?;
    db.run_migrations().await?;
    let changed = reseal(&db, &sealer, Reseal::NotCurrent).await?;
    println!(
        "Sealed {changed} secret(s) again under master key {}; every stored secret is sealed with it.",
        sealer.key_id()
    );
    Ok(())
}

/// Prints every rule in force and where it comes from.
async fn list_rules(config: &RulesConfig, database: DatabaseConfig) -> anyhow::Result<()> {
    let rules = Rules::new(config.limits());
    for e in rules
        .load_shipped()
        .iter()
        .chain(&rules.load_dir(&config.rules_dir))
    {
        println!("not loaded: {e}");
    }
    let db = connect(&database).await?;
    coupons::service::rules::sync_published(&db, &rules).await?;
    let in_force = rules.in_force();
    let width = in_force
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  SOURCE", "NAME");
    for rule in in_force {
        let source = match &rule.origin {
            RuleOrigin::Shipped => "shipped".to_owned(),
            RuleOrigin::File(path) => format!("file {}", path.display()),
            RuleOrigin::Published { version } => format!("published v{version}"),
            RuleOrigin::Inline => "inline".to_owned(),
        };
        println!("{:width$}  {source}", rule.name);
    }
    Ok(())
}

/// Compiles every rule and runs its examples; `true` when all is well.
fn check_rules(config: &RulesConfig) -> bool {
    let rules = Rules::new(config.limits());
    let mut ok = true;
    for e in rules
        .load_shipped()
        .iter()
        .chain(&rules.load_dir(&config.rules_dir))
    {
        println!("FAIL {e}");
        ok = false;
    }
    for name in rules.names() {
        let Some(rule) = rules.get(&name) else {
            continue;
        };
        match rules.run_examples(&rule) {
            Err(e) => {
                println!("FAIL {e}");
                ok = false;
            }
            Ok(results) => {
                let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
                for r in &failed {
                    println!(
                        "FAIL {name}: example {:?}: {}",
                        r.name,
                        r.failure.as_deref().unwrap_or_default()
                    );
                }
                ok &= failed.is_empty();
                println!(
                    "{} {name}: {} example(s)",
                    if failed.is_empty() { "ok  " } else { "FAIL" },
                    results.len()
                );
            }
        }
    }
    println!(
        "{}",
        if ok {
            "All rules compile and pass their examples."
        } else {
            "Some rules failed."
        }
    );
    ok
}

/// The row id of a global ID of `kind`.
fn global_id(id: &str, kind: Kind, what: &str) -> anyhow::Result<i64> {
    ids::decode(kind, id).with_context(|| format!("{id:?} is not a {what} ID"))
}

async fn export(command: ExportCommand) -> anyhow::Result<()> {
    use std::io::Write;

    use futures_util::StreamExt as _;
    init_logging(LogFormat::Text);
    let (stream, out) = match command {
        ExportCommand::Codes {
            coupon,
            out,
            database,
        } => {
            let coupon = CouponId(global_id(&coupon, Kind::Coupon, "coupon")?);
            let db = connect(&database).await?;
            let found = db
                .read(async move |mut c| coupons::storage::coupons::coupon(&mut c, coupon).await)
                .await?;
            anyhow::ensure!(found.is_some(), "coupon not found");
            (transfer::export_codes(db, coupon).boxed(), out)
        }
        ExportCommand::Redemptions {
            coupon,
            campaign,
            since,
            until,
            out,
            database,
        } => {
            let filter = RedemptionFilter {
                coupon_id: coupon
                    .map(|c| global_id(&c, Kind::Coupon, "coupon"))
                    .transpose()?,
                campaign_id: campaign
                    .map(|c| global_id(&c, Kind::Campaign, "campaign"))
                    .transpose()?,
                since,
                until,
                ..Default::default()
            };
            let db = connect(&database).await?;
            (transfer::export_redemptions(db, filter).boxed(), out)
        }
    };
    // A command-line tool: plain blocking writes, one page at a time.
    let mut writer: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        writer.write_all(&chunk?)?;
    }
    writer.flush()?;
    Ok(())
}

/// `Ok(false)` when the file has bad rows (each printed); nothing is written then.
async fn import_codes(
    coupon: &str,
    file: &std::path::Path,
    database: DatabaseConfig,
) -> anyhow::Result<bool> {
    init_logging(LogFormat::Text);
    let coupon = CouponId(global_id(coupon, Kind::Coupon, "coupon")?);
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let db = connect(&database).await?;
    let actor = coupons::storage::Actor::system("command line");
    match transfer::import_codes(&db, coupon, &bytes, &actor).await {
        Ok(n) => {
            println!("Imported {n} code(s).");
            Ok(true)
        }
        Err(ImportError::Rows(errors)) => {
            println!(
                "Nothing imported: {} row(s) cannot be imported.",
                errors.len()
            );
            for e in errors {
                println!(
                    "line {}{}: {} ({})",
                    e.line,
                    e.column.map(|c| format!(", {c}")).unwrap_or_default(),
                    e.message,
                    e.code
                );
            }
            Ok(false)
        }
        Err(ImportError::CouponNotFound) => anyhow::bail!("coupon not found"),
        Err(ImportError::Storage(e)) => Err(e.into()),
    }
}

/// `Ok(true)` when every counter equals its rows (and, with `--payments`, every paid
/// order balances).
async fn reconcile(args: ReconcileArgs) -> anyhow::Result<bool> {
    init_logging(LogFormat::Text);
    let db = connect(&args.database).await?;
    let counters = reconcile_counters(&db).await?;
    if !args.payments {
        return Ok(counters);
    }
    let (checked, unbalanced) = coupons::service::payments::unbalanced(&db)
        .await
        .context("comparing orders with their payments")?;
    if unbalanced.is_empty() {
        println!("All {checked} payment(s) balance with their orders' discounts.");
        return Ok(counters);
    }
    let count: usize = unbalanced.iter().map(|u| u.imbalances.len()).sum();
    println!(
        "{count} mismatch(es) in {} of {checked} payment(s):",
        unbalanced.len()
    );
    println!(
        "{:<10} {:<28} {:<24} {:<22} detail",
        "provider", "payment", "order", "mismatch"
    );
    for u in &unbalanced {
        for i in &u.imbalances {
            println!(
                "{:<10} {:<28} {:<24} {:<22} {}",
                u.payment.provider.as_str(),
                u.payment.payment_ref,
                u.order_id.as_deref().unwrap_or("-"),
                i.code(),
                coupons::service::payments::describe(i)
            );
        }
    }
    Ok(false)
}

async fn reconcile_counters(db: &Db) -> anyhow::Result<bool> {
    let mismatches = maintenance::reconcile(db)
        .await
        .context("recomputing counters")?;
    if mismatches.is_empty() {
        println!("All coupon, code and campaign counters equal their redemption rows.");
        return Ok(true);
    }
    println!("{} counter(s) differ from their rows:", mismatches.len());
    println!(
        "{:<8} {:>10} {:<18} {:>10} {:>10}",
        "entity", "id", "counter", "stored", "actual"
    );
    for m in &mismatches {
        println!(
            "{:<8} {:>10} {:<18} {:>10} {:>10}",
            m.entity, m.id, m.counter, m.stored, m.actual
        );
    }
    Ok(false)
}

async fn create_key(database: DatabaseConfig, role: Role, name: &str) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "--name must be 1 to 200 characters"
    );
    let db = connect(&database).await?;
    db.run_migrations().await?;
    let key = auth::create_api_key(&db, name, role).await?;
    println!(
        "Created {role} key {:?} ({}). It is shown only this once:",
        key.stored.name, key.stored.prefix
    );
    println!("{}", key.secret);
    Ok(())
}
