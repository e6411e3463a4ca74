//! The order a coupon is applied to, as a storefront sends it.

use rust_decimal::Decimal;

use crate::error::{Collector, Field, FieldError, Invalid, Problem};
use crate::money::{Currency, Money};

/// Longest order id, SKU, category, customer id.
pub const ID_MAX: usize = 200;
/// Most line items in one order.
pub const ITEMS_MAX: usize = 500;
/// Longest e-mail address (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Product identifier.
    pub sku: String,
    /// Categories the product belongs to.
    pub categories: Vec<String>,
    /// How many.
    pub quantity: u32,
    /// Price of one, in the order's currency.
    pub unit_price: Money,
}

impl LineItem {
    /// The line's total, quantity × unit price, in minor units.
    pub fn total_minor(&self) -> i64 {
        i64::from(self.quantity).saturating_mul(self.unit_price.minor)
    }
}

/// Who is buying. At least one of id and e-mail identifies the customer for limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer {
    /// The storefront's own customer id.
    pub id: Option<String>,
    /// E-mail, normalised: trimmed and lower case.
    pub email: Option<String>,
    /// Tags the storefront gives the customer (e.g. `vip`).
    pub tags: Vec<String>,
    /// Whether this is the customer's first order, as the storefront says (`None`: not said).
    pub first_order: Option<bool>,
    /// What the storefront knows that ties accounts together (abuse detection).
    pub fingerprints: Fingerprints,
}

/// Traits several accounts of one person tend to share, as the storefront sends them
/// (raw or its own hashes): only keyed hashes of them are stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprints {
    /// The browser or device.
    pub device: Option<String>,
    /// The payment instrument (e.g. the card's fingerprint at the processor).
    pub payment: Option<String>,
    /// The shipping address, normalised by the storefront.
    pub shipping_address: Option<String>,
}

impl Customer {
    /// The identity per-customer limits are keyed on: the id, else the e-mail.
    pub fn identity(&self) -> Option<String> {
        match (&self.id, &self.email) {
            (Some(id), _) => Some(format!("id:{id}")),
            (None, Some(email)) => Some(format!("email:{email}")),
            (None, None) => None,
        }
    }

    /// The domain of the e-mail address, if any.
    pub fn email_domain(&self) -> Option<&str> {
        self.email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d)
    }
}

/// A validated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The storefront's order id.
    pub id: String,
    /// Everything in the order is in this currency.
    pub currency: Currency,
    /// The order subtotal the discount applies to.
    pub subtotal: Money,
    /// Lines.
    pub items: Vec<LineItem>,
    /// The shipping price (zero when not given).
    pub shipping: Money,
    /// The buyer.
    pub customer: Customer,
    /// Sales channel (lower case), if given.
    pub channel: Option<String>,
    /// The most its discounts may add up to: the subtotal, or less under a share the
    /// service is configured with ([`Order::limit_discounts`]).
    pub discount_limit: Money,
}

/// A line item as sent.
#[derive(Debug, Clone, Default)]
pub struct LineItemDraft {
    /// Product identifier.
    pub sku: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Quantity (at least 1).
    pub quantity: i64,
    /// Unit price (decimal).
    pub unit_price: Decimal,
}

/// An order as sent, before validation.
#[derive(Debug, Clone, Default)]
pub struct OrderDraft {
    /// Order id.
    pub id: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Subtotal (decimal).
    pub subtotal: Decimal,
    /// Lines.
    pub items: Vec<LineItemDraft>,
    /// Shipping price (decimal; zero when the order has none).
    pub shipping: Decimal,
    /// Customer id.
    pub customer_id: Option<String>,
    /// Customer e-mail.
    pub customer_email: Option<String>,
    /// Customer tags.
    pub customer_tags: Vec<String>,
    /// Whether this is the customer's first order (`None`: not said).
    pub first_order: Option<bool>,
    /// What ties the customer's accounts together.
    pub fingerprints: Fingerprints,
    /// Sales channel.
    pub channel: Option<String>,
}

