//! Every HTTP route, in one place.
//!
//! - `POST /graphql`: the API. Credentials come from `Authorization: Bearer <key>`;
//!   a request without a usable key is refused with HTTP 401 before anything runs.
//!   Every document then passes the [`Gate`](crate::gate::Gate). Media types and
//!   status codes follow GraphQL over HTTP (`media.rs`).
//! - `GET /graphql`: with an upgrade, the WebSocket endpoint (`socket.rs`), whose
//!   documents pass the same gate; otherwise the GraphiQL playground and, under
//!   `/graphiql/`, its assets (unless disabled); all served from the binary.
//! - `GET /`: a small page linking GraphiQL, the schema, health and the docs.
//!   `GET /schema.graphql`: the SDL.
//! - `GET /healthz`: the process is up. `GET /readyz`: the database answers.
//! - `/admin`: the admin console and its sign-in (see `console/`).
//! - `POST /payments/stripe`, `POST /payments/braintree`: payment providers' webhooks
//!   (see `payments/`), served when their secrets are configured.
//! - `GET /export/codes.csv`, `GET /export/redemptions.csv`, `POST /import/codes.csv`:
//!   CSV out and in (see `files.rs`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::BatchRequest;
use async_graphql::Request;
use async_graphql_axum::GraphQLProtocol;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::{
    ALLOW, AUTHORIZATION, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{AuthError, Authenticator, Role};
use crate::files;
use crate::gate::{Gate, Visitor};
use crate::graphql::build_schema;
use crate::graphql::error::ApiError;
use crate::media::{self, AnswerType};
use crate::messages::Language;
use crate::server::{ConnectionLimits, body_deadline, timed_out};
use crate::service::Services;
use crate::socket::{OpenSockets, SocketState};

/// Limits and options of the HTTP and WebSocket endpoint.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Serve the GraphiQL playground at `GET /graphql`.
    pub graphiql: bool,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most requests in one JSON batch.
    pub max_batch: usize,
    /// Most aliased fields in one document.
    pub max_aliases: usize,
    /// Longest a query or mutation may run before it is abandoned.
    pub request_timeout: Duration,
    /// Roles that may query the schema (`__schema`, `__type`).
    pub introspection: Vec<Role>,
    /// A header set by a proxy in front of the service that holds the client's address
    /// (e.g. `x-forwarded-for`, whose last entry is used). Unset: the TCP peer.
    pub trusted_proxy_header: Option<HeaderName>,
    /// Longest a client may take to send a request's headers, and to start its first
    /// request after connecting.
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// Longest a client may take to send a request's body (CSV imports have
    /// [`files::IMPORT_READ_TIMEOUT`] instead).
    pub body_read_timeout: Duration,
    /// Longest a WebSocket may stay open without a `connection_init`.
    pub ws_init_timeout: Duration,
    /// How often the server pings each WebSocket.
    pub ws_ping_interval: Duration,
    /// How long after a ping a WebSocket's peer must have sent something back.
    pub ws_pong_timeout: Duration,
    /// Most open WebSockets per client address.
    pub ws_max_per_ip: usize,
    /// Most open WebSockets per API key.
    pub ws_max_per_key: usize,
    /// Origins whose pages may call the API from a browser (`Access-Control-Allow-Origin`,
    /// and WebSockets opened from them). Empty: none but the service's own pages.
    pub cors: CorsOrigins,
    /// The payment providers whose webhooks are received (`/payments/…`).
    pub payments: crate::payments::PaymentReceivers,
    /// The service's address as browsers reach it, for the console's sign-in redirect;
    /// `None`: `http://` and the request's `Host`.
    pub public_url: Option<String>,
}

/// Which other origins' pages may call the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: only pages the service itself serves (GraphiQL).
    #[default]
    None,
    /// These origins (`scheme://host[:port]`, lower case).
    List(Vec<HeaderValue>),
    /// Any origin (`*`); credentials are never allowed with it, and the API uses none.
    Any,
}

