//! A coupon's money terms in each currency it is offered in.
//!
//! Like Stripe's `currency_options`, every amount a coupon holds (a fixed amount off, the
//! cap of a percentage, the minimum subtotal, the per-customer discount cap) may be given
//! once per currency; an order gets the terms of its own currency and an order in a
//! currency the coupon has no terms for is refused. All the lists a coupon has name the
//! same currencies, so "10 off over 50" never becomes "10 off over nothing" in euros. The
//! first currency given is the coupon's main one, shown where a single amount is asked
//! for. A percentage with no amounts at all applies in any currency.

use rust_decimal::Decimal;

use crate::discount::{Discount, MoneyInput, Percentage};
use crate::error::{Collector, Field, FieldError, Invalid, Problem};
use crate::money::{Currency, Money};

/// The most currencies one coupon may be offered in.
pub const CURRENCIES_MAX: usize = 40;

/// Which of a coupon's money lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyList {
    /// The fixed amount off.
    Amounts,
    /// The cap of a percentage.
    MaxDiscounts,
    /// The smallest subtotal.
    MinSubtotals,
    /// The most discount one customer may have.
    MaxDiscountsPerCustomer,
}

impl MoneyList {
    /// The one-currency field of this list (`true`: its currency).
    fn single(self, currency: bool) -> Field {
        match (self, currency) {
            (Self::Amounts, false) => Field::Amount,
            (Self::Amounts, true) => Field::AmountCurrency,
            (Self::MaxDiscounts, false) => Field::MaxDiscount,
            (Self::MaxDiscounts, true) => Field::MaxDiscountCurrency,
            (Self::MinSubtotals, false) => Field::MinSubtotal,
            (Self::MinSubtotals, true) => Field::MinSubtotalCurrency,
            (Self::MaxDiscountsPerCustomer, false) => Field::MaxDiscountPerCustomer,
            (Self::MaxDiscountsPerCustomer, true) => Field::MaxDiscountPerCustomerCurrency,
        }
    }

    fn both_given(self) -> Problem {
        Problem::Exclusive(match self {
            Self::Amounts => "give amount or amounts, not both",
            Self::MaxDiscounts => "give maxDiscount or maxDiscounts, not both",
            Self::MinSubtotals => "give minSubtotal or minSubtotals, not both",
            Self::MaxDiscountsPerCustomer => {
                "give maxDiscountPerCustomer or maxDiscountsPerCustomer, not both"
            }
        })
    }

    /// Whether zero is an acceptable amount (a minimum may be zero; what is taken off
    /// or capped must be above it).
    fn allows_zero(self) -> bool {
        self == Self::MinSubtotals
    }
}

/// Amounts as a caller sends them: the one-currency field, the list, or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyGiven {
    /// The one-currency field (`amount`, `minSubtotal`…).
    pub one: Option<MoneyInput>,
    /// The list (`amounts`, `minSubtotals`…).
    pub many: Option<Vec<MoneyInput>>,
}

impl MoneyGiven {
    /// Just the one-currency field.
    pub fn one(m: Option<MoneyInput>) -> Self {
        Self { one: m, many: None }
    }

    /// Whether nothing is given (an empty list counts as nothing).
    pub fn is_empty(&self) -> bool {
        self.one.is_none() && self.many.as_ref().is_none_or(Vec::is_empty)
    }

    /// Stored amounts as a caller would give them again: the one-currency form when
    /// there is one (so errors about them point where they were first given).
    fn of(amounts: &[Money]) -> Self {
        let inputs: Vec<MoneyInput> = amounts.iter().map(|m| MoneyInput::from(*m)).collect();
        match inputs.as_slice() {
            [] => Self::default(),
            [only] => Self::one(Some(only.clone())),
            _ => Self {
                one: None,
                many: Some(inputs),
            },
        }
    }

