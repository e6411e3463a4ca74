//! Errors of the REST API as RFC 9457 `application/problem+json`, made from the very
//! values GraphQL answers with: a top-level [`ApiError`] or a payload's [`UserError`]s.
//! Codes and field paths are the same on both surfaces; REST paths start at the body
//! (GraphQL's start at the `input` argument).

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::graphql::error::{ApiError, UserError, UserErrorCode, user_errors};
use crate::service::ServiceError;

/// An error answer (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Always `about:blank`: `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The HTTP status's phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// Stable, machine-readable code: the GraphQL `extensions.code`, or the first
    /// `userErrors` code.
    pub code: &'static str,
    /// Explanation for a person.
    pub detail: String,
    /// Each problem with the request's fields, as GraphQL's `userErrors`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Seconds to wait before trying again (with `429`; also the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// One problem with a field of the request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Path to the field in the body, e.g. `["discount", "percentage"]`; list positions
    /// as numbers in text. A header is named as `["header", "Idempotency-Key"]`.
    pub field: Vec<String>,
    /// Stable, machine-readable code (`CouponErrorCode` in the GraphQL schema).
    pub code: String,
    /// Explanation for a person.
    pub message: String,
}

impl Problem {
    /// A problem of `status` with `code`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// The problem of a refused call, with the status its kind has.
    pub fn from_api(e: &ApiError) -> Self {
        let status = match e {
            ApiError::Unauthenticated | ApiError::KeyRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::ChannelForbidden
            | ApiError::IntrospectionDisabled
            | ApiError::OriginNotAllowed => StatusCode::FORBIDDEN,
            ApiError::Throttled { .. } | ApiError::TooManyConnections { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::BadUserInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::GetNotServed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Timeout { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadRequest(_)
            | ApiError::BatchTooLarge { .. }
            | ApiError::TooManyAliases { .. }
            | ApiError::ParseFailed(_)
            | ApiError::SubscriberLagged { .. } => StatusCode::BAD_REQUEST,
        };
        Self {
            retry_after: e.retry_after(),
            ..Self::new(status, e.code(), e.message())
        }
    }

    /// The problem of a request the caller can fix, from its `userErrors`. The status
    /// follows the first: 404 for what does not exist, 409 for a conflict with the
    /// stored state, 422 for the rest.
    pub fn from_user_errors(errors: Vec<UserError>) -> Self {
        let first = errors.first().map_or(UserErrorCode::OutOfRange, |e| e.code);
        let status = match first {
            UserErrorCode::NotFound
            | UserErrorCode::ReservationNotFound
            | UserErrorCode::RedemptionNotFound => StatusCode::NOT_FOUND,
            UserErrorCode::HasRedemptions
            | UserErrorCode::IdempotencyKeyReused
            | UserErrorCode::InvalidRedemptionStatus
            | UserErrorCode::ReservationExpired
            | UserErrorCode::CodeTaken => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let detail = errors.first().map_or_else(
            || "the request is invalid".to_owned(),
            |e| e.message.clone(),
        );
        Self {
            errors: errors.into_iter().map(FieldProblem::from).collect(),
            ..Self::new(status, first.name(), detail)
        }
    }

    /// The problem of a use case's error; `id_field` names the body field or path
    /// parameter that identified the coupon.
    pub fn from_service(e: ServiceError, id_field: &str) -> Self {
        if matches!(e, ServiceError::Stale) {
            return Self::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
                e.to_string(),
            );
        }
        match user_errors(e, id_field) {
            Ok(errors) => Self::from_user_errors(errors),
            Err(api) => Self::from_api(&api),
        }
    }

    /// One problem with one field (or header) of the request.
    pub fn field(status: StatusCode, field: &[&str], code: &'static str, message: &str) -> Self {
        Self {
            errors: vec![FieldProblem {
                field: field.iter().map(|s| (*s).to_owned()).collect(),
                code: code.to_owned(),
                message: message.to_owned(),
            }],
            ..Self::new(status, code, message)
        }
    }
}

impl From<UserError> for FieldProblem {
    fn from(e: UserError) -> Self {
        let mut field = e.field.unwrap_or_default();
        if field.first().is_some_and(|f| f == "input") {
            field.remove(0);
        }
        if field.first().is_some_and(|f| f == "idempotencyKey") {
            field = vec!["header".into(), "Idempotency-Key".into()];
        }
        Self {
            field,
            code: e.code.name().to_owned(),
            message: e.message,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Self::from_api(&e)
    }
}
