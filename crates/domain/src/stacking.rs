//! Several coupons on one order: which may share it, in what order they apply, and
//! which set of them the order gets.
//!
//! - Every coupon has a [`DiscountClass`], the part of the order it takes its discount
//!   from (lines, the subtotal, shipping), and a [`Stacking`] policy: the classes of
//!   discount it combines with (none: it applies alone) and a priority.
//! - Two coupons may share an order when each combines with the other's class.
//! - The coupons of a set apply one after another: line discounts, then order
//!   discounts, then shipping discounts, and within a class higher priority first, then
//!   by code. Each takes its discount from what the ones before it left ([`Left`]):
//!   a line discount from its lines (and so from the subtotal), an order discount from
//!   the subtotal, never more than it would take alone, and never more than brings
//!   the order's line and order discounts to its own cap on them, if it has one
//!   (`maxOrderDiscountPercent`).
//! - Of the coupons offered for an order, the order gets the legal set that gives the
//!   largest total discount; between sets that give the same, the one whose coupons,
//!   in application order, come first (a set that is a prefix of another wins). A coupon
//!   that would give nothing in a set is not in it.
//!
//! [`choose`] finds that set among the groups of coupons that may all share the order:
//! every legal set lies within a maximal group (a maximal clique of the "may share"
//! graph, found by Bron–Kerbosch). Within a group a larger set is usually, but not
//! always, better: a coupon with an order cap gives up what the coupons before it added,
//! and a later percentage loses to rounding what they took from its lines, so one
//! addition can cost both. So every subset of a group of up to [`EXACT_GROUP`] coupons is
//! tried; a larger group (only reachable with many automatic discounts) is taken whole,
//! less the coupons that give nothing there.

use serde::{Deserialize, Serialize};

use crate::target::{DiscountClass, Granted, Left, LineShare, Reach};
use crate::{CouponId, Discount, Money, Order, Rejection};

/// Whether a coupon may share an order with others, and its place among them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stacking {
    /// The classes of discount it combines with, sorted, without repeats; empty: it
    /// applies alone (exclusive).
    combines_with: Vec<DiscountClass>,
    /// Higher applies first, and wins between sets that give the same.
    pub priority: i32,
}

impl Stacking {
    /// A policy combining with `classes` (in any order, repeats ignored).
    pub fn new(mut classes: Vec<DiscountClass>, priority: i32) -> Self {
        classes.sort_unstable();
        classes.dedup();
        Self {
            combines_with: classes,
            priority,
        }
    }

    /// The classes it combines with.
    pub fn combines_with(&self) -> &[DiscountClass] {
        &self.combines_with
    }

    /// Whether it applies only alone.
    pub fn exclusive(&self) -> bool {
        self.combines_with.is_empty()
    }

    /// Whether it combines with a coupon of `class`.
    pub fn accepts(&self, class: DiscountClass) -> bool {
        self.combines_with.contains(&class)
    }
}

/// A coupon as far as sharing an order is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stacked {
    /// The code it was offered with (ties in application order are broken by it).
    pub code: String,
    /// The part of the order it discounts.
    pub class: DiscountClass,
    /// Its policy.
    pub stacking: Stacking,
}

impl Stacked {
    /// Whether this coupon and `other` may share an order.
    pub fn combinable(&self, other: &Stacked) -> bool {
        self.stacking.accepts(other.class) && other.stacking.accepts(self.class)
    }

    /// Its place in application order: by class, then higher priority first, then by
    /// code.
    fn place(&self) -> (DiscountClass, std::cmp::Reverse<i32>, &str) {
        (
            self.class,
            std::cmp::Reverse(self.stacking.priority),
            &self.code,
        )
    }
}

