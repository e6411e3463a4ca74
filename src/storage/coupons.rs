//! Coupons and their codes: creating, changing (under the row's lock), deleting,
//! adding and importing codes, each change with its audit entry and event; and the
//! reads of coupons and codes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coupons_domain::{
    Coupon, CouponCode, CouponId, CouponSpec, CouponStatus, LifecycleStatus, Limit,
};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use serde_json::json;

use super::audit::{Actor, AuditAction, EntityType, snapshot, write_audit};
use super::events::{EventCoupon, EventType, write_event};
use super::models::StoredCoupon;
use super::{Conn, StorageError, on_backend};

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower(text)`.
    fn lower(x: Text) -> Text;
}

/// A `coupon_codes` row.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct StoredCode {
    /// Row id.
    pub id: i64,
    /// The coupon it points at.
    pub coupon_id: i64,
    /// Canonical code.
    pub code: String,
    /// Own cap on uses (1 = single-use).
    pub usage_limit: Option<i64>,
    /// Uses counted so far.
    pub redemption_count: i64,
    /// Whether the code may be used.
    pub active: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Live reservations of this code.
    pub reserved_count: i64,
    /// The bulk job that generated it, if one did.
    pub batch_id: Option<i64>,
}

/// One code of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The code (canonical).
    pub code: CouponCode,
    /// Its own cap on uses.
    pub usage_limit: Option<i64>,
    /// Whether it may be used.
    pub active: bool,
    /// Its line in the file.
    pub line: u64,
}

/// Codes looked up per query, and inserted per statement, in an import.
const IMPORT_BATCH: usize = 5_000;

/// Which coupons a listing returns.
#[derive(Debug, Clone, Default)]
pub struct CouponFilter {
    /// Only coupons with this status as seen at `now`.
    pub status: Option<CouponStatus>,
    /// Case-insensitive substring of the name or of any code.
    pub text: Option<String>,
    /// Only coupons of this campaign.
    pub campaign_id: Option<i64>,
}

/// The result of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Gone, with its codes.
    Deleted,
    /// There was no such coupon.
    NotFound,
    /// It has been used; it stays (archive it instead).
    HasRedemptions,
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Inserts a coupon and its first codes, with its audit entry and `COUPON_CREATED`
/// event. A code that already exists fails the insert with
/// [`StorageError::UniqueViolation`] (and the caller's transaction rolls back).
pub async fn insert_coupon(
    c: &mut Conn<'_>,
    spec: &CouponSpec,
    status: LifecycleStatus,
    codes: &[CouponCode],
    usage_limit: Limit,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Coupon, StorageError> {
    let row: StoredCoupon = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        diesel::insert_into(c::coupons)
            .values((
                schema::CouponColumns::new(spec, status),
                c::redemption_count.eq(0_i64),
                c::created_at.eq(now),
                c::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?
    });
    // The entry goes first: a code that turns out taken rolls both back.
    let listed: Vec<&str> = codes.iter().map(CouponCode::as_str).collect();
    let after = json!({ "coupon": snapshot(&row), "codes": listed });
    let entity = EntityType::Coupon;
    let action = AuditAction::CouponCreated;
    write_audit(
        c,
        actor,
        action,
        entity,
        row.id,
        None,
        Some(after.clone()),
        now,
    )
    .await?;
    if spec.automatic {
        let name = coupons_domain::automatic_code(CouponId(row.id));
        on_backend!(c, |conn| {
            use schema::coupon_codes::dsl as cc;
            diesel::insert_into(cc::coupon_codes)
                .values((
                    cc::coupon_id.eq(row.id),
                    cc::code.eq(&name),
                    cc::created_at.eq(now),
                ))
                .execute(conn)
                .await?;
        });
    }
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        // One statement per code: diesel-async has no multi-row insert for SQLite.
        for code in codes {
            diesel::insert_into(cc::coupon_codes)
                .values((
                    cc::coupon_id.eq(row.id),
                    cc::code.eq(code.as_str()),
                    cc::usage_limit.eq(usage_limit.get().map(i64::from)),
                    cc::created_at.eq(now),
                ))
                .execute(conn)
                .await?;
        }
    });
    write_event(
        c,
        EventType::CouponCreated,
        Some(row.id),
        row.id,
        after,
        now,
    )
    .await?;
    row.into_domain()
}

/// A coupon by id.
pub async fn coupon(c: &mut Conn<'_>, id: CouponId) -> Result<Option<Coupon>, StorageError> {
    let row: Option<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        c::coupons.find(id.0).first(conn).await.optional()?
    });
    row.map(StoredCoupon::into_domain).transpose()
}

/// The coupon a code points at.
pub async fn coupon_by_code(
    c: &mut Conn<'_>,
    code: &CouponCode,
) -> Result<Option<Coupon>, StorageError> {
    let row: Option<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as c;
        c::coupons
            .filter(
                c::id.eq_any(
                    cc::coupon_codes
                        .filter(cc::code.eq(code.as_str()))
                        .select(cc::coupon_id),
                ),
            )
            .first(conn)
            .await
            .optional()?
    });
    row.map(StoredCoupon::into_domain).transpose()
}

/// Coupons matching `filter`, newest first, with ids below `before` when given.
pub async fn list_coupons(
    c: &mut Conn<'_>,
    filter: &CouponFilter,
    now: DateTime<Utc>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Coupon>, StorageError> {
    let rows: Vec<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as c;
        let mut q = c::coupons.into_boxed();
        if let Some(before) = before {
            q = q.filter(c::id.lt(before));
        }
        if let Some(campaign) = filter.campaign_id {
            q = q.filter(c::campaign_id.eq(campaign));
        }
        let active = "ACTIVE";
        q = match filter.status {
            None => q,
            Some(CouponStatus::Draft) => q.filter(c::status.eq("DRAFT")),
            Some(CouponStatus::Paused) => q.filter(c::status.eq("PAUSED")),
            Some(CouponStatus::Archived) => q.filter(c::status.eq("ARCHIVED")),
            Some(CouponStatus::Scheduled) => {
                q.filter(c::status.eq(active)).filter(c::starts_at.gt(now))
            }
            Some(CouponStatus::Expired) => q
                .filter(c::status.eq(active))
                .filter(c::starts_at.le(now))
                .filter(c::expires_at.le(now)),
            Some(CouponStatus::Exhausted) => q
                .filter(c::status.eq(active))
                .filter(c::starts_at.le(now))
                .filter(c::expires_at.is_null().or(c::expires_at.gt(now)))
                .filter(c::redemption_count.nullable().ge(c::max_redemptions)),
            Some(CouponStatus::Active) => q
                .filter(c::status.eq(active))
                .filter(c::starts_at.le(now))
                .filter(c::expires_at.is_null().or(c::expires_at.gt(now)))
                .filter(
                    c::max_redemptions
                        .is_null()
                        .or(c::redemption_count.nullable().lt(c::max_redemptions)),
                ),
        };
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let name_pattern = format!("%{}%", like_escape(&text.to_lowercase()));
            let code_pattern = format!("%{}%", like_escape(&text.to_ascii_uppercase()));
            q = q.filter(
                lower(c::name).like(name_pattern).escape('\\').or(exists(
                    cc::coupon_codes
                        .filter(cc::coupon_id.eq(c::id))
                        .filter(cc::code.like(code_pattern).escape('\\')),
                )),
            );
        }
        q.order(c::id.desc()).limit(limit).load(conn).await?
    });
    rows.into_iter().map(StoredCoupon::into_domain).collect()
}

/// A coupon locked for a change: the row as read under the lock.
#[derive(Debug, Clone)]
pub struct LockedCoupon {
    /// The coupon as it stands.
    pub coupon: Coupon,
    row: StoredCoupon,
}

/// Locks a coupon for a change (a write that changes nothing takes the row lock on
/// PostgreSQL before anything is read) and reads it; `None` when there is no such
/// coupon.
pub async fn lock_for_change(
    c: &mut Conn<'_>,
    id: CouponId,
) -> Result<Option<LockedCoupon>, StorageError> {
    let current: Option<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        // `updated_at` stays: it is the version a caller may name (`If-Match`).
        diesel::update(c::coupons.find(id.0))
            .set(c::updated_at.eq(c::updated_at))
            .get_result(conn)
            .await
            .optional()?
    });
    current
        .map(|row| {
            Ok(LockedCoupon {
                coupon: row.clone().into_domain()?,
                row,
            })
        })
        .transpose()
}

/// Writes a locked coupon's new definition and status, with the audit entry of
/// `action` and its event (`COUPON_STATUS_CHANGED` for a status change, else
/// `COUPON_UPDATED`).
pub async fn change_coupon(
    c: &mut Conn<'_>,
    locked: &LockedCoupon,
    spec: &CouponSpec,
    status: LifecycleStatus,
    action: AuditAction,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Coupon, StorageError> {
    let id = locked.row.id;
    let row: StoredCoupon = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        diesel::update(c::coupons.find(id))
            .set((
                schema::CouponColumns::new(spec, status),
                c::updated_at.eq(now),
            ))
            .get_result(conn)
            .await?
    });
    let (before, after) = (snapshot(&locked.row), snapshot(&row));
    let entity = EntityType::Coupon;
    write_audit(c, actor, action, entity, id, before, after.clone(), now).await?;
    let happened = if action == AuditAction::CouponStatusChanged {
        EventType::CouponStatusChanged
    } else {
        EventType::CouponUpdated
    };
    let payload = after.unwrap_or_default();
    write_event(c, happened, Some(id), id, payload, now).await?;
    row.into_domain()
}

/// Deletes a coupon and its codes, unless it has been used, with its audit entry and
/// `COUPON_DELETED` event.
pub async fn delete_coupon(
    c: &mut Conn<'_>,
    id: CouponId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DeleteOutcome, StorageError> {
    let deleted: Option<StoredCoupon> = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        use schema::redemptions::dsl as r;
        // Any reservation or redemption, live or not, keeps the coupon: its history
        // refers to it.
        let used = exists(r::redemptions.filter(r::coupon_id.eq(id.0)));
        let unused = c::redemption_count.eq(0_i64).and(diesel::dsl::not(used));
        diesel::delete(c::coupons.find(id.0).filter(unused))
            .get_result(conn)
            .await
            .optional()?
    });
    if let Some(row) = deleted {
        let before = snapshot(&row);
        let (action, entity) = (AuditAction::CouponDeleted, EntityType::Coupon);
        write_audit(c, actor, action, entity, id.0, before.clone(), None, now).await?;
        let payload = before.unwrap_or_default();
        let coupon = EventCoupon::Deleted {
            id: id.0,
            campaign_id: row.campaign_id,
        };
        write_event(c, EventType::CouponDeleted, coupon, id.0, payload, now).await?;
        return Ok(DeleteOutcome::Deleted);
    }
    let exists: bool = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        diesel::select(exists(c::coupons.find(id.0)))
            .get_result(conn)
            .await?
    });
    Ok(if exists {
        DeleteOutcome::HasRedemptions
    } else {
        DeleteOutcome::NotFound
    })
}

/// Adds codes to a coupon, with the audit entry and `CODES_ADDED` event; `None` when
/// the coupon does not exist. A code that exists already fails with
/// [`StorageError::UniqueViolation`] (and the caller's transaction rolls back).
pub async fn add_codes(
    c: &mut Conn<'_>,
    coupon: CouponId,
    codes: &[CouponCode],
    usage_limit: Limit,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Vec<StoredCode>>, StorageError> {
    let touched = on_backend!(c, |conn| {
        use schema::coupons::dsl as c;
        diesel::update(c::coupons.find(coupon.0))
            .set(c::updated_at.eq(now))
            .execute(conn)
            .await?
    });
    if touched == 0 {
        return Ok(None);
    }
    // The entry goes first: a code that turns out taken rolls both back.
    let listed: Vec<&str> = codes.iter().map(CouponCode::as_str).collect();
    let after = json!({ "codes": listed, "usageLimit": usage_limit.get() });
    let (action, entity) = (AuditAction::CodesAdded, EntityType::Coupon);
    write_audit(
        c,
        actor,
        action,
        entity,
        coupon.0,
        None,
        Some(after.clone()),
        now,
    )
    .await?;
    let inserted: Vec<StoredCode> = on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        let mut inserted = Vec::with_capacity(codes.len());
        for code in codes {
            let row: StoredCode = diesel::insert_into(cc::coupon_codes)
                .values((
                    cc::coupon_id.eq(coupon.0),
                    cc::code.eq(code.as_str()),
                    cc::usage_limit.eq(usage_limit.get().map(i64::from)),
                    cc::created_at.eq(now),
                ))
                .get_result(conn)
                .await?;
            inserted.push(row);
        }
        inserted
    });
    write_event(
        c,
        EventType::CodesAdded,
        Some(coupon.0),
        coupon.0,
        after,
        now,
    )
    .await?;
    Ok(Some(inserted))
}

/// Imports codes into a coupon: `None` when the coupon does not exist; else the codes
/// of `rows` that are taken already (then nothing is written), or none when every row
/// was stored. One audit entry and one `CODES_ADDED` event.
pub async fn import_codes(
    c: &mut Conn<'_>,
    coupon_id: i64,
    rows: &[ImportRow],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, StorageError> {
    on_backend!(c, |conn| {
        use diesel::sql_types::BigInt;
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as c;
        // Locks the coupon (PostgreSQL) so it cannot be deleted meanwhile.
        let found = diesel::update(c::coupons.find(coupon_id))
            .set(c::updated_at.eq(c::updated_at))
            .execute(conn)
            .await?;
        if found == 0 {
            return Ok(None);
        }
        let mut taken: Vec<String> = Vec::new();
        for part in rows.chunks(IMPORT_BATCH) {
            let codes: Vec<&str> = part.iter().map(|r| r.code.as_str()).collect();
            let found: Vec<String> = cc::coupon_codes
                .filter(cc::code.eq_any(codes))
                .select(cc::code)
                .load(conn)
                .await?;
            taken.extend(found);
        }
        if !taken.is_empty() {
            return Ok(Some(taken));
        }
        for part in rows.chunks(IMPORT_BATCH) {
            let listed: Vec<serde_json::Value> = part
                .iter()
                .map(|r| json!({ "code": r.code.as_str(), "usage_limit": r.usage_limit, "active": r.active }))
                .collect();
            diesel::sql_query(schema::INSERT_IMPORTED_CODES)
                .bind::<BigInt, _>(coupon_id)
                .bind::<schema::Instant, _>(now)
                .bind::<Text, _>(serde_json::Value::Array(listed).to_string())
                .execute(conn)
                .await?;
        }
        diesel::update(c::coupons.find(coupon_id))
            .set(c::updated_at.eq(now))
            .execute(conn)
            .await?;
    });
    let after = json!({ "imported": rows.len() });
    let (action, entity) = (AuditAction::CodesImported, EntityType::Coupon);
    write_audit(c, actor, action, entity, coupon_id, None, Some(after), now).await?;
    let payload = json!({ "count": rows.len(), "imported": true });
    write_event(
        c,
        EventType::CodesAdded,
        Some(coupon_id),
        coupon_id,
        payload,
        now,
    )
    .await?;
    Ok(Some(Vec::new()))
}

/// A code by row id.
pub async fn code(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredCode>, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        Ok(cc::coupon_codes.find(id).first(conn).await.optional()?)
    })
}

/// Which of `codes` already exist (looked up a few thousand at a time).
pub async fn taken_codes(
    c: &mut Conn<'_>,
    codes: &[CouponCode],
) -> Result<Vec<String>, StorageError> {
    let mut taken = Vec::new();
    for part in codes.chunks(IMPORT_BATCH) {
        let wanted: Vec<&str> = part.iter().map(CouponCode::as_str).collect();
        let found: Vec<String> = on_backend!(c, |conn| {
            use schema::coupon_codes::dsl as cc;
            cc::coupon_codes
                .filter(cc::code.eq_any(&wanted))
                .select(cc::code)
                .load::<String>(conn)
                .await?
        });
        taken.extend(found);
    }
    Ok(taken)
}

/// A page of a coupon's codes, oldest first, with ids above `after` when given.
pub async fn codes(
    c: &mut Conn<'_>,
    coupon: CouponId,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredCode>, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        Ok(cc::coupon_codes
            .filter(cc::coupon_id.eq(coupon.0))
            .filter(cc::id.gt(after.unwrap_or(0)))
            .order(cc::id.asc())
            .limit(limit)
            .load(conn)
            .await?)
    })
}

/// The first code of each of `coupons` (the one given at creation, or the oldest).
pub async fn first_codes(
    c: &mut Conn<'_>,
    coupons: &[i64],
) -> Result<HashMap<i64, String>, StorageError> {
    let pairs: Vec<(i64, String)> = on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        let first_ids: Vec<Option<i64>> = cc::coupon_codes
            .filter(cc::coupon_id.eq_any(coupons))
            .group_by(cc::coupon_id)
            .select(diesel::dsl::min(cc::id))
            .load(conn)
            .await?;
        let first_ids: Vec<i64> = first_ids.into_iter().flatten().collect();
        cc::coupon_codes
            .filter(cc::id.eq_any(first_ids))
            .select((cc::coupon_id, cc::code))
            .load(conn)
            .await?
    });
    Ok(pairs.into_iter().collect())
}

/// The campaign a coupon belongs to, if any (`None` too when there is no such coupon).
pub async fn coupon_campaign(
    c: &mut Conn<'_>,
    coupon_id: i64,
) -> Result<Option<i64>, StorageError> {
    let found: Option<Option<i64>> = on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        cp::coupons
            .find(coupon_id)
            .select(cp::campaign_id)
            .first(conn)
            .await
            .optional()?
    });
    Ok(found.flatten())
}
