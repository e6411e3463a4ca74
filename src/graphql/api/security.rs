//! API keys and the audit log: create, rotate, revoke and list keys; read the changes
//! made with them; and the caller's own key.

use async_graphql::{Context, Object};

use super::optional_filter_id;
use crate::graphql::error::{ApiError, UserError, UserErrorCode};
use crate::graphql::guard::{ADMIN, ANY_KEY, RoleGuard};
use crate::graphql::inputs::{
    ApiKeyFilter, AuditLogFilter, CreateApiKeyInput, CreateApiKeyPayload, RevokeApiKeyInput,
    RevokeApiKeyPayload, RotateApiKeyInput, RotateApiKeyPayload,
};
use crate::graphql::pagination::{Page, after_id, page_size};
use crate::graphql::types::{ApiKey, AuditEntry, Viewer};
use crate::graphql::{caller, services};
use crate::ids::{self, Kind};
use crate::service::api_keys;
use crate::storage::{AuditFilter, KeyChange};

/// Key and audit reads.
#[derive(Default)]
pub struct SecurityQuery;

/// Key and audit reads.
#[Object]
impl SecurityQuery {
    /// API keys, newest first (active ones unless asked otherwise). Secrets are never
    /// shown.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which keys to list.")] filter: Option<ApiKeyFilter>,
    ) -> Result<Page<ApiKey>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let inactive = filter.unwrap_or_default().include_inactive;
        let rows =
            api_keys::list_api_keys(services(ctx)?, inactive, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(rows, limit, after, |k| k.id, ApiKey))
    }

    /// Every change by admins and checkout calls, newest first: who (key, role,
    /// address), what, and the entity before and after.
    #[graphql(
        guard = "RoleGuard::new(ADMIN)",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which the page starts.")] after: Option<String>,
        #[graphql(desc = "Which entries to list.")] filter: Option<AuditLogFilter>,
    ) -> Result<Page<AuditEntry>, ApiError> {
        let (limit, after) = (page_size(first)?, after_id(after.as_deref())?);
        let f = filter.unwrap_or_default();
        let entity_id = f.entity_id.as_ref().map(|raw| match ids::decode_any(raw) {
            Some((_, n)) => n.to_string(),
            None => raw.trim().to_owned(),
        });
        let filter = AuditFilter {
            action: f.action.map(Into::into),
            entity_type: f.entity_type.map(Into::into),
            entity_id,
            actor_key_id: optional_filter_id(
                Kind::ApiKey,
                f.actor_key_id.as_ref(),
                "an API key ID",
            )?,
            since: f.since.map(|t| t.0),
            until: f.until.map(|t| t.0),
        };
        let rows = api_keys::audit_log(services(ctx)?, &filter, after, limit as i64 + 1).await?;
        Ok(Page::from_rows(rows, limit, after, |e| e.id, AuditEntry))
    }

    /// The caller's own API key: its role and name.
    #[graphql(guard = "RoleGuard::new(ANY_KEY)")]
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer, ApiError> {
        Ok(Viewer(caller(ctx)?))
    }
}

/// Key changes.
#[derive(Default)]
pub struct SecurityMutation;

fn key_not_found() -> Vec<UserError> {
    vec![UserError::new(
        &["input", "id"],
        UserErrorCode::NotFound,
        "API key not found",
    )]
}

/// Key changes.
#[Object]
impl SecurityMutation {
    /// Revokes an API key: every instance refuses it from the next request on.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] input: RevokeApiKeyInput,
    ) -> Result<RevokeApiKeyPayload, ApiError> {
        let Some(id) = ids::decode(Kind::ApiKey, &input.id) else {
            return Ok(RevokeApiKeyPayload {
                api_key: None,
                user_errors: key_not_found(),
            });
        };
        let changed = api_keys::revoke_api_key(services(ctx)?, &caller(ctx)?, id).await?;
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
                user_errors: vec![UserError::new(
                    &["input", "id"],
                    UserErrorCode::KeyInactive,
                    "this API key is revoked already",
                )],
            },
        })
    }

    /// Replaces an API key by a new one with the same name, role and channels. The old
    /// key keeps working for `graceMinutes`, then is refused. The new key is in this
    /// response only.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to replace and the grace period of the old one.")]
        input: RotateApiKeyInput,
    ) -> Result<RotateApiKeyPayload, ApiError> {
        let refuse = |user_errors| RotateApiKeyPayload {
            api_key: None,
            secret: None,
            previous_api_key: None,
            user_errors,
        };
        let grace = match coupons_domain::api_key::grace_period(i64::from(input.grace_minutes)) {
            Ok(grace) => grace,
            Err(e) => return Ok(refuse(vec![e.into()])),
        };
        let Some(id) = ids::decode(Kind::ApiKey, &input.id) else {
            return Ok(refuse(key_not_found()));
        };
        let changed = api_keys::rotate_api_key(services(ctx)?, &caller(ctx)?, id, grace).await?;
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
                ..refuse(vec![UserError::new(
                    &["input", "id"],
                    UserErrorCode::KeyInactive,
                    "this API key is revoked, expired or rotated already",
                )])
            },
        })
    }

    /// Creates an API key. The key is in this response only.
    #[graphql(guard = "RoleGuard::new(ADMIN)")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new key's name and role.")] input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload, ApiError> {
        let checked = coupons_domain::api_key::KeyDraft::new(&input.name, &input.channels);
        let draft = match checked {
            Ok(draft) => draft,
            Err(invalid) => {
                return Ok(CreateApiKeyPayload {
                    api_key: None,
                    secret: None,
                    user_errors: invalid.0.into_iter().map(Into::into).collect(),
                });
            }
        };
        let created = api_keys::create_api_key(
            services(ctx)?,
            &caller(ctx)?,
            &draft.name,
            input.role.into(),
            draft.channels.as_slice(),
        )
        .await?;
        Ok(CreateApiKeyPayload {
            api_key: Some(ApiKey(created.stored)),
            secret: Some(created.secret),
            user_errors: Vec::new(),
        })
    }
}
