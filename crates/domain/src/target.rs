//! What part of an order a coupon discounts, and how a discount on lines is shared
//! between them.
//!
//! - [`Target::Order`]: the order subtotal.
//! - [`Target::Lines`]: the lines a [`LineSelector`] picks (by SKU or category); the
//!   discount is worked out on their total and shared between them.
//! - [`Target::Shipping`]: the shipping price (100 percent off is free shipping).
//! - [`Target::BuyXGetY`]: buy some units of one set, get some units of another (the
//!   cheapest first) at the coupon's percentage off (100 is free), as many times as the
//!   order allows, up to a maximum.
//!
//! A discount on lines is rounded once, on the total it is worked out on (half away
//! from zero, to the minor unit), then shared between the lines in proportion to what
//! each contributed, by largest remainder ([`allocate`]): the shares add up to the
//! discount exactly and no line takes more than it has left.
//!
//! Several coupons on one order each take from what the ones before them left
//! ([`Left`]): line discounts first, then order discounts, then shipping discounts
//! ([`DiscountClass`] order).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Collector, Field, FieldError, Invalid, Problem};
use crate::{Discount, LineItem, Money, Order};

/// The most SKUs or categories a selector names.
pub const SELECTOR_MAX: usize = 100;

/// What part of an order a coupon takes its discount from, in application order: line
/// discounts apply first, then order discounts, then shipping discounts.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountClass {
    /// Some of the order's lines (a line target, buy X get Y).
    Line,
    /// The order subtotal.
    Order,
    /// The shipping price.
    Shipping,
}

impl DiscountClass {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which lines of an order: those whose SKU is one of `skus` or that belong to one of
/// `categories`; every line when both are empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LineSelector {
    /// SKUs, exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<String>,
    /// Categories, exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

impl LineSelector {
    /// A selector, trimmed, without blanks or repeats, reporting what is too long.
    pub fn new(skus: Vec<String>, categories: Vec<String>) -> Result<Self, Problem> {
        let clean = |list: Vec<String>| -> Result<Vec<String>, Problem> {
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for item in list {
                let t = item.trim();
                if t.chars().count() > crate::order::ID_MAX {
                    return Err(Problem::TooLong {
                        max: crate::order::ID_MAX,
                    });
                }
                if !t.is_empty() && !out.iter().any(|o| o == t) {
                    out.push(t.to_owned());
                }
            }
            if out.len() > SELECTOR_MAX {
                return Err(Problem::TooMany { max: SELECTOR_MAX });
            }
            Ok(out)
        };
        Ok(Self {
            skus: clean(skus)?,
            categories: clean(categories)?,
        })
    }

    /// Whether it picks `line`.
    pub fn picks(&self, line: &LineItem) -> bool {
        (self.skus.is_empty() && self.categories.is_empty())
            || self.skus.contains(&line.sku)
            || line.categories.iter().any(|c| self.categories.contains(c))
    }
}

/// Buy `buy_quantity` units of the `buy` lines, get `get_quantity` units of the `get`
/// lines at the coupon's percentage off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyXGetY {
    /// The lines whose units count as bought.
    pub buy: LineSelector,
    /// How many units must be bought for one application (at least 1).
    pub buy_quantity: u32,
    /// The lines whose units are discounted.
    pub get: LineSelector,
    /// How many units one application discounts (at least 1).
    pub get_quantity: u32,
    /// The most applications on one order; none: as many as the order allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_applications: Option<u32>,
}

impl BuyXGetY {
    /// How many units of each of `items` are discounted: the cheapest units of the `get`
    /// lines (ties by line order), `get_quantity` per application, for as many
    /// applications as leave `buy_quantity` units of the `buy` lines per application
    /// among the units not discounted, up to `max_applications`.
    pub fn discounted_units(&self, items: &[LineItem]) -> Vec<u32> {
        let mut cheapest: Vec<usize> = (0..items.len())
            .filter(|&i| self.get.picks(&items[i]))
            .collect();
        cheapest.sort_by_key(|&i| (items[i].unit_price.minor, i));
        let get_units: u64 = cheapest.iter().map(|&i| u64::from(items[i].quantity)).sum();
        let most = get_units / u64::from(self.get_quantity.max(1));
        let most = self
            .max_applications
            .map_or(most, |m| most.min(u64::from(m)));
        // The units given away for `k` applications, per line.
        let given = |k: u64| -> Vec<u32> {
            let mut want = k * u64::from(self.get_quantity);
            let mut out = vec![0_u32; items.len()];
            for &i in &cheapest {
                let here = want.min(u64::from(items[i].quantity));
                out[i] = u32::try_from(here).unwrap_or(u32::MAX);
                want -= here;
            }
            out
        };
        let feasible = |k: u64| -> bool {
            let given = given(k);
            let bought: u64 = (0..items.len())
                .filter(|&i| self.buy.picks(&items[i]))
                .map(|i| u64::from(items[i].quantity - given[i]))
                .sum();
            bought >= k * u64::from(self.buy_quantity)
        };
        // Fewer applications leave more units to buy with, so the feasible counts are
        // 0..=k for some k: find it by bisection.
        let (mut lo, mut hi) = (0_u64, most);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if feasible(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        given(lo)
    }
}

/// What part of an order a coupon discounts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The order subtotal.
    #[default]
    Order,
    /// The lines a selector picks.
    Lines(LineSelector),
    /// The shipping price.
    Shipping,
    /// Buy X get Y.
    BuyXGetY(Box<BuyXGetY>),
}

