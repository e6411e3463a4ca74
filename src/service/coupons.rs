//! Coupon administration: create, change, change status, delete, add codes, read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use coupons_domain::defaults::{CodeFormat, DiscountType};
use coupons_domain::{
    Collector, Coupon, CouponCode, CouponDraft, CouponId, CouponPatch, CouponSpec, Field,
    FieldError, Invalid, LifecycleStatus, Limit, MoneyInput, Problem, RuleBinding,
};
use rust_decimal::Decimal;

use super::{Caller, ServiceError, Services};
use crate::rules::Rules;
use crate::storage::coupons as steps;
use crate::storage::{AuditAction, CouponFilter, DeleteOutcome, StorageError, StoredCode};
use crate::storage::{attempts, redemptions};

/// Most codes accepted by one `add_codes` call.
pub const ADD_CODES_MAX: usize = 1000;

/// A new coupon as a caller asks for it.
#[derive(Debug, Clone)]
pub struct NewCoupon {
    /// The definition, unvalidated.
    pub draft: CouponDraft,
    /// The first code, if any.
    pub code: Option<String>,
    /// DRAFT or ACTIVE.
    pub status: LifecycleStatus,
    /// A discount given as a bare value, read as the default discount type says.
    pub discount_value: Option<Decimal>,
    /// Whether the caller left out the per-customer limit (the default applies).
    pub per_customer_limit_omitted: bool,
    /// Whether the caller left out the rules (the default e-mail domains apply).
    pub rules_omitted: bool,
}

/// What a coupon created without some fields gets (see the README's configuration).
#[derive(Debug, Clone, Default)]
pub struct CouponDefaults {
    /// Days until a coupon created without an end expires; `None` for never.
    pub expiration_days: Option<u32>,
    /// How a code is made up for a coupon created without one.
    pub code_format: CodeFormat,
    /// The per-customer limit of a coupon created without one.
    pub per_customer_limit: Option<u32>,
    /// How a discount given as a bare `value` is read.
    pub discount_type: DiscountType,
    /// The currency of a fixed amount given as a bare `value`.
    pub currency: Option<String>,
    /// E-mail domains a coupon created without rules is limited to (through the
    /// `allowed_email_domains` rule); empty for none.
    pub allowed_email_domains: Vec<String>,
}

impl CouponDefaults {
    /// Fills what the caller left out of `input`.
    fn apply(&self, input: &mut NewCoupon) -> Result<(), Invalid> {
        let draft = &mut input.draft;
        if let Some(value) = input.discount_value {
            let prices = &mut draft.prices;
            if prices.percentage.is_some() || !prices.amounts.is_empty() {
                return Err(
                    FieldError::new(Field::Discount, Problem::DiscountKindAmbiguous).into(),
                );
            }
            match self.discount_type {
                DiscountType::Percentage => prices.percentage = Some(value),
                DiscountType::FixedAmount => {
                    prices.amounts.one = Some(MoneyInput {
                        amount: value,
                        currency: self.currency.clone().unwrap_or_default(),
                    });
                }
            }
        }
        if input.per_customer_limit_omitted && draft.per_customer_limit.is_none() {
            draft.per_customer_limit = self.per_customer_limit.map(i64::from);
        }
        if input.rules_omitted && draft.rules.is_empty() && !self.allowed_email_domains.is_empty() {
            draft.rules.push((
                ALLOWED_EMAIL_DOMAINS.to_owned(),
                serde_json::json!({ "domains": self.allowed_email_domains }),
            ));
        }
        Ok(())
    }
}

/// The shipped rule the default e-mail domains bind.
pub const ALLOWED_EMAIL_DOMAINS: &str = "allowed_email_domains";

/// Tries at making up a free code before giving up.
const CODE_TRIES: usize = 5;

