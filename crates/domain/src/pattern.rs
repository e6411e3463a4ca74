//! Patterns of generated codes: prefix, random body, optional check character, suffix.
//!
//! The body is drawn from a character set; the default leaves out the look-alikes
//! 0/O, 1/I/L. The optional check character catches every single mistyped character
//! before a lookup is made: for a set of prime size (the default has 31) it is a sum
//! weighted by position, which also catches every swap of neighbours; for a set of even
//! size it is Luhn mod N, which misses a few swaps. Other sizes get no check character. A pattern
//! also says whether it has room for a number of codes: codes must stay hard to guess,
//! so a request that would fill more than a small share of the pattern's space is
//! refused before anything is generated.
//!
//! Pure: the caller supplies the random draws (a cryptographically secure generator in
//! the service).

use crate::code::{MAX_LEN, MIN_LEN};

/// The default body characters: A–Z and 2–9 without 0, O, 1, I and L.
pub const DEFAULT_CHARSET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// The largest share of a pattern's space one coupon's codes may fill.
pub const MAX_FILL: f64 = 0.001;

/// Shortest random body.
pub const MIN_BODY: usize = 4;
/// Longest random body.
pub const MAX_BODY: usize = 32;

/// Why a pattern is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    /// Prefix or suffix holds a character codes cannot have.
    #[error("{part} may hold only A-Z, 0-9, '-' and '_' (found {found:?})")]
    BadAffix {
        /// `prefix` or `suffix`.
        part: &'static str,
        /// The character.
        found: char,
    },
    /// The character set is too small or holds a character codes cannot have.
    #[error("the character set needs at least 2 distinct characters from A-Z and 0-9")]
    BadCharset,
    /// A check character needs a set of even or prime size.
    #[error("a check character needs a character set of even or prime size (this one has {size})")]
    CheckNeedsEvenOrPrime {
        /// Characters in the set.
        size: usize,
    },
    /// The body length is out of range.
    #[error("the length must be {MIN_BODY} to {MAX_BODY}")]
    BadLength,
    /// The whole code would be too long or too short.
    #[error("codes of this pattern would have {len} characters; codes have {MIN_LEN} to {MAX_LEN}")]
    CodeLength {
        /// Characters of a whole code.
        len: usize,
    },
    /// The pattern has too little room for the count.
    #[error(
        "{count} codes would fill more than {} of the pattern's {space:.0} possible codes, which makes them easy to guess: lengthen the body or widen the character set",
        fmt_share(MAX_FILL)
    )]
    TooSmall {
        /// Codes asked for.
        count: u64,
        /// Codes the pattern can form.
        space: f64,
    },
}

impl PatternError {
    /// The part of the pattern the error is about.
    pub fn field(&self) -> crate::Field {
        use crate::Field;
        match self {
            Self::BadAffix { part: "prefix", .. } => Field::PatternPrefix,
            Self::BadAffix { .. } => Field::PatternSuffix,
            Self::BadCharset | Self::CheckNeedsEvenOrPrime { .. } => Field::PatternCharset,
            Self::BadLength | Self::CodeLength { .. } => Field::PatternLength,
            Self::TooSmall { .. } => Field::Pattern,
        }
    }
}

impl From<PatternError> for crate::FieldError {
    fn from(e: PatternError) -> Self {
        let field = e.field();
        let problem = match e {
            PatternError::TooSmall { .. } => crate::Problem::PatternTooSmall(e.to_string()),
            other => crate::Problem::InvalidPattern(other.to_string()),
        };
        Self::new(field, problem)
    }
}

fn fmt_share(share: f64) -> String {
    format!("{}%", share * 100.0)
}

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePattern {
    prefix: String,
    suffix: String,
    length: usize,
    charset: Vec<char>,
    check: bool,
}

