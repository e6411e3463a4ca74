//! Publishing rules through the API: versions stored in the database, one in force per
//! rule, every change audited, and every instance kept in step.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupons_domain::decision::rule_facts;
use coupons_domain::{
    Coupon, CouponCode, CouponId, Field, FieldError, Invalid, Money, Order, OrderDraft, Problem,
    Rejection, RuleBinding, RuleFacts, RuleVerdict, decide_terms,
};

use serde_json::json;

use super::{Caller, ServiceError, Services};
use crate::rules::{CompiledRule, RuleOrigin, Rules};
use crate::storage::checkout as checkout_steps;
use crate::storage::rules as steps;
use crate::storage::{AuditAction, Db, EntityType, StorageError, audit, coupons};

/// How often instances look for rule changes made elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn invalid(field: Field, problem: Problem) -> ServiceError {
    Invalid::from(FieldError::new(field, problem)).into()
}

/// Compiles `source` as rule `name` and runs its examples; refuses it otherwise.
fn vet(rules: &Rules, name: &str, source: &str) -> Result<CompiledRule, ServiceError> {
    if RuleBinding::new(name, serde_json::Value::Null, 0).is_err() {
        return Err(invalid(Field::RuleName, Problem::InvalidRuleName));
    }
    let rule = rules
        .compile(name, source, RuleOrigin::Inline)
        .map_err(|e| invalid(Field::RuleSource, Problem::RuleCompile(e.to_string())))?;
    let results = rules.run_examples(&rule).map_err(|e| {
        invalid(
            Field::RuleSource,
            Problem::RuleExamplesFailed(e.to_string()),
        )
    })?;
    if let Some(failed) = results.iter().find(|r| r.failure.is_some()) {
        let message = format!(
            "example {:?}: {}",
            failed.name,
            failed.failure.as_deref().unwrap_or_default()
        );
        return Err(invalid(
            Field::RuleSource,
            Problem::RuleExamplesFailed(message),
        ));
    }
    Ok(rule)
}

/// Publishes a new version of a rule and puts it in force here at once (other instances
/// follow within [`POLL_INTERVAL`]). Returns the rule in force.
pub async fn publish_rule(
    svc: &Services,
    caller: &Caller,
    name: &str,
    source: &str,
) -> Result<Arc<CompiledRule>, ServiceError> {
    let name = name.trim();
    let rule = vet(&svc.rules, name, source)?;
    let (actor, now) = (&caller.actor(), Utc::now());
    let version = svc
        .db
        .write(async move |mut c| steps::publish_rule(&mut c, name, source, actor, now).await)
        .await?;
    Ok(svc
        .rules
        .insert(rule.with_origin(RuleOrigin::Published { version })))
}

/// Puts an earlier published version back in force.
pub async fn rollback_rule(
    svc: &Services,
    caller: &Caller,
    name: &str,
    version: i64,
) -> Result<Arc<CompiledRule>, ServiceError> {
    let name = name.trim();
    let (actor, now) = (&caller.actor(), Utc::now());
    let stored = svc
        .db
        .write(async move |mut c| steps::rollback_rule(&mut c, name, version, actor, now).await)
        .await?
        .ok_or_else(|| invalid(Field::RuleVersion, Problem::RuleVersionNotFound(version)))?;
    let rule = svc
        .rules
        .compile(name, &stored.source, RuleOrigin::Published { version })
        .map_err(|e| invalid(Field::RuleVersion, Problem::RuleCompile(e.to_string())))?;
    Ok(svc.rules.insert(rule))
}

/// Loads the published versions in force into `rules`.
pub async fn sync_published(db: &Db, rules: &Rules) -> Result<(), StorageError> {
    let mut compiled = Vec::new();
    let published = db
        .read(async |mut c| steps::published_rules(&mut c).await)
        .await?;
    for stored in published {
        match rules.compile(
            &stored.name,
            &stored.source,
            RuleOrigin::Published {
                version: stored.version,
            },
        ) {
            Ok(rule) => compiled.push(rule),
            Err(e) => {
                tracing::error!(error = %e, version = stored.version, "published rule does not compile here");
            }
        }
    }
    rules.set_published(compiled);
    Ok(())
}

