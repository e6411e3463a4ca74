//! Row types and their conversion to and from domain values.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use coupons_domain::{
    Channels, Coupon, CouponId, CouponSpec, Currency, CurrencyTerms, Discount, DiscountClass,
    LifecycleStatus, Limit, Metadata, Money, Percentage, Prices, Redemption, RedemptionStatus,
    ReversalPolicy, RuleBinding, Stacking, Target, TimeZone, Window,
};
use diesel::Queryable;
use rust_decimal::Decimal;
use serde_json::Value;

use super::StorageError;

/// A `coupons` row, all columns in table order. Serialised as it is for the audit log.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub(super) struct StoredCoupon {
    pub(super) id: i64,
    name: String,
    description: Option<String>,
    status: String,
    discount_kind: String,
    percent_off: Option<String>,
    amount_minor: Option<i64>,
    max_discount_minor: Option<i64>,
    currency: Option<String>,
    starts_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    max_redemptions: Option<i64>,
    per_customer_limit: Option<i64>,
    channels: Value,
    rules: Value,
    metadata: Value,
    redemption_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    min_subtotal_minor: Option<i64>,
    reversal_policy: String,
    reserved_count: i64,
    pub(super) campaign_id: Option<i64>,
    min_items: Option<i64>,
    combines_with: String,
    priority: i32,
    target: Option<Value>,
    automatic: bool,
    max_discount_per_customer_minor: Option<i64>,
    time_zone: Option<String>,
    other_currencies: Option<Value>,
    max_order_discount_percent: Option<String>,
}

/// A coupon's terms in a currency after its main one, as stored in `other_currencies`
/// (minor units; each amount present when the main currency has it).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct OtherCurrency {
    currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_discount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_subtotal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_discount_per_customer: Option<i64>,
}

impl OtherCurrency {
    /// The column's value: null for a coupon in one currency.
    pub(crate) fn column(prices: &Prices) -> Option<Value> {
        let others: Vec<Self> = prices
            .others()
            .iter()
            .filter_map(|t| {
                let (amount, max_discount) = match t.discount {
                    Discount::FixedAmount(m) => (Some(m.minor), None),
                    Discount::Percentage { max_discount, .. } => {
                        (None, max_discount.map(|m| m.minor))
                    }
                };
                Some(Self {
                    currency: t.currency()?.code().to_owned(),
                    amount,
                    max_discount,
                    min_subtotal: t.min_subtotal.map(|m| m.minor),
                    max_discount_per_customer: t.max_discount_per_customer.map(|m| m.minor),
                })
            })
            .collect();
        if others.is_empty() {
            None
        } else {
            serde_json::to_value(others).ok()
        }
    }

    /// The terms in this currency, shaped like the main currency's.
    fn terms(self, main: &CurrencyTerms) -> Result<CurrencyTerms, String> {
        let currency = Currency::parse(&self.currency).map_err(|e| e.to_string())?;
        let money = |minor: Option<i64>, main: Option<Money>, what: &str| match (minor, main) {
            (Some(minor), Some(_)) => Ok(Some(Money { minor, currency })),
            (None, None) => Ok(None),
            _ => Err(format!("{what} in {currency} unlike the main currency")),
        };
        let discount = match main.discount {
            Discount::FixedAmount(m) => Discount::FixedAmount(
                money(self.amount, Some(m), "amount")?
                    .ok_or_else(|| format!("no amount in {currency}"))?,
            ),
            Discount::Percentage {
                percent,
                max_discount,
            } => Discount::Percentage {
                percent,
                max_discount: money(self.max_discount, max_discount, "cap")?,
            },
        };
        Ok(CurrencyTerms {
            discount,
            min_subtotal: money(self.min_subtotal, main.min_subtotal, "minimum subtotal")?,
            max_discount_per_customer: money(
                self.max_discount_per_customer,
                main.max_discount_per_customer,
                "customer discount cap",
            )?,
        })
    }
}

