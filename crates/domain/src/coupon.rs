//! Coupons: the discount definition, its validity window, limits and lifecycle.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::discount::{Discount, Percentage};
use crate::error::{Collector, Field, FieldError, Invalid, Problem};
use crate::priced::{MoneyGiven, Prices, PricesDraft};
use crate::stacking::Stacking;
use crate::target::{DiscountClass, Target};

/// Longest coupon name.
pub const NAME_MAX: usize = 200;
/// Longest description.
pub const DESCRIPTION_MAX: usize = 2000;
/// Most channels one coupon may list.
pub const CHANNELS_MAX: usize = 50;
/// Most rule bindings one coupon may carry.
pub const RULES_MAX: usize = 32;
/// Largest metadata object, serialised.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

/// A coupon's storage identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CouponId(pub i64);

/// The status an admin sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleStatus {
    /// Being prepared; not usable.
    Draft,
    /// Usable within its window and limits.
    Active,
    /// Temporarily not usable.
    Paused,
    /// Retired for good; kept for history.
    Archived,
}

impl LifecycleStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Archived => "ARCHIVED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "DRAFT" => Self::Draft,
            "ACTIVE" => Self::Active,
            "PAUSED" => Self::Paused,
            "ARCHIVED" => Self::Archived,
            _ => return None,
        })
    }

    /// Checks a change of status. Setting the current status again is allowed.
    ///
    /// DRAFT → ACTIVE | ARCHIVED; ACTIVE ⇄ PAUSED; ACTIVE | PAUSED → ARCHIVED;
    /// ARCHIVED is final.
    pub fn transition(self, to: Self) -> Result<Self, Problem> {
        use LifecycleStatus::{Active, Archived, Draft, Paused};
        let allowed = self == to
            || matches!(
                (self, to),
                (Draft, Active | Archived)
                    | (Active, Paused | Archived)
                    | (Paused, Active | Archived)
            );
        if allowed {
            Ok(to)
        } else {
            Err(Problem::InvalidTransition {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

/// The status a caller sees: the lifecycle status, refined for active coupons by time
/// and usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CouponStatus {
    /// See [`LifecycleStatus::Draft`].
    Draft,
    /// Active, inside its window, with capacity left.
    Active,
    /// See [`LifecycleStatus::Paused`].
    Paused,
    /// See [`LifecycleStatus::Archived`].
    Archived,
    /// Active, but its window has not started.
    Scheduled,
    /// Active, but its window has ended.
    Expired,
    /// Active, but every allowed redemption is used.
    Exhausted,
}

/// When a coupon may be used: `[starts_at, expires_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant of validity.
    pub starts_at: DateTime<Utc>,
    /// First instant of invalidity; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Window {
    /// Validates `starts_at < expires_at`. Instants are kept to the microsecond, the
    /// finest precision every supported database stores.
    pub fn new(
        starts_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self, FieldError> {
        let starts_at = starts_at.trunc_subsecs(6);
        let expires_at = expires_at.map(|e| e.trunc_subsecs(6));
        if expires_at.is_some_and(|e| e <= starts_at) {
            return Err(FieldError::new(Field::ExpiresAt, Problem::WindowInverted));
        }
        Ok(Self {
            starts_at,
            expires_at,
        })
    }

    /// Whether `now` is before the window.
    pub fn not_started(&self, now: DateTime<Utc>) -> bool {
        now < self.starts_at
    }

    /// Whether `now` is at or after the end of the window.
    pub fn ended(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

/// Where a coupon's calendar dates are read and its instants shown: an IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// UTC, for coupons without a zone.
    pub const UTC: Self = Self(chrono_tz::UTC);

    /// Reads an IANA name such as `Europe/Berlin`.
    pub fn parse(name: &str) -> Result<Self, Problem> {
        name.trim()
            .parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| Problem::UnknownTimeZone(name.trim().to_owned()))
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The first instant of `day` in this zone: local midnight, or the first local time
    /// after it when a clock change skips midnight.
    pub fn start_of(self, day: chrono::NaiveDate) -> DateTime<Utc> {
        use chrono::TimeZone as _;
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        (0..=180)
            .find_map(|m| {
                self.0
                    .from_local_datetime(&(midnight + Duration::minutes(m)))
                    .earliest()
            })
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// `t` as RFC 3339 with this zone's offset at that instant.
    pub fn show(self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

/// Records that a window's start or end was given both as a day and as an instant.
fn days_or_instants(e: &mut Collector, both_starts: bool, both_ends: bool) {
    if both_starts {
        e.push(FieldError::new(
            Field::StartsAt,
            Problem::Exclusive("give startsAt or startsOn, not both"),
        ));
    }
    if both_ends {
        e.push(FieldError::new(
            Field::ExpiresAt,
            Problem::Exclusive("give expiresAt or endsOn, not both"),
        ));
    }
}

/// Validates a coupon's cap on the order's line and order discounts: a percentage, on
/// a coupon that gives one of those.
fn check_order_cap(
    cap: Option<Decimal>,
    target: &Target,
) -> Result<Option<Percentage>, FieldError> {
    let Some(cap) = cap else { return Ok(None) };
    let percent =
        Percentage::new(cap).map_err(|p| FieldError::new(Field::MaxOrderDiscountPercent, p))?;
    if target.class() == DiscountClass::Shipping {
        return Err(FieldError::new(
            Field::MaxOrderDiscountPercent,
            Problem::Exclusive(
                "maxOrderDiscountPercent caps line and order discounts, not shipping",
            ),
        ));
    }
    Ok(Some(percent))
}

/// How the end of the window was given at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Not given: apply the configured default expiry, if any.
    Default,
    /// Explicitly none: never expires.
    Never,
    /// At this instant.
    At(DateTime<Utc>),
}

impl Expiry {
    fn resolve(self, starts_at: DateTime<Utc>, default_days: Option<u32>) -> Option<DateTime<Utc>> {
        match self {
            Self::Default => default_days.map(|d| starts_at + Duration::days(i64::from(d))),
            Self::Never => None,
            Self::At(at) => Some(at),
        }
    }
}

/// An optional positive limit (a cap on uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u32>);

impl Limit {
    /// No limit.
    pub const NONE: Self = Self(None);

    /// Validates `n >= 1` when set.
    pub fn new(n: Option<i64>, field: Field) -> Result<Self, FieldError> {
        match n {
            None => Ok(Self(None)),
            Some(n) if n >= 1 => u32::try_from(n)
                .map(|n| Self(Some(n)))
                .map_err(|_| FieldError::new(field, Problem::LimitTooSmall)),
            Some(_) => Err(FieldError::new(field, Problem::LimitTooSmall)),
        }
    }

    /// The limit, if any.
    pub fn get(self) -> Option<u32> {
        self.0
    }
}

/// The sales channels a coupon is limited to; empty means every channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Channels(Vec<String>);

impl Channels {
    /// Normalises (trim, lower case, de-duplicate, keep order) and validates.
    pub fn new(raw: &[String]) -> Result<Self, Invalid> {
        if raw.len() > CHANNELS_MAX {
            return Err(
                FieldError::new(Field::Channels, Problem::TooMany { max: CHANNELS_MAX }).into(),
            );
        }
        let mut errors = Collector::default();
        let mut out: Vec<String> = Vec::with_capacity(raw.len());
        for (i, c) in raw.iter().enumerate() {
            let c = c.trim().to_ascii_lowercase();
            let ok = (1..=64).contains(&c.len())
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                errors.push(FieldError::new(
                    Field::ChannelAt(i),
                    Problem::InvalidChannel,
                ));
            } else if !out.contains(&c) {
                out.push(c);
            }
        }
        errors.finish()?;
        Ok(Self(out))
    }

    /// The channel names.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Free-form JSON object attached to a coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata(Value);

impl Default for Metadata {
    fn default() -> Self {
        Self(Value::Object(serde_json::Map::new()))
    }
}

impl Metadata {
    /// Validates: a JSON object (null means empty) of bounded size.
    pub fn new(value: Value) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::new(
                Field::Metadata,
                Problem::InvalidMetadata {
                    max_bytes: METADATA_MAX_BYTES,
                },
            )
        };
        match value {
            Value::Null => Ok(Self::default()),
            Value::Object(_) if value.to_string().len() <= METADATA_MAX_BYTES => Ok(Self(value)),
            _ => Err(bad()),
        }
    }

    /// The JSON object.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

/// What a full reversal does to the use it had taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReversalPolicy {
    /// The use comes back: caps and per-customer limits count it no more.
    #[default]
    RestoreUsage,
    /// The use stays counted (a refunded order still "used" the coupon).
    KeepUsage,
}

impl ReversalPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RestoreUsage => "RESTORE_USAGE",
            Self::KeepUsage => "KEEP_USAGE",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESTORE_USAGE" => Some(Self::RestoreUsage),
            "KEEP_USAGE" => Some(Self::KeepUsage),
            _ => None,
        }
    }
}

/// A rule the coupon applies, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleBinding {
    /// The rule's name (`allowed_email_domains`).
    pub name: String,
    /// The parameters, a JSON object.
    pub params: Value,
}

