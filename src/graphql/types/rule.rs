//! `Rule`: an eligibility rule in force, with its parameters and published versions.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object, SimpleObject};

use super::RuleVersion;
use crate::graphql::error::ApiError;
use crate::graphql::services;
use crate::rules::{CompiledRule, RuleOrigin};
use crate::service::rules;

/// Where the rule in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RuleSource {
    /// Shipped with the service (built into the binary).
    Shipped,
    /// A file in the rules directory (`COUPONS_RULES_DIR`).
    File,
    /// Published through `publishRule` (stored in the database, versioned).
    Published,
}

/// A parameter a rule takes.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleParameter {
    /// Its name in the binding's `params`.
    pub name: String,
    /// What it must be.
    pub kind: String,
    /// Whether it may be left out.
    pub optional: bool,
}

/// An eligibility rule in force.
#[derive(Debug, Clone)]
pub struct Rule(pub Arc<CompiledRule>);

/// An eligibility rule in force.
#[Object]
impl Rule {
    /// The name coupons bind it by.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it does (the comment at the top of its source).
    async fn description(&self) -> String {
        self.0.description()
    }

    /// Where it comes from.
    async fn source_kind(&self) -> RuleSource {
        match self.0.origin {
            RuleOrigin::Published { .. } => RuleSource::Published,
            RuleOrigin::Shipped => RuleSource::Shipped,
            RuleOrigin::File(_) | RuleOrigin::Inline => RuleSource::File,
        }
    }

    /// The published version in force; null for a shipped or file rule.
    async fn version(&self) -> Option<i64> {
        match self.0.origin {
            RuleOrigin::Published { version } => Some(version),
            _ => None,
        }
    }

    /// The Rhai source in force.
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// The parameters it takes.
    async fn parameters(&self) -> Vec<RuleParameter> {
        self.0
            .parameters()
            .into_iter()
            .map(|(name, kind, optional)| RuleParameter {
                name,
                kind: kind.to_owned(),
                optional,
            })
            .collect()
    }

    /// Every published version, newest first (empty for a rule never published).
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<RuleVersion>, ApiError> {
        let versions = rules::rule_versions(services(ctx)?, &self.0.name).await?;
        Ok(versions.into_iter().map(RuleVersion).collect())
    }
}
