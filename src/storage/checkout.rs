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
use coupons_domain::{
    CampaignUsage, CheckoutOutcome, CodeTerms, CouponCode, Currency, Money, Order, Redemption,
    RedemptionStatus, Rejection, ReversalPolicy, RuleEvaluator, RuleFacts, RulesOutcome, Usage,
    evaluate_in_campaign,
};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use rust_decimal::Decimal;
use serde_json::Value;

use super::audit::{Actor, AuditAction, EntityType, audit, snapshot};
use super::campaigns::StoredCampaign;
use super::coupons::StoredCode;
use super::events::{EventType, event};
use super::models::{StoredCoupon, StoredRedemption};
use super::{Db, StorageError, with_conn, with_tx};

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

/// A reserve or direct redeem.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The code (canonical).
    pub code: &'a CouponCode,
    /// The order.
    pub order: &'a Order,
    /// Keyed hash of the customer identity, if the order names a customer.
    pub customer_key: Option<&'a str>,
    /// `Some(deadline)` to reserve, `None` to redeem at once.
    pub hold_until: Option<DateTime<Utc>>,
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
    pub coupon: coupons_domain::Coupon,
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

/// Claims an idempotency key inside the current transaction. Evaluates to
/// `Some(early answer)` when the key was already used, `None` to go on.
macro_rules! claim_key {
    ($conn:ident, $claim:expr, $now:expr) => {{
        use schema::idempotency_keys::dsl as ik;
        match $claim {
            None => None,
            Some(claim) => {
                let inserted = diesel::insert_into(ik::idempotency_keys)
                    .values((
                        ik::scope.eq(claim.scope),
                        ik::key.eq(claim.key),
                        ik::request_hash.eq(claim.request_hash),
                        ik::response.eq(Value::Null),
                        ik::created_at.eq($now),
                        ik::expires_at.eq(claim.expires_at),
                    ))
                    .on_conflict_do_nothing()
                    .execute($conn)
                    .await?;
                if inserted == 1 {
                    None
                } else {
                    let (hash, response, expires_at): (String, Value, DateTime<Utc>) =
                        ik::idempotency_keys
                            .find((claim.scope, claim.key))
                            .select((ik::request_hash, ik::response, ik::expires_at))
                            .first($conn)
                            .await?;
                    if expires_at <= $now {
                        // Past retention: the key starts afresh.
                        diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
                            .set((
                                ik::request_hash.eq(claim.request_hash),
                                ik::response.eq(Value::Null),
                                ik::created_at.eq($now),
                                ik::expires_at.eq(claim.expires_at),
                            ))
                            .execute($conn)
                            .await?;
                        None
                    } else if hash != claim.request_hash {
                        Some(Idempotent::KeyReused)
                    } else {
                        let outcome: CheckoutOutcome =
                            serde_json::from_value(response).map_err(|e| corrupt_response(&e))?;
                        Some(Idempotent::Replayed(outcome))
                    }
                }
            }
        }
    }};
}

/// Stores the response for a claimed key.
macro_rules! remember {
    ($conn:ident, $claim:expr, $outcome:expr) => {{
        use schema::idempotency_keys::dsl as ik;
        if let Some(claim) = $claim {
            let response = serde_json::to_value($outcome).map_err(|e| corrupt_response(&e))?;
            diesel::update(ik::idempotency_keys.find((claim.scope, claim.key)))
                .set(ik::response.eq(response))
                .execute($conn)
                .await?;
        }
    }};
}

/// Locks a coupon row for the rest of the transaction and reads it.
macro_rules! lock_coupon {
    ($conn:ident, $coupon_id:expr) => {{
        use schema::coupons::dsl as lc;
        let row: StoredCoupon = diesel::update(lc::coupons.find($coupon_id))
            .set(lc::updated_at.eq(lc::updated_at))
            .get_result($conn)
            .await?;
        row
    }};
}