impl RuleBinding {
    /// Validates the shape of one binding.
    pub fn new(name: &str, params: Value, index: usize) -> Result<Self, Invalid> {
        let mut errors = Collector::default();
        let name = name.trim();
        let name_ok = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            errors.push(FieldError::new(
                Field::RuleAt(index),
                Problem::InvalidRuleName,
            ));
        }
        let params = match params {
            Value::Null => Value::Object(serde_json::Map::new()),
            p @ Value::Object(_) => p,
            _ => {
                errors.push(FieldError::new(
                    Field::RuleAt(index),
                    Problem::InvalidRuleParams,
                ));
                Value::Null
            }
        };
        errors.finish()?;
        Ok(Self {
            name: name.to_owned(),
            params,
        })
    }

    /// Validates a list of bindings.
    pub fn list(raw: Vec<(String, Value)>) -> Result<Vec<Self>, Invalid> {
        if raw.len() > RULES_MAX {
            return Err(FieldError::new(Field::Rules, Problem::TooMany { max: RULES_MAX }).into());
        }
        let mut errors = Collector::default();
        let out: Vec<_> = raw
            .into_iter()
            .enumerate()
            .filter_map(|(i, (name, params))| errors.take_all(Self::new(&name, params, i)))
            .collect();
        errors.finish()?;
        Ok(out)
    }
}

