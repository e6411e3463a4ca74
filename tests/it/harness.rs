//! The test harness: a fresh database per test and the real axum router.
//!
//! - SQLite: a new file in the temp directory, removed afterwards.
//! - PostgreSQL: a new schema in `TEST_DATABASE_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`), selected through the connection's
//!   `search_path` and dropped afterwards. When the server cannot be reached the
//!   PostgreSQL cases print a notice and pass, except under `CI=true`, where they fail.
//!
//! `both_backends!(test_fn)` turns `async fn test_fn(app: TestApp)` into two tests,
//! `test_fn::sqlite` and `test_fn::postgres`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use coupons::auth::{self, Authenticator, Role};
use coupons::router::router;
use coupons::service::Services;
use coupons::service::checkout::CheckoutSettings;
use coupons::storage::{self, Db, PoolOptions, StorageError, StoredEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use http_body_util::BodyExt;
use rand::Rng;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use.
/// A connection to the PostgreSQL server of [`postgres_url`] for creating and dropping
/// databases; `None` when it is unreachable (a failure under `CI=true`).
pub async fn postgres_admin() -> Option<AsyncPgConnection> {
    use diesel_async::AsyncConnection;
    let base = postgres_url();
    match AsyncPgConnection::establish(&base).await {
        Ok(c) => Some(c),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but PostgreSQL at {base} is unreachable: {e}")
        }
        Err(_) => None,
    }
}

pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static PG_NOTICE: AtomicBool = AtomicBool::new(false);

/// A fresh, empty database; dropped with this value.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schema { base: String, schema: String },
}

fn random_suffix() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

impl TestDatabase {
    /// `None` when PostgreSQL is wanted but unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("coupons-it-{}.db", random_suffix()));
                Some(Self {
                    url: format!("sqlite://{}", path.display()),
                    cleanup: Cleanup::File(path),
                })
            }
            Backend::Postgres => {
                let base = postgres_url();
                let mut conn = match AsyncPgConnection::establish(&base).await {
                    Ok(c) => c,
                    Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                        panic!("CI=true but PostgreSQL at {base} is unreachable: {e}")
                    }
                    Err(e) => {
                        if !PG_NOTICE.swap(true, Ordering::Relaxed) {
                            eprintln!(
                                "NOTICE: skipping PostgreSQL cases, {base} is unreachable: {e}"
                            );
                        }
                        return None;
                    }
                };
                let schema = format!("it_{}", random_suffix());
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(Self {
                    url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    cleanup: Cleanup::Schema { base, schema },
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Schema { base, schema } => {
                let (base, schema) = (base.clone(), schema.clone());
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async {
                        if let Ok(mut c) = AsyncPgConnection::establish(&base).await {
                            let _ = c
                                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                                .await;
                        }
                    });
                    Ok::<_, std::io::Error>(())
                })
                .join();
            }
        }
    }
}

/// The rules shipped in `rules/`, compiled.
pub fn shipped_rules() -> std::sync::Arc<coupons::rules::Rules> {
    let rules = coupons::rules::Rules::new(coupons::rules::RuleLimits::default());
    let errors = rules.load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"));
    assert!(errors.is_empty(), "{errors:?}");
    std::sync::Arc::new(rules)
}

/// Options for a test app.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub default_expiration_days: Option<u32>,
    /// Coupon defaults other than the expiry (default: none).
    pub coupon_defaults: Option<coupons::service::coupons::CouponDefaults>,
    pub admin_key: Option<String>,
    /// Rules from this directory, watched for changes, instead of the shipped ones.
    pub rules_dir: Option<PathBuf>,
    /// Endpoint limits (default: the service's defaults).
    pub http: Option<coupons::router::HttpSettings>,
    /// Attempt limits (default: the service's defaults).
    pub limiter: Option<coupons::service::limiter::LimiterSettings>,
    /// Least wait of an outsider's `NOT_FOUND` (default 2 ms).
    pub not_found_floor: Option<std::time::Duration>,
    /// The largest share of an order its discounts may take (default: all of it).
    pub max_order_discount: Option<coupons_domain::Percentage>,
    /// Events buffered per subscriber (default: the service's).
    pub event_capacity: Option<usize>,
    /// Webhook delivery settings (default: the service's).
    pub webhooks: Option<coupons::webhooks::WebhookSettings>,
    /// Start no bulk-job worker (a test starts its own with [`start_job_worker`]).
    pub without_job_worker: bool,
    /// Start no background work at all (event relay, webhook and job workers): every
    /// statement on the database is then a request's.
    pub without_background: bool,
    /// Abuse detection's thresholds and default action (default: the service's).
    pub abuse: Option<(
        coupons_domain::abuse::Thresholds,
        coupons_domain::abuse::AbuseAction,
    )>,
}