/// A coupon offered for an order that applies to it on its own.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The coupon.
    pub coupon: Stacked,
    /// What it takes off (applied to what is left in a set).
    pub discount: Discount,
    /// What of the order it reaches.
    pub reach: Reach,
    /// What it would take off alone, every cap and rule applied: the most it takes in
    /// any set.
    pub alone: Money,
    /// The most the order's line and order discounts may add up to once it has taken
    /// its own (its `maxOrderDiscountPercent` of the subtotal), in minor units: it takes
    /// no more than what the discounts before it leave of this.
    pub order_cap: Option<i64>,
}

impl Offer {
    /// The most it takes from `left`: what it takes alone, within its order cap.
    fn most(&self, left: &Left) -> i64 {
        let within_cap = self
            .order_cap
            .map_or(i64::MAX, |cap| (cap - left.taken).max(0));
        self.alone.minor.min(within_cap)
    }
}

/// A coupon the order already has from an earlier call, with the discount it holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// The coupon's id.
    pub coupon_id: CouponId,
    /// The coupon.
    pub coupon: Stacked,
    /// The discount it holds on the order, less refunds, in minor units.
    pub discount_minor: i64,
    /// Its shares by line, for a line discount.
    pub lines: Vec<LineShare>,
}

/// Which offers the order gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Indexes of the offers applied, in application order, with their discounts.
    pub applied: Vec<(usize, Granted)>,
    /// Indexes of the offers left out, with why.
    pub left_out: Vec<(usize, Rejection)>,
}

impl Choice {
    /// The total discount of the applied offers, in minor units.
    pub fn total_minor(&self) -> i64 {
        self.applied.iter().map(|(_, g)| g.amount.minor).sum()
    }
}

/// What each of `set` (indexes into `offers`, any order) takes when applied together to
/// `order`, in application order, starting from what `left` says is left.
pub fn apply_in_order(
    offers: &[Offer],
    set: &[usize],
    left: &Left,
    order: &Order,
) -> Vec<(usize, Granted)> {
    let mut ordered = set.to_vec();
    ordered.sort_by(|a, b| offers[*a].coupon.place().cmp(&offers[*b].coupon.place()));
    let mut left = left.clone();
    ordered
        .into_iter()
        .map(|i| {
            let offer = &offers[i];
            let granted = left.take(&offer.discount, &offer.reach, offer.most(&left), order);
            left.spend(offer.coupon.class, &granted);
            (i, granted)
        })
        .collect()
}

/// Whether `a` is a better set than `b` (each in application order, with its takings):
/// a larger total, or the same total with coupons that come first in application order.
pub fn better(offers: &[Offer], a: &[(usize, Granted)], b: &[(usize, Granted)]) -> bool {
    let total = |s: &[(usize, Granted)]| s.iter().map(|(_, g)| g.amount.minor).sum::<i64>();
    match total(a).cmp(&total(b)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            let places = |s: &[(usize, Granted)]| {
                s.iter()
                    .map(|(i, _)| offers[*i].coupon.place())
                    .collect::<Vec<_>>()
            };
            places(a) < places(b)
        }
    }
}

/// Chooses the offers `order` gets beside the coupons it already `held` (whose
/// discounts are taken first): the best legal set (see the module documentation). The
/// order's discount limit only caps the total of line and order discounts: a percentage
/// still applies to what is left of the subtotal. Offers left out are told why: the
/// coupon they may not share the order with, or that nothing is left for them.
pub fn choose(offers: &[Offer], held: &[Held], order: &Order) -> Choice {
    let left = left_beside(held, order);
    // Offers that may join what the order holds.
    let fits_held = |i: usize| held.iter().all(|h| offers[i].coupon.combinable(&h.coupon));
    let open: Vec<usize> = (0..offers.len()).filter(|i| fits_held(*i)).collect();
    let mut best: Vec<(usize, Granted)> = Vec::new();
    let mut tried = std::collections::BTreeSet::new();
    for group in maximal_groups(offers, &open) {
        for set in candidate_sets(&group) {
            if !tried.insert(set.clone()) {
                continue;
            }
            let taken: Vec<(usize, Granted)> = apply_in_order(offers, &set, &left, order)
                .into_iter()
                .filter(|(_, g)| g.amount.minor > 0)
                .collect();
            if better(offers, &taken, &best) {
                best = taken;
            }
        }
    }
    let left_out = (0..offers.len())
        .filter(|i| !best.iter().any(|(j, _)| j == i))
        .map(|i| (i, why_left_out(offers, held, &best, i)))
        .collect();
    Choice {
        applied: best,
        left_out,
    }
}