/// Locks a campaign row for the rest of the transaction and reads it. Always taken
/// after the coupon's lock.
macro_rules! lock_campaign {
    ($conn:ident, $campaign_id:expr) => {{
        use schema::campaigns::dsl as lca;
        let row: StoredCampaign = diesel::update(lca::campaigns.find($campaign_id))
            .set(lca::updated_at.eq(lca::updated_at))
            .get_result($conn)
            .await?;
        row
    }};
}

/// Adds `uses` and `discount` (minor units) to a campaign's counters, if there is one.
macro_rules! bump_campaign {
    ($conn:ident, $campaign_id:expr, $uses:expr, $discount:expr) => {{
        use schema::campaigns::dsl as bca;
        if let Some(campaign_id) = $campaign_id {
            let (uses, discount): (i64, i64) = ($uses, $discount);
            diesel::update(bca::campaigns.find(campaign_id))
                .set((
                    bca::used_count.eq(bca::used_count + uses),
                    bca::discount_used_minor.eq(bca::discount_used_minor + discount),
                ))
                .execute($conn)
                .await?;
        }
    }};
}

/// What a campaign's caps have taken at `$now`: its counters, less its reservations
/// past their deadline that no transaction has expired yet.
macro_rules! campaign_usage {
    ($conn:ident, $campaign:expr, $now:expr) => {{
        use schema::redemptions::dsl as cu;
        let campaign: &StoredCampaign = $campaign;
        let overdue: Vec<i64> = cu::redemptions
            .filter(cu::campaign_id.eq(campaign.id))
            .filter(cu::status.eq(RedemptionStatus::Reserved.as_str()))
            .filter(cu::reserved_until.le($now))
            .select(cu::discount_minor)
            .load($conn)
            .await?;
        CampaignUsage {
            uses: campaign.used_count - overdue.len() as i64,
            discount_minor: campaign.discount_used_minor - overdue.iter().sum::<i64>(),
        }
    }};
}

/// Expires the coupon's reservations whose deadline has passed and gives their uses
/// back; evaluates to the code ids of the expired reservations.
macro_rules! expire_due {
    ($conn:ident, $coupon_id:expr, $now:expr) => {{
        use schema::coupon_codes::dsl as ec;
        use schema::coupons::dsl as eco;
        use schema::redemptions::dsl as er;
        let rows: Vec<(i64, i64, Option<i64>, i64)> = diesel::update(
            er::redemptions
                .filter(er::coupon_id.eq($coupon_id))
                .filter(er::status.eq(RedemptionStatus::Reserved.as_str()))
                .filter(er::reserved_until.le($now)),
        )
        .set((
            er::status.eq(RedemptionStatus::Expired.as_str()),
            er::holds_use.eq(false),
            er::closed_at.eq($now),
            er::updated_at.eq($now),
        ))
        .returning((er::id, er::code_id, er::campaign_id, er::discount_minor))
        .get_results($conn)
        .await?;
        let mut per_campaign = BTreeMap::<i64, (i64, i64)>::new();
        for (id, _, campaign_id, discount) in &rows {
            let payload = serde_json::json!({ "id": id, "status": "EXPIRED" });
            event!($conn, EventType::ReservationExpired, Some($coupon_id), id, payload, $now);
            if let Some(campaign_id) = campaign_id {
                let entry = per_campaign.entry(*campaign_id).or_default();
                entry.0 -= 1;
                entry.1 -= discount;
            }
        }
        // In id order, so that transactions locking several campaigns cannot deadlock.
        for (campaign_id, (uses, discount)) in per_campaign {
            bump_campaign!($conn, Some(campaign_id), uses, discount);
        }
        let expired: Vec<i64> = rows.into_iter().map(|(_, code_id, _, _)| code_id).collect();
        if !expired.is_empty() {
            diesel::update(eco::coupons.find($coupon_id))
                .set(eco::reserved_count.eq(eco::reserved_count - expired.len() as i64))
                .execute($conn)
                .await?;
            let mut per_code = BTreeMap::<i64, i64>::new();
            for code_id in &expired {
                *per_code.entry(*code_id).or_default() += 1;
            }
            for (code_id, n) in per_code {
                diesel::update(ec::coupon_codes.find(code_id))
                    .set(ec::reserved_count.eq(ec::reserved_count - n))
                    .execute($conn)
                    .await?;
            }
        }
        expired
    }};
}