/// Validates a required, bounded line of text.
pub fn required_text(raw: &str, max: usize, field: Field) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, Problem::Blank));
    }
    optional_text(t, max, field)
}

/// Validates optional bounded text (surrounding white space removed).
pub fn optional_text(raw: &str, max: usize, field: Field) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(FieldError::new(field, Problem::TooLong { max }));
    }
    Ok(t.to_owned())
}

/// Everything an admin defines about a coupon, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponSpec {
    /// Display name.
    pub name: String,
    /// Optional longer text.
    pub description: Option<String>,
    /// What it takes off, its cap, minimum subtotal and per-customer cap, in each
    /// currency it is offered in.
    pub prices: Prices,
    /// When it may be used.
    pub window: Window,
    /// Cap over all codes.
    pub max_redemptions: Limit,
    /// Cap per customer.
    pub per_customer_limit: Limit,
    /// Channels it is limited to.
    pub channels: Channels,
    /// Rules it applies.
    pub rules: Vec<RuleBinding>,
    /// Free-form data.
    pub metadata: Metadata,
    /// Smallest number of items (the sum of line quantities) an order must have.
    pub min_items: Limit,
    /// What a full reversal does to the use.
    pub reversal_policy: ReversalPolicy,
    /// Which coupons it shares an order with, and its place among them.
    pub stacking: Stacking,
    /// What part of an order it discounts.
    pub target: Target,
    /// Whether it has no code and applies to every eligible cart by itself.
    pub automatic: bool,
    /// Where its dates are read and shown; `None`: UTC.
    pub time_zone: Option<TimeZone>,
    /// The most the order's line and order discounts may add up to, as a share of its
    /// subtotal, once this coupon has taken its discount (it gives up what it would
    /// take beyond); `None`: no cap of its own.
    pub max_order_discount: Option<Percentage>,
}