impl CorsOrigins {
    /// Whether a page from `origin` may open a WebSocket. A page of the service's own
    /// origin (`host`, as the browser sent it) always may.
    fn allows(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        let own = host.and_then(|h| h.to_str().ok()).is_some_and(|h| {
            origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(h))
        });
        own || match self {
            Self::None => false,
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o == origin),
        }
    }

    /// The layer that answers preflights and marks responses for allowed origins: `POST`
    /// (and `GET`) with `Authorization` and `Content-Type`, never with credentials.
    fn layer(&self) -> Option<tower_http::cors::CorsLayer> {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let origins = match self {
            Self::None => return None,
            Self::Any => AllowOrigin::any(),
            Self::List(list) => AllowOrigin::list(list.clone()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([
                    axum::http::Method::GET,
                    axum::http::Method::POST,
                    axum::http::Method::PUT,
                    axum::http::Method::PATCH,
                    axum::http::Method::DELETE,
                ])
                .allow_headers([
                    AUTHORIZATION,
                    CONTENT_TYPE,
                    axum::http::header::ACCEPT_LANGUAGE,
                    axum::http::header::IF_MATCH,
                    HeaderName::from_static("idempotency-key"),
                ])
                .expose_headers([
                    axum::http::header::ETAG,
                    axum::http::header::LOCATION,
                    RETRY_AFTER,
                    HeaderName::from_static("idempotent-replayed"),
                ])
                .max_age(Duration::from_secs(600)),
        )
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            graphiql: true,
            max_body_bytes: 1 << 20,
            max_batch: 10,
            max_aliases: 30,
            request_timeout: Duration::from_secs(10),
            introspection: vec![Role::Admin, Role::Analyst],
            trusted_proxy_header: None,
            header_read_timeout: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(10),
            ws_init_timeout: Duration::from_secs(5),
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: Duration::from_secs(10),
            ws_max_per_ip: 32,
            ws_max_per_key: 1_000,
            cors: CorsOrigins::None,
            payments: crate::payments::PaymentReceivers::default(),
            public_url: None,
        }
    }
}

impl HttpSettings {
    /// What the accept loop enforces.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            keep_alive_timeout: self.keep_alive_timeout,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    gate: Gate,
    services: Services,
    auth: Authenticator,
    sockets: OpenSockets,
}

/// Builds the router. With `demo` (a `public` key and a code that works), `/demo`
/// serves the demo storefront.
pub fn router(
    services: Services,
    auth: Authenticator,
    http: HttpSettings,
    demo: Option<(String, String)>,
) -> Router {
    let graphiql = http.graphiql;
    let body_limit = http.max_body_bytes;
    let body_timeout = http.body_read_timeout;
    let cors = http.cors.layer();
    let files = Router::new()
        .route("/export/codes.csv", get(files::export_codes))
        .route("/export/redemptions.csv", get(files::export_redemptions))
        .route(
            "/import/codes.csv",
            post(files::import_codes)
                .layer(DefaultBodyLimit::max(files::MAX_IMPORT_BYTES))
                .layer(axum::middleware::from_fn(move |r, n| {
                    body_deadline(files::IMPORT_READ_TIMEOUT, r, n)
                })),
        )
        .with_state(files::FileState {
            services: services.clone(),
            auth: auth.clone(),
        });
    let payments = crate::payments::routes(
        services.clone(),
        http.payments.clone(),
        http.trusted_proxy_header.clone(),
    )
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(axum::middleware::from_fn(move |r, n| {
        body_deadline(body_timeout, r, n)
    }));
    let console = crate::console::routes(
        auth.clone(),
        http.public_url.clone(),
        http.trusted_proxy_header.clone(),
    )
    .layer(DefaultBodyLimit::max(64 * 1024));
    let http = Arc::new(http);
    let rest = crate::rest::router(crate::rest::RestState {
        services: services.clone(),
        auth: auth.clone(),
        settings: http.clone(),
    })
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(axum::middleware::from_fn(move |r, n| {
        body_deadline(body_timeout, r, n)
    }))
    .merge(crate::rest::storefront::routes(demo));
    let metrics = crate::metrics::routes(services.clone(), auth.clone());
    let observed = services.metrics.clone();
    let state = AppState {
        gate: Gate::new(build_schema(services.clone()), services.clone(), http),
        services,
        auth,
        sockets: OpenSockets::default(),
    };
    let router = Router::new()
        .route("/", get(home))
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = router.route(
        "/graphql",
        get(graphql_get)
            .post(graphql_handler)
            .layer(axum::middleware::from_fn(move |r, n| {
                body_deadline(body_timeout, r, n)
            })),
    );
    let router = if graphiql {
        router.merge(crate::graphiql::asset_routes())
    } else {
        router
    };
    let router = router
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(files)
        .merge(rest)
        .merge(payments)
        .merge(console)
        .merge(metrics)
        .route_layer(axum::middleware::from_fn_with_state(
            observed,
            crate::metrics::track,
        ));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}

