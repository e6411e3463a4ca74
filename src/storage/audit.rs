//! The audit log: who changed what, when, from where. [`write_audit`] is the one way an
//! entry is written: by the storage step that makes the change, or by the use case,
//! inside the change's transaction, so a change and its entry commit or roll back
//! together. [`audit_log`] reads the entries back.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::{Conn, StorageError, on_backend};

/// Who made a change, as the audit log records it: a [`Caller`](crate::caller::Caller)
/// (`Caller::actor`), or the service itself and its command line ([`Actor::system`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The API key's id; `None` for `COUPONS_ADMIN_KEY` and for the service itself.
    pub key_id: Option<i64>,
    /// `admin`, `storefront`, … or `system` for the service and its command line.
    pub role: String,
    /// The key's name, or what acted (e.g. `command line`).
    pub name: String,
    /// The client's address, when the change came over HTTP.
    pub ip: Option<String>,
}

impl Actor {
    /// How the actor is named in rule histories: the key's name and role.
    pub fn author(&self) -> String {
        format!("{} ({})", self.name, self.role)
    }

    /// The service itself, or an operator on its command line.
    pub fn system(name: &str) -> Self {
        Self {
            key_id: None,
            role: "system".into(),
            name: name.into(),
            ip: None,
        }
    }
}

/// What a change did.
///
/// Stored by name: the variant's name in `SCREAMING_SNAKE_CASE`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditAction {
    /// A coupon was created (with its first code, if any).
    CouponCreated,
    /// A coupon's definition changed.
    CouponUpdated,
    /// A coupon's lifecycle status changed.
    CouponStatusChanged,
    /// A coupon and its codes were deleted.
    CouponDeleted,
    /// Codes were added to a coupon.
    CodesAdded,
    /// A use of a code was reserved for an order.
    CouponReserved,
    /// A code or a reservation was redeemed.
    CouponRedeemed,
    /// A reservation was released.
    ReservationReleased,
    /// A redemption was reversed, fully or in part.
    RedemptionReversed,
    /// A rule version was published.
    RulePublished,
    /// A rule was rolled back to an earlier version.
    RuleRolledBack,
    /// Rules were simulated against a sample order (nothing else changed).
    RulesSimulated,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// An API key was replaced by a new one; the old one ends after a grace period.
    ApiKeyRotated,
    /// A webhook endpoint was created.
    WebhookEndpointCreated,
    /// A webhook endpoint was changed, paused, resumed or given a new secret.
    WebhookEndpointUpdated,
    /// A webhook endpoint was deleted with its deliveries.
    WebhookEndpointDeleted,
    /// A webhook delivery was put back in line by hand.
    WebhookRedelivered,
    /// A campaign was created.
    CampaignCreated,
    /// A campaign was renamed, described anew or given new limits.
    CampaignUpdated,
    /// A bulk job (code generation) was queued.
    BulkJobCreated,
    /// A bulk job was asked to stop.
    BulkJobCancelled,
    /// Codes were imported from a CSV file.
    CodesImported,
    /// A payment provider's event was applied to the reservations its payment pays for.
    PaymentReceived,
    /// Someone signed in to the admin console (a person, or an admin key once).
    ConsoleSignedIn,
    /// Abuse detection raised a signal (and took its action).
    AbuseSignalRaised,
    /// An admin resolved an abuse signal, putting back what its action changed or not.
    AbuseSignalResolved,
    /// The action abuse detection takes by itself was set for a coupon or campaign.
    AbuseActionSet,
}

impl AuditAction {
    /// Every action.
    pub const ALL: &'static [AuditAction] = <Self as strum::VariantArray>::VARIANTS;

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// What a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// A coupon (id).
    Coupon,
    /// A reservation or redemption (id).
    Redemption,
    /// A rule (name).
    Rule,
    /// An API key (id).
    ApiKey,
    /// A webhook endpoint (id).
    WebhookEndpoint,
    /// A webhook delivery (id).
    WebhookDelivery,
    /// A campaign (id).
    Campaign,
    /// A bulk job (id).
    BulkJob,
    /// A payment a provider told about (its row id).
    Payment,
    /// A console session (the person's `sub`, or `key:<id>`).
    ConsoleSession,
    /// An abuse signal (id).
    AbuseSignal,
}

