//! Abuse signals: what they are, when each is raised, and what may be done about one.
//!
//! The service watches what it already sees (checks that found nothing, reservations
//! and redemptions with the customer traits a storefront sends) over a sliding window,
//! and raises a signal when a pattern passes its threshold. The definitions are here,
//! pure; the counts come from storage.

use std::fmt;
use std::str::FromStr;

/// A kind of abuse the service detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    /// One code used by many more distinct customers in a window than it ever was.
    LeakedCode,
    /// Failed checks from many addresses, each trying several codes.
    GuessingCampaign,
    /// Several customers sharing a device, payment, shipping address or mailbox
    /// redeeming the same coupon.
    FarmedAccounts,
    /// A coupon redeemed far faster than its own normal rate.
    Velocity,
}

impl SignalKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::LeakedCode,
        Self::GuessingCampaign,
        Self::FarmedAccounts,
        Self::Velocity,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeakedCode => "LEAKED_CODE",
            Self::GuessingCampaign => "GUESSING_CAMPAIGN",
            Self::FarmedAccounts => "FARMED_ACCOUNTS",
            Self::Velocity => "VELOCITY",
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a signal kind or action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

/// The one of `all` whose name is `s`.
fn by_name<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    s: &str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|k| name(*k) == s)
        .ok_or_else(|| UnknownName(s.to_owned()))
}

impl FromStr for SignalKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Self::ALL, Self::as_str, s)
    }
}

/// What the service does by itself when a signal about a coupon is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AbuseAction {
    /// Raise the signal and send `ABUSE_SIGNAL_RAISED`; change nothing.
    #[default]
    Alert,
    /// Also refuse orders that name no customer (`CUSTOMER_REQUIRED`).
    RequireCustomer,
    /// Also allow each customer one use (a per-customer limit of 1).
    StepUpLimits,
    /// Also pause the coupon.
    Pause,
}

impl AbuseAction {
    /// Every action.
    pub const ALL: [Self; 4] = [
        Self::Alert,
        Self::RequireCustomer,
        Self::StepUpLimits,
        Self::Pause,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "ALERT",
            Self::RequireCustomer => "REQUIRE_CUSTOMER",
            Self::StepUpLimits => "STEP_UP_LIMITS",
            Self::Pause => "PAUSE",
        }
    }
}

impl FromStr for AbuseAction {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Self::ALL, Self::as_str, s)
    }
}

/// The thresholds signals are raised at. Each count is over [`Thresholds::window`]
/// seconds, ending now; "history" is the [`Thresholds::history_windows`] windows
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Length of the window, seconds.
    pub window: i64,
    /// How many windows before it make the history.
    pub history_windows: i64,
    /// Leaked code: at least this many distinct customers used the code in the window…
    pub leak_min_customers: i64,
    /// …and at least this many times as many as it had per window over its history.
    pub leak_factor: i64,
    /// Guessing: an address that failed this many checks in the window is guessing…
    pub guess_failures_per_address: i64,
    /// …and a campaign is this many such addresses (or networks) at once.
    pub guess_min_addresses: i64,
    /// Farmed accounts: this many distinct customers sharing one trait, on one coupon.
    pub farm_min_customers: i64,
    /// Velocity: at least this many uses of a coupon in the window…
    pub velocity_min_uses: i64,
    /// …and at least this many times its average per window over the history.
    pub velocity_factor: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            window: 3600,
            history_windows: 24 * 7,
            leak_min_customers: 50,
            leak_factor: 5,
            guess_failures_per_address: 3,
            guess_min_addresses: 20,
            farm_min_customers: 3,
            velocity_min_uses: 50,
            velocity_factor: 10,
        }
    }
}

/// Thresholds that cannot be read, e.g. `window=soon`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "abuse thresholds must look like 'window=3600,leak_min_customers=50' (positive whole numbers): {0}"
)]
pub struct ThresholdsError(pub String);

impl FromStr for Thresholds {
    type Err = ThresholdsError;

    /// `name=value` pairs, separated by commas; a name left out keeps its default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || ThresholdsError(part.to_owned());
            let (name, value) = part.split_once('=').ok_or_else(bad)?;
            let value: i64 = value.trim().parse().map_err(|_| bad())?;
            if value < 1 {
                return Err(bad());
            }
            let field = match name.trim() {
                "window" => &mut t.window,
                "history_windows" => &mut t.history_windows,
                "leak_min_customers" => &mut t.leak_min_customers,
                "leak_factor" => &mut t.leak_factor,
                "guess_failures_per_address" => &mut t.guess_failures_per_address,
                "guess_min_addresses" => &mut t.guess_min_addresses,
                "farm_min_customers" => &mut t.farm_min_customers,
                "velocity_min_uses" => &mut t.velocity_min_uses,
                "velocity_factor" => &mut t.velocity_factor,
                _ => return Err(bad()),
            };
            *field = value;
        }
        Ok(t)
    }
}

