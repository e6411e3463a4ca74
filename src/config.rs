//! Configuration: read once at start from flags and environment variables, typed, and
//! passed down. Nothing else reads the environment. Tests build these structs in code.

use std::time::Duration;

use crate::auth::Role;
use crate::router::{CorsOrigins, HttpSettings};
use crate::service::coupons::CouponDefaults;
use crate::service::limiter::{Budget, LimiterSettings};
use crate::storage::PoolOptions;
use crate::webhooks::WebhookSettings;
use chrono::TimeDelta;
use coupons_domain::defaults::{CodeFormat, DiscountType};
use coupons_domain::delivery::{BreakerPolicy, RetryPolicy};

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://coupons.db")]
    pub database_url: String,
    /// A PostgreSQL replica for reports, exports and reconciliation (`postgres://…`);
    /// unset: they read the primary.
    #[arg(long, env = "COUPONS_READ_DATABASE_URL")]
    pub read_database_url: Option<String>,
    /// Most database connections this instance holds open.
    #[arg(long, env = "COUPONS_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub db_pool_size: u16,
}

impl DatabaseConfig {
    /// Opens the database pool, with the read replica when one is configured.
    pub fn open(&self) -> Result<crate::storage::Db, crate::storage::StorageError> {
        let db = crate::storage::Db::connect(&self.database_url, self.pool_options())?;
        match &self.read_database_url {
            Some(url) => db.with_replica(url, self.pool_options()),
            None => Ok(db),
        }
    }

    /// Pool settings derived from this configuration.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: usize::from(self.db_pool_size),
            wait_timeout: Duration::from_secs(5),
        }
    }
}

/// The master key secrets are sealed with at rest (see `crate::seal`).
#[derive(Debug, Clone, clap::Args)]
pub struct MasterKeyConfig {
    /// The master key: 64 hex digits or base64 of 32 bytes (`openssl rand -hex 32`).
    /// Required in production unless `COUPONS_MASTER_KEY_FILE` is set; in development,
    /// when neither is set, a key file is made at the first start (see the operations
    /// guide).
    #[arg(long, env = "COUPONS_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A file holding the master key (instead of `COUPONS_MASTER_KEY`).
    #[arg(long, env = "COUPONS_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,
    /// Earlier master keys, comma-separated: values sealed with them still open, until
    /// `coupons rotate-master-key` has re-sealed them with the current key.
    #[arg(
        long,
        env = "COUPONS_MASTER_KEY_PREVIOUS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub master_key_previous: Vec<String>,
}

impl MasterKeyConfig {
    /// The sealer of this configuration. Without a key in development, the key file of
    /// `database_url` is read, or made (mode 0600) at the first start.
    pub fn sealer(
        &self,
        environment: Environment,
        database_url: &str,
    ) -> Result<crate::seal::Sealer, ConfigError> {
        use crate::seal::{Sealer, parse_key};
        let bad =
            |what: &str, e: crate::seal::SealError| ConfigError::MasterKey(format!("{what}: {e}"));
        let current = match (&self.master_key, &self.master_key_file) {
            (Some(key), _) => parse_key(key).map_err(|e| bad("COUPONS_MASTER_KEY", e))?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::MasterKey(format!(
                        "COUPONS_MASTER_KEY_FILE {}: {e}",
                        path.display()
                    ))
                })?;
                parse_key(&text).map_err(|e| bad("COUPONS_MASTER_KEY_FILE", e))?
            }
            (None, None) if environment == Environment::Production => {
                return Err(ConfigError::MasterKeyRequired);
            }
            (None, None) => {
                let path = development_key_file(database_url);
                let text = read_or_make_key_file(&path).map_err(|e| {
                    ConfigError::MasterKey(format!(
                        "the development key file {}: {e}",
                        path.display()
                    ))
                })?;
                parse_key(&text).map_err(|e| bad(&path.display().to_string(), e))?
            }
        };
        let previous = self
            .master_key_previous
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| parse_key(k).map_err(|e| bad("COUPONS_MASTER_KEY_PREVIOUS", e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sealer::new(&current, &previous))
    }
}

/// Where development keeps its master key: beside the SQLite database file
/// (`coupons.db.key`), or for PostgreSQL in the user's data directory.
pub fn development_key_file(database_url: &str) -> std::path::PathBuf {
    let sqlite = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"));
    match sqlite {
        Some(path) => std::path::PathBuf::from(format!("{path}.key")),
        None => {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share"))
                })
                .unwrap_or_else(std::env::temp_dir);
            data.join("coupons").join("master.key")
        }
    }
}