impl Target {
    /// The class of discount it gives.
    pub fn class(&self) -> DiscountClass {
        match self {
            Self::Order => DiscountClass::Order,
            Self::Lines(_) | Self::BuyXGetY(_) => DiscountClass::Line,
            Self::Shipping => DiscountClass::Shipping,
        }
    }

    /// Validates a target as sent (its selectors trimmed, without blanks or repeats)
    /// against the coupon's discount: buy X get Y needs a percentage.
    pub fn check(self, discount: &Discount) -> Result<Self, Invalid> {
        let mut e = Collector::default();
        let mut clean = |s: LineSelector| {
            e.take(
                LineSelector::new(s.skus, s.categories)
                    .map_err(|p| FieldError::new(Field::TargetLines, p)),
            )
            .unwrap_or_default()
        };
        let target = match self {
            Self::Lines(s) => Self::Lines(clean(s)),
            Self::BuyXGetY(b) => {
                let b = *b;
                Self::BuyXGetY(Box::new(BuyXGetY {
                    buy: clean(b.buy),
                    get: clean(b.get),
                    ..b
                }))
            }
            other => other,
        };
        if let Self::BuyXGetY(b) = &target {
            if !matches!(discount, Discount::Percentage { .. }) {
                e.push(FieldError::new(Field::Target, Problem::PercentageRequired));
            }
            for (field, n) in [
                (Field::TargetBuyQuantity, b.buy_quantity),
                (Field::TargetGetQuantity, b.get_quantity),
            ] {
                if !(1..=1_000).contains(&n) {
                    e.push(FieldError::new(
                        field,
                        Problem::OutOfRange { min: 1, max: 1_000 },
                    ));
                }
            }
            if b.max_applications == Some(0) {
                e.push(FieldError::new(
                    Field::TargetMaxApplications,
                    Problem::LimitTooSmall,
                ));
            }
        }
        e.finish()?;
        Ok(target)
    }

    /// What of `order` the target reaches.
    pub fn reach(&self, order: &Order) -> Reach {
        match self {
            Self::Order => Reach::Order,
            Self::Shipping => Reach::Shipping,
            Self::Lines(selector) => Reach::Lines(
                order
                    .items
                    .iter()
                    .map(|line| {
                        if selector.picks(line) {
                            Decimal::ONE
                        } else {
                            Decimal::ZERO
                        }
                    })
                    .collect(),
            ),
            Self::BuyXGetY(b) => Reach::Lines(
                b.discounted_units(&order.items)
                    .into_iter()
                    .zip(&order.items)
                    .map(|(units, line)| Decimal::from(units) / Decimal::from(line.quantity))
                    .collect(),
            ),
        }
    }
}

/// What of one order a coupon reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The subtotal.
    Order,
    /// The share of each line (0 to 1, by line) it discounts.
    Lines(Vec<Decimal>),
    /// The shipping price.
    Shipping,
}

impl Reach {
    /// Whether it reaches no line at all (a line target none of the order's lines
    /// match, a buy X get Y the order does not qualify for).
    pub fn misses(&self) -> bool {
        matches!(self, Self::Lines(shares) if shares.iter().all(|s| s.is_zero()))
    }
}

/// One line's share of a discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineShare {
    /// The line's index in the order.
    pub line: u32,
    /// The line's SKU.
    pub sku: String,
    /// Its share, in minor units.
    pub minor: i64,
}

/// A discount taken from an order: the amount and, for a line discount, its shares by
/// line (which add up to the amount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The amount.
    pub amount: Money,
    /// The lines' shares, for a line discount (lines with no share left out).
    pub lines: Vec<LineShare>,
}

impl Granted {
    /// A discount on the subtotal or shipping, not shared between lines.
    pub fn whole(amount: Money) -> Self {
        Self {
            amount,
            lines: Vec::new(),
        }
    }
}

