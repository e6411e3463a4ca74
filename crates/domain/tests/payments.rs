//! Property tests of payment hand-off: whatever order a payment's events arrive in, and
//! however often each is delivered, the reservation it pays for ends in the same state,
//! and the books balance; the one order that cannot be undone (a failure released the
//! use before the success came) is reported, never left silent.

use chrono::Utc;
use coupons_domain::payment::{Imbalance, PaymentFacts, Signal, Step, imbalances, next_step};
use coupons_domain::{Redemption, RedemptionStatus};
use proptest::prelude::*;

fn reservation(discount: i64, subtotal: i64) -> Redemption {
    Redemption {
        id: 7,
        coupon_id: 1,
        code: "SAVE".into(),
        status: RedemptionStatus::Reserved,
        order_id: "order-1".into(),
        channel: None,
        email_domain: None,
        currency: "USD".into(),
        subtotal_minor: subtotal,
        discount_minor: discount,
        refunded_minor: 0,
        reserved_until: None,
        created_at: Utc::now(),
        redeemed_at: None,
        closed_at: None,
        lines: Vec::new(),
    }
}

/// Applies one step as the storage steps do; `false` when there was nothing to do.
fn apply(r: &mut Redemption, step: Step) -> bool {
    match step {
        Step::Redeem => r.status = RedemptionStatus::Redeemed,
        Step::Release => r.status = RedemptionStatus::Released,
        Step::Refund { amount } => {
            assert!(amount > 0 && r.refunded_minor + amount <= r.discount_minor);
            r.refunded_minor += amount;
            r.status = if r.refunded_minor == r.discount_minor {
                RedemptionStatus::Reversed
            } else {
                RedemptionStatus::PartiallyReversed
            };
        }
        Step::Nothing => return false,
    }
    true
}

/// Delivers `events` (id, signal) in the order given, skipping ids seen before, as the
/// receiver does; the reservation and the facts at the end.
fn deliver(events: &[(usize, Signal)], discount: i64, subtotal: i64) -> (Redemption, PaymentFacts) {
    let mut r = reservation(discount, subtotal);
    let mut facts = PaymentFacts::default();
    let mut seen = std::collections::HashSet::new();
    for (id, signal) in events {
        if !seen.insert(*id) {
            continue;
        }
        facts.merge(signal);
        let mut steps = 0;
        loop {
            let step = next_step(&facts, &r);
            if !apply(&mut r, step) {
                break;
            }
            steps += 1;
            assert!(steps <= 3, "steps must come to rest");
        }
    }
    (r, facts)
}

prop_compose! {
    /// A payment's events: a capture, refunds as running totals and as single
    /// refunds, maybe a dispute, maybe a failure; each with its own id.
    fn payment_events()(
        discount in 1i64..5_000,
        captured in 1i64..100_000,
        totals in proptest::collection::vec(0u32..=100, 0..4),
        added in proptest::collection::vec(0u32..=30, 0..3),
        dispute in 0u8..4,
        failed in any::<bool>(),
    ) -> (i64, i64, Vec<(usize, Signal)>, bool) {
        let mut events = vec![Signal::Succeeded { captured }];
        // Running totals up to the capture; single refunds up to what is left of it.
        let mut totals: Vec<i64> = totals.iter().map(|p| captured * i64::from(*p) / 100).collect();
        totals.sort_unstable();
        events.extend(totals.into_iter().map(|t| Signal::Refunded { total: t, captured: Some(captured) }));
        events.extend(added.iter().map(|p| Signal::RefundAdded { amount: captured * i64::from(*p) / 100 / 4 }));
        match dispute {
            1 => events.push(Signal::DisputeOpened),
            2 => events.extend([Signal::DisputeOpened, Signal::DisputeWon]),
            3 => events.extend([Signal::DisputeOpened, Signal::DisputeLost]),
            _ => {}
        }
        if failed {
            events.push(Signal::Failed);
        }
        (discount, captured, events.into_iter().enumerate().collect(), failed)
    }
}

proptest! {
    #[test]
    fn any_order_and_any_redelivery_end_alike(
        (discount, captured, events, failed) in payment_events(),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let subtotal = captured + discount;
        let (canonical, facts) = deliver(&events, discount, subtotal);
        // Shuffle and redeliver: the indices pick events, duplicates included, then
        // every event is delivered once more at the end so none is missing.
        let mut shuffled: Vec<(usize, Signal)> =
            order.iter().map(|i| events[i.index(events.len())].clone()).collect();
        shuffled.extend(events.iter().rev().cloned());
        let (end, end_facts) = deliver(&shuffled, discount, subtotal);
        prop_assert_eq!(&facts, &end_facts);
        let found = imbalances(&end_facts, Some("usd"), std::slice::from_ref(&end));
        if failed && end.status == RedemptionStatus::Released {
            // The failure came first: the use was given back, and the books say so.
            let paid_not_redeemed = Imbalance::PaidNotRedeemed { redemption_id: 7, status: RedemptionStatus::Released };
            prop_assert_eq!(&found, &vec![paid_not_redeemed]);
        } else {
            prop_assert_eq!(&found, &Vec::new());
            prop_assert_eq!(end.status, canonical.status);
            prop_assert_eq!(end.refunded_minor, canonical.refunded_minor);
            prop_assert_eq!(end.refunded_minor, facts.discount_taken_back(discount));
        }
    }

    #[test]
    fn without_a_success_a_failure_releases_and_refunds_wait(
        discount in 1i64..5_000,
        total in 1i64..10_000,
        failed in any::<bool>(),
    ) {
        let mut events = vec![(0, Signal::Refunded { total, captured: None })];
        if failed {
            events.push((1, Signal::Failed));
        }
        let (end, facts) = deliver(&events, discount, 10_000);
        let expected = if failed { RedemptionStatus::Released } else { RedemptionStatus::Reserved };
        prop_assert_eq!(end.status, expected);
        prop_assert_eq!(imbalances(&facts, None, &[end]), Vec::new());
    }
}

#[test]
fn a_capture_that_is_not_subtotal_less_discount_is_reported() {
    let events = [(0, Signal::Succeeded { captured: 9_000 })];
    let (end, facts) = deliver(&events, 1_500, 10_000);
    assert_eq!(
        imbalances(&facts, Some("usd"), std::slice::from_ref(&end)),
        vec![Imbalance::CaptureDiffers {
            expected: 8_500,
            captured: 9_000
        }]
    );
    assert_eq!(
        imbalances(&facts, Some("eur"), &[end])[0].code(),
        "CURRENCY_DIFFERS"
    );
}