impl CodePattern {
    /// Checks and normalises (upper case) a pattern. `charset: None` is
    /// [`DEFAULT_CHARSET`]; repeated characters in a set count once.
    pub fn new(
        prefix: &str,
        suffix: &str,
        length: usize,
        charset: Option<&str>,
        check: bool,
    ) -> Result<Self, PatternError> {
        let affix = |part: &'static str, text: &str| -> Result<String, PatternError> {
            let upper = text.trim().to_ascii_uppercase();
            match upper
                .chars()
                .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
            {
                Some(found) => Err(PatternError::BadAffix { part, found }),
                None => Ok(upper),
            }
        };
        let prefix = affix("prefix", prefix)?;
        let suffix = affix("suffix", suffix)?;
        let mut set: Vec<char> = Vec::new();
        for c in charset
            .unwrap_or(DEFAULT_CHARSET)
            .trim()
            .to_ascii_uppercase()
            .chars()
        {
            if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
                return Err(PatternError::BadCharset);
            }
            if !set.contains(&c) {
                set.push(c);
            }
        }
        if set.len() < 2 {
            return Err(PatternError::BadCharset);
        }
        if !(MIN_BODY..=MAX_BODY).contains(&length) {
            return Err(PatternError::BadLength);
        }
        if check && !set.len().is_multiple_of(2) && !is_prime(set.len()) {
            return Err(PatternError::CheckNeedsEvenOrPrime { size: set.len() });
        }
        let pattern = Self {
            prefix,
            suffix,
            length,
            charset: set,
            check,
        };
        let len = pattern.code_len();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(PatternError::CodeLength { len });
        }
        Ok(pattern)
    }

    /// Text before the body (upper case).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Text after the body and check character (upper case).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// Random characters in the body.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The body's characters, each once.
    pub fn charset(&self) -> &[char] {
        &self.charset
    }

    /// Whether a check character follows the body.
    pub fn has_check(&self) -> bool {
        self.check
    }

    /// Characters in each code.
    pub fn code_len(&self) -> usize {
        self.prefix.len() + self.length + usize::from(self.check) + self.suffix.len()
    }

    /// How many distinct codes the pattern can form.
    pub fn space(&self) -> f64 {
        (self.charset.len() as f64).powi(self.length as i32)
    }

    /// Refuses a count that would fill more than [`MAX_FILL`] of the space.
    pub fn check_room(&self, count: u64) -> Result<(), PatternError> {
        let space = self.space();
        if count as f64 > space * MAX_FILL {
            return Err(PatternError::TooSmall { count, space });
        }
        Ok(())
    }

    /// One code. `pick(n)` must return a uniformly random number below `n`.
    pub fn generate(&self, mut pick: impl FnMut(usize) -> usize) -> String {
        let n = self.charset.len();
        let body: Vec<usize> = (0..self.length).map(|_| pick(n) % n).collect();
        let mut code = String::with_capacity(self.code_len());
        code.push_str(&self.prefix);
        code.extend(body.iter().map(|i| self.charset[*i]));
        if self.check {
            code.push(self.charset[check_index(&body, n)]);
        }
        code.push_str(&self.suffix);
        code
    }

    /// Whether `code` (canonical, upper case) has this pattern's shape and, when the
    /// pattern has one, a correct check character.
    pub fn matches(&self, code: &str) -> bool {
        let Some(middle) = code
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
        else {
            return false;
        };
        let indices: Option<Vec<usize>> = middle
            .chars()
            .map(|c| self.charset.iter().position(|s| *s == c))
            .collect();
        let Some(indices) = indices else {
            return false;
        };
        if indices.len() != self.length + usize::from(self.check) {
            return false;
        }
        !self.check || check_holds(&indices, self.charset.len())
    }
}

/// The check index for `body` (indices into a set of `n` characters): Luhn mod N for
/// an even `n`; for a prime `n`, a sum weighted by position (1, 2, …) mod `n`. Either
/// catches every single substitution; the weighted sum also every swap of neighbours.
fn check_index(body: &[usize], n: usize) -> usize {
    if n.is_multiple_of(2) {
        let sum: usize = body
            .iter()
            .rev()
            .enumerate()
            .map(|(i, cp)| luhn_addend(*cp, if i % 2 == 0 { 2 } else { 1 }, n))
            .sum();
        (n - sum % n) % n
    } else {
        // Weights 1..=n-1 for the body and n-1 ≡ -1 for the check: the total is 0.
        (weighted(body, n) % n * (n - 1)) % n
    }
}

/// Whether the last index of `indices` is the check of the others.
fn check_holds(indices: &[usize], n: usize) -> bool {
    let Some((check, body)) = indices.split_last() else {
        return false;
    };
    if n.is_multiple_of(2) {
        let sum: usize = indices
            .iter()
            .rev()
            .enumerate()
            .map(|(i, cp)| luhn_addend(*cp, if i % 2 == 0 { 1 } else { 2 }, n))
            .sum();
        sum.is_multiple_of(n)
    } else {
        check_index(body, n) == *check
    }
}

/// Σ (position weight × index), weights 1, 2, …, n−1, 1, … (never 0 mod `n`).
fn weighted(body: &[usize], n: usize) -> usize {
    body.iter()
        .enumerate()
        .map(|(i, cp)| (i % (n - 1) + 1) * cp)
        .sum()
}

