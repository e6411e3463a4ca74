//! Carts: several codes on one order, validated, reserved or redeemed together.
//!
//! A cart is decided by the domain's `decide_cart`: each code alone, then the best set
//! that may share the order beside what it already holds. Validation answers that set;
//! reserving or redeeming writes all the codes given, or none of them when they do not
//! all belong to that set. The write takes its locks in one order shared by every
//! checkout (coupons by id, then campaigns by id, then the order id), so carts racing
//! over the same coupons never deadlock.

use chrono::{DateTime, Duration, Utc};
use coupons_domain::{
    CartDecision, CartOutcome, Collector, CouponCode, Field, FieldError, Invalid, Order,
    OrderDraft, Problem, RedemptionStatus, Rejection, Snapshot, check_releasable, decide_cart,
    plan_refund, usage_marks,
};
use serde_json::json;

use super::checkout::{
    Admitted, Claim, admit, claim, hold, idempotency_key, is_failed_guess, order_fingerprint,
    order_of, pad_failed_guess, request_hash, settle,
};
use super::limiter::Attempt;
use super::{Caller, ServiceError, Services};
use crate::auth::Role;
use crate::cache::TermsCache;
use crate::storage::checkout::{self as steps, LockedRedemption, NewUse};
use crate::storage::idempotency::{claim_key, remember};
use crate::storage::{Conn, Idempotent, StorageError};

/// Most codes on one cart.
pub const MAX_CART_CODES: usize = 10;

/// Checks the number of codes: none (automatic discounts only) to [`MAX_CART_CODES`].
fn check_codes(codes: &[String]) -> Result<(), FieldError> {
    if codes.len() > MAX_CART_CODES {
        return Err(FieldError::new(
            Field::Codes,
            Problem::TooMany {
                max: MAX_CART_CODES,
            },
        ));
    }
    Ok(())
}

/// The codes as typed, each parsed (`None`: it cannot be a code, so none exists).
fn parse_codes(codes: &[String]) -> Vec<Option<CouponCode>> {
    codes.iter().map(|c| CouponCode::parse(c).ok()).collect()
}

/// One attempt per code from the caller's budgets (a cart of guesses costs what as many
/// single guesses cost), and the order's customer key.
async fn admit_codes(
    svc: &Services,
    caller: &Caller,
    order: &Order,
    n: usize,
) -> Result<(Vec<Attempt>, Option<String>), ServiceError> {
    caller.check_channel(order.channel.as_deref())?;
    let mut attempts = Vec::with_capacity(n);
    let mut customer_key = svc.customer_key_of(order);
    for _ in 0..n {
        let Admitted {
            attempt,
            customer_key: key,
        } = admit(svc, caller, order).await?;
        attempts.push(attempt);
        customer_key = key;
    }
    Ok((attempts, customer_key))
}

/// Settles each code's attempt by its verdict; whether any was a failed guess.
/// `Throttled` when a guess came after the caller was locked out (see [`settle`]).
async fn settle_codes(
    svc: &Services,
    caller: &Caller,
    attempts: Vec<Attempt>,
    decision: Option<&CartDecision>,
) -> Result<bool, ServiceError> {
    let mut any_wrong = false;
    let mut refused = None;
    for (i, attempt) in attempts.into_iter().enumerate() {
        let wrong = decision.is_some_and(|d| {
            d.left_out
                .iter()
                .any(|(j, reasons)| *j == i && is_failed_guess(reasons))
        });
        any_wrong |= wrong;
        if let Err(e) = settle(svc, caller, attempt, wrong).await {
            refused = Some(e);
        }
    }
    refused.map_or(Ok(any_wrong), Err)
}

/// Reads one code for a cart without locking: its snapshot, or why there is none (not
/// found, or not live; to an outsider a code switched off or not started does not
/// exist).
async fn read_entry(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    code: Option<&CouponCode>,
    order: &Order,
    customer_key: Option<&str>,
    live_only: bool,
    now: DateTime<Utc>,
) -> Result<Result<Snapshot, Vec<Rejection>>, StorageError> {
    let Some(code) = code else {
        return Ok(Err(vec![Rejection::NotFound]));
    };
    let Some(found) = steps::find_code(c, terms, code).await? else {
        return Ok(Err(vec![Rejection::NotFound]));
    };
    if let Err(reason) = found.found.gate(order, now) {
        if live_only && matches!(reason, Rejection::NotActive | Rejection::NotStarted) {
            return Ok(Err(vec![Rejection::NotFound]));
        }
        return Ok(Err(vec![reason]));
    }
    let overdue = steps::overdue_codes(c, &found, now).await?;
    Ok(Ok(steps::load_snapshot(
        c,
        &found,
        &overdue,
        order,
        customer_key,
        now,
    )
    .await?))
}

