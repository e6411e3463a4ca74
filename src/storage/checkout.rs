//! Checkout transactions: reserve, redeem, release, reverse, validate; reservation
//! expiry; idempotency records; counters and their reconciliation.
//!
//! Every call that changes usage is ONE transaction that:
//! 1. claims the idempotency key (a concurrent duplicate waits on the key's unique index,
//!    then replays the stored response instead of executing);
//! 2. locks the coupon row with its first write (PostgreSQL; SQLite holds the write lock
//!    from `BEGIN IMMEDIATE`), so all usage decisions for one coupon are serialised;
//! 3. expires the coupon's reservations whose deadline has passed, giving their
//!    capacity back;
//! 4. counts usage (coupon, code, customer) and lets the pure domain decide;
//! 5. writes the redemption and the counters, and stores the response for the key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coupons_domain::decision::rule_facts;
use coupons_domain::{
    CampaignUsage, CheckoutOutcome, CodeTerms, Coupon, CouponCode, Currency, Found, History, Money,
    Order, Redemption, RedemptionStatus, Refund, Rejection, RuleFacts, Snapshot, Usage, UsageMark,
    decide_terms,
};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::Value;

use super::audit::{Actor, AuditAction, EntityType, snapshot, write_audit};
use super::campaigns::StoredCampaign;
use super::coupons::StoredCode;
use super::events::{EventType, write_event};
use super::models::{StoredCoupon, StoredRedemption};
use super::{Conn, Db, StorageError, on_backend, with_conn, with_tx};

/// An idempotency key, scoped to a caller and an operation.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    /// Operation and caller, e.g. `redeem:key:42`.
    pub scope: &'a str,
    /// The caller's key.
    pub key: &'a str,
    /// Hash of the canonical request; the same key with another hash is refused.
    pub request_hash: &'a str,
    /// Until when the record is kept.
    pub expires_at: DateTime<Utc>,
}

/// The result of an idempotent call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent<T> {
    /// Executed now.
    Fresh(T),
    /// An earlier response to the same key and request.
    Replayed(T),
    /// The key was used before for a different request.
    KeyReused,
}

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

/// What deciding on a code read, without writing.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The coupon the code points at.
    pub coupon: Coupon,
    /// The built-in decision (before rules): the discount, or why not.
    pub decided: Result<Money, Vec<Rejection>>,
    /// What the coupon's rules see, when loaded.
    pub facts: Option<RuleFacts>,
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

#[derive(QueryableByName)]
struct CurrencyTotal {
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

fn corrupt_response(e: &serde_json::Error) -> StorageError {
    StorageError::Corrupt {
        table: "idempotency_keys",
        id: 0,
        reason: e.to_string(),
    }
}

/// Claims an idempotency key inside the current transaction: `Some(early answer)` when
/// the key was used already (a replay, or a key reused for another request), `None` to
/// go on. A concurrent duplicate waits on the key's unique index.
pub async fn claim_key(
    c: &mut Conn<'_>,
    claim: Option<IdempotencyClaim<'_>>,
    now: DateTime<Utc>,
) -> Result<Option<Idempotent<CheckoutOutcome>>, StorageError> {
    let Some(claim) = claim else {
        return Ok(None);
    };
    on_backend!(c, |conn| {
        use schema::idempotency_keys::dsl as ik;
        let inserted = diesel::insert_into(ik::idempotency_keys)
            .values((
                ik::scope.eq(claim.scope),
                ik::key.eq(claim.key),
                ik::request_hash.eq(claim.request_hash),
                ik::response.eq(Value::Null),
                ik::created_at.eq(now),
                ik::expires_at.eq(claim.expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(None);
        }
        let (hash, response, expires_at): (String, Value, DateTime<Utc>) = ik::idempotency_keys
            .find((claim.scope, claim.key))
            .select((ik::request_hash, ik::response, ik::expires_at))
            .first(conn)
            .await?;
        if expires_at <= now {
            // Past retention: the key starts afresh.
            diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
                .set((
                    ik::request_hash.eq(claim.request_hash),
                    ik::response.eq(Value::Null),
                    ik::created_at.eq(now),
                    ik::expires_at.eq(claim.expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(None)
        } else if hash != claim.request_hash {
            Ok(Some(Idempotent::KeyReused))
        } else {
            let outcome: CheckoutOutcome =
                serde_json::from_value(response).map_err(|e| corrupt_response(&e))?;
            Ok(Some(Idempotent::Replayed(outcome)))
        }
    })
}

/// Stores the response for a claimed key.
pub async fn remember(
    c: &mut Conn<'_>,
    claim: Option<IdempotencyClaim<'_>>,
    outcome: &CheckoutOutcome,
) -> Result<(), StorageError> {
    let Some(claim) = claim else {
        return Ok(());
    };
    let response = serde_json::to_value(outcome).map_err(|e| corrupt_response(&e))?;
    on_backend!(c, |conn| {
        use schema::idempotency_keys::dsl as ik;
        diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
            .set(ik::response.eq(response))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// The coupon a code points at, read without a lock.
async fn code_owner(c: &mut Conn<'_>, code: &CouponCode) -> Result<Option<i64>, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        Ok(cc::coupon_codes
            .filter(cc::code.eq(code.as_str()))
            .select(cc::coupon_id)
            .first(conn)
            .await
            .optional()?)
    })
}

/// A code's row. Read it under its coupon's lock: a read before it could see counters
/// that a transaction committing meanwhile has changed.
async fn code_row(c: &mut Conn<'_>, code: &CouponCode) -> Result<StoredCode, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        Ok(cc::coupon_codes
            .filter(cc::code.eq(code.as_str()))
            .first(conn)
            .await?)
    })
}

/// Locks a coupon row for the rest of the transaction (with a no-op write) and reads it.
async fn lock_coupon(c: &mut Conn<'_>, coupon_id: i64) -> Result<StoredCoupon, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupons::dsl as lc;
        Ok(diesel::update(lc::coupons.find(coupon_id))
            .set(lc::updated_at.eq(lc::updated_at))
            .get_result(conn)
            .await?)
    })
}

/// Locks a campaign row for the rest of the transaction and reads it. Always taken
/// after the coupon's lock.
async fn lock_campaign(c: &mut Conn<'_>, campaign_id: i64) -> Result<StoredCampaign, StorageError> {
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as lca;
        Ok(diesel::update(lca::campaigns.find(campaign_id))
            .set(lca::updated_at.eq(lca::updated_at))
            .get_result(conn)
            .await?)
    })
}