/// Finds a redemption, locks its coupon, expires the coupon's overdue reservations, and
/// reads the redemption again under the lock. Evaluates to `None` when there is no such
/// redemption, else `Some((coupon, redemption))`.
macro_rules! lock_redemption {
    ($conn:ident, $id:expr, $now:expr) => {{
        use schema::redemptions::dsl as lr;
        let found: Option<i64> = lr::redemptions
            .find($id)
            .select(lr::coupon_id)
            .first($conn)
            .await
            .optional()?;
        match found {
            None => None,
            Some(coupon_id) => {
                let coupon = lock_coupon!($conn, coupon_id);
                expire_due!($conn, coupon_id, $now);
                let current: StoredRedemption = lr::redemptions.find($id).first($conn).await?;
                Some((coupon, current))
            }
        }
    }};
}

/// Loads what a coupon's rules may read, inside the current transaction or connection.
/// Reservations past their deadline do not count as uses.
macro_rules! rule_facts {
    ($conn:ident, $coupon:expr, $code:expr, $order:expr, $customer_key:expr, $usage:expr, $discount:expr, $now:expr) => {{
        use schema::redemptions::dsl as fr;
        let customer_use_times: Vec<DateTime<Utc>> = match $customer_key {
            Some(key) => {
                fr::redemptions
                    .filter(fr::coupon_id.eq($coupon.id.0))
                    .filter(fr::customer_key.eq(key))
                    .filter(fr::holds_use.eq(true))
                    .filter(
                        fr::status
                            .ne(RedemptionStatus::Reserved.as_str())
                            .or(fr::reserved_until.gt($now)),
                    )
                    .order(fr::id.desc())
                    .limit(1000)
                    .select(fr::created_at)
                    .load($conn)
                    .await?
            }
            None => Vec::new(),
        };
        let totals: Vec<CurrencyTotal> = diesel::sql_query(
            "SELECT currency, CAST(SUM(discount_minor - refunded_minor) AS BIGINT) AS total \
             FROM redemptions WHERE coupon_id = $1 AND currency = $2 \
             AND status IN ('REDEEMED', 'PARTIALLY_REVERSED', 'REVERSED') GROUP BY currency",
        )
        .bind::<BigInt, _>($coupon.id.0)
        .bind::<Text, _>($order.currency.code())
        .load($conn)
        .await?;
        let order: &Order = $order;
        RuleFacts {
            coupon_id: $coupon.id.0,
            coupon_name: $coupon.spec.name.clone(),
            coupon_metadata: $coupon.spec.metadata.as_value().clone(),
            code: $code.code.clone(),
            coupon_uses: $usage.coupon,
            code_uses: $usage.code,
            customer_uses: $usage.customer,
            customer_use_times: customer_use_times.iter().map(DateTime::timestamp).collect(),
            discount_total: totals.iter().map(|t| t.total).next().unwrap_or(0),
            discount: $discount.minor,
            ..RuleFacts::for_order(order, $now.timestamp())
        }
    }};
}

/// Runs a coupon's rules and folds their answer into the discount: a rejection or a
/// failure rejects; caps lower the discount, and a discount capped to zero is refused.
fn apply_rules(outcome: RulesOutcome, discount: Money) -> Result<Money, Vec<Rejection>> {
    match outcome {
        RulesOutcome::Pass { cap } => {
            let minor = cap.map_or(discount.minor, |c| c.min(discount.minor));
            if minor == 0 {
                Err(vec![Rejection::ZeroDiscount])
            } else {
                Ok(Money {
                    minor,
                    currency: discount.currency,
                })
            }
        }
        RulesOutcome::Rejected {
            rule,
            code,
            message,
        } => Err(vec![Rejection::RuleRejected {
            rule,
            code,
            message,
        }]),
        RulesOutcome::Failed { rule } => Err(vec![Rejection::RuleFailed { rule }]),
    }
}

