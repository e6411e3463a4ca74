//! Abuse detection's storage: the failed checks of outside callers, the counts each
//! signal is decided on, the signals raised and the action set per coupon or campaign.
//! The definitions and thresholds are in `coupons_domain::abuse`; the detector that
//! puts them together is `service::abuse`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::{Conn, StorageError, on_backend};

/// Adds failed checks (address key, network key, when).
pub async fn record_failed_checks(
    c: &mut Conn<'_>,
    rows: &[(String, String, DateTime<Utc>)],
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::failed_checks::dsl as f;
        for (address, network, at) in rows {
            diesel::insert_into(f::failed_checks)
                .values((
                    f::address_key.eq(address),
                    f::network_key.eq(network),
                    f::created_at.eq(at),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    })
}

/// Forgets failed checks from before `before`; how many.
pub async fn forget_failed_checks(
    c: &mut Conn<'_>,
    before: DateTime<Utc>,
) -> Result<usize, StorageError> {
    on_backend!(c, |conn| {
        use schema::failed_checks::dsl as f;
        Ok(
            diesel::delete(f::failed_checks.filter(f::created_at.lt(before)))
                .execute(conn)
                .await?,
        )
    })
}

/// A count per something, from the aggregates below.
#[derive(Debug, Clone, QueryableByName)]
pub struct Tally {
    /// The coupon, where the count is per coupon or code.
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub coupon_id: Option<i64>,
    /// What is counted for: a code, a keyed hash, …
    #[diesel(sql_type = Text)]
    pub subject: String,
    /// The count.
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Codes used (reserved or redeemed, whatever became of it) by at least `floor`
/// distinct customers since `since`, with that number.
pub async fn busy_codes(
    c: &mut Conn<'_>,
    since: DateTime<Utc>,
    floor: i64,
) -> Result<Vec<Tally>, StorageError> {
    tallies(
        c,
        "SELECT coupon_id, code AS subject, CAST(COUNT(DISTINCT customer_key) AS BIGINT) AS n \
         FROM redemptions WHERE created_at > $1 AND customer_key IS NOT NULL \
         GROUP BY coupon_id, code HAVING COUNT(DISTINCT customer_key) >= $2",
        since,
        floor,
    )
    .await
}

/// Runs an aggregate whose parameters are `$1` the start of the period and `$2` the
/// least count kept.
async fn tallies(
    c: &mut Conn<'_>,
    sql: &str,
    since: DateTime<Utc>,
    floor: i64,
) -> Result<Vec<Tally>, StorageError> {
    on_backend!(c, |conn| {
        Ok(diesel::sql_query(sql)
            .bind::<schema::Instant, _>(since)
            .bind::<BigInt, _>(floor)
            .load(conn)
            .await?)
    })
}

/// Distinct customers who used `code` in (`from`, `to`].
pub async fn code_customers(
    c: &mut Conn<'_>,
    code: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(r::redemptions
            .filter(r::code.eq(code))
            .filter(r::created_at.gt(from))
            .filter(r::created_at.le(to))
            .select(diesel::dsl::count(r::customer_key).aggregate_distinct())
            .first(conn)
            .await?)
    })
}

/// Coupons used (reserved or redeemed) at least `floor` times since `since`.
pub async fn busy_coupons(
    c: &mut Conn<'_>,
    since: DateTime<Utc>,
    floor: i64,
) -> Result<Vec<Tally>, StorageError> {
    tallies(
        c,
        "SELECT coupon_id, CAST(coupon_id AS TEXT) AS subject, CAST(COUNT(*) AS BIGINT) AS n \
         FROM redemptions WHERE created_at > $1 \
         GROUP BY coupon_id HAVING COUNT(*) >= $2",
        since,
        floor,
    )
    .await
}

/// Uses of a coupon in (`from`, `to`].
pub async fn coupon_uses(
    c: &mut Conn<'_>,
    coupon_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(r::redemptions
            .filter(r::coupon_id.eq(coupon_id))
            .filter(r::created_at.gt(from))
            .filter(r::created_at.le(to))
            .count()
            .get_result(conn)
            .await?)
    })
}

/// A customer trait stored with each use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trait {
    /// The device.
    Device,
    /// The payment instrument.
    Payment,
    /// The shipping address.
    Address,
    /// The mailbox the e-mail address reaches.
    Mailbox,
}

impl Trait {
    /// Every trait.
    pub const ALL: [Self; 4] = [Self::Device, Self::Payment, Self::Address, Self::Mailbox];

    /// Its column in `redemptions`.
    fn column(self) -> &'static str {
        match self {
            Self::Device => "device_key",
            Self::Payment => "payment_key",
            Self::Address => "address_key",
            Self::Mailbox => "mailbox_key",
        }
    }

    /// How evidence names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Payment => "payment",
            Self::Address => "shipping_address",
            Self::Mailbox => "mailbox",
        }
    }
}

