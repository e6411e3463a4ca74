//! What almost every request reads, kept in memory per instance: the API keys.
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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

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
}