/// Reads the key file at `path`, or makes it with a new key (readable by its owner
/// only). Two first starts at once agree on one key: the one that loses the race to
/// create the file reads the other's.
fn read_or_make_key_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let key = crate::seal::new_key();
            file.write_all(format!("{key}\n").as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "made a master key file for development");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // The other start may still be writing it.
            for _ in 0..50 {
                let text = std::fs::read_to_string(path)?;
                if text.ends_with('\n') {
                    return Ok(text);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            std::fs::read_to_string(path)
        }
        Err(e) => Err(e),
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

/// How the service is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// A developer's machine: a missing `COUPONS_SECRET` is generated and kept in the
    /// database.
    Development,
    /// Production: `COUPONS_SECRET` is required.
    Production,
}

/// Limits of the GraphQL endpoint and of code guessing.
#[derive(Debug, Clone, clap::Args)]
pub struct SecurityConfig {
    /// Largest request body, in bytes.
    #[arg(long, env = "COUPONS_MAX_BODY_BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u64).range(1_024..=67_108_864))]
    pub max_body_bytes: u64,
    /// Most requests in one JSON batch (a list of requests in one body).
    #[arg(long, env = "COUPONS_MAX_BATCH", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=1_000))]
    pub max_batch: u16,
    /// Most aliased fields in one GraphQL document.
    #[arg(long, env = "COUPONS_MAX_ALIASES", default_value_t = 30,
          value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub max_aliases: u16,
    /// Milliseconds a request may run before it is abandoned (HTTP 503, `TIMEOUT`).
    #[arg(long, env = "COUPONS_REQUEST_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub request_timeout_ms: u64,
    /// Roles whose keys may query the schema by introspection (comma-separated, or
    /// `none`). GraphiQL needs it.
    #[arg(long, env = "COUPONS_INTROSPECTION", default_value = "admin,analyst")]
    pub introspection: String,
    /// Header in which a proxy in front of the service passes the client's address
    /// (e.g. `x-forwarded-for`; its last entry is used). Unset: the TCP peer address.
    /// Set it only behind a proxy that overwrites the header.
    #[arg(long, env = "COUPONS_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,
    /// Origins whose pages may call the API from a browser (comma-separated
    /// `scheme://host[:port]`, or `*` for any; credentials are never allowed). Unset:
    /// none but the service's own pages.
    #[arg(long, env = "COUPONS_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Least milliseconds a storefront or public caller waits for `NOT_FOUND`, so that
    /// unknown and inactive codes take the same time to answer (0: no floor).
    #[arg(long, env = "COUPONS_NOT_FOUND_FLOOR_MS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub not_found_floor_ms: u64,
    /// Milliseconds a client may take to send a request's headers, and to start its
    /// first request after connecting.
    #[arg(long, env = "COUPONS_HEADER_READ_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub header_read_timeout_ms: u64,
    /// Seconds a kept-alive connection may sit idle between requests (keep it above
    /// the idle timeout of a load balancer in front).
    #[arg(long, env = "COUPONS_KEEP_ALIVE_SECONDS", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub keep_alive_seconds: u64,
    /// Milliseconds a client may take to send a request's body (`408 BODY_TIMEOUT`).
    #[arg(long, env = "COUPONS_BODY_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub body_read_timeout_ms: u64,
    /// Milliseconds a WebSocket may stay open before its `connection_init` (then it is
    /// closed with 4408).
    #[arg(long, env = "COUPONS_WS_INIT_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub ws_init_timeout_ms: u64,
    /// Seconds between the server's pings on each WebSocket.
    #[arg(long, env = "COUPONS_WS_PING_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub ws_ping_seconds: u64,
    /// Seconds a WebSocket's peer has to answer a ping (then it is closed with 3008).
    #[arg(long, env = "COUPONS_WS_PONG_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub ws_pong_timeout_seconds: u64,
    /// Most open WebSockets per client address (more: HTTP 429 at the upgrade).
    #[arg(long, env = "COUPONS_WS_MAX_PER_IP", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_per_ip: u32,
    /// Most open WebSockets per API key (more: `connection_init` is refused).
    #[arg(long, env = "COUPONS_WS_MAX_PER_KEY", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_per_key: u32,
    /// Seconds over which failed code checks are counted.
    #[arg(long, env = "COUPONS_ATTEMPT_WINDOW_SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub attempt_window_seconds: u64,
    /// Seconds a caller who used up a budget is refused with `THROTTLED`.
    #[arg(long, env = "COUPONS_LOCKOUT_SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lockout_seconds: u64,
    /// Failed code checks allowed per window to `public` callers, per key, client
    /// address and customer (`0`: no limit).
    #[arg(
        long,
        env = "COUPONS_PUBLIC_ATTEMPT_LIMITS",
        default_value = "key=1000,ip=10,customer=5"
    )]
    pub public_attempt_limits: Budget,
    /// The same for `storefront` callers.
    #[arg(
        long,
        env = "COUPONS_STOREFRONT_ATTEMPT_LIMITS",
        default_value = "key=10000,ip=0,customer=10"
    )]
    pub storefront_attempt_limits: Budget,
    /// Abuse detection's thresholds, `name=value` pairs (see `docs/abuse.md`); a name
    /// left out keeps its default.
    #[arg(long, env = "COUPONS_ABUSE_THRESHOLDS", default_value = "")]
    pub abuse_thresholds: coupons_domain::abuse::Thresholds,
    /// What detection does by itself about a coupon with no action of its own (nor its
    /// campaign): `ALERT`, `REQUIRE_CUSTOMER`, `STEP_UP_LIMITS` or `PAUSE`.
    #[arg(long, env = "COUPONS_ABUSE_ACTION", default_value = "ALERT")]
    pub abuse_action: coupons_domain::abuse::AbuseAction,
    /// Seconds between two looks for abuse (each instance looks).
    #[arg(long, env = "COUPONS_ABUSE_INTERVAL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub abuse_interval_seconds: u64,
}

