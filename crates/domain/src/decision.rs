//! The one decision about one use of a code: whether it applies to an order, and the
//! discount. Validation, reservation and redemption all make it, over the same
//! [`Snapshot`] of facts; they differ only in how the snapshot was read (with the
//! coupon locked, or not) and in whether the outcome is written.
//!
//! In order: the code's and coupon's lifecycle and window, the campaign's window
//! ([`Found::gate`]); the coupon's terms and limits ([`evaluate`](crate::evaluate));
//! the campaign's use cap and budget; the coupon's rules, whose caps can lower the
//! discount; and a discount that ends at zero is refused. Last, the coupon must be
//! combinable with the coupons the order already has, and takes its discount from what
//! they left ([`beside_held`], the one-code case of [`choose`](crate::choose)). Announcements of a capped
//! coupon's usage are decided here too ([`usage_marks`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{
    CampaignLimits, CampaignUsage, CodeTerms, Coupon, Granted, Held, Money, Offer, Order,
    Rejection, RuleEvaluator, RuleFacts, RulesOutcome, Shape, Stacked, Usage, choose,
    evaluate_in_campaign,
};

/// A code as found, with its coupon and its campaign's limits: enough to tell whether
/// the code is live, before any usage is read.
#[derive(Debug, Clone)]
pub struct Found {
    /// The coupon the code points at.
    pub coupon: Coupon,
    /// The code (canonical).
    pub code: String,
    /// The code's own terms.
    pub terms: CodeTerms,
    /// The limits of the coupon's campaign, if it has one.
    pub campaign: Option<CampaignLimits>,
}

impl Found {
    /// Whether the code is live at `now`: the one reason when it is switched off, not
    /// started or over (its own window, or its campaign's).
    pub fn gate(&self, order: &Order, now: DateTime<Utc>) -> Result<(), Rejection> {
        let decided = evaluate_in_campaign(
            &self.coupon,
            self.campaign.as_ref(),
            self.terms,
            order,
            Usage::default(),
            None,
            now,
        );
        match decided {
            Err(reasons) => match reasons.as_slice() {
                [r @ (Rejection::NotActive | Rejection::NotStarted | Rejection::Expired)] => {
                    Err(r.clone())
                }
                _ => Ok(()),
            },
            Ok(_) => Ok(()),
        }
    }

    /// Whether deciding needs this customer's uses: the coupon has a per-customer limit,
    /// or rules (which may read them).
    pub fn counts_customer(&self) -> bool {
        self.coupon.spec.per_customer_limit.get().is_some() || self.has_rules()
    }

    /// Whether deciding needs the discount this customer has had from the coupon.
    pub fn caps_customer_discount(&self) -> bool {
        self.coupon.spec.prices.caps_customer_discount()
    }

    /// Whether deciding needs the campaign's usage.
    pub fn caps_campaign(&self) -> bool {
        self.campaign
            .as_ref()
            .is_some_and(CampaignLimits::caps_usage)
    }

    /// The coupon as offered for `order`, as decided alone: shaped by its rules, if
    /// they shaped it (the shape's target gives its class too), taking at most what it
    /// takes alone.
    pub fn offer(&self, order: &Order, alone: &Alone) -> Offer {
        let spec = &self.coupon.spec;
        let own = spec
            .prices
            .in_currency(order.currency)
            .map_or(*spec.discount(), |t| t.discount);
        let shape = alone.shape.as_ref();
        let target = shape.map_or(&spec.target, |s| &s.target);
        Offer {
            coupon: Stacked {
                code: self.code.clone(),
                class: target.class(),
                stacking: spec.stacking.clone(),
            },
            discount: shape.map_or(own, |s| s.discount(&own)),
            reach: target.reach(order),
            alone: alone.amount,
            order_cap: spec.max_order_discount.map(|p| {
                let share =
                    Decimal::from(order.subtotal.minor.max(0)) * p.value() / Decimal::ONE_HUNDRED;
                i64::try_from(share.floor()).unwrap_or(i64::MAX)
            }),
        }
    }

    /// Whether the coupon binds rules (which need its [`History`]).
    pub fn has_rules(&self) -> bool {
        !self.coupon.spec.rules.is_empty()
    }
}

/// What a rule-bound coupon's rules read beyond the order and the usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// When this customer's uses happened (Unix seconds, most recent first).
    pub customer_use_times: Vec<i64>,
    /// Discount the coupon has granted so far in the order's currency, less refunds.
    pub discount_total: i64,
    /// Earlier orders of this customer on which a coupon was redeemed here.
    pub customer_orders: i64,
}