/// Key of the hashes the test services store addresses as.
pub const ABUSE_KEY: &[u8] = b"test secret for customer keys, 32+ bytes";

/// The service on a fresh database, with an admin key ready.
pub struct TestApp {
    pub db: Db,
    /// The services behind the router (to run background steps such as abuse
    /// detection at a chosen moment).
    pub services: Services,
    pub admin: String,
    router: Router,
    connection_limits: coupons::server::ConnectionLimits,
    served: tokio::sync::OnceCell<String>,
    /// Validation attempts not yet written (flush to see them in the database).
    pub attempts: coupons::service::attempts::AttemptCounter,
    /// The rules in force.
    pub rules: std::sync::Arc<coupons::rules::Rules>,
    /// The watched rules directory, when the test chose one.
    pub rules_dir: Option<PathBuf>,
    _watcher: Option<notify::RecommendedWatcher>,
    /// The event relay and webhook worker; stopped with the app.
    _background: Option<Background>,
    webhook_settings: coupons::webhooks::WebhookSettings,
    /// Kept so the database lives as long as the app.
    _database: TestDatabase,
}

/// A GraphQL response with its HTTP status.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
}

impl Response {
    /// `data`, asserting there are no top-level errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of the first top-level error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}

impl TestApp {
    pub async fn with(backend: Backend, options: Options) -> Option<Self> {
        // Errors the service logs appear in the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("coupons=error")
            .try_init();
        let database = TestDatabase::new(backend).await?;
        let db = Db::connect(
            &database.url,
            PoolOptions {
                max_size: 8,
                wait_timeout: std::time::Duration::from_secs(10),
            },
        )
        .unwrap();
        db.run_migrations().await.unwrap();
        let admin = auth::create_api_key(&db, "test admin", Role::Admin)
            .await
            .unwrap()
            .secret;
        let keys = std::sync::Arc::<coupons::cache::KeyCache>::default();
        let rules = match &options.rules_dir {
            None => shipped_rules(),
            Some(dir) => {
                let rules = std::sync::Arc::new(coupons::rules::Rules::new(
                    coupons::rules::RuleLimits::default(),
                ));
                rules.load_dir(dir);
                rules
            }
        };
        let services = Services {
            keys: keys.clone(),
            terms: std::sync::Arc::default(),
            abuse: {
                let (thresholds, action) = options.abuse.unwrap_or_default();
                std::sync::Arc::new(coupons::service::abuse::AbuseWatch::new(
                    thresholds, action, ABUSE_KEY,
                ))
            },
            metrics: std::sync::Arc::new(coupons::metrics::Metrics::new(&rules)),
            sealer: test_sealer(),
            db: db.clone(),
            coupon_defaults: coupons::service::coupons::CouponDefaults {
                expiration_days: options.default_expiration_days,
                ..options.coupon_defaults.clone().unwrap_or_default()
            },
            checkout: CheckoutSettings {
                customer_key_secret: b"test secret for customer keys, 32+ bytes".to_vec(),
                default_hold: chrono::Duration::minutes(15),
                idempotency_retention: chrono::Duration::hours(24),
                not_found_floor: options
                    .not_found_floor
                    .unwrap_or(std::time::Duration::from_millis(2)),
                max_order_discount: options.max_order_discount,
            },
            attempts: coupons::service::attempts::AttemptCounter::default(),
            limiter: coupons::service::limiter::Limiter::new(
                options.limiter.clone().unwrap_or_default(),
            ),
            events: options
                .event_capacity
                .map_or_else(Default::default, coupons::events::EventBus::with_capacity),
            jobs: coupons::jobs::JobWaker::default(),
            rules,
        };
        let watcher = options
            .rules_dir
            .as_ref()
            .map(|dir| coupons::rules::watch_dir(services.rules.clone(), dir.clone()).unwrap());
        let authenticator = Authenticator::new(db.clone(), options.admin_key.as_deref())
            .with_key_cache(keys.clone());
        let webhook_settings = options.webhooks.unwrap_or_default();
        let http = options.http.clone().unwrap_or_default();
        let background = (!options.without_background).then(|| {
            start_background(
                &db,
                &services.events,
                &services.jobs,
                !options.without_job_worker,
                &database.url,
                &keys,
                webhook_settings,
            )
        });
        Some(Self {
            _background: background,
            webhook_settings,
            _watcher: watcher,
            rules_dir: options.rules_dir.clone(),
            rules: services.rules.clone(),
            attempts: services.attempts.clone(),
            connection_limits: http.connection_limits(),
            services: services.clone(),
            router: router(services, authenticator, http, None),
            served: tokio::sync::OnceCell::new(),
            db,
            admin,
            _database: database,
        })
    }