/// The name of the one code row of an automatic coupon: its redemptions go through it.
/// No typed code can match it (`#` is not a code character).
pub fn automatic_code(id: CouponId) -> String {
    format!("AUTO#{}", id.0)
}

impl CouponSpec {
    /// The class of discount it gives.
    pub fn class(&self) -> DiscountClass {
        self.target.class()
    }

    /// What it takes off in its main currency (the only one, for a percentage with
    /// no amounts).
    pub fn discount(&self) -> &Discount {
        &self.prices.main().discount
    }
}

/// The fields of a new coupon as a caller sends them, before validation.
#[derive(Debug, Clone, Default)]
pub struct CouponDraft {
    /// Display name.
    pub name: String,
    /// Optional longer text.
    pub description: Option<String>,
    /// The discount and every amount, per currency.
    pub prices: PricesDraft,
    /// Start; `None` for "now".
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    pub expires_at: Option<Expiry>,
    /// Cap over all codes.
    pub max_redemptions: Option<i64>,
    /// Cap per customer.
    pub per_customer_limit: Option<i64>,
    /// Channels.
    pub channels: Vec<String>,
    /// Rules as (name, parameters).
    pub rules: Vec<(String, Value)>,
    /// Free-form data.
    pub metadata: Value,
    /// Smallest number of items.
    pub min_items: Option<i64>,
    /// What a full reversal does to the use.
    pub reversal_policy: ReversalPolicy,
    /// The classes of discount it combines with (none: alone only).
    pub combines_with: Vec<DiscountClass>,
    /// Its place among the coupons of an order (higher first).
    pub priority: i32,
    /// What part of an order it discounts.
    pub target: Target,
    /// Whether it has no code and applies to every eligible cart by itself.
    pub automatic: bool,
    /// IANA time zone its dates are read in.
    pub time_zone: Option<String>,
    /// Its cap on the order's line and order discounts, percent of the subtotal.
    pub max_order_discount: Option<Decimal>,
    /// First day of validity, from local midnight (instead of `starts_at`).
    pub starts_on: Option<chrono::NaiveDate>,
    /// Last day of validity, to local midnight after it (instead of `expires_at`).
    pub ends_on: Option<chrono::NaiveDate>,
}