/// Creates a coupon and, if given, its first code. Nothing is written unless all of the
/// input is valid and the code is free.
pub async fn create_coupon(
    svc: &Services,
    caller: &Caller,
    mut input: NewCoupon,
) -> Result<Coupon, ServiceError> {
    let now = Utc::now();
    let defaults = &svc.coupon_defaults;
    defaults.apply(&mut input)?;
    if input.draft.automatic {
        if input.code.is_some() {
            return Err(FieldError::new(
                Field::Code,
                Problem::Exclusive("an automatic coupon has no code"),
            )
            .into());
        }
    } else if input.code.is_none() {
        input.code = made_up_code(svc).await?;
    }
    let spec = CouponSpec::from_draft(input.draft, now, defaults.expiration_days);
    let code = input
        .code
        .as_deref()
        .map(|raw| CouponCode::parse(raw).map_err(|e| FieldError::new(Field::Code, e)))
        .transpose();
    let (spec, code) = match (spec, code) {
        (Ok(spec), Ok(code)) => (spec, code),
        (spec, code) => {
            let mut errors = spec.err().map(|i| i.0).unwrap_or_default();
            errors.extend(code.err());
            return Err(Invalid(errors).into());
        }
    };
    check_bindings(svc, &spec.rules)?;
    let codes: Vec<CouponCode> = code.into_iter().collect();
    ensure_codes_free(svc, &codes, |_| Field::Code).await?;
    let (actor, status) = (&caller.actor(), input.status);
    let (spec, new_codes) = (&spec, codes.as_slice());
    let created = svc
        .db
        .write(async move |mut c| {
            steps::insert_coupon(&mut c, spec, status, new_codes, Limit::NONE, actor, now).await
        })
        .await;
    match created {
        Err(e @ StorageError::UniqueViolation(_)) => {
            Err(taken_after_conflict(svc, &codes, |_| Field::Code, e).await)
        }
        other => Ok(other?),
    }
}

/// A free code in the configured format, or `None` when the format makes none up.
async fn made_up_code(svc: &Services) -> Result<Option<String>, ServiceError> {
    use rand::Rng;
    for _ in 0..CODE_TRIES {
        let Some(code) = svc
            .coupon_defaults
            .code_format
            .generate(|n| rand::rng().random_range(0..n))
        else {
            return Ok(None);
        };
        let parsed = CouponCode::parse(&code).map_err(|e| FieldError::new(Field::Code, e))?;
        let wanted = std::slice::from_ref(&parsed);
        let taken = svc
            .db
            .read(async move |mut c| steps::taken_codes(&mut c, wanted).await)
            .await?;
        if taken.is_empty() {
            return Ok(Some(code));
        }
    }
    Err(FieldError::new(
        Field::Code,
        Problem::PatternTooSmall("no free code found in the configured code format".into()),
    )
    .into())
}

/// Checks that every bound rule exists and accepts its parameters.
fn check_bindings(svc: &Services, bindings: &[RuleBinding]) -> Result<(), Invalid> {
    let mut e = Collector::default();
    for (i, binding) in bindings.iter().enumerate() {
        match svc.rules.get(&binding.name) {
            None => e.push(FieldError::new(
                Field::RuleAt(i),
                Problem::UnknownRule(binding.name.clone()),
            )),
            Some(rule) => {
                if let Err(message) = Rules::check_params(&rule, &binding.params) {
                    e.push(FieldError::new(
                        Field::RuleAt(i),
                        Problem::RuleParamsRejected(message),
                    ));
                }
            }
        }
    }
    e.finish()
}

/// Changes a coupon's definition; the result is validated as a whole. With `version`
/// (the `updated_at` the caller read, in microseconds), refuses with
/// [`ServiceError::Stale`] if the coupon changed since.
pub async fn update_coupon(
    svc: &Services,
    caller: &Caller,
    id: CouponId,
    patch: CouponPatch,
    version: Option<i64>,
) -> Result<Coupon, ServiceError> {
    let rebinds = patch.rules.is_some();
    change_coupon(
        svc,
        caller,
        id,
        AuditAction::CouponUpdated,
        |current: &Coupon| {
            if version.is_some_and(|v| v != current.updated_at.timestamp_micros()) {
                return Err(ServiceError::Stale);
            }
            let spec = current.spec.patched(patch)?;
            // Existing bindings stay valid even if a rule was since removed; new ones
            // must name loaded rules.
            if rebinds {
                check_bindings(svc, &spec.rules)?;
            }
            Ok((spec, current.lifecycle))
        },
    )
    .await
}

