//! Checkout steps: finding and locking a code or a reservation, expiring overdue
//! reservations, reading what a decision needs (the snapshot), and recording a
//! reservation, redemption, release or refund with its counters, audit entry and event.
//!
//! The use cases in `service::checkout` compose these steps inside one transaction:
//! 1. claim the idempotency key (`storage::idempotency`);
//! 2. lock the coupon row with its first write (PostgreSQL; SQLite holds the write lock
//!    from `BEGIN IMMEDIATE`), so all usage decisions for one coupon are serialised;
//! 3. expire the coupon's reservations whose deadline has passed, giving their capacity
//!    back;
//! 4. read the usage (coupon, code, customer) and let the pure domain decide;
//! 5. write the redemption and the counters, and remember the response for the key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use coupons_domain::{
    CampaignUsage, CodeTerms, Coupon, CouponCode, CouponId, Currency, Found, Granted, Held,
    History, LineShare, Order, Redemption, RedemptionStatus, Refund, Snapshot, Stacked, Stacking,
    Target, Usage, UsageMark, automatic_code,
};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use crate::cache::TermsCache;

use super::audit::{Actor, AuditAction, EntityType, snapshot, write_audit};
use super::campaigns::{self, StoredCampaign};
use super::coupons::StoredCode;
use super::events::{EventType, write_event};
use super::models::{StoredCoupon, StoredRedemption};
use super::redemptions::CurrencyTotal;
use super::{Conn, StorageError, on_backend};

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
async fn code_row(c: &mut Conn<'_>, code: &str) -> Result<StoredCode, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        Ok(cc::coupon_codes
            .filter(cc::code.eq(code))
            .first(conn)
            .await?)
    })
}

/// What a checkout reads of a coupon every time: its counters and its version. The
/// terms come from the [`TermsCache`] when it holds that version.
#[derive(Debug, Clone, Copy, Queryable)]
struct Current {
    id: i64,
    redemption_count: i64,
    reserved_count: i64,
    updated_at: DateTime<Utc>,
}

/// The coupon as `current` says it stands: its terms from the cache when the cache has
/// its version, else read whole (and kept); its counters those of `current`.
async fn coupon_at(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    current: Current,
) -> Result<Coupon, StorageError> {
    let mut coupon = match terms.get(current.id, current.updated_at) {
        Some(coupon) => coupon,
        None => {
            let coupon = coupon_row(c, current.id).await?.into_domain()?;
            terms.put(&coupon);
            if coupon.updated_at != current.updated_at {
                // Changed between the two reads (no lock held): the whole row is the
                // later of the two, counters included.
                return Ok(coupon);
            }
            coupon
        }
    };
    coupon.redemption_count = current.redemption_count;
    coupon.reserved_count = current.reserved_count;
    Ok(coupon)
}

/// Locks a coupon row for the rest of the transaction (with a no-op write) and reads it
/// whole.
async fn lock_coupon_row(c: &mut Conn<'_>, coupon_id: i64) -> Result<StoredCoupon, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupons::dsl as lc;
        Ok(diesel::update(lc::coupons.find(coupon_id))
            .set(lc::updated_at.eq(lc::updated_at))
            .get_result(conn)
            .await?)
    })
}

/// A coupon's row, read without a lock.
async fn coupon_row(c: &mut Conn<'_>, id: i64) -> Result<StoredCoupon, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        Ok(cp::coupons.find(id).first(conn).await?)
    })
}

/// Locks a coupon row for the rest of the transaction (with a no-op write) and reads
/// it, its terms through the cache.
async fn lock_coupon(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    coupon_id: i64,
) -> Result<Coupon, StorageError> {
    let current = on_backend!(c, |conn| {
        use schema::coupons::dsl as lc;
        diesel::update(lc::coupons.find(coupon_id))
            .set(lc::updated_at.eq(lc::updated_at))
            .returning((
                lc::id,
                lc::redemption_count,
                lc::reserved_count,
                lc::updated_at,
            ))
            .get_result(conn)
            .await?
    });
    coupon_at(c, terms, current).await
}

