//! Coupon and code queries.

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

use super::audit::{Actor, AuditAction, EntityType, audit, snapshot};
use super::events::{EventType, event};
use super::models::{CouponColumns, StoredCoupon, coupon_assignments};
use super::{Db, StorageError, with_conn, with_tx};

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

/// Why a read-modify-write of a coupon did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// No such coupon.
    #[error("coupon not found")]
    NotFound,
    /// The change was refused; nothing was written.
    #[error("change rejected")]
    Rejected(E),
    /// A storage fault.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl<E> From<diesel::result::Error> for UpdateError<E> {
    fn from(e: diesel::result::Error) -> Self {
        Self::Storage(e.into())
    }
}

impl<E> From<diesel_async::pooled_connection::deadpool::PoolError> for UpdateError<E> {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Storage(e.into())
    }
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

impl Db {
    /// Inserts a coupon and its first codes in one transaction. A code that already
    /// exists fails the whole insert with [`StorageError::UniqueViolation`].
    pub async fn insert_coupon(
        &self,
        spec: &CouponSpec,
        status: LifecycleStatus,
        codes: &[CouponCode],
        usage_limit: Limit,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Coupon, StorageError> {
        with_tx!(self, |conn| {
            use schema::coupon_codes::dsl as cc;
            use schema::coupons::dsl as c;
            let row: StoredCoupon = diesel::insert_into(c::coupons)
                .values((
                    coupon_assignments!(c, CouponColumns::new(spec, status)),
                    c::redemption_count.eq(0_i64),
                    c::created_at.eq(now),
                    c::updated_at.eq(now),
                ))
                .get_result(conn)
                .await?;
            // The entry goes first: a code that turns out taken rolls both back.
            let listed: Vec<&str> = codes.iter().map(CouponCode::as_str).collect();
            let after = json!({ "coupon": snapshot(&row), "codes": listed });
            audit!(
                conn,
                actor,
                AuditAction::CouponCreated,
                EntityType::Coupon,
                row.id,
                None,
                Some(after.clone()),
                now
            );
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
            let payload = after;
            event!(
                conn,
                EventType::CouponCreated,
                Some(row.id),
                row.id,
                payload,
                now
            );
            row.into_domain()
        })
    }

    /// A coupon by id.
    pub async fn coupon(&self, id: CouponId) -> Result<Option<Coupon>, StorageError> {
        let row: Option<StoredCoupon> = with_conn!(self, |conn| {
            use schema::coupons::dsl as c;
            c::coupons.find(id.0).first(conn).await.optional()?
        });
        row.map(StoredCoupon::into_domain).transpose()
    }

    /// The coupon a code points at.
    pub async fn coupon_by_code(&self, code: &CouponCode) -> Result<Option<Coupon>, StorageError> {
        let row: Option<StoredCoupon> = with_conn!(self, |conn| {
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
        &self,
        filter: &CouponFilter,
        now: DateTime<Utc>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Coupon>, StorageError> {
        let rows: Vec<StoredCoupon> = with_conn!(self, |conn| {
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

    /// Reads, changes and writes a coupon in one transaction. `change` sees the current
    /// coupon and returns the new definition and status, or refuses (rolling back).
    pub async fn update_coupon<E, F>(
        &self,
        id: CouponId,
        action: AuditAction,
        actor: &Actor,
        now: DateTime<Utc>,
        change: F,
    ) -> Result<Coupon, UpdateError<E>>
    where
        F: FnOnce(&Coupon) -> Result<(CouponSpec, LifecycleStatus), E> + Send,
        E: Send,
    {
        with_tx!(self, |conn| {
            use schema::coupons::dsl as c;
            // Writing first takes the row lock (PostgreSQL) before anything is read.
            let current: Option<StoredCoupon> = diesel::update(c::coupons.find(id.0))
                .set(c::updated_at.eq(now))
                .get_result(conn)
                .await
                .optional()?;
            let current = current.ok_or(UpdateError::NotFound)?;
            let before = snapshot(&current);
            let current = current.into_domain()?;
            let (spec, status) = change(&current).map_err(UpdateError::Rejected)?;
            let row: StoredCoupon = diesel::update(c::coupons.find(id.0))
                .set(coupon_assignments!(c, CouponColumns::new(&spec, status)))
                .get_result(conn)
                .await?;
            let after = snapshot(&row);
            audit!(
                conn,
                actor,
                action,
                EntityType::Coupon,
                id.0,
                before,
                after.clone(),
                now
            );
            let happened = if action == AuditAction::CouponStatusChanged {
                EventType::CouponStatusChanged
            } else {
                EventType::CouponUpdated
            };
            let payload = after.unwrap_or_default();
            event!(conn, happened, Some(id.0), id.0, payload, now);
            Ok(row.into_domain()?)
        })
    }

    /// Deletes a coupon and its codes, unless it has been used.
    pub async fn delete_coupon(
        &self,
        id: CouponId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<DeleteOutcome, StorageError> {
        with_tx!(self, |conn| {
            use schema::coupons::dsl as c;
            let deleted: Option<StoredCoupon> =
                diesel::delete(c::coupons.find(id.0).filter(c::redemption_count.eq(0_i64)))
                    .get_result(conn)
                    .await
                    .optional()?;
            if let Some(row) = deleted {
                let before = snapshot(&row);
                audit!(
                    conn,
                    actor,
                    AuditAction::CouponDeleted,
                    EntityType::Coupon,
                    id.0,
                    before.clone(),
                    None,
                    now
                );
                let payload = before.unwrap_or_default();
                event!(
                    conn,
                    EventType::CouponDeleted,
                    Some(id.0),
                    id.0,
                    payload,
                    now,
                    campaign = row.campaign_id
                );
                return Ok(DeleteOutcome::Deleted);
            }
            let exists: bool = diesel::select(exists(c::coupons.find(id.0)))
                .get_result(conn)
                .await?;
            Ok(if exists {
                DeleteOutcome::HasRedemptions
            } else {
                DeleteOutcome::NotFound
            })
        })
    }

    /// Adds codes to a coupon in one transaction; `None` when the coupon does not exist.
    pub async fn add_codes(
        &self,
        coupon: CouponId,
        codes: &[CouponCode],
        usage_limit: Limit,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<StoredCode>>, StorageError> {
        with_tx!(self, |conn| {
            use schema::coupon_codes::dsl as cc;
            use schema::coupons::dsl as c;
            let touched = diesel::update(c::coupons.find(coupon.0))
                .set(c::updated_at.eq(now))
                .execute(conn)
                .await?;
            if touched == 0 {
                return Ok(None);
            }
            // The entry goes first: a code that turns out taken rolls both back.
            let listed: Vec<&str> = codes.iter().map(CouponCode::as_str).collect();
            let after = json!({ "codes": listed, "usageLimit": usage_limit.get() });
            audit!(
                conn,
                actor,
                AuditAction::CodesAdded,
                EntityType::Coupon,
                coupon.0,
                None,
                Some(after.clone()),
                now
            );
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
            let payload = after;
            event!(
                conn,
                EventType::CodesAdded,
                Some(coupon.0),
                coupon.0,
                payload,
                now
            );
            Ok(Some(inserted))
        })
    }

    /// Imports codes into a coupon in one transaction: `None` when the coupon does not
    /// exist; else the codes of `rows` that are taken already (then nothing is written),
    /// or none when every row was stored. One audit entry and one `CODES_ADDED` event.
    pub async fn import_codes(
        &self,
        coupon_id: i64,
        rows: &[ImportRow],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StorageError> {
        with_tx!(self, |conn| {
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
            let after = json!({ "imported": rows.len() });
            audit!(
                conn,
                actor,
                AuditAction::CodesImported,
                EntityType::Coupon,
                coupon_id,
                None,
                Some(after.clone()),
                now
            );
            let payload = json!({ "count": rows.len(), "imported": true });
            event!(
                conn,
                EventType::CodesAdded,
                Some(coupon_id),
                coupon_id,
                payload,
                now
            );
            Ok(Some(Vec::new()))
        })
    }

    /// A code by row id.
    pub async fn code(&self, id: i64) -> Result<Option<StoredCode>, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::coupon_codes::dsl as cc;
            cc::coupon_codes.find(id).first(conn).await.optional()?
        }))
    }

    /// Which of `codes` already exist (looked up a few thousand at a time).
    pub async fn taken_codes(&self, codes: &[CouponCode]) -> Result<Vec<String>, StorageError> {
        let mut taken = Vec::new();
        for part in codes.chunks(IMPORT_BATCH) {
            let wanted: Vec<&str> = part.iter().map(CouponCode::as_str).collect();
            let found: Vec<String> = with_conn!(self, |conn| {
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
        &self,
        coupon: CouponId,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredCode>, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::coupon_codes::dsl as cc;
            cc::coupon_codes
                .filter(cc::coupon_id.eq(coupon.0))
                .filter(cc::id.gt(after.unwrap_or(0)))
                .order(cc::id.asc())
                .limit(limit)
                .load(conn)
                .await?
        }))
    }

    /// The first code of each of `coupons` (the one given at creation, or the oldest).
    pub async fn first_codes(&self, coupons: &[i64]) -> Result<HashMap<i64, String>, StorageError> {
        let pairs: Vec<(i64, String)> = with_conn!(self, |conn| {
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
}
