//! Campaign limits: a window, a number of uses and a discount budget shared by every
//! coupon in the campaign, decided like the coupon's own caps.

use chrono::{DateTime, Utc};

use crate::checkout::Rejection;
use crate::discount::MoneyInput;
use crate::error::{Collector, Field, FieldError, Invalid, Problem};
use crate::money::{Currency, Money};

/// What a campaign allows its coupons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CampaignLimits {
    /// Before this instant no coupon of the campaign applies.
    pub starts_at: Option<DateTime<Utc>>,
    /// From this instant on no coupon of the campaign applies.
    pub ends_at: Option<DateTime<Utc>>,
    /// Uses over all its coupons (redeemed and live reservations).
    pub max_uses: Option<i64>,
    /// Total discount over all its coupons, net of refunds, in one currency.
    pub budget: Option<Money>,
}

/// How much of a campaign's limits is taken, counted in the deciding transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CampaignUsage {
    /// Uses held (redeemed, live reservations, reversals that keep their use).
    pub uses: i64,
    /// Discount held, in the budget's currency, net of refunds.
    pub discount_minor: i64,
}

/// Why a set of limits is not a campaign's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// The window ends before (or when) it starts.
    #[error("the window must end after it starts")]
    WindowReversed,
    /// A cap of zero or less.
    #[error("the cap on uses must be at least 1")]
    NonPositiveUses,
    /// A budget of zero or less.
    #[error("the budget must be above zero")]
    NonPositiveBudget,
}

impl From<LimitsError> for FieldError {
    /// The limit at fault: the window's end, the cap, or the budget's amount.
    fn from(e: LimitsError) -> Self {
        let field = match e {
            LimitsError::WindowReversed => Field::EndsAt,
            LimitsError::NonPositiveUses => Field::MaxUses,
            LimitsError::NonPositiveBudget => Field::BudgetAmount,
        };
        FieldError::new(field, e)
    }
}

impl CampaignLimits {
    /// Checks the limits are coherent.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if let (Some(start), Some(end)) = (self.starts_at, self.ends_at)
            && end <= start
        {
            return Err(LimitsError::WindowReversed);
        }
        if self.max_uses.is_some_and(|n| n < 1) {
            return Err(LimitsError::NonPositiveUses);
        }
        if self.budget.is_some_and(|b| b.minor < 1) {
            return Err(LimitsError::NonPositiveBudget);
        }
        Ok(())
    }

    /// Whether a use must be counted against a cap or a budget.
    pub fn caps_usage(&self) -> bool {
        self.max_uses.is_some() || self.budget.is_some()
    }

    /// Whether `now` is inside the window: `NotStarted` before it, `Expired` from its end.
    pub fn window(&self, now: DateTime<Utc>) -> Result<(), Rejection> {
        if self.starts_at.is_some_and(|s| now < s) {
            return Err(Rejection::NotStarted);
        }
        if self.ends_at.is_some_and(|e| now >= e) {
            return Err(Rejection::Expired);
        }
        Ok(())
    }

    /// The discount a coupon of the campaign may give, given what is taken: refused
    /// when the uses are taken, when the order is in another currency than the budget
    /// or when the budget is spent, and lowered to what is left of the budget.
    pub fn limit(&self, usage: CampaignUsage, discount: Money) -> Result<Money, Rejection> {
        if self.max_uses.is_some_and(|cap| usage.uses >= cap) {
            return Err(Rejection::CampaignUsageLimitReached);
        }
        let Some(budget) = self.budget else {
            return Ok(discount);
        };
        if budget.currency != discount.currency {
            return Err(Rejection::CurrencyMismatch);
        }
        let left = budget.minor - usage.discount_minor;
        if left <= 0 {
            return Err(Rejection::CampaignBudgetExhausted);
        }
        Ok(Money {
            minor: discount.minor.min(left),
            currency: discount.currency,
        })
    }
}

/// Longest campaign name.
pub const NAME_MAX: usize = 200;
/// Longest campaign description.
pub const DESCRIPTION_MAX: usize = 2_000;

