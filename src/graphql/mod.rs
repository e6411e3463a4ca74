//! The GraphQL API: schema shape, argument parsing, role guards, and the single mapping
//! of errors (`error.rs`). Resolvers are thin: they parse, call one service function,
//! and format.

pub mod error;
pub mod guard;
pub mod ids;
pub mod inputs;
pub mod mutation;
pub mod query;
pub mod scalars;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptySubscription, Request, Schema, SchemaBuilder};

use crate::auth::Principal;
use crate::service::Services;
pub use mutation::Mutation;
pub use query::Query;
use types::FirstCodeLoader;

/// The service's schema.
pub type CouponSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema's shape and limits, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(16)
        .limit_complexity(2_000)
}

/// The executable schema.
pub fn build_schema(services: Services) -> CouponSchema {
    schema_builder().data(services).finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Adds what one request needs: the caller, and fresh per-request loaders.
pub fn prepare_request(
    request: Request,
    principal: Option<Principal>,
    services: &Services,
) -> Request {
    let request = request.data(DataLoader::new(
        FirstCodeLoader(services.db.clone()),
        tokio::spawn,
    ));
    match principal {
        Some(p) => request.data(p),
        None => request,
    }
}
