//! `OrderInput`: the order a code is checked against, with its lines and buyer.

use async_graphql::InputObject;
use coupons_domain::{Fingerprints, LineItemDraft, OrderDraft};

use crate::graphql::scalars::Decimal;

/// One line of an order.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItemInput {
    /// Product identifier.
    pub sku: String,
    /// Categories the product belongs to.
    #[graphql(default)]
    #[serde(default)]
    pub categories: Vec<String>,
    /// How many (at least 1).
    pub quantity: i32,
    /// Price of one, in the order's currency.
    pub unit_price: Decimal,
}

/// The buyer. Per-customer limits use the id when given, else the e-mail (trimmed,
/// lower case); only a keyed hash of either is stored.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerInput {
    /// The storefront's customer id.
    pub id: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Tags the storefront gives the customer (rules may read them).
    #[graphql(default)]
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether this is the customer's first order, as the storefront knows it (rules
    /// may read it; left out: not said).
    pub first_order: Option<bool>,
    /// What ties this customer's accounts together, for abuse detection.
    pub fingerprints: Option<FingerprintsInput>,
}

/// Traits several accounts of one person tend to share, sent raw or as the
/// storefront's own hashes; the service stores only keyed hashes of them, and uses them
/// only to detect farmed accounts (`FARMED_ACCOUNTS`). Each at most 200 characters;
/// blank or longer ones are ignored.
#[derive(Debug, Clone, Default, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FingerprintsInput {
    /// The browser or device (e.g. a device-fingerprinting library's visitor id).
    pub device: Option<String>,
    /// The payment instrument (e.g. the card fingerprint the payment processor gives).
    pub payment: Option<String>,
    /// The shipping address, normalised by the storefront.
    pub shipping_address: Option<String>,
}

/// The order a coupon is applied to.
#[derive(Debug, Clone, InputObject, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderInput {
    /// The storefront's order id.
    pub id: String,
    /// ISO 4217 currency of every amount in the order.
    pub currency: String,
    /// The subtotal the discount applies to.
    pub subtotal: Decimal,
    /// The order's lines.
    #[graphql(default)]
    #[serde(default)]
    pub items: Vec<LineItemInput>,
    /// The shipping price, if the order ships (shipping discounts take from it).
    pub shipping: Option<Decimal>,
    /// The buyer.
    pub customer: Option<CustomerInput>,
    /// Sales channel (e.g. `web`, `pos`).
    pub channel: Option<String>,
}

impl From<OrderInput> for OrderDraft {
    fn from(o: OrderInput) -> Self {
        let (customer_id, customer_email, customer_tags, first_order, given) = match o.customer {
            Some(c) => (c.id, c.email, c.tags, c.first_order, c.fingerprints),
            None => (None, None, Vec::new(), None, None),
        };
        let given = given.unwrap_or_default();
        Self {
            id: o.id,
            currency: o.currency,
            subtotal: o.subtotal.0,
            shipping: o.shipping.map(|s| s.0).unwrap_or_default(),
            items: o
                .items
                .into_iter()
                .map(|i| LineItemDraft {
                    sku: i.sku,
                    categories: i.categories,
                    quantity: i64::from(i.quantity),
                    unit_price: i.unit_price.0,
                })
                .collect(),
            customer_id,
            customer_email,
            customer_tags,
            first_order,
            fingerprints: Fingerprints {
                device: given.device,
                payment: given.payment,
                shipping_address: given.shipping_address,
            },
            channel: o.channel,
        }
    }
}