/// Locks the coupon that owns `code` for the rest of the transaction and reads it, in
/// one statement (the code's owner found inside the locking update), its terms through
/// the cache; `None` when no coupon has the code.
async fn lock_code_owner(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    code: &CouponCode,
) -> Result<Option<Coupon>, StorageError> {
    let current = on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as lc;
        let owner = cc::coupon_codes
            .filter(cc::code.eq(code.as_str()))
            .select(cc::coupon_id);
        diesel::update(lc::coupons.filter(lc::id.eq_any(owner)))
            .set(lc::updated_at.eq(lc::updated_at))
            .returning((
                lc::id,
                lc::redemption_count,
                lc::reserved_count,
                lc::updated_at,
            ))
            .get_result(conn)
            .await
            .optional()?
    });
    match current {
        Some(current) => coupon_at(c, terms, current).await.map(Some),
        None => Ok(None),
    }
}

/// Locks a campaign row for the rest of the transaction and reads it. Always taken
/// after the coupon's lock.
async fn lock_campaign(c: &mut Conn<'_>, campaign_id: i64) -> Result<StoredCampaign, StorageError> {
    campaigns::lock_campaign(c, campaign_id)
        .await?
        .ok_or_else(|| diesel::result::Error::NotFound.into())
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

/// Coupons with reservations past their deadline, up to `max_coupons` of them.
pub async fn coupons_with_overdue_reservations(
    c: &mut Conn<'_>,
    now: DateTime<Utc>,
    max_coupons: i64,
) -> Result<Vec<i64>, StorageError> {
    on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        Ok(r::redemptions
            .filter(r::status.eq(RedemptionStatus::Reserved.as_str()))
            .filter(r::reserved_until.le(now))
            .select(r::coupon_id)
            .distinct()
            .limit(max_coupons)
            .load(conn)
            .await?)
    })
}

/// Locks a coupon and expires its reservations past their deadline (the sweep's step,
/// for coupons no checkout touches); returns how many expired.
pub async fn expire_overdue(
    c: &mut Conn<'_>,
    coupon_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    lock_coupon_row(c, coupon_id).await?;
    Ok(expire_due(c, coupon_id, now).await?.len())
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
    let coupon = lock_coupon_row(c, coupon_id).await?;
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

/// Serialises the checkouts of one order id until the transaction ends, so that what
/// the order already has (its coupons, its discount) cannot change under a decision.
/// On PostgreSQL a transaction-scoped advisory lock on the order id's hash (a shared
/// hash only makes two orders wait for each other); SQLite runs one write at a time.
/// Taken after the coupons and campaigns a checkout locks, never before.
pub async fn lock_order(c: &mut Conn<'_>, order_id: &str) -> Result<(), StorageError> {
    match c {
        Conn::Postgres(conn) => {
            diesel::sql_query("SELECT pg_advisory_xact_lock(7434002, hashtext($1))")
                .bind::<Text, _>(order_id)
                .execute(&mut **conn)
                .await?;
        }
        Conn::Sqlite(_) => {}
    }
    Ok(())
}

/// What an order id already has: the uses of `coupon_id` on it, and the other coupons
/// on it in the order's currency with the discount each holds, less refunds (live
/// reservations and redemptions only).
pub async fn order_uses(
    c: &mut Conn<'_>,
    order: &Order,
    coupon_id: i64,
    now: DateTime<Utc>,
) -> Result<(i64, Vec<Held>), StorageError> {
    type Row = (
        i64,
        String,
        String,
        i64,
        String,
        i32,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    );
    let rows: Vec<Row> = on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        use schema::redemptions::dsl as r;
        r::redemptions
            .inner_join(cp::coupons)
            .filter(r::order_id.eq(&order.id))
            .filter(r::holds_use.eq(true))
            .filter(
                r::status
                    .ne(RedemptionStatus::Reserved.as_str())
                    .or(r::reserved_until.gt(now)),
            )
            .select((
                r::coupon_id,
                r::code,
                r::currency,
                r::discount_minor - r::refunded_minor,
                cp::combines_with,
                cp::priority,
                cp::target,
                r::lines,
            ))
            .load(conn)
            .await?
    });
    let uses = rows.iter().filter(|row| row.0 == coupon_id).count() as i64;
    let held = rows
        .into_iter()
        .filter(|row| row.0 != coupon_id && row.2 == order.currency.code())
        .map(
            |(id, code, _, discount_minor, combines_with, priority, target, lines)| {
                let corrupt = |table: &'static str| {
                    move |reason: String| StorageError::Corrupt { table, id, reason }
                };
                let target: Target = target
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| corrupt("coupons")(e.to_string()))?
                    .unwrap_or_default();
                let lines: Vec<LineShare> = lines
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| corrupt("redemptions")(e.to_string()))?
                    .unwrap_or_default();
                Ok(Held {
                    coupon_id: CouponId(id),
                    coupon: Stacked {
                        code,
                        class: target.class(),
                        stacking: Stacking::new(
                            super::models::discount_classes(&combines_with)
                                .map_err(corrupt("coupons"))?,
                            priority,
                        ),
                    },
                    discount_minor,
                    lines,
                })
            },
        )
        .collect::<Result<_, StorageError>>()?;
    Ok((uses, held))
}

