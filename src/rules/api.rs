//! The functions rule scripts may call, registered in one place and documented in
//! `rules/README.md`. Nothing here touches files, the network, or the database.

use std::str::FromStr;

use chrono::{Datelike, TimeZone, Timelike, Utc};
use coupons_domain::{BuyXGetY, Currency, Money, Percentage, Shape};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};

/// What `check` may return, for the error when it returns something else.
const VERDICTS: &str = "check must return pass(), reject(..), cap(..), only_lines(..), free_shipping() or buy_x_get_y(..)";

fn verdict(kind: &str) -> Map {
    let mut m = Map::new();
    m.insert("verdict".into(), kind.into());
    m
}

/// `pass()`: the coupon may apply.
fn pass() -> Map {
    verdict("pass")
}

/// `reject(code, message)`: the coupon does not apply.
fn reject(code: &str, message: &str) -> Map {
    reject_with(code, message, Map::new())
}

/// `reject(code, message, details)`: with a map of details.
fn reject_with(code: &str, message: &str, details: Map) -> Map {
    let mut m = verdict("reject");
    m.insert("code".into(), code.into());
    m.insert("message".into(), message.into());
    m.insert("details".into(), details.into());
    m
}

/// `cap(amount)`: the coupon applies with at most `amount` (minor units) off.
fn cap(amount: i64) -> Map {
    let mut m = verdict("cap");
    m.insert("amount".into(), amount.into());
    m
}

/// `only_lines(skus)`: the coupon's discount goes to the order's lines with these SKUs
/// only.
fn only_lines(skus: Array) -> Map {
    let mut m = verdict("lines");
    m.insert("skus".into(), skus.into());
    m
}

/// `free_shipping()`: the coupon takes the whole shipping price off, instead of its own
/// discount.
fn free_shipping() -> Map {
    verdict("free_shipping")
}

/// `buy_x_get_y(offer)`: the coupon gives a buy-X-get-Y instead of its own discount:
/// `#{ buy: #{ skus, categories }, buy_quantity, get: #{ skus, categories },
/// get_quantity, percentage, max_applications }` (`percentage` 100 when left out: the
/// units got are free).
fn buy_x_get_y(offer: Map) -> Map {
    let mut m = offer;
    m.insert("verdict".into(), "buy_x_get_y".into());
    m
}

/// A shape verdict's map as the domain's shape, validated like a coupon's target.
fn read_shape(kind: &str, map: &Map) -> Result<Shape, String> {
    let shape = match kind {
        "lines" => {
            let skus = map
                .get("skus")
                .cloned()
                .and_then(string_list)
                .ok_or("only_lines(skus) needs an array of SKUs")?;
            Shape::lines(skus)
        }
        "free_shipping" => Shape::free_shipping(),
        _ => {
            let mut offer = map.clone();
            offer.remove("verdict");
            let percent = match offer.remove("percentage") {
                None => Percentage::ALL,
                Some(p) => {
                    let value = p
                        .as_int()
                        .map(rust_decimal::Decimal::from)
                        .or_else(|_| {
                            p.into_string().map_err(|_| ()).and_then(|s| {
                                rust_decimal::Decimal::from_str(s.trim()).map_err(|_| ())
                            })
                        })
                        .map_err(|()| "buy_x_get_y: percentage is a number from 0 to 100")?;
                    Percentage::new(value).map_err(|e| format!("buy_x_get_y: {e}"))?
                }
            };
            let offer: BuyXGetY = rhai::serde::from_dynamic(&offer.into())
                .map_err(|e| format!("buy_x_get_y: {e}"))?;
            Shape::buy_x_get_y(offer, percent)
        }
    };
    shape.check()
}

