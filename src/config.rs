//! Configuration: read once at start from flags and environment variables, typed, and
//! passed down. Nothing else reads the environment. Tests build these structs in code.

use std::net::SocketAddr;
use std::time::Duration;

use crate::storage::PoolOptions;

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://coupons.db")]
    pub database_url: String,
    /// Most database connections this instance holds open.
    #[arg(long, env = "COUPONS_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub db_pool_size: u16,
}

impl DatabaseConfig {
    /// Pool settings derived from this configuration.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: usize::from(self.db_pool_size),
            wait_timeout: Duration::from_secs(5),
        }
    }
}

/// Where rule scripts are, and the sandbox they run in.
#[derive(Debug, Clone, clap::Args)]
pub struct RulesConfig {
    /// Directory of rule scripts (`*.rhai`), watched for changes while serving.
    #[arg(long, env = "COUPONS_RULES_DIR", default_value = "rules")]
    pub rules_dir: std::path::PathBuf,
    /// Operations one rule call may perform.
    #[arg(long, env = "COUPONS_RULE_MAX_OPERATIONS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub rule_max_operations: u64,
    /// Wall-clock milliseconds one rule call may take.
    #[arg(long, env = "COUPONS_RULE_DEADLINE_MS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub rule_deadline_ms: u64,
    /// Nested function calls a rule may make.
    #[arg(long, env = "COUPONS_RULE_MAX_CALL_LEVELS", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(4..=256))]
    pub rule_max_call_levels: u64,
    /// Longest string a rule may build, in bytes.
    #[arg(long, env = "COUPONS_RULE_MAX_STRING_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(256..=16_777_216))]
    pub rule_max_string_bytes: u64,
}

impl RulesConfig {
    /// The sandbox limits this configuration sets.
    pub fn limits(&self) -> crate::rules::RuleLimits {
        crate::rules::RuleLimits {
            max_operations: self.rule_max_operations,
            max_call_levels: usize::try_from(self.rule_max_call_levels).unwrap_or(32),
            max_string_size: usize::try_from(self.rule_max_string_bytes).unwrap_or(65_536),
            deadline: Duration::from_millis(self.rule_deadline_ms),
            ..crate::rules::RuleLimits::default()
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `serve` needs.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// Rule settings.
    #[command(flatten)]
    pub rules: RulesConfig,
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, env = "COUPONS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// An extra admin API key accepted besides the stored ones, for scripted set-ups
    /// (at least 32 characters). When set, no first admin key is generated.
    #[arg(long, env = "COUPONS_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Days until a coupon created without `expiresAt` expires (counted from its start).
    /// Unset: such coupons never expire.
    #[arg(long, env = "COUPONS_DEFAULT_EXPIRATION_DAYS",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub default_expiration_days: Option<u32>,
    /// Serve the GraphiQL playground at `GET /graphql`.
    #[arg(long, env = "COUPONS_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,
    /// Log format.
    #[arg(long, env = "COUPONS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Key for the keyed hashes of customer ids and e-mails (at least 32 characters).
    /// Unset: one is generated on first start and kept in the database.
    #[arg(long, env = "COUPONS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Minutes a reservation holds a use when the call names no hold time.
    #[arg(long, env = "COUPONS_RESERVATION_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub reservation_minutes: u32,
    /// Hours an idempotency key's first response is kept and replayed (at least 24).
    #[arg(long, env = "COUPONS_IDEMPOTENCY_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(24..=8760))]
    pub idempotency_hours: u32,
    /// Seconds between sweeps that expire overdue reservations and old idempotency keys.
    #[arg(long, env = "COUPONS_SWEEP_SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sweep_seconds: u64,
}

/// The shortest `COUPONS_ADMIN_KEY` accepted.
pub const ADMIN_KEY_MIN_LEN: usize = 32;

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `COUPONS_ADMIN_KEY` is too short to be a secret.
    #[error("COUPONS_ADMIN_KEY must be at least {ADMIN_KEY_MIN_LEN} characters long")]
    AdminKeyTooShort,
    /// `COUPONS_SECRET` is too short to be a key.
    #[error("COUPONS_SECRET must be at least {ADMIN_KEY_MIN_LEN} characters long")]
    SecretTooShort,
}

impl ServeConfig {
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .admin_key
            .as_deref()
            .is_some_and(|k| k.trim().len() < ADMIN_KEY_MIN_LEN)
        {
            return Err(ConfigError::AdminKeyTooShort);
        }
        if self
            .secret
            .as_deref()
            .is_some_and(|k| k.len() < ADMIN_KEY_MIN_LEN)
        {
            return Err(ConfigError::SecretTooShort);
        }
        Ok(())
    }
}
