//! Evaluation: running a rule's `check` against a context, one rule for simulation,
//! and a coupon's bindings in order for checkout ([`RuleEvaluator`]).

use coupons_domain::{RuleBinding, RuleEvaluator, RuleFacts, RuleVerdict, RulesOutcome};
use rhai::Dynamic;

use super::{CompiledRule, RuleError, Rules, api, facts_to_dynamic, json_to_dynamic};

impl Rules {
    /// Runs one rule's `check` against a context.
    pub(super) fn run(
        &self,
        rule: &CompiledRule,
        ctx: Dynamic,
        params: &serde_json::Value,
    ) -> Result<RuleVerdict, RuleError> {
        let params = json_to_dynamic(params);
        let value = self
            .call(&rule.ast, "check", (ctx, params))
            .map_err(|e| RuleError::new(&rule.name, e.to_string(), e.position()))?;
        api::read_verdict(value).map_err(|m| RuleError::new(&rule.name, m, rhai::Position::NONE))
    }

    /// Evaluates one rule (in force or a draft) against facts; for simulation.
    pub fn evaluate_one(
        &self,
        rule: &CompiledRule,
        params: &serde_json::Value,
        facts: &RuleFacts,
    ) -> Result<RuleVerdict, RuleError> {
        Self::check_params(rule, params)
            .map_err(|m| RuleError::new(&rule.name, m, rhai::Position::NONE))?;
        self.run(rule, facts_to_dynamic(facts), params)
    }
}

impl RuleEvaluator for Rules {
    fn evaluate(&self, bindings: &[RuleBinding], facts: &RuleFacts) -> RulesOutcome {
        if bindings.is_empty() {
            return RulesOutcome::Pass {
                cap: None,
                shape: None,
            };
        }
        let started = std::time::Instant::now();
        let outcome = self.evaluate_bindings(bindings, facts);
        self.observed
            .seconds
            .observe(started.elapsed().as_secs_f64());
        if matches!(outcome, RulesOutcome::Failed { .. }) {
            self.observed.failures.inc();
        }
        outcome
    }
}

impl Rules {
    /// Runs a coupon's bindings in order: the first rejection or failure ends it.
    fn evaluate_bindings(&self, bindings: &[RuleBinding], facts: &RuleFacts) -> RulesOutcome {
        let rules = self.snapshot();
        // Built once and shared read-only: each rule gets a cheap handle, and none can
        // change what the next one sees.
        let ctx = facts_to_dynamic(facts).into_read_only().into_shared();
        let mut cap: Option<i64> = None;
        let mut shape: Option<coupons_domain::Shape> = None;
        for binding in bindings {
            let Some(rule) = rules.get(&binding.name) else {
                tracing::error!(rule = %binding.name, coupon = facts.coupon_id, "coupon binds a rule that is not loaded");
                return RulesOutcome::Failed {
                    rule: binding.name.clone(),
                };
            };
            match self.run(rule, ctx.clone(), &binding.params) {
                Ok(RuleVerdict::Pass) => {}
                Ok(RuleVerdict::Cap(n)) => cap = Some(cap.map_or(n, |c| c.min(n))),
                Ok(RuleVerdict::Shape(s)) => {
                    shape.get_or_insert(s);
                }
                Ok(RuleVerdict::Reject { code, message, .. }) => {
                    return RulesOutcome::Rejected {
                        rule: binding.name.clone(),
                        code,
                        message,
                    };
                }
                Err(e) => {
                    tracing::error!(error = %e, coupon = facts.coupon_id, "rule failed; the coupon does not apply");
                    return RulesOutcome::Failed {
                        rule: binding.name.clone(),
                    };
                }
            }
        }
        RulesOutcome::Pass { cap, shape }
    }
}