    /// Validates the amounts: each a known currency, once, with an amount it can hold,
    /// above zero (or not below it, for a minimum).
    fn parse(&self, list: MoneyList) -> Result<Option<Given>, Invalid> {
        let (entries, single) = match (&self.one, &self.many) {
            (Some(_), Some(many)) if !many.is_empty() => {
                return Err(FieldError::new(list.single(false), list.both_given()).into());
            }
            (Some(one), _) => (std::slice::from_ref(one), true),
            (None, Some(many)) if !many.is_empty() => (many.as_slice(), false),
            (None, _) => return Ok(None),
        };
        let at = |index: usize, currency: bool| {
            if single {
                list.single(currency)
            } else {
                Field::MoneyAt {
                    list,
                    index,
                    currency,
                }
            }
        };
        if entries.len() > CURRENCIES_MAX {
            return Err(FieldError::new(
                Field::MoneyList(list),
                Problem::TooMany {
                    max: CURRENCIES_MAX,
                },
            )
            .into());
        }
        let mut e = Collector::default();
        let mut amounts: Vec<Money> = Vec::with_capacity(entries.len());
        for (i, input) in entries.iter().enumerate() {
            let Some(currency) = e.take(
                Currency::parse(&input.currency).map_err(|p| FieldError::new(at(i, true), p)),
            ) else {
                continue;
            };
            if amounts.iter().any(|m| m.currency == currency) {
                e.push(FieldError::new(
                    at(i, true),
                    Problem::CurrencyRepeated(currency.code().to_owned()),
                ));
                continue;
            }
            let Some(money) = e.take(
                Money::from_decimal(input.amount, currency)
                    .map_err(|p| FieldError::new(at(i, false), p)),
            ) else {
                continue;
            };
            match money.minor {
                m if m <= 0 && !list.allows_zero() => {
                    e.push(FieldError::new(at(i, false), Problem::AmountNotPositive));
                }
                m if m < 0 => e.push(FieldError::new(at(i, false), Problem::AmountNegative)),
                _ => amounts.push(money),
            }
        }
        e.finish()?;
        Ok(Some(Given {
            list,
            single,
            amounts,
        }))
    }
}

/// A validated money list, remembering how it was given (for error paths).
struct Given {
    list: MoneyList,
    single: bool,
    amounts: Vec<Money>,
}

impl Given {
    fn get(&self, currency: Currency) -> Option<Money> {
        self.amounts
            .iter()
            .copied()
            .find(|m| m.currency == currency)
    }

    /// Checks that this list names exactly `currencies`.
    fn check_currencies(&self, currencies: &[Currency]) -> Result<(), FieldError> {
        let same = self.amounts.len() == currencies.len()
            && currencies.iter().all(|c| self.get(*c).is_some());
        if same {
            return Ok(());
        }
        let expected = currencies
            .iter()
            .map(|c| c.code())
            .collect::<Vec<_>>()
            .join(", ");
        match (currencies, self.amounts.as_slice()) {
            ([_], [_]) => Err(FieldError::new(
                if self.single {
                    self.list.single(true)
                } else {
                    Field::MoneyAt {
                        list: self.list,
                        index: 0,
                        currency: true,
                    }
                },
                Problem::CurrencyMismatch { expected },
            )),
            _ => Err(FieldError::new(
                if self.single {
                    self.list.single(true)
                } else {
                    Field::MoneyList(self.list)
                },
                Problem::CurrenciesDiffer { expected },
            )),
        }
    }
}

/// A coupon's terms in one currency: what it takes off, its cap and minimum, and the
/// most one customer may have. For a percentage with no amounts, in any currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyTerms {
    /// What it takes off.
    pub discount: Discount,
    /// Smallest order subtotal it applies to.
    pub min_subtotal: Option<Money>,
    /// The most discount one customer may have from it, over all their uses.
    pub max_discount_per_customer: Option<Money>,
}

