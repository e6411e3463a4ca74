//! The HTTP+GraphQL ceiling: the smallest async-graphql server on axum, answering
//! `{ ping }` with no authentication and no database, built with the same crates and
//! settings (release, the same runtime) as the service. Run by the benchmark as a
//! process of its own (`coupons-bench --serve-ping`), loaded like the service with the
//! same connections, so that "service / ping" says how much of the machine's HTTP and
//! GraphQL capacity the service keeps.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::post_service;

/// The ping schema's query root.
struct Query;

#[Object]
impl Query {
    /// Always `pong`.
    async fn ping(&self) -> &'static str {
        "pong"
    }
}

/// Serves `POST /graphql` on a free port of 127.0.0.1 until killed; prints the address as
/// the service does.
pub async fn serve() -> anyhow::Result<()> {
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription).finish();
    let app = Router::new().route("/graphql", post_service(GraphQL::new(schema)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("Listening on http://{}", listener.local_addr()?);
    println!("Press Ctrl-C to stop");
    axum::serve(listener, app).await?;
    Ok(())
}
