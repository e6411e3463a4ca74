//! Abuse detection (`docs/abuse.md`): the failed checks of outside callers are noted in
//! memory and written in batches; every instance looks at the last window now and then
//! ([`watch`]), raises the signals whose thresholds are passed (one open signal per kind
//! and scope, whichever instance sees it first), takes the action set for the coupon,
//! and tells subscribers and webhooks (`ABUSE_SIGNAL_RAISED`). Every action is a coupon
//! change like an admin's, audited, and [`resolve`] puts it back.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupons_domain::abuse::{AbuseAction, SignalKind, Thresholds};
use coupons_domain::{CouponId, Field, LifecycleStatus, Limit, RuleBinding};
use serde_json::{Value, json};

use super::checkout::customer_key;
use super::{ServiceError, Services};
use crate::storage::abuse::{
    self as steps, ActionTarget, NewSignal, SignalFilter, StoredSignal, Trait,
};
use crate::storage::audit::{Actor, AuditAction, EntityType, write_audit};
use crate::storage::coupons::{change_coupon, lock_for_change};
use crate::storage::events::{EventType, write_event};
use crate::storage::{Conn, Db, StorageError};

/// The rule the `REQUIRE_CUSTOMER` action binds.
pub const CUSTOMER_ID_RULE: &str = "customer_id_required";

/// Abuse detection's settings and the failed checks not yet written.
pub struct AbuseWatch {
    /// When signals are raised.
    pub thresholds: Thresholds,
    /// The action for coupons and campaigns without one of their own.
    pub default_action: AbuseAction,
    /// Key of the hashes addresses are stored as.
    secret: Vec<u8>,
    /// Failed checks not yet written: (address key, network key, when).
    failed: Mutex<VecDeque<(String, String, DateTime<Utc>)>>,
}

impl std::fmt::Debug for AbuseWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbuseWatch")
            .field("thresholds", &self.thresholds)
            .field("default_action", &self.default_action)
            .finish_non_exhaustive()
    }
}

/// Most failed checks kept in memory between writes; past it the oldest are dropped
/// (a flood this size is a signal already, and each caller's budget stops it).
const FAILED_MAX: usize = 100_000;

impl AbuseWatch {
    /// Settings, with `secret` keying the hashes of addresses.
    pub fn new(thresholds: Thresholds, default_action: AbuseAction, secret: &[u8]) -> Self {
        Self {
            thresholds,
            default_action,
            secret: secret.to_vec(),
            failed: Mutex::default(),
        }
    }

    /// Notes a failed check from `ip` (an outside caller's guess).
    pub fn failed_check(&self, ip: IpAddr, now: DateTime<Utc>) {
        let address = customer_key(&self.secret, &format!("address:{ip}"));
        let network = customer_key(&self.secret, &format!("network:{}", network_of(ip)));
        if let Ok(mut failed) = self.failed.lock() {
            if failed.len() >= FAILED_MAX {
                failed.pop_front();
            }
            failed.push_back((address, network, now));
        }
    }

    /// Writes the failed checks noted so far.
    pub async fn flush(&self, db: &Db) -> Result<(), StorageError> {
        let rows: Vec<_> = match self.failed.lock() {
            Ok(mut failed) => failed.drain(..).collect(),
            Err(_) => return Ok(()),
        };
        if rows.is_empty() {
            return Ok(());
        }
        let written = db
            .write(async |mut c| steps::record_failed_checks(&mut c, &rows).await)
            .await;
        if written.is_err()
            && let Ok(mut failed) = self.failed.lock()
        {
            // Kept for the next try, before what came meanwhile.
            for row in rows.into_iter().rev() {
                failed.push_front(row);
            }
        }
        written
    }
}

/// The network an address belongs to: its /24 (IPv4) or /48 (IPv6).
fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// Who acts when detection acts.
fn detector() -> Actor {
    Actor {
        key_id: None,
        role: "system".into(),
        name: "abuse detection".into(),
        ip: None,
    }
}

/// Writes the failed checks noted so far and looks for abuse every `interval`, until
/// the task is aborted.
pub async fn watch(svc: Services, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match detect(&svc, Utc::now()).await {
            Ok(raised) if raised.is_empty() => {}
            Ok(raised) => tracing::warn!(signals = raised.len(), "abuse signals raised"),
            Err(e) => tracing::warn!(error = %e, "abuse detection failed; will retry"),
        }
    }
}

