//! Start-up: database, migrations, first admin key, router, serving, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{self, Authenticator, Caller, Role};
use crate::config::ServeConfig;
use crate::events::EventBus;
use crate::jobs::{JobSettings, JobWaker, JobWorker};
use crate::router::router;
use crate::rules::{Rules, watch_dir};
use crate::seal::Sealer;
use crate::service::attempts::AttemptCounter;
use crate::service::checkout::CheckoutSettings;
use crate::service::limiter::Limiter;
use crate::service::secrets::Reseal;
use crate::service::{Services, maintenance};
use crate::storage::migrations::{CreateDatabaseError, DatabaseSetUp, create_missing_database};
use crate::storage::{Db, secrets};
use crate::webhooks::WebhookWorker;

/// A server ready to accept connections.
pub struct Server {
    listener: TcpListener,
    router: Router,
    connection_limits: crate::server::ConnectionLimits,
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The admin key created on this start (first start only).
    pub first_admin_key: Option<String>,
    /// Which backend it uses.
    pub backend: &'static str,
    /// The separate metrics address, when `COUPONS_METRICS_BIND` is set.
    pub metrics_addr: Option<SocketAddr>,
    scraper: Option<tokio::task::JoinHandle<()>>,
    sweeper: tokio::task::JoinHandle<()>,
    detector: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
    relay: tokio::task::JoinHandle<()>,
    webhooks: WebhookWorker,
    jobs: JobWorker,
    events: EventBus,
    /// Kept alive so rule files keep being watched.
    _watcher: Option<notify::RecommendedWatcher>,
    attempts: AttemptCounter,
    db: Db,
}

/// Binds, then connects (creating a missing PostgreSQL database when the role may),
/// migrates and creates the first admin key on an empty database: a start that cannot
/// listen writes nothing.
pub async fn prepare(config: &ServeConfig) -> anyhow::Result<Server> {
    config.validate()?;
    let sealer = Arc::new(
        config
            .master_key
            .sealer(config.environment, &config.database.database_url)?,
    );
    let listener = TcpListener::bind(config.bind.as_str())
        .await
        .with_context(|| format!("binding {} (COUPONS_BIND)", config.bind))?;
    let metrics_listener = match &config.metrics_bind {
        Some(bind) => Some(
            TcpListener::bind(bind.as_str())
                .await
                .with_context(|| format!("binding {bind} (COUPONS_METRICS_BIND)"))?,
        ),
        None => None,
    };
    let url = &config.database.database_url;
    match create_missing_database(url).await {
        Ok(DatabaseSetUp::Created(name)) => {
            tracing::info!(database = %name, "created the database");
            println!("Created the database {name:?}.");
        }
        Ok(DatabaseSetUp::Existed) => {}
        Err(e @ CreateDatabaseError::NotAllowed { .. }) => return Err(e.into()),
        // The connection below reports it, in its own words.
        Err(CreateDatabaseError::Other(_)) => {}
    }
    let db = config
        .database
        .open()
        .with_context(|| format!("opening {}", redact_url(&config.database.database_url)))?;
    let applied = db.run_migrations().await.context("running migrations")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let first_admin_key = if config.admin_key.is_some() {
        None
    } else {
        auth::create_first_admin_key(&db)
            .await
            .context("creating the first admin key")?
            .map(|k| k.secret)
    };
    let sealed = crate::service::secrets::reseal(&db, &sealer, Reseal::Plain)
        .await
        .context("sealing the secrets stored in plain text")?;
    if sealed > 0 {
        tracing::info!(secrets = sealed, "sealed secrets stored in plain text");
    }
    let secret = match &config.secret {
        Some(s) => s.clone().into_bytes(),
        None => load_secret(&db, &sealer, CUSTOMER_KEY_SECRET)
            .await
            .context("loading the customer-key secret")?
            .into_bytes(),
    };
    let rules = Arc::new(Rules::new(config.rules.limits()));
    let dir = &config.rules.rules_dir;
    for e in rules.load_shipped().iter().chain(&rules.load_dir(dir)) {
        tracing::error!(error = %e, "rule not loaded");
    }
    let watcher = if dir.is_dir() {
        tracing::info!(dir = %dir.display(), rules = ?rules.names(), "rules loaded (shipped, and the directory's, which it watches)");
        match watch_dir(rules.clone(), dir.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the rules directory; edits need a restart");
                None
            }
        }
    } else {
        tracing::info!(dir = %dir.display(), rules = ?rules.names(), "rules loaded (shipped; no rules directory)");
        None
    };
    let metrics = Arc::new(crate::metrics::Metrics::new(&rules));
    let limiter = Limiter::new(config.security.limiter_settings()).shared(&db, &secret);
    let abuse = Arc::new(crate::service::abuse::AbuseWatch::new(
        config.security.abuse_thresholds,
        config.security.abuse_action,
        &secret,
    ));
    let services = Services {
        rules,
        db: db.clone(),
        coupon_defaults: config.coupon_defaults()?,
        checkout: CheckoutSettings {
            customer_key_secret: secret,
            default_hold: chrono::Duration::minutes(i64::from(config.reservation_minutes)),
            idempotency_retention: chrono::Duration::hours(i64::from(config.idempotency_hours)),
            not_found_floor: Duration::from_millis(config.security.not_found_floor_ms),
            max_order_discount: config.max_order_discount_percent,
        },
        attempts: AttemptCounter::default(),
        limiter,
        abuse,
        events: EventBus::default(),
        jobs: JobWaker::default(),
        keys: Arc::default(),
        terms: Arc::default(),
        metrics,
        sealer: sealer.clone(),
    };
    crate::service::rules::sync_published(&db, &services.rules)
        .await
        .context("loading published rules")?;
    let follower = tokio::spawn(crate::service::rules::follow_published(
        db.clone(),
        services.rules.clone(),
    ));
    let sweeper = tokio::spawn(maintenance::run(
        db.clone(),
        services.attempts.clone(),
        services.limiter.clone(),
        Duration::from_secs(config.sweep_seconds),
    ));
    let detector = tokio::spawn(crate::service::abuse::watch(
        services.clone(),
        Duration::from_secs(config.security.abuse_interval_seconds),
    ));
    let listen = matches!(db, Db::Postgres(_)).then(|| crate::events::Listen {
        url: config.database.database_url.clone(),
        keys: services.keys.clone(),
        limiter: services.limiter.clone(),
    });
    let relay = tokio::spawn(crate::events::relay(
        db.clone(),
        services.events.clone(),
        listen,
    ));
    let webhooks = WebhookWorker::start(
        db.clone(),
        &services.events,
        config.webhooks.settings(),
        sealer,
    );
    let jobs = JobWorker::start(db.clone(), &services.jobs, JobSettings::default());
    let events = services.events.clone();
    let attempts = services.attempts.clone();
    let authenticator = Authenticator::new(db.clone(), config.admin_key.as_deref())
        .with_oidc(config.console.oidc())
        .with_session_limits(config.console.session_limits())
        .with_key_cache(services.keys.clone());
    let local_addr = listener.local_addr()?;
    let mut http = config.security.http_settings(config.graphiql)?;
    http.payments = config.payments.receivers()?;
    http.public_url = config.console.public_url.clone();
    let demo = if config.demo {
        Some(
            demo_setup(&services)
                .await
                .context("setting up the demo storefront")?,
        )
    } else {
        None
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let scraper = metrics_listener.map(|listener| {
        let routes = crate::metrics::scrape_routes(services.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, routes).await {
                tracing::error!(error = %e, "the metrics address stopped");
            }
        })
    });
    Ok(Server {
        metrics_addr,
        scraper,
        listener,
        connection_limits: http.connection_limits(),
        router: router(services, authenticator, http, demo),
        local_addr,
        first_admin_key,
        backend: db.backend(),
        sweeper,
        detector,
        follower,
        relay,
        webhooks,
        jobs,
        events,
        _watcher: watcher,
        attempts,
        db: db.clone(),
    })
}