/// Adds `uses` and `discount` (minor units) to a campaign's counters, if there is one.
async fn bump_campaign(
    c: &mut Conn<'_>,
    campaign_id: Option<i64>,
    uses: i64,
    discount: i64,
) -> Result<(), StorageError> {
    let Some(campaign_id) = campaign_id else {
        return Ok(());
    };
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as bca;
        diesel::update(bca::campaigns.find(campaign_id))
            .set((
                bca::used_count.eq(bca::used_count + uses),
                bca::discount_used_minor.eq(bca::discount_used_minor + discount),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// What a campaign's caps have taken at `now`: its counters, less its reservations past
/// their deadline that no transaction has expired yet.
async fn campaign_usage(
    c: &mut Conn<'_>,
    campaign: &StoredCampaign,
    now: DateTime<Utc>,
) -> Result<CampaignUsage, StorageError> {
    let overdue: Vec<i64> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as cu;
        cu::redemptions
            .filter(cu::campaign_id.eq(campaign.id))
            .filter(cu::status.eq(RedemptionStatus::Reserved.as_str()))
            .filter(cu::reserved_until.le(now))
            .select(cu::discount_minor)
            .load(conn)
            .await?
    });
    Ok(CampaignUsage {
        uses: campaign.used_count - overdue.len() as i64,
        discount_minor: campaign.discount_used_minor - overdue.iter().sum::<i64>(),
    })
}

/// Expires the coupon's reservations whose deadline has passed and gives their uses
/// back; returns the code ids of the expired reservations.
async fn expire_due(
    c: &mut Conn<'_>,
    coupon_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StorageError> {
    let rows: Vec<(i64, i64, Option<i64>, i64)> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as er;
        diesel::update(
            er::redemptions
                .filter(er::coupon_id.eq(coupon_id))
                .filter(er::status.eq(RedemptionStatus::Reserved.as_str()))
                .filter(er::reserved_until.le(now)),
        )
        .set((
            er::status.eq(RedemptionStatus::Expired.as_str()),
            er::holds_use.eq(false),
            er::closed_at.eq(now),
            er::updated_at.eq(now),
        ))
        .returning((er::id, er::code_id, er::campaign_id, er::discount_minor))
        .get_results(conn)
        .await?
    });
    let mut per_campaign = BTreeMap::<i64, (i64, i64)>::new();
    for (id, _, campaign_id, discount) in &rows {
        let payload = serde_json::json!({ "id": id, "status": "EXPIRED" });
        write_event(
            c,
            EventType::ReservationExpired,
            Some(coupon_id),
            id,
            payload,
            now,
        )
        .await?;
        if let Some(campaign_id) = campaign_id {
            let entry = per_campaign.entry(*campaign_id).or_default();
            entry.0 -= 1;
            entry.1 -= discount;
        }
    }
    // In id order, so that transactions locking several campaigns cannot deadlock.
    for (campaign_id, (uses, discount)) in per_campaign {
        bump_campaign(c, Some(campaign_id), uses, discount).await?;
    }
    let expired: Vec<i64> = rows.into_iter().map(|(_, code_id, _, _)| code_id).collect();
    if !expired.is_empty() {
        let mut per_code = BTreeMap::<i64, i64>::new();
        for code_id in &expired {
            *per_code.entry(*code_id).or_default() += 1;
        }
        let total = expired.len() as i64;
        on_backend!(c, |conn| {
            use schema::coupon_codes::dsl as ec;
            use schema::coupons::dsl as eco;
            diesel::update(eco::coupons.find(coupon_id))
                .set(eco::reserved_count.eq(eco::reserved_count - total))
                .execute(conn)
                .await?;
            for (code_id, n) in per_code {
                diesel::update(ec::coupon_codes.find(code_id))
                    .set(ec::reserved_count.eq(ec::reserved_count - n))
                    .execute(conn)
                    .await?;
            }
        });
    }
    Ok(expired)
}

