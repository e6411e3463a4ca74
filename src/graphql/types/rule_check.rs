//! `RuleCheck`: whether a rule's source compiles, and where it does not.

use async_graphql::SimpleObject;

use crate::rules::RuleError;

/// One problem in a rule's source.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleSourceError {
    /// 1-based line (1 when the engine does not know it).
    pub line: u32,
    /// 1-based column (1 when the engine does not know it).
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// Whether a rule's source compiles, with each problem at its line and column.
#[derive(Debug, Clone, SimpleObject)]
pub struct RuleCheck {
    /// It compiles and defines what a rule must.
    pub ok: bool,
    /// What is wrong; empty when it compiles.
    pub errors: Vec<RuleSourceError>,
}

impl From<Result<(), RuleError>> for RuleCheck {
    fn from(checked: Result<(), RuleError>) -> Self {
        let position = |p: Option<usize>| p.and_then(|n| u32::try_from(n).ok()).unwrap_or(1);
        match checked {
            Ok(()) => Self {
                ok: true,
                errors: Vec::new(),
            },
            Err(e) => Self {
                ok: false,
                errors: vec![RuleSourceError {
                    line: position(e.line),
                    column: position(e.column),
                    message: e.message,
                }],
            },
        }
    }
}
