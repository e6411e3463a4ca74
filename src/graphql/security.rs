//! API key management and the audit log: their types, inputs and resolvers. The root
//! fields in `query.rs` and `mutation.rs` call into here.

use async_graphql::{Context, Enum, ID, InputObject, Json, Result, SimpleObject};

use super::caller;
use super::error::{ApiError, CouponErrorCode, CouponUserError, query_error};
use super::ids::{self, Kind};
use super::scalars::DateTime;
use super::types::{ApiKey, ApiKeyRole, Page, after_id, page_size};
use crate::auth::Role;
use crate::service::{Services, api_keys};
use crate::storage::{self, AuditAction as StoredAction, EntityType, KeyChange};

/// Longest grace period of a rotated key, in minutes (one week).
pub const GRACE_MINUTES_MAX: i32 = 10_080;

/// Which API keys to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ApiKeyFilter {
    /// Also list revoked keys and rotated keys past their grace period.
    #[graphql(default)]
    pub include_inactive: bool,
}

/// Input of `revokeApiKey`.
#[derive(Debug, Clone, InputObject)]
pub struct RevokeApiKeyInput {
    /// The key's ID.
    pub id: ID,
}

/// Result of `revokeApiKey`.
#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    /// The revoked key.
    pub api_key: Option<ApiKey>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

/// Input of `rotateApiKey`.
#[derive(Debug, Clone, InputObject)]
pub struct RotateApiKeyInput {
    /// The key to replace.
    pub id: ID,
    /// Minutes the old key keeps working, so its users can switch (0 to 10080,
    /// default 60).
    #[graphql(default = 60)]
    pub grace_minutes: i32,
}

/// Result of `rotateApiKey`.
#[derive(SimpleObject)]
pub struct RotateApiKeyPayload {
    /// The new key's record: same name, role and channels.
    pub api_key: Option<ApiKey>,
    /// The new key itself. Shown only in this response: store it now.
    pub secret: Option<String>,
    /// The old key, now ending at its `expiresAt`.
    pub previous_api_key: Option<ApiKey>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<CouponUserError>,
}

fn key_not_found() -> Vec<CouponUserError> {
    vec![CouponUserError::new(
        &["input", "id"],
        CouponErrorCode::NotFound,
        "API key not found",
    )]
}

/// Revokes a key. Revoking a revoked key changes nothing and says so.
pub async fn revoke(ctx: &Context<'_>, input: RevokeApiKeyInput) -> Result<RevokeApiKeyPayload> {
    let svc = ctx.data::<Services>()?;
    let Some(id) = ids::decode(Kind::ApiKey, &input.id) else {
        return Ok(RevokeApiKeyPayload {
            api_key: None,
            user_errors: key_not_found(),
        });
    };
    let changed = api_keys::revoke_api_key(svc, &caller(ctx)?, id)
        .await
        .map_err(query_error)?;
    Ok(match changed {
        KeyChange::Changed(k) => RevokeApiKeyPayload {
            api_key: Some(ApiKey(k)),
            user_errors: Vec::new(),
        },
        KeyChange::NotFound => RevokeApiKeyPayload {
            api_key: None,
            user_errors: key_not_found(),
        },
        KeyChange::Inactive(k) => RevokeApiKeyPayload {
            api_key: Some(ApiKey(k)),
            user_errors: vec![CouponUserError::new(
                &["input", "id"],
                CouponErrorCode::KeyInactive,
                "this API key is revoked already",
            )],
        },
    })
}