impl EntityType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coupon => "COUPON",
            Self::Redemption => "REDEMPTION",
            Self::Rule => "RULE",
            Self::ApiKey => "API_KEY",
            Self::WebhookEndpoint => "WEBHOOK_ENDPOINT",
            Self::WebhookDelivery => "WEBHOOK_DELIVERY",
            Self::Campaign => "CAMPAIGN",
            Self::BulkJob => "BULK_JOB",
            Self::Payment => "PAYMENT",
            Self::ConsoleSession => "CONSOLE_SESSION",
            Self::AbuseSignal => "ABUSE_SIGNAL",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Coupon,
            Self::Redemption,
            Self::Rule,
            Self::ApiKey,
            Self::WebhookEndpoint,
            Self::WebhookDelivery,
            Self::Campaign,
            Self::BulkJob,
            Self::Payment,
            Self::ConsoleSession,
            Self::AbuseSignal,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// One change, as recorded.
#[derive(Debug, Clone, Queryable)]
pub struct AuditEntry {
    /// Row id; increases with time.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The key's id.
    pub actor_key_id: Option<i64>,
    /// The key's role, or `system`.
    pub actor_role: String,
    /// The key's name.
    pub actor_name: String,
    /// The client's address.
    pub client_ip: Option<String>,
    /// Stored [`AuditAction`] name.
    pub action: String,
    /// Stored [`EntityType`] name.
    pub entity_type: String,
    /// Id (or rule name) of the entity.
    pub entity_id: String,
    /// The entity before the change; `None` for a creation.
    pub before: Option<Value>,
    /// The entity after the change; `None` for a deletion.
    pub after: Option<Value>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this entity type …
    pub entity_type: Option<EntityType>,
    /// … and id.
    pub entity_id: Option<String>,
    /// Only changes made with this key.
    pub actor_key_id: Option<i64>,
    /// Only changes at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only changes before.
    pub until: Option<DateTime<Utc>>,
}

/// Writes one audit entry inside the caller's transaction, so that the change and its
/// entry commit or roll back together.
#[expect(
    clippy::too_many_arguments,
    reason = "the entry's columns, each its own value"
)]
pub async fn write_audit(
    c: &mut Conn<'_>,
    actor: &Actor,
    action: AuditAction,
    entity: EntityType,
    entity_id: impl std::fmt::Display + Sync,
    before: Option<Value>,
    after: Option<Value>,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let entity_id = entity_id.to_string();
    on_backend!(c, |conn| {
        use schema::audit_log::dsl as al;
        diesel::insert_into(al::audit_log)
            .values((
                al::at.eq(now),
                al::actor_key_id.eq(actor.key_id),
                al::actor_role.eq(&actor.role),
                al::actor_name.eq(&actor.name),
                al::client_ip.eq(actor.ip.as_deref()),
                al::action.eq(action.as_str()),
                al::entity_type.eq(entity.as_str()),
                al::entity_id.eq(entity_id),
                al::before.eq(before),
                al::after.eq(after),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// A value as audit JSON (`null` if it cannot be serialised, which plain rows can).
pub fn snapshot<T: serde::Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// Entries matching `filter`, newest first, with ids below `before_id`.
pub async fn audit_log(
    c: &mut Conn<'_>,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StorageError> {
    on_backend!(c, |conn| {
        use schema::audit_log::dsl as al;
        let mut q = al::audit_log.into_boxed();
        if let Some(a) = filter.action {
            q = q.filter(al::action.eq(a.as_str()));
        }
        if let Some(e) = filter.entity_type {
            q = q.filter(al::entity_type.eq(e.as_str()));
        }
        if let Some(id) = &filter.entity_id {
            q = q.filter(al::entity_id.eq(id.clone()));
        }
        if let Some(k) = filter.actor_key_id {
            q = q.filter(al::actor_key_id.eq(k));
        }
        if let Some(t) = filter.since {
            q = q.filter(al::at.ge(t));
        }
        if let Some(t) = filter.until {
            q = q.filter(al::at.lt(t));
        }
        if let Some(id) = before_id {
            q = q.filter(al::id.lt(id));
        }
        Ok(q.order(al::id.desc()).limit(limit).load(conn).await?)
    })
}
