//! CSV over HTTP: exports streamed to admins and analysts, code imports from admins.
//! The routes are registered in `router.rs`; the work is `service::transfer`.
//!
//! - `GET /export/codes.csv?coupon=<ID>`: a coupon's codes.
//! - `GET /export/redemptions.csv?coupon=<ID>&campaign=<ID>&since=<RFC 3339>&until=…`:
//!   redemptions, each filter optional.
//! - `POST /import/codes.csv?coupon=<ID>` with the CSV as the body: 200
//!   `{"imported": n}`, or 422 `{"imported": 0, "errors": [{line, column, code,
//!   message}]}` with nothing written.
//!
//! Credentials are `Authorization: Bearer <key>`, as for `/graphql`; errors other than
//! bad rows have the GraphQL error shape with `extensions.code`.

use axum::{Extension, Json};
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use coupons_domain::CouponId;
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{AuthError, Authenticator, Caller, Role};
use crate::graphql::error::ApiError;
use crate::ids::{self, Kind};
use crate::service::Services;
use crate::service::transfer::{self, ImportError};
use crate::storage::RedemptionFilter;

/// Largest import body, in bytes (a million codes with their columns fit).
pub const MAX_IMPORT_BYTES: usize = 64 << 20;
/// Longest an import's body may take to arrive (64 MiB at about 220 KiB/s).
pub const IMPORT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// What the file routes share.
#[derive(Clone)]
pub struct FileState {
    /// The use cases.
    pub services: Services,
    /// Checks the key.
    pub auth: Authenticator,
}

/// The query string of the export and import routes.
#[derive(Debug, Default, Deserialize)]
pub struct FileQuery {
    /// A coupon's global ID.
    coupon: Option<String>,
    /// A campaign's global ID.
    campaign: Option<String>,
    /// Redemptions made at or after this instant (RFC 3339).
    since: Option<String>,
    /// Redemptions made before this instant (RFC 3339).
    until: Option<String>,
}

/// A refusal: its HTTP status and the error, in the GraphQL error shape.
#[derive(Debug)]
pub struct Refusal(StatusCode, ApiError);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Self(status, e) = self;
        let body =
            json!({ "errors": [{ "message": e.message(), "extensions": { "code": e.code() } }] });
        (status, Json(body)).into_response()
    }
}

fn bad_input(message: String) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, ApiError::BadUserInput(message))
}

fn not_found() -> Refusal {
    Refusal(
        StatusCode::NOT_FOUND,
        ApiError::BadUserInput("coupon not found".into()),
    )
}

/// The caller, if its key has one of `roles`.
async fn authorize(
    auth: &Authenticator,
    headers: &HeaderMap,
    method: &axum::http::Method,
    roles: &'static [Role],
) -> Result<Caller, Refusal> {
    match auth.authenticate_request(headers, method).await {
        Ok(Some(p)) if roles.contains(&p.role) => Ok(p),
        Ok(Some(_)) => Err(Refusal(StatusCode::FORBIDDEN, ApiError::Forbidden(roles))),
        Ok(None) | Err(AuthError::Missing) => {
            Err(Refusal(StatusCode::UNAUTHORIZED, ApiError::Unauthenticated))
        }
        Err(
            e @ (AuthError::Malformed
            | AuthError::UnknownKey
            | AuthError::Revoked
            | AuthError::Expired
            | AuthError::Token(_)
            | AuthError::SessionEnded
            | AuthError::CsrfMissing),
        ) => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            ApiError::KeyRefused(e.to_string()),
        )),
        Err(AuthError::Storage(fault)) => Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::internal(&fault),
        )),
        Err(e @ AuthError::ProviderUnavailable) => Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::internal(&e),
        )),
    }
}

fn id_param(value: Option<&str>, kind: Kind, name: &str) -> Result<Option<i64>, Refusal> {
    match value {
        None => Ok(None),
        Some(v) => ids::decode(kind, v)
            .map(Some)
            .ok_or_else(|| bad_input(format!("{name}={v:?} is not a {name} ID"))),
    }
}