    /// A new key of `role`.
    pub async fn key(&self, role: Role) -> String {
        auth::create_api_key(&self.db, &format!("test {role}"), role)
            .await
            .unwrap()
            .secret
    }

    /// Sends a GraphQL request with `key` (or none) through the router.
    pub async fn request(&self, key: Option<&str>, query: &str, variables: Value) -> Response {
        let body = json!({ "query": query, "variables": variables }).to_string();
        self.post(key, &[], body).await
    }

    /// Posts `body` as it is to `/graphql`, with `key` (or none) and extra headers.
    pub async fn post(
        &self,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: String,
    ) -> Response {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        Response { status, body }
    }

    /// Sends a request as admin and returns `data`, asserting no top-level errors.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.request(Some(&self.admin), query, variables)
            .await
            .data()
            .clone()
    }

    /// Another instance of the service on the same database: its own pool, router,
    /// event relay, webhook worker and in-memory state, as a second server process
    /// would have. Keep the returned guard alive while using the router.
    pub fn second_instance_with_relay(&self) -> (Router, Background) {
        let db = Db::connect(
            self.database_url(),
            PoolOptions {
                max_size: 4,
                wait_timeout: std::time::Duration::from_secs(10),
            },
        )
        .unwrap();
        let events = coupons::events::EventBus::default();
        let jobs = coupons::jobs::JobWaker::default();
        let keys = std::sync::Arc::<coupons::cache::KeyCache>::default();
        let background = start_background(
            &db,
            &events,
            &jobs,
            true,
            self.database_url(),
            &keys,
            self.webhook_settings,
        );
        let services = Services {
            keys: keys.clone(),
            terms: std::sync::Arc::default(),
            abuse: std::sync::Arc::new(coupons::service::abuse::AbuseWatch::new(
                coupons_domain::abuse::Thresholds::default(),
                coupons_domain::abuse::AbuseAction::Alert,
                ABUSE_KEY,
            )),
            metrics: std::sync::Arc::new(coupons::metrics::Metrics::new(&self.rules)),
            sealer: test_sealer(),
            db: db.clone(),
            coupon_defaults: Default::default(),
            checkout: CheckoutSettings {
                customer_key_secret: b"test secret for customer keys, 32+ bytes".to_vec(),
                default_hold: chrono::Duration::minutes(15),
                idempotency_retention: chrono::Duration::hours(24),
                not_found_floor: std::time::Duration::from_millis(2),
                max_order_discount: None,
            },
            attempts: coupons::service::attempts::AttemptCounter::default(),
            limiter: coupons::service::limiter::Limiter::default(),
            events,
            jobs,
            rules: self.rules.clone(),
        };
        let router = router(
            services,
            Authenticator::new(db, None).with_key_cache(keys),
            Default::default(),
            None,
        );
        (router, background)
    }

