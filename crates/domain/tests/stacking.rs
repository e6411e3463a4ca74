//! Property tests of the choice of coupons for one order: [`choose`] gives exactly the
//! set a brute-force search over every subset gives, what it gives adds up, and a
//! discount shared between lines is shared exactly.
#![expect(clippy::unwrap_used, reason = "test code")]

use coupons_domain::stacking::{apply_in_order, better};
use coupons_domain::{
    BuyXGetY, CouponId, Currency, Discount, DiscountClass, Granted, Held, Left, LineItem,
    LineSelector, LineShare, Money, Offer, Order, Percentage, Stacked, Stacking, Target, allocate,
    choose, left_beside,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::parse("USD").unwrap(),
    }
}

const CLASSES: [DiscountClass; 3] = [
    DiscountClass::Line,
    DiscountClass::Order,
    DiscountClass::Shipping,
];

/// The classes picked by the low three bits of `mask`.
fn classes(mask: u8) -> Vec<DiscountClass> {
    CLASSES
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, c)| c)
        .collect()
}

fn percent(p: i64) -> Percentage {
    Percentage::new(Decimal::from(p)).unwrap()
}

fn discount() -> impl Strategy<Value = Discount> {
    prop_oneof![
        (1_i64..=100, prop::option::of(1_i64..5_000)).prop_map(|(p, cap)| Discount::Percentage {
            percent: percent(p),
            max_discount: cap.map(usd),
        }),
        (1_i64..15_000).prop_map(|m| Discount::FixedAmount(usd(m))),
    ]
}

fn selector() -> impl Strategy<Value = LineSelector> {
    prop_oneof![
        Just(LineSelector::default()),
        (0_usize..2).prop_map(|c| LineSelector::new(vec![], vec![format!("c{c}")]).unwrap()),
        (0_usize..4).prop_map(|s| LineSelector::new(vec![format!("S{s}")], vec![]).unwrap()),
    ]
}

/// A target and a discount it accepts (buy X get Y takes a percentage).
fn targeted() -> impl Strategy<Value = (Target, Discount)> {
    prop_oneof![
        discount().prop_map(|d| (Target::Order, d)),
        (selector(), discount()).prop_map(|(s, d)| (Target::Lines(s), d)),
        discount().prop_map(|d| (Target::Shipping, d)),
        (
            selector(),
            1_u32..3,
            selector(),
            1_u32..3,
            prop::option::of(1_u32..3),
            1_i64..=100
        )
            .prop_map(|(buy, bq, get, gq, max, p)| {
                (
                    Target::BuyXGetY(Box::new(BuyXGetY {
                        buy,
                        buy_quantity: bq,
                        get,
                        get_quantity: gq,
                        max_applications: max,
                    })),
                    Discount::Percentage {
                        percent: percent(p),
                        max_discount: None,
                    },
                )
            }),
    ]
}

/// An order: up to four lines, a subtotal of at least their total, a shipping price,
/// and sometimes a cap on the share of it discounts may take.
fn order() -> impl Strategy<Value = Order> {
    (
        prop::collection::vec((1_u32..4, 1_i64..5_000), 0..=4),
        0_i64..1_000,
        0_i64..2_000,
        prop::option::of(1_i64..=100),
    )
        .prop_map(|(lines, extra, shipping, share)| {
            let items: Vec<LineItem> = lines
                .into_iter()
                .enumerate()
                .map(|(i, (quantity, price))| LineItem {
                    sku: format!("S{i}"),
                    categories: vec![format!("c{}", i % 2)],
                    quantity,
                    unit_price: usd(price),
                })
                .collect();
            let subtotal = items.iter().map(LineItem::total_minor).sum::<i64>() + extra;
            Order {
                id: "o".into(),
                currency: usd(0).currency,
                subtotal: usd(subtotal),
                items,
                shipping: usd(shipping),
                customer: Default::default(),
                channel: None,
                discount_limit: usd(share.map_or(subtotal, |p| subtotal * p / 100)),
            }
        })
}

/// A cart: the order, the coupons it already holds, and up to six offers (each with a
/// rule or campaign cap, sometimes, below what its terms give, and sometimes, for line
/// and order discounts, a cap on the order's total once it is taken).
fn cart() -> impl Strategy<Value = (Order, Vec<Held>, Vec<Offer>)> {
    let offer = (
        targeted(),
        0_u8..8,
        0_i32..3,
        prop::option::of(1_i64..4_000),
        prop::option::of(1_i64..=100),
    );
    let held = (0_usize..3, 0_u8..8, 0_i32..3, 0_i64..3_000, 0_usize..4);
    (
        order(),
        prop::collection::vec(held, 0..2),
        prop::collection::vec(offer, 0..=6),
    )
        .prop_map(|(order, held, offers)| {
            let held = held
                .into_iter()
                .enumerate()
                .map(|(i, (class, mask, priority, minor, line))| {
                    let class = CLASSES[class];
                    let lines = if class == DiscountClass::Line {
                        vec![LineShare {
                            line: 0,
                            sku: format!("S{line}"),
                            minor,
                        }]
                    } else {
                        Vec::new()
                    };
                    Held {
                        coupon_id: CouponId(100 + i as i64),
                        coupon: Stacked {
                            code: format!("H{i}"),
                            class,
                            stacking: Stacking::new(classes(mask), priority),
                        },
                        discount_minor: minor,
                        lines,
                    }
                })
                .collect();
            let offers = offers
                .into_iter()
                .enumerate()
                .map(
                    |(i, ((target, discount), mask, priority, cap, order_cap))| {
                        let reach = target.reach(&order);
                        let alone = Left::of(&order)
                            .take(&discount, &reach, i64::MAX, &order)
                            .amount
                            .minor;
                        Offer {
                            coupon: Stacked {
                                code: format!("C{}", 5 - i),
                                class: target.class(),
                                stacking: Stacking::new(classes(mask), priority),
                            },
                            discount,
                            reach,
                            alone: usd(cap.map_or(alone, |c| c.min(alone))),
                            order_cap: order_cap
                                .filter(|_| target.class() != DiscountClass::Shipping)
                                .map(|p| order.subtotal.minor * p / 100),
                        }
                    },
                )
                .collect();
            (order, held, offers)
        })
}

