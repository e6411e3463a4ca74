//! Reports: what a coupon or a campaign did over a time range, aggregated by the
//! database. Each figure is one indexed query:
//! - redemptions (rows redeemed in the range) by `(coupon_id | campaign_id, redeemed_at)`;
//! - reservations (rows reserved in the range) by `(… , reserved_at)`;
//! - validation attempts from the hourly tally;
//! - codes from `coupon_codes` by coupon.
//!
//! A campaign's redemptions are those made under it; its codes and validation attempts
//! are those of the coupons in it now.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::{Conn, StorageError, on_backend};

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope {
    /// One coupon (row id).
    Coupon(i64),
    /// One campaign (row id).
    Campaign(i64),
}

impl ReportScope {
    fn id(self) -> i64 {
        match self {
            Self::Coupon(id) | Self::Campaign(id) => id,
        }
    }

    /// The condition on `redemptions` rows.
    fn redemptions(self) -> &'static str {
        match self {
            Self::Coupon(_) => "coupon_id = $1",
            Self::Campaign(_) => "campaign_id = $1",
        }
    }

    /// The condition on rows with a `coupon_id` (codes, validation attempts).
    fn coupons(self) -> &'static str {
        match self {
            Self::Coupon(_) => "coupon_id = $1",
            Self::Campaign(_) => "coupon_id IN (SELECT id FROM coupons WHERE campaign_id = $1)",
        }
    }
}

/// The width of a time-series bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Hours, UTC.
    Hour,
    /// Days, UTC.
    Day,
}

/// Redemptions of one time bucket, channel and currency in the range.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct RedemptionGroup {
    /// The bucket's start, `YYYY-MM-DDTHH:00:00Z`.
    #[diesel(sql_type = Text)]
    pub bucket: String,
    /// The sales channel; `""` for orders that named none.
    #[diesel(sql_type = Text)]
    pub channel: String,
    /// ISO 4217 currency of the amounts.
    #[diesel(sql_type = Text)]
    pub currency: String,
    /// Redemptions.
    #[diesel(sql_type = BigInt)]
    pub redemptions: i64,
    /// Of those, reversed in full or in part by now.
    #[diesel(sql_type = BigInt)]
    pub reversals: i64,
    /// Discount given, net of refunds, minor units.
    #[diesel(sql_type = BigInt)]
    pub discount_minor: i64,
    /// Order subtotals, minor units.
    #[diesel(sql_type = BigInt)]
    pub subtotal_minor: i64,
}

/// Abuse signals of one kind.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SignalCount {
    /// The kind's name (`LEAKED_CODE`, …).
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Signals raised.
    #[diesel(sql_type = BigInt)]
    pub signals: i64,
}

/// Attempts with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct OutcomeCount {
    /// `VALID` or the rejection's code.
    #[diesel(sql_type = Text)]
    pub outcome: String,
    /// Attempts.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    b: Option<i64>,
}

/// Everything a report reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportData {
    /// Codes created in the range.
    pub codes_issued: i64,
    /// Codes created before the range's end.
    pub codes_at_end: i64,
    /// Validation attempts by outcome, in the hours the range covers.
    pub attempts: Vec<OutcomeCount>,
    /// Reservations made in the range.
    pub reservations: i64,
    /// Redemptions in the range per bucket, channel and currency: the totals, the
    /// series and the channels are sums of these.
    pub groups: Vec<RedemptionGroup>,
    /// Distinct customers (keyed hashes) who redeemed in the range.
    pub unique_customers: i64,
    /// Distinct codes redeemed in the range.
    pub codes_redeemed: i64,
    /// Abuse signals raised in the range, by kind.
    pub abuse_signals: Vec<SignalCount>,
}

/// The aggregate columns of a redemption group.
const GROUP: &str = "currency, CAST(COUNT(*) AS BIGINT) AS redemptions, \
    CAST(SUM(CASE WHEN status IN ('REVERSED', 'PARTIALLY_REVERSED') THEN 1 ELSE 0 END) AS BIGINT) AS reversals, \
    CAST(COALESCE(SUM(discount_minor - refunded_minor), 0) AS BIGINT) AS discount_minor, \
    CAST(COALESCE(SUM(subtotal_minor), 0) AS BIGINT) AS subtotal_minor";

