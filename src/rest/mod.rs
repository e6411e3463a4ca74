//! The REST API under `/api`, with its OpenAPI 3.1 document at `/openapi.json`.
//!
//! Each handler reads the request, calls the same use case as the GraphQL field of the
//! same name, and writes the answer: no rule, limit or visibility policy lives here.
//! The bodies are the GraphQL input types (one definition, two transports); errors are
//! RFC 9457 problems made from the values GraphQL answers with (`problem.rs`). Keys,
//! roles, throttling, anti-enumeration and audit entries are the use cases' and the
//! authenticator's, so both surfaces share them.
//!
//! The document is generated from the handlers' annotations (utoipa); a test keeps the
//! checked-in `openapi.json` equal to it.

mod carts;
mod checkout;
mod coupons;
pub mod problem;
pub mod storefront;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AuthError, Authenticator, Caller, Role};
use crate::graphql::error::{ApiError, key_reused};
use crate::messages::Language;
use crate::router::{HttpSettings, client_ip, language_of};
use crate::server::timed_out;
use crate::service::{ServiceError, Services};
use crate::storage::Idempotent;
pub use problem::Problem;

/// What the handlers share.
#[derive(Clone)]
pub struct RestState {
    /// The use cases.
    pub services: Services,
    /// Checks `Authorization: Bearer` keys.
    pub auth: Authenticator,
    /// Limits of the HTTP endpoint.
    pub settings: Arc<HttpSettings>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coupons REST API",
        description = "Validate, reserve and redeem discount codes; create and change coupons. \
            The same use cases as the GraphQL API at `/graphql`, with the same API keys, roles, \
            limits and error codes. Send `Authorization: Bearer <API key>`. Money is a decimal \
            string with its currency; instants are RFC 3339. Errors are \
            `application/problem+json` (RFC 9457).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    servers((url = "/", description = "This service")),
    security(("apiKey" = [])),
    tags(
        (name = "coupons", description = "Coupons: create, read, list, replace, change, delete (admin; analysts read)."),
        (name = "checkout", description = "Validate a code against an order; reserve, redeem, release and reverse its use."),
        (name = "storefront", description = "What the coupon input widget reads."),
    ),
    modifiers(&ApiKeyScheme),
)]
struct ApiDoc;

/// The refusals any call may get before its own work: a body that cannot be read, a
/// key that is missing, refused or of another role, and a timeout.
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let common = [
            (
                "400",
                "BadRequest",
                "The body is not JSON, or a header is missing",
            ),
            (
                "401",
                "Unauthenticated",
                "No API key, or one that is unknown, revoked or expired",
            ),
            (
                "403",
                "Forbidden",
                "The key's role or channels may not do this",
            ),
            (
                "413",
                "BodyTooLarge",
                "The body is larger than the configured limit",
            ),
            (
                "415",
                "UnsupportedMediaType",
                "The body is not declared as JSON",
            ),
            (
                "503",
                "Timeout",
                "The call took longer than the request timeout",
            ),
        ];
        let components = doc.components.get_or_insert_with(Default::default);
        for (_, name, description) in common {
            components
                .responses
                .insert(name.to_owned(), RefOr::T(problem(description)));
        }
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                // `security: [{}]`: a call that needs no key.
                let open = operation
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
                let with_body = operation.request_body.is_some();
                for (status, name, _) in common {
                    let applies = match status {
                        "401" | "403" => !open,
                        "413" | "415" => with_body,
                        _ => true,
                    };
                    if applies {
                        operation
                            .responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| {
                                RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                            });
                    }
                }
            }
        }
    }
}

/// Adds the bearer API key scheme.
struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "An API key (`cpn_…`). Its role decides what it may do: admin, analyst, storefront or public.".into(),
        );
        components.add_security_scheme("apiKey", SecurityScheme::Http(http));
    }
}

/// The routes and their document.
fn api() -> OpenApiRouter<RestState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(coupons::create, coupons::list))
        .routes(routes!(
            coupons::read,
            coupons::replace,
            coupons::change,
            coupons::delete
        ))
        .routes(routes!(checkout::validate))
        .routes(routes!(checkout::reserve))
        .routes(routes!(checkout::redeem))
        .routes(routes!(checkout::release))
        .routes(routes!(checkout::reverse))
        .routes(routes!(carts::validate))
        .routes(routes!(carts::reserve))
        .routes(routes!(carts::redeem))
        .routes(routes!(carts::release))
        .routes(routes!(carts::reverse))
        .routes(routes!(storefront::texts))
}

/// The OpenAPI document of the REST API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    utoipa::Modify::modify(&CommonAnswers, &mut doc);
    doc
}

/// The document as served and checked in: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The REST routes, ready to merge: each call is abandoned at the request timeout.
pub fn router(state: RestState) -> Router {
    let timeout = state.settings.request_timeout;
    let (router, _) = api().split_for_parts();
    router
        .layer(axum::middleware::from_fn(move |r, n| {
            within_timeout(timeout, r, n)
        }))
        .with_state(state)
}