impl CurrencyTerms {
    /// The currency these terms are in; `None`: any.
    pub fn currency(&self) -> Option<Currency> {
        self.discount
            .currency()
            .or(self.min_subtotal.map(|m| m.currency))
            .or(self.max_discount_per_customer.map(|m| m.currency))
    }
}

/// A coupon's money terms, one entry per currency it is offered in, the main one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prices(Vec<CurrencyTerms>);

/// A coupon's money terms as a caller sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricesDraft {
    /// Percentage off (instead of amounts).
    pub percentage: Option<Decimal>,
    /// Fixed amounts off.
    pub amounts: MoneyGiven,
    /// Caps of a percentage.
    pub max_discounts: MoneyGiven,
    /// Smallest subtotals.
    pub min_subtotals: MoneyGiven,
    /// The most discount one customer may have.
    pub max_discounts_per_customer: MoneyGiven,
}

impl Prices {
    /// Terms in every currency from one set of terms (which must have its currency, or
    /// be the only one).
    pub fn new(main: CurrencyTerms, others: Vec<CurrencyTerms>) -> Self {
        let mut all = Vec::with_capacity(others.len() + 1);
        all.push(main);
        all.extend(others);
        Self(all)
    }

    /// Validates a draft, reporting every problem with the field it concerns.
    pub fn from_draft(draft: &PricesDraft) -> Result<Self, Invalid> {
        let mut e = Collector::default();
        let percent = draft
            .percentage
            .map(|p| e.take(Percentage::new(p).map_err(|p| FieldError::new(Field::Percentage, p))));
        let amounts = e.take_all(draft.amounts.parse(MoneyList::Amounts));
        let caps = e.take_all(draft.max_discounts.parse(MoneyList::MaxDiscounts));
        let mins = e.take_all(draft.min_subtotals.parse(MoneyList::MinSubtotals));
        let customer = e.take_all(
            draft
                .max_discounts_per_customer
                .parse(MoneyList::MaxDiscountsPerCustomer),
        );
        let fixed = !draft.amounts.is_empty();
        if draft.percentage.is_some() == fixed {
            e.push(FieldError::new(
                Field::Discount,
                Problem::DiscountKindAmbiguous,
            ));
        } else if fixed && !draft.max_discounts.is_empty() {
            e.push(FieldError::new(
                Field::MaxDiscount,
                Problem::MaxDiscountNotApplicable,
            ));
        }
        // The list that comes first names the coupon's currencies; the others follow it.
        let lists: Vec<&Given> = [&amounts, &caps, &mins, &customer]
            .into_iter()
            .filter_map(|g| g.as_ref().and_then(Option::as_ref))
            .collect();
        let currencies: Vec<Currency> = lists
            .first()
            .map(|g| g.amounts.iter().map(|m| m.currency).collect())
            .unwrap_or_default();
        for list in lists.iter().skip(1) {
            e.take(list.check_currencies(&currencies));
        }
        e.finish()?;
        let (Some(amounts), Some(caps), Some(mins), Some(customer)) =
            (amounts, caps, mins, customer)
        else {
            return Err(FieldError::new(Field::Discount, Problem::DiscountKindAmbiguous).into());
        };
        let terms_in = |currency: Option<Currency>| -> Option<CurrencyTerms> {
            let pick = |g: &Option<Given>| g.as_ref().zip(currency).and_then(|(g, c)| g.get(c));
            let discount = match (percent.flatten(), pick(&amounts)) {
                (Some(percent), _) => Discount::Percentage {
                    percent,
                    max_discount: pick(&caps),
                },
                (None, Some(amount)) => Discount::FixedAmount(amount),
                (None, None) => return None,
            };
            Some(CurrencyTerms {
                discount,
                min_subtotal: pick(&mins),
                max_discount_per_customer: pick(&customer),
            })
        };
        let terms: Option<Vec<CurrencyTerms>> = if currencies.is_empty() {
            terms_in(None).map(|t| vec![t])
        } else {
            currencies.iter().map(|c| terms_in(Some(*c))).collect()
        };
        match terms {
            Some(terms) if !terms.is_empty() => Ok(Self(terms)),
            _ => Err(FieldError::new(Field::Discount, Problem::DiscountKindAmbiguous).into()),
        }
    }

