//! Customer-facing coupon codes.
//!
//! A code is stored and compared in one canonical form: surrounding white space removed
//! and ASCII letters in upper case, so `" summer25"` and `"SUMMER25"` are the same code.

use std::fmt;

/// The shortest code accepted.
pub const MIN_LEN: usize = 3;
/// The longest code accepted.
pub const MAX_LEN: usize = 64;

/// Why a string is not a valid coupon code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing but white space.
    #[error("code must not be empty")]
    Empty,
    /// Fewer than [`MIN_LEN`] characters.
    #[error("code must be at least {min} characters long")]
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// More than [`MAX_LEN`] characters.
    #[error("code must be at most {max} characters long")]
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// A character outside `A-Z`, `0-9`, `-` and `_`.
    #[error(
        "code may only contain letters A-Z, digits, '-' and '_' (found {found:?} at position {position})"
    )]
    InvalidCharacter {
        /// The offending character.
        found: char,
        /// Its position, counting from 1, in the trimmed code.
        position: usize,
    },
}

/// A coupon code in canonical form (trimmed, upper case, `[A-Z0-9_-]{3,64}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CouponCode(String);

impl CouponCode {
    /// Canonicalises and validates a code as typed by a person.
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CodeError::Empty);
        }
        let len = trimmed.chars().count();
        if len > MAX_LEN {
            return Err(CodeError::TooLong { max: MAX_LEN });
        }
        let canonical = trimmed.to_ascii_uppercase();
        if let Some((index, found)) = canonical.chars().enumerate().find(|(_, c)| {
            !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        }) {
            return Err(CodeError::InvalidCharacter {
                found,
                position: index + 1,
            });
        }
        if len < MIN_LEN {
            return Err(CodeError::TooShort { min: MIN_LEN });
        }
        Ok(Self(canonical))
    }

    /// Wraps a code read back from storage, where it was stored canonical.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_trimmed_upper_case() {
        let code = CouponCode::parse("  summer-25_x \t").unwrap();
        assert_eq!(code.as_str(), "SUMMER-25_X");
        assert_eq!(code, CouponCode::parse("SUMMER-25_X").unwrap());
    }

    #[test]
    fn rejects_bad_codes_with_the_reason() {
        assert_eq!(CouponCode::parse("   "), Err(CodeError::Empty));
        assert_eq!(CouponCode::parse("ab"), Err(CodeError::TooShort { min: 3 }));
        assert_eq!(
            CouponCode::parse(&"A".repeat(65)),
            Err(CodeError::TooLong { max: 64 })
        );
        assert!(CouponCode::parse(&"A".repeat(64)).is_ok());
        assert_eq!(
            CouponCode::parse("SUM MER"),
            Err(CodeError::InvalidCharacter {
                found: ' ',
                position: 4
            })
        );
        assert_eq!(
            CouponCode::parse("café"),
            Err(CodeError::InvalidCharacter {
                found: 'é',
                position: 4
            })
        );
    }
}