impl CouponSpec {
    /// Validates a draft, reporting every problem. `now` is the start when none is
    /// given; `default_expiration_days` applies when the end is not given.
    pub fn from_draft(
        draft: CouponDraft,
        now: DateTime<Utc>,
        default_expiration_days: Option<u32>,
    ) -> Result<Self, Invalid> {
        let mut e = Collector::default();
        let name = e.take(required_text(&draft.name, NAME_MAX, Field::Name));
        let description = match draft.description.as_deref() {
            Some(d) => e
                .take(optional_text(d, DESCRIPTION_MAX, Field::Description))
                .map(|d| Some(d).filter(|d| !d.is_empty())),
            None => Some(None),
        };
        let prices = e.take_all(Prices::from_draft(&draft.prices));
        let time_zone = match draft.time_zone.as_deref() {
            Some(z) => e
                .take(TimeZone::parse(z).map_err(|p| FieldError::new(Field::TimeZone, p)))
                .map(Some),
            None => Some(None),
        };
        let here = time_zone.flatten().unwrap_or(TimeZone::UTC);
        let expiry = draft.expires_at.unwrap_or(Expiry::Default);
        days_or_instants(
            &mut e,
            draft.starts_on.is_some() && draft.starts_at.is_some(),
            draft.ends_on.is_some() && expiry != Expiry::Default,
        );
        let starts_at = draft
            .starts_on
            .map(|d| here.start_of(d))
            .or(draft.starts_at)
            .unwrap_or(now);
        let expires_at = match draft.ends_on {
            Some(day) => Some(here.start_of(day.succ_opt().unwrap_or(day))),
            None => expiry.resolve(starts_at, default_expiration_days),
        };
        let window = e.take(Window::new(starts_at, expires_at));
        let max_redemptions = e.take(Limit::new(draft.max_redemptions, Field::MaxRedemptions));
        let per_customer_limit = e.take(Limit::new(
            draft.per_customer_limit,
            Field::PerCustomerLimit,
        ));
        let channels = e.take_all(Channels::new(&draft.channels));
        let rules = e.take_all(RuleBinding::list(draft.rules));
        let metadata = e.take(Metadata::new(draft.metadata));
        let min_items = e.take(Limit::new(draft.min_items, Field::MinItems));
        let target = match &prices {
            Some(p) => e.take_all(draft.target.check(&p.main().discount)),
            None => Some(Target::Order),
        };
        let max_order_discount = e.take(check_order_cap(
            draft.max_order_discount,
            target.as_ref().unwrap_or(&Target::Order),
        ));
        e.finish()?;
        // `finish` returned Ok, so every part was taken.
        let (
            Some(name),
            Some(description),
            Some(prices),
            Some(window),
            Some(max_redemptions),
            Some(per_customer_limit),
            Some(channels),
            Some(rules),
            Some(metadata),
            Some(min_items),
            Some(target),
            Some(time_zone),
            Some(max_order_discount),
        ) = (
            name,
            description,
            prices,
            window,
            max_redemptions,
            per_customer_limit,
            channels,
            rules,
            metadata,
            min_items,
            target,
            time_zone,
            max_order_discount,
        )
        else {
            return Err(FieldError::new(Field::Discount, Problem::DiscountKindAmbiguous).into());
        };
        Ok(Self {
            name,
            description,
            prices,
            window,
            max_redemptions,
            per_customer_limit,
            channels,
            rules,
            metadata,
            min_items,
            reversal_policy: draft.reversal_policy,
            stacking: Stacking::new(draft.combines_with, draft.priority),
            target,
            automatic: draft.automatic,
            time_zone,
            max_order_discount,
        })
    }
}

/// A discount as a caller sends it: exactly one of percentage and amounts.
#[derive(Debug, Clone, Default)]
pub struct DiscountParts {
    /// Percentage off.
    pub percentage: Option<Decimal>,
    /// Fixed amounts off, per currency.
    pub amounts: MoneyGiven,
    /// Caps of a percentage discount, per currency.
    pub max_discounts: MoneyGiven,
}

/// A change to a coupon's definition. `None` leaves a field as it is; for nullable
/// fields `Some(None)` clears it. A new term gets its field here and its line in
/// [`CouponSpec::patched`].
#[derive(Debug, Clone, Default)]
pub struct CouponPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New discount, replacing the old one whole.
    pub discount: Option<DiscountParts>,
    /// New start.
    pub starts_at: Option<DateTime<Utc>>,
    /// New end (`Some(None)`: never).
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New cap over all codes.
    pub max_redemptions: Option<Option<i64>>,
    /// New cap per customer.
    pub per_customer_limit: Option<Option<i64>>,
    /// New channel list.
    pub channels: Option<Vec<String>>,
    /// New rule bindings.
    pub rules: Option<Vec<(String, Value)>>,
    /// New metadata.
    pub metadata: Option<Value>,
    /// New minimum subtotals (`Some` of nothing: none).
    pub min_subtotals: Option<MoneyGiven>,
    /// New smallest number of items (`Some(None)`: none).
    pub min_items: Option<Option<i64>>,
    /// New reversal policy.
    pub reversal_policy: Option<ReversalPolicy>,
    /// New classes it combines with.
    pub combines_with: Option<Vec<DiscountClass>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New target.
    pub target: Option<Target>,
    /// New per-customer discount caps (`Some` of nothing: none).
    pub max_discounts_per_customer: Option<MoneyGiven>,
    /// New time zone (`Some(None)`: UTC). The window's instants stay as they are.
    pub time_zone: Option<Option<String>>,
    /// New cap on the order's discounts (`Some(None)`: none).
    pub max_order_discount: Option<Option<Decimal>>,
    /// New first day, read in the (new) time zone (instead of `starts_at`).
    pub starts_on: Option<chrono::NaiveDate>,
    /// New last day, read in the (new) time zone (instead of `expires_at`).
    pub ends_on: Option<chrono::NaiveDate>,
}

