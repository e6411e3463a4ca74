//! Inputs and payloads of API key management, and the audit log's filter.

use async_graphql::{ID, InputObject, SimpleObject};

use crate::graphql::error::UserError;
use crate::graphql::scalars::DateTime;
use crate::graphql::types::{ApiKey, ApiKeyRole, AuditAction, AuditEntityType};

/// A new API key.
#[derive(Debug, Clone, InputObject)]
pub struct CreateApiKeyInput {
    /// Who or what the key is for.
    pub name: String,
    /// What it may do.
    pub role: ApiKeyRole,
    /// Channels it may be used for (validation and checkout must name one of them);
    /// empty or omitted for every channel.
    #[graphql(default)]
    pub channels: Vec<String>,
}

/// Result of `createApiKey`.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key's record.
    pub api_key: Option<ApiKey>,
    /// The key itself. Shown only in this response: store it now.
    pub secret: Option<String>,
    /// What was wrong with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

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
    pub user_errors: Vec<UserError>,
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
    pub user_errors: Vec<UserError>,
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
