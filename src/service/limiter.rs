//! Attempt limiting: failed code checks are counted per API key, per client IP and per
//! customer, and a subject with too many failures in a window is locked out for a while.
//!
//! A *failure* is a check of a code that does not exist or cannot be used yet (what a
//! storefront or public caller sees as `NOT_FOUND`): that is what guessing produces.
//!
//! The budget cannot be raced. A check takes its attempt from every budget it counts
//! against *before* the lookup ([`Limiter::begin`]), and settles it afterwards: a
//! failure keeps it, any other verdict gives it back ([`Attempt::succeeded`]). A check
//! that cannot take an attempt (the subject is locked out, or every attempt left is
//! held by checks still running) is refused as throttled. So however many checks one
//! subject runs at once (aliases of one document, a batch, concurrent requests, several
//! sockets), it never gets more failure verdicts than its budget. A check abandoned
//! before it settles (its request timed out or its client went away) counts as a
//! failure. A request refused for its shape (too many aliases, too large a batch) is
//! charged every check it carried ([`Limiter::fail`]).
//!
//! Counts live in this process's memory, and on PostgreSQL, where several instances
//! may serve one database, every failure is also added to a count they share
//! ([`Limiter::shared`]): one statement per failed check, none for any other verdict.
//! The shared count decides: a failure that arrives while the subject is locked out
//! (by any instance) is not told, the check is answered as throttled instead, so a
//! guesser gets the same number of failure verdicts per window whether it talks to one
//! instance or to many. The instance that locks a subject out tells the others
//! (`NOTIFY`), which then refuse it before running anything. SQLite serves one instance
//! and counts in memory only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::Role;
use crate::storage::{self, Db};

/// Whose failures are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An API key (`key:<id>`, or `admin-env` for `COUPONS_ADMIN_KEY`).
    Key(String),
    /// The client's address.
    Ip(IpAddr),
    /// A customer, by keyed hash.
    Customer(String),
}

impl Subject {
    /// The name the shared count knows it by: a keyed hash, so no address or key id is
    /// stored.
    fn shared_name(&self, key: &[u8]) -> String {
        let plain = match self {
            Self::Key(scope) => format!("key:{scope}"),
            Self::Ip(ip) => format!("ip:{ip}"),
            Self::Customer(customer) => format!("customer:{customer}"),
        };
        super::checkout::customer_key(key, &plain)
    }
}

/// Failures allowed per window before a lockout, for one kind of subject; `None`: no
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Per API key.
    pub key: Option<u32>,
    /// Per client IP.
    pub ip: Option<u32>,
    /// Per customer.
    pub customer: Option<u32>,
}

impl Budget {
    /// No limit at all.
    pub const UNLIMITED: Self = Self {
        key: None,
        ip: None,
        customer: None,
    };

    /// The default for `public` keys, which sit in browsers: strict.
    pub const PUBLIC: Self = Self {
        key: Some(1_000),
        ip: Some(10),
        customer: Some(5),
    };

    /// The default for `storefront` keys: one server calls for many customers, so the
    /// key and its address get a large budget and each customer a small one.
    pub const STOREFRONT: Self = Self {
        key: Some(10_000),
        ip: None,
        customer: Some(10),
    };

    fn of(&self, subject: &Subject) -> Option<u32> {
        match subject {
            Subject::Key(_) => self.key,
            Subject::Ip(_) => self.ip,
            Subject::Customer(_) => self.customer,
        }
    }
}

/// A budget that cannot be read, e.g. `key=ten`.
#[derive(Debug, thiserror::Error)]
#[error("attempt limits must look like 'key=1000,ip=10,customer=5' (0 for no limit): {0}")]
pub struct BudgetError(String);

impl FromStr for Budget {
    type Err = BudgetError;

