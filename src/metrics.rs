//! What the operator watches: `GET /metrics` in the Prometheus text format.
//!
//! Two kinds of figures. Counters and histograms are kept as the service works (requests,
//! checkouts, discount granted, rule time, throttled attempts). Levels that live in the
//! database (reservations held, webhook backlog, bulk jobs, event relay lag) and the
//! connection pool's state are read when the metrics are asked for, so they are exact
//! at that moment on every instance and cost nothing between scrapes.
//!
//! Label values come from closed sets only (route templates, GraphQL root fields that
//! passed validation, rejection codes, ISO currencies), so a client cannot grow the
//! series without bound.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE as CONTENT_TYPE_HEADER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::{Authenticator, Role};
use crate::service::Services;
use crate::storage::{Db, StorageError};

/// Seconds, from 0.25 ms to about 4 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_25, 2.0, 15)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// An HTTP route and its answer's status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template (`/api/v1/coupons/{id}`), or `unmatched`.
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// An HTTP route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// The route template.
    pub route: String,
}

/// A GraphQL operation by its first root field, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The first root field (`validateCoupon`), or `invalid` for a document that did
    /// not pass validation.
    pub operation: String,
    /// `ok`, or the first error's code.
    pub outcome: String,
}

/// A GraphQL operation by its first root field.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Operation {
    /// The first root field.
    pub operation: String,
}

/// A checkout call and its result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckoutLabels {
    /// `validate`, `reserve` or `redeem`.
    pub action: &'static str,
    /// `applied`, `rejected`, `replayed` (an idempotent retry) or `refused`.
    pub result: &'static str,
    /// The first rejection's code when rejected, else empty.
    pub reason: &'static str,
}

/// A currency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CurrencyLabels {
    /// ISO 4217 code.
    pub currency: String,
}

/// A state of a webhook delivery or bulk job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The state as stored (`PENDING`, `DELIVERED`, `RUNNING`, …).
    pub state: String,
}

/// Every metric of one instance.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RouteLabels, Counter>,
    http_seconds: Family<Route, Histogram>,
    operations: Family<OperationLabels, Counter>,
    operation_seconds: Family<Operation, Histogram>,
    checkouts: Family<CheckoutLabels, Counter>,
    discount_minor: Family<CurrencyLabels, Counter>,
    throttled: Counter,
    reservations_live: Gauge,
    deliveries: Family<StateLabels, Gauge>,
    delivery_backlog: Gauge,
    relay_lag: Gauge,
    jobs: Family<StateLabels, Gauge>,
    job_items_left: Gauge,
    pool_max: Gauge,
    pool_open: Gauge,
    pool_in_use: Gauge,
    pool_waiting: Gauge,
}