/// Values of `which` shared by at least `floor` distinct customers using one coupon
/// since `since`: (coupon, the trait's keyed hash, customers).
pub async fn shared_traits(
    c: &mut Conn<'_>,
    which: Trait,
    since: DateTime<Utc>,
    floor: i64,
) -> Result<Vec<Tally>, StorageError> {
    let column = which.column();
    let sql = format!(
        "SELECT coupon_id, {column} AS subject, CAST(COUNT(DISTINCT customer_key) AS BIGINT) AS n \
         FROM redemptions WHERE created_at > $1 AND {column} IS NOT NULL AND customer_key IS NOT NULL \
         GROUP BY coupon_id, {column} HAVING COUNT(DISTINCT customer_key) >= $2"
    );
    tallies(c, &sql, since, floor).await
}

/// The customers (keyed hashes) who used `coupon_id` since `since` with `which` equal
/// to `key`.
pub async fn customers_sharing(
    c: &mut Conn<'_>,
    which: Trait,
    coupon_id: i64,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Vec<String>, StorageError> {
    let column = which.column();
    let sql = format!(
        "SELECT DISTINCT NULL AS coupon_id, customer_key AS subject, CAST(0 AS BIGINT) AS n \
         FROM redemptions WHERE coupon_id = $1 AND {column} = $2 AND created_at > $3 \
         AND customer_key IS NOT NULL ORDER BY customer_key"
    );
    let rows: Vec<Tally> = on_backend!(c, |conn| {
        diesel::sql_query(&sql)
            .bind::<BigInt, _>(coupon_id)
            .bind::<Text, _>(key)
            .bind::<schema::Instant, _>(since)
            .load(conn)
            .await?
    });
    Ok(rows.into_iter().map(|t| t.subject).collect())
}

/// Addresses (keyed hashes) with at least `floor` failed checks since `since`: (address,
/// network, failures).
pub async fn guessing_addresses(
    c: &mut Conn<'_>,
    since: DateTime<Utc>,
    floor: i64,
) -> Result<Vec<(String, String, i64)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::failed_checks::dsl as f;
        let n = diesel::dsl::count_star();
        Ok(f::failed_checks
            .filter(f::created_at.gt(since))
            .group_by((f::address_key, f::network_key))
            .select((f::address_key, f::network_key, n))
            .having(n.ge(floor))
            .order(f::address_key)
            .load(conn)
            .await?)
    })
}

/// A signal row.
#[derive(Debug, Clone, Queryable)]
pub struct StoredSignal {
    /// Row id.
    pub id: i64,
    /// `coupons_domain::abuse::SignalKind` name.
    pub kind: String,
    /// What it is about, for one open signal per kind and scope (`code:…`,
    /// `coupon:…`, `trait:…`, `addresses`).
    pub scope: String,
    /// The coupon, when it is about one.
    pub coupon_id: Option<i64>,
    /// The counts it was raised on, and the thresholds.
    pub evidence: Value,
    /// Keyed hashes of the customers or addresses it names.
    pub flagged: Value,
    /// The action taken (`coupons_domain::abuse::AbuseAction` name).
    pub action: String,
    /// What the action changed, to put back (`null`: nothing changed).
    pub undo: Option<Value>,
    /// `OPEN` or `RESOLVED`.
    pub status: String,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// When an admin resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A signal to raise.
#[derive(Debug, Clone)]
pub struct NewSignal {
    /// Kind name.
    pub kind: &'static str,
    /// Scope (see [`StoredSignal::scope`]).
    pub scope: String,
    /// The coupon, when it is about one.
    pub coupon_id: Option<i64>,
    /// Evidence.
    pub evidence: Value,
    /// Keyed hashes it names.
    pub flagged: Value,
    /// The action to take.
    pub action: &'static str,
}

/// Raises a signal unless one of its kind and scope is open already, or was resolved
/// after `quiet_since` (an admin looked at it: the same counts do not raise it again);
/// the row when it was raised now.
pub async fn raise(
    c: &mut Conn<'_>,
    signal: &NewSignal,
    quiet_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<StoredSignal>, StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        let resolved: i64 = s::abuse_signals
            .filter(s::kind.eq(signal.kind))
            .filter(s::scope.eq(&signal.scope))
            .filter(s::resolved_at.gt(quiet_since))
            .count()
            .get_result(conn)
            .await?;
        if resolved > 0 {
            return Ok(None);
        }
        Ok(diesel::insert_into(s::abuse_signals)
            .values((
                s::kind.eq(signal.kind),
                s::scope.eq(&signal.scope),
                s::coupon_id.eq(signal.coupon_id),
                s::evidence.eq(&signal.evidence),
                s::flagged.eq(&signal.flagged),
                s::action.eq(signal.action),
                s::status.eq("OPEN"),
                s::raised_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .get_result(conn)
            .await
            .optional()?)
    })
}

/// Brings an open signal's evidence and what it names up to date.
pub async fn refresh(c: &mut Conn<'_>, signal: &NewSignal) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        diesel::update(
            s::abuse_signals
                .filter(s::kind.eq(signal.kind))
                .filter(s::scope.eq(&signal.scope))
                .filter(s::status.eq("OPEN")),
        )
        .set((
            s::evidence.eq(&signal.evidence),
            s::flagged.eq(&signal.flagged),
        ))
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Records what an action changed on a signal, to put back.
pub async fn set_undo(c: &mut Conn<'_>, id: i64, undo: &Value) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        diesel::update(s::abuse_signals.find(id))
            .set(s::undo.eq(Some(undo)))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Which signals to list.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    /// Of this kind.
    pub kind: Option<String>,
    /// About this coupon.
    pub coupon_id: Option<i64>,
    /// `OPEN` or `RESOLVED`.
    pub status: Option<String>,
    /// Raised at or after.
    pub since: Option<DateTime<Utc>>,
}

/// Signals, newest first: at most `limit`, older than the signal `before` when given.
pub async fn signals(
    c: &mut Conn<'_>,
    filter: &SignalFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredSignal>, StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        let mut q = s::abuse_signals.into_boxed();
        if let Some(kind) = &filter.kind {
            q = q.filter(s::kind.eq(kind));
        }
        if let Some(id) = filter.coupon_id {
            q = q.filter(s::coupon_id.eq(id));
        }
        if let Some(status) = &filter.status {
            q = q.filter(s::status.eq(status));
        }
        if let Some(since) = filter.since {
            q = q.filter(s::raised_at.ge(since));
        }
        if let Some(before) = before {
            q = q.filter(s::id.lt(before));
        }
        Ok(q.order(s::id.desc()).limit(limit).load(conn).await?)
    })
}