impl CouponSpec {
    /// This definition with `patch` applied, validated as a whole: every problem of the
    /// changed fields is reported, and the result keeps one currency (a minimum subtotal
    /// left as it is must still match a new discount's currency).
    pub fn patched(&self, patch: CouponPatch) -> Result<CouponSpec, Invalid> {
        /// Validates a patched field (when present) and stores it, or records its errors.
        fn assign<T, E: Into<Invalid>>(
            e: &mut Collector,
            slot: &mut T,
            value: Option<Result<T, E>>,
        ) {
            if let Some(v) = value.and_then(|v| e.take_all(v.map_err(Into::into))) {
                *slot = v;
            }
        }
        let mut e = Collector::default();
        let mut spec = self.clone();
        let name = patch.name.map(|n| required_text(&n, NAME_MAX, Field::Name));
        assign(&mut e, &mut spec.name, name);
        let description = patch.description.map(|d| match d {
            None => Ok(None),
            Some(d) => optional_text(&d, DESCRIPTION_MAX, Field::Description)
                .map(|d| Some(d).filter(|d| !d.is_empty())),
        });
        assign(&mut e, &mut spec.description, description);
        // The money terms are checked together: a kept minimum must still name the
        // currencies of a new discount.
        if patch.discount.is_some()
            || patch.min_subtotals.is_some()
            || patch.max_discounts_per_customer.is_some()
        {
            let mut draft = spec.prices.to_draft();
            if let Some(d) = patch.discount {
                draft.percentage = d.percentage;
                draft.amounts = d.amounts;
                draft.max_discounts = d.max_discounts;
            }
            if let Some(min) = patch.min_subtotals {
                draft.min_subtotals = min;
            }
            if let Some(cap) = patch.max_discounts_per_customer {
                draft.max_discounts_per_customer = cap;
            }
            assign(&mut e, &mut spec.prices, Some(Prices::from_draft(&draft)));
        }
        if let Some(zone) = patch.time_zone {
            let zone = zone
                .map(|z| TimeZone::parse(&z).map_err(|p| FieldError::new(Field::TimeZone, p)))
                .transpose();
            assign(&mut e, &mut spec.time_zone, Some(zone));
        }
        let here = spec.time_zone.unwrap_or(TimeZone::UTC);
        days_or_instants(
            &mut e,
            patch.starts_on.is_some() && patch.starts_at.is_some(),
            patch.ends_on.is_some() && patch.expires_at.is_some(),
        );
        let starts_at = patch
            .starts_on
            .map(|d| here.start_of(d))
            .or(patch.starts_at)
            .unwrap_or(spec.window.starts_at);
        let expires_at = match patch.ends_on {
            Some(day) => Some(here.start_of(day.succ_opt().unwrap_or(day))),
            None => patch.expires_at.unwrap_or(spec.window.expires_at),
        };
        assign(
            &mut e,
            &mut spec.window,
            Some(Window::new(starts_at, expires_at)),
        );
        let max_redemptions = patch
            .max_redemptions
            .map(|n| Limit::new(n, Field::MaxRedemptions));
        assign(&mut e, &mut spec.max_redemptions, max_redemptions);
        let per_customer_limit = patch
            .per_customer_limit
            .map(|n| Limit::new(n, Field::PerCustomerLimit));
        assign(&mut e, &mut spec.per_customer_limit, per_customer_limit);
        assign(
            &mut e,
            &mut spec.channels,
            patch.channels.map(|c| Channels::new(&c)),
        );
        assign(&mut e, &mut spec.rules, patch.rules.map(RuleBinding::list));
        assign(
            &mut e,
            &mut spec.metadata,
            patch.metadata.map(Metadata::new),
        );
        let min_items = patch.min_items.map(|n| Limit::new(n, Field::MinItems));
        assign(&mut e, &mut spec.min_items, min_items);
        if let Some(policy) = patch.reversal_policy {
            spec.reversal_policy = policy;
        }
        if patch.combines_with.is_some() || patch.priority.is_some() {
            spec.stacking = Stacking::new(
                patch
                    .combines_with
                    .unwrap_or_else(|| spec.stacking.combines_with().to_vec()),
                patch.priority.unwrap_or(spec.stacking.priority),
            );
        }
        let target = patch.target.unwrap_or_else(|| spec.target.clone());
        assign(
            &mut e,
            &mut spec.target,
            Some(target.check(&spec.prices.main().discount)),
        );
        let order_cap = patch
            .max_order_discount
            .unwrap_or(spec.max_order_discount.map(Percentage::value));
        assign(
            &mut e,
            &mut spec.max_order_discount,
            Some(check_order_cap(order_cap, &spec.target)),
        );
        e.finish()?;
        Ok(spec)
    }
}