/// Reads what a report of `scope` over `[from, to)` shows.
pub async fn report(
    c: &mut Conn<'_>,
    scope: ReportScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
) -> Result<ReportData, StorageError> {
    let redeemed = format!(
        "FROM redemptions WHERE {} AND redeemed_at IS NOT NULL AND redeemed_at >= $2 AND redeemed_at < $3",
        scope.redemptions()
    );
    let bucket_sql = match (&*c, bucket) {
        (Conn::Postgres(_), Bucket::Hour) => {
            "to_char(date_trunc('hour', redeemed_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')"
        }
        (Conn::Postgres(_), Bucket::Day) => {
            "to_char(date_trunc('day', redeemed_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"00:00:00\"Z\"')"
        }
        (Conn::Sqlite(_), Bucket::Hour) => "strftime('%Y-%m-%dT%H:00:00Z', redeemed_at)",
        (Conn::Sqlite(_), Bucket::Day) => "strftime('%Y-%m-%dT00:00:00Z', redeemed_at)",
    };
    // One pass over the range's redemptions for every sum.
    let groups_sql = format!(
        "SELECT {bucket_sql} AS bucket, COALESCE(channel, '') AS channel, {GROUP} {redeemed} \
         GROUP BY {bucket_sql}, channel, currency"
    );
    let distinct_sql = format!(
        "SELECT CAST(COUNT(DISTINCT customer_key) AS BIGINT) AS a, CAST(COUNT(DISTINCT code_id) AS BIGINT) AS b {redeemed}"
    );
    let reservations_sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS a, CAST(NULL AS BIGINT) AS b FROM redemptions \
         WHERE {} AND reserved_at IS NOT NULL AND reserved_at >= $2 AND reserved_at < $3",
        scope.redemptions()
    );
    let issued_sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS a, CAST(NULL AS BIGINT) AS b FROM coupon_codes \
         WHERE {} AND created_at >= $2 AND created_at < $3",
        scope.coupons()
    );
    // `$2 IS NOT NULL` only keeps the parameters in order (see `load`).
    let at_end_sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS a, CAST(NULL AS BIGINT) AS b FROM coupon_codes \
         WHERE {} AND $2 IS NOT NULL AND created_at < $3",
        scope.coupons()
    );
    let attempts_sql = format!(
        "SELECT outcome, CAST(SUM(attempts) AS BIGINT) AS attempts FROM validation_attempts \
         WHERE {} AND hour >= $2 AND hour < $3 GROUP BY outcome ORDER BY outcome",
        scope.coupons()
    );
    let signals_sql = format!(
        "SELECT kind, CAST(COUNT(*) AS BIGINT) AS signals FROM abuse_signals \
         WHERE {} AND raised_at >= $2 AND raised_at < $3 GROUP BY kind ORDER BY kind",
        scope.coupons()
    );
    let range = (scope.id(), from, to);
    let groups: Vec<RedemptionGroup> = load(c, &groups_sql, range).await?;
    let distinct: Vec<Counts> = load(c, &distinct_sql, range).await?;
    let reservations: Vec<Counts> = load(c, &reservations_sql, range).await?;
    let issued: Vec<Counts> = load(c, &issued_sql, range).await?;
    let at_end: Vec<Counts> = load(c, &at_end_sql, range).await?;
    let attempts: Vec<OutcomeCount> = load(c, &attempts_sql, range).await?;
    let abuse_signals: Vec<SignalCount> = load(c, &signals_sql, range).await?;
    let first = |rows: &[Counts]| rows.first().map_or((0, 0), |c| (c.a, c.b.unwrap_or(0)));
    let (unique_customers, codes_redeemed) = first(&distinct);
    let (codes_issued, codes_at_end) = (first(&issued).0, first(&at_end).0);
    Ok(ReportData {
        codes_issued,
        codes_at_end,
        attempts,
        reservations: first(&reservations).0,
        groups,
        unique_customers,
        codes_redeemed,
        abuse_signals,
    })
}

/// Runs one report query with its parameters: `$1` the id, `$2` and `$3` the range.
/// Every query names them first in that order: SQLite numbers `$N` parameters by their
/// first appearance.
async fn load<R>(
    c: &mut Conn<'_>,
    sql: &str,
    (id, from, to): (i64, DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<R>, StorageError>
where
    R: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + Send + 'static,
{
    on_backend!(c, |conn| {
        Ok(diesel::sql_query(sql)
            .bind::<BigInt, _>(id)
            .bind::<schema::Instant, _>(from)
            .bind::<schema::Instant, _>(to)
            .load::<R>(conn)
            .await?)
    })
}
