//! When to try a webhook delivery again, and when to stop trying an endpoint for a while.
//!
//! Pure policy: the delivery worker supplies the clock and the random draw.

use chrono::{DateTime, TimeDelta, Utc};

/// Exponential backoff with full jitter: the `n`-th retry waits a random time between
/// half of and the whole of `base × 2^(n−1)`, at most `cap`; after `max_attempts`
/// attempts the delivery is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first retry, before jitter.
    pub base: TimeDelta,
    /// Longest wait between attempts.
    pub cap: TimeDelta,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: TimeDelta::seconds(5),
            cap: TimeDelta::hours(1),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts, or `None` to give up.
    /// `draw` is a uniform random number in `[0, 1)`.
    pub fn next_attempt(
        &self,
        attempts: u32,
        now: DateTime<Utc>,
        draw: f64,
    ) -> Option<DateTime<Utc>> {
        if attempts == 0 || attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let full = self
            .base
            .checked_mul(1_i32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap);
        let millis = full.num_milliseconds() as f64 * (0.5 + 0.5 * draw.clamp(0.0, 1.0));
        Some(now + TimeDelta::milliseconds(millis as i64))
    }
}

/// A circuit breaker per endpoint: after `threshold` failures in a row the endpoint is
/// left alone for `cooldown`; then one attempt is let through, and its outcome closes
/// the breaker or opens it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breaker {
    /// Failures in a row.
    pub failures: u32,
    /// Until when attempts are held back.
    pub open_until: Option<DateTime<Utc>>,
}

/// Settings of a [`Breaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failures in a row that open the breaker.
    pub threshold: u32,
    /// How long it stays open.
    pub cooldown: TimeDelta,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            cooldown: TimeDelta::minutes(5),
        }
    }
}

impl Breaker {
    /// Whether an attempt may go out at `now`.
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    /// After a successful attempt: closed, count reset.
    pub fn succeeded(self) -> Self {
        Self::default()
    }

    /// After a failed attempt: opens once the threshold is reached (and again after
    /// each failed trial attempt).
    pub fn failed(self, policy: BreakerPolicy, now: DateTime<Utc>) -> Self {
        let failures = self.failures.saturating_add(1);
        let open_until = (failures >= policy.threshold).then(|| now + policy.cooldown);
        Self {
            failures,
            open_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let p = RetryPolicy {
            base: TimeDelta::seconds(1),
            cap: TimeDelta::seconds(60),
            max_attempts: 10,
        };
        let wait = |attempts, draw| p.next_attempt(attempts, t0(), draw).map(|t| t - t0());
        assert_eq!(wait(1, 0.0), Some(TimeDelta::milliseconds(500)));
        assert_eq!(wait(1, 0.999_999), Some(TimeDelta::milliseconds(999)));
        assert_eq!(wait(2, 0.0), Some(TimeDelta::seconds(1)));
        assert_eq!(wait(3, 0.0), Some(TimeDelta::seconds(2)));
        assert_eq!(wait(4, 1.0), Some(TimeDelta::seconds(8)));
        assert_eq!(wait(9, 1.0), Some(TimeDelta::seconds(60)));
        assert_eq!(wait(9, 0.0), Some(TimeDelta::seconds(30)));
        assert_eq!(wait(10, 0.5), None);
        assert_eq!(wait(0, 0.5), None);
        // A huge attempt count does not overflow.
        let long = RetryPolicy {
            max_attempts: u32::MAX,
            ..p
        };
        assert_eq!(
            long.next_attempt(1_000, t0(), 1.0).map(|t| t - t0()),
            Some(TimeDelta::seconds(60))
        );
    }

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_closes_on_success() {
        let policy = BreakerPolicy {
            threshold: 3,
            cooldown: TimeDelta::seconds(30),
        };
        let mut b = Breaker::default();
        for _ in 0..2 {
            b = b.failed(policy, t0());
            assert!(b.allows(t0()));
        }
        b = b.failed(policy, t0());
        assert!(!b.allows(t0() + TimeDelta::seconds(29)));
        assert!(b.allows(t0() + TimeDelta::seconds(30)));
        // The trial attempt fails: open again, from then.
        let later = t0() + TimeDelta::seconds(30);
        b = b.failed(policy, later);
        assert!(!b.allows(later + TimeDelta::seconds(1)));
        // A success closes it.
        b = b.succeeded();
        assert_eq!(b, Breaker::default());
        assert!(b.allows(later));
    }
}