fn luhn_addend(cp: usize, factor: usize, n: usize) -> usize {
    let addend = cp * factor;
    addend / n + addend % n
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed sequence of draws, for repeatable tests.
    fn draws(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % n
        }
    }

    #[test]
    fn the_default_set_has_no_look_alikes() {
        for c in ['0', 'O', '1', 'I', 'L'] {
            assert!(!DEFAULT_CHARSET.contains(c), "{c}");
        }
        assert_eq!(DEFAULT_CHARSET.len(), 31);
    }

    #[test]
    fn generated_codes_match_their_pattern() {
        let p = CodePattern::new("spring-", "-26", 8, None, true).unwrap();
        let mut pick = draws(7);
        for _ in 0..1_000 {
            let code = p.generate(&mut pick);
            assert_eq!(code.len(), p.code_len());
            assert!(
                code.starts_with("SPRING-") && code.ends_with("-26"),
                "{code}"
            );
            assert!(p.matches(&code), "{code}");
            assert!(crate::CouponCode::parse(&code).is_ok(), "{code}");
        }
    }

    #[test]
    fn every_single_mistyped_character_is_caught() {
        const FULL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for set in [DEFAULT_CHARSET, FULL] {
            let p = CodePattern::new("", "", 10, Some(set), true).unwrap();
            let mut pick = draws(11);
            for _ in 0..200 {
                let code = p.generate(&mut pick);
                let chars: Vec<char> = code.chars().collect();
                for at in 0..chars.len() {
                    for c in set.chars().filter(|c| *c != chars[at]) {
                        let mut typo = chars.clone();
                        typo[at] = c;
                        let typo: String = typo.into_iter().collect();
                        assert!(!p.matches(&typo), "{code} → {typo}");
                    }
                }
            }
        }
    }

    #[test]
    fn swapped_neighbours_are_caught() {
        let p = CodePattern::new("", "", 10, None, true).unwrap();
        let mut pick = draws(13);
        let (mut swaps, mut caught) = (0, 0);
        for _ in 0..500 {
            let code: Vec<char> = p.generate(&mut pick).chars().collect();
            for at in 0..code.len() - 1 {
                if code[at] == code[at + 1] {
                    continue;
                }
                let mut swapped = code.clone();
                swapped.swap(at, at + 1);
                swaps += 1;
                if !p.matches(&swapped.into_iter().collect::<String>()) {
                    caught += 1;
                }
            }
        }
        assert_eq!(
            caught, swaps,
            "the default set (31, prime) catches every swap"
        );
    }

    #[test]
    fn without_a_check_character_only_the_shape_is_checked() {
        let p = CodePattern::new("X", "", 6, Some("ab"), false).unwrap();
        assert!(p.matches("XABABAB"));
        assert!(!p.matches("XABABA"), "too short");
        assert!(!p.matches("XABABAC"), "outside the set");
        assert!(!p.matches("YABABAB"), "wrong prefix");
    }

    #[test]
    fn patterns_are_checked() {
        assert!(matches!(
            CodePattern::new("a b", "", 8, None, false),
            Err(PatternError::BadAffix {
                part: "prefix",
                found: ' '
            })
        ));
        assert_eq!(
            CodePattern::new("", "", 8, Some("aaaa"), false),
            Err(PatternError::BadCharset)
        );
        assert_eq!(
            CodePattern::new("", "", 8, Some("AB-"), false),
            Err(PatternError::BadCharset)
        );
        assert_eq!(
            CodePattern::new("", "", 3, None, false),
            Err(PatternError::BadLength)
        );
        assert_eq!(
            CodePattern::new(&"P".repeat(40), "", 30, None, false),
            Err(PatternError::CodeLength { len: 70 })
        );
    }

    #[test]
    fn small_spaces_are_refused_up_front() {
        // 31^6 ≈ 887 million codes: a million is 0.11% of it.
        let p = CodePattern::new("", "", 6, None, false).unwrap();
        assert!(matches!(
            p.check_room(1_000_000),
            Err(PatternError::TooSmall {
                count: 1_000_000,
                ..
            })
        ));
        assert!(p.check_room(800_000).is_ok());
        let p = CodePattern::new("", "", 8, None, true).unwrap();
        assert!(p.check_room(1_000_000).is_ok());
        assert_eq!(
            CodePattern::new("", "", 8, Some("ABCDEFGHI"), true),
            Err(PatternError::CheckNeedsEvenOrPrime { size: 9 })
        );
        let digits = CodePattern::new("", "", 4, Some("0123456789"), false).unwrap();
        assert!(digits.check_room(11).is_err());
        assert!(digits.check_room(10).is_ok());
    }
}
