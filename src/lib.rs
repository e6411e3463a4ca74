//! The coupon service: storefronts validate, reserve and redeem discount codes over
//! GraphQL; admins manage coupons and codes.
//!
//! Map of the crate (requests flow top to bottom):
//! - [`server`]: the TCP accept loop and its read timeouts; [`router`]: every HTTP
//!   route; authentication of each request ([`auth`], keys kept in [`cache`]); [`socket`]: the WebSocket
//!   endpoint; [`gate`]: the checks every GraphQL document passes, on any transport.
//! - [`graphql`]: schema, role guards, and the one mapping of errors to GraphQL.
//! - [`service`]: use cases; validation through the pure `coupons-domain` crate,
//!   transactions through storage. Returns one error enum.
//! - [`storage`]: PostgreSQL or SQLite behind one type; each query written once.
//! - [`ids`]: the global-ID codec every layer shows objects by.
//! - [`config`]: flags and environment, read once. [`app`]: start-up and shutdown.
//! - Background work every instance runs: the event relay ([`events`]), webhook
//!   delivery ([`webhooks`]) and bulk jobs ([`jobs`]).

pub mod app;
pub mod auth;
pub mod cache;
pub mod caller;
pub mod config;
pub mod console;
pub mod events;
pub mod files;
pub mod gate;
pub mod graphiql;
pub mod graphql;
pub mod ids;
pub mod jobs;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod oidc;
pub mod payments;
pub mod rest;
pub mod router;
pub mod rules;
pub mod seal;
pub mod server;
pub mod service;
pub mod socket;
pub mod storage;
pub mod webhooks;