/// Writes the usage events of a capped coupon whose redemptions went from `$before` to
/// `$before + 1`: 50% and 90% of the cap, and the cap itself.
macro_rules! usage_thresholds {
    ($conn:ident, $coupon_id:expr, $before:expr, $cap:expr, $now:expr) => {{
        if let Some(cap) = $cap {
            let (before, after, cap): (i64, i64, i64) = ($before, $before + 1, i64::from(cap));
            for percent in [50_i64, 90] {
                if before * 100 < percent * cap && after * 100 >= percent * cap {
                    let payload = serde_json::json!({ "percent": percent, "redeemed": after, "cap": cap });
                    event!($conn, EventType::UsageThresholdReached, Some($coupon_id), $coupon_id, payload, $now);
                }
            }
            if before < cap && after >= cap {
                let payload = serde_json::json!({ "redeemed": after, "cap": cap });
                event!($conn, EventType::CouponExhausted, Some($coupon_id), $coupon_id, payload, $now);
            }
        }
    }};
}

/// Records a change of a reservation or redemption from `$current` to `$row` (both
/// rows): its audit entry and its event, inside the caller's transaction.
macro_rules! record_change {
    ($conn:ident, $actor:expr, $action:expr, $event:expr, $current:expr, $row:expr, $now:expr) => {{
        let (current, row): (&StoredRedemption, &StoredRedemption) = ($current, $row);
        let (before, after) = (snapshot(current), snapshot(row));
        audit!(
            $conn,
            $actor,
            $action,
            EntityType::Redemption,
            row.id,
            before,
            after.clone(),
            $now
        );
        let payload = after.unwrap_or_default();
        event!($conn, $event, Some(row.coupon_id), row.id, payload, $now);
    }};
}

/// Adds `redeemed` and `reserved` to the counters of a coupon and one of its codes.
macro_rules! bump_counters {
    ($conn:ident, $coupon_id:expr, $code_id:expr, $redeemed:expr, $reserved:expr) => {{
        use schema::coupon_codes::dsl as bc;
        use schema::coupons::dsl as bco;
        let (redeemed, reserved): (i64, i64) = ($redeemed, $reserved);
        diesel::update(bco::coupons.find($coupon_id))
            .set((
                bco::redemption_count.eq(bco::redemption_count + redeemed),
                bco::reserved_count.eq(bco::reserved_count + reserved),
            ))
            .execute($conn)
            .await?;
        diesel::update(bc::coupon_codes.find($code_id))
            .set((
                bc::redemption_count.eq(bc::redemption_count + redeemed),
                bc::reserved_count.eq(bc::reserved_count + reserved),
            ))
            .execute($conn)
            .await?;
    }};
}