impl SecurityConfig {
    /// The roles allowed to introspect.
    pub fn introspection_roles(&self) -> Result<Vec<Role>, ConfigError> {
        let list = self.introspection.trim();
        if list.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        list.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| Role::parse(r).ok_or_else(|| ConfigError::UnknownRole(r.to_owned())))
            .collect()
    }

    /// The origins of `COUPONS_CORS_ORIGINS`.
    pub fn cors(&self) -> Result<CorsOrigins, ConfigError> {
        let Some(list) = self
            .cors_origins
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        else {
            return Ok(CorsOrigins::None);
        };
        if list == "*" {
            return Ok(CorsOrigins::Any);
        }
        list.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                // An origin is a scheme, a host and maybe a port: nothing after them.
                let bad = || ConfigError::BadOrigin(o.to_owned());
                let url = url::Url::parse(o).map_err(|_| bad())?;
                let bare = matches!(url.scheme(), "http" | "https")
                    && url.path() == "/"
                    && url.query().is_none()
                    && url.fragment().is_none()
                    && url.username().is_empty();
                if !bare {
                    return Err(bad());
                }
                axum::http::HeaderValue::try_from(url.origin().ascii_serialization())
                    .map_err(|_| bad())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CorsOrigins::List)
    }

    /// The HTTP endpoint's settings.
    pub fn http_settings(&self, graphiql: bool) -> Result<HttpSettings, ConfigError> {
        let trusted_proxy_header = match &self.trusted_proxy_header {
            None => None,
            Some(h) => Some(
                axum::http::HeaderName::try_from(h.trim())
                    .map_err(|_| ConfigError::BadHeaderName(h.clone()))?,
            ),
        };
        Ok(HttpSettings {
            graphiql,
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
            max_batch: usize::from(self.max_batch),
            max_aliases: usize::from(self.max_aliases),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            introspection: self.introspection_roles()?,
            trusted_proxy_header,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_seconds),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            ws_init_timeout: Duration::from_millis(self.ws_init_timeout_ms),
            ws_ping_interval: Duration::from_secs(self.ws_ping_seconds),
            ws_pong_timeout: Duration::from_secs(self.ws_pong_timeout_seconds),
            ws_max_per_ip: self.ws_max_per_ip as usize,
            ws_max_per_key: self.ws_max_per_key as usize,
            cors: self.cors()?,
            payments: crate::payments::PaymentReceivers::default(),
            public_url: None,
        })
    }

    /// The attempt limiter's settings.
    pub fn limiter_settings(&self) -> LimiterSettings {
        LimiterSettings {
            window: Duration::from_secs(self.attempt_window_seconds),
            lockout: Duration::from_secs(self.lockout_seconds),
            public: self.public_attempt_limits,
            storefront: self.storefront_attempt_limits,
        }
    }
}