    /// Another instance of the service on the same database: its own pool, router and
    /// in-memory state, as a second server process would have.
    pub fn second_instance(&self) -> Router {
        // Without subscribers, its relay is not needed.
        self.second_instance_with_relay().0
    }

    /// The database URL of this app.
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    /// The base URL of this app served on a real TCP port (started on first use, stopped
    /// with the test's runtime).
    pub async fn base_url(&self) -> &str {
        self.served
            .get_or_init(|| async { serve_with(self.router.clone(), self.connection_limits).await })
            .await
    }

    /// Sends a GraphQL request over real HTTP; returns the raw body text and its JSON.
    pub async fn http(
        &self,
        client: &reqwest::Client,
        key: &str,
        query: &str,
        variables: Value,
    ) -> (String, Value) {
        let url = format!("{}/graphql", self.base_url().await);
        let response = client
            .post(url)
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (text, body)
    }

    /// A plain GET through the router: (status, body text).
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends any request through the router: status, headers and body.
    pub async fn send(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// Runs SQL directly (for setting up states no API call makes yet).
    pub async fn sql(&self, sql: &str) {
        match &self.db {
            Db::Postgres(pool) => pool.get().await.unwrap().batch_execute(sql).await.unwrap(),
            Db::Sqlite(pool) => pool.get().await.unwrap().batch_execute(sql).await.unwrap(),
        }
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// The one BIGINT a query returns.
    pub async fn scalar(&self, sql: &str) -> i64 {
        scalar_on(&self.db, sql).await
    }

    /// Events after `after`, oldest first, at most `limit`: the outbox as the relay
    /// reads it.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        self.db
            .read(async move |mut c| storage::events::events_after(&mut c, after, limit).await)
            .await
    }

    /// The id of the newest event (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64, StorageError> {
        self.db
            .read(async |mut c| storage::events::last_event_id(&mut c).await)
            .await
    }