/// Reads the stored list of discount classes (comma-separated names).
pub(super) fn discount_classes(stored: &str) -> Result<Vec<DiscountClass>, String> {
    stored
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<DiscountClass>()
                .map_err(|_| format!("discount class {c:?}"))
        })
        .collect()
}

impl StoredCoupon {
    /// Decodes the row; a row that breaks a domain invariant is reported as corrupt.
    pub(super) fn into_domain(self) -> Result<Coupon, StorageError> {
        let id = self.id;
        let corrupt = |reason: String| StorageError::Corrupt {
            table: "coupons",
            id,
            reason,
        };
        let currency = self
            .currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?;
        let discount = match (
            self.discount_kind.as_str(),
            self.percent_off,
            self.amount_minor,
        ) {
            ("PERCENTAGE", Some(p), None) => {
                let p = Decimal::from_str(&p).map_err(|e| corrupt(e.to_string()))?;
                let percent = Percentage::new(p).map_err(|e| corrupt(e.to_string()))?;
                let max_discount = match (self.max_discount_minor, currency) {
                    (Some(minor), Some(currency)) => Some(Money { minor, currency }),
                    (None, _) => None,
                    (Some(_), None) => return Err(corrupt("cap without currency".into())),
                };
                Discount::Percentage {
                    percent,
                    max_discount,
                }
            }
            ("FIXED_AMOUNT", None, Some(minor)) => Discount::FixedAmount(Money {
                minor,
                currency: currency.ok_or_else(|| corrupt("amount without currency".into()))?,
            }),
            (kind, _, _) => return Err(corrupt(format!("inconsistent discount {kind}"))),
        };
        let rules = match self.rules {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                    let params = item.get("params").cloned().unwrap_or(Value::Null);
                    RuleBinding::new(name, params, i).map_err(|e| corrupt(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(corrupt("rules is not an array".into())),
        };
        let channels: Vec<String> =
            serde_json::from_value(self.channels).map_err(|e| corrupt(e.to_string()))?;
        let main = CurrencyTerms {
            discount,
            min_subtotal: match (self.min_subtotal_minor, currency) {
                (None, _) => None,
                (Some(minor), Some(currency)) => Some(Money { minor, currency }),
                (Some(_), None) => return Err(corrupt("minimum subtotal without currency".into())),
            },
            max_discount_per_customer: match (self.max_discount_per_customer_minor, currency) {
                (None, _) => None,
                (Some(minor), Some(currency)) => Some(Money { minor, currency }),
                (Some(_), None) => {
                    return Err(corrupt("customer discount cap without currency".into()));
                }
            },
        };
        let others = match self.other_currencies {
            None => Vec::new(),
            Some(list) => serde_json::from_value::<Vec<OtherCurrency>>(list)
                .map_err(|e| corrupt(e.to_string()))?
                .into_iter()
                .map(|o| o.terms(&main).map_err(corrupt))
                .collect::<Result<_, _>>()?,
        };
        let spec = CouponSpec {
            name: self.name,
            description: self.description,
            prices: Prices::new(main, others),
            window: Window::new(self.starts_at, self.expires_at)
                .map_err(|e| corrupt(e.problem.to_string()))?,
            max_redemptions: Limit::new(
                self.max_redemptions,
                coupons_domain::Field::MaxRedemptions,
            )
            .map_err(|e| corrupt(e.problem.to_string()))?,
            per_customer_limit: Limit::new(
                self.per_customer_limit,
                coupons_domain::Field::PerCustomerLimit,
            )
            .map_err(|e| corrupt(e.problem.to_string()))?,
            channels: Channels::new(&channels).map_err(|e| corrupt(e.to_string()))?,
            rules,
            metadata: Metadata::new(self.metadata).map_err(|e| corrupt(e.problem.to_string()))?,
            min_items: Limit::new(self.min_items, coupons_domain::Field::MinItems)
                .map_err(|e| corrupt(e.problem.to_string()))?,
            reversal_policy: ReversalPolicy::parse(&self.reversal_policy)
                .ok_or_else(|| corrupt(format!("reversal policy {:?}", self.reversal_policy)))?,
            stacking: Stacking::new(
                discount_classes(&self.combines_with).map_err(corrupt)?,
                self.priority,
            ),
            target: match self.target {
                None => Target::Order,
                Some(t) => serde_json::from_value(t).map_err(|e| corrupt(e.to_string()))?,
            },
            automatic: self.automatic,
            max_order_discount: self
                .max_order_discount_percent
                .as_deref()
                .map(|p| {
                    Decimal::from_str(p)
                        .map_err(|e| e.to_string())
                        .and_then(|p| Percentage::new(p).map_err(|e| e.to_string()))
                })
                .transpose()
                .map_err(corrupt)?,
            time_zone: self
                .time_zone
                .as_deref()
                .map(TimeZone::parse)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
        };
        Ok(Coupon {
            id: CouponId(id),
            spec,
            lifecycle: LifecycleStatus::parse(&self.status)
                .ok_or_else(|| corrupt(format!("status {:?}", self.status)))?,
            redemption_count: self.redemption_count,
            reserved_count: self.reserved_count,
            campaign_id: self.campaign_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A `redemptions` row, all columns in table order.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub(super) struct StoredRedemption {
    pub id: i64,
    pub coupon_id: i64,
    pub code_id: i64,
    pub code: String,
    pub status: String,
    pub holds_use: bool,
    pub customer_key: Option<String>,
    pub email_domain: Option<String>,
    pub order_id: String,
    pub channel: Option<String>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub refunded_minor: i64,
    pub reserved_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub campaign_id: Option<i64>,
    pub reserved_at: Option<DateTime<Utc>>,
    pub lines: Option<Value>,
    /// What ties customers' accounts together (keyed hashes): read by abuse
    /// detection's own queries, and left out of the row's audit and event snapshots.
    #[serde(skip)]
    #[expect(
        dead_code,
        reason = "mapped with the row; abuse detection reads it in SQL"
    )]
    pub device_key: Option<String>,
    #[serde(skip)]
    #[expect(
        dead_code,
        reason = "mapped with the row; abuse detection reads it in SQL"
    )]
    pub payment_key: Option<String>,
    #[serde(skip)]
    #[expect(
        dead_code,
        reason = "mapped with the row; abuse detection reads it in SQL"
    )]
    pub address_key: Option<String>,
    #[serde(skip)]
    #[expect(
        dead_code,
        reason = "mapped with the row; abuse detection reads it in SQL"
    )]
    pub mailbox_key: Option<String>,
}

impl StoredRedemption {
    pub(super) fn status(&self) -> Result<RedemptionStatus, StorageError> {
        RedemptionStatus::parse(&self.status).ok_or_else(|| StorageError::Corrupt {
            table: "redemptions",
            id: self.id,
            reason: format!("status {:?}", self.status),
        })
    }

    pub(super) fn into_domain(self) -> Result<Redemption, StorageError> {
        Ok(Redemption {
            status: self.status()?,
            id: self.id,
            coupon_id: self.coupon_id,
            code: self.code,
            order_id: self.order_id,
            channel: self.channel,
            email_domain: self.email_domain,
            currency: self.currency,
            subtotal_minor: self.subtotal_minor,
            discount_minor: self.discount_minor,
            refunded_minor: self.refunded_minor,
            reserved_until: self.reserved_until,
            created_at: self.created_at,
            redeemed_at: self.redeemed_at,
            closed_at: self.closed_at,
            lines: match self.lines {
                None => Vec::new(),
                Some(v) => serde_json::from_value(v).map_err(|e| StorageError::Corrupt {
                    table: "redemptions",
                    id: self.id,
                    reason: e.to_string(),
                })?,
            },
        })
    }
}
