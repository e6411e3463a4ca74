//! `Viewer`: the caller, as its API key identifies it.

use async_graphql::Object;

use super::ApiKeyRole;
use crate::auth::Caller;

/// The caller, as identified by its API key.
#[derive(Debug, Clone)]
pub struct Viewer(pub Caller);

/// The caller, as identified by its API key.
#[Object]
impl Viewer {
    /// The key's role.
    async fn role(&self) -> ApiKeyRole {
        self.0.role.into()
    }

    /// The key's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The key's first characters.
    async fn key_prefix(&self) -> &str {
        &self.0.key_prefix
    }
}