/// A redemption's row.
async fn redemption_row(c: &mut Conn<'_>, id: i64) -> Result<StoredRedemption, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as lr;
        Ok(lr::redemptions.find(id).first(conn).await?)
    })
}

/// Finds a redemption, locks its coupon, expires the coupon's overdue reservations, and
/// reads the redemption again under the lock. `None` when there is no such redemption.
async fn lock_redemption(
    c: &mut Conn<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<(StoredCoupon, StoredRedemption)>, StorageError> {
    let found: Option<i64> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as lr;
        lr::redemptions
            .find(id)
            .select(lr::coupon_id)
            .first(conn)
            .await
            .optional()?
    });
    let Some(coupon_id) = found else {
        return Ok(None);
    };
    let coupon = lock_coupon(c, coupon_id).await?;
    expire_due(c, coupon_id, now).await?;
    let current = redemption_row(c, id).await?;
    Ok(Some((coupon, current)))
}

/// A customer's uses of a coupon that hold a use, reservations past their deadline
/// left out (the next write to the coupon expires them).
async fn customer_uses(
    c: &mut Conn<'_>,
    coupon_id: i64,
    customer_key: &str,
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(r::redemptions
            .filter(r::coupon_id.eq(coupon_id))
            .filter(r::customer_key.eq(customer_key))
            .filter(r::holds_use.eq(true))
            .filter(
                r::status
                    .ne(RedemptionStatus::Reserved.as_str())
                    .or(r::reserved_until.gt(now)),
            )
            .count()
            .get_result::<i64>(conn)
            .await?)
    })
}