/// The span of one request: method and path only. The query string and headers are
/// left out, as they may carry keys or e-mail addresses.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The client's address: from the trusted proxy header when one is configured (its
/// last entry, the one the proxy added), else the TCP peer.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: Option<&HeaderName>,
) -> Option<IpAddr> {
    match trusted {
        Some(name) => headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back(),
        None => peer.map(|a| a.ip()),
    }
}

/// `GET /graphql`: a WebSocket (`graphql-transport-ws` or the legacy `graphql-ws`),
/// authenticated in `connection_init`; otherwise the GraphiQL page.
async fn graphql_get(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
) -> Response {
    let (upgrade, protocol) = match (upgrade, protocol) {
        (Ok(u), Ok(p)) => (u, p),
        // Documents are not run from URLs, where keys and codes end up in logs.
        _ if carries_a_document(&uri) => {
            let mut response =
                top_level_error(StatusCode::METHOD_NOT_ALLOWED, &ApiError::GetNotServed);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        _ if state.gate.settings().graphiql => {
            return crate::graphiql::page().await.into_response();
        }
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    // Browsers send the page's origin; other clients send none.
    if let Some(origin) = headers.get(axum::http::header::ORIGIN)
        && !state
            .gate
            .settings()
            .cors
            .allows(origin, headers.get(axum::http::header::HOST))
    {
        tracing::info!(origin = ?origin, "refused a WebSocket from an origin not allowed");
        return top_level_error(StatusCode::FORBIDDEN, &ApiError::OriginNotAllowed);
    }
    let ip = client_ip(
        &headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        state.gate.settings().trusted_proxy_header.as_ref(),
    );
    let sockets = SocketState {
        gate: state.gate.clone(),
        auth: state.auth.clone(),
        sockets: state.sockets.clone(),
        events: state.services.events.clone(),
    };
    crate::socket::upgrade(sockets, upgrade, protocol, ip, language_of(&headers))
        .unwrap_or_else(|e| top_level_error(StatusCode::TOO_MANY_REQUESTS, &e))
}

async fn graphql_handler(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer_type = AnswerType::negotiate(&headers);
    let mut response = answer(&state, peer, &headers, body, answer_type).await;
    // Refusals are written in the type asked for too.
    if answer_type == AnswerType::GraphqlResponse {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, answer_type.content_type());
    }
    response
}

/// Reads, authenticates and runs one `POST /graphql` call.
async fn answer(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    answer_type: AnswerType,
) -> Response {
    let settings = state.gate.settings();
    let ip = client_ip(
        headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        settings.trusted_proxy_header.as_ref(),
    );
    // A body that never arrived whole is answered as such (408, 413) whoever sent it:
    // nothing has run either way.
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return unreadable_body(&rejection, settings),
    };
    if !media::is_json_request(headers) {
        return top_level_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &ApiError::UnsupportedMediaType,
        );
    }
    let caller = match state
        .auth
        .authenticate_request(headers, &axum::http::Method::POST)
        .await
    {
        Ok(None) => return refuse(&AuthError::Missing),
        Ok(c) => c.map(|c| c.from_address(ip)),
        Err(AuthError::Storage(fault)) => {
            return top_level_error(StatusCode::SERVICE_UNAVAILABLE, &ApiError::internal(&fault));
        }
        Err(e @ AuthError::ProviderUnavailable) => {
            return top_level_error(StatusCode::SERVICE_UNAVAILABLE, &ApiError::internal(&e));
        }
        Err(e) => return refuse(&e),
    };
    let batch = match decode(&body) {
        Ok(b) => b,
        Err(e) => return top_level_error(StatusCode::BAD_REQUEST, &e),
    };
    let visitor = Visitor {
        caller,
        ip,
        language: language_of(headers),
    };
    let (single, requests) = match batch {
        BatchRequest::Single(r) => (true, vec![r]),
        BatchRequest::Batch(rs) => (false, rs),
    };
    match state.gate.run(&visitor, requests).await {
        Ok(responses) if single => match responses.first() {
            Some(r) => answer_type.single(r),
            None => top_level_error(
                StatusCode::BAD_REQUEST,
                &ApiError::BadRequest("empty request".into()),
            ),
        },
        Ok(responses) => answer_type.batch(&responses),
        Err(e) => top_level_error(status_of(&e), &e),
    }
}

