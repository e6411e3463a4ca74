//! Every HTTP route, in one place.
//!
//! - `POST /graphql`: the API. Credentials come from `Authorization: Bearer <key>`;
//!   a key that is sent but not valid is refused with HTTP 401 before anything runs.
//! - `GET /graphql`: the GraphiQL playground and, under `/graphiql/`, its assets (unless
//!   disabled); all served from the binary.
//! - `GET /healthz`: the process is up. `GET /readyz`: the database answers.
//! - `GET /export/codes.csv`, `GET /export/redemptions.csv`, `POST /import/codes.csv`:
//!   CSV out and in (see `files.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Request, Response as GqlResponse, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{AuthError, Authenticator, Principal, Role};
use crate::files;
use crate::graphql::error::ApiError;
use crate::graphql::shape::{MAX_TEXT_NESTING, const_has_nul, nests_deeper_than, shape};
use crate::graphql::{CouponSchema, build_schema, prepare_request};
use crate::service::Services;
use crate::service::limiter::Subject;

/// Limits and options of the HTTP endpoint.
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
    /// Longest a request may run before it is abandoned.
    pub request_timeout: Duration,
    /// Roles that may query the schema (`__schema`, `__type`).
    pub introspection: Vec<Role>,
    /// A header set by a proxy in front of the service that holds the client's address
    /// (e.g. `x-forwarded-for`, whose last entry is used). Unset: the TCP peer.
    pub trusted_proxy_header: Option<HeaderName>,
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
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    schema: CouponSchema,
    services: Services,
    auth: Authenticator,
    http: std::sync::Arc<HttpSettings>,
}

/// Builds the router.
pub fn router(services: Services, auth: Authenticator, http: HttpSettings) -> Router {
    let graphiql = http.graphiql;
    let body_limit = http.max_body_bytes;
    let files = Router::new()
        .route("/export/codes.csv", get(files::export_codes))
        .route("/export/redemptions.csv", get(files::export_redemptions))
        .route(
            "/import/codes.csv",
            post(files::import_codes).layer(DefaultBodyLimit::max(files::MAX_IMPORT_BYTES)),
        )
        .with_state(files::FileState {
            services: services.clone(),
            auth: auth.clone(),
        });
    let state = AppState {
        schema: build_schema(services.clone()),
        services,
        auth,
        http: std::sync::Arc::new(http),
    };
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = router.route("/graphql", get(graphql_get).post(graphql_handler));
    let router = if graphiql {
        router.merge(crate::graphiql::asset_routes())
    } else {
        router
    };
    router
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(files)
        .layer(
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
fn client_ip(
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

/// `GET /graphql`: a WebSocket for subscriptions (`graphql-transport-ws` or the legacy
/// `graphql-ws`), authenticated in `connection_init`; otherwise the GraphiQL page.
async fn graphql_get(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    protocol: Result<GraphQLProtocol, StatusCode>,
) -> Response {
    let (upgrade, protocol) = match (upgrade, protocol) {
        (Ok(u), Ok(p)) => (u, p),
        _ if state.http.graphiql => return crate::graphiql::page().await.into_response(),
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let ip = client_ip(
        &headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        state.http.trusted_proxy_header.as_ref(),
    );
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, ip))
}

/// Serves one subscription socket until the client leaves or the service shuts down;
/// then the client is told with a close frame (1001, going away), so it can reconnect
/// to another instance.
async fn serve_socket(
    socket: WebSocket,
    state: AppState,
    protocol: GraphQLProtocol,
    ip: Option<IpAddr>,
) {
    let (mut sink, stream) = socket.split();
    let events = state.services.events.clone();
    let schema = state.schema.clone();
    let input = stream.take_until(Box::pin(async move { events.closed().await }));
    let closing = state.services.events.clone();
    GraphQLWebSocket::new_with_pair(&mut sink, input, schema, protocol)
        .on_connection_init(move |payload| connection_init(state, ip, payload))
        .serve()
        .await;
    if closing.is_closing() {
        let frame = CloseFrame {
            code: close_code::AWAY,
            reason: "the server is shutting down".into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
        let _ = sink.close().await;
    }
}

/// Authenticates a WebSocket from its `connection_init` payload:
/// `{"Authorization": "Bearer cpn_…"}` (or `authorization`). A missing or invalid key
/// closes the connection.
async fn connection_init(
    state: AppState,
    ip: Option<IpAddr>,
    payload: serde_json::Value,
) -> async_graphql::Result<async_graphql::Data> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()));
    let principal = match state.auth.authenticate(header).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(AuthError::Malformed | AuthError::InvalidKey) => {
            return Err(ApiError::Unauthenticated.into());
        }
        Err(AuthError::Storage(fault)) => return Err(ApiError::internal(&fault).into()),
    };
    let mut data = async_graphql::Data::default();
    data.insert(principal);
    data.insert(crate::graphql::ClientIp(ip));
    Ok(data)
}