/// Reads, changes and writes a coupon in one transaction, with the row locked from
/// the start. `change` sees the current coupon and returns the new definition and
/// status, or refuses: then the transaction rolls back (the lock's own write too).
async fn change_coupon(
    svc: &Services,
    caller: &Caller,
    id: CouponId,
    action: AuditAction,
    change: impl FnOnce(&Coupon) -> Result<(CouponSpec, LifecycleStatus), ServiceError> + Send,
) -> Result<Coupon, ServiceError> {
    let now = Utc::now();
    let actor = &caller.actor();
    svc.db
        .try_write(async move |mut c| {
            let locked = steps::lock_for_change(&mut c, id)
                .await?
                .ok_or(ServiceError::CouponNotFound)?;
            let (spec, status) = change(&locked.coupon)?;
            let changed =
                steps::change_coupon(&mut c, &locked, &spec, status, action, actor, now).await?;
            Ok::<_, ServiceError>(changed)
        })
        .await
}

/// Moves a coupon through its lifecycle (see [`LifecycleStatus::transition`]).
pub async fn set_coupon_status(
    svc: &Services,
    caller: &Caller,
    id: CouponId,
    status: LifecycleStatus,
) -> Result<Coupon, ServiceError> {
    change_coupon(
        svc,
        caller,
        id,
        AuditAction::CouponStatusChanged,
        |current: &Coupon| {
            current
                .lifecycle
                .transition(status)
                .map(|s| (current.spec.clone(), s))
                .map_err(|p| Invalid::from(FieldError::new(Field::Status, p)).into())
        },
    )
    .await
}

/// Deletes a coupon that has never been used.
pub async fn delete_coupon(
    svc: &Services,
    caller: &Caller,
    id: CouponId,
) -> Result<(), ServiceError> {
    let (actor, now) = (&caller.actor(), Utc::now());
    let deleted = svc
        .db
        .write(async move |mut c| steps::delete_coupon(&mut c, id, actor, now).await)
        .await?;
    match deleted {
        DeleteOutcome::Deleted => Ok(()),
        DeleteOutcome::NotFound => Err(ServiceError::CouponNotFound),
        DeleteOutcome::HasRedemptions => Err(ServiceError::CouponHasRedemptions),
    }
}

/// Adds up to [`ADD_CODES_MAX`] codes to a coupon, all or none.
pub async fn add_codes(
    svc: &Services,
    caller: &Caller,
    id: CouponId,
    raw_codes: &[String],
    usage_limit: Option<i64>,
) -> Result<(Coupon, Vec<StoredCode>), ServiceError> {
    let mut e = Collector::default();
    if raw_codes.is_empty() {
        e.push(FieldError::new(Field::Codes, Problem::TooFew { min: 1 }));
    }
    if raw_codes.len() > ADD_CODES_MAX {
        e.push(FieldError::new(
            Field::Codes,
            Problem::TooMany { max: ADD_CODES_MAX },
        ));
    }
    let limit = e.take(Limit::new(usage_limit, Field::UsageLimit));
    let mut seen = HashSet::new();
    let mut codes = Vec::with_capacity(raw_codes.len());
    for (i, raw) in raw_codes.iter().enumerate() {
        if let Some(code) =
            e.take(CouponCode::parse(raw).map_err(|err| FieldError::new(Field::CodeAt(i), err)))
        {
            if seen.insert(code.clone()) {
                codes.push(code);
            } else {
                e.push(FieldError::new(
                    Field::CodeAt(i),
                    Problem::DuplicateInRequest(code.to_string()),
                ));
            }
        }
    }
    e.finish()?;
    let limit = limit.unwrap_or(Limit::NONE);
    let field_of = |code: &CouponCode| Field::CodeAt(index_of(raw_codes, code));
    ensure_codes_free(svc, &codes, field_of).await?;
    let (actor, now, new_codes) = (&caller.actor(), Utc::now(), codes.as_slice());
    let added = svc
        .db
        .write(async move |mut c| steps::add_codes(&mut c, id, new_codes, limit, actor, now).await)
        .await;
    let added = match added {
        Err(e @ StorageError::UniqueViolation(_)) => {
            return Err(taken_after_conflict(svc, &codes, field_of, e).await);
        }
        other => other?.ok_or(ServiceError::CouponNotFound)?,
    };
    let coupon = svc
        .db
        .read(async move |mut c| steps::coupon(&mut c, id).await)
        .await?
        .ok_or(ServiceError::CouponNotFound)?;
    Ok((coupon, added))
}

