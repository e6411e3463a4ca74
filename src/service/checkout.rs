//! Checkout: validate, reserve, redeem, release, reverse.
//!
//! Inputs are validated here; each use case opens one transaction and runs the storage
//! steps (see `storage::checkout` and `storage::idempotency`) and the domain's decision
//! inside it. Customers are identified by a keyed hash
//! (HMAC-SHA256 with the service secret) of their id, else of their normalised e-mail;
//! the raw identity is never stored.

use chrono::{DateTime, Duration, Utc};
use coupons_domain::{
    CheckoutOutcome, Collector, CouponCode, Field, FieldError, Granted, Invalid, Order, OrderDraft,
    Percentage, Problem, Redemption, Rejection, check_redeemable, check_releasable, decide,
    plan_line_refund, plan_refund, usage_marks,
};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::limiter::Attempt;
use super::{Caller, ServiceError, Services};
use crate::auth::Role;
use crate::storage::checkout::{self as steps, NewUse, TraitKeys};
use crate::storage::idempotency::{claim_key, remember};
use crate::storage::redemptions;
use crate::storage::{IdempotencyClaim, Idempotent, RedemptionFilter};

/// Shortest and longest reservation hold a caller may ask for, in minutes.
pub const HOLD_MINUTES: std::ops::RangeInclusive<i64> = 1..=1440;
/// Longest idempotency key.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Settings of checkout.
#[derive(Clone)]
pub struct CheckoutSettings {
    /// Key of the HMAC that turns customer identities into stored keys.
    pub customer_key_secret: Vec<u8>,
    /// Hold time of a reservation when the call names none.
    pub default_hold: Duration,
    /// How long idempotency records are kept (at least 24 hours).
    pub idempotency_retention: Duration,
    /// The least time a storefront or public caller waits for `NOT_FOUND`, so that an
    /// unknown code and an inactive one take the same time to answer.
    pub not_found_floor: std::time::Duration,
    /// The largest share of an order its discounts may take together; `None`: all of it.
    pub max_order_discount: Option<Percentage>,
}

impl std::fmt::Debug for CheckoutSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutSettings")
            .field("customer_key_secret", &"<redacted>")
            .field("default_hold", &self.default_hold)
            .field("idempotency_retention", &self.idempotency_retention)
            .field("not_found_floor", &self.not_found_floor)
            .field("max_order_discount", &self.max_order_discount)
            .finish()
    }
}

