//! The GraphiQL playground, served entirely by this binary so it works without internet
//! access. The page is ours; the bundles in `vendor/` are unmodified npm releases
//! (graphiql 3.9.0, react and react-dom 18.3.1, MIT-licensed, checksums in
//! `vendor/SHA256SUMS`). Asset paths carry the version, so browsers may cache them for good.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

const PAGE: &str = include_str!("page.html");

/// (path, content type, bytes) of every asset the page loads.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "/graphiql/3.9.0/graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("vendor/graphiql.min.css"),
    ),
    (
        "/graphiql/3.9.0/graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/graphiql.min.js"),
    ),
    (
        "/graphiql/18.3.1/react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/react.production.min.js"),
    ),
    (
        "/graphiql/18.3.1/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/react-dom.production.min.js"),
    ),
];

/// The page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Routes for the page's assets.
pub fn asset_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, bytes)| {
            router.route(
                path,
                get(move || async move {
                    (
                        [
                            (CONTENT_TYPE, content_type),
                            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                        ],
                        bytes,
                    )
                        .into_response()
                }),
            )
        })
}