/// Everything one decision reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The code, its coupon and campaign.
    pub found: Found,
    /// How much of the coupon's, the code's and the customer's limits is taken
    /// (reservations past their deadline not counted).
    pub usage: Usage,
    /// What the campaign's caps have taken; read when [`Found::caps_campaign`].
    pub campaign_usage: CampaignUsage,
    /// What the rules read; loaded when [`Found::has_rules`].
    pub history: History,
    /// The other coupons the order already has (live reservations and redemptions on
    /// the same order id, in its currency), with their discounts less refunds.
    pub held: Vec<Held>,
}

/// Whether the snapshot's code applies to `order` at `now`, and the discount (with its
/// shares by line, for a line discount); on refusal, the reasons.
pub fn decide(
    snapshot: &Snapshot,
    order: &Order,
    rules: &dyn RuleEvaluator,
    now: DateTime<Utc>,
) -> Result<Granted, Vec<Rejection>> {
    let alone = decide_alone(snapshot, order, rules, now)?;
    beside_held(snapshot, order, &alone)
}

/// A code's decision on its own: the most it takes, and the shape its rules gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alone {
    /// The most it takes off the order.
    pub amount: Money,
    /// What its rules made of its discount, if they shaped it.
    pub shape: Option<Shape>,
}

/// The decision for the code alone, before the coupons the order holds are considered:
/// its terms and limits, then its rules. A rule that shapes the discount has the terms
/// and limits decided again on the shaped discount, then the rules' caps applied.
pub fn decide_alone(
    snapshot: &Snapshot,
    order: &Order,
    rules: &dyn RuleEvaluator,
    now: DateTime<Utc>,
) -> Result<Alone, Vec<Rejection>> {
    let discount = decide_terms(snapshot, order, None, now)?;
    if !snapshot.found.has_rules() {
        return Ok(Alone {
            amount: discount,
            shape: None,
        });
    }
    let facts = rule_facts(snapshot, order, discount, now);
    match rules.evaluate(&snapshot.found.coupon.spec.rules, &facts) {
        RulesOutcome::Pass {
            cap,
            shape: Some(shape),
        } => {
            let shaped = decide_terms(snapshot, order, Some(&shape), now)?;
            let amount = with_rules(RulesOutcome::Pass { cap, shape: None }, shaped)?;
            Ok(Alone {
                amount,
                shape: Some(shape),
            })
        }
        outcome => with_rules(outcome, discount).map(|amount| Alone {
            amount,
            shape: None,
        }),
    }
}

/// What an order with several codes gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartDecision {
    /// The codes applied (indexes into the entries), in application order, with their
    /// discounts.
    pub applied: Vec<(usize, Granted)>,
    /// The codes left out (indexes into the entries), in entry order, with why.
    pub left_out: Vec<(usize, Vec<Rejection>)>,
}

/// Decides an order with several codes, each read into a snapshot (or refused before
/// one could be read: not found, not live). Each code is decided alone first; a coupon
/// named twice (by the same or another of its codes) counts once. Of those that apply
/// alone, the order gets the best set that may share it beside the coupons it already
/// holds ([`choose`]). Coupons of one campaign in the set share its caps: they are
/// counted in application order, and one that the campaign's caps would refuse or
/// lower is left out and the set chosen again without it.
pub fn decide_cart(
    entries: &[Result<Snapshot, Vec<Rejection>>],
    order: &Order,
    rules: &dyn RuleEvaluator,
    now: DateTime<Utc>,
) -> CartDecision {
    let mut left_out = Vec::new();
    let mut offers: Vec<(usize, Offer)> = Vec::new();
    let mut in_cart = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let snapshot = match entry {
            Err(reasons) => {
                left_out.push((i, reasons.clone()));
                continue;
            }
            Ok(s) => s,
        };
        let coupon_id = snapshot.found.coupon.id;
        if in_cart.contains(&coupon_id) {
            left_out.push((i, vec![Rejection::AlreadyAppliedToOrder]));
            continue;
        }
        in_cart.push(coupon_id);
        match decide_alone(snapshot, order, rules, now) {
            Err(reasons) => left_out.push((i, reasons)),
            Ok(alone) => offers.push((i, snapshot.found.offer(order, &alone))),
        }
    }
    // What the order holds of coupons not in the cart.
    let mut held: Vec<Held> = Vec::new();
    for snapshot in entries.iter().flatten() {
        for h in &snapshot.held {
            let known = held.iter().any(|k| k.coupon_id == h.coupon_id);
            if !known && !in_cart.contains(&h.coupon_id) {
                held.push(h.clone());
            }
        }
    }
    loop {
        let candidates: Vec<Offer> = offers.iter().map(|(_, o)| o.clone()).collect();
        let choice = choose(&candidates, &held, order);
        let entry_of = |o: usize| offers[o].0;
        if let Some((o, reason)) = campaign_refusal(entries, &choice, &offers) {
            left_out.push((entry_of(o), vec![reason]));
            offers.remove(o);
            continue;
        }
        left_out.extend(
            choice
                .left_out
                .iter()
                .map(|(o, why)| (entry_of(*o), vec![why.clone()])),
        );
        left_out.sort_by_key(|(i, _)| *i);
        return CartDecision {
            applied: choice
                .applied
                .iter()
                .map(|(o, g)| (entry_of(*o), g.clone()))
                .collect(),
            left_out,
        };
    }
}