/// Who may open the admin console, and how (see `docs/console.md`).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleConfig {
    /// The OpenID Connect issuer people sign in with (its discovery document is read
    /// from `<issuer>/.well-known/openid-configuration`). Unset: the console takes an
    /// admin API key once instead, and bearer access tokens are not accepted.
    #[arg(long, env = "COUPONS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The console's client id at the issuer.
    #[arg(
        long,
        env = "COUPONS_OIDC_CLIENT_ID",
        default_value = "coupons-console"
    )]
    pub oidc_client_id: String,
    /// The console's client secret; unset for a public client (PKCE alone).
    #[arg(long, env = "COUPONS_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// What the `aud` of an API bearer access token must be. Unset: the client id.
    #[arg(long, env = "COUPONS_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The claim that holds a person's groups or roles.
    #[arg(long, env = "COUPONS_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,
    /// Values of that claim that make an admin, comma-separated.
    #[arg(
        long,
        env = "COUPONS_OIDC_ADMIN_VALUES",
        value_delimiter = ',',
        default_value = "coupons-admin"
    )]
    pub oidc_admin_values: Vec<String>,
    /// Values of that claim that make an analyst, comma-separated.
    #[arg(
        long,
        env = "COUPONS_OIDC_ANALYST_VALUES",
        value_delimiter = ',',
        default_value = "coupons-analyst"
    )]
    pub oidc_analyst_values: Vec<String>,
    /// Seconds of clock skew allowed on a token's `exp`, `nbf` and `iat`.
    #[arg(long, env = "COUPONS_OIDC_CLOCK_SKEW_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub oidc_clock_skew_seconds: u64,
    /// The service's address as browsers reach it (`https://coupons.example.com`), for
    /// the sign-in's redirect URI. Unset: `http://` and the request's `Host`.
    #[arg(long, env = "COUPONS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Minutes a console session may go unused before it ends.
    #[arg(long, env = "COUPONS_SESSION_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=1_440))]
    pub session_idle_minutes: u32,
    /// Hours after which a console session ends, used or not.
    #[arg(long, env = "COUPONS_SESSION_MAX_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=168))]
    pub session_max_hours: u32,
}

impl ConsoleConfig {
    /// The OpenID provider, when an issuer is set.
    pub fn oidc(&self) -> Option<crate::oidc::Oidc> {
        let issuer = self.oidc_issuer.as_deref()?.trim();
        if issuer.is_empty() {
            return None;
        }
        let clean = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Some(crate::oidc::Oidc::new(crate::oidc::OidcSettings {
            issuer: issuer.to_owned(),
            client_id: self.oidc_client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            audience: self
                .oidc_audience
                .clone()
                .unwrap_or_else(|| self.oidc_client_id.clone()),
            role_claim: self.oidc_role_claim.clone(),
            admin_values: clean(&self.oidc_admin_values),
            analyst_values: clean(&self.oidc_analyst_values),
            skew: Duration::from_secs(self.oidc_clock_skew_seconds),
        }))
    }

    /// How long console sessions last.
    pub fn session_limits(&self) -> crate::auth::SessionLimits {
        crate::auth::SessionLimits {
            idle: chrono::Duration::minutes(i64::from(self.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.session_max_hours)),
        }
    }
}

/// The payment providers whose webhooks drive reservations (see `docs/payments.md`).
#[derive(Debug, Clone, clap::Args)]
pub struct PaymentConfig {
    /// Stripe endpoint signing secrets (`whsec_…`), comma-separated: the old and the new
    /// one while a secret is rolled. Unset: `POST /payments/stripe` is not served.
    #[arg(
        long,
        env = "COUPONS_STRIPE_WEBHOOK_SECRET",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Vec<String>,
    /// Seconds a Stripe signature's timestamp may be from now.
    #[arg(long, env = "COUPONS_STRIPE_TOLERANCE_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stripe_tolerance_seconds: u64,
    /// Braintree API key pairs `public_key:private_key`, comma-separated (several while
    /// keys are rolled). Unset: `/payments/braintree` is not served.
    #[arg(
        long,
        env = "COUPONS_BRAINTREE_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub braintree_keys: Vec<String>,
}