/// Follows rule changes made through any instance, until the task is aborted.
pub async fn follow_published(db: Db, rules: Arc<Rules>) {
    let mut seen = None;
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match db
            .read(async |mut c| steps::rules_change_seq(&mut c).await)
            .await
        {
            Ok(seq) if seen == Some(seq) => {}
            Ok(seq) => match sync_published(&db, &rules).await {
                Ok(()) => seen = Some(seq),
                Err(e) => tracing::warn!(error = %e, "could not load published rules; will retry"),
            },
            Err(e) => tracing::warn!(error = %e, "could not check for rule changes; will retry"),
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub enum SimulationTarget {
    /// The rules a code's coupon binds.
    Code(String),
    /// The rules a coupon binds.
    Coupon(CouponId),
    /// A draft rule not yet published, with parameters.
    Draft {
        /// The Rhai source.
        source: String,
        /// The parameters to pass.
        params: serde_json::Value,
    },
}

/// One rule, run.
#[derive(Debug, Clone)]
pub struct RuleRun {
    /// The rule.
    pub rule: String,
    /// Its verdict, or why it could not run.
    pub verdict: Result<RuleVerdict, String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The result of a simulation.
#[derive(Debug, Clone, Default)]
pub struct Simulation {
    /// The discount before rules, when the built-in checks pass.
    pub discount: Option<Money>,
    /// Why the built-in checks refuse, if they do.
    pub refused: Vec<Rejection>,
    /// Every bound rule, run in order (all of them, even after a rejection).
    pub runs: Vec<RuleRun>,
}

/// Facts for a draft rule with no coupon: the order as given, no usage.
fn draft_facts(order: &Order, now: DateTime<Utc>) -> RuleFacts {
    RuleFacts {
        coupon_name: "draft".into(),
        ..RuleFacts::for_order(order, now.timestamp())
    }
}

fn timed(
    rules: &Rules,
    rule: &CompiledRule,
    params: &serde_json::Value,
    facts: &RuleFacts,
) -> RuleRun {
    let started = std::time::Instant::now();
    let verdict = rules
        .evaluate_one(rule, params, facts)
        .map_err(|e| e.to_string());
    RuleRun {
        rule: rule.name.clone(),
        verdict,
        elapsed: started.elapsed(),
    }
}

/// Runs rules against an order; writes nothing but its audit entry.
pub async fn simulate(
    svc: &Services,
    caller: &Caller,
    target: SimulationTarget,
    order: OrderDraft,
) -> Result<Simulation, ServiceError> {
    let (simulation, entity, id) = run_simulation(svc, target, order).await?;
    let after = json!({
        "discountMinor": simulation.discount.map(|d| d.minor),
        "refused": simulation.refused.iter().map(Rejection::code).collect::<Vec<_>>(),
        "rules": simulation.runs.iter().map(|r| &r.rule).collect::<Vec<_>>(),
    });
    let (actor, now, id) = (&caller.actor(), Utc::now(), &id);
    let action = AuditAction::RulesSimulated;
    svc.db
        .write(async move |mut c| {
            audit::write_audit(&mut c, actor, action, entity, id, None, Some(after), now).await
        })
        .await?;
    Ok(simulation)
}

/// The simulation, and what it was of: a draft rule, or a coupon.
async fn run_simulation(
    svc: &Services,
    target: SimulationTarget,
    order: OrderDraft,
) -> Result<(Simulation, EntityType, String), ServiceError> {
    let draft = || (EntityType::Rule, "draft".to_owned());
    let order = Order::from_draft(order)?;
    let now = Utc::now();
    let code = match target {
        SimulationTarget::Draft { source, params } => {
            let rule = svc
                .rules
                .compile("draft", &source, RuleOrigin::Inline)
                .map_err(|e| invalid(Field::RuleSource, Problem::RuleCompile(e.to_string())))?;
            let facts = draft_facts(&order, now);
            let (entity, id) = draft();
            let simulation = Simulation {
                runs: vec![timed(&svc.rules, &rule, &params, &facts)],
                ..Simulation::default()
            };
            return Ok((simulation, entity, id));
        }
        SimulationTarget::Code(raw) => CouponCode::parse(&raw).ok(),
        SimulationTarget::Coupon(id) => svc
            .db
            .read(async move |mut c| coupons::first_codes(&mut c, &[id.0]).await)
            .await?
            .remove(&id.0)
            .map(CouponCode::from_stored),
    };
    let not_found = Simulation {
        refused: vec![Rejection::NotFound],
        ..Simulation::default()
    };
    let Some(code) = code else {
        let (entity, id) = draft();
        return Ok((not_found, entity, id));
    };
    let customer_key = order
        .customer
        .identity()
        .map(|i| super::checkout::customer_key(&svc.checkout.customer_key_secret, &i));
    let Some(found) = inspect(svc, &code, &order, customer_key.as_deref(), now).await? else {
        let (entity, id) = draft();
        return Ok((not_found, entity, id));
    };
    let (entity, id) = (EntityType::Coupon, found.coupon.id.0.to_string());
    let mut simulation = Simulation::default();
    match found.decided {
        Ok(d) => simulation.discount = Some(d),
        Err(reasons) => simulation.refused = reasons,
    }
    let facts = found.facts;
    for binding in &found.coupon.spec.rules {
        let run = match svc.rules.get(&binding.name) {
            Some(rule) => timed(&svc.rules, &rule, &binding.params, &facts),
            None => RuleRun {
                rule: binding.name.clone(),
                verdict: Err("no rule of this name is loaded".into()),
                elapsed: Duration::ZERO,
            },
        };
        simulation.runs.push(run);
    }
    Ok((simulation, entity, id))
}

/// What deciding on a code read, without writing.
struct Inspection {
    /// The coupon the code points at.
    coupon: Coupon,
    /// The built-in decision (before rules): the discount, or why not.
    decided: Result<Money, Vec<Rejection>>,
    /// What the coupon's rules see.
    facts: RuleFacts,
}

/// Reads what deciding on a code needs, writing nothing, for a simulation: the coupon,
/// the decision before rules, and the facts its rules would see (with the discount the
/// order would get before rules, or the coupon's plain discount when it would get
/// none). `None` when there is no such code.
async fn inspect(
    svc: &Services,
    code: &CouponCode,
    order: &Order,
    customer_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Inspection>, StorageError> {
    svc.db
        .read(async move |mut c| {
            let Some(found) = checkout_steps::find_code(&mut c, &svc.terms, code).await? else {
                return Ok(None);
            };
            let overdue = checkout_steps::overdue_codes(&mut c, &found, now).await?;
            let snapshot =
                checkout_steps::load_snapshot(&mut c, &found, &overdue, order, customer_key, now)
                    .await?;
            let decided = decide_terms(&snapshot, order, None, now);
            let coupon = &snapshot.found.coupon;
            let discount = decided.clone().unwrap_or_else(|_| {
                coupon
                    .spec
                    .prices
                    .in_currency(order.currency)
                    .and_then(|t| t.discount.amount_for(order.subtotal))
                    .unwrap_or(Money {
                        minor: 0,
                        currency: order.currency,
                    })
            });
            let facts = rule_facts(&snapshot, order, discount, now);
            Ok(Some(Inspection {
                coupon: coupon.clone(),
                decided,
                facts,
            }))
        })
        .await
}

/// Compiles a rule's source as publishing would (entry points and parameters
/// included), without running its examples or keeping it.
pub fn check_source(svc: &Services, source: &str) -> Result<(), crate::rules::RuleError> {
    svc.rules
        .compile("draft", source, RuleOrigin::Inline)
        .map(|_| ())
}

/// A rule's published versions, newest first.
pub async fn rule_versions(
    svc: &Services,
    name: &str,
) -> Result<Vec<crate::storage::StoredRuleVersion>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::rule_versions(&mut c, name).await)
        .await?)
}