    /// `key=1000,ip=10,customer=5`; a name left out keeps no limit, `0` means no limit.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut budget = Self::UNLIMITED;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| BudgetError(part.to_owned()))?;
            let n: u32 = value
                .trim()
                .parse()
                .map_err(|_| BudgetError(part.to_owned()))?;
            let n = (n > 0).then_some(n);
            match name.trim() {
                "key" => budget.key = n,
                "ip" => budget.ip = n,
                "customer" => budget.customer = n,
                _ => return Err(BudgetError(part.to_owned())),
            }
        }
        Ok(budget)
    }
}

/// How attempts are limited.
#[derive(Debug, Clone)]
pub struct LimiterSettings {
    /// Failures are counted over this window.
    pub window: Duration,
    /// How long a subject that used up its budget is refused.
    pub lockout: Duration,
    /// Budgets of `public` callers.
    pub public: Budget,
    /// Budgets of `storefront` callers.
    pub storefront: Budget,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(900),
            public: Budget::PUBLIC,
            storefront: Budget::STOREFRONT,
        }
    }
}

impl LimiterSettings {
    fn budget(&self, role: Role) -> Budget {
        match role {
            Role::Public => self.public,
            Role::Storefront => self.storefront,
            // Admins are trusted; analysts cannot check codes.
            Role::Admin | Role::Analyst => Budget::UNLIMITED,
        }
    }
}

/// A refusal: the caller must wait this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Whole seconds until the lockout ends (at least 1).
    pub retry_after_secs: u64,
}

impl Throttled {
    /// Wait `d`, rounded up to whole seconds.
    fn after(d: Duration) -> Self {
        Self {
            retry_after_secs: d.as_secs() + u64::from(d.subsec_nanos() > 0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    /// Attempts taken by checks that have not settled yet.
    pending: u32,
    locked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            failures: 0,
            pending: 0,
            locked_until: None,
        }
    }

    /// Starts a new window once the current one is over.
    fn roll(&mut self, now: Instant, window: Duration) {
        if now.duration_since(self.window_start) >= window {
            self.window_start = now;
            self.failures = 0;
        }
    }

    /// Counts `n` failures; the subject is locked out when they reach `max`.
    fn add_failures(&mut self, n: u32, max: u32, now: Instant, settings: &LimiterSettings) {
        self.roll(now, settings.window);
        self.failures = self.failures.saturating_add(n);
        if self.failures >= max {
            self.locked_until = Some(now + settings.lockout);
            self.failures = 0;
            self.window_start = now;
        }
    }
}

/// The count shared by the instances on one PostgreSQL database.
struct Shared {
    db: Db,
    /// Key of the hash that names subjects.
    key: Vec<u8>,
    /// Subjects other instances locked out (by name), until when.
    locked: Mutex<HashMap<String, Instant>>,
}

/// Counts failures and hands out lockouts. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct Limiter {
    settings: Arc<LimiterSettings>,
    entries: Arc<Mutex<HashMap<Subject, Entry>>>,
    /// Where failures are also counted for every instance (PostgreSQL).
    shared: Option<Arc<Shared>>,
    /// Told each time a check settles, so checks waiting for an attempt look again.
    settled: Arc<tokio::sync::Notify>,
    /// How many checks are waiting for an attempt (settles tell them only then).
    waiting: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Retry hint when every attempt left stayed held by running checks for all of
/// [`BUSY_WAIT`]: they settle within a request's time, so the caller may try again soon.
const BUSY_RETRY_SECS: u64 = 1;

/// Longest a check waits for an attempt held by running checks to come back.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Why a check cannot take an attempt now.
enum Blocked {
    /// A subject is locked out, for this long.
    Locked(Duration),
    /// Every attempt left is held by running checks.
    Busy,
}

/// One code check's attempt, taken from every budget the check counts against. Settle
/// it with [`Attempt::failed`] or [`Attempt::succeeded`]; dropped unsettled, it counts
/// as a failure.
#[must_use = "an attempt is settled by failed() or succeeded(); dropped, it counts as a failure"]
#[derive(Debug)]
pub struct Attempt {
    limiter: Limiter,
    role: Role,
    subjects: Vec<Subject>,
    settled: bool,
}

impl Attempt {
    /// Settles the attempt by the check's verdict: `failed` when it found nothing
    /// usable (a guess), and the attempt stays spent; otherwise (another verdict, or
    /// the check could not run) it is given back. A failure is added to the shared
    /// count where there is one; `Err` when the subject was locked out meanwhile (by
    /// another instance, or by checks that ran at once): the verdict must not be told,
    /// the check is answered as throttled.
    pub async fn settle(mut self, failed: bool) -> Result<(), Throttled> {
        let shared = self.limiter.shared.clone();
        match shared {
            Some(shared) if failed => {
                self.settled = true;
                let limiter = self.limiter.clone();
                limiter
                    .fail_shared(&shared, self.role, &self.subjects, 1, true)
                    .await
            }
            _ => {
                self.settle_here(failed);
                Ok(())
            }
        }
    }