/// The keyed hash of a customer identity (`id:…` or `email:…`).
pub fn customer_key(secret: &[u8], identity: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return hex::encode(Sha256::digest(identity.as_bytes()));
    };
    mac.update(identity.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Reads an order, with the share of it its discounts may take.
pub(super) fn order_of(svc: &Services, draft: OrderDraft) -> Result<Order, Invalid> {
    let mut order = Order::from_draft(draft)?;
    if let Some(share) = svc.checkout.max_order_discount {
        order.limit_discounts(share);
    }
    Ok(order)
}

pub(super) fn idempotency_key(raw: &str) -> Result<String, FieldError> {
    let k = raw.trim();
    if k.is_empty() {
        return Err(FieldError::new(Field::IdempotencyKey, Problem::Blank));
    }
    if k.chars().count() > IDEMPOTENCY_KEY_MAX {
        return Err(FieldError::new(
            Field::IdempotencyKey,
            Problem::TooLong {
                max: IDEMPOTENCY_KEY_MAX,
            },
        ));
    }
    Ok(k.to_owned())
}

/// A canonical description of an order, for request hashing.
pub(super) fn order_fingerprint(order: &Order) -> serde_json::Value {
    json!({
        "id": order.id,
        "currency": order.currency.code(),
        "subtotal": order.subtotal.minor,
        "items": order.items.iter().map(|i| json!([i.sku, i.categories, i.quantity, i.unit_price.minor])).collect::<Vec<_>>(),
        "customer": [order.customer.id, order.customer.email, order.customer.tags, order.customer.first_order],
        "channel": order.channel,
    })
}

pub(super) fn request_hash(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

impl Services {
    pub(super) fn customer_key_of(&self, order: &Order) -> Option<String> {
        order
            .customer
            .identity()
            .map(|id| customer_key(&self.checkout.customer_key_secret, &id))
    }

    /// Keyed hashes of the order's customer fingerprints and mailbox, stored with a use
    /// for abuse detection.
    pub(super) fn trait_keys(&self, order: &Order) -> TraitKeys {
        let secret = &self.checkout.customer_key_secret;
        let key = |kind: &str, value: Option<&str>| {
            value.map(|v| customer_key(secret, &format!("{kind}:{v}")))
        };
        let given = &order.customer.fingerprints;
        TraitKeys {
            device: key("device", given.device.as_deref()),
            payment: key("payment", given.payment.as_deref()),
            address: key("address", given.shipping_address.as_deref()),
            mailbox: key(
                "mailbox",
                order
                    .customer
                    .email
                    .as_deref()
                    .map(coupons_domain::abuse::mailbox)
                    .as_deref(),
            ),
        }
    }
}

/// The stored key of a customer named by id or e-mail, for filtering redemptions.
pub fn customer_filter_key(
    svc: &Services,
    id: Option<&str>,
    email: Option<&str>,
) -> Result<Option<String>, Problem> {
    let identity = match (id.map(str::trim).filter(|i| !i.is_empty()), email) {
        (Some(id), _) => format!("id:{id}"),
        (None, Some(email)) => format!("email:{}", coupons_domain::order::normalize_email(email)?),
        (None, None) => return Ok(None),
    };
    Ok(Some(customer_key(
        &svc.checkout.customer_key_secret,
        &identity,
    )))
}

/// Whether rejections say the code is unknown or not usable yet: what a guess gets.
pub fn is_failed_guess(reasons: &[Rejection]) -> bool {
    reasons.iter().any(|r| {
        matches!(
            r,
            Rejection::NotFound | Rejection::NotActive | Rejection::NotStarted
        )
    })
}

/// What a caller of `role` may learn from rejections: the one visibility policy for
/// rejections, whatever the channel that tells them.
///
/// Storefront and public callers cannot tell a code that does not exist from one that
/// is switched off (draft, paused, archived, deactivated) or not started yet: all are
/// `NOT_FOUND`, with the same message. A code that exists but cannot be used by anyone
/// (expired, used up) says only that; its terms (minimum subtotal, channels, currency,
/// rules) are told only for a code that is usable.
pub fn visible_rejections(reasons: &[Rejection], role: Role) -> Vec<Rejection> {
    if !matches!(role, Role::Storefront | Role::Public) {
        return reasons.to_vec();
    }
    if is_failed_guess(reasons) {
        return vec![Rejection::NotFound];
    }
    let closed = reasons.iter().find(|r| {
        matches!(
            r,
            Rejection::Expired
                | Rejection::UsageLimitReached
                | Rejection::CodeUsageLimitReached
                | Rejection::CampaignUsageLimitReached
                | Rejection::CampaignBudgetExhausted
        )
    });
    match closed {
        Some(r) => vec![r.clone()],
        None => reasons.to_vec(),
    }
}

/// Whether storefront and public callers may know that `coupon` exists: it is active and
/// has started. Anything else answers them as a code that does not exist, and no channel
/// (validation, events) tells them more.
pub fn outsiders_may_know(coupon: &coupons_domain::Coupon, now: DateTime<Utc>) -> bool {
    coupon.lifecycle == coupons_domain::LifecycleStatus::Active
        && !coupon.spec.window.not_started(now)
}

/// Holds a failed guess by an outside caller until the floor has passed since `started`:
/// how long finding out that a code is unknown, switched off or not started takes then
/// says nothing about which it was.
pub(super) async fn pad_failed_guess(
    svc: &Services,
    caller: &Caller,
    started: tokio::time::Instant,
) {
    if matches!(caller.role, Role::Storefront | Role::Public) {
        tokio::time::sleep_until(started + svc.checkout.not_found_floor).await;
    }
}

/// A code check let in: its attempt, taken from the caller's budgets before the
/// lookup, and the order's customer key.
pub(super) struct Admitted {
    pub(super) attempt: Attempt,
    pub(super) customer_key: Option<String>,
}

/// Checks the key's channels and takes one attempt from the caller's, the address's
/// and the customer's budgets; refuses a subject that is locked out (waiting first,
/// when its attempts are all held by checks still running).
pub(super) async fn admit(
    svc: &Services,
    caller: &Caller,
    order: &Order,
) -> Result<Admitted, ServiceError> {
    caller.check_channel(order.channel.as_deref())?;
    let customer_key = svc.customer_key_of(order);
    let subjects = caller.subjects(customer_key.as_deref());
    let attempt = svc
        .limiter
        .begin(caller.role, subjects)
        .await
        .map_err(ServiceError::Throttled)?;
    Ok(Admitted {
        attempt,
        customer_key,
    })
}

/// Settles a check's attempt by its verdict: a failed guess keeps it, anything else
/// (including a storage fault, which is no verdict) gives it back. `Throttled` when the
/// guess came after the caller was locked out (by the shared count): its verdict must
/// not be told.
pub(super) async fn settle(
    svc: &Services,
    caller: &Caller,
    attempt: Attempt,
    guessed_wrong: bool,
) -> Result<(), ServiceError> {
    // A public key's caller is a browser: its address is the shopper's (a storefront
    // server's is the same for all its shoppers, and tells nothing).
    if guessed_wrong
        && caller.role == Role::Public
        && let Some(ip) = caller.ip
    {
        svc.abuse.failed_check(ip, Utc::now());
    }
    attempt
        .settle(guessed_wrong)
        .await
        .map_err(ServiceError::Throttled)
}

/// Whether a code applies to an order, and the discount. Writes nothing. A string that
/// cannot be a code is simply not found.
pub async fn validate(
    svc: &Services,
    caller: &Caller,
    code: &str,
    order: OrderDraft,
) -> Result<Result<Granted, Vec<Rejection>>, ServiceError> {
    let result = check_code(svc, caller, code, order).await;
    let m = &svc.metrics;
    match &result {
        Ok(Ok(_)) => m.checkout("validate", "applied", ""),
        Ok(Err(reasons)) => m.checkout("validate", "rejected", first_code(reasons)),
        Err(e) => failed(svc, "validate", e),
    }
    result
}

/// The first rejection's code.
fn first_code(reasons: &[Rejection]) -> &'static str {
    reasons.first().map_or("", Rejection::code)
}

/// Counts a checkout call that ended in an error.
fn failed(svc: &Services, action: &'static str, e: &ServiceError) {
    if matches!(e, ServiceError::Throttled(_)) {
        svc.metrics.throttled();
        svc.metrics.checkout(action, "throttled", "");
    } else {
        svc.metrics.checkout(action, "error", "");
    }
}

/// Counts a reservation or redemption in the metrics (and the discount a redemption
/// granted): the one place every channel's checkouts pass.
fn observe(
    svc: &Services,
    action: &'static str,
    result: &Result<Idempotent<CheckoutOutcome>, ServiceError>,
) {
    let m = &svc.metrics;
    match result {
        Ok(Idempotent::Fresh(outcome)) => match outcome {
            CheckoutOutcome::Applied(r) => {
                m.checkout(action, "applied", "");
                if action == "redeem" {
                    m.discount_granted(&r.currency, r.discount_minor);
                }
            }
            CheckoutOutcome::Rejected(reasons) => {
                m.checkout(action, "rejected", first_code(reasons));
            }
            CheckoutOutcome::NotFound => m.checkout(action, "refused", "NOT_FOUND"),
            CheckoutOutcome::ReservationExpired => {
                m.checkout(action, "refused", "RESERVATION_EXPIRED");
            }
            _ => m.checkout(action, "refused", "WRONG_STATUS"),
        },
        Ok(Idempotent::Replayed(_)) => m.checkout(action, "replayed", ""),
        Ok(Idempotent::KeyReused) => m.checkout(action, "refused", "IDEMPOTENCY_KEY_REUSED"),
        Err(e) => failed(svc, action, e),
    }
}

/// [`validate`] without the metrics.
async fn check_code(
    svc: &Services,
    caller: &Caller,
    code: &str,
    order: OrderDraft,
) -> Result<Result<Granted, Vec<Rejection>>, ServiceError> {
    let started = tokio::time::Instant::now();
    let order = order_of(svc, order)?;
    let Admitted {
        attempt,
        customer_key: key,
    } = admit(svc, caller, &order).await?;
    let now = Utc::now();
    let Ok(code) = CouponCode::parse(code) else {
        svc.attempts.record(None, Rejection::NotFound.code(), now);
        settle(svc, caller, attempt, true).await?;
        pad_failed_guess(svc, caller, started).await;
        return Ok(Err(vec![Rejection::NotFound]));
    };
    let live_only = matches!(caller.role, Role::Storefront | Role::Public);
    let rules = svc.rules.as_ref();
    let terms = svc.terms.as_ref();
    let order = &order;
    let key = key.as_deref();
    let checked = svc
        .db
        .read(async move |mut c| {
            let Some(found) = steps::find_code(&mut c, terms, &code).await? else {
                return Ok((None, Err(vec![Rejection::NotFound])));
            };
            let coupon_id = Some(found.found.coupon.id.0);
            // A code that is not live is decided without reading its usage; to an
            // outsider, one switched off or not started does not exist.
            if let Err(reason) = found.found.gate(order, now) {
                if live_only && matches!(reason, Rejection::NotActive | Rejection::NotStarted) {
                    return Ok((None, Err(vec![Rejection::NotFound])));
                }
                return Ok((coupon_id, Err(vec![reason])));
            }
            let overdue = steps::overdue_codes(&mut c, &found, now).await?;
            let snapshot = steps::load_snapshot(&mut c, &found, &overdue, order, key, now).await?;
            Ok((coupon_id, decide(&snapshot, order, rules, now)))
        })
        .await;
    let guessed_wrong = checked
        .as_ref()
        .is_ok_and(|(_, result)| result.as_ref().is_err_and(|r| is_failed_guess(r)));
    settle(svc, caller, attempt, guessed_wrong).await?;
    let (coupon_id, result) = checked?;
    let outcome = match &result {
        Ok(_) => "VALID",
        Err(reasons) => reasons.first().map_or("REJECTED", |r| r.code()),
    };
    svc.attempts.record(coupon_id, outcome, now);
    if guessed_wrong {
        pad_failed_guess(svc, caller, started).await;
    }
    Ok(result)
}

/// What to redeem: a code for an order, or a reservation made earlier.
#[derive(Debug, Clone)]
pub enum RedeemTarget {
    /// Redeem directly.
    Code {
        /// The code as typed.
        code: String,
        /// The order.
        order: Box<OrderDraft>,
    },
    /// Redeem a reservation on the terms it was made on.
    Reservation(i64),
}

/// How long a reservation holds: `hold_minutes` (1 to 1440), or the configured default.
pub(super) fn hold(svc: &Services, hold_minutes: Option<i64>) -> Result<Duration, FieldError> {
    match hold_minutes {
        None => Ok(svc.checkout.default_hold),
        Some(m) if HOLD_MINUTES.contains(&m) => Ok(Duration::minutes(m)),
        Some(_) => Err(FieldError::new(
            Field::HoldMinutes,
            Problem::TooMany {
                max: *HOLD_MINUTES.end() as usize,
            },
        )),
    }
}

/// Reserves one use of a code for an order until a deadline.
pub async fn reserve(
    svc: &Services,
    caller: &Caller,
    code: &str,
    order: OrderDraft,
    hold_minutes: Option<i64>,
    key: &str,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let result = reserve_use(svc, caller, code, order, hold_minutes, key).await;
    observe(svc, "reserve", &result);
    result
}

/// [`reserve`] without the metrics.
async fn reserve_use(
    svc: &Services,
    caller: &Caller,
    code: &str,
    order: OrderDraft,
    hold_minutes: Option<i64>,
    key: &str,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let mut e = Collector::default();
    let order = e.take_all(order_of(svc, order));
    let key = e.take(idempotency_key(key));
    let hold = e.take(hold(svc, hold_minutes));
    e.finish()?;
    let (Some(order), Some(key), Some(hold)) = (order, key, hold) else {
        return Err(Invalid(Vec::new()).into());
    };
    let now = Utc::now();
    let hash = request_hash(&json!([
        "reserve",
        code.trim().to_ascii_uppercase(),
        order_fingerprint(&order),
        hold.num_seconds()
    ]));
    let scope = format!("reserve:{}", caller.scope());
    let claim = claim(svc, &scope, &key, &hash, now);
    apply(svc, caller, claim, code, &order, Some(now + hold), now).await
}

/// Redeems a code directly, or a reservation.
pub async fn redeem(
    svc: &Services,
    caller: &Caller,
    target: RedeemTarget,
    key: &str,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let result = redeem_use(svc, caller, target, key).await;
    observe(svc, "redeem", &result);
    result
}

/// [`redeem`] without the metrics.
async fn redeem_use(
    svc: &Services,
    caller: &Caller,
    target: RedeemTarget,
    key: &str,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let now = Utc::now();
    let scope = format!("redeem:{}", caller.scope());
    match target {
        RedeemTarget::Code { code, order } => {
            let mut e = Collector::default();
            let order = e.take_all(order_of(svc, *order));
            let key = e.take(idempotency_key(key));
            e.finish()?;
            let (Some(order), Some(key)) = (order, key) else {
                return Err(Invalid(Vec::new()).into());
            };
            let hash = request_hash(&json!([
                "redeem",
                code.trim().to_ascii_uppercase(),
                order_fingerprint(&order)
            ]));
            let claim = claim(svc, &scope, &key, &hash, now);
            apply(svc, caller, claim, &code, &order, None, now).await
        }
        RedeemTarget::Reservation(id) => {
            let key = idempotency_key(key).map_err(Invalid::from)?;
            check_redemption_channel(svc, caller, id).await?;
            let hash = request_hash(&json!(["redeem-reservation", id]));
            let claim = claim(svc, &scope, &key, &hash, now);
            let claim = claim.as_ref();
            let actor = &caller.actor();
            Ok(svc
                .db
                .write(async move |mut c| {
                    if let Some(early) = claim_key(&mut c, Some(claim), now).await? {
                        return Ok(early);
                    }
                    let outcome = match steps::lock_use(&mut c, id, now).await? {
                        None => CheckoutOutcome::NotFound,
                        Some(locked) => match check_redeemable(&locked.current) {
                            Err(refusal) => refusal.into(),
                            Ok(()) => {
                                let coupon = &locked.coupon;
                                let cap = coupon.spec.max_redemptions.get();
                                let marks = usage_marks(coupon.redemption_count, cap);
                                let redeemed =
                                    steps::redeem_locked(&mut c, &locked, &marks, actor, now)
                                        .await?;
                                CheckoutOutcome::Applied(Box::new(redeemed))
                            }
                        },
                    };
                    remember(&mut c, Some(claim), &outcome).await?;
                    Ok(Idempotent::Fresh(outcome))
                })
                .await?)
        }
    }
}

/// Refuses a channel-scoped key a reservation or redemption made on another channel.
async fn check_redemption_channel(
    svc: &Services,
    caller: &Caller,
    id: i64,
) -> Result<(), ServiceError> {
    if caller.channels.is_empty() {
        return Ok(());
    }
    match redemption(svc, id).await? {
        Some(r) => caller.check_channel(r.channel.as_deref()),
        None => Ok(()),
    }
}

/// Gives a reservation's use back (idempotent by nature).
pub async fn release(
    svc: &Services,
    caller: &Caller,
    reservation_id: i64,
) -> Result<CheckoutOutcome, ServiceError> {
    check_redemption_channel(svc, caller, reservation_id).await?;
    let now = Utc::now();
    let actor = &caller.actor();
    Ok(svc
        .db
        .write(async move |mut c| {
            let Some(locked) = steps::lock_use(&mut c, reservation_id, now).await? else {
                return Ok(CheckoutOutcome::NotFound);
            };
            Ok(match check_releasable(&locked.current) {
                Err(refusal) => refusal.into(),
                Ok(false) => CheckoutOutcome::Applied(Box::new(locked.current.clone())),
                Ok(true) => {
                    let released = steps::release_locked(&mut c, &locked, actor, now).await?;
                    CheckoutOutcome::Applied(Box::new(released))
                }
            })
        })
        .await?)
}

/// Refunds all (no amount) or part of a redemption's discount.
pub async fn reverse(
    svc: &Services,
    caller: &Caller,
    redemption_id: i64,
    refund: RefundOf,
    key: &str,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let mut e = Collector::default();
    let key = e.take(idempotency_key(key));
    match refund {
        RefundOf::Amount(r) if r <= Decimal::ZERO => e.push(FieldError::new(
            Field::RefundedDiscount,
            Problem::AmountNotPositive,
        )),
        RefundOf::Line(line) if line < 0 => e.push(FieldError::new(
            Field::RefundLine,
            Problem::OutOfRange {
                min: 0,
                max: coupons_domain::order::ITEMS_MAX as u64,
            },
        )),
        RefundOf::Both => e.push(FieldError::new(
            Field::RefundLine,
            Problem::Exclusive("give refundedDiscount or line, not both"),
        )),
        _ => {}
    }
    e.finish()?;
    let Some(key) = key else {
        return Err(Invalid(Vec::new()).into());
    };
    check_redemption_channel(svc, caller, redemption_id).await?;
    let now = Utc::now();
    let hash = request_hash(&json!([
        "reverse",
        redemption_id,
        match refund {
            RefundOf::Amount(r) => json!(r.normalize().to_string()),
            RefundOf::Line(line) => json!({ "line": line }),
            RefundOf::Rest | RefundOf::Both => serde_json::Value::Null,
        }
    ]));
    let scope = format!("reverse:{}", caller.scope());
    let claim = claim(svc, &scope, &key, &hash, now);
    let claim = claim.as_ref();
    let actor = &caller.actor();
    Ok(svc
        .db
        .write(async move |mut c| {
            if let Some(early) = claim_key(&mut c, Some(claim), now).await? {
                return Ok(early);
            }
            let outcome = match steps::lock_use(&mut c, redemption_id, now).await? {
                None => CheckoutOutcome::NotFound,
                Some(locked) => {
                    let policy = locked.coupon.spec.reversal_policy;
                    let plan = match refund {
                        RefundOf::Line(line) => plan_line_refund(
                            &locked.current,
                            u32::try_from(line).unwrap_or(u32::MAX),
                            policy,
                        ),
                        RefundOf::Amount(r) => {
                            plan_refund(&locked.current, locked.currency, Some(r), policy)
                        }
                        RefundOf::Rest | RefundOf::Both => {
                            plan_refund(&locked.current, locked.currency, None, policy)
                        }
                    };
                    match plan {
                        Err(refusal) => refusal.into(),
                        Ok(plan) => {
                            let reversed =
                                steps::refund_locked(&mut c, &locked, plan, actor, now).await?;
                            CheckoutOutcome::Applied(Box::new(reversed))
                        }
                    }
                }
            };
            remember(&mut c, Some(claim), &outcome).await?;
            Ok(Idempotent::Fresh(outcome))
        })
        .await?)
}

/// What a reversal refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundOf {
    /// All of the discount not yet refunded.
    Rest,
    /// This amount, in the redemption's currency.
    Amount(Decimal),
    /// One line's share of a line discount (the line's position in the order).
    Line(i64),
    /// Both an amount and a line were given: refused.
    Both,
}