/// A campaign's fields as an admin gives them: on creation all of them, on update those
/// to change (`None` leaves a field as it is, `Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignInput {
    /// Display name.
    pub name: Option<String>,
    /// Longer description; empty text clears it.
    pub description: Option<String>,
    /// Start of the window.
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// End of the window.
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// Cap on uses.
    pub max_uses: Option<Option<i64>>,
    /// Discount budget.
    pub budget: Option<Option<MoneyInput>>,
}

/// [`CampaignInput`] checked field by field: text trimmed, the budget in minor units.
/// Whether the window and limits hold together is checked against the stored campaign
/// when they are written ([`CampaignLimits::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignChanges {
    /// New name.
    pub name: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// New start of the window.
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// New end of the window.
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// New cap on uses.
    pub max_uses: Option<Option<i64>>,
    /// New budget.
    pub budget: Option<Option<Money>>,
}

impl CampaignInput {
    /// Checks every field given, collecting every problem: the name (not blank, at most
    /// [`NAME_MAX`] characters), the description (at most [`DESCRIPTION_MAX`]), the cap
    /// (at least 1) and the budget (a known currency, an amount it can hold, above
    /// zero).
    pub fn check(self) -> Result<CampaignChanges, Invalid> {
        let mut e = Collector::default();
        let name = self.name.and_then(|n| e.take(name(&n)));
        let description = self
            .description
            .and_then(|d| e.take(description(&d, DESCRIPTION_MAX, Field::Description)));
        if self.max_uses.flatten().is_some_and(|n| n < 1) {
            e.push(LimitsError::NonPositiveUses.into());
        }
        let budget = match self.budget {
            None => None,
            Some(None) => Some(None),
            Some(Some(m)) => e.take(budget(&m)).map(Some),
        };
        e.finish()?;
        Ok(CampaignChanges {
            name,
            description,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            max_uses: self.max_uses,
            budget,
        })
    }
}

/// A campaign name: trimmed, not blank, at most [`NAME_MAX`] characters.
fn name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new(
            Field::Name,
            Problem::EmptyText { what: "name" },
        ));
    }
    if name.chars().count() > NAME_MAX {
        let problem = Problem::TextTooLong {
            what: "name",
            max: NAME_MAX,
        };
        return Err(FieldError::new(Field::Name, problem));
    }
    Ok(name.to_owned())
}

