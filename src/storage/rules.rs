//! Published rule versions, the version in force per rule (its head), and the rule
//! audit sequence that instances poll to follow changes made elsewhere.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use serde_json::json;

use super::audit::{Actor, AuditAction, EntityType, write_audit};
use super::events::{EventType, write_event};
use super::{Conn, StorageError, on_backend};

/// One stored version of a published rule.
#[derive(Debug, Clone, Queryable)]
pub struct StoredRuleVersion {
    /// The rule.
    pub name: String,
    /// Its version, from 1.
    pub version: i64,
    /// The source.
    pub source: String,
    /// Who published it.
    pub author: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Stores `source` as the next version of `name` and puts it in force; returns the
/// version. Concurrent publishes of one rule get consecutive versions.
pub async fn publish_rule(
    c: &mut Conn<'_>,
    name: &str,
    source: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let author = actor.author();
    let (latest, version) = on_backend!(c, |conn| {
        use diesel::upsert::excluded;
        use schema::rule_audit::dsl as a;
        use schema::rule_heads::dsl as h;
        use schema::rule_versions::dsl as v;
        // Taking the head row first serialises publishes of the same rule.
        diesel::insert_into(h::rule_heads)
            .values((
                h::name.eq(name),
                h::version.eq(0_i64),
                h::changed_at.eq(now),
            ))
            .on_conflict(h::name)
            .do_update()
            .set(h::changed_at.eq(excluded(h::changed_at)))
            .execute(conn)
            .await?;
        let latest: Option<i64> = v::rule_versions
            .filter(v::name.eq(name))
            .select(diesel::dsl::max(v::version))
            .first(conn)
            .await?;
        let version = latest.unwrap_or(0) + 1;
        diesel::insert_into(v::rule_versions)
            .values((
                v::name.eq(name),
                v::version.eq(version),
                v::source.eq(source),
                v::author.eq(&author),
                v::created_at.eq(now),
            ))
            .execute(conn)
            .await?;
        diesel::update(h::rule_heads.find(name))
            .set(h::version.eq(version))
            .execute(conn)
            .await?;
        diesel::insert_into(a::rule_audit)
            .values((
                a::name.eq(name),
                a::action.eq("PUBLISHED"),
                a::version.eq(version),
                a::actor.eq(&author),
                a::at.eq(now),
            ))
            .execute(conn)
            .await?;
        (latest, version)
    });
    let before = latest.map(|v| json!({ "version": v }));
    let after = Some(json!({ "version": version, "source": source }));
    let (action, entity) = (AuditAction::RulePublished, EntityType::Rule);
    write_audit(c, actor, action, entity, name, before, after, now).await?;
    let payload = json!({ "name": name, "version": version });
    write_event(c, EventType::RulePublished, None, name, payload, now).await?;
    Ok(version)
}

/// Puts an earlier version of a published rule back in force; `None` when there is
/// no such version.
pub async fn rollback_rule(
    c: &mut Conn<'_>,
    name: &str,
    version: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<StoredRuleVersion>, StorageError> {
    let author = actor.author();
    let (found, previous) = on_backend!(c, |conn| {
        use schema::rule_heads::dsl as h;
        use schema::rule_versions::dsl as v;
        let found: Option<StoredRuleVersion> = v::rule_versions
            .find((name, version))
            .first(conn)
            .await
            .optional()?;
        let Some(found) = found else { return Ok(None) };
        // `RETURNING` gives the row as changed: the version in force before the rollback
        // is read first, under the row's lock (a write to it, as everywhere else).
        let previous: Option<i64> = diesel::update(h::rule_heads.find(name))
            .set(h::changed_at.eq(h::changed_at))
            .returning(h::version)
            .get_result(conn)
            .await
            .optional()?;
        diesel::update(h::rule_heads.find(name))
            .set((h::version.eq(version), h::changed_at.eq(now)))
            .execute(conn)
            .await?;
        (found, previous)
    });
    let before = previous.map(|v| json!({ "version": v }));
    let after = Some(json!({ "version": version }));
    let (action, entity) = (AuditAction::RuleRolledBack, EntityType::Rule);
    write_audit(c, actor, action, entity, name, before, after, now).await?;
    on_backend!(c, |conn| {
        use schema::rule_audit::dsl as a;
        diesel::insert_into(a::rule_audit)
            .values((
                a::name.eq(name),
                a::action.eq("ROLLED_BACK"),
                a::version.eq(version),
                a::actor.eq(&author),
                a::at.eq(now),
            ))
            .execute(conn)
            .await?;
    });
    let payload = json!({ "name": name, "version": version, "rolledBack": true });
    write_event(c, EventType::RulePublished, None, name, payload, now).await?;
    Ok(Some(found))
}

/// The version in force of every published rule.
pub async fn published_rules(c: &mut Conn<'_>) -> Result<Vec<StoredRuleVersion>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::rule_heads::dsl as h;
        use schema::rule_versions::dsl as v;
        v::rule_versions
            .inner_join(h::rule_heads.on(h::name.eq(v::name).and(h::version.eq(v::version))))
            .select((v::name, v::version, v::source, v::author, v::created_at))
            .order(v::name)
            .load(conn)
            .await?
    }))
}

/// Every version of a published rule, newest first.
pub async fn rule_versions(
    c: &mut Conn<'_>,
    name: &str,
) -> Result<Vec<StoredRuleVersion>, StorageError> {
    Ok(on_backend!(c, |conn| {
        use schema::rule_versions::dsl as v;
        v::rule_versions
            .filter(v::name.eq(name))
            .order(v::version.desc())
            .load(conn)
            .await?
    }))
}

/// A number that grows with every publish and rollback, for instances to poll.
pub async fn rules_change_seq(c: &mut Conn<'_>) -> Result<i64, StorageError> {
    let seq: Option<i64> = on_backend!(c, |conn| {
        use schema::rule_audit::dsl as a;
        a::rule_audit
            .select(diesel::dsl::max(a::id))
            .first(conn)
            .await?
    });
    Ok(seq.unwrap_or(0))
}