impl Db {
    /// Reserves or redeems a code for an order, exactly within every limit.
    pub async fn apply_coupon(
        &self,
        claim: Option<IdempotencyClaim<'_>>,
        req: ApplyRequest<'_>,
        rules: &dyn RuleEvaluator,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Idempotent<CheckoutOutcome>, StorageError> {
        with_tx!(self, |conn| {
            use schema::coupon_codes::dsl as cc;
            use schema::redemptions::dsl as r;
            if let Some(early) = claim_key!(conn, claim, now) {
                return Ok(early);
            }
            let outcome = 'decide: {
                let coupon_id: Option<i64> = cc::coupon_codes
                    .filter(cc::code.eq(req.code.as_str()))
                    .select(cc::coupon_id)
                    .first(conn)
                    .await
                    .optional()?;
                let Some(coupon_id) = coupon_id else {
                    break 'decide CheckoutOutcome::Rejected(vec![Rejection::NotFound]);
                };
                let coupon = lock_coupon!(conn, coupon_id).into_domain()?;
                // Read the code only under the coupon's lock: a read before it could see
                // counters that a transaction committing meanwhile has changed.
                let code: StoredCode = cc::coupon_codes
                    .filter(cc::code.eq(req.code.as_str()))
                    .first(conn)
                    .await?;
                // Read under the lock, `reserved_count` says whether there is anything to expire.
                let expired = if coupon.reserved_count > 0 {
                    expire_due!(conn, code.coupon_id, now)
                } else {
                    Vec::new()
                };
                let expired_here = expired.iter().filter(|id| **id == code.id).count() as i64;
                // Locked after the coupon (and after expiry moved its counters).
                let campaign = match coupon.campaign_id {
                    Some(id) => Some(lock_campaign!(conn, id)),
                    None => None,
                };
                let limits = campaign.as_ref().map(StoredCampaign::limits).transpose()?;
                let counts_customer =
                    coupon.spec.per_customer_limit.get().is_some() || !coupon.spec.rules.is_empty();
                let customer_used = match (counts_customer, req.customer_key) {
                    (true, Some(key)) => {
                        r::redemptions
                            .filter(r::coupon_id.eq(code.coupon_id))
                            .filter(r::customer_key.eq(key))
                            .filter(r::holds_use.eq(true))
                            .count()
                            .get_result::<i64>(conn)
                            .await?
                    }
                    _ => 0,
                };
                let usage = Usage {
                    coupon: coupon.redemption_count + coupon.reserved_count - expired.len() as i64,
                    code: code.redemption_count + code.reserved_count - expired_here,
                    customer: customer_used,
                };
                let terms = CodeTerms {
                    active: code.active,
                    usage_limit: code.usage_limit,
                };
                let decided =
                    evaluate_in_campaign(&coupon, limits.as_ref(), terms, req.order, usage, now);
                let mut discount = match decided {
                    Ok(d) => d,
                    Err(reasons) => break 'decide CheckoutOutcome::Rejected(reasons),
                };
                if let (Some(campaign), Some(limits)) = (&campaign, &limits)
                    && limits.caps_usage()
                {
                    let used = campaign_usage!(conn, campaign, now);
                    discount = match limits.limit(used, discount) {
                        Ok(d) => d,
                        Err(reason) => break 'decide CheckoutOutcome::Rejected(vec![reason]),
                    };
                }
                if !coupon.spec.rules.is_empty() {
                    let facts = rule_facts!(
                        conn,
                        coupon,
                        code,
                        req.order,
                        req.customer_key,
                        usage,
                        discount,
                        now
                    );
                    discount =
                        match apply_rules(rules.evaluate(&coupon.spec.rules, &facts), discount) {
                            Ok(d) => d,
                            Err(reasons) => break 'decide CheckoutOutcome::Rejected(reasons),
                        };
                }
                let status = if req.hold_until.is_some() {
                    RedemptionStatus::Reserved
                } else {
                    RedemptionStatus::Redeemed
                };
                let row: StoredRedemption = diesel::insert_into(r::redemptions)
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
                            r::campaign_id.eq(coupon.campaign_id),
                            r::reserved_at.eq(req.hold_until.map(|_| now)),
                        ),
                    ))
                    .get_result(conn)
                    .await?;
                bump_campaign!(conn, row.campaign_id, 1, row.discount_minor);
                let action = if req.hold_until.is_some() {
                    bump_counters!(conn, code.coupon_id, code.id, 0, 1);
                    AuditAction::CouponReserved
                } else {
                    bump_counters!(conn, code.coupon_id, code.id, 1, 0);
                    AuditAction::CouponRedeemed
                };
                let after = snapshot(&row);
                audit!(
                    conn,
                    actor,
                    action,
                    EntityType::Redemption,
                    row.id,
                    None,
                    after.clone(),
                    now
                );
                let happened = if action == AuditAction::CouponReserved {
                    EventType::CouponReserved
                } else {
                    EventType::CouponRedeemed
                };
                let payload = after.unwrap_or_default();
                event!(conn, happened, Some(row.coupon_id), row.id, payload, now);
                if happened == EventType::CouponRedeemed {
                    let cap = coupon.spec.max_redemptions.get();
                    usage_thresholds!(conn, row.coupon_id, coupon.redemption_count, cap, now);
                }
                CheckoutOutcome::Applied(row.into_domain()?)
            };
            remember!(conn, claim, &outcome);
            Ok(Idempotent::Fresh(outcome))
        })
    }

    /// Redeems a reservation made earlier, on the terms it was made on.
    pub async fn redeem_reservation(
        &self,
        claim: Option<IdempotencyClaim<'_>>,
        reservation_id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Idempotent<CheckoutOutcome>, StorageError> {
        with_tx!(self, |conn| {
            use schema::redemptions::dsl as r;
            if let Some(early) = claim_key!(conn, claim, now) {
                return Ok(early);
            }
            let outcome = 'decide: {
                let Some((coupon, current)) = lock_redemption!(conn, reservation_id, now) else {
                    break 'decide CheckoutOutcome::NotFound;
                };
                let coupon = coupon.into_domain()?;
                match current.status()? {
                    RedemptionStatus::Reserved => {}
                    RedemptionStatus::Expired => break 'decide CheckoutOutcome::ReservationExpired,
                    other => break 'decide CheckoutOutcome::WrongStatus(other),
                }
                let row: StoredRedemption = diesel::update(r::redemptions.find(reservation_id))
                    .set((
                        r::status.eq(RedemptionStatus::Redeemed.as_str()),
                        r::redeemed_at.eq(now),
                        r::reserved_until.eq(None::<DateTime<Utc>>),
                        r::updated_at.eq(now),
                    ))
                    .get_result(conn)
                    .await?;
                bump_counters!(conn, current.coupon_id, current.code_id, 1, -1);
                record_change!(
                    conn,
                    actor,
                    AuditAction::CouponRedeemed,
                    EventType::CouponRedeemed,
                    &current,
                    &row,
                    now
                );
                let cap = coupon.spec.max_redemptions.get();
                usage_thresholds!(conn, row.coupon_id, coupon.redemption_count, cap, now);
                CheckoutOutcome::Applied(row.into_domain()?)
            };
            remember!(conn, claim, &outcome);
            Ok(Idempotent::Fresh(outcome))
        })
    }

    /// Gives a reservation's use back. Releasing twice, or releasing an expired
    /// reservation, answers with the reservation as it stands.
    pub async fn release_reservation(
        &self,
        reservation_id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CheckoutOutcome, StorageError> {
        with_tx!(self, |conn| {
            use schema::redemptions::dsl as r;
            let Some((_, current)) = lock_redemption!(conn, reservation_id, now) else {
                return Ok(CheckoutOutcome::NotFound);
            };
            match current.status()? {
                RedemptionStatus::Reserved => {}
                RedemptionStatus::Released | RedemptionStatus::Expired => {
                    return Ok(CheckoutOutcome::Applied(current.into_domain()?));
                }
                other => return Ok(CheckoutOutcome::WrongStatus(other)),
            }
            let row: StoredRedemption = diesel::update(r::redemptions.find(reservation_id))
                .set((
                    r::status.eq(RedemptionStatus::Released.as_str()),
                    r::holds_use.eq(false),
                    r::closed_at.eq(now),
                    r::updated_at.eq(now),
                ))
                .get_result(conn)
                .await?;
            bump_counters!(conn, current.coupon_id, current.code_id, 0, -1);
            bump_campaign!(conn, current.campaign_id, -1, -current.discount_minor);
            record_change!(
                conn,
                actor,
                AuditAction::ReservationReleased,
                EventType::ReservationReleased,
                &current,
                &row,
                now
            );
            Ok(CheckoutOutcome::Applied(row.into_domain()?))
        })
    }

    /// Records a refund of (part of) a redemption's discount. A full reversal gives the
    /// use back when the coupon's policy says so.
    pub async fn reverse_redemption(
        &self,
        claim: Option<IdempotencyClaim<'_>>,
        redemption_id: i64,
        refund: Option<Decimal>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Idempotent<CheckoutOutcome>, StorageError> {
        with_tx!(self, |conn| {
            use schema::redemptions::dsl as r;
            if let Some(early) = claim_key!(conn, claim, now) {
                return Ok(early);
            }
            let outcome = 'decide: {
                let Some((coupon, current)) = lock_redemption!(conn, redemption_id, now) else {
                    break 'decide CheckoutOutcome::NotFound;
                };
                let coupon = coupon.into_domain()?;
                match current.status()? {
                    RedemptionStatus::Redeemed | RedemptionStatus::PartiallyReversed => {}
                    other => break 'decide CheckoutOutcome::WrongStatus(other),
                }
                let remaining = current.discount_minor - current.refunded_minor;
                let amount = match refund {
                    None => remaining,
                    Some(decimal) => {
                        let currency = Currency::parse(&current.currency)?;
                        match Money::from_decimal(decimal, currency) {
                            Ok(m) => m.minor,
                            Err(_) => break 'decide CheckoutOutcome::RefundTooPrecise,
                        }
                    }
                };
                if amount > remaining {
                    break 'decide CheckoutOutcome::RefundExceedsDiscount {
                        remaining_minor: remaining,
                    };
                }
                let refunded = current.refunded_minor + amount;
                let full = refunded == current.discount_minor;
                let gives_use_back =
                    full && coupon.spec.reversal_policy == ReversalPolicy::RestoreUsage;
                let status = if full {
                    RedemptionStatus::Reversed
                } else {
                    RedemptionStatus::PartiallyReversed
                };
                let row: StoredRedemption = diesel::update(r::redemptions.find(redemption_id))
                    .set((
                        r::status.eq(status.as_str()),
                        r::refunded_minor.eq(refunded),
                        r::holds_use.eq(!gives_use_back),
                        r::closed_at.eq(full.then_some(now)),
                        r::updated_at.eq(now),
                    ))
                    .get_result(conn)
                    .await?;
                if gives_use_back {
                    bump_counters!(conn, current.coupon_id, current.code_id, -1, 0);
                }
                bump_campaign!(
                    conn,
                    current.campaign_id,
                    if gives_use_back { -1 } else { 0 },
                    -amount
                );
                record_change!(
                    conn,
                    actor,
                    AuditAction::RedemptionReversed,
                    EventType::RedemptionReversed,
                    &current,
                    &row,
                    now
                );
                CheckoutOutcome::Applied(row.into_domain()?)
            };
            remember!(conn, claim, &outcome);
            Ok(Idempotent::Fresh(outcome))
        })
    }

    /// Decides whether a code applies to an order, writing nothing. Reservations past
    /// their deadline are left out of the usage, as the next write would expire them.
    ///
    /// With `live_only`, a code that is switched off or not started is not found at all,
    /// as outside callers must see it.
    pub async fn check_coupon(
        &self,
        code: &CouponCode,
        order: &Order,
        customer_key: Option<&str>,
        rules: &dyn RuleEvaluator,
        live_only: bool,
        now: DateTime<Utc>,
    ) -> Result<(Option<i64>, Result<Money, Vec<Rejection>>), StorageError> {
        let Some(found) = self
            .inspect_coupon(code, order, customer_key, false, live_only, now)
            .await?
        else {
            return Ok((None, Err(vec![Rejection::NotFound])));
        };
        let decided = match (found.decided, found.facts) {
            (Ok(discount), Some(facts)) => {
                apply_rules(rules.evaluate(&found.coupon.spec.rules, &facts), discount)
            }
            (other, _) => other,
        };
        Ok((Some(found.coupon.id.0), decided))
    }

    /// Reads what deciding on a code needs, writing nothing: the coupon, the built-in
    /// decision, and (when the coupon binds rules, or `always_facts`) the facts its rules
    /// would see. `None` when there is no such code, or, with `live_only`, when the code
    /// or its coupon is switched off or not started.
    pub async fn inspect_coupon(
        &self,
        code: &CouponCode,
        order: &Order,
        customer_key: Option<&str>,
        always_facts: bool,
        live_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Inspection>, StorageError> {
        with_conn!(self, |conn| {
            use schema::campaigns::dsl as ca;
            use schema::coupon_codes::dsl as cc;
            use schema::coupons::dsl as c;
            use schema::redemptions::dsl as r;
            let found: Option<(StoredCode, StoredCoupon)> = cc::coupon_codes
                .inner_join(c::coupons)
                .filter(cc::code.eq(code.as_str()))
                .first(conn)
                .await
                .optional()?;
            let Some((code, coupon)) = found else {
                return Ok(None);
            };
            let coupon = coupon.into_domain()?;
            let terms = CodeTerms {
                active: code.active,
                usage_limit: code.usage_limit,
            };
            let campaign: Option<StoredCampaign> = match coupon.campaign_id {
                Some(id) => Some(ca::campaigns.find(id).first(conn).await?),
                None => None,
            };
            let limits = campaign.as_ref().map(StoredCampaign::limits).transpose()?;
            // A code that is switched off, not started or over is decided without reading
            // usage. With `live_only`, one switched off or not started is not found at all.
            let gate = evaluate_in_campaign(
                &coupon,
                limits.as_ref(),
                terms,
                order,
                Usage::default(),
                now,
            );
            if live_only
                && let Err(reasons) = &gate
                && matches!(
                    reasons.as_slice(),
                    [Rejection::NotActive | Rejection::NotStarted]
                )
            {
                return Ok(None);
            }
            if !always_facts
                && let Err(reasons) = &gate
                && matches!(
                    reasons.as_slice(),
                    [Rejection::NotActive | Rejection::NotStarted | Rejection::Expired]
                )
            {
                return Ok(Some(Inspection {
                    coupon,
                    decided: gate,
                    facts: None,
                }));
            }
            let due: Vec<i64> = if coupon.reserved_count > 0 {
                r::redemptions
                    .filter(r::coupon_id.eq(code.coupon_id))
                    .filter(r::status.eq(RedemptionStatus::Reserved.as_str()))
                    .filter(r::reserved_until.le(now))
                    .select(r::code_id)
                    .load(conn)
                    .await?
            } else {
                Vec::new()
            };
            let counts_customer =
                coupon.spec.per_customer_limit.get().is_some() || !coupon.spec.rules.is_empty();
            let customer_used = match (counts_customer, customer_key) {
                (true, Some(key)) => {
                    r::redemptions
                        .filter(r::coupon_id.eq(code.coupon_id))
                        .filter(r::customer_key.eq(key))
                        .filter(r::holds_use.eq(true))
                        .filter(
                            r::status
                                .ne(RedemptionStatus::Reserved.as_str())
                                .or(r::reserved_until.gt(now)),
                        )
                        .count()
                        .get_result::<i64>(conn)
                        .await?
                }
                _ => 0,
            };
            let usage = Usage {
                coupon: coupon.redemption_count + coupon.reserved_count - due.len() as i64,
                code: code.redemption_count + code.reserved_count
                    - due.iter().filter(|id| **id == code.id).count() as i64,
                customer: customer_used,
            };
            let mut decided =
                evaluate_in_campaign(&coupon, limits.as_ref(), terms, order, usage, now);
            if let (Ok(discount), Some(campaign), Some(limits)) = (&decided, &campaign, &limits)
                && limits.caps_usage()
            {
                let used = campaign_usage!(conn, campaign, now);
                decided = limits.limit(used, *discount).map_err(|reason| vec![reason]);
            }
            let facts = if always_facts || (decided.is_ok() && !coupon.spec.rules.is_empty()) {
                let discount = match &decided {
                    Ok(d) => *d,
                    Err(_) => coupon
                        .spec
                        .discount
                        .amount_for(order.subtotal)
                        .unwrap_or(Money {
                            minor: 0,
                            currency: order.currency,
                        }),
                };
                Some(rule_facts!(
                    conn,
                    coupon,
                    code,
                    order,
                    customer_key,
                    usage,
                    discount,
                    now
                ))
            } else {
                None
            };
            Ok(Some(Inspection {
                coupon,
                decided,
                facts,
            }))
        })
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
            expired += with_tx!(self, |conn| {
                lock_coupon!(conn, coupon_id);
                let n = expire_due!(conn, coupon_id, now).len();
                Ok::<_, StorageError>(n)
            })?;
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