impl RefundOf {
    /// The refund a caller asked for with an optional amount and an optional line.
    pub fn from_parts(amount: Option<Decimal>, line: Option<i32>) -> Self {
        match (amount, line) {
            (None, None) => Self::Rest,
            (Some(a), None) => Self::Amount(a),
            (None, Some(l)) => Self::Line(i64::from(l)),
            (Some(_), Some(_)) => Self::Both,
        }
    }
}

/// An owned idempotency claim.
pub(super) struct Claim {
    scope: String,
    key: String,
    hash: String,
    expires_at: DateTime<Utc>,
}

impl Claim {
    pub(super) fn as_ref(&self) -> IdempotencyClaim<'_> {
        IdempotencyClaim {
            scope: &self.scope,
            key: &self.key,
            request_hash: &self.hash,
            expires_at: self.expires_at,
        }
    }
}

pub(super) fn claim(
    svc: &Services,
    scope: &str,
    key: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Claim {
    Claim {
        scope: scope.to_owned(),
        key: key.to_owned(),
        hash: hash.to_owned(),
        expires_at: now + svc.checkout.idempotency_retention,
    }
}

async fn apply(
    svc: &Services,
    caller: &Caller,
    claim: Claim,
    code: &str,
    order: &Order,
    hold_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Idempotent<CheckoutOutcome>, ServiceError> {
    let started = tokio::time::Instant::now();
    let Admitted {
        attempt,
        customer_key,
    } = admit(svc, caller, order).await?;
    let Ok(code) = CouponCode::parse(code) else {
        // Cannot be a code, so cannot exist: nothing to store.
        settle(svc, caller, attempt, true).await?;
        pad_failed_guess(svc, caller, started).await;
        return Ok(Idempotent::Fresh(CheckoutOutcome::Rejected(vec![
            Rejection::NotFound,
        ])));
    };
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
    let code = &code;
    let result = svc
        .db
        .write(async move |mut c| {
            if let Some(early) = claim_key(&mut c, Some(claim), now).await? {
                return Ok(early);
            }
            let outcome = match steps::lock_code(&mut c, terms, code, now).await? {
                None => CheckoutOutcome::Rejected(vec![Rejection::NotFound]),
                Some((locked, expired)) => {
                    steps::lock_order(&mut c, &new.order.id).await?;
                    let snapshot = steps::load_snapshot(
                        &mut c,
                        &locked,
                        &expired,
                        new.order,
                        new.customer_key,
                        now,
                    )
                    .await?;
                    match decide(&snapshot, new.order, rules, now) {
                        Err(reasons) => CheckoutOutcome::Rejected(reasons),
                        Ok(discount) => {
                            let coupon = &snapshot.found.coupon;
                            let marks = match new.hold_until {
                                Some(_) => Vec::new(),
                                None => usage_marks(
                                    coupon.redemption_count,
                                    coupon.spec.max_redemptions.get(),
                                ),
                            };
                            let redemption = steps::record_use(
                                &mut c, &locked, new, &discount, &marks, actor, now,
                            )
                            .await?;
                            CheckoutOutcome::Applied(Box::new(redemption))
                        }
                    }
                }
            };
            remember(&mut c, Some(claim), &outcome).await?;
            Ok(Idempotent::Fresh(outcome))
        })
        .await
        .map_err(ServiceError::from);
    let guessed_wrong = matches!(
        &result,
        Ok(Idempotent::Fresh(CheckoutOutcome::Rejected(reasons))) if is_failed_guess(reasons)
    );
    settle(svc, caller, attempt, guessed_wrong).await?;
    if guessed_wrong {
        pad_failed_guess(svc, caller, started).await;
    }
    result
}

/// A reservation or redemption by id.
pub async fn redemption(svc: &Services, id: i64) -> Result<Option<Redemption>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| redemptions::redemption(&mut c, id).await)
        .await?)
}

/// Reservations and redemptions matching `filter`, newest first, with ids below
/// `before`.
pub async fn list_redemptions(
    svc: &Services,
    filter: &RedemptionFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Redemption>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| redemptions::list_redemptions(&mut c, filter, before, limit).await)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_keys_are_keyed_and_stable() {
        let a = customer_key(b"secret-a", "email:ann@example.com");
        assert_eq!(a, customer_key(b"secret-a", "email:ann@example.com"));
        assert_ne!(a, customer_key(b"secret-b", "email:ann@example.com"));
        assert_ne!(a, customer_key(b"secret-a", "email:bob@example.com"));
        assert!(!a.contains("ann"));
        assert_eq!(a.len(), 64);
    }
}