/// The code the demo storefront offers.
const DEMO_CODE: &str = "DEMO10";
/// The name of the demo storefront's key.
const DEMO_KEY_NAME: &str = "demo storefront";

/// The demo storefront's coupon (made at the first start) and a new `public` key for its
/// page; the keys of earlier starts are revoked.
async fn demo_setup(services: &Services) -> anyhow::Result<(String, String)> {
    let setup = Caller {
        role: Role::Admin,
        key_id: None,
        key_prefix: String::new(),
        name: "demo setup".into(),
        channels: Vec::new(),
        ip: None,
        subject: None,
    };
    if crate::service::coupons::coupon_by_code(services, DEMO_CODE)
        .await?
        .is_none()
    {
        let input: crate::graphql::inputs::CreateCouponInput =
            serde_json::from_value(serde_json::json!({
                "name": "Demo: 10% off",
                "code": DEMO_CODE,
                "discount": {"percentage": "10"},
                "expiresAt": null,
            }))?;
        crate::service::coupons::create_coupon(services, &setup, input.into_new()).await?;
    }
    let earlier = crate::service::api_keys::list_api_keys(services, false, None, 100).await?;
    for key in earlier.iter().filter(|k| k.name == DEMO_KEY_NAME) {
        crate::service::api_keys::revoke_api_key(services, &setup, key.id).await?;
    }
    let key = crate::service::api_keys::create_api_key(
        services,
        &setup,
        DEMO_KEY_NAME,
        Role::Public,
        &[],
    )
    .await?;
    tracing::info!("demo storefront at /demo");
    Ok((key.secret, DEMO_CODE.to_owned()))
}

/// Name of the generated secret for customer keys.
const CUSTOMER_KEY_SECRET: &str = "customer_key";

fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// The secret called `name`, kept in the database sealed: made up at the first start,
/// so every instance on one database agrees on it.
async fn load_secret(db: &Db, sealer: &Sealer, name: &str) -> anyhow::Result<String> {
    let purpose = crate::seal::service_secret(name);
    let candidate = &sealer.seal(&purpose, &random_secret());
    let now = chrono::Utc::now();
    let stored = db
        .read(async move |mut c| secrets::service_secret(&mut c, name, candidate, now).await)
        .await?;
    Ok(sealer.open(&purpose, &stored)?)
}

impl Server {
    /// Serves until SIGINT or SIGTERM. Then: subscription sockets are closed (1001),
    /// in-flight requests finish, in-flight webhook deliveries are sent and recorded,
    /// a running bulk job stops after its chunk and gives its lease up, and pending
    /// validation counts are written.
    pub async fn serve(self) -> anyhow::Result<()> {
        let events = self.events.clone();
        crate::server::serve(
            self.listener,
            self.router,
            self.connection_limits,
            async move {
                shutdown_signal().await;
                events.close();
            },
        )
        .await;
        self.webhooks.shutdown().await;
        self.jobs.shutdown().await;
        self.sweeper.abort();
        self.detector.abort();
        self.follower.abort();
        self.relay.abort();
        if let Some(scraper) = &self.scraper {
            scraper.abort();
        }
        if let Err(e) = self.attempts.flush(&self.db).await {
            tracing::warn!(error = %e, "could not write the last validation attempts");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***{}", &url[..scheme_end], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://coupons.db"), "sqlite://coupons.db");
    }
}