/// One signal, locked for a change (PostgreSQL).
pub async fn signal(c: &mut Conn<'_>, id: i64) -> Result<Option<StoredSignal>, StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        Ok(diesel::update(s::abuse_signals.find(id))
            .set(s::status.eq(s::status))
            .get_result(conn)
            .await
            .optional()?)
    })
}

/// Marks a signal resolved.
pub async fn resolve(
    c: &mut Conn<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<StoredSignal, StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_signals::dsl as s;
        Ok(diesel::update(s::abuse_signals.find(id))
            .set((s::status.eq("RESOLVED"), s::resolved_at.eq(Some(now))))
            .get_result(conn)
            .await?)
    })
}

/// The action set for a coupon, else for its campaign.
pub async fn action_for(
    c: &mut Conn<'_>,
    coupon_id: i64,
    campaign_id: Option<i64>,
) -> Result<Option<String>, StorageError> {
    let set: Vec<(Option<i64>, String)> = on_backend!(c, |conn| {
        use schema::abuse_actions::dsl as a;
        a::abuse_actions
            .filter(
                a::coupon_id
                    .eq(coupon_id)
                    .or(a::campaign_id.eq(campaign_id.unwrap_or(-1))),
            )
            .select((a::coupon_id, a::action))
            .load(conn)
            .await?
    });
    // The coupon's own action wins over its campaign's.
    let own = set.iter().find(|(coupon, _)| coupon.is_some());
    Ok(own
        .or_else(|| <[_]>::first(&set))
        .map(|(_, action)| action.clone()))
}

/// What an action is set on.
#[derive(Debug, Clone, Copy)]
pub enum ActionTarget {
    /// A coupon.
    Coupon(i64),
    /// A campaign (its coupons without one of their own).
    Campaign(i64),
}

/// Sets (or with `None`, clears) the action of a coupon or campaign; `false` when there
/// is no such coupon or campaign.
pub async fn set_action(
    c: &mut Conn<'_>,
    target: ActionTarget,
    action: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StorageError> {
    on_backend!(c, |conn| {
        use schema::abuse_actions::dsl as a;
        use schema::campaigns::dsl as ca;
        use schema::coupons::dsl as cp;
        let exists: i64 = match target {
            ActionTarget::Coupon(id) => cp::coupons.find(id).count().get_result(conn).await?,
            ActionTarget::Campaign(id) => ca::campaigns.find(id).count().get_result(conn).await?,
        };
        if exists == 0 {
            return Ok(false);
        }
        match target {
            ActionTarget::Coupon(id) => {
                diesel::delete(a::abuse_actions.filter(a::coupon_id.eq(id)))
                    .execute(conn)
                    .await?;
            }
            ActionTarget::Campaign(id) => {
                diesel::delete(a::abuse_actions.filter(a::campaign_id.eq(id)))
                    .execute(conn)
                    .await?;
            }
        }
        if let Some(action) = action {
            let (coupon, campaign) = match target {
                ActionTarget::Coupon(id) => (Some(id), None),
                ActionTarget::Campaign(id) => (None, Some(id)),
            };
            diesel::insert_into(a::abuse_actions)
                .values((
                    a::coupon_id.eq(coupon),
                    a::campaign_id.eq(campaign),
                    a::action.eq(action),
                    a::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
        }
        Ok(true)
    })
}