impl PaymentConfig {
    /// The receivers to serve.
    pub fn receivers(&self) -> Result<crate::payments::PaymentReceivers, ConfigError> {
        Ok(crate::payments::PaymentReceivers {
            stripe: crate::payments::StripeSecrets::new(
                &self.stripe_webhook_secret,
                Duration::from_secs(self.stripe_tolerance_seconds),
            ),
            braintree: crate::payments::BraintreeKeys::parse(&self.braintree_keys)
                .map_err(ConfigError::BadBraintreeKey)?,
        })
    }
}

/// How webhook deliveries are made.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookConfig {
    /// Milliseconds to wait for an endpoint's answer.
    #[arg(long, env = "COUPONS_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub webhook_timeout_ms: u64,
    /// Attempts of a delivery, the first included, before it is given up.
    #[arg(long, env = "COUPONS_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,
    /// Milliseconds before the first retry; each later retry waits up to twice as
    /// long (with random jitter), up to the cap.
    #[arg(long, env = "COUPONS_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub webhook_retry_base_ms: u64,
    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "COUPONS_WEBHOOK_RETRY_CAP_SECONDS", default_value_t = 3_600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub webhook_retry_cap_seconds: u64,
    /// Failed attempts in a row after which an endpoint is left alone for the cooldown.
    #[arg(long, env = "COUPONS_WEBHOOK_BREAKER_THRESHOLD", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub webhook_breaker_threshold: u32,
    /// Seconds a failing endpoint is left alone before one trial attempt.
    #[arg(long, env = "COUPONS_WEBHOOK_BREAKER_COOLDOWN_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub webhook_breaker_cooldown_seconds: u64,
}