/// What a coupon's rules read beyond the order and the usage: this customer's use times
/// (reservations past their deadline left out) and the discount the coupon has granted
/// in the order's currency, less refunds.
async fn history(
    c: &mut Conn<'_>,
    coupon_id: i64,
    order: &Order,
    customer_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<History, StorageError> {
    let (times, totals): (Vec<DateTime<Utc>>, Vec<CurrencyTotal>) = on_backend!(c, |conn| {
        use schema::redemptions::dsl as fr;
        let times = match customer_key {
            Some(key) => {
                fr::redemptions
                    .filter(fr::coupon_id.eq(coupon_id))
                    .filter(fr::customer_key.eq(key))
                    .filter(fr::holds_use.eq(true))
                    .filter(
                        fr::status
                            .ne(RedemptionStatus::Reserved.as_str())
                            .or(fr::reserved_until.gt(now)),
                    )
                    .order(fr::id.desc())
                    .limit(1000)
                    .select(fr::created_at)
                    .load(conn)
                    .await?
            }
            None => Vec::new(),
        };
        let totals = diesel::sql_query(
            "SELECT currency, CAST(SUM(discount_minor - refunded_minor) AS BIGINT) AS total \
             FROM redemptions WHERE coupon_id = $1 AND currency = $2 \
             AND status IN ('REDEEMED', 'PARTIALLY_REVERSED', 'REVERSED') GROUP BY currency",
        )
        .bind::<BigInt, _>(coupon_id)
        .bind::<Text, _>(order.currency.code())
        .load(conn)
        .await?;
        (times, totals)
    });
    Ok(History {
        customer_use_times: times.iter().map(DateTime::timestamp).collect(),
        discount_total: totals.iter().map(|t| t.total).next().unwrap_or(0),
    })
}

/// Records a change of a reservation or redemption from `current` to `row`: its audit
/// entry and its event, inside the caller's transaction.
async fn record_change(
    c: &mut Conn<'_>,
    actor: &Actor,
    (action, happened): (AuditAction, EventType),
    current: Option<&StoredRedemption>,
    row: &StoredRedemption,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let (before, after) = (current.and_then(snapshot), snapshot(row));
    let entity = EntityType::Redemption;
    write_audit(c, actor, action, entity, row.id, before, after.clone(), now).await?;
    let payload = after.unwrap_or_default();
    write_event(c, happened, Some(row.coupon_id), row.id, payload, now).await
}

/// Adds `redeemed` and `reserved` to the counters of a coupon and one of its codes.
async fn bump_counters(
    c: &mut Conn<'_>,
    coupon_id: i64,
    code_id: i64,
    redeemed: i64,
    reserved: i64,
) -> Result<(), StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as bc;
        use schema::coupons::dsl as bco;
        diesel::update(bco::coupons.find(coupon_id))
            .set((
                bco::redemption_count.eq(bco::redemption_count + redeemed),
                bco::reserved_count.eq(bco::reserved_count + reserved),
            ))
            .execute(conn)
            .await?;
        diesel::update(bc::coupon_codes.find(code_id))
            .set((
                bc::redemption_count.eq(bc::redemption_count + redeemed),
                bc::reserved_count.eq(bc::reserved_count + reserved),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Writes a new reservation (with `hold_until`) or redemption of `code` for an order.
async fn insert_redemption(
    c: &mut Conn<'_>,
    code: &StoredCode,
    campaign_id: Option<i64>,
    req: NewUse<'_>,
    discount: Money,
    now: DateTime<Utc>,
) -> Result<StoredRedemption, StorageError> {
    let status = if req.hold_until.is_some() {
        RedemptionStatus::Reserved
    } else {
        RedemptionStatus::Redeemed
    };
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(diesel::insert_into(r::redemptions)
            .values((
                (
                    r::coupon_id.eq(code.coupon_id),
                    r::code_id.eq(code.id),
                    r::code.eq(&code.code),
                    r::status.eq(status.as_str()),
                    r::holds_use.eq(true),
                    r::customer_key.eq(req.customer_key),
                    r::email_domain.eq(req.order.customer.email_domain()),
                    r::order_id.eq(&req.order.id),
                    r::channel.eq(req.order.channel.as_deref()),
                    r::currency.eq(req.order.currency.code()),
                ),
                (
                    r::subtotal_minor.eq(req.order.subtotal.minor),
                    r::discount_minor.eq(discount.minor),
                    r::refunded_minor.eq(0_i64),
                    r::reserved_until.eq(req.hold_until),
                    r::created_at.eq(now),
                    r::redeemed_at.eq(req.hold_until.is_none().then_some(now)),
                    r::updated_at.eq(now),
                    r::campaign_id.eq(campaign_id),
                    r::reserved_at.eq(req.hold_until.map(|_| now)),
                ),
            ))
            .get_result(conn)
            .await?)
    })
}

/// How a reservation or redemption row changes.
enum RowChange {
    /// A reservation becomes a redemption.
    Redeem,
    /// A reservation gives its use back.
    Release,
    /// A refund: the total refunded so far, whether that is all of the discount, and
    /// whether the row still holds its use.
    Refund {
        refunded: i64,
        full: bool,
        holds_use: bool,
    },
}

/// Applies a change to a redemption row and returns the row as it is now.
async fn change_redemption(
    c: &mut Conn<'_>,
    id: i64,
    change: RowChange,
    now: DateTime<Utc>,
) -> Result<StoredRedemption, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        let target = r::redemptions.find(id);
        Ok(match change {
            RowChange::Redeem => {
                diesel::update(target)
                    .set((
                        r::status.eq(RedemptionStatus::Redeemed.as_str()),
                        r::redeemed_at.eq(now),
                        r::reserved_until.eq(None::<DateTime<Utc>>),
                        r::updated_at.eq(now),
                    ))
                    .get_result(conn)
                    .await?
            }
            RowChange::Release => {
                diesel::update(target)
                    .set((
                        r::status.eq(RedemptionStatus::Released.as_str()),
                        r::holds_use.eq(false),
                        r::closed_at.eq(now),
                        r::updated_at.eq(now),
                    ))
                    .get_result(conn)
                    .await?
            }
            RowChange::Refund {
                refunded,
                full,
                holds_use,
            } => {
                let status = if full {
                    RedemptionStatus::Reversed
                } else {
                    RedemptionStatus::PartiallyReversed
                };
                diesel::update(target)
                    .set((
                        r::status.eq(status.as_str()),
                        r::refunded_minor.eq(refunded),
                        r::holds_use.eq(holds_use),
                        r::closed_at.eq(full.then_some(now)),
                        r::updated_at.eq(now),
                    ))
                    .get_result(conn)
                    .await?
            }
        })
    })
}

