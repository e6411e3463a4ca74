//! Committed events, as subscribers read them back from the outbox.

use super::{ServiceError, Services};
use crate::storage::{StoredEvent, events};

/// The id of the newest event (0 when there is none).
pub async fn last_event_id(svc: &Services) -> Result<i64, ServiceError> {
    Ok(svc
        .db
        .read(async |mut c| events::last_event_id(&mut c).await)
        .await?)
}

/// Events after `after`, oldest first, at most `limit`.
pub async fn events_after(
    svc: &Services,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| events::events_after(&mut c, after, limit).await)
        .await?)
}