async fn graphql_handler(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ip = client_ip(
        &headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        state.http.trusted_proxy_header.as_ref(),
    );
    let header = match headers.get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return refuse(&AuthError::Malformed),
    };
    let principal = match state.auth.authenticate(header).await {
        Ok(p) => p,
        Err(AuthError::Storage(fault)) => {
            return top_level_error(StatusCode::SERVICE_UNAVAILABLE, &ApiError::internal(&fault));
        }
        Err(e) => return refuse(&e),
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let e = ApiError::BodyTooLarge {
                max: state.http.max_body_bytes,
            };
            return top_level_error(StatusCode::PAYLOAD_TOO_LARGE, &e);
        }
        Err(rejection) => {
            let e =
                ApiError::BadRequest(format!("cannot read the body: {}", rejection.body_text()));
            return top_level_error(StatusCode::BAD_REQUEST, &e);
        }
    };
    let batch = match decode(&body) {
        Ok(b) => b,
        Err(e) => return top_level_error(StatusCode::BAD_REQUEST, &e),
    };
    let guard = Guard {
        state: &state,
        principal: principal.as_ref(),
        ip,
    };
    match batch {
        BatchRequest::Single(request) => {
            let response = guard.run(vec![request]).await;
            match response {
                Ok(mut responses) => match responses.pop() {
                    Some(r) => Json(r).into_response(),
                    None => top_level_error(
                        StatusCode::BAD_REQUEST,
                        &ApiError::BadRequest("empty request".into()),
                    ),
                },
                Err((status, e)) => top_level_error(status, &e),
            }
        }
        BatchRequest::Batch(requests) => match guard.run(requests).await {
            Ok(responses) => Json(responses).into_response(),
            Err((status, e)) => top_level_error(status, &e),
        },
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

/// Applies the limits to the requests of one HTTP call and runs them.
struct Guard<'a> {
    state: &'a AppState,
    principal: Option<&'a Principal>,
    ip: Option<IpAddr>,
}