/// A code found, with its coupon and its campaign: where a decision starts.
#[derive(Debug, Clone)]
pub struct FoundCode {
    /// What the decision reads of them.
    pub found: Found,
    /// The code's row (ids and counters, as read with the code).
    pub row: StoredCode,
    /// The campaign's row, when the coupon has one.
    pub campaign: Option<StoredCampaign>,
}

impl FoundCode {
    fn new(
        row: StoredCode,
        coupon: Coupon,
        campaign: Option<StoredCampaign>,
    ) -> Result<Self, StorageError> {
        let limits = campaign.as_ref().map(StoredCampaign::limits).transpose()?;
        let found = Found {
            coupon,
            code: row.code.clone(),
            terms: CodeTerms {
                active: row.active,
                usage_limit: row.usage_limit,
            },
            campaign: limits,
        };
        Ok(Self {
            found,
            row,
            campaign,
        })
    }
}

/// Finds a code with its coupon and campaign, without locking anything (validation).
pub async fn find_code(
    c: &mut Conn<'_>,
    code: &CouponCode,
) -> Result<Option<FoundCode>, StorageError> {
    let Some((row, coupon)) = code_and_coupon(c, code).await? else {
        return Ok(None);
    };
    let coupon = coupon.into_domain()?;
    let campaign = match coupon.campaign_id {
        Some(id) => Some(campaign_row(c, id).await?),
        None => None,
    };
    FoundCode::new(row, coupon, campaign).map(Some)
}

/// Locks a code's coupon for the rest of the transaction, expires the coupon's
/// reservations past their deadline, and locks its campaign (always after the coupon);
/// returns the code as read under the lock, with the code ids of the reservations that
/// expired (the counters read with it still count them).
pub async fn lock_code(
    c: &mut Conn<'_>,
    code: &CouponCode,
    now: DateTime<Utc>,
) -> Result<Option<(FoundCode, Vec<i64>)>, StorageError> {
    let Some(coupon_id) = code_owner(c, code).await? else {
        return Ok(None);
    };
    let coupon = lock_coupon(c, coupon_id).await?.into_domain()?;
    let row = code_row(c, code).await?;
    // Read under the lock, `reserved_count` says whether there is anything to expire.
    let expired = if coupon.reserved_count > 0 {
        expire_due(c, coupon_id, now).await?
    } else {
        Vec::new()
    };
    let campaign = match coupon.campaign_id {
        Some(id) => Some(lock_campaign(c, id).await?),
        None => None,
    };
    Ok(Some((FoundCode::new(row, coupon, campaign)?, expired)))
}