/// Whether a `GET /graphql` names a GraphQL document in its query string.
fn carries_a_document(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("query"))
    })
}

/// The answer to a body that could not be read: too large (413), too slow (408, and
/// the connection is closed), or broken (400).
pub fn unreadable_body(rejection: &BytesRejection, settings: &HttpSettings) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let e = ApiError::BodyTooLarge {
            max: settings.max_body_bytes,
        };
        return top_level_error(StatusCode::PAYLOAD_TOO_LARGE, &e);
    }
    if timed_out(rejection) {
        let e = ApiError::BodyTimeout {
            millis: settings.body_read_timeout.as_millis(),
        };
        let mut response = top_level_error(StatusCode::REQUEST_TIMEOUT, &e);
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let e = ApiError::BadRequest(format!("cannot read the body: {}", rejection.body_text()));
    top_level_error(StatusCode::BAD_REQUEST, &e)
}

/// The HTTP status of a refusal of a whole call.
fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::Timeout { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Reads a body: one request object `{"query": …}`, or a non-empty list of them.
fn decode(body: &[u8]) -> Result<BatchRequest, ApiError> {
    let bad = |detail: String| {
        ApiError::BadRequest(format!(
            "the body must be a GraphQL request in JSON, {{\"query\": …}}, or a list of them: {detail}"
        ))
    };
    let batch = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {
            BatchRequest::Single(serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?)
        }
        Some(b'[') => {
            let list: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            if list.is_empty() {
                return Err(bad("the list is empty".into()));
            }
            let requests = list
                .into_iter()
                .map(|o| serde_json::from_value(serde_json::Value::Object(o)))
                .collect::<Result<Vec<Request>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            BatchRequest::Batch(requests)
        }
        _ => return Err(bad("not a JSON object or list".into())),
    };
    if batch.iter().any(|r| r.query.trim().is_empty()) {
        return Err(bad("\"query\" is missing or empty".into()));
    }
    Ok(batch)
}

fn refuse(e: &AuthError) -> Response {
    let refused = match e {
        AuthError::Missing => ApiError::Unauthenticated,
        other => ApiError::KeyRefused(other.to_string()),
    };
    let mut response = top_level_error(StatusCode::UNAUTHORIZED, &refused);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    tracing::info!(reason = %e, "refused credentials");
    response
}

fn top_level_error(status: StatusCode, e: &ApiError) -> Response {
    let mut response = AnswerType::Json.refusal(status, e.into());
    if let Some(secs) = e.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `GET /`: where things are.
async fn home() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("home.html"))
}

/// `GET /schema.graphql`: the checked-in SDL (a test keeps it equal to the code's).
async fn schema_sdl() -> Response {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        include_str!("../schema.graphql"),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.services.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// The language a request's messages are written in, from its `Accept-Language`.
pub(crate) fn language_of(headers: &HeaderMap) -> Language {
    Language::negotiate(
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}