/// Looks at the window ending `now` and raises every signal whose threshold is passed,
/// that is not open already and was not resolved within the window; returns those
/// raised now.
pub async fn detect(svc: &Services, now: DateTime<Utc>) -> Result<Vec<StoredSignal>, ServiceError> {
    svc.abuse.flush(&svc.db).await?;
    let t = svc.abuse.thresholds;
    let window = chrono::Duration::seconds(t.window);
    let since = now - window;
    let history_from = since - window * i32::try_from(t.history_windows).unwrap_or(i32::MAX);
    let found = svc
        .db
        .read_long(async move |mut c| candidates(&mut c, &t, since, history_from).await)
        .await?;
    let mut raised = Vec::new();
    for signal in found {
        let default = svc.abuse.default_action;
        let done = svc
            .db
            .write(async move |mut c| raise(&mut c, signal, default, since, now).await)
            .await?;
        raised.extend(done);
    }
    // Failed checks older than the window are no longer read.
    svc.db
        .write(async move |mut c| steps::forget_failed_checks(&mut c, since).await)
        .await?;
    Ok(raised)
}

/// Every signal the counts of the window (and, for farmed accounts, of the history)
/// call for.
async fn candidates(
    c: &mut Conn<'_>,
    t: &Thresholds,
    since: DateTime<Utc>,
    history_from: DateTime<Utc>,
) -> Result<Vec<NewSignal>, StorageError> {
    let mut found = Vec::new();
    let limits = json!({ "windowSeconds": t.window, "historyWindows": t.history_windows });
    for code in steps::busy_codes(c, since, t.leak_min_customers).await? {
        let history = steps::code_customers(c, &code.subject, history_from, since).await?;
        if t.leaked(code.n, history) {
            found.push(NewSignal {
                kind: SignalKind::LeakedCode.as_str(),
                scope: format!("code:{}", code.subject),
                coupon_id: code.coupon_id,
                evidence: json!({
                    "code": code.subject, "customers": code.n, "historyCustomers": history,
                    "threshold": { "minCustomers": t.leak_min_customers, "factor": t.leak_factor },
                    "limits": limits,
                }),
                flagged: json!([]),
                action: "",
            });
        }
    }
    for coupon in steps::busy_coupons(c, since, t.velocity_min_uses).await? {
        let Some(id) = coupon.coupon_id else { continue };
        let history = steps::coupon_uses(c, id, history_from, since).await?;
        if t.too_fast(coupon.n, history) {
            found.push(NewSignal {
                kind: SignalKind::Velocity.as_str(),
                scope: format!("coupon:{id}"),
                coupon_id: Some(id),
                evidence: json!({
                    "uses": coupon.n, "historyUses": history,
                    "threshold": { "minUses": t.velocity_min_uses, "factor": t.velocity_factor },
                    "limits": limits,
                }),
                flagged: json!([]),
                action: "",
            });
        }
    }
    for which in Trait::ALL {
        for shared in steps::shared_traits(c, which, history_from, t.farm_min_customers).await? {
            let Some(id) = shared.coupon_id else { continue };
            if !t.farmed(shared.n) {
                continue;
            }
            let customers =
                steps::customers_sharing(c, which, id, &shared.subject, history_from).await?;
            found.push(NewSignal {
                kind: SignalKind::FarmedAccounts.as_str(),
                scope: format!("trait:{}:{}:{id}", which.as_str(), shared.subject),
                coupon_id: Some(id),
                evidence: json!({
                    "trait": which.as_str(), "customers": shared.n,
                    "threshold": { "minCustomers": t.farm_min_customers },
                    "limits": limits,
                }),
                flagged: json!(customers),
                action: "",
            });
        }
    }
    let guessing = steps::guessing_addresses(c, since, t.guess_failures_per_address).await?;
    let addresses = i64::try_from(guessing.len()).unwrap_or(i64::MAX);
    if t.campaign(addresses) {
        let mut networks: Vec<&str> = guessing.iter().map(|(_, n, _)| n.as_str()).collect();
        networks.sort_unstable();
        networks.dedup();
        let failures: i64 = guessing.iter().map(|(_, _, n)| n).sum();
        found.push(NewSignal {
            kind: SignalKind::GuessingCampaign.as_str(),
            scope: "addresses".into(),
            coupon_id: None,
            evidence: json!({
                "addresses": addresses, "networks": networks.len(), "failures": failures,
                "threshold": {
                    "failuresPerAddress": t.guess_failures_per_address,
                    "minAddresses": t.guess_min_addresses,
                },
                "limits": limits,
            }),
            flagged: json!(guessing.iter().map(|(a, _, _)| a).collect::<Vec<_>>()),
            action: "",
        });
    }
    Ok(found)
}