/// The best legal set by trying every subset.
fn brute_force(offers: &[Offer], held: &[Held], order: &Order) -> Vec<(usize, Granted)> {
    let left = left_beside(held, order);
    let mut best: Vec<(usize, Granted)> = Vec::new();
    for mask in 1_u32..(1 << offers.len()) {
        let set: Vec<usize> = (0..offers.len()).filter(|i| mask & (1 << i) != 0).collect();
        let legal = set.iter().all(|&i| {
            held.iter().all(|h| offers[i].coupon.combinable(&h.coupon))
                && set
                    .iter()
                    .all(|&j| i == j || offers[i].coupon.combinable(&offers[j].coupon))
        });
        if !legal {
            continue;
        }
        let taken = apply_in_order(offers, &set, &left, order);
        if taken.iter().any(|(_, g)| g.amount.minor == 0) {
            continue;
        }
        if better(offers, &taken, &best) {
            best = taken;
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// The chosen set is the brute-force best; every coupon in it gives something and
    /// no more than alone; line and order discounts stay within the room the order has
    /// left, shipping discounts within its shipping price; each line discount's shares
    /// add up to it and no line is discounted below zero; every offer is either applied
    /// or left out with a reason.
    #[test]
    fn the_choice_is_the_best_legal_set((order, held, offers) in cart()) {
        let choice = choose(&offers, &held, &order);
        prop_assert_eq!(&choice.applied, &brute_force(&offers, &held, &order));
        let left = left_beside(&held, &order);
        let mut lines = left.lines.clone();
        let (mut goods, mut shipping) = (0, 0);
        for (i, granted) in &choice.applied {
            let minor = granted.amount.minor;
            prop_assert!(minor > 0 && minor <= offers[*i].alone.minor);
            match offers[*i].coupon.class {
                DiscountClass::Shipping => shipping += minor,
                DiscountClass::Order => goods += minor,
                DiscountClass::Line => {
                    goods += minor;
                    prop_assert_eq!(granted.lines.iter().map(|s| s.minor).sum::<i64>(), minor);
                    for share in &granted.lines {
                        lines[share.line as usize] -= share.minor;
                    }
                }
            }
        }
        prop_assert!(goods <= left.room.max(0) && goods <= left.subtotal.max(0));
        prop_assert!(shipping <= left.shipping.max(0));
        prop_assert!(lines.iter().all(|l| *l >= 0));
        prop_assert_eq!(choice.applied.len() + choice.left_out.len(), offers.len());
    }

    /// Shares add up to the total (cut to what the caps allow), none is negative or
    /// above its cap, and lines of no weight get nothing while weighted lines have room.
    #[test]
    fn allocation_adds_up(
        total in 0_i64..100_000,
        lines in prop::collection::vec((0_i64..1_000, 0_i64..50_000), 1..12),
    ) {
        let weights: Vec<Decimal> = lines.iter().map(|(w, _)| Decimal::from(*w)).collect();
        let caps: Vec<i64> = lines.iter().map(|(_, c)| *c).collect();
        let shares = allocate(total, &weights, &caps);
        prop_assert_eq!(shares.iter().sum::<i64>(), total.min(caps.iter().sum()));
        for (share, cap) in shares.iter().zip(&caps) {
            prop_assert!(*share >= 0 && share <= cap);
        }
        let weighted_room: i64 = lines.iter().filter(|(w, _)| *w > 0).map(|(_, c)| *c).sum();
        if weights.iter().any(|w| !w.is_zero()) && total <= weighted_room {
            for (share, (w, _)) in shares.iter().zip(&lines) {
                prop_assert!(*w > 0 || *share == 0);
            }
        }
    }

    /// A percentage off lines is rounded once, on their total: the same amount the
    /// percentage gives on that total, whatever the number of lines.
    #[test]
    fn a_line_percentage_is_rounded_once((order, _, _) in cart(), p in 1_i64..=100) {
        let discount = Discount::Percentage { percent: percent(p), max_discount: None };
        let reach = Target::Lines(LineSelector::default()).reach(&order);
        let mut unlimited = Left::of(&order);
        unlimited.room = i64::MAX;
        unlimited.subtotal = i64::MAX;
        let granted = unlimited.take(&discount, &reach, i64::MAX, &order);
        let lines_total: i64 = order.items.iter().map(LineItem::total_minor).sum();
        prop_assert_eq!(granted.amount, discount.amount_for(usd(lines_total)).unwrap());
    }
}
