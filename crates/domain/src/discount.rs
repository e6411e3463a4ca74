//! Discounts: a percentage (optionally capped) or a fixed amount.

use rust_decimal::Decimal;

use crate::error::Problem;
use crate::money::{Currency, Money};

/// The most decimal places a percentage may have (12.5 and 33.3333 are fine).
pub const PERCENT_SCALE: u32 = 4;

/// A percentage `p` with `0 < p <= 100`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Percentage(Decimal);

impl TryFrom<Decimal> for Percentage {
    type Error = Problem;

    fn try_from(p: Decimal) -> Result<Self, Problem> {
        Self::new(p)
    }
}

impl From<Percentage> for Decimal {
    fn from(p: Percentage) -> Self {
        p.0
    }
}

impl Percentage {
    /// Validates a percentage.
    pub fn new(p: Decimal) -> Result<Self, Problem> {
        let p = p.normalize();
        if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED {
            return Err(Problem::PercentageOutOfRange);
        }
        if p.scale() > PERCENT_SCALE {
            return Err(Problem::PercentageTooPrecise { max: PERCENT_SCALE });
        }
        Ok(Self(p))
    }

    /// The value, normalised (no trailing zeros).
    pub fn value(self) -> Decimal {
        self.0
    }

    /// All of it: 100 percent.
    pub const ALL: Self = Self(Decimal::ONE_HUNDRED);
}

/// What a coupon takes off an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A percentage of the eligible subtotal, optionally capped.
    Percentage {
        /// The percentage.
        percent: Percentage,
        /// The most it takes off, in the cap's currency.
        max_discount: Option<Money>,
    },
    /// A fixed amount in one currency.
    FixedAmount(Money),
}

/// A decimal amount with its currency code, as given by a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyInput {
    /// The decimal amount ("19.99").
    pub amount: Decimal,
    /// The ISO 4217 code.
    pub currency: String,
}

impl From<Money> for MoneyInput {
    fn from(m: Money) -> Self {
        Self {
            amount: m.to_decimal(),
            currency: m.currency.code().to_owned(),
        }
    }
}

