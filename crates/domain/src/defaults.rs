//! The server's defaults for coupons created without some fields: the format of a code
//! made up for a coupon created without one, and the type of a discount given as a bare
//! value.

use crate::pattern::{CodePattern, DEFAULT_CHARSET};

/// Characters in an `alphanumeric` code.
pub const ALPHANUMERIC_LEN: usize = 12;

/// How a code is made up for a coupon created without one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CodeFormat {
    /// No code is made up: the coupon has none until codes are added.
    #[default]
    None,
    /// A random (version 4) UUID in upper case, `8-4-4-4-12` hex digits.
    Uuid,
    /// [`ALPHANUMERIC_LEN`] characters of the set without look-alikes.
    Alphanumeric,
    /// A pattern: `PREFIX{N}SUFFIX`, `N` random characters of the set without
    /// look-alikes, `{N!}` with a check character after them.
    Pattern(CodePattern),
}

impl CodeFormat {
    /// Parses `none`, `uuid`, `alphanumeric` or a pattern such as `SALE-{8}` or
    /// `SALE-{8!}-26`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "" | "none" => return Ok(Self::None),
            "uuid" => return Ok(Self::Uuid),
            "alphanumeric" => return Ok(Self::Alphanumeric),
            _ => {}
        }
        let shape = || {
            format!(
                "{text:?} is not a code format: use none, uuid, alphanumeric or a pattern such as SALE-{{8}} (SALE-{{8!}} adds a check character)"
            )
        };
        let (prefix, rest) = text.split_once('{').ok_or_else(shape)?;
        let (inner, suffix) = rest.split_once('}').ok_or_else(shape)?;
        let (digits, check) = match inner.strip_suffix('!') {
            Some(d) => (d, true),
            None => (inner, false),
        };
        let length: usize = digits.trim().parse().map_err(|_| shape())?;
        CodePattern::new(prefix, suffix, length, None, check)
            .map(Self::Pattern)
            .map_err(|e| format!("{text:?}: {e}"))
    }

    /// A code of this format; `None` for [`CodeFormat::None`]. `pick(n)` must return a
    /// uniformly random number below `n`, from a cryptographically secure generator.
    pub fn generate(&self, mut pick: impl FnMut(usize) -> usize) -> Option<String> {
        const HEX: &[u8] = b"0123456789ABCDEF";
        match self {
            Self::None => None,
            Self::Uuid => {
                let mut digits: Vec<u8> = (0..32).map(|_| HEX[pick(16) % 16]).collect();
                digits[12] = b'4';
                digits[16] = HEX[8 + pick(4) % 4];
                let d = String::from_utf8_lossy(&digits).into_owned();
                Some(format!(
                    "{}-{}-{}-{}-{}",
                    &d[0..8],
                    &d[8..12],
                    &d[12..16],
                    &d[16..20],
                    &d[20..32]
                ))
            }
            Self::Alphanumeric => {
                let set: Vec<char> = DEFAULT_CHARSET.chars().collect();
                Some(
                    (0..ALPHANUMERIC_LEN)
                        .map(|_| set[pick(set.len()) % set.len()])
                        .collect(),
                )
            }
            Self::Pattern(p) => Some(p.generate(pick)),
        }
    }
}

/// How a discount given as a bare `value` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscountType {
    /// A percentage off.
    #[default]
    Percentage,
    /// A fixed amount in the default currency.
    FixedAmount,
}

impl DiscountType {
    /// Parses `percentage` or `fixed_amount`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "percentage" => Ok(Self::Percentage),
            "fixed_amount" | "fixed" => Ok(Self::FixedAmount),
            other => Err(format!(
                "{other:?} is not a discount type: use percentage or fixed_amount"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CouponCode;

    fn draws() -> impl FnMut(usize) -> usize {
        let mut state: u64 = 42;
        move |n| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % n
        }
    }

    #[test]
    fn formats_parse_and_generate_valid_codes() {
        assert_eq!(CodeFormat::parse(" None "), Ok(CodeFormat::None));
        assert_eq!(CodeFormat::None.generate(draws()), None);
        let uuid = CodeFormat::parse("UUID")
            .unwrap()
            .generate(draws())
            .unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.matches('-').count(), 4);
        assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
        assert!("89AB".contains(&uuid[19..20]), "variant: {uuid}");
        assert!(CouponCode::parse(&uuid).is_ok());
        let alnum = CodeFormat::parse("alphanumeric")
            .unwrap()
            .generate(draws())
            .unwrap();
        assert_eq!(alnum.len(), ALPHANUMERIC_LEN);
        assert!(alnum.chars().all(|c| DEFAULT_CHARSET.contains(c)));
        let format = CodeFormat::parse("sale-{8!}-26").unwrap();
        let CodeFormat::Pattern(pattern) = &format else {
            panic!("a pattern")
        };
        let code = format.generate(draws()).unwrap();
        assert!(code.starts_with("SALE-") && code.ends_with("-26"), "{code}");
        assert!(pattern.matches(&code));
        for bad in ["sale", "sale-{x}", "sale-{2}", "sa le-{8}", "{8"] {
            assert!(CodeFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn discount_types_parse() {
        assert_eq!(
            DiscountType::parse("Percentage"),
            Ok(DiscountType::Percentage)
        );
        assert_eq!(
            DiscountType::parse("fixed_amount"),
            Ok(DiscountType::FixedAmount)
        );
        assert!(DiscountType::parse("bogo").is_err());
    }
}
