//! Who is calling: the role of an API key and the [`Caller`] a request authenticated as.
//! A leaf module, so that every layer can name the caller: the transports build it
//! (`auth.rs`), the use cases take it, the audit log records it.

use std::fmt;
use std::net::IpAddr;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything: coupons, keys, configuration.
    Admin,
    /// Server-to-server checkout calls.
    Storefront,
    /// Read-only reports and history.
    Analyst,
    /// Browser widgets: validation only.
    Public,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Storefront, Role::Analyst, Role::Public];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Storefront => "storefront",
            Self::Analyst => "analyst",
            Self::Public => "public",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the API key a request authenticated with (its role, id, name and the
/// channels it may use) and the client's address. The one description of a caller from
/// the transport to the use cases; the audit log records it as an
/// [`Actor`](crate::storage::Actor) (which may also be the service itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's role.
    pub role: Role,
    /// The stored key's id; `None` for `COUPONS_ADMIN_KEY`.
    pub key_id: Option<i64>,
    /// The key's display prefix.
    pub key_prefix: String,
    /// The key's name.
    pub name: String,
    /// Channels the key is limited to; empty for all.
    pub channels: Vec<String>,
    /// The client's address (the TCP peer, or the trusted proxy header), once the
    /// transport has added it.
    pub ip: Option<IpAddr>,
    /// The person's `sub`, for someone signed in through the OpenID provider (a bearer
    /// access token or a console session); `None` for an API key.
    pub subject: Option<String>,
}

impl Caller {
    /// The same caller, calling from `ip`.
    pub fn from_address(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    /// What idempotency keys, attempt budgets and socket counts are scoped to:
    /// `key:<id>`, `admin-env` for `COUPONS_ADMIN_KEY`, or `person:<sub>`.
    pub fn scope(&self) -> String {
        match &self.subject {
            Some(sub) => format!("person:{sub}"),
            None => key_scope(self.key_id),
        }
    }
}

/// The scope of a stored key's id (`key:<id>`), or of `COUPONS_ADMIN_KEY` (`None`).
pub fn key_scope(key_id: Option<i64>) -> String {
    key_id.map_or_else(|| "admin-env".to_owned(), |id| format!("key:{id}"))
}
