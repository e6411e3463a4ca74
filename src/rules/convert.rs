//! Conversions into script values: JSON (parameters, metadata) and the facts of a
//! checkout (the `ctx` a rule sees), built directly rather than through serde.

use coupons_domain::RuleFacts;
use rhai::{Array, Dynamic, Map};

/// JSON to a script value, directly (faster than going through serde).
pub fn json_to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value as J;
    match value {
        J::Null => Dynamic::UNIT,
        J::Bool(b) => (*b).into(),
        J::Number(n) => n.as_i64().map_or_else(
            || n.as_f64().map_or(Dynamic::UNIT, Dynamic::from),
            Dynamic::from,
        ),
        J::String(s) => s.clone().into(),
        J::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        J::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect(),
        ),
    }
}

/// A list of strings as a script array.
fn strings(list: &[String]) -> Dynamic {
    Dynamic::from_array(list.iter().map(|s| Dynamic::from(s.clone())).collect())
}

/// An optional string as a script string, or `()` when absent.
fn opt(s: Option<&String>) -> Dynamic {
    s.map_or(Dynamic::UNIT, |s| Dynamic::from(s.clone()))
}

/// The `ctx` a rule sees.
pub fn facts_to_dynamic(f: &RuleFacts) -> Dynamic {
    let mut coupon = Map::new();
    coupon.insert("id".into(), f.coupon_id.into());
    coupon.insert("name".into(), f.coupon_name.clone().into());
    coupon.insert("metadata".into(), json_to_dynamic(&f.coupon_metadata));
    let items: Array = f
        .items
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("sku".into(), i.sku.clone().into());
            m.insert("categories".into(), strings(&i.categories));
            m.insert("quantity".into(), i.quantity.into());
            m.insert("unit_price".into(), i.unit_price.into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut order = Map::new();
    order.insert("id".into(), f.order_id.clone().into());
    order.insert("currency".into(), f.order_currency.clone().into());
    order.insert("subtotal".into(), f.subtotal.into());
    order.insert("shipping".into(), f.shipping.into());
    order.insert(
        "item_count".into(),
        f.items.iter().map(|i| i.quantity).sum::<i64>().into(),
    );
    order.insert("items".into(), Dynamic::from_array(items));
    order.insert("channel".into(), opt(f.channel.as_ref()));
    let mut customer = Map::new();
    customer.insert("id".into(), opt(f.customer_id.as_ref()));
    customer.insert("email_domain".into(), opt(f.email_domain.as_ref()));
    customer.insert("tags".into(), strings(&f.customer_tags));
    customer.insert(
        "first_order".into(),
        f.first_order.map_or(Dynamic::UNIT, Dynamic::from),
    );
    customer.insert("orders".into(), f.customer_orders.into());
    let mut usage = Map::new();
    usage.insert("coupon".into(), f.coupon_uses.into());
    usage.insert("code".into(), f.code_uses.into());
    usage.insert("customer".into(), f.customer_uses.into());
    usage.insert(
        "customer_times".into(),
        Dynamic::from_array(
            f.customer_use_times
                .iter()
                .map(|t| Dynamic::from(*t))
                .collect(),
        ),
    );
    usage.insert("discount_total".into(), f.discount_total.into());
    let mut ctx = Map::new();
    ctx.insert("coupon".into(), Dynamic::from_map(coupon));
    ctx.insert("code".into(), f.code.clone().into());
    ctx.insert("order".into(), Dynamic::from_map(order));
    ctx.insert("customer".into(), Dynamic::from_map(customer));
    ctx.insert("usage".into(), Dynamic::from_map(usage));
    ctx.insert("discount".into(), f.discount.into());
    ctx.insert("now".into(), f.now.into());
    Dynamic::from_map(ctx)
}
