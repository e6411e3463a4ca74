//! API keys and the audit log: create, rotate, revoke and list keys; read the changes
//! made with them.

use chrono::Utc;

use super::{Caller, ServiceError, Services};
use crate::auth::{self, GeneratedKey, Role};
use crate::storage::{AuditEntry, AuditFilter, KeyChange, StoredApiKey, api_keys, audit};

/// Creates a key of `role`, limited to `channels` (none: all); the secret is in the
/// result only.
pub async fn create_api_key(
    svc: &Services,
    caller: &Caller,
    name: &str,
    role: Role,
    channels: &[String],
) -> Result<GeneratedKey, ServiceError> {
    Ok(auth::create_scoped_api_key(&svc.db, name, role, channels, &caller.actor()).await?)
}

/// Revokes a key.
pub async fn revoke_api_key(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<KeyChange<StoredApiKey>, ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    let changed = svc
        .db
        .write(async move |mut c| api_keys::revoke_api_key(&mut c, id, actor, now).await)
        .await?;
    svc.keys.clear();
    Ok(changed)
}

/// Replaces a key by a new one with the same name, role and channels; the old one works
/// on for `grace`.
pub async fn rotate_api_key(
    svc: &Services,
    caller: &Caller,
    id: i64,
    grace: chrono::Duration,
) -> Result<KeyChange<(StoredApiKey, GeneratedKey)>, ServiceError> {
    let changed = auth::rotate_api_key(&svc.db, id, grace, &caller.actor()).await?;
    svc.keys.clear();
    Ok(changed)
}

/// Keys newest first, with ids below `before`; revoked and expired ones only when asked.
pub async fn list_api_keys(
    svc: &Services,
    include_inactive: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredApiKey>, ServiceError> {
    let now = Utc::now();
    Ok(svc
        .db
        .read(async move |mut c| {
            api_keys::list_api_keys(&mut c, include_inactive, before, limit, now).await
        })
        .await?)
}

/// Audit entries matching `filter`, newest first, with ids below `before`.
pub async fn audit_log(
    svc: &Services,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| audit::audit_log(&mut c, filter, before, limit).await)
        .await?)
}