/// The fingerprints as sent, trimmed; blank and overlong ones (past [`ID_MAX`]
/// characters) are left out rather than refused: they are evidence, not terms.
fn fingerprints(given: &Fingerprints) -> Fingerprints {
    let keep = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.chars().count() <= ID_MAX)
            .map(str::to_owned)
    };
    Fingerprints {
        device: keep(&given.device),
        payment: keep(&given.payment),
        shipping_address: keep(&given.shipping_address),
    }
}

fn bounded(raw: &str, field: Field) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, Problem::Blank));
    }
    if t.chars().count() > ID_MAX {
        return Err(FieldError::new(field, Problem::TooLong { max: ID_MAX }));
    }
    Ok(t.to_owned())
}

/// An amount of an order in its currency: exact to the minor unit, not negative.
fn amount(value: Decimal, currency: Currency, field: Field) -> Result<Money, FieldError> {
    let m = Money::from_decimal(value, currency).map_err(|p| FieldError::new(field, p))?;
    if m.minor < 0 {
        return Err(FieldError::new(field, Problem::AmountNegative));
    }
    Ok(m)
}

/// Normalises an e-mail address (trimmed, lower case) and checks its shape.
pub fn normalize_email(raw: &str) -> Result<String, Problem> {
    let e = raw.trim().to_lowercase();
    let shape_ok = e.len() <= EMAIL_MAX
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !e.chars().any(char::is_whitespace)
        });
    if shape_ok {
        Ok(e)
    } else {
        Err(Problem::InvalidEmail)
    }
}

impl Order {
    /// Caps the order's total discount at `share` of its subtotal (rounded half away
    /// from zero to the minor unit), whatever its coupons would give together.
    pub fn limit_discounts(&mut self, share: crate::Percentage) {
        let cap = crate::Discount::Percentage {
            percent: share,
            max_discount: None,
        }
        .amount_for(self.subtotal)
        .unwrap_or(self.subtotal);
        self.discount_limit = Money {
            minor: cap.minor.min(self.subtotal.minor),
            currency: self.subtotal.currency,
        };
    }

