//! Reservations and redemptions read back: one by id, listings and export pages, a
//! coupon's net discount, and the reconciliation of every counter with its rows.

use chrono::{DateTime, Utc};
use coupons_domain::{Redemption, RedemptionStatus};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::models::StoredRedemption;
use super::{Conn, StorageError, on_backend};

/// Which redemptions a listing returns.
#[derive(Debug, Clone, Default)]
pub struct RedemptionFilter {
    /// Of this coupon.
    pub coupon_id: Option<i64>,
    /// Of this customer (keyed hash).
    pub customer_key: Option<String>,
    /// For this order.
    pub order_id: Option<String>,
    /// In this status.
    pub status: Option<RedemptionStatus>,
    /// Made under this campaign.
    pub campaign_id: Option<i64>,
    /// Made at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Made before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A redemption as exported: the row with its customer's keyed hash and campaign.
#[derive(Debug, Clone)]
pub struct ExportedRedemption {
    /// The redemption.
    pub redemption: Redemption,
    /// Keyed hash of the customer identity, if the order named one.
    pub customer_key: Option<String>,
    /// The campaign it was made under.
    pub campaign_id: Option<i64>,
    /// When it was reserved, if it began as a reservation.
    pub reserved_at: Option<DateTime<Utc>>,
}

/// A counter that does not equal its rows.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct CounterMismatch {
    /// `coupon`, `code` or `campaign`.
    #[diesel(sql_type = Text)]
    pub entity: String,
    /// Row id of the coupon or code.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// `redemption_count`, `reserved_count`, `used_count` or `discount_used_minor`.
    #[diesel(sql_type = Text)]
    pub counter: String,
    /// The stored value.
    #[diesel(sql_type = BigInt)]
    pub stored: i64,
    /// The value computed from the rows.
    #[diesel(sql_type = BigInt)]
    pub actual: i64,
}

/// A sum of discount in one currency.
#[derive(QueryableByName)]
pub(super) struct CurrencyTotal {
    #[diesel(sql_type = Text)]
    pub(super) currency: String,
    #[diesel(sql_type = BigInt)]
    pub(super) total: i64,
}

/// A redemption by id.
pub async fn redemption(c: &mut Conn<'_>, id: i64) -> Result<Option<Redemption>, StorageError> {
    let row: Option<StoredRedemption> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        r::redemptions.find(id).first(conn).await.optional()?
    });
    row.map(StoredRedemption::into_domain).transpose()
}

/// Redemptions matching `filter`, newest first, with ids below `before`.
pub async fn list_redemptions(
    c: &mut Conn<'_>,
    filter: &RedemptionFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Redemption>, StorageError> {
    let rows: Vec<StoredRedemption> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        let mut q = r::redemptions.into_boxed();
        if let Some(before) = before {
            q = q.filter(r::id.lt(before));
        }
        if let Some(id) = filter.coupon_id {
            q = q.filter(r::coupon_id.eq(id));
        }
        if let Some(key) = &filter.customer_key {
            q = q.filter(r::customer_key.eq(key));
        }
        if let Some(order) = &filter.order_id {
            q = q.filter(r::order_id.eq(order));
        }
        if let Some(status) = filter.status {
            q = q.filter(r::status.eq(status.as_str()));
        }
        if let Some(id) = filter.campaign_id {
            q = q.filter(r::campaign_id.eq(id));
        }
        if let Some(since) = filter.since {
            q = q.filter(r::created_at.ge(since));
        }
        if let Some(until) = filter.until {
            q = q.filter(r::created_at.lt(until));
        }
        q.order(r::id.desc()).limit(limit).load(conn).await?
    });
    rows.into_iter()
        .map(StoredRedemption::into_domain)
        .collect()
}

/// Redemptions matching `filter` in id order, after `after` when given: a page of an
/// export.
pub async fn export_redemptions(
    c: &mut Conn<'_>,
    filter: &RedemptionFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<ExportedRedemption>, StorageError> {
    let rows: Vec<StoredRedemption> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        let mut q = r::redemptions.into_boxed();
        if let Some(after) = after {
            q = q.filter(r::id.gt(after));
        }
        if let Some(id) = filter.coupon_id {
            q = q.filter(r::coupon_id.eq(id));
        }
        if let Some(id) = filter.campaign_id {
            q = q.filter(r::campaign_id.eq(id));
        }
        if let Some(since) = filter.since {
            q = q.filter(r::created_at.ge(since));
        }
        if let Some(until) = filter.until {
            q = q.filter(r::created_at.lt(until));
        }
        q.order(r::id.asc()).limit(limit).load(conn).await?
    });
    rows.into_iter()
        .map(|row| {
            let (customer_key, campaign_id, reserved_at) =
                (row.customer_key.clone(), row.campaign_id, row.reserved_at);
            Ok(ExportedRedemption {
                redemption: row.into_domain()?,
                customer_key,
                campaign_id,
                reserved_at,
            })
        })
        .collect()
}