/// `domain_matches(domain, pattern)`: `"acme.com"` matches itself only; `"*.acme.com"`
/// matches any subdomain (`eu.acme.com`, `a.b.acme.com`) but not `acme.com`; `"*"`
/// matches every domain. Case is ignored.
pub fn domain_matches(domain: &str, pattern: &str) -> bool {
    let domain = domain.trim().to_ascii_lowercase();
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        _ if pattern == "*" => true,
        Some(suffix) => domain.len() > suffix.len() + 1 && domain.ends_with(&format!(".{suffix}")),
        None => domain == pattern,
    }
}

fn zoned(ts: i64, tz: &str) -> Result<chrono::DateTime<chrono_tz::Tz>, Box<EvalAltResult>> {
    let zone = chrono_tz::Tz::from_str(tz).map_err(|_| format!("unknown time zone {tz:?}"))?;
    let utc = Utc
        .timestamp_opt(ts, 0)
        .single()
        .ok_or("timestamp out of range")?;
    Ok(utc.with_timezone(&zone))
}

/// `day_of_week(ts, tz)`: 1 (Monday) to 7 (Sunday) in the IANA time zone `tz`.
fn day_of_week(ts: i64, tz: &str) -> Result<i64, Box<EvalAltResult>> {
    Ok(i64::from(zoned(ts, tz)?.weekday().number_from_monday()))
}

/// `hour_of_day(ts, tz)`: 0 to 23 in the IANA time zone `tz`.
fn hour_of_day(ts: i64, tz: &str) -> Result<i64, Box<EvalAltResult>> {
    Ok(i64::from(zoned(ts, tz)?.hour()))
}

/// `to_minor(amount, currency)`: a decimal string ("50.00") in minor units of `currency`.
fn to_minor(amount: &str, currency: &str) -> Result<i64, Box<EvalAltResult>> {
    let c = Currency::parse(currency).map_err(|e| e.to_string())?;
    let d = rust_decimal::Decimal::from_str(amount.trim())
        .map_err(|_| format!("{amount:?} is not a decimal amount"))?;
    Ok(Money::from_decimal(d, c).map_err(|e| e.to_string())?.minor)
}

/// `format_money(minor, currency)`: "12.50 USD".
fn format_money(minor: i64, currency: &str) -> Result<String, Box<EvalAltResult>> {
    let c = Currency::parse(currency).map_err(|e| e.to_string())?;
    Ok(Money { minor, currency: c }.to_string())
}

fn string_list(list: Dynamic) -> Option<Vec<String>> {
    let array = list.try_cast::<Array>()?;
    Some(
        array
            .into_iter()
            .filter_map(|v| v.into_string().ok())
            .collect(),
    )
}

/// `eligible_subtotal(items, include_skus, include_categories, exclude_skus,
/// exclude_categories)`: `[eligible, total]` in minor units. An item is eligible when it
/// matches an include list (if any is given: its SKU, or one of its categories) and no
/// exclude list. Lists may be `()`.
fn eligible_subtotal(
    items: Array,
    include_skus: Dynamic,
    include_categories: Dynamic,
    exclude_skus: Dynamic,
    exclude_categories: Dynamic,
) -> Array {
    let (inc_skus, inc_cats) = (string_list(include_skus), string_list(include_categories));
    let (exc_skus, exc_cats) = (string_list(exclude_skus), string_list(exclude_categories));
    let includes = inc_skus.is_some() || inc_cats.is_some();
    let listed = |list: &Option<Vec<String>>, value: &str| {
        list.as_ref().is_some_and(|l| l.iter().any(|x| x == value))
    };
    let (mut eligible, mut total) = (0_i64, 0_i64);
    for item in items {
        let Some(item) = item.try_cast::<Map>() else {
            continue;
        };
        let int = |key: &str| item.get(key).and_then(|v| v.as_int().ok()).unwrap_or(0);
        let amount = int("quantity").saturating_mul(int("unit_price"));
        total = total.saturating_add(amount);
        let sku = item
            .get("sku")
            .and_then(|v| v.clone().into_string().ok())
            .unwrap_or_default();
        let categories = item
            .get("categories")
            .cloned()
            .and_then(string_list)
            .unwrap_or_default();
        let included =
            !includes || listed(&inc_skus, &sku) || categories.iter().any(|c| listed(&inc_cats, c));
        let excluded = listed(&exc_skus, &sku) || categories.iter().any(|c| listed(&exc_cats, c));
        if included && !excluded {
            eligible = eligible.saturating_add(amount);
        }
    }
    vec![Dynamic::from(eligible), Dynamic::from(total)]
}

