//! A compiled rule: its name, source and origin, the compiled script, and what it
//! declares (parameters, examples).

use std::path::PathBuf;

use rhai::AST;

use super::params::{ParamSpec, kind_name};

/// Where a rule's source came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// Shipped with the service (compiled into the binary from `rules/`).
    Shipped,
    /// A file in the rules directory.
    File(PathBuf),
    /// Given directly (drafts, tests).
    Inline,
    /// Published through the API and stored in the database.
    Published {
        /// The version in force.
        version: i64,
    },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Where it came from.
    pub origin: RuleOrigin,
    /// The compiled script.
    pub(super) ast: AST,
    /// The parameters its `fn params()` declares.
    pub(super) params: Vec<ParamSpec>,
    /// Whether it defines `fn examples()`.
    pub(super) has_examples: bool,
}

impl CompiledRule {
    /// The same rule, from another origin.
    pub fn with_origin(self, origin: RuleOrigin) -> Self {
        Self { origin, ..self }
    }

    /// The rule's description: the comment lines at the top of its source.
    pub fn description(&self) -> String {
        self.source
            .lines()
            .map_while(|l| l.trim_start().strip_prefix("//"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The declared parameters as (name, type, optional).
    pub fn parameters(&self) -> Vec<(String, &'static str, bool)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), kind_name(p.kind), p.optional))
            .collect()
    }
}