    /// Settles in this process only (the in-memory count).
    fn settle_here(&mut self, failed: bool) {
        if self.settled {
            return;
        }
        self.settled = true;
        self.limiter
            .settle_at(self.role, &self.subjects, failed, Instant::now());
    }

    #[cfg(test)]
    fn failed(mut self) {
        self.settle_here(true);
    }

    #[cfg(test)]
    fn succeeded(mut self) {
        self.settle_here(false);
    }
}

impl Drop for Attempt {
    /// An attempt dropped unsettled (its request timed out, its client went away)
    /// counts as a failure, on the shared count too.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.settle_here(true);
        self.limiter
            .share_in_background(self.role, std::mem::take(&mut self.subjects), 1);
    }
}

impl Limiter {
    /// A limiter with these settings.
    pub fn new(settings: LimiterSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            entries: Arc::default(),
            shared: None,
            settled: Arc::default(),
            waiting: Arc::default(),
        }
    }

    /// Also counts failures in `db` for every instance on it (PostgreSQL), naming
    /// subjects by a hash keyed with `key`. On SQLite it changes nothing.
    pub fn shared(mut self, db: &Db, key: &[u8]) -> Self {
        if matches!(db, Db::Postgres(_)) {
            self.shared = Some(Arc::new(Shared {
                db: db.clone(),
                key: key.to_vec(),
                locked: Mutex::default(),
            }));
        }
        self
    }

    /// Another instance locked out the subject named `name` for `ms` milliseconds
    /// (its `NOTIFY`): refuse it here too.
    pub fn locked_elsewhere(&self, name: &str, ms: u64) {
        if let Some(shared) = &self.shared
            && let Ok(mut locked) = shared.locked.lock()
        {
            let until = Instant::now() + Duration::from_millis(ms);
            locked.insert(name.to_owned(), until);
        }
    }

    /// The subjects `role` is limited on, with their budgets.
    fn limited(&self, role: Role, subjects: &[Subject]) -> Vec<(Subject, u32)> {
        let budget = self.settings.budget(role);
        subjects
            .iter()
            .filter_map(|s| budget.of(s).map(|max| (s.clone(), max)))
            .collect()
    }

    /// Adds `n` failures of `subjects` to the shared count, then to this process's
    /// entries as the shared count says (releasing the attempts held, when
    /// `release`). `Err` when a subject was locked out before these failures. When
    /// the database cannot be reached, the failures are counted here only.
    async fn fail_shared(
        &self,
        shared: &Shared,
        role: Role,
        subjects: &[Subject],
        n: u32,
        release: bool,
    ) -> Result<(), Throttled> {
        let limited = self.limited(role, subjects);
        if limited.is_empty() {
            if release {
                self.settle_at(role, subjects, true, Instant::now());
            }
            return Ok(());
        }
        let names: Vec<String> = limited
            .iter()
            .map(|(s, _)| s.shared_name(&shared.key))
            .collect();
        let budgets: Vec<i32> = limited
            .iter()
            .map(|(_, max)| i32::try_from(*max).unwrap_or(i32::MAX))
            .collect();
        let n_sql = i32::try_from(n).unwrap_or(i32::MAX);
        let window = millis(self.settings.window);
        let lockout = millis(self.settings.lockout);
        let names_sql = &names;
        let budgets_sql = &budgets;
        // One statement that commits by itself: the row's lock is held for the
        // statement only, not for a transaction's round trips (every failure of one
        // key updates the same row).
        let counted = shared
            .db
            .autocommit(async move |mut c| {
                storage::attempts::add_shared_failures(
                    &mut c,
                    names_sql,
                    budgets_sql,
                    n_sql,
                    window,
                    lockout,
                )
                .await
            })
            .await;
        let now = Instant::now();
        let counts = match counted {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "cannot add failures to the shared count; counted here only");
                if release {
                    self.settle_at(role, subjects, true, now);
                } else {
                    self.fail_at(role, subjects, n, now);
                }
                return Ok(());
            }
        };
        let mut refused: Option<Duration> = None;
        if let Ok(mut entries) = self.entries.lock() {
            for ((subject, _), name) in limited.iter().zip(&names) {
                let Some(count) = counts.iter().find(|c| &c.subject == name) else {
                    continue;
                };
                let entry = entries.entry(subject.clone()).or_insert(Entry::new(now));
                if release {
                    entry.pending = entry.pending.saturating_sub(1);
                }
                let left = count
                    .locked_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis);
                entry.locked_until = left.map(|d| now + d);
                if count.locked_now {
                    entry.window_start = now;
                }
                entry.failures = u32::try_from(count.failures).unwrap_or(0);
                if count.refused {
                    let d = left.unwrap_or(Duration::from_secs(1));
                    refused = Some(refused.map_or(d, |r| r.max(d)));
                }
            }
        }
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.settled.notify_waiters();
        }
        refused.map_or(Ok(()), |d| Err(Throttled::after(d)))
    }

    /// Adds failures to the shared count from a task of its own, for callers that
    /// cannot wait (a dropped attempt, a refused request).
    fn share_in_background(&self, role: Role, subjects: Vec<Subject>, n: u32) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let limiter = self.clone();
        runtime.spawn(async move {
            // Counted here already; the verdict was not told.
            let _ = limiter
                .fail_shared(&shared, role, &subjects, n, false)
                .await;
        });
    }

    /// Takes one attempt from the budget of every subject `role` is limited on, before
    /// the check runs. Refuses if any of them is locked out. When a subject's attempts
    /// left are all held by running checks, waits for one to settle (an honest caller's
    /// concurrent checks mostly succeed and give theirs back), for up to five seconds.
    pub async fn begin(&self, role: Role, subjects: Vec<Subject>) -> Result<Attempt, Throttled> {
        // The usual case: nothing is busy, and no waiting is set up.
        match self.try_begin_at(role, &subjects, Instant::now()) {
            Ok(()) => return Ok(self.attempt(role, subjects)),
            Err(Blocked::Locked(d)) => return Err(Throttled::after(d)),
            Err(Blocked::Busy) => {}
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let waited = self.wait_for_attempt(role, &subjects).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        waited.map(|()| self.attempt(role, subjects))
    }

    /// Waits until the subjects have an attempt (and takes it), or one is locked out,
    /// or [`BUSY_WAIT`] passes. The caller counts itself in `waiting` first, so that a
    /// settle that comes after this looks knows to tell it.
    async fn wait_for_attempt(&self, role: Role, subjects: &[Subject]) -> Result<(), Throttled> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        loop {
            let settled = self.settled.notified();
            let mut settled = std::pin::pin!(settled);
            // Registered before looking, so a settle in between is not missed.
            settled.as_mut().enable();
            match self.try_begin_at(role, subjects, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(Blocked::Locked(d)) => return Err(Throttled::after(d)),
                Err(Blocked::Busy) => {}
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Err(Throttled {
                    retry_after_secs: BUSY_RETRY_SECS,
                });
            }
        }
    }

    /// How long the longest lockout another instance told of, among `subjects`, has
    /// left.
    fn locked_elsewhere_for(
        &self,
        role: Role,
        subjects: &[Subject],
        now: Instant,
    ) -> Option<Duration> {
        let shared = self.shared.as_ref()?;
        let mut locked = shared.locked.lock().ok()?;
        if locked.is_empty() {
            return None;
        }
        locked.retain(|_, until| *until > now);
        let budget = self.settings.budget(role);
        subjects
            .iter()
            .filter(|s| budget.of(s).is_some())
            .filter_map(|s| locked.get(&s.shared_name(&shared.key)))
            .map(|until| *until - now)
            .max()
    }

    /// Takes the attempts if no subject is blocked.
    fn try_begin_at(&self, role: Role, subjects: &[Subject], now: Instant) -> Result<(), Blocked> {
        if let Some(d) = self.locked_elsewhere_for(role, subjects, now) {
            return Err(Blocked::Locked(d));
        }
        let budget = self.settings.budget(role);
        let Ok(mut entries) = self.entries.lock() else {
            return Ok(());
        };
        let mut locked: Option<Duration> = None;
        let mut busy = false;
        for subject in subjects {
            let Some(max) = budget.of(subject) else {
                continue;
            };
            let Some(entry) = entries.get_mut(subject) else {
                continue;
            };
            entry.roll(now, self.settings.window);
            match entry.locked_until {
                Some(until) if until > now => {
                    let d = until - now;
                    locked = Some(locked.map_or(d, |l| l.max(d)));
                }
                _ if entry.failures.saturating_add(entry.pending) >= max => busy = true,
                _ => {}
            }
        }
        if let Some(d) = locked {
            return Err(Blocked::Locked(d));
        }
        if busy {
            return Err(Blocked::Busy);
        }
        for subject in subjects {
            if budget.of(subject).is_some() {
                let entry = entries.entry(subject.clone()).or_insert(Entry::new(now));
                entry.pending += 1;
            }
        }
        Ok(())
    }

    fn attempt(&self, role: Role, subjects: Vec<Subject>) -> Attempt {
        Attempt {
            limiter: self.clone(),
            role,
            subjects,
            settled: false,
        }
    }

    fn settle_at(&self, role: Role, subjects: &[Subject], failed: bool, now: Instant) {
        self.settle_entries(role, subjects, failed, now);
        // Read after the entries changed: a check that counted itself in later looks at
        // the entries after this change, so it needs no wake-up.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.settled.notify_waiters();
        }
    }

    fn settle_entries(&self, role: Role, subjects: &[Subject], failed: bool, now: Instant) {
        self.each_limited(role, subjects, now, |entry, max| {
            entry.pending = entry.pending.saturating_sub(1);
            if failed {
                entry.add_failures(1, max, now, &self.settings);
            }
        });
    }

    /// Records `n` failed checks against each subject `role` is limited on, without
    /// running them (the request that carried them was refused).
    pub fn fail(&self, role: Role, subjects: &[Subject], n: u32) {
        self.fail_at(role, subjects, n, Instant::now());
        self.share_in_background(role, subjects.to_vec(), n);
    }

    fn fail_at(&self, role: Role, subjects: &[Subject], n: u32, now: Instant) {
        self.each_limited(role, subjects, now, |entry, max| {
            entry.add_failures(n, max, now, &self.settings);
        });
    }

    /// Runs `f` on the entry of every subject `role` is limited on, with its budget.
    fn each_limited(
        &self,
        role: Role,
        subjects: &[Subject],
        now: Instant,
        mut f: impl FnMut(&mut Entry, u32),
    ) {
        let budget = self.settings.budget(role);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        for subject in subjects {
            let Some(max) = budget.of(subject) else {
                continue;
            };
            // A settling check's entries exist (its begin made them): no key is cloned
            // on the usual path.
            match entries.get_mut(subject) {
                Some(entry) => f(entry, max),
                None => f(
                    entries.entry(subject.clone()).or_insert(Entry::new(now)),
                    max,
                ),
            }
        }
    }

    /// Forgets subjects whose window and lockout are both over and that no running
    /// check holds; returns how many remain.
    pub fn prune(&self) -> usize {
        let now = Instant::now();
        let window = self.settings.window;
        let Ok(mut entries) = self.entries.lock() else {
            return 0;
        };
        entries.retain(|_, e| {
            e.pending > 0
                || e.locked_until.is_some_and(|u| u > now)
                || now.duration_since(e.window_start) < window
        });
        entries.len()
    }

    /// Forgets the shared counts whose window and lockout are both over (PostgreSQL).
    pub async fn prune_shared(&self) -> Result<usize, storage::StorageError> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let window = millis(self.settings.window);
        shared
            .db
            .write(async move |mut c| storage::attempts::prune_shared(&mut c, window).await)
            .await
    }
}

