//! What a storefront page loads from the service: the coupon input widget
//! (`/widget.js`, and `/widget/v1.js` for pages that pin the version with an integrity
//! hash), its texts in the shopper's language, the demo storefront (`/demo`, off unless
//! enabled), and the API reference page (`/api/docs`, from `/openapi.json`). Everything
//! is served from the binary: no page depends on another site.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::Lang;
use crate::messages::{self, WidgetTexts};

/// The widget's source, served verbatim.
pub const WIDGET: &str = include_str!("../widget/coupon-input.js");
/// The version in the pinned path.
pub const WIDGET_VERSION: &str = "v1";
const DEMO: &str = include_str!("../widget/demo.html");
const REFERENCE: &str = include_str!("reference.html");
/// Redoc 2.5.4's standalone bundle, an unmodified npm release (MIT; checksum in
/// `vendor/SHA256SUMS`).
const REDOC: &[u8] = include_bytes!("vendor/redoc.standalone.js");

/// The coupon widget's texts
///
/// The widget's texts in the language of `Accept-Language`. Needs no key.
#[utoipa::path(
    operation_id = "getWidgetTexts",
    get,
    path = "/api/widget/texts",
    tag = "storefront",
    security(()),
    params(("Accept-Language" = Option<String>, Header, description = "The shopper's languages; English when none is shipped")),
    responses((status = 200, description = "The texts", body = WidgetTexts)),
)]
pub async fn texts(Lang(language): Lang) -> Response {
    (
        [
            (VARY, "Accept-Language"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        axum::Json(messages::widget_texts(language)),
    )
        .into_response()
}

/// The widget, the reference page and the document; with `demo`, the demo storefront,
/// which uses `public_key` and shows `demo_code`.
pub fn routes(demo: Option<(String, String)>) -> Router {
    let script = |cache: &'static str| {
        move || async move {
            (
                [
                    (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (CACHE_CONTROL, cache),
                ],
                WIDGET,
            )
                .into_response()
        }
    };
    let router = Router::new()
        .route("/widget.js", get(script("public, max-age=300")))
        .route(
            &format!("/widget/{WIDGET_VERSION}.js"),
            get(script("public, max-age=31536000, immutable")),
        )
        .route("/openapi.json", get(openapi))
        .route("/api/docs", get(reference))
        .route(
            "/api/docs/redoc-2.5.4.standalone.js",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    ],
                    REDOC,
                )
                    .into_response()
            }),
        );
    match demo {
        None => router,
        Some((public_key, code)) => {
            let page = DEMO
                .replace("{{PUBLIC_KEY}}", &public_key)
                .replace("{{DEMO_CODE}}", &code);
            router.route("/demo", get(move || async move { Html(page) }))
        }
    }
}

/// `GET /api/docs`: the reference page. Its policy keeps every request on this service
/// (Redoc's footer would fetch its logo from the vendor's CDN; blocked, it is left out).
async fn reference() -> Response {
    (
        [(
            axum::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'",
        )],
        Html(REFERENCE),
    )
        .into_response()
}

/// `GET /openapi.json`: the checked-in document (a test keeps it equal to the code's).
async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}