    /// How many items the order has: the sum of its lines' quantities.
    pub fn item_count(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.quantity)).sum()
    }

    /// Validates an order, reporting every problem.
    pub fn from_draft(d: OrderDraft) -> Result<Self, Invalid> {
        let mut e = Collector::default();
        let id = e.take(bounded(&d.id, Field::OrderId));
        let currency = e.take(
            Currency::parse(&d.currency).map_err(|p| FieldError::new(Field::OrderCurrency, p)),
        );
        let subtotal = currency.and_then(|c| e.take(amount(d.subtotal, c, Field::OrderSubtotal)));
        let shipping = currency.and_then(|c| e.take(amount(d.shipping, c, Field::OrderShipping)));
        if d.items.len() > ITEMS_MAX {
            e.push(FieldError::new(
                Field::OrderItems,
                Problem::TooMany { max: ITEMS_MAX },
            ));
        }
        let mut items = Vec::with_capacity(d.items.len());
        for (i, item) in d.items.into_iter().enumerate() {
            let sku = e.take(bounded(&item.sku, Field::ItemSku(i)));
            let quantity = if (1..=1_000_000).contains(&item.quantity) {
                u32::try_from(item.quantity).ok()
            } else {
                e.push(FieldError::new(
                    Field::ItemQuantity(i),
                    Problem::LimitTooSmall,
                ));
                None
            };
            let unit_price = currency.and_then(|c| {
                e.take(
                    Money::from_decimal(item.unit_price, c)
                        .map_err(|p| FieldError::new(Field::ItemUnitPrice(i), p))
                        .and_then(|m| {
                            if m.minor < 0 {
                                Err(FieldError::new(
                                    Field::ItemUnitPrice(i),
                                    Problem::AmountNegative,
                                ))
                            } else {
                                Ok(m)
                            }
                        }),
                )
            });
            let categories: Vec<String> = item
                .categories
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            if categories.iter().any(|c| c.chars().count() > ID_MAX) {
                e.push(FieldError::new(
                    Field::ItemCategories(i),
                    Problem::TooLong { max: ID_MAX },
                ));
            }
            if let (Some(sku), Some(quantity), Some(unit_price)) = (sku, quantity, unit_price) {
                items.push(LineItem {
                    sku,
                    categories,
                    quantity,
                    unit_price,
                });
            }
        }
        let customer_id = match d.customer_id.as_deref() {
            Some(raw) => e.take(bounded(raw, Field::CustomerId)).map(Some),
            None => Some(None),
        };
        let customer_email = match d.customer_email.as_deref() {
            Some(raw) => e
                .take(normalize_email(raw).map_err(|p| FieldError::new(Field::CustomerEmail, p)))
                .map(Some),
            None => Some(None),
        };
        let channel = d
            .channel
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty());
        if channel.as_ref().is_some_and(|c| c.len() > 64) {
            e.push(FieldError::new(
                Field::OrderChannel,
                Problem::TooLong { max: 64 },
            ));
        }
        e.finish()?;
        match (
            id,
            currency,
            subtotal,
            shipping,
            customer_id,
            customer_email,
        ) {
            (Some(id), Some(currency), Some(subtotal), Some(shipping), Some(cid), Some(email)) => {
                Ok(Self {
                    id,
                    currency,
                    subtotal,
                    discount_limit: subtotal,
                    items,
                    shipping,
                    customer: Customer {
                        id: cid,
                        email,
                        tags: d
                            .customer_tags
                            .iter()
                            .map(|t| t.trim().to_owned())
                            .filter(|t| !t.is_empty())
                            .collect(),
                        first_order: d.first_order,
                        fingerprints: fingerprints(&d.fingerprints),
                    },
                    channel,
                })
            }
            _ => Err(FieldError::new(Field::OrderId, Problem::Blank).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn draft() -> OrderDraft {
        OrderDraft {
            id: "o-1".into(),
            currency: "usd".into(),
            subtotal: Decimal::from_str("100.50").unwrap(),
            items: vec![LineItemDraft {
                sku: "SKU1".into(),
                categories: vec!["shoes".into()],
                quantity: 2,
                unit_price: Decimal::from_str("50.25").unwrap(),
            }],
            customer_email: Some("  Ann@Example.COM ".into()),
            channel: Some("Web".into()),
            ..OrderDraft::default()
        }
    }

    #[test]
    fn valid_order_is_normalised() {
        let o = Order::from_draft(draft()).unwrap();
        assert_eq!(o.subtotal.minor, 10050);
        assert_eq!(o.customer.email.as_deref(), Some("ann@example.com"));
        assert_eq!(
            o.customer.identity().as_deref(),
            Some("email:ann@example.com")
        );
        assert_eq!(o.customer.email_domain(), Some("example.com"));
        assert_eq!(o.channel.as_deref(), Some("web"));
        let with_id = Order::from_draft(OrderDraft {
            customer_id: Some("c-9".into()),
            ..draft()
        })
        .unwrap();
        assert_eq!(with_id.customer.identity().as_deref(), Some("id:c-9"));
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = OrderDraft {
            id: " ".into(),
            subtotal: Decimal::from_str("-1").unwrap(),
            items: vec![LineItemDraft {
                sku: "".into(),
                quantity: 0,
                unit_price: Decimal::from_str("1.001").unwrap(),
                ..LineItemDraft::default()
            }],
            customer_email: Some("not-an-email".into()),
            ..draft()
        };
        let fields: Vec<Field> = Order::from_draft(bad)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                Field::OrderId,
                Field::OrderSubtotal,
                Field::ItemSku(0),
                Field::ItemQuantity(0),
                Field::ItemUnitPrice(0),
                Field::CustomerEmail
            ]
        );
    }
}