fn index_of(raw: &[String], code: &CouponCode) -> usize {
    raw.iter()
        .position(|r| CouponCode::parse(r).is_ok_and(|c| &c == code))
        .unwrap_or(0)
}

/// Reports codes that already exist, before any write. This is for a complete, friendly
/// report; the unique index is the guarantee (see [`taken_after_conflict`]).
async fn ensure_codes_free(
    svc: &Services,
    codes: &[CouponCode],
    field_of: impl Fn(&CouponCode) -> Field,
) -> Result<(), ServiceError> {
    let errors = taken_field_errors(svc, codes, field_of).await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid(errors).into())
    }
}

/// After a unique violation (a concurrent writer took a code between the check and the
/// insert): names the codes now taken, or passes the violation on if none is.
async fn taken_after_conflict(
    svc: &Services,
    codes: &[CouponCode],
    field_of: impl Fn(&CouponCode) -> Field,
    conflict: StorageError,
) -> ServiceError {
    match taken_field_errors(svc, codes, field_of).await {
        Ok(errors) if !errors.is_empty() => Invalid(errors).into(),
        Ok(_) => conflict.into(),
        Err(e) => e.into(),
    }
}

async fn taken_field_errors(
    svc: &Services,
    codes: &[CouponCode],
    field_of: impl Fn(&CouponCode) -> Field,
) -> Result<Vec<FieldError>, StorageError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let taken = svc
        .db
        .read(async move |mut c| steps::taken_codes(&mut c, codes).await)
        .await?;
    Ok(codes
        .iter()
        .filter(|c| taken.iter().any(|t| t == c.as_str()))
        .map(|c| FieldError::new(field_of(c), Problem::CodeTaken(c.to_string())))
        .collect())
}

/// A coupon by id.
pub async fn coupon(svc: &Services, id: CouponId) -> Result<Option<Coupon>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::coupon(&mut c, id).await)
        .await?)
}

/// The coupon a code points at, matched case-insensitively. A string that cannot be a
/// code finds nothing.
pub async fn coupon_by_code(svc: &Services, raw: &str) -> Result<Option<Coupon>, ServiceError> {
    match CouponCode::parse(raw) {
        Ok(code) => {
            let code = &code;
            Ok(svc
                .db
                .read(async move |mut c| steps::coupon_by_code(&mut c, code).await)
                .await?)
        }
        Err(_) => Ok(None),
    }
}

/// A page of coupons, newest first.
pub async fn list_coupons(
    svc: &Services,
    filter: &CouponFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Coupon>, DateTime<Utc>), ServiceError> {
    let now = Utc::now();
    let coupons = svc
        .db
        .read(async move |mut c| steps::list_coupons(&mut c, filter, now, before, limit).await)
        .await?;
    Ok((coupons, now))
}

/// A code by row id.
pub async fn code(svc: &Services, id: i64) -> Result<Option<StoredCode>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::code(&mut c, id).await)
        .await?)
}

/// A coupon's codes in id order, after `after`.
pub async fn codes(
    svc: &Services,
    coupon: CouponId,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredCode>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::codes(&mut c, coupon, after, limit).await)
        .await?)
}

/// The first code of each coupon, by coupon id (for the first-code loader).
pub async fn first_codes(
    svc: &Services,
    coupons: &[i64],
) -> Result<std::collections::HashMap<i64, String>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| steps::first_codes(&mut c, coupons).await)
        .await?)
}

/// The discount a coupon has granted, per currency (currency code, minor units), less
/// refunds.
pub async fn total_discounts(
    svc: &Services,
    id: CouponId,
) -> Result<Vec<(String, i64)>, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| redemptions::total_discounts(&mut c, id.0).await)
        .await?)
}

/// How often a coupon's codes were validated.
pub async fn validation_attempts(svc: &Services, id: CouponId) -> Result<i64, ServiceError> {
    Ok(svc
        .db
        .read(async move |mut c| attempts::validation_attempts(&mut c, id.0).await)
        .await?)
}

/// The coupons with these ids, in one read (for the coupon loader); ids with no coupon
/// are left out.
pub async fn coupons_by_ids(svc: &Services, ids: &[CouponId]) -> Result<Vec<Coupon>, ServiceError> {
    Ok(svc
        .db
        .read(async |mut c| crate::storage::lookups::coupons_by_ids(&mut c, ids).await)
        .await?)
}
