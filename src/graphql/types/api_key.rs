//! `ApiKey`: a stored API key (never its secret), and the roles keys have.

use async_graphql::{Enum, ID, Object};
use chrono::Utc;

use crate::auth::Role;
use crate::graphql::global_id;
use crate::graphql::scalars::DateTime;
use crate::ids::Kind;
use crate::storage::StoredApiKey;

/// A role an API key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "Role")]
pub enum ApiKeyRole {
    /// Everything: coupons, keys, configuration.
    Admin,
    /// Server-to-server checkout: validate, reserve, redeem, release, reverse.
    Storefront,
    /// Read-only: coupons, redemption history, reports.
    Analyst,
    /// Publishable key for browser widgets: validation only, strictly limited.
    Public,
}

/// An API key. The secret itself is never shown again after creation.
#[derive(Debug, Clone)]
pub struct ApiKey(pub StoredApiKey);

/// An API key. The secret itself is never shown again after creation.
#[Object]
impl ApiKey {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        global_id(Kind::ApiKey, self.0.id)
    }

    /// Who or what the key is for.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the key may do.
    async fn role(&self) -> Option<ApiKeyRole> {
        Role::parse(&self.0.role).map(Into::into)
    }

    /// The first characters of the key, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When it was last used (to the minute).
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(DateTime)
    }

    /// Channels the key may be used for (checkout and validation must name one);
    /// empty for every channel.
    async fn channels(&self) -> Vec<String> {
        self.0.channel_list()
    }

    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(DateTime)
    }

    /// When it stops working: set when the key is rotated (the end of the grace
    /// period).
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(DateTime)
    }

    /// Whether it works now: not revoked, not expired.
    async fn active(&self) -> bool {
        self.0.is_active(Utc::now())
    }

    /// The key that replaced this one by rotation.
    async fn replaced_by_id(&self) -> Option<ID> {
        self.0.replaced_by.map(|id| global_id(Kind::ApiKey, id))
    }
}
