//! Bulk jobs: long work run in the background (generating codes), their statuses, and
//! what a code generation was asked for.

use serde::{Deserialize, Serialize};

use crate::pattern::{CodePattern, PatternError};

/// Most codes one generation may ask for.
pub const GENERATE_MAX: u64 = 10_000_000;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for an instance to take it.
    Queued,
    /// An instance is working on it.
    Running,
    /// Finished: everything asked for is done.
    Succeeded,
    /// Stopped by an error; `done` says how far it got.
    Failed,
    /// Stopped on request; `done` says how far it got.
    Cancelled,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "QUEUED" => Self::Queued,
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job has ended and will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// A code generation as asked for, normalised: stored with the job, so whichever
/// instance runs it generates the same shape of code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateSpec {
    /// Text before the random body (upper case).
    pub prefix: String,
    /// Text after the body and check character (upper case).
    pub suffix: String,
    /// Random characters in the body.
    pub length: usize,
    /// The body's characters, each once.
    pub charset: String,
    /// Whether a check character follows the body.
    pub check: bool,
    /// Uses each code allows (1 = single-use); `None` for no limit of its own.
    pub usage_limit: Option<i64>,
}

impl GenerateSpec {
    /// The spec of `pattern` with `usage_limit`.
    pub fn new(pattern: &CodePattern, usage_limit: Option<i64>) -> Self {
        Self {
            prefix: pattern.prefix().to_owned(),
            suffix: pattern.suffix().to_owned(),
            length: pattern.length(),
            charset: pattern.charset().iter().collect(),
            check: pattern.has_check(),
            usage_limit,
        }
    }

    /// The pattern again.
    pub fn pattern(&self) -> Result<CodePattern, PatternError> {
        CodePattern::new(
            &self.prefix,
            &self.suffix,
            self.length,
            Some(&self.charset),
            self.check,
        )
    }

    /// Whether two specs draw from the same space of codes.
    pub fn same_space(&self, other: &Self) -> bool {
        self.prefix == other.prefix
            && self.suffix == other.suffix
            && self.length == other.length
            && self.check == other.check
            && sorted(&self.charset) == sorted(&other.charset)
    }
}

fn sorted(set: &str) -> Vec<char> {
    let mut chars: Vec<char> = set.chars().collect();
    chars.sort_unstable();
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobStatus::parse("DONE"), None);
        assert!(!JobStatus::Running.is_finished());
        assert!(JobStatus::Cancelled.is_finished());
    }

    #[test]
    fn a_spec_gives_back_its_pattern() {
        let pattern = CodePattern::new("spring-", "", 8, Some("ab23"), true).unwrap();
        let spec = GenerateSpec::new(&pattern, Some(1));
        assert_eq!(spec.prefix, "SPRING-");
        assert_eq!(spec.charset, "AB23");
        assert_eq!(spec.pattern().unwrap(), pattern);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["usageLimit"], 1);
        let back: GenerateSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
        let shuffled = GenerateSpec {
            charset: "32BA".into(),
            usage_limit: None,
            ..spec.clone()
        };
        assert!(spec.same_space(&shuffled));
        let longer = GenerateSpec {
            length: 9,
            ..spec.clone()
        };
        assert!(!spec.same_space(&longer));
    }
}