impl Guard<'_> {
    /// Charges `n` failed code checks to the caller (its key and address).
    fn charge(&self, n: usize) {
        let Some(p) = self.principal else { return };
        if n == 0 {
            return;
        }
        let scope = p
            .key_id
            .map_or_else(|| "admin-env".to_owned(), |id| format!("key:{id}"));
        let mut subjects = vec![Subject::Key(scope)];
        subjects.extend(self.ip.map(Subject::Ip));
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.state.services.limiter.fail(p.role, &subjects, n);
        tracing::warn!(key = %p.key_prefix, ip = ?self.ip, checks = n, "refused a request carrying code checks; charged as failures");
    }

    /// Refuses the whole call, or runs each request within the timeout.
    async fn run(
        &self,
        requests: Vec<Request>,
    ) -> Result<Vec<GqlResponse>, (StatusCode, ApiError)> {
        let http = &self.state.http;
        if requests.len() > http.max_batch {
            let checks: usize = requests
                .iter()
                .filter(|r| !nests_deeper_than(&r.query, MAX_TEXT_NESTING))
                .filter_map(|r| async_graphql::parser::parse_query(&r.query).ok())
                .map(|doc| shape(&doc).code_checks)
                .sum();
            self.charge(checks);
            return Err((
                StatusCode::BAD_REQUEST,
                ApiError::BatchTooLarge {
                    max: http.max_batch,
                },
            ));
        }
        let mut prepared = Vec::with_capacity(requests.len());
        for request in requests {
            prepared.push(self.prepare(request));
        }
        let writes = prepared.iter().any(|r| matches!(r, Ok((_, true))));
        let schema = self.state.schema.clone();
        let work = async move {
            let mut responses = Vec::with_capacity(prepared.len());
            for request in prepared {
                responses.push(match request {
                    Ok((request, _)) => schema.execute(request).await,
                    Err(e) => GqlResponse::from_errors(vec![server_error(&e)]),
                });
            }
            responses
        };
        // Mutations run as a task of their own: at the timeout the caller is answered,
        // while a transaction under way finishes or rolls back by itself instead of
        // being cut off halfway (a retry with the same idempotency key then gets its
        // result). Queries only read, so they are simply dropped at the timeout, which
        // saves a task and a wake-up per request.
        let finished = if writes {
            tokio::time::timeout(http.request_timeout, tokio::spawn(work))
                .await
                .map(|joined| joined.map_err(|e| ApiError::internal(&e)))
        } else {
            tokio::time::timeout(http.request_timeout, work)
                .await
                .map(Ok)
        };
        match finished {
            Ok(Ok(mut responses)) => {
                responses.iter_mut().for_each(tag_errors);
                Ok(responses)
            }
            Ok(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, e)),
            Err(_) => {
                tracing::warn!(timeout = ?http.request_timeout, "request abandoned at its timeout");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    ApiError::Timeout {
                        millis: http.request_timeout.as_millis(),
                    },
                ))
            }
        }
    }

    /// Parses one request, refuses it if its shape is over the limits, and adds what it
    /// needs to run.
    /// Returns the request and whether it may write (holds a mutation).
    fn prepare(&self, mut request: Request) -> Result<(Request, bool), ApiError> {
        let http = &self.state.http;
        if nests_deeper_than(&request.query, MAX_TEXT_NESTING) {
            return Err(ApiError::ParseFailed(format!(
                "the document nests deeper than {MAX_TEXT_NESTING} levels"
            )));
        }
        let doc = request
            .parsed_query()
            .map_err(|e| ApiError::ParseFailed(e.message))?;
        let writes = doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query);
        let shape = shape(doc);
        if shape.nul_text
            || request
                .variables
                .iter()
                .any(|(k, v)| k.contains('\0') || const_has_nul(v))
        {
            return Err(ApiError::BadUserInput(
                "text may not contain NUL characters (U+0000)".into(),
            ));
        }
        if shape.aliases > http.max_aliases {
            self.charge(shape.code_checks);
            return Err(ApiError::TooManyAliases {
                max: http.max_aliases,
            });
        }
        if !self
            .principal
            .is_some_and(|p| http.introspection.contains(&p.role))
        {
            if shape.introspection > 0 {
                return Err(ApiError::IntrospectionDisabled);
            }
            request = request.disable_introspection();
        }
        let request = prepare_request(
            request,
            self.principal.cloned(),
            self.ip,
            &self.state.services,
        );
        Ok((request, writes))
    }
}

/// A top-level error of one request in a response.
fn server_error(e: &ApiError) -> ServerError {
    let mut error = ServerError::new(e.message(), None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", e.code());
    error.extensions = Some(ext);
    error
}

/// Gives every error async-graphql raised itself (validation, limits) a stable code.
fn tag_errors(response: &mut GqlResponse) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let code = match error.message.as_str() {
            "Query is nested too deep." => "QUERY_TOO_DEEP",
            "Query is too complex." => "QUERY_TOO_COMPLEX",
            _ => "GRAPHQL_VALIDATION_FAILED",
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}

fn refuse(e: &AuthError) -> Response {
    let mut response = top_level_error(StatusCode::UNAUTHORIZED, &ApiError::Unauthenticated);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    tracing::info!(reason = %e, "refused credentials");
    response
}

fn top_level_error(status: StatusCode, e: &ApiError) -> Response {
    let mut extensions = json!({ "code": e.code() });
    if let Some(secs) = e.retry_after() {
        extensions["retryAfter"] = json!(secs);
    }
    let body = json!({
        "data": null,
        "errors": [{ "message": e.message(), "extensions": extensions }],
    });
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = e.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
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