/// The coupon the request names; it must be given.
fn coupon_param(query: &FileQuery) -> Result<CouponId, Refusal> {
    id_param(query.coupon.as_deref(), Kind::Coupon, "coupon")?
        .map(CouponId)
        .ok_or_else(|| bad_input("coupon=<ID> is required".into()))
}

fn instant_param(value: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, Refusal> {
    match value {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| bad_input(format!("{name}={v:?} is not an RFC 3339 instant"))),
    }
}

/// A streamed CSV download. A fault after the first bytes ends the body early (the
/// client sees a broken transfer, never a silently short file that looks whole).
fn csv_response(
    name: &str,
    stream: impl futures_util::Stream<Item = Result<Vec<u8>, crate::storage::StorageError>>
    + Send
    + 'static,
) -> Response {
    let body = Body::from_stream(stream.map(|chunk| {
        chunk.map(Bytes::from).map_err(|e| {
            tracing::error!(error = %e, "export failed");
            std::io::Error::other("export failed")
        })
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    response
}

const READERS: &[Role] = &[Role::Admin, Role::Analyst];

/// `GET /export/codes.csv?coupon=<ID>`.
pub async fn export_codes(
    State(state): State<FileState>,
    headers: HeaderMap,
    Query(query): Query<FileQuery>,
) -> Result<Response, Refusal> {
    authorize(&state.auth, &headers, &axum::http::Method::GET, READERS).await?;
    let coupon = coupon_param(&query)?;
    let found = crate::service::coupons::coupon(&state.services, coupon)
        .await
        .map_err(|e| Refusal(StatusCode::SERVICE_UNAVAILABLE, ApiError::internal(&e)))?;
    if found.is_none() {
        return Err(not_found());
    }
    Ok(csv_response(
        "codes.csv",
        transfer::export_codes(state.services.db.clone(), coupon),
    ))
}

/// `GET /export/redemptions.csv?coupon=&campaign=&since=&until=`.
pub async fn export_redemptions(
    State(state): State<FileState>,
    headers: HeaderMap,
    Query(query): Query<FileQuery>,
) -> Result<Response, Refusal> {
    authorize(&state.auth, &headers, &axum::http::Method::GET, READERS).await?;
    let filter = RedemptionFilter {
        coupon_id: id_param(query.coupon.as_deref(), Kind::Coupon, "coupon")?,
        campaign_id: id_param(query.campaign.as_deref(), Kind::Campaign, "campaign")?,
        since: instant_param(query.since.as_deref(), "since")?,
        until: instant_param(query.until.as_deref(), "until")?,
        ..Default::default()
    };
    Ok(csv_response(
        "redemptions.csv",
        transfer::export_redemptions(state.services.db.clone(), filter),
    ))
}

/// `POST /import/codes.csv?coupon=<ID>`.
pub async fn import_codes(
    State(state): State<FileState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(query): Query<FileQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = authorize(
        &state.auth,
        &headers,
        &axum::http::Method::POST,
        &[Role::Admin],
    )
    .await?;
    let coupon = coupon_param(&query)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::BodyTooLarge {
                    max: MAX_IMPORT_BYTES,
                },
            )
        } else if crate::server::timed_out(&rejection) {
            Refusal(
                StatusCode::REQUEST_TIMEOUT,
                ApiError::BodyTimeout {
                    millis: IMPORT_READ_TIMEOUT.as_millis(),
                },
            )
        } else {
            Refusal(
                StatusCode::BAD_REQUEST,
                ApiError::BadRequest(rejection.body_text()),
            )
        }
    })?;
    let actor = caller
        .from_address(peer.map(|Extension(ConnectInfo(a))| a.ip()))
        .actor();
    match transfer::import_codes(&state.services.db, coupon, &body, &actor).await {
        Ok(n) => Ok(Json(json!({ "imported": n })).into_response()),
        Err(ImportError::Rows(errors)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "imported": 0, "errors": errors })),
        )
            .into_response()),
        Err(ImportError::CouponNotFound) => Err(not_found()),
        Err(ImportError::Storage(e)) => Err(Refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::internal(&e),
        )),
    }
}
