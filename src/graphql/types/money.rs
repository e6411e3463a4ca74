//! `Money`: an amount in a currency, as every price, discount and total is shown.

use async_graphql::SimpleObject;
use coupons_domain as domain;

use crate::graphql::scalars::Decimal;

/// An amount of money.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// The amount, with exactly the currency's number of decimal places ("19.90",
    /// "1000" for JPY).
    pub amount: Decimal,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl From<domain::Money> for Money {
    fn from(m: domain::Money) -> Self {
        Self {
            amount: Decimal(m.to_decimal()),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// Money from a stored currency code and minor units.
pub fn money(currency: &str, minor: i64) -> Option<Money> {
    domain::Currency::parse(currency)
        .ok()
        .map(|currency| domain::Money { minor, currency }.into())
}
