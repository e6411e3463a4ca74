//! The integration tests: one binary, one harness, every case on SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "test code"
)]

mod harness;
mod input_errors;
mod snapshot;

mod abuse;
mod audit;
mod auth;
mod automatic;
mod campaigns;
mod checkout;
mod cli;
mod connections;
mod console;
mod cors;
mod coupons;
mod currencies;
mod differential;
mod docs;
mod events;
mod failover;
mod fuzz;
mod graphql_http;
mod jobs;
mod languages;
mod metrics;
mod operations;
mod orders;
mod payments;
mod pii;
mod process;
mod reports;
mod rest;
mod rules;
mod schema;
mod secrets;
mod security;
mod statements;
mod subscriptions;
mod targets;
mod transfer;
mod transports;
mod webhooks;