/// The first applied offer (in application order) that its campaign's caps refuse or
/// lower once the set's earlier coupons of the same campaign are counted.
fn campaign_refusal(
    entries: &[Result<Snapshot, Vec<Rejection>>],
    choice: &crate::Choice,
    offers: &[(usize, Offer)],
) -> Option<(usize, Rejection)> {
    let mut counted: Vec<(i64, CampaignUsage)> = Vec::new();
    for (o, taken) in &choice.applied {
        let Ok(snapshot) = &entries[offers[*o].0] else {
            continue;
        };
        let (Some(campaign_id), Some(limits)) = (
            snapshot.found.coupon.campaign_id,
            snapshot.found.campaign.as_ref().filter(|l| l.caps_usage()),
        ) else {
            continue;
        };
        let earlier = counted
            .iter()
            .find(|(id, _)| *id == campaign_id)
            .map_or_else(CampaignUsage::default, |(_, u)| *u);
        let usage = CampaignUsage {
            uses: snapshot.campaign_usage.uses + earlier.uses,
            discount_minor: snapshot.campaign_usage.discount_minor + earlier.discount_minor,
        };
        match limits.limit(usage, taken.amount) {
            Ok(allowed) if allowed == taken.amount => {}
            Ok(_) => return Some((*o, Rejection::CampaignBudgetExhausted)),
            Err(reason) => return Some((*o, reason)),
        }
        let after = CampaignUsage {
            uses: earlier.uses + 1,
            discount_minor: earlier.discount_minor + taken.amount.minor,
        };
        match counted.iter_mut().find(|(id, _)| *id == campaign_id) {
            Some(entry) => entry.1 = after,
            None => counted.push((campaign_id, after)),
        }
    }
    None
}

/// The discount of one code beside the coupons the order already has: the one-code case
/// of [`choose`]. It must be combinable with each of them and takes its discount from
/// what they left, never more than `alone`.
pub fn beside_held(
    snapshot: &Snapshot,
    order: &Order,
    alone: &Alone,
) -> Result<Granted, Vec<Rejection>> {
    let offer = snapshot.found.offer(order, alone);
    let choice = choose(std::slice::from_ref(&offer), &snapshot.held, order);
    match choice.applied.into_iter().next() {
        Some((_, taken)) => Ok(taken),
        None => Err(vec![
            choice
                .left_out
                .into_iter()
                .next()
                .map_or(Rejection::OrderFullyDiscounted, |(_, why)| why),
        ]),
    }
}

/// The decision before rules: the coupon's terms and limits, then the campaign's
/// window, use cap and budget; with a rule's `shape`, on the shaped discount.
pub fn decide_terms(
    snapshot: &Snapshot,
    order: &Order,
    shape: Option<&Shape>,
    now: DateTime<Utc>,
) -> Result<Money, Vec<Rejection>> {
    let found = &snapshot.found;
    let discount = evaluate_in_campaign(
        &found.coupon,
        found.campaign.as_ref(),
        found.terms,
        order,
        snapshot.usage,
        shape,
        now,
    )?;
    match found.campaign.as_ref().filter(|l| l.caps_usage()) {
        Some(limits) => limits
            .limit(snapshot.campaign_usage, discount)
            .map_err(|reason| vec![reason]),
        None => Ok(discount),
    }
}

