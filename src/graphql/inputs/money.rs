//! `MoneyInput`: an amount of money, as clients send it.

use async_graphql::InputObject;
use coupons_domain::MoneyInput as DomainMoney;

use crate::graphql::scalars::Decimal;

/// An amount of money.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoneyInput {
    /// Decimal amount as a string, with at most the currency's decimal places ("19.99").
    pub amount: Decimal,
    /// ISO 4217 currency code ("USD").
    pub currency: String,
}

impl From<MoneyInput> for DomainMoney {
    fn from(m: MoneyInput) -> Self {
        Self {
            amount: m.amount.0,
            currency: m.currency,
        }
    }
}