impl Metrics {
    /// The metrics, registered under the `coupons_` prefix, with those `rules` keeps.
    pub fn new(rules: &crate::rules::Rules) -> Self {
        let mut registry = Registry::with_prefix("coupons");
        let http_requests = Family::<RouteLabels, Counter>::default();
        let http_seconds =
            Family::<Route, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let operations = Family::<OperationLabels, Counter>::default();
        let operation_seconds =
            Family::<Operation, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let checkouts = Family::<CheckoutLabels, Counter>::default();
        let discount_minor = Family::<CurrencyLabels, Counter>::default();
        let throttled = Counter::default();
        let observed = rules.observed();
        let reservations_live = Gauge::default();
        let deliveries = Family::<StateLabels, Gauge>::default();
        let delivery_backlog = Gauge::default();
        let relay_lag = Gauge::default();
        let jobs = Family::<StateLabels, Gauge>::default();
        let job_items_left = Gauge::default();
        let (pool_max, pool_open, pool_in_use, pool_waiting): (Gauge, Gauge, Gauge, Gauge) =
            Default::default();

        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            http_seconds.clone(),
        );
        r.register(
            "graphql_operations",
            "GraphQL operations executed, by first root field and outcome",
            operations.clone(),
        );
        r.register(
            "graphql_operation_duration_seconds",
            "Time to execute a GraphQL operation, by first root field",
            operation_seconds.clone(),
        );
        r.register(
            "checkouts",
            "Validations, reservations and redemptions, by result and rejection reason",
            checkouts.clone(),
        );
        r.register(
            "discount_granted_minor",
            "Discount granted by redemptions, in minor units of each currency",
            discount_minor.clone(),
        );
        r.register(
            "limiter_throttled",
            "Code checks refused because a key, address or customer is locked out",
            throttled.clone(),
        );
        r.register(
            "rule_evaluation_duration_seconds",
            "Time to evaluate a coupon's eligibility rules",
            observed.seconds,
        );
        r.register(
            "rule_failures",
            "Rule evaluations that failed (error, limit or missing rule)",
            observed.failures,
        );
        r.register(
            "reservations_live",
            "Reservations held and not past their deadline",
            reservations_live.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook deliveries by state",
            deliveries.clone(),
        );
        r.register(
            "webhook_backlog",
            "Webhook deliveries due now and not yet delivered",
            delivery_backlog.clone(),
        );
        r.register(
            "event_relay_lag_events",
            "Committed events this instance has not yet published to its subscribers",
            relay_lag.clone(),
        );
        r.register("bulk_jobs", "Bulk jobs by state", jobs.clone());
        r.register(
            "bulk_job_items_left",
            "Items (codes) queued or running bulk jobs have still to do",
            job_items_left.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "Most connections the database pool opens",
            pool_max.clone(),
        );
        r.register(
            "db_pool_connections",
            "Connections the database pool holds open",
            pool_open.clone(),
        );
        r.register(
            "db_pool_connections_in_use",
            "Connections lent out by the database pool",
            pool_in_use.clone(),
        );
        r.register(
            "db_pool_waiting",
            "Tasks waiting for a database connection",
            pool_waiting.clone(),
        );
        Self {
            registry,
            http_requests,
            http_seconds,
            operations,
            operation_seconds,
            checkouts,
            discount_minor,
            throttled,
            reservations_live,
            deliveries,
            delivery_backlog,
            relay_lag,
            jobs,
            job_items_left,
            pool_max,
            pool_open,
            pool_in_use,
            pool_waiting,
        }
    }

    /// Counts an answered HTTP request.
    pub fn http_request(&self, route: &str, status: u16, took: Duration) {
        let route = route.to_owned();
        self.http_seconds
            .get_or_create(&Route {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.http_requests
            .get_or_create(&RouteLabels { route, status })
            .inc();
    }

    /// Counts an executed GraphQL operation.
    pub fn operation(&self, operation: &str, outcome: &str, took: Duration) {
        self.operation_seconds
            .get_or_create(&Operation {
                operation: operation.to_owned(),
            })
            .observe(took.as_secs_f64());
        self.operations
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a checkout call's result.
    pub fn checkout(&self, action: &'static str, result: &'static str, reason: &'static str) {
        self.checkouts
            .get_or_create(&CheckoutLabels {
                action,
                result,
                reason,
            })
            .inc();
    }

    /// Adds a redemption's discount.
    pub fn discount_granted(&self, currency: &str, minor: i64) {
        if let Ok(minor) = u64::try_from(minor) {
            self.discount_minor
                .get_or_create(&CurrencyLabels {
                    currency: currency.to_owned(),
                })
                .inc_by(minor);
        }
    }

    /// Counts a check refused by the attempt limiter.
    pub fn throttled(&self) {
        self.throttled.inc();
    }

    /// Reads the levels kept in the database and the pool's state, then writes every
    /// metric in the Prometheus text format. `relayed` is the id of the last event this
    /// instance's relay published.
    pub async fn render(&self, db: &Db, relayed: i64) -> Result<String, StorageError> {
        let levels = crate::storage::levels::read(db).await?;
        self.reservations_live.set(levels.reservations_live);
        self.delivery_backlog.set(levels.delivery_backlog);
        self.relay_lag.set((levels.last_event - relayed).max(0));
        self.job_items_left.set(levels.job_items_left);
        for (state, n) in levels.deliveries {
            self.deliveries.get_or_create(&StateLabels { state }).set(n);
        }
        for (state, n) in levels.jobs {
            self.jobs.get_or_create(&StateLabels { state }).set(n);
        }
        let pool = db.pool_status();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool_max.set(gauge(pool.max_size));
        self.pool_open.set(gauge(pool.size));
        self.pool_in_use
            .set(gauge(pool.size.saturating_sub(pool.available)));
        self.pool_waiting.set(gauge(pool.waiting));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .map_err(|e| StorageError::Pool(format!("cannot encode the metrics: {e}")))?;
        Ok(text)
    }
}

/// The content type of [`Metrics::render`]'s text: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What the metrics endpoints need.
#[derive(Clone)]
struct Scrape {
    services: Services,
    auth: Option<Authenticator>,
}

/// `GET /metrics` on the main listener, for admin keys and admin console sessions.
pub fn routes(services: Services, auth: Authenticator) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape {
            services,
            auth: Some(auth),
        })
}

/// `GET /metrics` without a key, for the separate scrape address
/// (`COUPONS_METRICS_BIND`), which only scrapers should reach.
pub fn scrape_routes(services: Services) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape {
            services,
            auth: None,
        })
}

async fn metrics(State(scrape): State<Scrape>, headers: HeaderMap) -> Response {
    if let Some(auth) = &scrape.auth {
        match auth.authenticate_request(&headers, &Method::GET).await {
            Ok(Some(caller)) if caller.role == Role::Admin => {}
            Ok(Some(_)) => {
                return (StatusCode::FORBIDDEN, "the metrics are for admin keys\n").into_response();
            }
            Ok(None) | Err(_) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(WWW_AUTHENTICATE, "Bearer")],
                    "send an admin key: Authorization: Bearer <API key>\n",
                )
                    .into_response();
            }
        }
    }
    let svc = &scrape.services;
    match svc.metrics.render(&svc.db, svc.events.relayed()).await {
        Ok(text) => ([(CONTENT_TYPE_HEADER, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the metrics");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Counts every request a route answered, by its template and status, with its time.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.http_request(&route, response.status().as_u16(), started.elapsed());
    response
}
