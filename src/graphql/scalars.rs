//! Scalars: `DateTime` (RFC 3339 with an offset, answered in UTC), `Date` (a calendar
//! day) and `Decimal` (exact decimal text).

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// An instant: RFC 3339 text with an offset in (`2026-12-24T18:00:00+01:00`), UTC with
/// `Z` out, to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant: RFC 3339 with an offset on input (`2026-12-24T18:00:00+01:00`), UTC
/// with `Z` on output, to the microsecond.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Self(t.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(format!(
                        "{s:?} is not an RFC 3339 date-time with an offset, such as 2026-12-24T18:00:00Z"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A calendar day, `YYYY-MM-DD` (ISO 8601), read in a time zone the field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub chrono::NaiveDate);

/// A calendar day, `YYYY-MM-DD` (ISO 8601), read in a time zone the field names.
#[Scalar(
    name = "Date",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Self)
                .map_err(|_| {
                    InputValueError::custom(format!("{s:?} is not a date such as 2026-12-31"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An exact decimal number as a string, such as `"19.99"` or `"12.5"`. Numbers are
/// accepted on input when they are integers; fractions must be strings so no binary
/// floating point is ever involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// An exact decimal number as a string, such as `"19.99"` or `"12.5"`. Integers may be
/// sent as numbers; fractions must be strings.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => rust_decimal::Decimal::from_str(s.trim())
                .map(Self)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a decimal number"))),
            Value::Number(n) => n
                .as_i64()
                .map(|i| Self(rust_decimal::Decimal::from(i)))
                .ok_or_else(|| {
                    InputValueError::custom("send fractional decimals as strings, e.g. \"19.99\"")
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// The same scalars in JSON bodies outside GraphQL (the REST API): read by the very
/// rules above, so both surfaces accept and refuse the same text.
mod json {
    use async_graphql::{ScalarType, Value};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Schema};

    use super::{Date, DateTime, Decimal};

    fn read<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: ScalarType + async_graphql::InputType,
        D: Deserializer<'de>,
    {
        let json = serde_json::Value::deserialize(d)?;
        let value = Value::from_json(json).map_err(D::Error::custom)?;
        <T as ScalarType>::parse(value)
            .map_err(|e| D::Error::custom(e.into_server_error(Default::default()).message))
    }

    fn write<T: ScalarType, S: Serializer>(t: &T, s: S) -> Result<S::Ok, S::Error> {
        ScalarType::to_value(t).serialize(s)
    }

    macro_rules! json_scalar {
        ($t:ty, $name:literal, $format:expr, $example:literal, $desc:literal) => {
            impl<'de> Deserialize<'de> for $t {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    read(d)
                }
            }

            impl Serialize for $t {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    write(self, s)
                }
            }

            impl utoipa::PartialSchema for $t {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format($format)
                        .examples([serde_json::json!($example)])
                        .description(Some($desc))
                        .into()
                }
            }

            impl utoipa::ToSchema for $t {
                fn name() -> std::borrow::Cow<'static, str> {
                    $name.into()
                }
            }
        };
    }

    json_scalar!(
        DateTime,
        "DateTime",
        Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)),
        "2026-12-24T18:00:00Z",
        "An instant, RFC 3339 with an offset; answered in UTC."
    );
    json_scalar!(
        Date,
        "Date",
        Some(SchemaFormat::KnownFormat(KnownFormat::Date)),
        "2026-12-31",
        "A calendar day, read in the time zone the object names."
    );
    json_scalar!(
        Decimal,
        "Decimal",
        Some(SchemaFormat::Custom("decimal".into())),
        "19.99",
        "An exact decimal number as a string."
    );
}
