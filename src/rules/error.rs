//! [`RuleError`]: what is wrong with a rule that failed to compile, to load, or to run
//! its examples, with the line and column when the script engine knows them.

use std::fmt;

/// A rule that failed to compile, or to load, or whose examples failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's name.
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.rule, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.rule, self.message),
            _ => write!(f, "{}: {}", self.rule, self.message),
        }
    }
}

impl std::error::Error for RuleError {}

impl RuleError {
    /// An error of `rule` at `pos` (`Position::NONE` when there is no position).
    pub(super) fn new(rule: &str, message: impl Into<String>, pos: rhai::Position) -> Self {
        Self {
            rule: rule.to_owned(),
            message: message.into(),
            line: pos.line(),
            column: pos.position(),
        }
    }
}
