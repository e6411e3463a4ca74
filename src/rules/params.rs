//! Parameter schemas: the types a rule's `fn params()` may declare, reading that
//! declaration, and checking a binding's JSON parameters against it.

use rhai::{Dynamic, Map};

use super::{CompiledRule, RuleError, Rules};

/// The type of a declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamKind {
    String,
    Int,
    Bool,
    Strings,
    Money,
    Map,
}

/// One parameter a rule declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParamSpec {
    /// Its name, the key in a binding's `params`.
    pub(super) name: String,
    /// Its type.
    pub(super) kind: ParamKind,
    /// Whether it may be left out (declared with a trailing `?`).
    pub(super) optional: bool,
}

impl Rules {
    /// Checks that `params` (a JSON object) fit what `rule` declares.
    pub fn check_params(rule: &CompiledRule, params: &serde_json::Value) -> Result<(), String> {
        let empty = serde_json::Map::new();
        let given = params.as_object().unwrap_or(&empty);
        for key in given.keys() {
            if !rule.params.iter().any(|p| &p.name == key) {
                return Err(format!("rule {} has no parameter {key:?}", rule.name));
            }
        }
        for spec in &rule.params {
            match given.get(&spec.name) {
                None | Some(serde_json::Value::Null) if spec.optional => {}
                None | Some(serde_json::Value::Null) => {
                    return Err(format!("parameter {:?} is required", spec.name));
                }
                Some(v) => {
                    let ok = match spec.kind {
                        ParamKind::String => v.is_string(),
                        ParamKind::Int => v.is_i64(),
                        ParamKind::Bool => v.is_boolean(),
                        ParamKind::Map => v.is_object(),
                        ParamKind::Strings => v
                            .as_array()
                            .is_some_and(|a| a.iter().all(serde_json::Value::is_string)),
                        ParamKind::Money => v
                            .as_str()
                            .is_some_and(|s| s.trim().parse::<rust_decimal::Decimal>().is_ok()),
                    };
                    if !ok {
                        return Err(format!(
                            "parameter {:?} must be {}",
                            spec.name,
                            kind_name(spec.kind)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// How a type is named in messages to rule authors and in `parameters()`.
pub(super) fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::String => "a string",
        ParamKind::Int => "a whole number",
        ParamKind::Bool => "true or false",
        ParamKind::Strings => "an array of strings",
        ParamKind::Money => "a decimal amount as a string (\"50.00\")",
        ParamKind::Map => "an object",
    }
}

/// Reads what `fn params()` returned: a map of parameter name to type name.
pub(super) fn parse_param_specs(
    rule: &str,
    declared: Dynamic,
) -> Result<Vec<ParamSpec>, RuleError> {
    let bad = |m: String| RuleError::new(rule, m, rhai::Position::NONE);
    let map = declared
        .try_cast::<Map>()
        .ok_or_else(|| bad("fn params must return a map of name to type".into()))?;
    let mut specs = Vec::with_capacity(map.len());
    for (name, kind) in map {
        let kind = kind
            .into_string()
            .map_err(|_| bad(format!("parameter {name}: the type must be a string")))?;
        let (kind, optional) = match kind.strip_suffix('?') {
            Some(k) => (k.to_owned(), true),
            None => (kind, false),
        };
        let kind = match kind.as_str() {
            "string" => ParamKind::String,
            "int" => ParamKind::Int,
            "bool" => ParamKind::Bool,
            "strings" => ParamKind::Strings,
            "money" => ParamKind::Money,
            "map" => ParamKind::Map,
            other => {
                return Err(bad(format!(
                    "parameter {name}: unknown type {other:?} (string, int, bool, strings, money, map; add ? for optional)"
                )));
            }
        };
        specs.push(ParamSpec {
            name: name.to_string(),
            kind,
            optional,
        });
    }
    Ok(specs)
}
