//! Campaign limits: a window, a number of uses and a discount budget shared by every
//! coupon in the campaign, decided like the coupon's own caps.

use chrono::{DateTime, Utc};

use crate::checkout::Rejection;
use crate::money::Money;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsError {
    /// The window ends before (or when) it starts.
    WindowReversed,
    /// A cap of zero or less.
    NonPositiveUses,
    /// A budget of zero or less.
    NonPositiveBudget,
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
}
