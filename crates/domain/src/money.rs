//! Money: integer minor units in one ISO 4217 currency.
//!
//! Inside the service an amount is always an `i64` count of the currency's minor unit
//! (cents for USD, yen for JPY, fils for KWD). Decimal text appears only at the edges,
//! converted with the currency's exponent, and an amount finer than the minor unit is
//! refused rather than rounded.

use std::fmt;

use rust_decimal::Decimal;

/// Why an amount or a currency is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an active ISO 4217 code with a minor unit.
    #[error("{0:?} is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// More decimal places than the currency has.
    #[error("{currency} amounts have at most {exponent} decimal places")]
    TooPrecise {
        /// The currency.
        currency: Currency,
        /// Its number of decimal places.
        exponent: u32,
    },
    /// Does not fit the internal representation.
    #[error("amount is too large")]
    Overflow,
}

/// An ISO 4217 currency that has a minor unit and is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a three-letter code; lower case is accepted.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        let unknown = || MoneyError::UnknownCurrency(code.to_owned());
        let currency = iso_currency::Currency::from_code(&upper).ok_or_else(unknown)?;
        // Precious metals, test and "no currency" codes have no minor unit; superseded
        // codes are no longer legal tender.
        if currency.exponent().is_none() || currency.is_superseded().is_some() {
            return Err(unknown());
        }
        Ok(Self(currency))
    }

    /// The three-letter code.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Number of decimal places of the minor unit (JPY 0, USD 2, KWD 3).
    pub fn exponent(self) -> u32 {
        // `parse` only admits currencies that have an exponent.
        u32::from(self.0.exponent().unwrap_or(0))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Minor units (may be negative in arithmetic; discounts are validated positive).
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Converts a decimal amount, refusing anything finer than the minor unit.
    pub fn from_decimal(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let normalized = amount.normalize();
        if normalized.scale() > exponent {
            return Err(MoneyError::TooPrecise { currency, exponent });
        }
        let scale = Decimal::from(10_i64.pow(exponent));
        let minor = normalized
            .checked_mul(scale)
            .and_then(|m| i64::try_from(m).ok())
            .ok_or(MoneyError::Overflow)?;
        Ok(Self { minor, currency })
    }

    /// The amount as a decimal with exactly the currency's number of places ("19.90").
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency)
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
    fn currencies_know_their_exponent() {
        assert_eq!(Currency::parse("usd").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        for bad in ["XXX", "XAU", "ABC", "", "EURO"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_round_trip_uses_the_exponent() {
        let usd = Currency::parse("USD").unwrap();
        let m = Money::from_decimal(dec("19.9"), usd).unwrap();
        assert_eq!(m.minor, 1990);
        assert_eq!(m.to_decimal().to_string(), "19.90");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::from_decimal(dec("1000.00"), jpy).unwrap().minor,
            1000
        );
        assert_eq!(
            Money::from_decimal(dec("10.5"), jpy),
            Err(MoneyError::TooPrecise {
                currency: jpy,
                exponent: 0
            })
        );
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(
            Money::from_decimal(dec("1.234"), kwd)
                .unwrap()
                .to_decimal()
                .to_string(),
            "1.234"
        );
        assert_eq!(
            Money::from_decimal(dec("99999999999999999999"), usd),
            Err(MoneyError::Overflow)
        );
    }
}
