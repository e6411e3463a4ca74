//! Inputs and payloads of the bulk-job mutations.

use async_graphql::{ID, InputObject, MaybeUndefined, SimpleObject};

use crate::graphql::error::UserError;
use crate::graphql::types::BulkJob;

/// The pattern of generated codes: `prefix`, a random body of `length` characters from
/// `charset`, an optional check character, `suffix`.
#[derive(Debug, Clone, InputObject)]
pub struct CodePatternInput {
    /// Text before the body: `A-Z`, `0-9`, `-`, `_` (lower case is raised).
    #[graphql(default)]
    pub prefix: String,
    /// Text after the body, same characters.
    #[graphql(default)]
    pub suffix: String,
    /// Random characters in the body, 4 to 32.
    #[graphql(default = 10)]
    pub length: i32,
    /// The characters of the body, from `A-Z` and `0-9`. Default: the 31 characters
    /// of `A-Z` and `2-9` without the look-alikes 0/O and 1/I/L.
    pub charset: Option<String>,
    /// Adds a check character after the body, so that any single mistyped character
    /// (and, on the default set, any swap of neighbours) is caught before a lookup. The
    /// set must have an even or a prime number of characters.
    #[graphql(default)]
    pub check_character: bool,
}

/// Input of `generateCodes`.
#[derive(Debug, Clone, InputObject)]
pub struct GenerateCodesInput {
    /// The coupon the codes point at.
    pub coupon_id: ID,
    /// How many codes, 1 to 10,000,000.
    pub count: i64,
    /// Their shape.
    pub pattern: CodePatternInput,
    /// Uses each code allows: 1 (single-use) when left out, null for no limit of its
    /// own.
    pub usage_limit: MaybeUndefined<i64>,
}

/// Result of `generateCodes`.
#[derive(SimpleObject)]
pub struct GenerateCodesPayload {
    /// The queued job; null when there are user errors.
    pub job: Option<BulkJob>,
    /// What was wrong with the input; empty on success. Nothing is written then.
    pub user_errors: Vec<UserError>,
}

/// Input of `cancelBulkJob`.
#[derive(Debug, Clone, InputObject)]
pub struct CancelBulkJobInput {
    /// The job.
    pub id: ID,
}

/// Result of `cancelBulkJob`.
#[derive(SimpleObject)]
pub struct CancelBulkJobPayload {
    /// The job as it now is: `CANCELLED` if it was queued, else still `RUNNING` with
    /// `cancelRequested` until it stops before its next chunk.
    pub job: Option<BulkJob>,
    /// Why it could not be cancelled; empty on success.
    pub user_errors: Vec<UserError>,
}