impl Discount {
    /// What this discount takes off an eligible subtotal.
    ///
    /// A percentage is applied to the subtotal in minor units and **rounded half away
    /// from zero** to the currency's minor unit (USD 0.125 → 0.13, JPY 12.5 → 13), then
    /// capped by `max_discount`. The result never exceeds the subtotal and is never
    /// negative. Fixed amounts and caps apply only in their own currency; another
    /// currency is `None`.
    pub fn amount_for(&self, eligible: Money) -> Option<Money> {
        let eligible_minor = eligible.minor.max(0);
        let raw = match self {
            Self::Percentage {
                percent,
                max_discount,
            } => {
                let exact = Decimal::from(eligible_minor) * percent.value() / Decimal::ONE_HUNDRED;
                let rounded = exact.round_dp_with_strategy(
                    0,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                let minor = i64::try_from(rounded).unwrap_or(i64::MAX);
                match max_discount {
                    Some(cap) if cap.currency != eligible.currency => return None,
                    Some(cap) => minor.min(cap.minor),
                    None => minor,
                }
            }
            Self::FixedAmount(m) if m.currency != eligible.currency => return None,
            Self::FixedAmount(m) => m.minor,
        };
        Some(Money {
            minor: raw.clamp(0, eligible_minor),
            currency: eligible.currency,
        })
    }

    /// The currency the discount is tied to, if any (fixed amounts and capped percentages).
    pub fn currency(&self) -> Option<Currency> {
        match self {
            Self::Percentage { max_discount, .. } => max_discount.map(|m| m.currency),
            Self::FixedAmount(m) => Some(m.currency),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn percentage_bounds_are_exclusive_of_zero_inclusive_of_hundred() {
        assert_eq!(
            Percentage::new(dec("0")),
            Err(Problem::PercentageOutOfRange)
        );
        assert_eq!(
            Percentage::new(dec("-5")),
            Err(Problem::PercentageOutOfRange)
        );
        assert_eq!(
            Percentage::new(dec("100.0001")),
            Err(Problem::PercentageOutOfRange)
        );
        assert_eq!(
            Percentage::new(dec("150")),
            Err(Problem::PercentageOutOfRange)
        );
        assert_eq!(
            Percentage::new(dec("100.00")).unwrap().value().to_string(),
            "100"
        );
        assert_eq!(
            Percentage::new(dec("0.0001")).unwrap().value().to_string(),
            "0.0001"
        );
        assert_eq!(
            Percentage::new(dec("12.34567")),
            Err(Problem::PercentageTooPrecise { max: 4 })
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero_in_minor_units() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let pct = |p: &str| Discount::Percentage {
            percent: Percentage::new(dec(p)).unwrap(),
            max_discount: None,
        };
        // 12.5% of 1.00 USD = 12.5 cents -> 13 cents.
        assert_eq!(
            pct("12.5")
                .amount_for(Money {
                    minor: 100,
                    currency: usd
                })
                .unwrap()
                .minor,
            13
        );
        // 10% of 1.24 USD = 12.4 cents -> 12 cents.
        assert_eq!(
            pct("10")
                .amount_for(Money {
                    minor: 124,
                    currency: usd
                })
                .unwrap()
                .minor,
            12
        );
        // 25% of 50 JPY = 12.5 yen -> 13 yen.
        assert_eq!(
            pct("25")
                .amount_for(Money {
                    minor: 50,
                    currency: jpy
                })
                .unwrap()
                .minor,
            13
        );
        let fixed = Discount::FixedAmount(Money {
            minor: 500,
            currency: usd,
        });
        assert_eq!(
            fixed
                .amount_for(Money {
                    minor: 300,
                    currency: usd
                })
                .unwrap()
                .minor,
            300
        );
        assert_eq!(
            fixed.amount_for(Money {
                minor: 300,
                currency: jpy
            }),
            None
        );
    }

    mod laws {
        use proptest::prelude::*;

        use super::super::*;

        fn currency() -> impl Strategy<Value = Currency> {
            prop::sample::select(vec!["USD", "EUR", "JPY", "KWD", "CLF"])
                .prop_map(|c| Currency::parse(c).unwrap())
        }

        fn percentage() -> impl Strategy<Value = Percentage> {
            (1_i64..=1_000_000).prop_map(|n| Percentage::new(Decimal::new(n, 4)).unwrap())
        }

        proptest! {
            #[test]
            fn percentage_discount_laws(
                p in percentage(),
                subtotal in 0_i64..=10_000_000_000,
                cap in prop::option::of(1_i64..=1_000_000_000),
                c in currency(),
            ) {
                let d = Discount::Percentage { percent: p, max_discount: cap.map(|minor| Money { minor, currency: c }) };
                let got = d.amount_for(Money { minor: subtotal, currency: c }).unwrap();
                prop_assert_eq!(got.currency, c);
                prop_assert!(got.minor >= 0);
                prop_assert!(got.minor <= subtotal);
                if let Some(cap) = cap { prop_assert!(got.minor <= cap); }
                // Uncapped, the result is the exact value rounded: off by at most half a minor unit.
                let exact = Decimal::from(subtotal) * p.value() / Decimal::ONE_HUNDRED;
                if cap.is_none_or(|cap| Decimal::from(cap) >= exact + Decimal::ONE) {
                    prop_assert!((Decimal::from(got.minor) - exact).abs() <= Decimal::new(5, 1));
                }
            }

            #[test]
            fn a_larger_subtotal_never_gives_a_smaller_discount(
                p in percentage(), a in 0_i64..=1_000_000_000, b in 0_i64..=1_000_000_000, c in currency(),
            ) {
                let d = Discount::Percentage { percent: p, max_discount: None };
                let (lo, hi) = (a.min(b), a.max(b));
                let small = d.amount_for(Money { minor: lo, currency: c }).unwrap().minor;
                let large = d.amount_for(Money { minor: hi, currency: c }).unwrap().minor;
                prop_assert!(small <= large);
            }

            #[test]
            fn fixed_amounts_apply_only_in_their_currency(
                amount in 1_i64..=1_000_000_000, subtotal in 0_i64..=1_000_000_000, c in currency(), other in currency(),
            ) {
                let d = Discount::FixedAmount(Money { minor: amount, currency: c });
                match d.amount_for(Money { minor: subtotal, currency: other }) {
                    None => prop_assert_ne!(c, other),
                    Some(got) => {
                        prop_assert_eq!(c, other);
                        prop_assert_eq!(got.minor, amount.min(subtotal));
                    }
                }
            }

            #[test]
            fn a_cap_in_another_currency_never_applies(p in percentage(), subtotal in 0_i64..=1_000_000, c in currency(), other in currency()) {
                prop_assume!(c != other);
                let d = Discount::Percentage { percent: p, max_discount: Some(Money { minor: 100, currency: other }) };
                prop_assert_eq!(d.amount_for(Money { minor: subtotal, currency: c }), None);
            }
        }
    }
}