/// Replaces a key by a new one; the old one works on for the grace period.
pub async fn rotate(ctx: &Context<'_>, input: RotateApiKeyInput) -> Result<RotateApiKeyPayload> {
    let svc = ctx.data::<Services>()?;
    let refuse = |user_errors| RotateApiKeyPayload {
        api_key: None,
        secret: None,
        previous_api_key: None,
        user_errors,
    };
    if !(0..=GRACE_MINUTES_MAX).contains(&input.grace_minutes) {
        return Ok(refuse(vec![CouponUserError::new(
            &["input", "graceMinutes"],
            CouponErrorCode::InvalidLimit,
            format!("graceMinutes must be 0 to {GRACE_MINUTES_MAX}"),
        )]));
    }
    let Some(id) = ids::decode(Kind::ApiKey, &input.id) else {
        return Ok(refuse(key_not_found()));
    };
    let grace = chrono::Duration::minutes(i64::from(input.grace_minutes));
    let changed = api_keys::rotate_api_key(svc, &caller(ctx)?, id, grace)
        .await
        .map_err(query_error)?;
    Ok(match changed {
        KeyChange::Changed((old, new)) => RotateApiKeyPayload {
            api_key: Some(ApiKey(new.stored)),
            secret: Some(new.secret),
            previous_api_key: Some(ApiKey(old)),
            user_errors: Vec::new(),
        },
        KeyChange::NotFound => refuse(key_not_found()),
        KeyChange::Inactive(k) => RotateApiKeyPayload {
            previous_api_key: Some(ApiKey(k)),
            ..refuse(vec![CouponUserError::new(
                &["input", "id"],
                CouponErrorCode::KeyInactive,
                "this API key is revoked, expired or rotated already",
            )])
        },
    })
}

/// The `apiKeys` query.
pub async fn list_keys(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<ApiKeyFilter>,
) -> Result<Page<ApiKey>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let filter = filter.unwrap_or_default();
    let rows = api_keys::list_api_keys(svc, filter.include_inactive, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
    Ok(Page::from_rows(rows, limit, after, |k| k.id, ApiKey))
}

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
        EntityType::Rule => None,
    }
}

/// One change: who made it, from where, and the entity before and after.
#[async_graphql::Object]
impl AuditEntry {
    /// Opaque global ID; later entries have later IDs.
    async fn id(&self) -> ID {
        ids::encode(Kind::AuditEntry, self.0.id)
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
        self.0.actor_key_id.map(|id| ids::encode(Kind::ApiKey, id))
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
            (Some(kind), Ok(n)) => ids::encode(kind, n).0,
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

/// Which audit entries to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct AuditLogFilter {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this kind of entity.
    pub entity_type: Option<AuditEntityType>,
    /// Only this entity: a global ID, or a rule's name.
    pub entity_id: Option<String>,
    /// Only changes made with this API key.
    pub actor_key_id: Option<ID>,
    /// Only changes at or after this instant.
    pub since: Option<DateTime>,
    /// Only changes before this instant.
    pub until: Option<DateTime>,
}

/// The `auditLog` query.
pub async fn audit_log(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<AuditLogFilter>,
) -> Result<Page<AuditEntry>> {
    let svc = ctx.data::<Services>()?;
    let limit = page_size(first)?;
    let after = after_id(after.as_deref())?;
    let f = filter.unwrap_or_default();
    let entity_id = f.entity_id.as_ref().map(|raw| match ids::decode_any(raw) {
        Some((_, n)) => n.to_string(),
        None => raw.trim().to_owned(),
    });
    let actor_key_id =
        match &f.actor_key_id {
            None => None,
            Some(id) => Some(ids::decode(Kind::ApiKey, id).ok_or_else(|| {
                ApiError::BadUserInput(format!("{:?} is not an API key ID", id.0))
            })?),
        };
    let filter = storage::AuditFilter {
        action: f.action.map(Into::into),
        entity_type: f.entity_type.map(Into::into),
        entity_id,
        actor_key_id,
        since: f.since.map(|t| t.0),
        until: f.until.map(|t| t.0),
    };
    let rows = api_keys::audit_log(svc, &filter, after, limit as i64 + 1)
        .await
        .map_err(query_error)?;
    Ok(Page::from_rows(rows, limit, after, |e| e.id, AuditEntry))
}
