//! The shape of a GraphQL document, read before it runs: how deeply its text nests,
//! how many aliases it uses, and how many code checks it asks for.
//!
//! The router refuses documents over the limits and charges the code checks they
//! carried to the caller's attempt budget, so a refused brute-force request still
//! counts towards a lockout.

use async_graphql::Value as ConstValue;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Fields that check a code, each a guess when the code is unknown.
pub const CODE_CHECK_FIELDS: [&str; 3] = ["validateCoupon", "reserveCoupon", "redeemCoupon"];

/// Deepest nesting of `{`, `(` and `[` accepted in a document's text. Checked before
/// parsing, so a pathological document cannot exhaust the parser's stack.
pub const MAX_TEXT_NESTING: usize = 64;

/// Fragment spreads are followed at most this deep (cycles are refused later by
/// validation; this keeps the count finite meanwhile).
const MAX_SPREAD_DEPTH: usize = 16;

/// What a document asks for, with fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields selected under an alias.
    pub aliases: usize,
    /// Fields that check a code.
    pub code_checks: usize,
    /// Introspection fields (`__schema`, `__type`).
    pub introspection: usize,
    /// Whether an argument holds text with a NUL character (which no field accepts and
    /// PostgreSQL cannot store).
    pub nul_text: bool,
}

/// Whether the text nests `{`, `(` and `[` deeper than `max`, outside strings and
/// comments.
pub fn nests_deeper_than(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '(' | '[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The shape of every operation in `doc`, added up.
pub fn shape(doc: &ExecutableDocument) -> Shape {
    let mut shape = Shape::default();
    for (_, op) in doc.operations.iter() {
        walk(doc, &op.node.selection_set.node, 0, &mut shape);
    }
    shape
}

fn walk(doc: &ExecutableDocument, set: &SelectionSet, spreads: usize, shape: &mut Shape) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                if field.alias.is_some() {
                    shape.aliases += 1;
                }
                let literal_nul = field.arguments.iter().any(|(_, v)| {
                    // Variables count as null here; their values are checked on their own.
                    v.node
                        .clone()
                        .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
                        .is_ok_and(|c| const_has_nul(&c))
                });
                if literal_nul {
                    shape.nul_text = true;
                }
                let name = field.name.node.as_str();
                if CODE_CHECK_FIELDS.contains(&name) {
                    shape.code_checks += 1;
                }
                if name == "__schema" || name == "__type" {
                    shape.introspection += 1;
                }
                walk(doc, &field.selection_set.node, spreads, shape);
            }
            Selection::InlineFragment(fragment) => {
                walk(doc, &fragment.node.selection_set.node, spreads, shape);
            }
            Selection::FragmentSpread(spread) => {
                if spreads >= MAX_SPREAD_DEPTH {
                    continue;
                }
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    walk(doc, &fragment.node.selection_set.node, spreads + 1, shape);
                }
            }
        }
    }
}

/// Whether a variable value holds text with a NUL character.
pub fn const_has_nul(v: &ConstValue) -> bool {
    match v {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::Enum(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.contains('\0') || const_has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    #[test]
    fn counts_aliases_and_code_checks_through_fragments() {
        let doc = parse_query(
            r#"query { a: validateCoupon(input: $i) { valid } b: validateCoupon(input: $i) { valid }
               viewer { role } ...F ... on Query { c: coupon(code: "X") { id } } }
               fragment F on Query { d: validateCoupon(input: $i) { v: valid } }"#,
        )
        .unwrap();
        assert_eq!(
            shape(&doc),
            Shape {
                aliases: 5,
                code_checks: 3,
                introspection: 0,
                nul_text: false,
            }
        );
    }

    #[test]
    fn fragment_cycles_stay_finite() {
        let doc = parse_query(
            "{ ...A } fragment A on Query { x: viewer { role } ...B } fragment B on Query { ...A }",
        )
        .unwrap();
        assert_eq!(shape(&doc).aliases, MAX_SPREAD_DEPTH / 2);
    }

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert!(!nests_deeper_than(
            r#"{ a(s: "{{{{{{{{{{") } # {{{{{{{{"#,
            3
        ));
        assert!(nests_deeper_than("{{{{", 3));
        assert!(!nests_deeper_than(r#"{ a(s: "\"{{{{") }"#, 3));
        assert!(nests_deeper_than(&"[".repeat(100_000), MAX_TEXT_NESTING));
    }
}