/// The largest group of coupons whose every subset [`choose`] tries (4,096 sets).
pub const EXACT_GROUP: usize = 12;

/// The sets of a group [`choose`] compares: every non-empty subset of a group of up to
/// [`EXACT_GROUP`] coupons, else the group alone.
fn candidate_sets(group: &[usize]) -> Vec<Vec<usize>> {
    if group.len() > EXACT_GROUP {
        return vec![group.to_vec()];
    }
    (1_u32..1 << group.len())
        .map(|mask| {
            (0..group.len())
                .filter(|b| mask & (1 << b) != 0)
                .map(|b| group[b])
                .collect()
        })
        .collect()
}

/// What `order` has left to discount once the coupons it `held` have taken theirs.
pub fn left_beside(held: &[Held], order: &Order) -> Left {
    let mut left = Left::of(order);
    for h in held {
        left.spend_held(h.coupon.class, h.discount_minor, &h.lines, order);
    }
    left
}

/// Why offer `i` is not in `chosen`: the first coupon (held, then chosen) it may not
/// share the order with, else that nothing was left for it.
fn why_left_out(
    offers: &[Offer],
    held: &[Held],
    chosen: &[(usize, Granted)],
    i: usize,
) -> Rejection {
    let me = &offers[i].coupon;
    let conflict = held
        .iter()
        .map(|h| &h.coupon)
        .chain(chosen.iter().map(|(j, _)| &offers[*j].coupon))
        .find(|other| !me.combinable(other));
    match conflict {
        Some(other) => Rejection::NotCombinable {
            with: other.code.clone(),
        },
        None => Rejection::OrderFullyDiscounted,
    }
}