/// A cart decided: the entries are the codes as typed, then the automatic coupons that
/// are live (by id), each named by its code row.
#[derive(Debug, Clone)]
pub struct CartCheck {
    /// The decision; indexes are into `names`. Only typed codes are ever left out: an
    /// automatic coupon that does not apply is simply not applied.
    pub decision: CartDecision,
    /// The codes as typed, then the code rows of the automatic coupons considered.
    pub names: Vec<String>,
    /// How many of `names` were typed.
    pub typed: usize,
}

impl CartCheck {
    /// Whether entry `i` is an automatic coupon.
    pub fn is_automatic(&self, i: usize) -> bool {
        i >= self.typed
    }
}

/// Reads the live automatic coupons for a cart without locking: their snapshots, and
/// their code rows' names. One that is not live for the order (its campaign's window)
/// is skipped.
async fn read_automatic(
    c: &mut Conn<'_>,
    terms: &TermsCache,
    order: &Order,
    customer_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Snapshot)>, StorageError> {
    let mut out = Vec::new();
    for id in steps::automatic_coupons(c, now).await? {
        let Some(found) = steps::find_automatic(c, terms, id).await? else {
            continue;
        };
        if found.found.gate(order, now).is_err() {
            continue;
        }
        let overdue = steps::overdue_codes(c, &found, now).await?;
        let snapshot = steps::load_snapshot(c, &found, &overdue, order, customer_key, now).await?;
        out.push((found.found.code.clone(), snapshot));
    }
    Ok(out)
}

/// What a cart would get: the codes applied with their discounts, in application
/// order (automatic discounts among them), and the typed codes left out with why.
/// Writes nothing.
pub async fn validate_cart(
    svc: &Services,
    caller: &Caller,
    codes: &[String],
    order: OrderDraft,
) -> Result<CartCheck, ServiceError> {
    let started = tokio::time::Instant::now();
    let mut e = Collector::default();
    let order = e.take_all(order_of(svc, order));
    e.take(check_codes(codes));
    e.finish()?;
    let Some(order) = order else {
        return Err(Invalid(Vec::new()).into());
    };
    let (attempts, customer_key) = admit_codes(svc, caller, &order, codes.len()).await?;
    let now = Utc::now();
    let parsed = parse_codes(codes);
    let live_only = matches!(caller.role, Role::Storefront | Role::Public);
    let rules = svc.rules.as_ref();
    let terms = svc.terms.as_ref();
    let (order, parsed, key) = (&order, &parsed, customer_key.as_deref());
    let read = svc
        .db
        .read(async move |mut c| {
            let mut entries = Vec::with_capacity(parsed.len());
            for code in parsed {
                entries.push(
                    read_entry(&mut c, terms, code.as_ref(), order, key, live_only, now).await?,
                );
            }
            let automatic = read_automatic(&mut c, terms, order, key, now).await?;
            Ok((entries, automatic))
        })
        .await;
    let (mut entries, automatic) = match read {
        Ok(read) => read,
        Err(e) => {
            // A fault is no verdict: every attempt is given back.
            let _ = settle_codes(svc, caller, attempts, None).await;
            return Err(e.into());
        }
    };
    let typed = entries.len();
    let mut names = codes.to_vec();
    for (name, snapshot) in automatic {
        names.push(name);
        entries.push(Ok(snapshot));
    }
    let mut decision = decide_cart(&entries, order, rules, now);
    decision.left_out.retain(|(i, _)| *i < typed);
    for (i, entry) in entries.iter().enumerate().take(typed) {
        let coupon_id = entry.as_ref().ok().map(|s| s.found.coupon.id.0);
        let outcome = match decision.left_out.iter().find(|(j, _)| *j == i) {
            None => "VALID",
            Some((_, reasons)) => reasons.first().map_or("REJECTED", |r| r.code()),
        };
        svc.attempts.record(coupon_id, outcome, now);
    }
    if settle_codes(svc, caller, attempts, Some(&decision)).await? {
        pad_failed_guess(svc, caller, started).await;
    }
    Ok(CartCheck {
        decision,
        names,
        typed,
    })
}

/// Reserves every code of a cart for the order until a deadline, or none.
pub async fn reserve_cart(
    svc: &Services,
    caller: &Caller,
    codes: &[String],
    order: OrderDraft,
    hold_minutes: Option<i64>,
    key: &str,
) -> Result<Idempotent<CartOutcome>, ServiceError> {
    let (order, key, hold) = checked(svc, codes, order, key, Some(hold(svc, hold_minutes)))?;
    let now = Utc::now();
    let hold = hold.unwrap_or(svc.checkout.default_hold);
    let hash = cart_hash("reserve-cart", codes, &order, Some(hold));
    let claim = claim(
        svc,
        &format!("reserve:{}", caller.scope()),
        &key,
        &hash,
        now,
    );
    apply_cart(svc, caller, claim, codes, &order, Some(now + hold), now).await
}