    /// The terms as a caller would send them again.
    pub fn to_draft(&self) -> PricesDraft {
        let list = |f: fn(&CurrencyTerms) -> Option<Money>| -> MoneyGiven {
            MoneyGiven::of(&self.0.iter().filter_map(f).collect::<Vec<_>>())
        };
        PricesDraft {
            percentage: match self.main().discount {
                Discount::Percentage { percent, .. } => Some(percent.value()),
                Discount::FixedAmount(_) => None,
            },
            amounts: list(|t| match t.discount {
                Discount::FixedAmount(m) => Some(m),
                Discount::Percentage { .. } => None,
            }),
            max_discounts: list(|t| match t.discount {
                Discount::Percentage { max_discount, .. } => max_discount,
                Discount::FixedAmount(_) => None,
            }),
            min_subtotals: list(|t| t.min_subtotal),
            max_discounts_per_customer: list(|t| t.max_discount_per_customer),
        }
    }

    /// The terms in the main currency (the only ones, for a percentage with no amounts).
    pub fn main(&self) -> &CurrencyTerms {
        // Construction keeps at least one entry.
        &self.0[0]
    }

    /// The terms in every currency, the main one first.
    pub fn all(&self) -> &[CurrencyTerms] {
        &self.0
    }

    /// The terms in the currencies after the main one.
    pub fn others(&self) -> &[CurrencyTerms] {
        &self.0[1..]
    }

    /// The terms an order in `currency` gets, if the coupon is offered in it.
    pub fn in_currency(&self, currency: Currency) -> Option<&CurrencyTerms> {
        self.0
            .iter()
            .find(|t| t.currency().is_none_or(|c| c == currency))
    }

    /// The currencies it is offered in, the main one first; empty: any.
    pub fn currencies(&self) -> Vec<Currency> {
        self.0.iter().filter_map(CurrencyTerms::currency).collect()
    }

