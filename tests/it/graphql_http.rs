//! GraphQL over HTTP: the media types, status codes and body shapes of `POST /graphql`,
//! and field order equal to the selection order. (The `graphql-http` audit suite runs
//! against the real binary in `tests/browser/graphql-http.test.js`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::coupons::create;
use crate::harness::TestApp;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Posts `query` as JSON with `key` and an `Accept` header; (status, content type, body).
async fn post(app: &TestApp, key: &str, accept: &str, body: Value) -> (StatusCode, String, Value) {
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .header("accept", accept)
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, headers, text) = app.send(request).await;
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, content_type, body)
}

/// Where each of `keys` first appears in `text` (as a JSON key), asserting the order.
fn assert_in_order(text: &str, keys: &[&str]) {
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing from {text}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "keys {keys:?} out of the selection order in {text}"
    );
}

/// Every object of an answer lists its fields as the document selected them: across
/// root fields that finish at different times, inside objects, in mutation payloads
/// with `userErrors` first, and through fragments.
async fn fields_come_back_in_selection_order(app: TestApp) {
    let coupon = create(
        &app,
        json!({ "name": "Ordered", "code": "ORDER10", "discount": { "percentage": "10" } }),
    )
    .await;
    let client = reqwest::Client::new();
    let variables = json!({ "id": coupon["id"] });
    let send = |query: &'static str| {
        let (app, client, variables) = (&app, &client, variables.clone());
        async move { app.http(client, &app.admin, query, variables).await.0 }
    };
    // Several times: the order async resolution gives depends on timing.
    for _ in 0..10 {
        let text =
            send(r#"query ($id: ID) { coupon(id: $id) { code name id } viewer { name } }"#).await;
        assert_in_order(&text, &["coupon", "code", "name", "id", "viewer"]);
        let text = send(
            r#"query ($id: ID) { viewer { name } z: coupon(id: $id) { ...Parts status } }
               fragment Parts on Coupon { redemptionCount code }"#,
        )
        .await;
        assert_in_order(&text, &["viewer", "z", "redemptionCount", "code", "status"]);
        let text = send(
            r#"mutation ($id: ID!) { updateCoupon(input: { id: $id, name: "Ordered again" }) {
                 userErrors { message code field } coupon { name id code } } }"#,
        )
        .await;
        assert_in_order(&text, &["userErrors", "coupon", "name", "id", "code"]);
    }
}
both_backends!(fields_come_back_in_selection_order);

/// `application/graphql-response+json` when asked for, with 400 for requests that
/// never ran; `application/json` otherwise, with 200. Neither has a `data` entry for
/// a request that never ran; both have it for one that ran, errors or not.
async fn media_types_and_status_codes(app: TestApp) {
    let key = app.admin.clone();
    let preferring = "application/graphql-response+json, application/json;q=0.9";
    let never_ran = [
        json!({ "query": "{ viewer { name" }),
        json!({ "query": "{ viewer { nam } }" }),
        json!({ "query": "query Q($id: ID!) { __typename }", "variables": { "id": null } }),
        json!({ "query": "query A { __typename } query B { __typename }" }),
    ];
    for body in &never_ran {
        let (status, content_type, answer) = post(&app, &key, preferring, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(content_type, GRAPHQL_RESPONSE);
        assert!(answer.get("data").is_none(), "{answer}");
        assert!(answer["errors"][0]["message"].is_string());

        for accept in ["application/json", "*/*", ""] {
            let (status, content_type, answer) = post(&app, &key, accept, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{accept}, {body}: {answer}");
            assert_eq!(content_type, "application/json");
            assert!(answer.get("data").is_none(), "{answer}");
        }
    }

    let fine = json!({ "query": "{ viewer { name } }" });
    let (status, content_type, answer) = post(&app, &key, GRAPHQL_RESPONSE, fine).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, GRAPHQL_RESPONSE)
    );
    assert!(answer["data"]["viewer"]["name"].is_string());

    // A field error happens while running: 200, with `data`.
    let storefront = app.key(Role::Storefront).await;
    let refused_field =
        json!({ "query": "{ viewer { name } coupons(first: 1) { nodes { id } } }" });
    let (status, _, answer) = post(&app, &storefront, preferring, refused_field).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["data"]["viewer"]["name"].is_string(), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(answer["errors"][0]["path"], json!(["coupons"]));
}
both_backends!(media_types_and_status_codes);

/// A body not declared as JSON is refused with 415 before anything else, a document in
/// a GET URL with 405, and refusals are written in the type asked for.
async fn requests_that_are_not_json_posts_are_refused(app: TestApp) {
    for content_type in [None, Some("text/plain"), Some("application/graphql")] {
        let mut request =
            Request::post("/graphql").header("authorization", format!("Bearer {}", app.admin));
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let request = request
            .body(Body::from(r#"{"query":"{ viewer { name } }"}"#))
            .unwrap();
        let (status, _, body) = app.send(request).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert!(body.get("data").is_none());
    }

    let request = Request::get("/graphql?query=%7B__typename%7D")
        .header("authorization", format!("Bearer {}", app.admin))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = app.send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    assert!(body.contains("METHOD_NOT_ALLOWED"), "{body}");

    let (status, content_type, body) = post(
        &app,
        "cpn_unknown",
        GRAPHQL_RESPONSE,
        json!({ "query": "{ viewer { name } }" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, GRAPHQL_RESPONSE);
    assert!(body.get("data").is_none());
}
both_backends!(requests_that_are_not_json_posts_are_refused);