/// Net discount granted by a coupon (less refunds), per currency.
pub async fn total_discounts(
    c: &mut Conn<'_>,
    coupon_id: i64,
) -> Result<Vec<(String, i64)>, StorageError> {
    let query = diesel::sql_query(
        "SELECT currency, CAST(SUM(discount_minor - refunded_minor) AS BIGINT) AS total \
         FROM redemptions WHERE coupon_id = $1 \
         AND status IN ('REDEEMED', 'PARTIALLY_REVERSED', 'REVERSED') \
         GROUP BY currency ORDER BY currency",
    )
    .bind::<BigInt, _>(coupon_id);
    let rows: Vec<CurrencyTotal> = match c {
        Conn::Postgres(conn) => query.load(&mut **conn).await?,
        Conn::Sqlite(conn) => query.load(&mut **conn).await?,
    };
    Ok(rows.into_iter().map(|r| (r.currency, r.total)).collect())
}

/// Every coupon, code and campaign counter that does not equal its redemption rows.
pub async fn counter_mismatches(c: &mut Conn<'_>) -> Result<Vec<CounterMismatch>, StorageError> {
    let sql = |entity: &str, table: &str, fk: &str| {
        format!(
            "SELECT '{entity}' AS entity, t.id AS id, x.counter AS counter, x.stored AS stored, x.actual AS actual FROM {table} t \
             CROSS JOIN (SELECT 1 AS k) one \
             JOIN (\
               SELECT t2.id AS id, 'redemption_count' AS counter, t2.redemption_count AS stored, \
                 CAST(COALESCE(SUM(CASE WHEN r.holds_use AND r.status <> 'RESERVED' THEN 1 ELSE 0 END), 0) AS BIGINT) AS actual \
               FROM {table} t2 LEFT JOIN redemptions r ON r.{fk} = t2.id GROUP BY t2.id, t2.redemption_count \
               UNION ALL \
               SELECT t3.id AS id, 'reserved_count' AS counter, t3.reserved_count AS stored, \
                 CAST(COALESCE(SUM(CASE WHEN r.status = 'RESERVED' THEN 1 ELSE 0 END), 0) AS BIGINT) AS actual \
               FROM {table} t3 LEFT JOIN redemptions r ON r.{fk} = t3.id GROUP BY t3.id, t3.reserved_count \
             ) x ON x.id = t.id \
             WHERE x.stored <> x.actual ORDER BY t.id, x.counter"
        )
    };
    let mut out = Vec::new();
    for (entity, table, fk) in [
        ("coupon", "coupons", "coupon_id"),
        ("code", "coupon_codes", "code_id"),
    ] {
        let query = diesel::sql_query(sql(entity, table, fk));
        let rows: Vec<CounterMismatch> = match c {
            Conn::Postgres(conn) => query.load(&mut **conn).await?,
            Conn::Sqlite(conn) => query.load(&mut **conn).await?,
        };
        out.extend(rows);
    }
    // A campaign counts the uses its redemptions hold and the discount they keep.
    let campaigns = diesel::sql_query(
        "SELECT 'campaign' AS entity, x.id AS id, x.counter AS counter, x.stored AS stored, x.actual AS actual FROM (\
           SELECT c.id AS id, 'used_count' AS counter, c.used_count AS stored, \
             CAST(COALESCE(SUM(CASE WHEN r.holds_use THEN 1 ELSE 0 END), 0) AS BIGINT) AS actual \
           FROM campaigns c LEFT JOIN redemptions r ON r.campaign_id = c.id GROUP BY c.id, c.used_count \
           UNION ALL \
           SELECT c.id AS id, 'discount_used_minor' AS counter, c.discount_used_minor AS stored, \
             CAST(COALESCE(SUM(CASE WHEN r.status IN ('RELEASED', 'EXPIRED') THEN 0 \
               ELSE r.discount_minor - r.refunded_minor END), 0) AS BIGINT) AS actual \
           FROM campaigns c LEFT JOIN redemptions r ON r.campaign_id = c.id GROUP BY c.id, c.discount_used_minor \
         ) x WHERE x.stored <> x.actual ORDER BY x.id, x.counter",
    );
    let rows: Vec<CounterMismatch> = match c {
        Conn::Postgres(conn) => campaigns.load(&mut **conn).await?,
        Conn::Sqlite(conn) => campaigns.load(&mut **conn).await?,
    };
    out.extend(rows);
    Ok(out)
}
