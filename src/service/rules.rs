//! Publishing rules through the API: versions stored in the database, one in force per
//! rule, every change audited, and every instance kept in step.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use coupons_domain::{Field, FieldError, Invalid, Problem, RuleBinding};

use super::{ServiceError, Services};
use crate::rules::{CompiledRule, RuleOrigin, Rules};
use crate::storage::{Db, StorageError};

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
    actor: &str,
    name: &str,
    source: &str,
) -> Result<Arc<CompiledRule>, ServiceError> {
    let name = name.trim();
    let rule = vet(&svc.rules, name, source)?;
    let version = svc.db.publish_rule(name, source, actor, Utc::now()).await?;
    Ok(svc
        .rules
        .insert(rule.with_origin(RuleOrigin::Published { version })))
}

/// Puts an earlier published version back in force.
pub async fn rollback_rule(
    svc: &Services,
    actor: &str,
    name: &str,
    version: i64,
) -> Result<Arc<CompiledRule>, ServiceError> {
    let name = name.trim();
    let stored = svc
        .db
        .rollback_rule(name, version, actor, Utc::now())
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
    for stored in db.published_rules().await? {
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
        match db.rules_change_seq().await {
            Ok(seq) if seen == Some(seq) => {}
            Ok(seq) => match sync_published(&db, &rules).await {
                Ok(()) => seen = Some(seq),
                Err(e) => tracing::warn!(error = %e, "could not load published rules; will retry"),
            },
            Err(e) => tracing::warn!(error = %e, "could not check for rule changes; will retry"),
        }
    }
}
