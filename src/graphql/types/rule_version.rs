//! `RuleVersion`: a published version of a rule.

use async_graphql::Object;

use crate::graphql::scalars::DateTime;
use crate::storage::StoredRuleVersion;

/// A published version of a rule.
#[derive(Debug, Clone)]
pub struct RuleVersion(pub StoredRuleVersion);

/// A published version of a rule.
#[Object]
impl RuleVersion {
    /// The version number, from 1.
    async fn version(&self) -> i64 {
        self.0.version
    }

    /// Who published it.
    async fn author(&self) -> &str {
        &self.0.author
    }

    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// The Rhai source.
    async fn source(&self) -> &str {
        &self.0.source
    }
}