/// What the coupon's rules see for an order that would get `discount` before them.
pub fn rule_facts(
    snapshot: &Snapshot,
    order: &Order,
    discount: Money,
    now: DateTime<Utc>,
) -> RuleFacts {
    let coupon = &snapshot.found.coupon;
    RuleFacts {
        coupon_id: coupon.id.0,
        coupon_name: coupon.spec.name.clone(),
        coupon_metadata: coupon.spec.metadata.as_value().clone(),
        code: snapshot.found.code.clone(),
        coupon_uses: snapshot.usage.coupon,
        code_uses: snapshot.usage.code,
        customer_uses: snapshot.usage.customer,
        customer_use_times: snapshot.history.customer_use_times.clone(),
        discount_total: snapshot.history.discount_total,
        customer_orders: snapshot.history.customer_orders,
        discount: discount.minor,
        ..RuleFacts::for_order(order, now.timestamp())
    }
}

/// Folds the rules' answer into the discount: a rejection or a failure refuses; caps
/// lower the discount, and a discount capped to zero is refused.
pub fn with_rules(outcome: RulesOutcome, discount: Money) -> Result<Money, Vec<Rejection>> {
    match outcome {
        RulesOutcome::Pass { cap, .. } => {
            let minor = cap.map_or(discount.minor, |c| c.min(discount.minor));
            if minor == 0 {
                Err(vec![Rejection::ZeroDiscount])
            } else {
                Ok(Money {
                    minor,
                    currency: discount.currency,
                })
            }
        }
        RulesOutcome::Rejected {
            rule,
            code,
            message,
        } => Err(vec![Rejection::RuleRejected {
            rule,
            code,
            message,
        }]),
        RulesOutcome::Failed { rule } => Err(vec![Rejection::RuleFailed { rule }]),
    }
}

/// A point in a capped coupon's usage that is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageMark {
    /// Redemptions reached this share of the cap (50 or 90 percent).
    Share {
        /// The percentage.
        percent: i64,
        /// Redemptions now.
        redeemed: i64,
        /// The cap.
        cap: i64,
    },
    /// Redemptions reached the cap.
    Exhausted {
        /// Redemptions now.
        redeemed: i64,
        /// The cap.
        cap: i64,
    },
}

/// The marks a coupon capped at `cap` passes when its redemptions go from `before` to
/// `before + 1`.
pub fn usage_marks(before: i64, cap: Option<u32>) -> Vec<UsageMark> {
    let Some(cap) = cap.map(i64::from) else {
        return Vec::new();
    };
    let after = before + 1;
    let mut marks: Vec<UsageMark> = [50_i64, 90]
        .into_iter()
        .filter(|p| before * 100 < p * cap && after * 100 >= p * cap)
        .map(|percent| UsageMark::Share {
            percent,
            redeemed: after,
            cap,
        })
        .collect();
    if before < cap && after >= cap {
        marks.push(UsageMark::Exhausted {
            redeemed: after,
            cap,
        });
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_passed_once_each() {
        assert_eq!(usage_marks(3, None), vec![]);
        assert_eq!(
            usage_marks(4, Some(10)),
            vec![UsageMark::Share {
                percent: 50,
                redeemed: 5,
                cap: 10
            }]
        );
        assert_eq!(usage_marks(5, Some(10)), vec![]);
        assert_eq!(
            usage_marks(9, Some(10)),
            vec![UsageMark::Exhausted {
                redeemed: 10,
                cap: 10
            }]
        );
        // A cap of one passes every mark at once.
        assert_eq!(usage_marks(0, Some(1)).len(), 3);
        // Past the cap, nothing more.
        assert_eq!(usage_marks(10, Some(10)), vec![]);
    }

    #[test]
    fn rule_caps_lower_the_discount_and_zero_is_refused() {
        let usd = crate::Currency::parse("USD").unwrap();
        let ten = Money {
            minor: 1_000,
            currency: usd,
        };
        assert_eq!(
            with_rules(
                RulesOutcome::Pass {
                    cap: None,
                    shape: None
                },
                ten
            ),
            Ok(ten)
        );
        assert_eq!(
            with_rules(
                RulesOutcome::Pass {
                    cap: Some(250),
                    shape: None
                },
                ten
            )
            .map(|m| m.minor),
            Ok(250)
        );
        assert_eq!(
            with_rules(
                RulesOutcome::Pass {
                    cap: Some(0),
                    shape: None
                },
                ten
            ),
            Err(vec![Rejection::ZeroDiscount])
        );
        assert_eq!(
            with_rules(RulesOutcome::Failed { rule: "r".into() }, ten),
            Err(vec![Rejection::RuleFailed { rule: "r".into() }])
        );
    }
}