/// Registers the script API on `engine`.
pub fn register(engine: &mut Engine) {
    engine
        .register_fn("pass", pass)
        .register_fn("reject", reject)
        .register_fn("reject", reject_with)
        .register_fn("cap", cap)
        .register_fn("only_lines", only_lines)
        .register_fn("free_shipping", free_shipping)
        .register_fn("buy_x_get_y", buy_x_get_y)
        .register_fn("domain_matches", domain_matches)
        .register_fn("eligible_subtotal", eligible_subtotal)
        .register_fn("day_of_week", day_of_week)
        .register_fn("hour_of_day", hour_of_day)
        .register_fn("to_minor", to_minor)
        .register_fn("format_money", format_money);
}

/// Reads a verdict returned by `check`: `()` or `pass()`, `reject(..)`, `cap(..)`, or a
/// shape: `only_lines(..)`, `free_shipping()`, `buy_x_get_y(..)`.
pub fn read_verdict(value: Dynamic) -> Result<coupons_domain::RuleVerdict, String> {
    use coupons_domain::RuleVerdict;
    if value.is_unit() {
        return Ok(RuleVerdict::Pass);
    }
    let map = value.try_cast::<Map>().ok_or(VERDICTS)?;
    let text = |key: &str| map.get(key).and_then(|v| v.clone().into_string().ok());
    match text("verdict").as_deref() {
        Some("pass") => Ok(RuleVerdict::Pass),
        Some("reject") => Ok(RuleVerdict::Reject {
            code: text("code").unwrap_or_default(),
            message: text("message").unwrap_or_default(),
            details: map
                .get("details")
                .and_then(|d| rhai::serde::from_dynamic(d).ok())
                .unwrap_or(serde_json::Value::Null),
        }),
        Some("cap") => map
            .get("amount")
            .and_then(|a| a.as_int().ok())
            .map(|a| RuleVerdict::Cap(a.max(0)))
            .ok_or_else(|| "cap(amount) needs a whole number of minor units".to_owned()),
        Some(kind @ ("lines" | "free_shipping" | "buy_x_get_y")) => {
            read_shape(kind, &map).map(RuleVerdict::Shape)
        }
        _ => Err(VERDICTS.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_patterns() {
        assert!(domain_matches("acme.com", "acme.com"));
        assert!(domain_matches("ACME.com", "acme.COM"));
        assert!(!domain_matches("eu.acme.com", "acme.com"));
        assert!(domain_matches("eu.acme.com", "*.acme.com"));
        assert!(domain_matches("a.b.acme.com", "*.acme.com"));
        assert!(!domain_matches("acme.com", "*.acme.com"));
        assert!(!domain_matches("evilacme.com", "*.acme.com"));
        assert!(domain_matches("anything.org", "*"));
    }

    #[test]
    fn time_zones_and_money() {
        // 2026-01-01T00:00:00Z is a Thursday; 19:00 the day before in New York.
        let ts = 1_767_225_600;
        assert_eq!(day_of_week(ts, "UTC").unwrap(), 4);
        assert_eq!(day_of_week(ts, "America/New_York").unwrap(), 3);
        assert_eq!(hour_of_day(ts, "America/New_York").unwrap(), 19);
        assert!(day_of_week(ts, "Mars/Olympus").is_err());
        assert_eq!(to_minor("50", "USD").unwrap(), 5000);
        assert_eq!(to_minor("1000", "JPY").unwrap(), 1000);
        assert!(to_minor("1.005", "USD").is_err());
        assert_eq!(format_money(1250, "USD").unwrap(), "12.50 USD");
    }
}
