//! Every HTTP route, in one place.
//!
//! - `POST /graphql`: the API. Credentials come from `Authorization: Bearer <key>`;
//!   a key that is sent but not valid is refused with HTTP 401 before anything runs.
//! - `GET /graphql`: the GraphiQL playground and, under `/graphiql/`, its assets (unless
//!   disabled); all served from the binary.
//! - `GET /healthz`: the process is up. `GET /readyz`: the database answers.

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::{AuthError, Authenticator};
use crate::graphql::error::ApiError;
use crate::graphql::{CouponSchema, build_schema, prepare_request};
use crate::service::Services;

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    schema: CouponSchema,
    services: Services,
    auth: Authenticator,
}

/// Builds the router.
pub fn router(services: Services, auth: Authenticator, graphiql: bool) -> Router {
    let state = AppState {
        schema: build_schema(services.clone()),
        services,
        auth,
    };
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let router = if graphiql {
        router
            .route("/graphql", get(crate::graphiql::page).post(graphql_handler))
            .merge(crate::graphiql::asset_routes())
    } else {
        router.route("/graphql", axum::routing::post(graphql_handler))
    };
    router.with_state(state).layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
}

async fn graphql_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
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
    let request = prepare_request(request.into_inner(), principal, &state.services);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

fn refuse(e: &AuthError) -> Response {
    let mut response = top_level_error(StatusCode::UNAUTHORIZED, &ApiError::Unauthenticated);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    tracing::info!(reason = %e, "refused credentials");
    response
}

fn top_level_error(status: StatusCode, e: &ApiError) -> Response {
    let body = json!({
        "data": null,
        "errors": [{ "message": e.message(), "extensions": { "code": e.code() } }],
    });
    (status, Json(body)).into_response()
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
