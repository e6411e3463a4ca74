//! Browsers on other origins: `COUPONS_CORS_ORIGINS` lists the shops whose pages may call
//! the API; preflights are answered for them alone, credentials are never allowed, and
//! WebSockets opened from a page of another origin are refused.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coupons::auth::Role;
use coupons::router::{CorsOrigins, HttpSettings};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::both_backends;
use crate::coupons::create;
use crate::harness::{Options, TestApp};

const SHOP: &str = "https://shop.example";

fn shop_only() -> Options {
    Options {
        http: Some(HttpSettings {
            cors: CorsOrigins::List(vec![SHOP.parse().unwrap()]),
            ..HttpSettings::default()
        }),
        ..Options::default()
    }
}

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/graphql")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

/// A listed shop's page gets its preflight answered and may validate with a public key;
/// an unlisted origin gets no CORS headers (the browser then blocks the call), and its
/// WebSocket is refused, while a same-origin or non-browser WebSocket is not.
async fn only_listed_origins_may_call_from_a_browser(app: TestApp) {
    create(
        &app,
        json!({ "name": "Widget", "code": "WIDGET10", "discount": { "percentage": "10" } }),
    )
    .await;
    let (status, headers, _) = app.send(preflight(SHOP)).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    let methods = headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(headers.get("access-control-allow-credentials").is_none());

    let public = app.key(Role::Public).await;
    let validate = json!({ "query": "{ validateCoupon(input: { code: \"widget10\", order: { id: \"w\", currency: \"USD\", subtotal: \"20\" } }) { valid } }" });
    let post = |origin: &str| {
        Request::post("/graphql")
            .header("origin", origin)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {public}"))
            .body(Body::from(validate.to_string()))
            .unwrap()
    };
    let (status, headers, body) = app.send(post(SHOP)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    assert!(body.contains("\"valid\":true"), "{body}");

    let elsewhere = "https://evil.example";
    let (_, headers, _) = app.send(preflight(elsewhere)).await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let (_, headers, _) = app.send(post(elsewhere)).await;
    assert!(headers.get("access-control-allow-origin").is_none());

    let base = app.base_url().await.to_owned();
    let open = |origin: Option<String>| {
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(&origin).unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    match open(Some(elsewhere.into())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!(
            "a WebSocket from {elsewhere} was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    assert!(open(Some(SHOP.into())).await.is_ok());
    assert!(
        open(Some(base.clone())).await.is_ok(),
        "the service's own pages"
    );
    assert!(open(None).await.is_ok(), "clients that are not browsers");
}
both_backends!(
    only_listed_origins_may_call_from_a_browser,
    super::shop_only()
);

/// With no origins configured, no response carries CORS headers.
async fn no_origins_no_cors_headers(app: TestApp) {
    let (_, headers, _) = app.send(preflight(SHOP)).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}
both_backends!(no_origins_no_cors_headers);
