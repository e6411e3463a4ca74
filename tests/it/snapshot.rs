//! Snapshots of whole payloads, with what varies from run to run redacted.
//!
//! A snapshot asserts a payload field by field, so a test states what a response looks
//! like instead of picking a few fields of it. Both backends compare against the same
//! file (snapshots are always named), which also shows they answer alike.
//!
//! Each redaction checks the shape of what it hides before hiding it: an id must be a
//! global ID of the expected kind, an instant must be RFC 3339. A payload that put a
//! number where an id belongs fails instead of being redacted into agreement.
//!
//! Review a changed snapshot with `cargo insta review` (or read the `.snap.new` file
//! beside it and move it over the old one); under `CI=true` a mismatch or a missing
//! snapshot fails.

use insta::internals::{Content, ContentPath};

/// A redaction for a global ID of `kind` (`Coupon`, `Redemption`, …): asserts the value
/// is one, then hides it.
pub fn id(kind: &'static str) -> insta::internals::Redaction {
    insta::dynamic_redaction(move |value: Content, path: ContentPath<'_>| {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("{path}: not an ID: {value:?}"));
        let decoded = coupons::ids::decode_any(text)
            .unwrap_or_else(|| panic!("{path}: not a global ID: {text:?}"));
        assert_eq!(format!("{:?}", decoded.0), kind, "{path}: {text:?}");
        format!("[{kind} id]")
    })
}

/// `value` with every instant and every id replaced by a marker of its kind, for
/// payloads whose ids and instants sit at many depths (audit entries, webhook bodies):
/// a string that is an RFC 3339 instant becomes `[instant]`, a global ID `[Kind id]`,
/// a number under a key that names an id (`id`, `…_id`, `…Id`) `[row id]`, an API key's
/// random `prefix` `[key prefix]` and a `customer_key` (a keyed hash, whose key each
/// test database draws afresh) `[customer hash]`. Everything else is kept as it is, so
/// a value of another shape shows in the diff.
pub fn redacted(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    fn names_an_id(key: &str) -> bool {
        key == "id" || key.ends_with("_id") || key.ends_with("Id")
    }
    match value {
        Value::String(text) => {
            if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
                Value::from("[instant]")
            } else if let Some((kind, _)) = coupons::ids::decode_any(text) {
                Value::from(format!("[{kind:?} id]"))
            } else {
                value.clone()
            }
        }
        Value::Array(items) => items.iter().map(redacted).collect(),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, field)| {
                let field = match field {
                    Value::String(prefix) if key == "prefix" => {
                        assert!(prefix.starts_with("cpn_"), "not a key prefix: {prefix:?}");
                        Value::from("[key prefix]")
                    }
                    Value::String(hash) if key == "customer_key" => {
                        assert!(
                            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                            "not a customer hash: {hash:?}"
                        );
                        Value::from("[customer hash]")
                    }
                    Value::Number(n) if names_an_id(key) && n.as_i64().is_some_and(|n| n > 0) => {
                        Value::from("[row id]")
                    }
                    other => redacted(other),
                };
                (key.clone(), field)
            })
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}
