//! The root fields, one file per area. Each area has a `…Query`, a `…Mutation` and, for
//! jobs and events, a `…Subscription` object; `query.rs`, `mutation.rs` and
//! `subscription.rs` merge them into the schema's roots.
//!
//! A resolver parses its arguments into domain or service types, calls one service
//! function, and converts the result: a payload with `userErrors` for what the caller
//! can fix, `ApiError` (through `?`) for everything else.

pub mod abuse;
pub mod campaigns;
pub mod cart;
pub mod checkout;
pub mod coupons;
pub mod events;
pub mod jobs;
pub mod node;
pub mod payments;
pub mod reports;
pub mod rules;
pub mod security;
pub mod webhooks;

use async_graphql::ID;

use super::error::{ApiError, UserError, user_errors};
use crate::ids::{self, Kind};
use crate::service::ServiceError;

/// Decodes the ID of a list filter or an argument: `what` (with its article) names
/// the kind in the error.
fn filter_id(kind: Kind, id: &ID, what: &str) -> Result<i64, ApiError> {
    ids::decode(kind, id).ok_or_else(|| ApiError::BadUserInput(format!("{:?} is not {what}", id.0)))
}

/// [`filter_id`] of an optional ID.
fn optional_filter_id(kind: Kind, id: Option<&ID>, what: &str) -> Result<Option<i64>, ApiError> {
    id.map(|id| filter_id(kind, id, what)).transpose()
}

/// Splits a service result into (value, userErrors), or a top-level error for faults.
/// `id_field` names the input field that identified the coupon.
fn split<T>(
    result: Result<T, ServiceError>,
    id_field: &str,
) -> Result<(Option<T>, Vec<UserError>), ApiError> {
    match result {
        Ok(v) => Ok((Some(v), Vec::new())),
        Err(e) => Ok((None, user_errors(e, id_field)?)),
    }
}