/// Redeems every code of a cart for the order, or none.
pub async fn redeem_cart(
    svc: &Services,
    caller: &Caller,
    codes: &[String],
    order: OrderDraft,
    key: &str,
) -> Result<Idempotent<CartOutcome>, ServiceError> {
    let (order, key, _) = checked(svc, codes, order, key, None)?;
    let now = Utc::now();
    let hash = cart_hash("redeem-cart", codes, &order, None);
    let claim = claim(svc, &format!("redeem:{}", caller.scope()), &key, &hash, now);
    apply_cart(svc, caller, claim, codes, &order, None, now).await
}

/// Checks a cart call's input, reporting every problem: the codes, the order, the
/// idempotency key and, for a reservation, its hold.
fn checked(
    svc: &Services,
    codes: &[String],
    order: OrderDraft,
    key: &str,
    hold: Option<Result<Duration, FieldError>>,
) -> Result<(Order, String, Option<Duration>), ServiceError> {
    let mut e = Collector::default();
    let order = e.take_all(order_of(svc, order));
    let key = e.take(idempotency_key(key));
    e.take(check_codes(codes));
    let hold = hold.map(|h| e.take(h));
    e.finish()?;
    match (order, key, hold) {
        (Some(order), Some(key), None) => Ok((order, key, None)),
        (Some(order), Some(key), Some(Some(hold))) => Ok((order, key, Some(hold))),
        _ => Err(Invalid(Vec::new()).into()),
    }
}

/// The request hash of a cart call: the codes as typed (canonical case), the order and
/// the hold.
fn cart_hash(op: &str, codes: &[String], order: &Order, hold: Option<Duration>) -> String {
    let codes: Vec<String> = codes
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    request_hash(&json!([
        op,
        codes,
        order_fingerprint(order),
        hold.map(|h| h.num_seconds())
    ]))
}

/// Decides a cart under its locks and writes all of its codes, or none.
async fn apply_cart(
    svc: &Services,
    caller: &Caller,
    claim: Claim,
    codes: &[String],
    order: &Order,
    hold_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Idempotent<CartOutcome>, ServiceError> {
    let started = tokio::time::Instant::now();
    let (attempts, customer_key) = admit_codes(svc, caller, order, codes.len()).await?;
    let parsed = parse_codes(codes);
    let traits = svc.trait_keys(order);
    let new = NewUse {
        order,
        customer_key: customer_key.as_deref(),
        hold_until,
        traits: &traits,
    };
    let rules = svc.rules.as_ref();
    let terms = svc.terms.as_ref();
    let actor = &caller.actor();
    let claim = claim.as_ref();
    let parsed = &parsed;
    let result = svc
        .db
        .write(async move |mut c| {
            if let Some(early) = claim_key(&mut c, Some(claim), now).await? {
                return Ok((early, None));
            }
            let known: Vec<CouponCode> = parsed.iter().flatten().cloned().collect();
            let automatic = steps::automatic_coupons(&mut c, now).await?;
            let steps::Locked {
                typed,
                automatic: locked_automatic,
            } = steps::lock_codes(&mut c, terms, &known, &automatic, now).await?;
            let mut locked = typed.into_iter();
            steps::lock_order(&mut c, &new.order.id).await?;
            let mut found = Vec::with_capacity(parsed.len());
            let mut entries = Vec::with_capacity(parsed.len());
            for code in parsed {
                let here = match code {
                    Some(_) => locked.next().flatten(),
                    None => None,
                };
                let entry = match &here {
                    None => Err(vec![Rejection::NotFound]),
                    Some((code, expired)) => Ok(steps::load_snapshot(
                        &mut c,
                        code,
                        expired,
                        new.order,
                        new.customer_key,
                        now,
                    )
                    .await?),
                };
                found.push(here);
                entries.push(entry);
            }
            for (code, expired) in locked_automatic {
                if code.found.gate(new.order, now).is_err() {
                    continue;
                }
                let snapshot =
                    steps::load_snapshot(&mut c, &code, &expired, new.order, new.customer_key, now)
                        .await?;
                entries.push(Ok(snapshot));
                found.push(Some((code, expired)));
            }
            let mut decision = decide_cart(&entries, new.order, rules, now);
            decision.left_out.retain(|(i, _)| *i < parsed.len());
            let outcome = if decision.left_out.is_empty() {
                let mut written = vec![None; entries.len()];
                for (i, discount) in &decision.applied {
                    let Some((code, _)) = &found[*i] else {
                        continue;
                    };
                    let coupon = &code.found.coupon;
                    let marks = match new.hold_until {
                        Some(_) => Vec::new(),
                        None => {
                            usage_marks(coupon.redemption_count, coupon.spec.max_redemptions.get())
                        }
                    };
                    let row =
                        steps::record_use(&mut c, code, new, discount, &marks, actor, now).await?;
                    written[*i] = Some(row);
                }
                CartOutcome::Applied(written.into_iter().flatten().collect())
            } else {
                CartOutcome::Rejected(
                    decision
                        .left_out
                        .iter()
                        .map(|(i, reasons)| (codes[*i].clone(), reasons.clone()))
                        .collect(),
                )
            };
            remember(&mut c, Some(claim), &outcome).await?;
            Ok((Idempotent::Fresh(outcome), Some(decision)))
        })
        .await;
    let (outcome, decision) = match result {
        Ok(done) => done,
        Err(e) => {
            // A fault is no verdict: every attempt is given back.
            let _ = settle_codes(svc, caller, attempts, None).await;
            return Err(e.into());
        }
    };
    if settle_codes(svc, caller, attempts, decision.as_ref()).await? {
        pad_failed_guess(svc, caller, started).await;
    }
    Ok(outcome)
}

/// Checks an order id given on its own: trimmed, not blank, not too long.
fn order_id(raw: &str) -> Result<String, FieldError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(FieldError::new(Field::OrderId, Problem::Blank));
    }
    if id.chars().count() > coupons_domain::order::ID_MAX {
        return Err(FieldError::new(
            Field::OrderId,
            Problem::TooLong {
                max: coupons_domain::order::ID_MAX,
            },
        ));
    }
    Ok(id.to_owned())
}