/// What is left of an order to discount as coupons apply one after another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// Of each line's total (quantity × unit price).
    pub lines: Vec<i64>,
    /// Of the subtotal.
    pub subtotal: i64,
    /// Of the shipping price.
    pub shipping: i64,
    /// Of what the order's line and order discounts may add up to.
    pub room: i64,
    /// What the order's line and order discounts add up to so far.
    pub taken: i64,
}

impl Left {
    /// The whole of `order`, nothing taken yet.
    pub fn of(order: &Order) -> Self {
        Self {
            lines: order.items.iter().map(LineItem::total_minor).collect(),
            subtotal: order.subtotal.minor,
            shipping: order.shipping.minor,
            room: order.discount_limit.minor,
            taken: 0,
        }
    }

    /// What a coupon giving `discount` over `reach` takes from what is left, never more
    /// than `most`.
    pub fn take(&self, discount: &Discount, reach: &Reach, most: i64, order: &Order) -> Granted {
        let currency = order.currency;
        let money = |minor: i64| Money { minor, currency };
        let on = |base: i64| {
            discount
                .amount_for(money(base.max(0)))
                .map_or(0, |m| m.minor)
        };
        match reach {
            Reach::Order => Granted::whole(money(
                on(self.subtotal)
                    .min(most)
                    .min(self.room.min(self.subtotal))
                    .max(0),
            )),
            Reach::Shipping => Granted::whole(money(on(self.shipping).min(most).max(0))),
            Reach::Lines(shares) => {
                let weights: Vec<Decimal> = shares
                    .iter()
                    .zip(&self.lines)
                    .map(|(s, left)| *s * Decimal::from((*left).max(0)))
                    .collect();
                let base = weights.iter().sum::<Decimal>().round_dp_with_strategy(
                    0,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                let caps: Vec<i64> = shares
                    .iter()
                    .zip(&self.lines)
                    .map(|(s, left)| if s.is_zero() { 0 } else { (*left).max(0) })
                    .collect();
                let amount = on(i64::try_from(base).unwrap_or(i64::MAX))
                    .min(most)
                    .min(caps.iter().sum())
                    .clamp(0, self.room.min(self.subtotal).max(0));
                let lines = allocate(amount, &weights, &caps)
                    .into_iter()
                    .enumerate()
                    .filter(|(_, minor)| *minor > 0)
                    .map(|(i, minor)| LineShare {
                        line: u32::try_from(i).unwrap_or(u32::MAX),
                        sku: order.items[i].sku.clone(),
                        minor,
                    })
                    .collect();
                Granted {
                    amount: money(amount),
                    lines,
                }
            }
        }
    }

    /// Takes `granted`, a discount of `class`, from what is left.
    pub fn spend(&mut self, class: DiscountClass, granted: &Granted) {
        let minor = granted.amount.minor;
        match class {
            DiscountClass::Shipping => self.shipping -= minor,
            DiscountClass::Order | DiscountClass::Line => {
                self.subtotal -= minor;
                self.room -= minor;
                self.taken += minor;
                for share in &granted.lines {
                    if let Some(left) = self.lines.get_mut(share.line as usize) {
                        *left -= share.minor;
                    }
                }
            }
        }
    }

    /// Takes a discount the order already holds from an earlier call: its line shares
    /// are matched to this order's lines by SKU.
    pub fn spend_held(
        &mut self,
        class: DiscountClass,
        minor: i64,
        shares: &[LineShare],
        order: &Order,
    ) {
        let mut matched = Vec::with_capacity(shares.len());
        for share in shares {
            let line = order
                .items
                .iter()
                .position(|l| l.sku == share.sku)
                .and_then(|i| u32::try_from(i).ok());
            if let Some(line) = line {
                matched.push(LineShare {
                    line,
                    ..share.clone()
                });
            }
        }
        self.spend(
            class,
            &Granted {
                amount: Money {
                    minor,
                    currency: order.currency,
                },
                lines: matched,
            },
        );
        for left in &mut self.lines {
            *left = (*left).max(0);
        }
    }
}

/// Shares `total` minor units between lines in proportion to `weights`, none more than
/// its `cap`, by largest remainder: each gets the whole part of its exact share, and the
/// units left go one each to the largest fractional parts (ties to the earlier line),
/// skipping lines at their cap, round after round. The shares add up to `total` when
/// the caps allow it (`total` is cut to their sum otherwise) and are never negative.
/// Lines of zero weight get nothing unless every weight is zero, when the caps are the
/// weights.
pub fn allocate(total: i64, weights: &[Decimal], caps: &[i64]) -> Vec<i64> {
    let caps: Vec<i64> = caps.iter().map(|c| (*c).max(0)).collect();
    let total = total.clamp(0, caps.iter().sum());
    let mut weights: Vec<Decimal> = weights.iter().map(|w| (*w).max(Decimal::ZERO)).collect();
    weights.resize(caps.len(), Decimal::ZERO);
    if weights.iter().all(Decimal::is_zero) {
        weights = caps.iter().map(|c| Decimal::from(*c)).collect();
    }
    let sum: Decimal = weights.iter().sum();
    let mut shares = vec![0_i64; caps.len()];
    if total == 0 || sum.is_zero() {
        return shares;
    }
    let mut fractions: Vec<(Decimal, usize)> = Vec::with_capacity(caps.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = Decimal::from(total) * *w / sum;
        let whole = exact.floor();
        shares[i] = i64::try_from(whole).unwrap_or(0).min(caps[i]);
        fractions.push((exact - whole, i));
    }
    // Largest fraction first, then heavier lines, then earlier lines.
    fractions.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(weights[b.1].cmp(&weights[a.1]))
            .then(a.1.cmp(&b.1))
    });
    let mut rest = total - shares.iter().sum::<i64>();
    while rest > 0 {
        let before = rest;
        for &(_, i) in &fractions {
            if rest == 0 {
                break;
            }
            if shares[i] < caps[i] && (!weights[i].is_zero()) {
                shares[i] += 1;
                rest -= 1;
            }
        }
        if rest == before {
            // Only lines of zero weight have room: give it to them in line order.
            for (i, share) in shares.iter_mut().enumerate() {
                let room = (caps[i] - *share).min(rest);
                *share += room;
                rest -= room;
            }
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn line(sku: &str, cat: &str, quantity: u32, price: i64) -> LineItem {
        LineItem {
            sku: sku.into(),
            categories: vec![cat.into()],
            quantity,
            unit_price: Money {
                minor: price,
                currency: Currency::parse("USD").unwrap(),
            },
        }
    }

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    #[test]
    fn shares_follow_the_weights_and_add_up() {
        assert_eq!(
            allocate(100, &[d(1), d(1), d(1)], &[50, 50, 50]),
            vec![34, 33, 33]
        );
        assert_eq!(allocate(10, &[d(3), d(1)], &[100, 100]), vec![8, 2]);
        // A cap moves the rest elsewhere.
        assert_eq!(allocate(10, &[d(9), d(1)], &[5, 100]), vec![5, 5]);
        // More than the caps allow is cut to their sum.
        assert_eq!(allocate(500, &[d(1), d(1)], &[100, 200]), vec![100, 200]);
        assert_eq!(allocate(7, &[d(0), d(0)], &[3, 10]), vec![2, 5]);
    }

    #[test]
    fn three_for_two_gives_the_cheapest_away() {
        // Buy 2 get 1 free within "tea": 5 teas (two at 4.00, three at 6.00) and a mug.
        let items = [
            line("GREEN", "tea", 2, 400),
            line("BLACK", "tea", 3, 600),
            line("MUG", "kitchen", 1, 1_200),
        ];
        let tea = LineSelector::new(vec![], vec!["tea".into()]).unwrap();
        let b = BuyXGetY {
            buy: tea.clone(),
            buy_quantity: 2,
            get: tea,
            get_quantity: 1,
            max_applications: None,
        };
        // Five teas: one application (three units), the cheapest unit free.
        assert_eq!(b.discounted_units(&items), vec![1, 0, 0]);
        let six = [line("GREEN", "tea", 2, 400), line("BLACK", "tea", 4, 600)];
        assert_eq!(b.discounted_units(&six), vec![2, 0]);
        let capped = BuyXGetY {
            max_applications: Some(1),
            ..b
        };
        assert_eq!(capped.discounted_units(&six), vec![1, 0]);
    }

    #[test]
    fn buy_one_set_get_another() {
        // Buy 2 shoes, get 1 sock pair free: 3 shoes, 2 socks → one application.
        let items = [
            line("SHOE", "shoes", 3, 5_000),
            line("SOCK", "socks", 2, 500),
        ];
        let b = BuyXGetY {
            buy: LineSelector::new(vec![], vec!["shoes".into()]).unwrap(),
            buy_quantity: 2,
            get: LineSelector::new(vec!["SOCK".into()], vec![]).unwrap(),
            get_quantity: 1,
            max_applications: None,
        };
        assert_eq!(b.discounted_units(&items), vec![0, 1]);
        let none = [line("SOCK", "socks", 2, 500)];
        assert_eq!(b.discounted_units(&none), vec![0]);
    }
}
