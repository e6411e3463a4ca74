//! Eligibility rules: read those in force, publish, roll back, simulate.

use async_graphql::{Context, Object};
use coupons_domain::CouponId;

use super::split;
use crate::graphql::error::{ApiError, user_errors};
use crate::graphql::guard::{ADMIN, READERS, RoleGuard};
use crate::graphql::inputs::{
    PublishRuleInput, RollbackRuleInput, RulePayload, SimulateRulesInput,
};
use crate::graphql::types::{CouponRejection, Rule, RuleCheck, RuleSimulation};
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::rules::{self, SimulationTarget};

/// Rule reads.
#[derive(Default)]
pub struct RuleQuery;

/// Rule reads.
#[Object]
impl RuleQuery {
    /// The eligibility rules in force, by name.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn rules(&self, ctx: &Context<'_>) -> Result<Vec<Rule>, ApiError> {
        let svc = services(ctx)?;
        Ok(svc
            .rules
            .names()
            .iter()
            .filter_map(|n| svc.rules.get(n))
            .map(Rule)
            .collect())
    }

    /// Compiles a rule's source without publishing or running it: what an editor shows
    /// as the author types. Each problem comes with its line and column.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn check_rule_source(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Rhai source of a rule.")] source: String,
    ) -> Result<RuleCheck, ApiError> {
        Ok(RuleCheck::from(rules::check_source(
            services(ctx)?,
            &source,
        )))
    }

    /// One rule in force, with its published versions.
    #[graphql(guard = "RoleGuard::new(READERS)")]
    async fn rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name.")] name: String,
    ) -> Result<Option<Rule>, ApiError> {
        Ok(services(ctx)?.rules.get(name.trim()).map(Rule))
    }
}

/// Rule changes, and simulations.
#[derive(Default)]
pub struct RuleMutation;

/// Rule changes, and simulations.
#[Object]
impl RuleMutation {
    /// Publishes a new version of a rule: it must compile and pass its own examples. It
    /// is in force at once here, and on every instance sharing the database within a
    /// second.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn publish_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name and source.")] input: PublishRuleInput,
    ) -> Result<RulePayload, ApiError> {
        let result =
            rules::publish_rule(services(ctx)?, &caller(ctx)?, &input.name, &input.source).await;
        let (rule, user_errors) = split(result, "name")?;
        Ok(RulePayload {
            rule: rule.map(Rule),
            user_errors,
        })
    }

    /// Puts an earlier published version of a rule back in force.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn rollback_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's name and the version to restore.")] input: RollbackRuleInput,
    ) -> Result<RulePayload, ApiError> {
        let version = i64::from(input.version);
        let result =
            rules::rollback_rule(services(ctx)?, &caller(ctx)?, &input.name, version).await;
        let (rule, user_errors) = split(result, "name")?;
        Ok(RulePayload {
            rule: rule.map(Rule),
            user_errors,
        })
    }

    /// Runs rules against an order and reports each rule's verdict, message and time.
    /// Writes nothing.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn simulate_rules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to run, and the order.")] input: SimulateRulesInput,
    ) -> Result<RuleSimulation, ApiError> {
        let target = match (input.code, input.coupon_id, input.source) {
            (Some(code), None, None) => SimulationTarget::Code(code),
            (None, Some(id), None) => match ids::decode(Kind::Coupon, &id) {
                Some(n) => SimulationTarget::Coupon(CouponId(n)),
                None => SimulationTarget::Code(String::new()),
            },
            (None, None, Some(source)) => SimulationTarget::Draft {
                source,
                params: input.params.map_or_else(|| serde_json::json!({}), |p| p.0),
            },
            _ => {
                return Err(ApiError::BadUserInput(
                    "give exactly one of code, couponId and source".into(),
                ));
            }
        };
        let simulated =
            rules::simulate(services(ctx)?, &caller(ctx)?, target, input.order.into()).await;
        Ok(match simulated {
            Ok(s) => RuleSimulation {
                discount: s.discount.map(Into::into),
                reasons: s.refused.into_iter().map(CouponRejection::from).collect(),
                results: s.runs.into_iter().map(Into::into).collect(),
                user_errors: Vec::new(),
            },
            Err(e) => RuleSimulation {
                discount: None,
                reasons: Vec::new(),
                results: Vec::new(),
                user_errors: user_errors(e, "code")?,
            },
        })
    }
}