    /// A coupon's codes in id order, after `after`.
    pub async fn codes(
        &self,
        coupon: coupons_domain::CouponId,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<storage::StoredCode>, StorageError> {
        self.db
            .read(async move |mut c| storage::coupons::codes(&mut c, coupon, after, limit).await)
            .await
    }

    /// Webhook deliveries matching `filter`, newest first, with their events.
    pub async fn webhook_deliveries(
        &self,
        filter: &storage::DeliveryFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(storage::StoredDelivery, StoredEvent)>, StorageError> {
        self.db
            .read(async move |mut c| {
                storage::webhooks::webhook_deliveries(&mut c, filter, before, limit).await
            })
            .await
    }
}

/// Aborts a background task when dropped.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The background tasks of one instance: its event relay and webhook worker.
pub struct Background {
    _relay: AbortOnDrop,
    _webhooks: coupons::webhooks::WebhookWorker,
    _jobs: Option<coupons::jobs::JobWorker>,
}

/// Starts the event relay (listening on PostgreSQL) and webhook worker of one instance.
fn start_background(
    db: &Db,
    events: &coupons::events::EventBus,
    jobs: &coupons::jobs::JobWaker,
    with_jobs: bool,
    url: &str,
    keys: &std::sync::Arc<coupons::cache::KeyCache>,
    webhooks: coupons::webhooks::WebhookSettings,
) -> Background {
    let listen = url
        .starts_with("postgres")
        .then(|| coupons::events::Listen {
            url: url.to_owned(),
            keys: keys.clone(),
            limiter: coupons::service::limiter::Limiter::default(),
        });
    Background {
        _relay: AbortOnDrop(tokio::spawn(coupons::events::relay(
            db.clone(),
            events.clone(),
            listen,
        ))),
        _webhooks: coupons::webhooks::WebhookWorker::start(
            db.clone(),
            events,
            webhooks,
            test_sealer(),
        ),
        _jobs: with_jobs.then(|| start_job_worker(db, jobs)),
    }
}

/// A one-connection pool on the database at `url`, for a test to read what a server
/// process stored there.
pub fn inspect(url: &str) -> Db {
    Db::connect(
        url,
        PoolOptions {
            max_size: 1,
            wait_timeout: std::time::Duration::from_secs(10),
        },
    )
    .unwrap()
}

/// The master key of the tests' in-process instances.
pub const TEST_MASTER_KEY: [u8; 32] = [42; 32];

/// The sealer of the tests' in-process instances (all of them share the key, as the
/// instances of one deployment do).
pub fn test_sealer() -> std::sync::Arc<coupons::seal::Sealer> {
    std::sync::Arc::new(coupons::seal::Sealer::new(&TEST_MASTER_KEY, &[]))
}

/// Starts a bulk-job worker for `db`, as an instance would.
pub fn start_job_worker(db: &Db, waker: &coupons::jobs::JobWaker) -> coupons::jobs::JobWorker {
    coupons::jobs::JobWorker::start(db.clone(), waker, job_settings())
}

/// Bulk jobs in small chunks, so tests see them progress.
fn job_settings() -> coupons::jobs::JobSettings {
    coupons::jobs::JobSettings {
        chunk: 500,
        ..Default::default()
    }
}

/// Serves `router` on a real TCP port until the test's runtime ends; returns its base
/// URL.
pub async fn serve(router: Router) -> String {
    serve_with(
        router,
        coupons::router::HttpSettings::default().connection_limits(),
    )
    .await
}

/// Serves `router` as the service does (`coupons::server::serve`), with these limits.
async fn serve_with(router: Router, limits: coupons::server::ConnectionLimits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(coupons::server::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// Sends a GraphQL request with `key` through `router`.
pub async fn request_to(router: &Router, key: &str, query: &str, variables: Value) -> Response {
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(
            json!({ "query": query, "variables": variables }).to_string(),
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Response {
        status,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

/// The one BIGINT a query on `db` returns.
pub async fn scalar_on(db: &Db, sql: &str) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Scalar {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let q = diesel::sql_query(format!("SELECT ({sql}) AS n"));
    let row: Scalar = match db {
        Db::Postgres(pool) => q.get_result(&mut *pool.get().await.unwrap()).await.unwrap(),
        Db::Sqlite(pool) => q.get_result(&mut *pool.get().await.unwrap()).await.unwrap(),
    };
    row.n
}

/// Runs `async fn $name(app: TestApp)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        $crate::both_backends!($name, $crate::harness::Options::default());
    };
    ($name:ident, $options:expr) => {
        mod $name {
            use $crate::harness::{Backend, TestApp};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = TestApp::with(Backend::Sqlite, $options).await {
                    super::$name(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = TestApp::with(Backend::Postgres, $options).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

/// A write lock on the coupons held by another connection, until released.
pub enum WriteLock {
    Postgres(Box<AsyncPgConnection>),
    Sqlite(diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>),
}

/// Takes a write lock on `database_url` from a connection of its own: an exclusive
/// table lock on `coupons` in PostgreSQL, the database's write lock in SQLite.
pub async fn hold_write_lock(database_url: &str) -> WriteLock {
    if database_url.starts_with("postgres") {
        let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
        conn.batch_execute("BEGIN; LOCK TABLE coupons IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        WriteLock::Postgres(Box::new(conn))
    } else {
        let path = database_url.trim_start_matches("sqlite://");
        let mut conn = diesel_async::sync_connection_wrapper::SyncConnectionWrapper::<
            diesel::SqliteConnection,
        >::establish(path)
        .await
        .unwrap();
        // The server may be writing (a sweep, a job): wait for it rather than fail.
        conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
            .await
            .unwrap();
        WriteLock::Sqlite(conn)
    }
}

impl WriteLock {
    /// Rolls back, which lets the lock go.
    pub async fn release(self) {
        match self {
            Self::Postgres(mut c) => c.batch_execute("ROLLBACK").await.unwrap(),
            Self::Sqlite(mut c) => c.batch_execute("ROLLBACK").await.unwrap(),
        }
    }
}