/// Something about a coupon's definition that is allowed but probably not meant: told
/// to whoever creates or changes it, alongside the coupon.
#[derive(Debug, Clone, PartialEq, Eq, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(WarningKind),
    derive(Hash),
    doc = "The kinds of [`Warning`], without their details."
)]
pub enum Warning {
    /// Its window has already ended: no order can use it.
    WindowOver,
    /// A percentage coupon with no cap is tied to a currency only by its minimum
    /// subtotal: orders in any other currency are refused.
    CurrencyOnlyFromMinimum {
        /// The minimum subtotal's currency.
        currency: String,
    },
}

impl Warning {
    /// Which kind it is.
    pub fn kind(&self) -> WarningKind {
        self.into()
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Self::WindowOver => {
                "this coupon's window has already ended, so no order can use it".into()
            }
            Self::CurrencyOnlyFromMinimum { currency } => format!(
                "this percentage coupon applies only to orders in {currency}, the currency of its minimum subtotal"
            ),
        }
    }
}

impl CouponSpec {
    /// What is odd about this definition at `now`.
    pub fn warnings(&self, now: DateTime<Utc>) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.window.ended(now) {
            warnings.push(Warning::WindowOver);
        }
        let main = self.prices.main();
        if let (None, Some(min)) = (main.discount.currency(), main.min_subtotal) {
            warnings.push(Warning::CurrencyOnlyFromMinimum {
                currency: min.currency.code().to_owned(),
            });
        }
        warnings
    }
}

