//! GraphQL over HTTP: which media type an answer is written in, its status code, and
//! how it is serialised.
//!
//! Two types are served on `POST /graphql`:
//!
//! - `application/json`, the default (no `Accept`, `*/*`, or asked for): every answer
//!   to a request that was read is `200 OK`, its errors in the body.
//! - `application/graphql-response+json`, when the `Accept` header names it at a
//!   quality no lower than JSON's: a request that never ran (it did not parse or
//!   validate, or its variables did not fit) is `400 Bad Request`.
//!
//! Whatever the type, an answer to a request that never ran has no `data` entry, as
//! the GraphQL spec says; one that ran has it (`null` when a non-null root field
//! failed). A request body must be declared as JSON (`415` otherwise).

use std::collections::BTreeMap;

use async_graphql::{Response, ServerError, Value};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse as _;
use serde::Serialize;

/// The GraphQL-over-HTTP response media type.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type an answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerType {
    /// `application/json`.
    Json,
    /// `application/graphql-response+json`.
    GraphqlResponse,
}

impl AnswerType {
    /// The type the request's `Accept` header prefers. The GraphQL type only when the
    /// header names it, at a quality no lower than `application/json`'s (wildcards
    /// count for JSON): clients that know nothing of it keep getting JSON.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let mut graphql = 0.0_f32;
        let mut json = 0.0_f32;
        let ranges = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|range| range.trim().parse::<mime::Mime>().ok());
        for range in ranges {
            let q = range
                .get_param("q")
                .and_then(|q| q.as_str().parse::<f32>().ok())
                .unwrap_or(1.0);
            match range.essence_str() {
                GRAPHQL_RESPONSE_JSON => graphql = graphql.max(q),
                "application/json" | "application/*" | "*/*" => json = json.max(q),
                _ => {}
            }
        }
        if graphql > 0.0 && graphql >= json {
            Self::GraphqlResponse
        } else {
            Self::Json
        }
    }

    /// Its `Content-Type` value.
    pub fn content_type(self) -> HeaderValue {
        match self {
            Self::Json => HeaderValue::from_static("application/json"),
            Self::GraphqlResponse => HeaderValue::from_static(GRAPHQL_RESPONSE_JSON),
        }
    }

    /// Writes one answer: its status, its type and the body.
    pub fn single(self, response: &Response) -> axum::response::Response {
        if found_no_database(response) {
            let mut answer = self.body(StatusCode::SERVICE_UNAVAILABLE, &Answer::from(response));
            answer
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 1.into());
            return answer;
        }
        let status = if self == Self::GraphqlResponse && never_ran(response) {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        self.body(status, &Answer::from(response))
    }

    /// Writes the answers of a batch, in order: `200 OK`, each answer carrying its own
    /// errors.
    pub fn batch(self, responses: &[Response]) -> axum::response::Response {
        let answers: Vec<Answer<'_>> = responses.iter().map(Answer::from).collect();
        self.body(StatusCode::OK, &answers)
    }

    /// Writes the refusal of a whole call: `status`, and `error` as its only entry.
    pub fn refusal(self, status: StatusCode, error: ServerError) -> axum::response::Response {
        let response = Response::from_errors(vec![error]);
        self.body(status, &Answer::from(&response))
    }

    fn body(self, status: StatusCode, body: &impl Serialize) -> axum::response::Response {
        match serde_json::to_vec(body) {
            Ok(bytes) => (status, [(CONTENT_TYPE, self.content_type())], bytes).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "an answer could not be serialised");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Whether a request body is declared as JSON: `application/json`, in UTF-8 if a
/// charset is given.
pub fn is_json_request(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(media) = value.parse::<mime::Mime>() else {
        return false;
    };
    media.essence_str() == "application/json"
        && media
            .get_param(mime::CHARSET)
            .is_none_or(|c| c == mime::UTF_8)
}

/// Whether an answer holds nothing because the database was out of reach: no field got
/// a value, and an error says `SERVICE_UNAVAILABLE`. It is sent as `503` with
/// `Retry-After`, so that clients and proxies retry it as they retry any 503.
pub fn found_no_database(response: &Response) -> bool {
    let nothing = match &response.data {
        Value::Null => true,
        Value::Object(fields) => fields.values().all(|v| *v == Value::Null),
        _ => false,
    };
    nothing
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .is_some_and(|code| *code == Value::from("SERVICE_UNAVAILABLE"))
        })
}

/// Whether an answer is to a request that never ran: no data, and only errors that
/// belong to no field. An error raised while running always has the path of its field.
pub fn never_ran(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// One answer as the GraphQL spec writes it.
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
}

impl<'a> From<&'a Response> for Answer<'a> {
    fn from(response: &'a Response) -> Self {
        Self {
            data: (!never_ran(response)).then_some(&response.data),
            extensions: &response.extensions,
            errors: &response.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> AnswerType {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).expect("test header"));
        AnswerType::negotiate(&headers)
    }

    #[test]
    fn json_unless_the_graphql_type_is_asked_for() {
        assert_eq!(AnswerType::negotiate(&HeaderMap::new()), AnswerType::Json);
        assert_eq!(accept("*/*"), AnswerType::Json);
        assert_eq!(accept("application/json"), AnswerType::Json);
        assert_eq!(accept("text/html"), AnswerType::Json);
        assert_eq!(accept(GRAPHQL_RESPONSE_JSON), AnswerType::GraphqlResponse);
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            AnswerType::GraphqlResponse
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            AnswerType::Json
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0"),
            AnswerType::Json
        );
    }

    #[test]
    fn only_json_bodies_are_requests() {
        let with = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(v).expect("test header"));
            is_json_request(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/json; charset=UTF-8"));
        assert!(!with("application/json; charset=latin1"));
        assert!(!with("text/plain"));
        assert!(!with("application/graphql"));
        assert!(!is_json_request(&HeaderMap::new()));
    }

    #[test]
    fn an_answer_that_never_ran_has_no_data() {
        let refused = Response::from_errors(vec![ServerError::new("no", None)]);
        let written = serde_json::to_value(Answer::from(&refused)).expect("serialises");
        assert!(written.get("data").is_none());
        let ran = Response::new(Value::Null);
        let written = serde_json::to_value(Answer::from(&ran)).expect("serialises");
        assert_eq!(written.get("data"), Some(&serde_json::Value::Null));
    }
}
