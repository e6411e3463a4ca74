//! What almost every request reads, kept in memory per instance: the API keys, and
//! the terms of the coupons checked lately.
//!
//! # API keys
//!
//! A key is looked up by its hash on every request; reading it from the database cost a
//! round trip (and on PostgreSQL most of a `validateCoupon`'s own time). The cache keeps
//! each key found for at most [`KEY_MAX_AGE`]. Every change that can turn a key away
//! (revoke, rotate) clears the cache of the instance that made it at once, and tells the
//! others through PostgreSQL `NOTIFY` on the event channel with the payload
//! [`KEYS_CHANGED`], which each instance's listener turns into a clear as well. Should a
//! notification be lost (the listener reconnecting), the age limit still holds: a revoked
//! key is refused by every instance within [`KEY_MAX_AGE`], in practice within
//! milliseconds.
//!
//! Unknown keys are not cached, so made-up keys cannot fill memory and a new key works
//! at once.
//!
//! # Coupon terms
//!
//! A checkout reads a code with its coupon's counters and version (`updated_at`) in one
//! statement; the coupon's terms (discount, window, limits, rules, targets and the
//! rest, decoded from their columns) are taken from [`TermsCache`] when the cached copy
//! has that version, and read and decoded only when it does not. Every change to a
//! coupon's terms moves `updated_at` (it is the version a caller names in `If-Match`),
//! so the cache is never stale, on any instance, with nothing to invalidate: the
//! version it is checked against is read in the same statement as the counters.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use coupons_domain::Coupon;

use crate::storage::StoredApiKey;

/// The `NOTIFY` payload that says API keys changed.
pub const KEYS_CHANGED: &str = "api_keys";

/// The longest a key is used from the cache without being read again.
pub const KEY_MAX_AGE: Duration = Duration::from_secs(1);

/// Most keys kept; past it the cache starts afresh.
const MAX_KEYS: usize = 10_000;

/// API keys by hash, for this instance.
#[derive(Default)]
pub struct KeyCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Bumped by every clear, so that a lookup that started before a change cannot put
    /// back what the change removed.
    generation: u64,
    keys: HashMap<String, (Instant, StoredApiKey)>,
}

impl KeyCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is valid after any panic (each change is one call), so poison is moot.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key with this hash when it was read less than [`KEY_MAX_AGE`] ago.
    pub fn get(&self, hash: &str) -> Option<StoredApiKey> {
        let entries = self.entries();
        let (read_at, key) = entries.keys.get(hash)?;
        (read_at.elapsed() < KEY_MAX_AGE).then(|| key.clone())
    }

    /// The generation to pass to [`KeyCache::put`]: taken before reading the database.
    pub fn generation(&self) -> u64 {
        self.entries().generation
    }

    /// Keeps a key read from the database, unless the cache was cleared since
    /// `generation` was taken (the read may predate the change that cleared it).
    pub fn put(&self, generation: u64, read_at: Instant, key: StoredApiKey) {
        let mut entries = self.entries();
        if entries.generation != generation {
            return;
        }
        if entries.keys.len() >= MAX_KEYS {
            entries.keys.clear();
        }
        entries.keys.insert(key.secret_hash.clone(), (read_at, key));
    }

    /// Notes that a key's use was recorded at `at`, so it is not recorded again at once.
    pub fn used(&self, hash: &str, at: DateTime<Utc>) {
        if let Some((_, key)) = self.entries().keys.get_mut(hash) {
            key.last_used_at = Some(at);
        }
    }

    /// Forgets every key: one changed here or on another instance.
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.keys.clear();
    }
}

/// Most coupons kept; past it the cache starts afresh.
const MAX_COUPONS: usize = 10_000;

/// Decoded coupon terms by coupon id, each with the version it was read at.
#[derive(Default)]
pub struct TermsCache {
    inner: Mutex<HashMap<i64, Coupon>>,
}

impl TermsCache {
    fn coupons(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Coupon>> {
        // Each change is one call, so the map is whole after any panic.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The coupon with this id as it stood at `version` (its `updated_at`), when that
    /// version is the one cached. Its counters are those it was read with: the caller
    /// sets the current ones.
    pub fn get(&self, id: i64, version: DateTime<Utc>) -> Option<Coupon> {
        self.coupons()
            .get(&id)
            .filter(|coupon| coupon.updated_at == version)
            .cloned()
    }

    /// Keeps a coupon just read and decoded, unless a later version is kept already.
    pub fn put(&self, coupon: &Coupon) {
        let mut coupons = self.coupons();
        if coupons
            .get(&coupon.id.0)
            .is_some_and(|kept| kept.updated_at > coupon.updated_at)
        {
            return;
        }
        if coupons.len() >= MAX_COUPONS {
            coupons.clear();
        }
        coupons.insert(coupon.id.0, coupon.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str) -> StoredApiKey {
        StoredApiKey {
            id: 1,
            name: "k".into(),
            role: "admin".into(),
            prefix: "cpn_".into(),
            secret_hash: hash.into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
            channels: serde_json::json!([]),
            expires_at: None,
            replaced_by: None,
        }
    }

    #[test]
    fn a_clear_wins_over_a_lookup_that_started_before_it() {
        let cache = KeyCache::default();
        let before = cache.generation();
        cache.clear();
        cache.put(before, Instant::now(), key("h"));
        assert!(cache.get("h").is_none());
        cache.put(cache.generation(), Instant::now(), key("h"));
        assert!(cache.get("h").is_some());
        cache.clear();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn entries_older_than_the_max_age_are_read_again() {
        let cache = KeyCache::default();
        let old = Instant::now()
            .checked_sub(KEY_MAX_AGE)
            .unwrap_or_else(Instant::now);
        cache.put(cache.generation(), old, key("h"));
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn terms_are_served_only_at_the_version_asked_for() {
        let cache = TermsCache::default();
        let first = Utc::now();
        let second = first + chrono::Duration::microseconds(1);
        cache.put(&coupon(first, "first"));
        assert_eq!(cache.get(7, first).unwrap().spec.name, "first");
        assert!(
            cache.get(7, second).is_none(),
            "a later version is read again"
        );
        assert!(cache.get(8, first).is_none());
        cache.put(&coupon(second, "second"));
        assert_eq!(cache.get(7, second).unwrap().spec.name, "second");
        assert!(cache.get(7, first).is_none());
        // A slow reader's older copy does not replace a newer one.
        cache.put(&coupon(first, "first"));
        assert_eq!(cache.get(7, second).unwrap().spec.name, "second");
    }

    fn coupon(version: DateTime<Utc>, name: &str) -> Coupon {
        use coupons_domain::{CouponDraft, CouponId, CouponSpec, LifecycleStatus, PricesDraft};
        let draft = CouponDraft {
            name: name.into(),
            prices: PricesDraft {
                percentage: Some(10.into()),
                ..PricesDraft::default()
            },
            ..CouponDraft::default()
        };
        let spec = CouponSpec::from_draft(draft, version, None).unwrap();
        Coupon {
            id: CouponId(7),
            spec,
            lifecycle: LifecycleStatus::Active,
            redemption_count: 0,
            reserved_count: 0,
            campaign_id: None,
            created_at: version,
            updated_at: version,
        }
    }
}