    /// Whether any currency caps one customer's discount.
    pub fn caps_customer_discount(&self) -> bool {
        self.0.iter().any(|t| t.max_discount_per_customer.is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn m(amount: &str, currency: &str) -> MoneyInput {
        MoneyInput {
            amount: Decimal::from_str(amount).unwrap(),
            currency: currency.into(),
        }
    }

    fn many(list: &[(&str, &str)]) -> MoneyGiven {
        MoneyGiven {
            one: None,
            many: Some(list.iter().map(|(a, c)| m(a, c)).collect()),
        }
    }

    fn fields(err: Invalid) -> Vec<(Field, Problem)> {
        err.0.into_iter().map(|e| (e.field, e.problem)).collect()
    }

    #[test]
    fn an_order_gets_the_terms_of_its_currency() {
        let prices = Prices::from_draft(&PricesDraft {
            amounts: many(&[("10", "USD"), ("9", "EUR"), ("1500", "JPY")]),
            min_subtotals: many(&[("50", "EUR"), ("50", "USD"), ("7000", "JPY")]),
            ..PricesDraft::default()
        })
        .unwrap();
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let gbp = Currency::parse("GBP").unwrap();
        assert_eq!(prices.main().currency(), Some(usd));
        assert_eq!(prices.currencies().len(), 3);
        let in_eur = prices.in_currency(eur).unwrap();
        assert_eq!(
            in_eur.discount,
            Discount::FixedAmount(Money {
                minor: 900,
                currency: eur
            })
        );
        assert_eq!(in_eur.min_subtotal.unwrap().minor, 5000);
        assert!(prices.in_currency(gbp).is_none());
        assert_eq!(
            Prices::from_draft(&prices.to_draft()).unwrap(),
            prices,
            "a round trip through the draft keeps the terms"
        );
    }

    #[test]
    fn a_percentage_without_amounts_applies_in_any_currency() {
        let prices = Prices::from_draft(&PricesDraft {
            percentage: Some(Decimal::TEN),
            ..PricesDraft::default()
        })
        .unwrap();
        assert!(prices.currencies().is_empty());
        assert!(
            prices
                .in_currency(Currency::parse("CHF").unwrap())
                .is_some()
        );
    }

    #[test]
    fn every_list_names_the_same_currencies() {
        let err = Prices::from_draft(&PricesDraft {
            percentage: Some(Decimal::TEN),
            max_discounts: many(&[("10", "USD"), ("9", "EUR")]),
            min_subtotals: many(&[("50", "USD")]),
            max_discounts_per_customer: MoneyGiven::one(Some(m("30", "USD"))),
            ..PricesDraft::default()
        })
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                (
                    Field::MoneyList(MoneyList::MinSubtotals),
                    Problem::CurrenciesDiffer {
                        expected: "USD, EUR".into()
                    }
                ),
                (
                    Field::MaxDiscountPerCustomerCurrency,
                    Problem::CurrenciesDiffer {
                        expected: "USD, EUR".into()
                    }
                ),
            ]
        );
        let err = Prices::from_draft(&PricesDraft {
            amounts: MoneyGiven::one(Some(m("5", "USD"))),
            min_subtotals: MoneyGiven::one(Some(m("50", "EUR"))),
            ..PricesDraft::default()
        })
        .unwrap_err();
        assert_eq!(
            fields(err),
            vec![(
                Field::MinSubtotalCurrency,
                Problem::CurrencyMismatch {
                    expected: "USD".into()
                }
            )]
        );
    }

    #[test]
    fn each_entry_is_checked_where_it_was_given() {
        let err = Prices::from_draft(&PricesDraft {
            amounts: many(&[("10", "USD"), ("9.999", "EUR"), ("1", "usd"), ("0", "JPY")]),
            max_discounts: MoneyGiven::one(Some(m("1", "USD"))),
            ..PricesDraft::default()
        })
        .unwrap_err();
        let at = |index, currency| Field::MoneyAt {
            list: MoneyList::Amounts,
            index,
            currency,
        };
        let got = fields(err);
        assert_eq!(got[0].0, at(1, false));
        assert_eq!(
            got[1],
            (at(2, true), Problem::CurrencyRepeated("USD".into()))
        );
        assert_eq!(got[2], (at(3, false), Problem::AmountNotPositive));
        assert_eq!(
            got[3],
            (Field::MaxDiscount, Problem::MaxDiscountNotApplicable)
        );
        let err = Prices::from_draft(&PricesDraft {
            percentage: Some(Decimal::TEN),
            min_subtotals: MoneyGiven {
                one: Some(m("1", "USD")),
                many: Some(vec![m("1", "EUR")]),
            },
            ..PricesDraft::default()
        })
        .unwrap_err();
        assert_eq!(fields(err)[0].0, Field::MinSubtotal);
    }

    #[test]
    fn exactly_one_kind() {
        let both = Prices::from_draft(&PricesDraft {
            percentage: Some(Decimal::TEN),
            amounts: MoneyGiven::one(Some(m("5", "USD"))),
            ..PricesDraft::default()
        });
        assert_eq!(
            fields(both.unwrap_err()),
            vec![(Field::Discount, Problem::DiscountKindAmbiguous)]
        );
        let neither = Prices::from_draft(&PricesDraft {
            amounts: many(&[]),
            ..PricesDraft::default()
        });
        assert_eq!(
            fields(neither.unwrap_err()),
            vec![(Field::Discount, Problem::DiscountKindAmbiguous)]
        );
    }
}
