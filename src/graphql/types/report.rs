//! `Report`: what a coupon or a campaign did over a time range.

use std::collections::BTreeMap;

use async_graphql::{Enum, SimpleObject};

use super::{Money, money};
use crate::graphql::error::ApiError;
use crate::graphql::scalars::DateTime;
use crate::storage::{Bucket, RedemptionGroup, ReportData};

/// The width of a report's time buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "Bucket")]
pub enum ReportBucket {
    /// Hours (UTC); a range of at most 31 days.
    Hour,
    /// Days (UTC); a range of at most 3,660 days.
    Day,
}

/// Validation attempts that ended with one outcome.
#[derive(Debug, Clone, SimpleObject)]
pub struct OutcomeCount {
    /// `VALID`, or the code of the first reason the code did not apply (a
    /// `RejectionCode` name such as `EXPIRED`).
    pub outcome: String,
    /// Attempts.
    pub attempts: i64,
}

/// Redemptions of one group: a time bucket, a channel, or all of the range.
#[derive(Debug, Clone, SimpleObject)]
pub struct RedemptionFigures {
    /// Redemptions (rows redeemed in the range, directly or from a reservation).
    pub redemptions: i64,
    /// Of those, reversed in full or in part by now.
    pub reversals: i64,
    /// Discount given, net of refunds, per currency.
    pub total_discount: Vec<Money>,
    /// Order subtotals, per currency.
    pub total_order_value: Vec<Money>,
}

/// One time bucket of a report.
#[derive(Debug, Clone, SimpleObject)]
pub struct ReportPoint {
    /// The bucket's start (UTC).
    pub start: DateTime,
    /// What was redeemed in it.
    pub figures: RedemptionFigures,
}

/// One sales channel of a report.
#[derive(Debug, Clone, SimpleObject)]
pub struct ChannelFigures {
    /// The channel; null for orders that named none.
    pub channel: Option<String>,
    /// What was redeemed through it.
    pub figures: RedemptionFigures,
}

/// What a coupon or a campaign did over `[from, to)`.
#[derive(Debug, Clone, SimpleObject)]
pub struct Report {
    /// Start of the range (inclusive).
    pub from: DateTime,
    /// End of the range (exclusive).
    pub to: DateTime,
    /// Codes created in the range.
    pub codes_issued: i64,
    /// Validation attempts (`validateCoupon`) in the hours the range covers.
    pub validation_attempts: i64,
    /// Those attempts by outcome: `VALID` and each rejection reason.
    pub validation_outcomes: Vec<OutcomeCount>,
    /// Reservations made in the range (whatever became of them).
    pub reservations: i64,
    /// Distinct customers who redeemed in the range (orders naming no customer are
    /// not counted).
    pub unique_customers: i64,
    /// Distinct codes redeemed in the range.
    pub codes_redeemed: i64,
    /// `codesRedeemed` over the codes that existed at the end of the range; null when
    /// there were none.
    pub redemption_rate: Option<f64>,
    /// Everything redeemed in the range.
    pub totals: RedemptionFigures,
    /// Redemptions per time bucket, buckets with none left out.
    pub series: Vec<ReportPoint>,
    /// Redemptions per sales channel.
    pub channels: Vec<ChannelFigures>,
    /// Abuse signals raised in the range about the coupon (or the campaign's coupons),
    /// by kind; `abuseSignals(filter:)` lists them.
    pub abuse_signals: Vec<AbuseSignalCount>,
}

/// Abuse signals of one kind.
#[derive(Debug, Clone, SimpleObject)]
pub struct AbuseSignalCount {
    /// The kind (an `AbuseSignalKind` name).
    pub kind: String,
    /// Signals raised.
    pub signals: i64,
}

/// The figures of `groups`, their amounts summed per currency.
fn figures<'a>(groups: impl Iterator<Item = &'a RedemptionGroup>) -> RedemptionFigures {
    let (mut redemptions, mut reversals) = (0, 0);
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for g in groups {
        redemptions += g.redemptions;
        reversals += g.reversals;
        let sum = sums.entry(g.currency.as_str()).or_default();
        sum.0 += g.discount_minor;
        sum.1 += g.subtotal_minor;
    }
    RedemptionFigures {
        redemptions,
        reversals,
        total_discount: sums.iter().filter_map(|(c, s)| money(c, s.0)).collect(),
        total_order_value: sums.iter().filter_map(|(c, s)| money(c, s.1)).collect(),
    }
}

/// The groups by `key`, in key order.
fn by<'a>(
    groups: &'a [RedemptionGroup],
    key: impl Fn(&'a RedemptionGroup) -> &'a str,
) -> BTreeMap<&'a str, Vec<&'a RedemptionGroup>> {
    let mut keyed: BTreeMap<&str, Vec<&RedemptionGroup>> = BTreeMap::new();
    for g in groups {
        keyed.entry(key(g)).or_default().push(g);
    }
    keyed
}

impl Report {
    /// The report over `[from, to)` of the figures storage read.
    pub fn new(from: DateTime, to: DateTime, data: ReportData) -> Result<Self, ApiError> {
        let mut series = Vec::new();
        for (key, groups) in by(&data.groups, |g| g.bucket.as_str()) {
            let start = chrono::DateTime::parse_from_rfc3339(key)
                .map_err(|e| ApiError::internal(&e))?
                .with_timezone(&chrono::Utc);
            series.push(ReportPoint {
                start: DateTime(start),
                figures: figures(groups.into_iter()),
            });
        }
        let channels = by(&data.groups, |g| g.channel.as_str())
            .into_iter()
            .map(|(key, groups)| ChannelFigures {
                channel: (!key.is_empty()).then(|| key.to_owned()),
                figures: figures(groups.into_iter()),
            })
            .collect();
        Ok(Self {
            from,
            to,
            codes_issued: data.codes_issued,
            validation_attempts: data.attempts.iter().map(|a| a.attempts).sum(),
            validation_outcomes: data
                .attempts
                .into_iter()
                .map(|a| OutcomeCount {
                    outcome: a.outcome,
                    attempts: a.attempts,
                })
                .collect(),
            reservations: data.reservations,
            unique_customers: data.unique_customers,
            codes_redeemed: data.codes_redeemed,
            abuse_signals: data
                .abuse_signals
                .into_iter()
                .map(|s| AbuseSignalCount {
                    kind: s.kind,
                    signals: s.signals,
                })
                .collect(),
            redemption_rate: (data.codes_at_end > 0)
                .then(|| data.codes_redeemed as f64 / data.codes_at_end as f64),
            totals: figures(data.groups.iter()),
            series,
            channels,
        })
    }
}