/// Runs a call to its end on its own task (a write is never cut off halfway by a client
/// going away), answering `503 TIMEOUT` if it takes longer than `timeout`.
async fn within_timeout(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, tokio::spawn(next.run(request))).await {
        Ok(Ok(response)) => response,
        Ok(Err(fault)) => Problem::from_api(&ApiError::internal(&fault)).into_response(),
        Err(_) => {
            tracing::warn!(?timeout, "request abandoned at its timeout");
            Problem::from_api(&ApiError::Timeout {
                millis: timeout.as_millis(),
            })
            .into_response()
        }
    }
}

/// The authenticated caller of a call: every `/api` route but the widget's texts needs
/// `Authorization: Bearer <key>`.
pub struct Authed(pub Caller);

impl FromRequestParts<RestState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, Problem> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let ip = client_ip(
            &parts.headers,
            peer,
            state.settings.trusted_proxy_header.as_ref(),
        );
        match state
            .auth
            .authenticate_request(&parts.headers, &parts.method)
            .await
        {
            Ok(Some(caller)) => Ok(Self(caller.from_address(ip))),
            Ok(None) => Err(ApiError::Unauthenticated.into()),
            Err(AuthError::Storage(fault)) => {
                let mut problem = Problem::from_api(&ApiError::internal(&fault));
                problem.status = StatusCode::SERVICE_UNAVAILABLE.as_u16();
                Err(problem)
            }
            Err(e @ AuthError::ProviderUnavailable) => {
                let mut problem = Problem::from_api(&ApiError::internal(&e));
                problem.status = StatusCode::SERVICE_UNAVAILABLE.as_u16();
                Err(problem)
            }
            Err(e) => {
                tracing::info!(reason = %e, "refused credentials");
                Err(ApiError::KeyRefused(e.to_string()).into())
            }
        }
    }
}

impl Authed {
    /// The caller, if its role is one of `roles` (the GraphQL field's guard list).
    pub fn allowed(self, roles: &'static [Role]) -> Result<Caller, Problem> {
        if roles.contains(&self.0.role) {
            Ok(self.0)
        } else {
            Err(ApiError::Forbidden(roles).into())
        }
    }
}

/// The language of the answer's messages, from `Accept-Language`.
pub struct Lang(pub Language);

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(language_of(&parts.headers)))
    }
}

/// A JSON body of type `T`. Not JSON: `415`; unreadable: `400`; a field of the wrong
/// type or name: `422` naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<RestState> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &RestState) -> Result<Self, Problem> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType.into());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::from_api(&ApiError::BodyTooLarge {
                        max: state.settings.max_body_bytes,
                    })
                } else if timed_out(&rejection) {
                    Problem::from_api(&ApiError::BodyTimeout {
                        millis: state.settings.body_read_timeout.as_millis(),
                    })
                } else {
                    Problem::from_api(&ApiError::BadRequest(rejection.body_text()))
                }
            })?;
        parse(&bytes).map(Self)
    }
}

/// Reads a JSON body, naming the field of a value that does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::from_api(&ApiError::BadRequest(format!(
                "the body is not JSON: {inner}"
            )));
        }
        let field: Vec<String> = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let field: Vec<&str> = field.iter().map(String::as_str).collect();
        Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            &field,
            "BAD_USER_INPUT",
            &inner.to_string(),
        )
    })
}

/// Whether a body is declared as JSON (`application/json`, or a `+json` type such as
/// `application/merge-patch+json`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
                && m.get_param(mime::CHARSET).is_none_or(|c| c == mime::UTF_8)
        })
}

/// The outcome of a change made under an `Idempotency-Key`, and whether it repeats the
/// first answer to that key; a key used for another request, or the use case's error,
/// as its problem.
pub fn keyed<T>(
    result: Result<Idempotent<T>, ServiceError>,
    id_field: &str,
) -> Result<(T, bool), Problem> {
    match result {
        Ok(Idempotent::Fresh(outcome)) => Ok((outcome, false)),
        Ok(Idempotent::Replayed(outcome)) => Ok((outcome, true)),
        Ok(Idempotent::KeyReused) => Err(Problem::from_user_errors(vec![key_reused()])),
        Err(e) => Err(Problem::from_service(e, id_field)),
    }
}

/// The answer to a change: `body` with `status`, marked `Idempotent-Replayed: true` when
/// it repeats the first answer to its key.
pub fn changed(status: StatusCode, body: impl serde::Serialize, replayed: bool) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    response
}

/// The `Idempotency-Key` header a change needs: retries with the same key and request
/// get the first answer.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        Some(Ok(key)) if !key.trim().is_empty() => Ok(key.to_owned()),
        _ => Err(Problem::field(
            StatusCode::BAD_REQUEST,
            &["header", "Idempotency-Key"],
            "BLANK",
            "send a unique Idempotency-Key header (1 to 255 characters) per logical request",
        )),
    }
}
