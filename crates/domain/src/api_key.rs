//! API keys as an admin describes them: a name, and the channels a key is limited to;
//! and the grace period of a rotated key.

use chrono::TimeDelta;

use crate::coupon::Channels;
use crate::error::{Field, FieldError, Invalid, Problem};

/// Longest key name.
pub const NAME_MAX: usize = 200;
/// Longest grace period of a rotated key, in minutes (one week).
pub const GRACE_MINUTES_MAX: i64 = 10_080;

/// A new key's name and channels, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDraft {
    /// The name, trimmed: 1 to [`NAME_MAX`] characters.
    pub name: String,
    /// The channels it is limited to; empty for all.
    pub channels: Channels,
}

impl KeyDraft {
    /// Checks the name first (a bad name is the only problem reported), then the
    /// channels.
    pub fn new(name: &str, channels: &[String]) -> Result<Self, Invalid> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX {
            let problem = Problem::LengthOutside {
                what: "name",
                min: 1,
                max: NAME_MAX,
                empty: name.is_empty(),
            };
            return Err(FieldError::new(Field::Name, problem).into());
        }
        Ok(Self {
            name: name.to_owned(),
            channels: Channels::new(channels)?,
        })
    }
}

/// The grace period of a rotated key: 0 to [`GRACE_MINUTES_MAX`] minutes.
pub fn grace_period(minutes: i64) -> Result<TimeDelta, FieldError> {
    if !(0..=GRACE_MINUTES_MAX).contains(&minutes) {
        let problem = Problem::LimitOutside {
            what: "graceMinutes",
            min: 0,
            max: GRACE_MINUTES_MAX,
        };
        return Err(FieldError::new(Field::GraceMinutes, problem));
    }
    Ok(TimeDelta::minutes(minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_name_is_the_only_problem_reported() {
        let Err(Invalid(errors)) = KeyDraft::new("  ", &["Not A Channel!".into()]) else {
            panic!("a blank name must be refused");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, Field::Name);
        assert_eq!(
            errors[0].problem.to_string(),
            "name must be 1 to 200 characters"
        );
        let long = "x".repeat(NAME_MAX + 1);
        let Err(Invalid(errors)) = KeyDraft::new(&long, &[]) else {
            panic!("a long name must be refused");
        };
        assert!(matches!(
            errors[0].problem,
            Problem::LengthOutside { empty: false, .. }
        ));
    }

    #[test]
    fn channels_are_checked_after_the_name() {
        let Err(Invalid(errors)) = KeyDraft::new("shop", &["ok".into(), "Bad!".into()]) else {
            panic!("a bad channel must be refused");
        };
        assert_eq!(errors[0].field, Field::ChannelAt(1));
        let draft = KeyDraft::new(" shop ", &["web".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(draft.name, "shop");
        assert_eq!(draft.channels.as_slice(), ["web".to_owned()]);
    }

    #[test]
    fn grace_is_zero_to_a_week() {
        assert_eq!(grace_period(0), Ok(TimeDelta::zero()));
        assert_eq!(
            grace_period(GRACE_MINUTES_MAX),
            Ok(TimeDelta::minutes(10_080))
        );
        let e = grace_period(-1).unwrap_err();
        assert_eq!(e.field, Field::GraceMinutes);
        assert_eq!(e.problem.to_string(), "graceMinutes must be 0 to 10080");
        assert!(grace_period(GRACE_MINUTES_MAX + 1).is_err());
    }
}