/// The maximal groups of `among` (indexes into `offers`) that may all share an order
/// (the maximal cliques of the "may share" graph), by Bron–Kerbosch with pivoting.
fn maximal_groups(offers: &[Offer], among: &[usize]) -> Vec<Vec<usize>> {
    fn extend(
        offers: &[Offer],
        group: &mut Vec<usize>,
        mut candidates: Vec<usize>,
        mut excluded: Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        if candidates.is_empty() && excluded.is_empty() {
            found.push(group.clone());
            return;
        }
        let shares = |a: usize, b: usize| offers[a].coupon.combinable(&offers[b].coupon);
        let pivot = candidates
            .iter()
            .chain(&excluded)
            .copied()
            .max_by_key(|&p| candidates.iter().filter(|&&c| shares(p, c)).count());
        let Some(pivot) = pivot else { return };
        let branches: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&c| c == pivot || !shares(pivot, c))
            .collect();
        for v in branches {
            group.push(v);
            extend(
                offers,
                group,
                candidates
                    .iter()
                    .copied()
                    .filter(|&c| c != v && shares(v, c))
                    .collect(),
                excluded.iter().copied().filter(|&c| shares(v, c)).collect(),
                found,
            );
            group.pop();
            candidates.retain(|&c| c != v);
            excluded.push(v);
        }
    }
    let mut found = Vec::new();
    if !among.is_empty() {
        extend(
            offers,
            &mut Vec::new(),
            among.to_vec(),
            Vec::new(),
            &mut found,
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::{Currency, Percentage};

    fn usd(minor: i64) -> Money {
        Money {
            minor,
            currency: Currency::parse("USD").unwrap(),
        }
    }

    fn offer(
        code: &str,
        discount: Discount,
        combines: bool,
        priority: i32,
        subtotal: i64,
    ) -> Offer {
        let alone = discount.amount_for(usd(subtotal)).unwrap();
        let classes = if combines {
            vec![DiscountClass::Order]
        } else {
            vec![]
        };
        Offer {
            coupon: Stacked {
                code: code.into(),
                class: DiscountClass::Order,
                stacking: Stacking::new(classes, priority),
            },
            discount,
            reach: Reach::Order,
            alone,
            order_cap: None,
        }
    }

    fn order(subtotal: i64) -> Order {
        Order {
            id: "o".into(),
            currency: usd(0).currency,
            subtotal: usd(subtotal),
            items: Vec::new(),
            shipping: usd(0),
            customer: crate::Customer::default(),
            channel: None,
            discount_limit: usd(subtotal),
        }
    }

    fn amounts(choice: &Choice) -> Vec<(usize, Money)> {
        choice.applied.iter().map(|(i, g)| (*i, g.amount)).collect()
    }

    fn percent(p: i64) -> Discount {
        Discount::Percentage {
            percent: Percentage::new(Decimal::from(p)).unwrap(),
            max_discount: None,
        }
    }

    #[test]
    fn combinable_coupons_apply_in_turn_on_what_is_left() {
        // 100.00: B (priority 1, 20.00 off) first, then A (10% of the 80.00 left).
        let offers = [
            offer("A", percent(10), true, 0, 10_000),
            offer("B", Discount::FixedAmount(usd(2_000)), true, 1, 10_000),
        ];
        let choice = choose(&offers, &[], &order(10_000));
        assert_eq!(amounts(&choice), vec![(1, usd(2_000)), (0, usd(800))]);
        assert!(choice.left_out.is_empty());
    }

    #[test]
    fn an_exclusive_coupon_wins_only_when_it_gives_more() {
        let offers = [
            offer("SOLO", Discount::FixedAmount(usd(3_000)), false, 0, 10_000),
            offer("A", Discount::FixedAmount(usd(2_000)), true, 0, 10_000),
            offer("B", Discount::FixedAmount(usd(2_000)), true, 0, 10_000),
        ];
        let choice = choose(&offers, &[], &order(10_000));
        assert_eq!(choice.total_minor(), 4_000);
        assert_eq!(
            choice.left_out,
            vec![(0, Rejection::NotCombinable { with: "A".into() })]
        );
        let offers = [
            offer("SOLO", Discount::FixedAmount(usd(5_000)), false, 0, 10_000),
            offer("A", Discount::FixedAmount(usd(2_000)), true, 0, 10_000),
        ];
        let choice = choose(&offers, &[], &order(10_000));
        assert_eq!(amounts(&choice), vec![(0, usd(5_000))]);
        assert_eq!(
            choice.left_out,
            vec![(
                1,
                Rejection::NotCombinable {
                    with: "SOLO".into()
                }
            )]
        );
    }

    #[test]
    fn held_coupons_come_first_and_must_accept_the_new_ones() {
        let held = [Held {
            coupon_id: CouponId(99),
            coupon: Stacked {
                code: "HELD".into(),
                class: DiscountClass::Order,
                stacking: Stacking::new(vec![DiscountClass::Order], 0),
            },
            discount_minor: 9_000,
            lines: Vec::new(),
        }];
        let offers = [
            offer("A", Discount::FixedAmount(usd(5_000)), true, 0, 10_000),
            offer("SOLO", Discount::FixedAmount(usd(5_000)), false, 0, 10_000),
        ];
        let choice = choose(&offers, &held, &order(10_000));
        assert_eq!(amounts(&choice), vec![(0, usd(1_000))]);
        assert_eq!(
            choice.left_out,
            vec![(
                1,
                Rejection::NotCombinable {
                    with: "HELD".into()
                }
            )]
        );
    }
}
