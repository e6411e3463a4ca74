//! Inputs and payloads of the rule mutations.

use async_graphql::{ID, InputObject, Json, SimpleObject};

use super::OrderInput;
use crate::graphql::error::UserError;
use crate::graphql::types::Rule;

/// A new version of a rule.
#[derive(Debug, Clone, InputObject)]
pub struct PublishRuleInput {
    /// The rule's name (lower-case snake_case). A published rule takes precedence over a
    /// file of the same name.
    pub name: String,
    /// The Rhai source; see rules/README.md for the contract.
    pub source: String,
}

/// An earlier version to put back in force.
#[derive(Debug, Clone, InputObject)]
pub struct RollbackRuleInput {
    /// The rule's name.
    pub name: String,
    /// The version to restore.
    pub version: i32,
}

/// Result of `publishRule` and `rollbackRule`.
#[derive(SimpleObject)]
pub struct RulePayload {
    /// The rule now in force; null when there are user errors.
    pub rule: Option<Rule>,
    /// What was wrong (e.g. RULE_COMPILE_ERROR with line and column); empty on success.
    pub user_errors: Vec<UserError>,
}

/// What to simulate, against which order. Give exactly one of `code`, `couponId` and
/// `source`.
#[derive(Debug, Clone, InputObject)]
pub struct SimulateRulesInput {
    /// Run the rules of the coupon this code points at, with usage as it stands.
    pub code: Option<String>,
    /// Run the rules this coupon binds.
    pub coupon_id: Option<ID>,
    /// Run a draft rule (not yet published) with `params`; usage counts are zero.
    pub source: Option<String>,
    /// Parameters for the draft rule (default `{}`).
    pub params: Option<Json<serde_json::Value>>,
    /// The order.
    pub order: OrderInput,
}