/// Optional free text of at most `max` characters, trimmed; `None` when empty. For the
/// descriptions of campaigns and webhook endpoints.
pub fn description(raw: &str, max: usize, field: Field) -> Result<Option<String>, FieldError> {
    let text = raw.trim();
    if text.chars().count() > max {
        let problem = Problem::TextTooLong {
            what: "description",
            max,
        };
        return Err(FieldError::new(field, problem));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// A budget: a known currency, an amount it can hold, above zero.
fn budget(input: &MoneyInput) -> Result<Money, FieldError> {
    let currency =
        Currency::parse(&input.currency).map_err(|e| FieldError::new(Field::BudgetCurrency, e))?;
    let money = Money::from_decimal(input.amount, currency)
        .map_err(|e| FieldError::new(Field::BudgetAmount, e))?;
    if money.minor < 1 {
        return Err(FieldError::new(
            Field::BudgetAmount,
            Problem::AmountNotPositive,
        ));
    }
    Ok(money)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::money::Currency;

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::parse("USD").unwrap(),
        }
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_window_is_half_open() {
        let limits = CampaignLimits {
            starts_at: Some(at(10)),
            ends_at: Some(at(12)),
            ..CampaignLimits::default()
        };
        assert_eq!(limits.window(at(9)), Err(Rejection::NotStarted));
        assert_eq!(limits.window(at(10)), Ok(()));
        assert_eq!(limits.window(at(11)), Ok(()));
        assert_eq!(limits.window(at(12)), Err(Rejection::Expired));
        assert_eq!(CampaignLimits::default().window(at(0)), Ok(()));
    }

    #[test]
    fn uses_are_capped() {
        let limits = CampaignLimits {
            max_uses: Some(3),
            ..CampaignLimits::default()
        };
        let used = |uses| CampaignUsage {
            uses,
            discount_minor: 0,
        };
        assert_eq!(limits.limit(used(2), usd(500)), Ok(usd(500)));
        assert_eq!(
            limits.limit(used(3), usd(500)),
            Err(Rejection::CampaignUsageLimitReached)
        );
    }

    #[test]
    fn the_budget_lowers_the_last_discount_then_refuses() {
        let limits = CampaignLimits {
            budget: Some(usd(1_000)),
            ..CampaignLimits::default()
        };
        let spent = |discount_minor| CampaignUsage {
            uses: 0,
            discount_minor,
        };
        assert_eq!(limits.limit(spent(0), usd(400)), Ok(usd(400)));
        assert_eq!(limits.limit(spent(800), usd(400)), Ok(usd(200)));
        assert_eq!(
            limits.limit(spent(1_000), usd(1)),
            Err(Rejection::CampaignBudgetExhausted)
        );
        let eur = Money {
            minor: 100,
            currency: Currency::parse("EUR").unwrap(),
        };
        assert_eq!(
            limits.limit(spent(0), eur),
            Err(Rejection::CurrencyMismatch)
        );
    }

    #[test]
    fn incoherent_limits_are_refused() {
        let reversed = CampaignLimits {
            starts_at: Some(at(12)),
            ends_at: Some(at(12)),
            ..CampaignLimits::default()
        };
        assert_eq!(reversed.validate(), Err(LimitsError::WindowReversed));
        let zero = CampaignLimits {
            max_uses: Some(0),
            ..CampaignLimits::default()
        };
        assert_eq!(zero.validate(), Err(LimitsError::NonPositiveUses));
        let broke = CampaignLimits {
            budget: Some(usd(0)),
            ..CampaignLimits::default()
        };
        assert_eq!(broke.validate(), Err(LimitsError::NonPositiveBudget));
        assert_eq!(CampaignLimits::default().validate(), Ok(()));
    }

    #[test]
    fn campaign_input_collects_every_problem() {
        let input = CampaignInput {
            name: Some("  ".into()),
            description: Some("d".repeat(DESCRIPTION_MAX + 1)),
            max_uses: Some(Some(0)),
            budget: Some(Some(MoneyInput {
                amount: rust_decimal::Decimal::ONE,
                currency: "QQQ".into(),
            })),
            ..CampaignInput::default()
        };
        let Err(Invalid(errors)) = input.check() else {
            panic!("the input must be refused");
        };
        let found: Vec<(Field, String)> = errors
            .into_iter()
            .map(|e| (e.field, e.problem.to_string()))
            .collect();
        assert_eq!(found[0], (Field::Name, "the name is empty".into()));
        assert_eq!(
            found[1],
            (
                Field::Description,
                "the description is longer than 2000 characters".into()
            )
        );
        assert_eq!(
            found[2],
            (Field::MaxUses, "the cap on uses must be at least 1".into())
        );
        assert_eq!(found[3].0, Field::BudgetCurrency);
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn campaign_input_is_trimmed_and_converted() {
        let input = CampaignInput {
            name: Some(" Spring ".into()),
            description: Some("   ".into()),
            max_uses: Some(None),
            budget: Some(Some(MoneyInput {
                amount: rust_decimal::Decimal::new(1250, 2),
                currency: "EUR".into(),
            })),
            ..CampaignInput::default()
        };
        let checked = input.check().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.name.as_deref(), Some("Spring"));
        assert_eq!(checked.description, Some(None));
        assert_eq!(checked.max_uses, Some(None));
        assert_eq!(checked.budget.flatten().map(|b| b.minor), Some(1250));
        let zero = CampaignInput {
            budget: Some(Some(MoneyInput {
                amount: rust_decimal::Decimal::ZERO,
                currency: "EUR".into(),
            })),
            ..CampaignInput::default()
        };
        let Err(Invalid(errors)) = zero.check() else {
            panic!("a zero budget must be refused");
        };
        assert_eq!(errors[0].field, Field::BudgetAmount);
        assert_eq!(errors[0].problem, Problem::AmountNotPositive);
    }
}