/// Whole milliseconds of `d`, for SQL.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Limiter {
        /// Takes an attempt at `now`, without waiting when the subject is busy.
        fn begin_at(
            &self,
            role: Role,
            subjects: Vec<Subject>,
            now: Instant,
        ) -> Result<Attempt, Throttled> {
            match self.try_begin_at(role, &subjects, now) {
                Ok(()) => Ok(self.attempt(role, subjects)),
                Err(Blocked::Locked(d)) => Err(Throttled::after(d)),
                Err(Blocked::Busy) => Err(Throttled {
                    retry_after_secs: BUSY_RETRY_SECS,
                }),
            }
        }

        /// Whether a check would be admitted now (its attempt is given back at once).
        fn check_at(
            &self,
            role: Role,
            subjects: &[Subject],
            now: Instant,
        ) -> Result<(), Throttled> {
            self.begin_at(role, subjects.to_vec(), now)
                .map(Attempt::succeeded)
        }

        fn check(&self, role: Role, subjects: &[Subject]) -> Result<(), Throttled> {
            self.check_at(role, subjects, Instant::now())
        }
    }

    fn limiter() -> Limiter {
        Limiter::new(LimiterSettings {
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            public: "key=100,ip=3,customer=2".parse().unwrap(),
            storefront: Budget::UNLIMITED,
        })
    }

    #[test]
    fn a_subject_is_locked_out_when_its_budget_is_spent() {
        let l = limiter();
        let t0 = Instant::now();
        let ip = [Subject::Ip([10, 0, 0, 1].into())];
        l.fail_at(Role::Public, &ip, 2, t0);
        assert_eq!(l.check_at(Role::Public, &ip, t0), Ok(()));
        l.fail_at(Role::Public, &ip, 1, t0);
        let refused = l.check_at(Role::Public, &ip, t0 + Duration::from_millis(500));
        assert_eq!(
            refused,
            Err(Throttled {
                retry_after_secs: 300
            })
        );
        // Other subjects and other roles are not affected.
        let other = [Subject::Ip([10, 0, 0, 2].into())];
        assert_eq!(l.check_at(Role::Public, &other, t0), Ok(()));
        assert_eq!(l.check_at(Role::Storefront, &ip, t0), Ok(()));
        assert_eq!(
            l.check_at(Role::Public, &ip, t0 + Duration::from_secs(301)),
            Ok(())
        );
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let l = limiter();
        let t0 = Instant::now();
        let c = [Subject::Customer("abc".into())];
        l.fail_at(Role::Public, &c, 1, t0);
        l.fail_at(Role::Public, &c, 1, t0 + Duration::from_secs(61));
        assert_eq!(
            l.check_at(Role::Public, &c, t0 + Duration::from_secs(61)),
            Ok(())
        );
        l.fail_at(Role::Public, &c, 1, t0 + Duration::from_secs(62));
        assert!(
            l.check_at(Role::Public, &c, t0 + Duration::from_secs(62))
                .is_err()
        );
    }

    #[test]
    fn admins_are_not_limited() {
        let l = limiter();
        let k = [Subject::Key("admin-env".into())];
        l.fail(Role::Admin, &k, 1_000_000);
        assert_eq!(l.check(Role::Admin, &k), Ok(()));
        assert_eq!(l.prune(), 0);
    }

    #[test]
    fn budgets_parse_and_refuse_nonsense() {
        let b: Budget = "key=0, ip=7".parse().unwrap();
        assert_eq!(
            b,
            Budget {
                key: None,
                ip: Some(7),
                customer: None
            }
        );
        assert!("key=ten".parse::<Budget>().is_err());
        assert!("host=1".parse::<Budget>().is_err());
        assert!("ip".parse::<Budget>().is_err());
    }

    #[test]
    fn running_checks_hold_their_attempts_so_the_budget_cannot_be_raced() {
        let l = limiter();
        let t0 = Instant::now();
        let ip = vec![Subject::Ip([10, 0, 0, 9].into())];
        // Three checks at once take the whole budget of 3; a fourth cannot start while
        // they run, before any of them has failed.
        let running: Vec<Attempt> = (0..3)
            .map(|_| l.begin_at(Role::Public, ip.clone(), t0).unwrap())
            .collect();
        let busy = l.begin_at(Role::Public, ip.clone(), t0).unwrap_err();
        assert_eq!(busy.retry_after_secs, BUSY_RETRY_SECS);
        // One that finds a real code gives its attempt back.
        let mut running = running.into_iter();
        running.next().unwrap().succeeded();
        let again = l.begin_at(Role::Public, ip.clone(), t0).unwrap();
        // Three failures lock the address out for the lockout, not just a second.
        running.next().unwrap().failed();
        running.next().unwrap().failed();
        again.failed();
        let locked = l.check(Role::Public, &ip).unwrap_err();
        assert_eq!(locked.retry_after_secs, 300);
    }

    #[tokio::test]
    async fn a_busy_check_waits_for_a_running_one_and_is_refused_once_it_fails() {
        let l = limiter();
        let ip = vec![Subject::Ip([10, 0, 0, 10].into())];
        let held: Vec<Attempt> = (0..3)
            .map(|_| {
                l.begin_at(Role::Public, ip.clone(), Instant::now())
                    .unwrap()
            })
            .collect();
        let waiting = tokio::spawn({
            let (l, ip) = (l.clone(), ip.clone());
            async move { l.begin(Role::Public, ip).await.map(Attempt::succeeded) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a busy check waits");
        let mut held = held.into_iter();
        held.next().unwrap().succeeded();
        assert_eq!(waiting.await.unwrap(), Ok(()), "and runs once one settles");

        // When the running checks fail instead, the waiting one is refused.
        let waiting = tokio::spawn({
            let (l, ip) = (l.clone(), ip.clone());
            async move { l.begin(Role::Public, ip).await.map(Attempt::succeeded) }
        });
        let _third = l
            .begin_at(Role::Public, ip.clone(), Instant::now())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        held.next().unwrap().failed();
        held.next().unwrap().failed();
        drop(_third);
        let refused = waiting.await.unwrap().unwrap_err();
        assert!(refused.retry_after_secs > 1, "{refused:?}");
    }

    #[test]
    fn an_abandoned_check_counts_as_a_failure() {
        let l = limiter();
        let c = vec![Subject::Customer("abandoned".into())];
        drop(l.begin_at(Role::Public, c.clone(), Instant::now()).unwrap());
        drop(l.begin_at(Role::Public, c.clone(), Instant::now()).unwrap());
        assert!(l.check(Role::Public, &c).is_err());
    }
}
