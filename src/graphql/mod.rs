//! The GraphQL API: schema shape, argument parsing, role guards, loaders, and the single
//! mapping of errors (`error.rs`).
//!
//! - `api/`: the root fields, one file per area (`CouponQuery`, `CouponMutation`, …),
//!   merged into [`Query`], [`Mutation`] and [`Subscription`]. A resolver parses its
//!   arguments, calls one service function, and formats the result.
//! - `types/`: output objects, one per file; `inputs/`: input objects and payloads.
//! - `pagination.rs`: connections and cursors; `loaders.rs`: DataLoaders.
//! - `error.rs`: [`error::ApiError`] (top-level errors with `extensions.code`) and
//!   `userErrors`; resolvers return `Result<_, ApiError>` and use `?`.

pub mod api;
pub mod error;
pub mod guard;
pub mod inputs;
pub mod loaders;
pub mod mutation;
pub mod order;
pub mod pagination;
pub mod query;
pub mod scalars;
pub mod shape;
pub mod subscription;
pub mod types;

use std::any::Any;

use async_graphql::{Context, ID, Request, Schema, SchemaBuilder};

use crate::ids::{self, Kind};
use crate::service::{Caller, Services};
use error::ApiError;
use loaders::ServiceLoader;
pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

/// The service's schema.
pub type CouponSchema = Schema<Query, Mutation, Subscription>;

/// The schema's shape and limits, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_RECURSION)
    .limit_directives(MAX_DIRECTIVES)
    .disable_suggestions()
}

/// Deepest selection nesting of a document.
pub const MAX_DEPTH: usize = 16;
/// Highest complexity of a document: each field costs 1, a connection its page size
/// times what is selected on each item.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Deepest nesting of values and selections the parser accepts.
pub const MAX_RECURSION: usize = 32;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 8;

/// The executable schema.
pub fn build_schema(services: Services) -> CouponSchema {
    schema_builder().data(services).finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Request data the router or the schema always adds; missing, it is a server fault.
fn data<'a, T: Any + Send + Sync>(ctx: &Context<'a>) -> Result<&'a T, ApiError> {
    ctx.data_opt::<T>().ok_or_else(|| {
        tracing::error!(
            data = std::any::type_name::<T>(),
            "request data missing; request failed"
        );
        ApiError::Internal
    })
}

/// The use cases, as the schema holds them.
pub fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services, ApiError> {
    data::<Services>(ctx)
}

/// The caller of this request: its key and address; present whenever a role guard let
/// the field run.
pub fn caller(ctx: &Context<'_>) -> Result<Caller, ApiError> {
    data::<Caller>(ctx).cloned()
}

/// The language this request's messages are written in (English when not set).
pub fn language(ctx: &Context<'_>) -> crate::messages::Language {
    ctx.data_opt::<crate::messages::Language>()
        .copied()
        .unwrap_or_default()
}

/// The global ID of the object of `kind` with row id `id`.
pub fn global_id(kind: Kind, id: i64) -> ID {
    ID(ids::encode(kind, id))
}

/// Adds what one request needs: the caller (with its address), the language of its
/// messages and a fresh loader.
pub fn prepare_request(
    request: Request,
    caller: Option<Caller>,
    language: crate::messages::Language,
    services: &Services,
) -> Request {
    let request = request
        .data(ServiceLoader::for_request(services))
        .data(language);
    match caller {
        Some(c) => request.data(c),
        None => request,
    }
}