impl WebhookConfig {
    /// The delivery worker's settings.
    pub fn settings(&self) -> WebhookSettings {
        let millis = |ms: u64| TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
        WebhookSettings {
            timeout: Duration::from_millis(self.webhook_timeout_ms),
            retry: RetryPolicy {
                base: millis(self.webhook_retry_base_ms),
                cap: millis(self.webhook_retry_cap_seconds.saturating_mul(1_000)),
                max_attempts: self.webhook_max_attempts,
            },
            breaker: BreakerPolicy {
                threshold: self.webhook_breaker_threshold,
                cooldown: millis(self.webhook_breaker_cooldown_seconds.saturating_mul(1_000)),
            },
            ..WebhookSettings::default()
        }
    }
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
    /// Limits of the endpoint and of code guessing.
    #[command(flatten)]
    pub security: SecurityConfig,
    /// Webhook delivery.
    #[command(flatten)]
    pub webhooks: WebhookConfig,
    /// Payment providers' webhooks.
    #[command(flatten)]
    pub payments: PaymentConfig,
    /// The admin console and people's sign-in.
    #[command(flatten)]
    pub console: ConsoleConfig,
    /// The master key of secrets at rest.
    #[command(flatten)]
    pub master_key: MasterKeyConfig,
    /// `development` or `production` (which requires `COUPONS_SECRET`).
    #[arg(long = "env", env = "COUPONS_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,
    /// Address and port to listen on: `HOST:PORT` (a name or an address; `[::1]:PORT`
    /// for IPv6), or `:PORT` for every interface. Port 0 picks a free port.
    #[arg(long, env = "COUPONS_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: String,
    /// A second address serving only `GET /metrics`, without a key, for Prometheus
    /// (`HOST:PORT` or `:PORT`). Unset: the metrics are on the main address, for admin
    /// keys only.
    #[arg(long, env = "COUPONS_METRICS_BIND", value_parser = parse_bind)]
    pub metrics_bind: Option<String>,
    /// An extra admin API key accepted besides the stored ones, for scripted set-ups
    /// (at least 32 characters). When set, no first admin key is generated.
    #[arg(long, env = "COUPONS_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Days until a coupon created without `expiresAt` expires (counted from its start).
    /// Unset: such coupons never expire.
    #[arg(long, env = "COUPONS_DEFAULT_EXPIRATION_DAYS",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub default_expiration_days: Option<u32>,
    /// How a code is made up for a coupon created without one: `none` (it gets no
    /// code), `uuid`, `alphanumeric` (12 characters without look-alikes) or a pattern
    /// such as `SALE-{8}` (`{8!}` adds a check character).
    #[arg(long, env = "COUPONS_CODE_FORMAT", default_value = "none")]
    pub code_format: String,
    /// The per-customer limit of a coupon created without `perCustomerLimit` (`null`
    /// still means none). Unset: no limit.
    #[arg(long, env = "COUPONS_DEFAULT_PER_CUSTOMER_LIMIT",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub default_per_customer_limit: Option<u32>,
    /// How a discount given as `discount: {value}` is read: `percentage` or
    /// `fixed_amount` (in `COUPONS_DEFAULT_CURRENCY`).
    #[arg(
        long,
        env = "COUPONS_DEFAULT_DISCOUNT_TYPE",
        default_value = "percentage"
    )]
    pub default_discount_type: String,
    /// The currency of a fixed amount given as `discount: {value}` (ISO 4217).
    #[arg(long, env = "COUPONS_DEFAULT_CURRENCY")]
    pub default_currency: Option<String>,
    /// Comma-separated e-mail domains (`acme.com`, `*.acme.com`) that a coupon created
    /// without `rules` is limited to, through the `allowed_email_domains` rule. Unset:
    /// none.
    #[arg(
        long,
        env = "COUPONS_DEFAULT_ALLOWED_EMAIL_DOMAINS",
        value_delimiter = ','
    )]
    pub default_allowed_email_domains: Vec<String>,
    /// Serve the GraphiQL playground at `GET /graphql`.
    #[arg(long, env = "COUPONS_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,
    /// Serve the demo storefront at `GET /demo`: it creates the coupon DEMO10 (once) and
    /// a `public` key for the page (a new one at each start). For evaluating the
    /// service, not for production.
    #[arg(long, env = "COUPONS_DEMO", default_value_t = false, action = clap::ArgAction::Set)]
    pub demo: bool,
    /// Log format.
    #[arg(long, env = "COUPONS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Key for the keyed hashes of customer ids and e-mails (at least 32 characters).
    /// Required in production; in development, when unset, one is generated on first
    /// start and kept in the database.
    #[arg(long, env = "COUPONS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Minutes a reservation holds a use when the call names no hold time.
    #[arg(long, env = "COUPONS_RESERVATION_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub reservation_minutes: u32,
    /// The largest share of an order, in percent (above 0, at most 100), that its
    /// discounts may take together, whatever its coupons would give; unset: the whole
    /// subtotal.
    #[arg(long, env = "COUPONS_MAX_ORDER_DISCOUNT_PERCENT", value_parser = parse_share)]
    pub max_order_discount_percent: Option<coupons_domain::Percentage>,
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
    /// The master key cannot be read.
    #[error("the master key: {0}")]
    MasterKey(String),
    /// Production without a master key.
    #[error(
        "COUPONS_ENV=production requires COUPONS_MASTER_KEY or COUPONS_MASTER_KEY_FILE, the key secrets are sealed with at rest (make one with `openssl rand -hex 32`)"
    )]
    MasterKeyRequired,
    /// Production without `COUPONS_SECRET`.
    #[error(
        "COUPONS_ENV=production requires COUPONS_SECRET (at least {ADMIN_KEY_MIN_LEN} characters), the key of customer e-mail and id hashes; keep it stable and secret"
    )]
    SecretRequired,
    /// A role name that does not exist.
    #[error(
        "unknown role {0:?} in COUPONS_INTROSPECTION: use admin, storefront, analyst, public or none"
    )]
    UnknownRole(String),
    /// Not a valid HTTP header name.
    #[error("COUPONS_TRUSTED_PROXY_HEADER {0:?} is not a valid header name")]
    BadHeaderName(String),
    /// An origin that is not `scheme://host[:port]`.
    #[error("COUPONS_CORS_ORIGINS: {0:?} is not an origin (scheme://host[:port])")]
    BadOrigin(String),
    /// A coupon default that cannot be used.
    #[error("{0}")]
    BadDefault(String),
    /// A Braintree key pair that is not `public_key:private_key`.
    #[error("COUPONS_BRAINTREE_KEYS: pair {0} is not public_key:private_key")]
    BadBraintreeKey(usize),
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
        let keyless =
            self.master_key.master_key.is_none() && self.master_key.master_key_file.is_none();
        if self.environment == Environment::Production && keyless {
            return Err(ConfigError::MasterKeyRequired);
        }
        if self.environment == Environment::Production && self.secret.is_none() {
            return Err(ConfigError::SecretRequired);
        }
        self.security.http_settings(self.graphiql)?;
        self.payments.receivers()?;
        self.coupon_defaults()?;
        Ok(())
    }

    /// The coupon defaults, checked.
    pub fn coupon_defaults(&self) -> Result<CouponDefaults, ConfigError> {
        let bad = |name: &str, e: String| ConfigError::BadDefault(format!("{name}: {e}"));
        let code_format =
            CodeFormat::parse(&self.code_format).map_err(|e| bad("COUPONS_CODE_FORMAT", e))?;
        let discount_type = DiscountType::parse(&self.default_discount_type)
            .map_err(|e| bad("COUPONS_DEFAULT_DISCOUNT_TYPE", e))?;
        let currency = self
            .default_currency
            .as_deref()
            .map(|c| {
                coupons_domain::Currency::parse(c.trim())
                    .map(|c| c.code().to_owned())
                    .map_err(|e| bad("COUPONS_DEFAULT_CURRENCY", e.to_string()))
            })
            .transpose()?;
        if discount_type == DiscountType::FixedAmount && currency.is_none() {
            return Err(bad(
                "COUPONS_DEFAULT_DISCOUNT_TYPE",
                "fixed_amount needs COUPONS_DEFAULT_CURRENCY".into(),
            ));
        }
        let domains: Vec<String> = self
            .default_allowed_email_domains
            .iter()
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        if let Some(d) = domains
            .iter()
            .find(|d| d.contains('@') || d.contains(char::is_whitespace))
        {
            return Err(bad(
                "COUPONS_DEFAULT_ALLOWED_EMAIL_DOMAINS",
                format!("{d:?} is not a domain (like acme.com or *.acme.com)"),
            ));
        }
        Ok(CouponDefaults {
            expiration_days: self.default_expiration_days,
            code_format,
            per_customer_limit: self.default_per_customer_limit,
            discount_type,
            currency,
            allowed_email_domains: domains,
        })
    }
}