/// Raises one signal unless it is open already (then brings its evidence up to
/// date), takes its coupon's action, and records the audit entry and the event.
async fn raise(
    c: &mut Conn<'_>,
    mut signal: NewSignal,
    default: AbuseAction,
    quiet_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<StoredSignal>, StorageError> {
    let (action, campaign) = match signal.coupon_id {
        Some(id) => action_of(c, id, default).await?,
        None => (AbuseAction::Alert, None),
    };
    signal.action = action.as_str();
    let Some(mut raised) = steps::raise(c, &signal, quiet_since, now).await? else {
        steps::refresh(c, &signal).await?;
        return Ok(None);
    };
    let undo = match signal.coupon_id {
        Some(id) => act(c, id, action, now).await?,
        None => None,
    };
    if let Some(undo) = &undo {
        steps::set_undo(c, raised.id, undo).await?;
        raised.undo = Some(undo.clone());
    }
    let after = signal_json(&raised, campaign);
    let (audit, entity) = (AuditAction::AbuseSignalRaised, EntityType::AbuseSignal);
    write_audit(
        c,
        &detector(),
        audit,
        entity,
        raised.id,
        None,
        Some(after.clone()),
        now,
    )
    .await?;
    write_event(
        c,
        EventType::AbuseSignalRaised,
        raised.coupon_id,
        raised.id,
        after,
        now,
    )
    .await?;
    Ok(Some(raised))
}

/// The action for a coupon (its own, else its campaign's, else `default`) and its
/// campaign.
async fn action_of(
    c: &mut Conn<'_>,
    coupon_id: i64,
    default: AbuseAction,
) -> Result<(AbuseAction, Option<i64>), StorageError> {
    let campaign = crate::storage::coupons::coupon_campaign(c, coupon_id).await?;
    let set = steps::action_for(c, coupon_id, campaign).await?;
    let action = set.and_then(|a| a.parse().ok()).unwrap_or(default);
    Ok((action, campaign))
}

/// Takes `action` on a coupon as the detector; what it changed, to put back.
async fn act(
    c: &mut Conn<'_>,
    coupon_id: i64,
    action: AbuseAction,
    now: DateTime<Utc>,
) -> Result<Option<Value>, StorageError> {
    if action == AbuseAction::Alert {
        return Ok(None);
    }
    let Some(locked) = lock_for_change(c, CouponId(coupon_id)).await? else {
        return Ok(None);
    };
    let coupon = &locked.coupon;
    let mut spec = coupon.spec.clone();
    let mut status = coupon.lifecycle;
    let undo = match action {
        AbuseAction::Alert => return Ok(None),
        AbuseAction::Pause if status == LifecycleStatus::Active => {
            status = LifecycleStatus::Paused;
            json!({ "status": LifecycleStatus::Active.as_str() })
        }
        AbuseAction::RequireCustomer if !spec.rules.iter().any(|r| r.name == CUSTOMER_ID_RULE) => {
            let binding = RuleBinding::new(CUSTOMER_ID_RULE, Value::Null, spec.rules.len())
                .map_err(|e| StorageError::Corrupt {
                    table: "coupons",
                    id: coupon_id,
                    reason: e.to_string(),
                })?;
            spec.rules.push(binding);
            json!({ "rule": CUSTOMER_ID_RULE })
        }
        AbuseAction::StepUpLimits if spec.per_customer_limit.get().is_none_or(|n| n > 1) => {
            let before = spec.per_customer_limit.get();
            spec.per_customer_limit =
                Limit::new(Some(1), Field::PerCustomerLimit).unwrap_or(spec.per_customer_limit);
            json!({ "perCustomerLimit": before })
        }
        // Already as the action would leave it.
        _ => return Ok(None),
    };
    let audit = if status == coupon.lifecycle {
        AuditAction::CouponUpdated
    } else {
        AuditAction::CouponStatusChanged
    };
    change_coupon(c, &locked, &spec, status, audit, &detector(), now).await?;
    Ok(Some(undo))
}

/// Puts back what a signal's action changed on its coupon, as `actor`; whether it
/// changed anything (the coupon may have been changed since, or deleted).
async fn undo_action(
    c: &mut Conn<'_>,
    signal: &StoredSignal,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let (Some(coupon_id), Some(undo)) = (signal.coupon_id, &signal.undo) else {
        return Ok(false);
    };
    let Some(locked) = lock_for_change(c, CouponId(coupon_id)).await? else {
        return Ok(false);
    };
    let coupon = &locked.coupon;
    let mut spec = coupon.spec.clone();
    let mut status = coupon.lifecycle;
    if undo.get("status").is_some() && status == LifecycleStatus::Paused {
        status = LifecycleStatus::Active;
    }
    if let Some(rule) = undo.get("rule").and_then(Value::as_str) {
        spec.rules.retain(|r| r.name != rule);
    }
    if let Some(before) = undo.get("perCustomerLimit")
        && spec.per_customer_limit.get() == Some(1)
    {
        spec.per_customer_limit =
            Limit::new(before.as_i64(), Field::PerCustomerLimit).unwrap_or(spec.per_customer_limit);
    }
    if spec == coupon.spec && status == coupon.lifecycle {
        return Ok(false);
    }
    let audit = if status == coupon.lifecycle {
        AuditAction::CouponUpdated
    } else {
        AuditAction::CouponStatusChanged
    };
    change_coupon(c, &locked, &spec, status, audit, actor, now).await?;
    Ok(true)
}

/// A signal as events, webhooks and the audit log carry it.
pub fn signal_json(signal: &StoredSignal, campaign_id: Option<i64>) -> Value {
    json!({
        "id": signal.id,
        "kind": signal.kind,
        "couponId": signal.coupon_id,
        "campaignId": campaign_id,
        "evidence": signal.evidence,
        "flagged": signal.flagged.as_array().map_or(0, Vec::len),
        "action": signal.action,
        "undo": signal.undo,
        "status": signal.status,
        "raisedAt": signal.raised_at,
    })
}

/// Signals, newest first, `first` at most, older than `before` when given.
pub async fn signals(
    svc: &Services,
    filter: SignalFilter,
    before: Option<i64>,
    first: i64,
) -> Result<Vec<StoredSignal>, ServiceError> {
    let filter = &filter;
    Ok(svc
        .db
        .read(async move |mut c| steps::signals(&mut c, filter, before, first).await)
        .await?)
}

/// Why a signal could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveRefusal {
    /// No such signal.
    NotFound,
    /// Resolved already.
    AlreadyResolved,
}