/// The code ids of the reservations of a found code's coupon that are past their
/// deadline, which its counters still count.
pub async fn overdue_codes(
    c: &mut Conn<'_>,
    code: &FoundCode,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StorageError> {
    if code.found.coupon.reserved_count == 0 {
        return Ok(Vec::new());
    }
    due_reservation_codes(c, code.row.coupon_id, now).await
}

/// Reads what a decision on `code` needs: the usage of the coupon, the code and the
/// customer (less `overdue`, the code ids of reservations past their deadline), the
/// campaign's usage when it caps it, and the rules' history when the coupon has rules.
pub async fn load_snapshot(
    c: &mut Conn<'_>,
    code: &FoundCode,
    overdue: &[i64],
    order: &Order,
    customer_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Snapshot, StorageError> {
    let found = &code.found;
    let customer = match (found.counts_customer(), customer_key) {
        (true, Some(key)) => customer_uses(c, code.row.coupon_id, key, now).await?,
        _ => 0,
    };
    let usage = Usage {
        coupon: found.coupon.redemption_count + found.coupon.reserved_count - overdue.len() as i64,
        code: code.row.redemption_count + code.row.reserved_count
            - overdue.iter().filter(|id| **id == code.row.id).count() as i64,
        customer,
    };
    let campaign_usage = match (&code.campaign, found.caps_campaign()) {
        (Some(campaign), true) => campaign_usage(c, campaign, now).await?,
        _ => CampaignUsage::default(),
    };
    let history = if found.has_rules() {
        history(c, code.row.coupon_id, order, customer_key, now).await?
    } else {
        History::default()
    };
    Ok(Snapshot {
        found: found.clone(),
        usage,
        campaign_usage,
        history,
    })
}

/// A new use of a code: a reservation until `hold_until`, or a redemption.
#[derive(Debug, Clone, Copy)]
pub struct NewUse<'a> {
    /// The order.
    pub order: &'a Order,
    /// Keyed hash of the customer identity, if the order names a customer.
    pub customer_key: Option<&'a str>,
    /// `Some(deadline)` to reserve, `None` to redeem at once.
    pub hold_until: Option<DateTime<Utc>>,
}

/// Writes a decided use of a locked code: the reservation or redemption with its
/// discount, the coupon's, code's and campaign's counters, the audit entry, the event,
/// and the usage marks the redemption passes.
pub async fn record_use(
    c: &mut Conn<'_>,
    code: &FoundCode,
    new: NewUse<'_>,
    discount: Money,
    marks: &[UsageMark],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Redemption, StorageError> {
    let campaign_id = code.found.coupon.campaign_id;
    let row = insert_redemption(c, &code.row, campaign_id, new, discount, now).await?;
    bump_campaign(c, row.campaign_id, 1, row.discount_minor).await?;
    let reserved = new.hold_until.is_some();
    let (redeemed_delta, reserved_delta) = if reserved { (0, 1) } else { (1, 0) };
    bump_counters(
        c,
        code.row.coupon_id,
        code.row.id,
        redeemed_delta,
        reserved_delta,
    )
    .await?;
    let kind = if reserved {
        (AuditAction::CouponReserved, EventType::CouponReserved)
    } else {
        (AuditAction::CouponRedeemed, EventType::CouponRedeemed)
    };
    record_change(c, actor, kind, None, &row, now).await?;
    write_marks(c, row.coupon_id, marks, now).await?;
    row.into_domain()
}

/// Writes the events of the usage marks a coupon passed.
async fn write_marks(
    c: &mut Conn<'_>,
    coupon_id: i64,
    marks: &[UsageMark],
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    for mark in marks {
        let (kind, payload) = match *mark {
            UsageMark::Share {
                percent,
                redeemed,
                cap,
            } => (
                EventType::UsageThresholdReached,
                serde_json::json!({ "percent": percent, "redeemed": redeemed, "cap": cap }),
            ),
            UsageMark::Exhausted { redeemed, cap } => (
                EventType::CouponExhausted,
                serde_json::json!({ "redeemed": redeemed, "cap": cap }),
            ),
        };
        write_event(c, kind, Some(coupon_id), coupon_id, payload, now).await?;
    }
    Ok(())
}

/// A reservation or redemption read under its coupon's lock, with the coupon.
#[derive(Debug, Clone)]
pub struct LockedRedemption {
    /// The coupon, as read under the lock.
    pub coupon: Coupon,
    /// The reservation or redemption as it stands.
    pub current: Redemption,
    /// Its currency.
    pub currency: Currency,
    row: StoredRedemption,
}

/// Finds a reservation or redemption, locks its coupon, expires the coupon's overdue
/// reservations, and reads it again under the lock. `None` when there is no such one.
pub async fn lock_use(
    c: &mut Conn<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<LockedRedemption>, StorageError> {
    let Some((coupon, row)) = lock_redemption(c, id, now).await? else {
        return Ok(None);
    };
    Ok(Some(LockedRedemption {
        coupon: coupon.into_domain()?,
        current: row.clone().into_domain()?,
        currency: Currency::parse(&row.currency)?,
        row,
    }))
}

/// Redeems a locked reservation: the row, the counters, the audit entry and the event,
/// and the usage marks the redemption passes.
pub async fn redeem_locked(
    c: &mut Conn<'_>,
    locked: &LockedRedemption,
    marks: &[UsageMark],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Redemption, StorageError> {
    let current = &locked.row;
    let row = change_redemption(c, current.id, RowChange::Redeem, now).await?;
    bump_counters(c, current.coupon_id, current.code_id, 1, -1).await?;
    let kind = (AuditAction::CouponRedeemed, EventType::CouponRedeemed);
    record_change(c, actor, kind, Some(current), &row, now).await?;
    write_marks(c, row.coupon_id, marks, now).await?;
    row.into_domain()
}

/// Releases a locked reservation, giving its use back to the coupon, the code and the
/// campaign.
pub async fn release_locked(
    c: &mut Conn<'_>,
    locked: &LockedRedemption,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Redemption, StorageError> {
    let current = &locked.row;
    let row = change_redemption(c, current.id, RowChange::Release, now).await?;
    bump_counters(c, current.coupon_id, current.code_id, 0, -1).await?;
    bump_campaign(c, current.campaign_id, -1, -current.discount_minor).await?;
    let kind = (
        AuditAction::ReservationReleased,
        EventType::ReservationReleased,
    );
    record_change(c, actor, kind, Some(current), &row, now).await?;
    row.into_domain()
}

/// Records a decided refund of a locked redemption: the row, the use given back when
/// the refund says so, the campaign's counters, the audit entry and the event.
pub async fn refund_locked(
    c: &mut Conn<'_>,
    locked: &LockedRedemption,
    refund: Refund,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Redemption, StorageError> {
    let current = &locked.row;
    let change = RowChange::Refund {
        refunded: refund.refunded,
        full: refund.full,
        holds_use: !refund.gives_use_back,
    };
    let row = change_redemption(c, current.id, change, now).await?;
    if refund.gives_use_back {
        bump_counters(c, current.coupon_id, current.code_id, -1, 0).await?;
    }
    let uses = if refund.gives_use_back { -1 } else { 0 };
    bump_campaign(c, current.campaign_id, uses, -refund.amount).await?;
    let kind = (
        AuditAction::RedemptionReversed,
        EventType::RedemptionReversed,
    );
    record_change(c, actor, kind, Some(current), &row, now).await?;
    row.into_domain()
}

/// A code with its coupon, read without a lock.
async fn code_and_coupon(
    c: &mut Conn<'_>,
    code: &CouponCode,
) -> Result<Option<(StoredCode, StoredCoupon)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as cp;
        Ok(cc::coupon_codes
            .inner_join(cp::coupons)
            .filter(cc::code.eq(code.as_str()))
            .first(conn)
            .await
            .optional()?)
    })
}

/// A campaign's row, read without a lock.
async fn campaign_row(c: &mut Conn<'_>, id: i64) -> Result<StoredCampaign, StorageError> {
    on_backend!(c, |conn| {
        use schema::campaigns::dsl as ca;
        Ok(ca::campaigns.find(id).first(conn).await?)
    })
}

/// The code ids of a coupon's reservations past their deadline.
async fn due_reservation_codes(
    c: &mut Conn<'_>,
    coupon_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(r::redemptions
            .filter(r::coupon_id.eq(coupon_id))
            .filter(r::status.eq(RedemptionStatus::Reserved.as_str()))
            .filter(r::reserved_until.le(now))
            .select(r::code_id)
            .load(conn)
            .await?)
    })
}

impl Db {
    /// Reads what deciding on a code needs, writing nothing, for a simulation: the
    /// coupon, the decision before rules, and the facts its rules would see (with the
    /// discount the order would get before rules, or the coupon's plain discount when
    /// it would get none). `None` when there is no such code.
    pub async fn inspect_coupon(
        &self,
        code: &CouponCode,
        order: &Order,
        customer_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Inspection>, StorageError> {
        self.read(async move |mut c| {
            let Some(found) = find_code(&mut c, code).await? else {
                return Ok(None);
            };
            let overdue = overdue_codes(&mut c, &found, now).await?;
            let snapshot =
                load_snapshot(&mut c, &found, &overdue, order, customer_key, now).await?;
            let decided = decide_terms(&snapshot, order, now);
            let coupon = &snapshot.found.coupon;
            let discount = decided.clone().unwrap_or_else(|_| {
                coupon
                    .spec
                    .discount
                    .amount_for(order.subtotal)
                    .unwrap_or(Money {
                        minor: 0,
                        currency: order.currency,
                    })
            });
            let facts = rule_facts(&snapshot, order, discount, now);
            Ok(Some(Inspection {
                coupon: coupon.clone(),
                decided,
                facts: Some(facts),
            }))
        })
        .await
    }

    /// Expires overdue reservations of up to `max_coupons` coupons; returns how many
    /// reservations expired. Safe to run on every instance at once.
    pub async fn expire_due_reservations(
        &self,
        now: DateTime<Utc>,
        max_coupons: i64,
    ) -> Result<usize, StorageError> {
        let coupons: Vec<i64> = with_conn!(self, |conn| {
            use schema::redemptions::dsl as r;
            r::redemptions
                .filter(r::status.eq(RedemptionStatus::Reserved.as_str()))
                .filter(r::reserved_until.le(now))
                .select(r::coupon_id)
                .distinct()
                .limit(max_coupons)
                .load(conn)
                .await?
        });
        let mut expired = 0;
        for coupon_id in coupons {
            expired += self
                .write(async move |mut c| {
                    lock_coupon(&mut c, coupon_id).await?;
                    Ok(expire_due(&mut c, coupon_id, now).await?.len())
                })
                .await?;
        }
        Ok(expired)
    }

    /// Deletes idempotency records past their retention; returns how many.
    pub async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<usize, StorageError> {
        Ok(with_conn!(self, |conn| {
            use schema::idempotency_keys::dsl as ik;
            diesel::delete(ik::idempotency_keys.filter(ik::expires_at.le(now)))
                .execute(conn)
                .await?
        }))
    }

    /// A redemption by id.
    pub async fn redemption(&self, id: i64) -> Result<Option<Redemption>, StorageError> {
        let row: Option<StoredRedemption> = with_conn!(self, |conn| {
            use schema::redemptions::dsl as r;
            r::redemptions.find(id).first(conn).await.optional()?
        });
        row.map(StoredRedemption::into_domain).transpose()
    }

    /// Redemptions matching `filter`, newest first, with ids below `before`.
    pub async fn list_redemptions(
        &self,
        filter: &RedemptionFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Redemption>, StorageError> {
        let rows: Vec<StoredRedemption> = with_conn!(self, |conn| {
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

    /// Redemptions matching `filter` in id order, after `after` when given: a page of
    /// an export.
    pub async fn export_redemptions(
        &self,
        filter: &RedemptionFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ExportedRedemption>, StorageError> {
        let rows: Vec<StoredRedemption> = with_conn!(self, |conn| {
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
        &self,
        coupon_id: i64,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        let query = diesel::sql_query(
            "SELECT currency, CAST(SUM(discount_minor - refunded_minor) AS BIGINT) AS total \
             FROM redemptions WHERE coupon_id = $1 \
             AND status IN ('REDEEMED', 'PARTIALLY_REVERSED', 'REVERSED') \
             GROUP BY currency ORDER BY currency",
        )
        .bind::<BigInt, _>(coupon_id);
        let rows: Vec<CurrencyTotal> = match self {
            Db::Postgres(pool) => query.load(&mut *pool.get().await?).await?,
            Db::Sqlite(pool) => query.load(&mut *pool.get().await?).await?,
        };
        Ok(rows.into_iter().map(|r| (r.currency, r.total)).collect())
    }

    /// Every coupon and code counter that does not equal its redemption rows.
    pub async fn counter_mismatches(&self) -> Result<Vec<CounterMismatch>, StorageError> {
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
            let rows: Vec<CounterMismatch> = match self {
                Db::Postgres(pool) => query.load(&mut *pool.get().await?).await?,
                Db::Sqlite(pool) => query.load(&mut *pool.get().await?).await?,
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
        let rows: Vec<CounterMismatch> = match self {
            Db::Postgres(pool) => campaigns.load(&mut *pool.get().await?).await?,
            Db::Sqlite(pool) => campaigns.load(&mut *pool.get().await?).await?,
        };
        out.extend(rows);
        Ok(out)
    }

    /// Adds (coupon id, hour, outcome, attempts) rows to the validation tally.
    pub async fn add_validation_attempts(
        &self,
        rows: &[(i64, DateTime<Utc>, &str, i64)],
    ) -> Result<(), StorageError> {
        with_tx!(self, |conn| {
            use diesel::upsert::excluded;
            use schema::validation_attempts::dsl as va;
            for (coupon_id, hour, outcome, n) in rows {
                diesel::insert_into(va::validation_attempts)
                    .values((
                        va::coupon_id.eq(coupon_id),
                        va::hour.eq(hour),
                        va::outcome.eq(outcome),
                        va::attempts.eq(n),
                    ))
                    .on_conflict((va::coupon_id, va::hour, va::outcome))
                    .do_update()
                    .set(va::attempts.eq(va::attempts + excluded(va::attempts)))
                    .execute(conn)
                    .await?;
            }
            Ok::<_, StorageError>(())
        })
    }

    /// Validation attempts recorded for a coupon (flushed ones).
    pub async fn validation_attempts(&self, coupon_id: i64) -> Result<i64, StorageError> {
        let counts: Vec<i64> = with_conn!(self, |conn| {
            use schema::validation_attempts::dsl as va;
            va::validation_attempts
                .filter(va::coupon_id.eq(coupon_id))
                .select(va::attempts)
                .load(conn)
                .await?
        });
        Ok(counts.into_iter().sum())
    }

    /// A secret the service keeps for itself, generated by `generate` the first time.
    /// Concurrent first calls agree on one value.
    pub async fn service_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> Result<String, StorageError> {
        let candidate = generate();
        let now = Utc::now();
        Ok(with_conn!(self, |conn| {
            use schema::service_secrets::dsl as s;
            diesel::insert_into(s::service_secrets)
                .values((
                    s::name.eq(name),
                    s::value.eq(&candidate),
                    s::created_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            s::service_secrets
                .find(name)
                .select(s::value)
                .first::<String>(conn)
                .await?
        }))
    }
}
