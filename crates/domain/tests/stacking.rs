//! Property tests of the choice of coupons for one order: [`choose`] gives exactly the
//! set a brute-force search over every subset gives, and what it gives adds up.
#![expect(clippy::unwrap_used, reason = "test code")]

use coupons_domain::stacking::{apply_in_order, better};
use coupons_domain::{
    CouponId, Currency, Discount, DiscountClass, Held, Money, Offer, Percentage, Stacked, Stacking,
    choose,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::parse("USD").unwrap(),
    }
}

fn stacked(code: String, combines: bool, priority: i32) -> Stacked {
    let classes = if combines {
        vec![DiscountClass::Order]
    } else {
        Vec::new()
    };
    Stacked {
        code,
        class: DiscountClass::Order,
        stacking: Stacking::new(classes, priority),
    }
}

fn discount() -> impl Strategy<Value = Discount> {
    prop_oneof![
        (1_i64..=100, prop::option::of(1_i64..5_000)).prop_map(|(p, cap)| Discount::Percentage {
            percent: Percentage::new(Decimal::from(p)).unwrap(),
            max_discount: cap.map(usd),
        }),
        (1_i64..15_000).prop_map(|m| Discount::FixedAmount(usd(m))),
    ]
}

/// A cart: its subtotal, the coupons it already holds, and up to six offers (each with
/// a rule or campaign cap, sometimes, below what its terms give).
fn cart() -> impl Strategy<Value = (i64, Vec<Held>, Vec<Offer>)> {
    let offer = (
        discount(),
        any::<bool>(),
        0_i32..3,
        prop::option::of(1_i64..4_000),
    );
    let held = (any::<bool>(), 0_i32..3, 0_i64..3_000);
    (
        1_i64..20_000,
        prop::collection::vec(held, 0..2),
        prop::collection::vec(offer, 0..=6),
    )
        .prop_map(|(subtotal, held, offers)| {
            let held = held
                .into_iter()
                .enumerate()
                .map(|(i, (combines, priority, d))| Held {
                    coupon_id: CouponId(100 + i as i64),
                    coupon: stacked(format!("H{i}"), combines, priority),
                    discount_minor: d,
                })
                .collect();
            let offers = offers
                .into_iter()
                .enumerate()
                .map(|(i, (discount, combines, priority, cap))| {
                    let alone = discount.amount_for(usd(subtotal)).unwrap();
                    let alone = usd(cap.map_or(alone.minor, |c| c.min(alone.minor)));
                    Offer {
                        coupon: stacked(format!("C{}", 5 - i), combines, priority),
                        discount,
                        alone,
                    }
                })
                .collect();
            (subtotal, held, offers)
        })
}

/// The best legal set by trying every subset.
fn brute_force(offers: &[Offer], held: &[Held], subtotal: i64, limit: i64) -> Vec<(usize, Money)> {
    let held_minor = held.iter().map(|h| h.discount_minor).sum::<i64>();
    let base = usd((subtotal - held_minor).max(0));
    let room = (limit - held_minor).max(0);
    let mut best: Vec<(usize, Money)> = Vec::new();
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
        let taken = apply_in_order(offers, &set, base, room);
        if taken.iter().any(|(_, m)| m.minor == 0) {
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

    /// The chosen set is the brute-force best, every coupon in it gives something, the
    /// total stays within what the order has left, no coupon gives more than alone, and
    /// every offer is either applied or left out with a reason.
    #[test]
    fn the_choice_is_the_best_legal_set(
        (subtotal, held, offers) in cart(),
        share in prop::option::of(1_i64..=100),
    ) {
        // The service may cap the share of an order its discounts take.
        let limit = share.map_or(subtotal, |p| subtotal * p / 100);
        let choice = choose(&offers, &held, usd(subtotal), usd(limit));
        prop_assert_eq!(&choice.applied, &brute_force(&offers, &held, subtotal, limit));
        let room = (limit - held.iter().map(|h| h.discount_minor).sum::<i64>()).max(0);
        prop_assert!(choice.total_minor() <= room);
        for (i, taken) in &choice.applied {
            prop_assert!(taken.minor > 0 && taken.minor <= offers[*i].alone.minor);
        }
        prop_assert_eq!(choice.applied.len() + choice.left_out.len(), offers.len());
    }
}