/// What a coupon's rules read beyond the order and the usage: this customer's use times
/// (reservations past their deadline left out), the discount the coupon has granted
/// in the order's currency, less refunds, and how many other orders this customer has
/// redeemed a coupon on (any coupon).
async fn history(
    c: &mut Conn<'_>,
    coupon_id: i64,
    order: &Order,
    customer_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<History, StorageError> {
    let (times, totals, orders): (Vec<DateTime<Utc>>, Vec<CurrencyTotal>, i64) =
        on_backend!(c, |conn| {
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
            let orders: i64 = match customer_key {
                Some(key) => {
                    fr::redemptions
                        .filter(fr::customer_key.eq(key))
                        .filter(fr::redeemed_at.is_not_null())
                        .filter(fr::order_id.ne(&order.id))
                        .select(diesel::dsl::count(fr::order_id).aggregate_distinct())
                        .first(conn)
                        .await?
                }
                None => 0,
            };
            (times, totals, orders)
        });
    Ok(History {
        customer_use_times: times.iter().map(DateTime::timestamp).collect(),
        discount_total: totals.iter().map(|t| t.total).next().unwrap_or(0),
        customer_orders: orders,
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
    discount: &Granted,
    now: DateTime<Utc>,
) -> Result<StoredRedemption, StorageError> {
    // A list of plain values always serialises.
    let lines = if discount.lines.is_empty() {
        None
    } else {
        serde_json::to_value(&discount.lines).ok()
    };
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
                    r::discount_minor.eq(discount.amount.minor),
                    r::refunded_minor.eq(0_i64),
                    r::reserved_until.eq(req.hold_until),
                    r::created_at.eq(now),
                    r::redeemed_at.eq(req.hold_until.is_none().then_some(now)),
                    r::updated_at.eq(now),
                    r::campaign_id.eq(campaign_id),
                    r::reserved_at.eq(req.hold_until.map(|_| now)),
                    r::lines.eq(lines),
                ),
                (
                    r::device_key.eq(req.traits.device.as_deref()),
                    r::payment_key.eq(req.traits.payment.as_deref()),
                    r::address_key.eq(req.traits.address.as_deref()),
                    r::mailbox_key.eq(req.traits.mailbox.as_deref()),
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
    /// A refund: the total refunded so far, whether that is all of the discount,
    /// whether the row still holds its use, and the line shares it keeps.
    Refund {
        refunded: i64,
        full: bool,
        holds_use: bool,
        lines: Option<serde_json::Value>,
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
                lines,
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
                        r::lines.eq(lines),
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
    terms: &TermsCache,
    code: &CouponCode,
) -> Result<Option<FoundCode>, StorageError> {
    find_named(c, terms, code.as_str()).await
}

async fn find_named(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    code: &str,
) -> Result<Option<FoundCode>, StorageError> {
    let Some((row, current)) = code_and_current(c, code).await? else {
        return Ok(None);
    };
    let coupon = coupon_at(c, terms, current).await?;
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
    terms: &TermsCache,
    code: &CouponCode,
    now: DateTime<Utc>,
) -> Result<Option<(FoundCode, Vec<i64>)>, StorageError> {
    let Some(coupon) = lock_code_owner(c, terms, code).await? else {
        return Ok(None);
    };
    let coupon_id = coupon.id.0;
    let row = code_row(c, code.as_str()).await?;
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

/// [`lock_code`] for several codes at once, in an order every checkout shares so that
/// two carts naming the same coupons never wait on each other in a circle: all their
/// coupons by id, then all their campaigns by id (a one-code checkout locks its coupon,
/// then its campaign, which is the same order). Returns each code as read under the
/// locks (`None` for a code that does not exist), with the code ids of its coupon's
/// reservations that expired.
pub async fn lock_codes(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    codes: &[CouponCode],
    automatic: &[CouponId],
    now: DateTime<Utc>,
) -> Result<Locked, StorageError> {
    let mut owners = Vec::with_capacity(codes.len());
    for code in codes {
        owners.push(code_owner(c, code).await?);
    }
    let mut coupon_ids: Vec<i64> = owners
        .iter()
        .flatten()
        .copied()
        .chain(automatic.iter().map(|id| id.0))
        .collect();
    coupon_ids.sort_unstable();
    coupon_ids.dedup();
    let mut coupons = BTreeMap::new();
    for id in &coupon_ids {
        let coupon = lock_coupon(c, terms, *id).await?;
        let expired = if coupon.reserved_count > 0 {
            expire_due(c, *id, now).await?
        } else {
            Vec::new()
        };
        coupons.insert(*id, (coupon, expired));
    }
    let mut campaign_ids: Vec<i64> = coupons
        .values()
        .filter_map(|(c, _)| c.campaign_id)
        .collect();
    campaign_ids.sort_unstable();
    campaign_ids.dedup();
    let mut campaigns = BTreeMap::new();
    for id in campaign_ids {
        campaigns.insert(id, lock_campaign(c, id).await?);
    }
    let mut found = Vec::with_capacity(codes.len());
    for (code, owner) in codes.iter().zip(owners) {
        let Some((coupon, expired)) = owner.and_then(|id| coupons.get(&id)) else {
            found.push(None);
            continue;
        };
        let row = code_row(c, code.as_str()).await?;
        let campaign = coupon
            .campaign_id
            .and_then(|id| campaigns.get(&id))
            .cloned();
        found.push(Some((
            FoundCode::new(row, coupon.clone(), campaign)?,
            expired.clone(),
        )));
    }
    let mut auto = Vec::with_capacity(automatic.len());
    for id in automatic {
        let Some((coupon, expired)) = coupons.get(&id.0) else {
            continue;
        };
        let row = code_row(c, &automatic_code(*id)).await?;
        let campaign = coupon
            .campaign_id
            .and_then(|id| campaigns.get(&id))
            .cloned();
        auto.push((
            FoundCode::new(row, coupon.clone(), campaign)?,
            expired.clone(),
        ));
    }
    Ok(Locked {
        typed: found,
        automatic: auto,
    })
}

/// The codes [`lock_codes`] locked, with the reservations of their coupons it found
/// overdue and expired.
pub struct Locked {
    /// Each typed code, in the order given; `None` when there is no such code.
    pub typed: Vec<Option<(FoundCode, Vec<i64>)>>,
    /// Each automatic coupon, through its code row.
    pub automatic: Vec<(FoundCode, Vec<i64>)>,
}

/// Most automatic coupons a cart considers (the first by id).
pub const AUTOMATIC_MAX: i64 = 50;

/// The automatic coupons live at `now` (active, within their window), by id, at most
/// [`AUTOMATIC_MAX`].
pub async fn automatic_coupons(
    c: &mut Conn<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<CouponId>, StorageError> {
    let ids: Vec<i64> = on_backend!(c, |conn| {
        use schema::coupons::dsl as cp;
        cp::coupons
            .filter(cp::automatic.eq(true))
            .filter(cp::status.eq(coupons_domain::LifecycleStatus::Active.as_str()))
            .filter(cp::starts_at.le(now))
            .filter(cp::expires_at.is_null().or(cp::expires_at.gt(now)))
            .order(cp::id)
            .limit(AUTOMATIC_MAX)
            .select(cp::id)
            .load(conn)
            .await?
    });
    Ok(ids.into_iter().map(CouponId).collect())
}

/// An automatic coupon found through its code row, without locking (validation).
pub async fn find_automatic(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    id: CouponId,
) -> Result<Option<FoundCode>, StorageError> {
    find_named(c, terms, &automatic_code(id)).await
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

/// The discount a customer has from a coupon in the order's currency, less refunds
/// (live reservations and redemptions).
async fn customer_discount(
    c: &mut Conn<'_>,
    coupon_id: i64,
    customer_key: &str,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let amounts: Vec<i64> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        r::redemptions
            .filter(r::coupon_id.eq(coupon_id))
            .filter(r::customer_key.eq(customer_key))
            .filter(r::currency.eq(order.currency.code()))
            .filter(r::holds_use.eq(true))
            .filter(
                r::status
                    .ne(RedemptionStatus::Reserved.as_str())
                    .or(r::reserved_until.gt(now)),
            )
            .select(r::discount_minor - r::refunded_minor)
            .load(conn)
            .await?
    });
    Ok(amounts.iter().sum())
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
    let customer_discount = match (found.caps_customer_discount(), customer_key) {
        (true, Some(key)) => customer_discount(c, code.row.coupon_id, key, order, now).await?,
        _ => 0,
    };
    let (on_order, held) = order_uses(c, order, code.row.coupon_id, now).await?;
    let usage = Usage {
        customer_discount,
        coupon: found.coupon.redemption_count + found.coupon.reserved_count - overdue.len() as i64,
        code: code.row.redemption_count + code.row.reserved_count
            - overdue.iter().filter(|id| **id == code.row.id).count() as i64,
        customer,
        order: on_order,
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
        held,
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
    /// Keyed hashes of what ties the customer's accounts together.
    pub traits: &'a TraitKeys,
}

/// Keyed hashes of the customer's fingerprints and mailbox, stored with a use so that
/// abuse detection can find accounts that share them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraitKeys {
    /// The device.
    pub device: Option<String>,
    /// The payment instrument.
    pub payment: Option<String>,
    /// The shipping address.
    pub address: Option<String>,
    /// The mailbox the e-mail address reaches.
    pub mailbox: Option<String>,
}

/// Writes a decided use of a locked code: the reservation or redemption with its
/// discount, the coupon's, code's and campaign's counters, the audit entry, the event,
/// and the usage marks the redemption passes.
pub async fn record_use(
    c: &mut Conn<'_>,
    code: &FoundCode,
    new: NewUse<'_>,
    discount: &Granted,
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

/// Locks every reservation or redemption of an order id that is in one of `statuses`, in
/// the order every checkout takes its locks (their coupons by id, then their campaigns by
/// id, then the order id), and returns them locked, by coupon id then id.
pub async fn lock_order_uses(
    c: &mut Conn<'_>,
    order_id: &str,
    statuses: &[RedemptionStatus],
    now: DateTime<Utc>,
) -> Result<Vec<LockedRedemption>, StorageError> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let mut rows: Vec<(i64, i64, Option<i64>)> = on_backend!(c, |conn| {
        use schema::redemptions::dsl as r;
        r::redemptions
            .filter(r::order_id.eq(order_id))
            .filter(r::status.eq_any(&names))
            .select((r::coupon_id, r::id, r::campaign_id))
            .load(conn)
            .await?
    });
    rows.sort_unstable();
    let mut coupon_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    coupon_ids.dedup();
    for id in &coupon_ids {
        lock_coupon_row(c, *id).await?;
    }
    let mut campaign_ids: Vec<i64> = rows.iter().filter_map(|r| r.2).collect();
    campaign_ids.sort_unstable();
    campaign_ids.dedup();
    for id in campaign_ids {
        lock_campaign(c, id).await?;
    }
    lock_order(c, order_id).await?;
    let mut locked = Vec::with_capacity(rows.len());
    for (_, id, _) in rows {
        locked.extend(lock_use(c, id, now).await?);
    }
    Ok(locked)
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
        // A list of plain values always serialises.
        lines: match &refund.lines {
            None => current.lines.clone(),
            Some(l) if l.is_empty() => None,
            Some(l) => serde_json::to_value(l).ok(),
        },
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

/// A code with its coupon's counters and version, read without a lock.
async fn code_and_current(
    c: &mut Conn<'_>,
    code: &str,
) -> Result<Option<(StoredCode, Current)>, StorageError> {
    on_backend!(c, |conn| {
        use schema::coupon_codes::dsl as cc;
        use schema::coupons::dsl as cp;
        Ok(cc::coupon_codes
            .inner_join(cp::coupons)
            .filter(cc::code.eq(code))
            .select((
                cc::coupon_codes::all_columns(),
                (
                    cp::id,
                    cp::redemption_count,
                    cp::reserved_count,
                    cp::updated_at,
                ),
            ))
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