/// A stored coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// Identity.
    pub id: CouponId,
    /// Definition.
    pub spec: CouponSpec,
    /// Status as set by an admin.
    pub lifecycle: LifecycleStatus,
    /// Redemptions that hold a use (redeemed, and reversed ones that keep theirs).
    pub redemption_count: i64,
    /// Reservations that hold a use.
    pub reserved_count: i64,
    /// The campaign it belongs to, if any.
    pub campaign_id: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Coupon {
    /// The status a caller sees at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> CouponStatus {
        match self.lifecycle {
            LifecycleStatus::Draft => CouponStatus::Draft,
            LifecycleStatus::Paused => CouponStatus::Paused,
            LifecycleStatus::Archived => CouponStatus::Archived,
            LifecycleStatus::Active if self.spec.window.not_started(now) => CouponStatus::Scheduled,
            LifecycleStatus::Active if self.spec.window.ended(now) => CouponStatus::Expired,
            LifecycleStatus::Active
                if self.spec.max_redemptions.get().is_some_and(|cap| {
                    self.redemption_count + self.reserved_count >= i64::from(cap)
                }) =>
            {
                CouponStatus::Exhausted
            }
            LifecycleStatus::Active => CouponStatus::Active,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn draft() -> CouponDraft {
        CouponDraft {
            name: "Summer".into(),
            prices: PricesDraft {
                percentage: Some(Decimal::from_str("10").unwrap()),
                ..PricesDraft::default()
            },
            ..CouponDraft::default()
        }
    }

    #[test]
    fn default_expiry_applies_only_when_not_given() {
        let now = at("2026-01-01T00:00:00Z");
        let spec = CouponSpec::from_draft(draft(), now, Some(30)).unwrap();
        assert_eq!(spec.window.expires_at, Some(at("2026-01-31T00:00:00Z")));
        let never = CouponSpec::from_draft(
            CouponDraft {
                expires_at: Some(Expiry::Never),
                ..draft()
            },
            now,
            Some(30),
        )
        .unwrap();
        assert_eq!(never.window.expires_at, None);
        let none = CouponSpec::from_draft(draft(), now, None).unwrap();
        assert_eq!(none.window.expires_at, None);
    }

    #[test]
    fn collects_every_problem() {
        let bad = CouponDraft {
            name: " ".into(),
            starts_at: Some(at("2026-02-01T00:00:00Z")),
            expires_at: Some(Expiry::At(at("2026-01-01T00:00:00Z"))),
            max_redemptions: Some(0),
            per_customer_limit: Some(-1),
            channels: vec!["web".into(), "Bad Channel".into()],
            rules: vec![("Not-A-Rule".into(), Value::Bool(true))],
            metadata: Value::from(3),
            ..draft()
        };
        let fields: Vec<_> = CouponSpec::from_draft(bad, Utc::now(), None)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                Field::Name,
                Field::ExpiresAt,
                Field::MaxRedemptions,
                Field::PerCustomerLimit,
                Field::ChannelAt(1),
                Field::RuleAt(0),
                Field::RuleAt(0),
                Field::Metadata
            ]
        );
    }

    #[test]
    fn derived_status() {
        let now = at("2026-06-01T00:00:00Z");
        let spec = CouponSpec::from_draft(
            CouponDraft {
                starts_at: Some(at("2026-05-01T00:00:00Z")),
                expires_at: Some(Expiry::At(at("2026-07-01T00:00:00Z"))),
                max_redemptions: Some(2),
                ..draft()
            },
            now,
            None,
        )
        .unwrap();
        let mut c = Coupon {
            id: CouponId(1),
            spec,
            lifecycle: LifecycleStatus::Active,
            redemption_count: 0,
            reserved_count: 0,
            campaign_id: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(c.status(now), CouponStatus::Active);
        assert_eq!(
            c.status(at("2026-04-30T23:59:59Z")),
            CouponStatus::Scheduled
        );
        assert_eq!(c.status(at("2026-07-01T00:00:00Z")), CouponStatus::Expired);
        c.redemption_count = 1;
        c.reserved_count = 1;
        assert_eq!(c.status(now), CouponStatus::Exhausted);
        c.lifecycle = LifecycleStatus::Paused;
        assert_eq!(c.status(now), CouponStatus::Paused);
    }

    #[test]
    fn lifecycle_transitions() {
        use LifecycleStatus::*;
        assert!(Draft.transition(Active).is_ok());
        assert!(Active.transition(Paused).is_ok());
        assert!(Paused.transition(Active).is_ok());
        assert!(Active.transition(Archived).is_ok());
        assert!(Archived.transition(Archived).is_ok());
        assert!(Archived.transition(Active).is_err());
        assert!(Active.transition(Draft).is_err());
        assert!(Paused.transition(Draft).is_err());
    }
}