/// Reads a listen address: `HOST:PORT`, or `:PORT` for every interface.
fn parse_bind(s: &str) -> Result<String, String> {
    let s = s.trim();
    let full = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_owned(),
    };
    let Some((host, port)) = full.rsplit_once(':') else {
        return Err(format!(
            "{s:?}: expected HOST:PORT or :PORT, e.g. 127.0.0.1:8080 or :0"
        ));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!(
            "{s:?}: expected HOST:PORT or :PORT with a port from 0 to 65535"
        ));
    }
    Ok(full)
}

/// Reads a share of an order in percent: above 0, at most 100.
fn parse_share(raw: &str) -> Result<coupons_domain::Percentage, String> {
    let value: rust_decimal::Decimal = raw
        .trim()
        .parse()
        .map_err(|e| format!("{raw:?} is not a number: {e}"))?;
    coupons_domain::Percentage::new(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command, Parser};

    use super::{CorsOrigins, SecurityConfig, ServeConfig};

    #[derive(Parser)]
    struct Security {
        #[command(flatten)]
        security: SecurityConfig,
    }

    fn cors(list: &str) -> Result<CorsOrigins, super::ConfigError> {
        let mut c = Security::parse_from(["coupons"]).security;
        c.cors_origins = Some(list.to_owned());
        c.cors()
    }

    #[test]
    fn cors_origins_are_read_strictly() {
        assert_eq!(cors("*").unwrap(), CorsOrigins::Any);
        assert_eq!(cors(" ").unwrap(), CorsOrigins::None);
        assert_eq!(
            cors("https://Shop.example/, http://localhost:3000").unwrap(),
            CorsOrigins::List(vec![
                "https://shop.example".parse().unwrap(),
                "http://localhost:3000".parse().unwrap()
            ])
        );
        for bad in ["shop.example", "https://shop.example/path", "ftp://x"] {
            assert!(cors(bad).is_err(), "{bad}");
        }
    }

    /// Every variable `serve` reads is in `.env.example` and the configuration table of
    /// `docs/operations.md`, so neither can drift from the code.
    #[test]
    fn every_variable_is_documented() {
        let command = ServeConfig::augment_args(Command::new("serve"));
        let example = include_str!("../.env.example");
        let operations = include_str!("../docs/operations.md");
        let mut seen = 0;
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let name = env.to_string_lossy();
            seen += 1;
            assert!(
                example.contains(&format!("{name}=")),
                "{name} is missing from .env.example"
            );
            assert!(
                operations.contains(&format!("| `{name}` |")),
                "{name} is missing from the configuration table in docs/operations.md"
            );
        }
        assert!(seen > 40, "only {seen} variables found");
    }
}
