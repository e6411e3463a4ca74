//! `RuleSimulation`: the result of `simulateRules`, rule by rule.

use async_graphql::{Enum, SimpleObject};
use coupons_domain as domain;

use super::{CouponRejection, Money};
use crate::graphql::error::UserError;
use crate::service::rules;

/// How a rule answered in a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RuleVerdictKind {
    /// The coupon may apply.
    Pass,
    /// The coupon does not apply.
    Reject,
    /// The coupon applies with a lower discount.
    Cap,
    /// The coupon applies with its discount shaped (see `shape`).
    Shape,
    /// The rule could not run (see `message`).
    Failed,
}

/// One rule's answer in a simulation.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleSimulationResult {
    /// The rule.
    pub rule: String,
    /// Its answer.
    pub verdict: RuleVerdictKind,
    /// For REJECT, the rule's own code.
    pub code: Option<String>,
    /// For REJECT, the rule's message; for FAILED, the error (with line and column);
    /// for SHAPE, what the discount becomes (`lines:SKU-1,SKU-2`, `free_shipping`,
    /// `buy_x_get_y`).
    pub message: Option<String>,
    /// For CAP, the most the coupon may take off, in minor units of the order's currency.
    pub cap_minor: Option<i64>,
    /// How long the rule took, in microseconds.
    pub micros: i64,
}

impl From<rules::RuleRun> for RuleSimulationResult {
    fn from(run: rules::RuleRun) -> Self {
        let micros = i64::try_from(run.elapsed.as_micros()).unwrap_or(i64::MAX);
        let (verdict, code, message, cap_minor) = match run.verdict {
            Ok(domain::RuleVerdict::Pass) => (RuleVerdictKind::Pass, None, None, None),
            Ok(domain::RuleVerdict::Reject { code, message, .. }) => {
                (RuleVerdictKind::Reject, Some(code), Some(message), None)
            }
            Ok(domain::RuleVerdict::Cap(n)) => (RuleVerdictKind::Cap, None, None, Some(n)),
            Ok(domain::RuleVerdict::Shape(ref s)) => {
                (RuleVerdictKind::Shape, None, Some(s.label()), None)
            }
            Err(e) => (RuleVerdictKind::Failed, None, Some(e), None),
        };
        Self {
            rule: run.rule,
            verdict,
            code,
            message,
            cap_minor,
            micros,
        }
    }
}

/// Result of `simulateRules`. Nothing is written.
#[derive(SimpleObject)]
pub struct RuleSimulation {
    /// The discount before rules, when the coupon's built-in checks pass.
    pub discount: Option<Money>,
    /// Why the coupon's built-in checks refuse the order, if they do.
    pub reasons: Vec<CouponRejection>,
    /// Every rule, in binding order (all of them, even after a rejection).
    pub results: Vec<RuleSimulationResult>,
    /// Problems with the input (e.g. RULE_COMPILE_ERROR for a draft); empty otherwise.
    pub user_errors: Vec<UserError>,
}
