//! The GraphQL API: schema shape, argument parsing, role guards, and the single mapping
//! of errors (`error.rs`). Resolvers are thin: they parse, call one service function,
//! and format.

pub mod campaigns;
pub mod error;
pub mod guard;
pub mod ids;
pub mod inputs;
pub mod jobs;
pub mod mutation;
pub mod query;
pub mod reports;
pub mod scalars;
pub mod security;
pub mod shape;
pub mod subscription;
pub mod types;
pub mod webhooks;

use std::net::IpAddr;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Request, Schema, SchemaBuilder};

use crate::auth::Principal;
use crate::service::{Caller, Services};
pub use mutation::Mutation;
pub use query::Query;
use types::FirstCodeLoader;

pub use subscription::Subscription;

/// The service's schema.
pub type CouponSchema = Schema<Query, Mutation, Subscription>;

/// The schema's shape and limits, without runtime data.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
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

/// The client's address, as the router determined it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// The service-level caller of this request: its key and address.
pub fn caller(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Caller> {
    let p = ctx.data::<Principal>()?;
    Ok(Caller {
        role: p.role,
        key_id: p.key_id,
        key_name: p.name.clone(),
        ip: ctx.data_opt::<ClientIp>().and_then(|ip| ip.0),
        channels: p.channels.clone(),
    })
}

/// Adds what one request needs: the caller, its address, and fresh per-request
/// loaders.
pub fn prepare_request(
    request: Request,
    principal: Option<Principal>,
    ip: Option<IpAddr>,
    services: &Services,
) -> Request {
    let request = request.data(ClientIp(ip)).data(DataLoader::new(
        FirstCodeLoader(services.clone()),
        tokio::spawn,
    ));
    match principal {
        Some(p) => request.data(p),
        None => request,
    }
}

/// The complexity of a connection field: the page size (default 20, at most 100) times
/// the complexity of one item.
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.map_or(20, |n| usize::try_from(n.clamp(1, 100)).unwrap_or(100));
    page.saturating_mul(child_complexity).saturating_add(1)
}