impl Thresholds {
    /// Whether a code used by `customers` distinct customers in the window, against
    /// `history_customers` over its whole history, has leaked.
    pub fn leaked(&self, customers: i64, history_customers: i64) -> bool {
        customers >= self.leak_min_customers
            && customers as f64 >= self.leak_factor as f64 * self.per_window(history_customers)
    }

    /// A count over the history, per window.
    fn per_window(&self, history: i64) -> f64 {
        history as f64 / self.history_windows.max(1) as f64
    }

    /// Whether an address with `failures` failed checks in the window is guessing.
    pub fn guessing_address(&self, failures: i64) -> bool {
        failures >= self.guess_failures_per_address
    }

    /// Whether `addresses` guessing at once make a campaign.
    pub fn campaign(&self, addresses: i64) -> bool {
        addresses >= self.guess_min_addresses
    }

    /// Whether `customers` distinct customers sharing a trait on one coupon are farmed.
    pub fn farmed(&self, customers: i64) -> bool {
        customers >= self.farm_min_customers
    }

    /// Whether `uses` in the window, against `history_uses` over the whole history, is
    /// far above the coupon's normal rate.
    pub fn too_fast(&self, uses: i64, history_uses: i64) -> bool {
        uses >= self.velocity_min_uses
            && uses as f64 >= self.velocity_factor as f64 * self.per_window(history_uses)
    }
}

/// Mail providers that ignore dots in the local part.
const DOTS_IGNORED: &[&str] = &["gmail.com", "googlemail.com"];

/// Mail providers that deliver `name+tag@` to `name@`.
const TAGS_IGNORED: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "fastmail.com",
    "proton.me",
    "protonmail.com",
    "yahoo.com",
];

/// The mailbox an address reaches: lower case, and for the providers that ignore
/// them, dots and `+tags` taken out of the local part (`googlemail.com` is
/// `gmail.com`). Anything else is kept as written.
pub fn mailbox(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    let mut local = local.to_owned();
    if TAGS_IGNORED.contains(&domain)
        && let Some((name, _tag)) = local.split_once('+')
    {
        local = name.to_owned();
    }
    if DOTS_IGNORED.contains(&domain) {
        local.retain(|c| c != '.');
    }
    format!("{local}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_lose_what_their_provider_ignores() {
        assert_eq!(mailbox("A.Lice+promo@GoogleMail.com"), "alice@gmail.com");
        assert_eq!(mailbox("a.l.i.c.e@gmail.com"), "alice@gmail.com");
        assert_eq!(mailbox("bob+x@outlook.com"), "bob@outlook.com");
        assert_eq!(mailbox("b.o.b@outlook.com"), "b.o.b@outlook.com");
        assert_eq!(mailbox("carol+x@example.com"), "carol+x@example.com");
        assert_eq!(mailbox("not-an-address"), "not-an-address");
    }

    #[test]
    fn names_round_trip() {
        for kind in SignalKind::ALL {
            assert_eq!(kind.as_str().parse::<SignalKind>(), Ok(kind));
        }
        for action in AbuseAction::ALL {
            assert_eq!(action.as_str().parse::<AbuseAction>(), Ok(action));
        }
        assert!("NOPE".parse::<SignalKind>().is_err());
    }

    #[test]
    fn thresholds_need_both_the_floor_and_the_factor() {
        let t = Thresholds::default();
        assert!(t.leaked(500, 3));
        assert!(!t.leaked(40, 0), "below the floor");
        assert!(!t.leaked(60, 20 * 168), "a code that was always this busy");
        assert!(t.too_fast(200, 168));
        assert!(!t.too_fast(200, 168 * 40), "its normal rate");
        assert!(!t.too_fast(10, 0), "below the floor");
        assert!(t.farmed(3) && !t.farmed(2));
        assert!(t.guessing_address(3) && !t.guessing_address(2));
    }

    #[test]
    fn thresholds_parse_and_refuse_nonsense() {
        let t: Thresholds = "window=600, leak_min_customers=20".parse().unwrap();
        assert_eq!((t.window, t.leak_min_customers), (600, 20));
        assert_eq!(t.leak_factor, Thresholds::default().leak_factor);
        assert!("window=0".parse::<Thresholds>().is_err());
        assert!("speed=3".parse::<Thresholds>().is_err());
        assert!("window".parse::<Thresholds>().is_err());
    }
}