/// Refuses a channel-scoped key the uses of an order made on another channel.
fn check_channels(caller: &Caller, locked: &[LockedRedemption]) -> Result<(), ServiceError> {
    locked
        .iter()
        .try_for_each(|l| caller.check_channel(l.current.channel.as_deref()))
}

/// Gives back every live reservation of an order, in one transaction; the released
/// reservations (none when the order holds none).
pub async fn release_cart(
    svc: &Services,
    caller: &Caller,
    order: &str,
) -> Result<CartOutcome, ServiceError> {
    let order = order_id(order).map_err(Invalid::from)?;
    let now = Utc::now();
    let actor = &caller.actor();
    let order = &order;
    let released = svc
        .db
        .write(async move |mut c| {
            let locked =
                steps::lock_order_uses(&mut c, order, &[RedemptionStatus::Reserved], now).await?;
            if let Err(e) = check_channels(caller, &locked) {
                return Ok(Err(e));
            }
            let mut released = Vec::with_capacity(locked.len());
            for l in &locked {
                if check_releasable(&l.current) == Ok(true) {
                    released.push(steps::release_locked(&mut c, l, actor, now).await?);
                }
            }
            Ok(Ok(released))
        })
        .await??;
    Ok(CartOutcome::Applied(released))
}

/// Reverses in full every redemption of an order, in one transaction (each coupon's
/// reversal policy decides whether its use comes back); the reversed redemptions.
pub async fn reverse_cart(
    svc: &Services,
    caller: &Caller,
    order: &str,
    key: &str,
) -> Result<Idempotent<CartOutcome>, ServiceError> {
    let mut e = Collector::default();
    let order = e.take(order_id(order));
    let key = e.take(idempotency_key(key));
    e.finish()?;
    let (Some(order), Some(key)) = (order, key) else {
        return Err(Invalid(Vec::new()).into());
    };
    let now = Utc::now();
    let hash = request_hash(&json!(["reverse-cart", order]));
    let claim = claim(
        svc,
        &format!("reverse:{}", caller.scope()),
        &key,
        &hash,
        now,
    );
    let claim = claim.as_ref();
    let actor = &caller.actor();
    let order = &order;
    svc.db
        .write(async move |mut c| {
            if let Some(early) = claim_key(&mut c, Some(claim), now).await? {
                return Ok(Ok(early));
            }
            let statuses = [
                RedemptionStatus::Redeemed,
                RedemptionStatus::PartiallyReversed,
            ];
            let locked = steps::lock_order_uses(&mut c, order, &statuses, now).await?;
            if let Err(e) = check_channels(caller, &locked) {
                return Ok(Err(e));
            }
            let mut reversed = Vec::with_capacity(locked.len());
            for l in &locked {
                let policy = l.coupon.spec.reversal_policy;
                if let Ok(plan) = plan_refund(&l.current, l.currency, None, policy) {
                    reversed.push(steps::refund_locked(&mut c, l, plan, actor, now).await?);
                }
            }
            let outcome = CartOutcome::Applied(reversed);
            remember(&mut c, Some(claim), &outcome).await?;
            Ok(Ok(Idempotent::Fresh(outcome)))
        })
        .await?
}
