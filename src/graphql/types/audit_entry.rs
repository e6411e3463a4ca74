//! `AuditEntry`: one change, who made it and the entity before and after.

use async_graphql::{Enum, ID, Json, Object};

use super::ApiKeyRole;
use crate::auth::Role;
use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::{self, Kind};
use crate::storage::{self, AuditAction as StoredAction, EntityType};

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "StoredAction")]
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

/// What a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "EntityType")]
pub enum AuditEntityType {
    /// A coupon.
    Coupon,
    /// A reservation or redemption.
    Redemption,
    /// A rule (its ID is its name).
    Rule,
    /// An API key.
    ApiKey,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery.
    WebhookDelivery,
    /// A campaign.
    Campaign,
    /// A bulk job.
    BulkJob,
    /// A payment a provider told about (its ID is its row id).
    Payment,
    /// A console session (its ID is the person's `sub`, or `key:<id>`).
    ConsoleSession,
    /// An abuse signal.
    AbuseSignal,
}

/// One change: who made it, from where, and the entity before and after.
#[derive(Clone)]
pub struct AuditEntry(pub storage::AuditEntry);

fn entity_kind(entity: EntityType) -> Option<Kind> {
    match entity {
        EntityType::Coupon => Some(Kind::Coupon),
        EntityType::Redemption => Some(Kind::Redemption),
        EntityType::ApiKey => Some(Kind::ApiKey),
        EntityType::WebhookEndpoint => Some(Kind::WebhookEndpoint),
        EntityType::WebhookDelivery => Some(Kind::WebhookDelivery),
        EntityType::Campaign => Some(Kind::Campaign),
        EntityType::BulkJob => Some(Kind::BulkJob),
        EntityType::AbuseSignal => Some(Kind::AbuseSignal),
        EntityType::Rule | EntityType::Payment | EntityType::ConsoleSession => None,
    }
}

/// One change: who made it, from where, and the entity before and after.
#[Object]
impl AuditEntry {
    /// Opaque global ID; later entries have later IDs.
    async fn id(&self) -> ID {
        global_id(Kind::AuditEntry, self.0.id)
    }

    /// When the change was committed.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }

    /// What was done.
    async fn action(&self) -> Option<AuditAction> {
        StoredAction::parse(&self.0.action).map(Into::into)
    }

    /// The API key that made the change; null for `COUPONS_ADMIN_KEY` and for the
    /// service itself.
    async fn actor_key_id(&self) -> Option<ID> {
        self.0.actor_key_id.map(|id| global_id(Kind::ApiKey, id))
    }

    /// The key's role; null for the service and its command line.
    async fn actor_role(&self) -> Option<ApiKeyRole> {
        Role::parse(&self.0.actor_role).map(Into::into)
    }

    /// The key's name, or what acted (`first start`, `command line`).
    async fn actor_name(&self) -> &str {
        &self.0.actor_name
    }

    /// The client's address (as configured: the TCP peer or the trusted proxy
    /// header); null for changes made outside HTTP.
    async fn client_ip(&self) -> Option<&str> {
        self.0.client_ip.as_deref()
    }

    /// The kind of entity changed.
    async fn entity_type(&self) -> Option<AuditEntityType> {
        EntityType::parse(&self.0.entity_type).map(Into::into)
    }

    /// The entity's global ID; for rules, the rule's name.
    async fn entity_id(&self) -> String {
        let kind = EntityType::parse(&self.0.entity_type).and_then(entity_kind);
        match (kind, self.0.entity_id.parse::<i64>()) {
            (Some(kind), Ok(n)) => ids::encode(kind, n),
            _ => self.0.entity_id.clone(),
        }
    }

    /// The entity before the change; null for a creation.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    /// The entity after the change; null for a deletion.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }
}