/// Resolves an open signal; with `undo`, first puts back what its action changed on
/// the coupon. Audited as `actor`'s change.
pub async fn resolve(
    svc: &Services,
    id: i64,
    undo: bool,
    actor: &Actor,
) -> Result<Result<(StoredSignal, bool), ResolveRefusal>, ServiceError> {
    let now = Utc::now();
    Ok(svc
        .db
        .write(async move |mut c| {
            let Some(signal) = steps::signal(&mut c, id).await? else {
                return Ok(Err(ResolveRefusal::NotFound));
            };
            if signal.status != "OPEN" {
                return Ok(Err(ResolveRefusal::AlreadyResolved));
            }
            let undone = undo && undo_action(&mut c, &signal, actor, now).await?;
            let resolved = steps::resolve(&mut c, id, now).await?;
            let before = signal_json(&signal, None);
            let mut after = signal_json(&resolved, None);
            after["undone"] = json!(undone);
            let (audit, entity) = (AuditAction::AbuseSignalResolved, EntityType::AbuseSignal);
            write_audit(
                &mut c,
                actor,
                audit,
                entity,
                id,
                Some(before),
                Some(after),
                now,
            )
            .await?;
            Ok(Ok((resolved, undone)))
        })
        .await?)
}

/// Sets (or with `None`, clears) what detection does by itself about a coupon or the
/// coupons of a campaign; `false` when there is no such coupon or campaign.
pub async fn set_action(
    svc: &Services,
    target: ActionTarget,
    action: Option<AbuseAction>,
    actor: &Actor,
) -> Result<bool, ServiceError> {
    let now = Utc::now();
    Ok(svc
        .db
        .write(async move |mut c| {
            let name = action.map(AbuseAction::as_str);
            if !steps::set_action(&mut c, target, name, now).await? {
                return Ok(false);
            }
            let (entity, id) = match target {
                ActionTarget::Coupon(id) => (EntityType::Coupon, id),
                ActionTarget::Campaign(id) => (EntityType::Campaign, id),
            };
            let after = json!({ "abuseAction": name });
            write_audit(
                &mut c,
                actor,
                AuditAction::AbuseActionSet,
                entity,
                id,
                None,
                Some(after),
                now,
            )
            .await?;
            Ok(true)
        })
        .await?)
}

/// The action detection takes about a coupon: its own, its campaign's, or the default.
pub async fn action_for_coupon(
    svc: &Services,
    coupon_id: i64,
) -> Result<AbuseAction, ServiceError> {
    let default = svc.abuse.default_action;
    Ok(svc
        .db
        .read(async move |mut c| action_of(&mut c, coupon_id, default).await.map(|(a, _)| a))
        .await?)
}
