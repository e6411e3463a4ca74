//! Puts the fields of an answer in the order the document selected them.
//!
//! The GraphQL spec serialises an object's fields in the order of its selection set.
//! async-graphql resolves the fields of an object concurrently and writes each one as it
//! finishes, so its answers follow completion times instead (`{ coupon { … } viewer {
//! … } }` can come back with `viewer` first). The gate keeps each admitted document and
//! re-orders its answers by it, whatever the transport.
//!
//! The walk follows the answer, not the document, so a fragment spread many times costs
//! no more than the fields it adds to the answer: at each object, every fragment is
//! expanded once, and the keys are placed in the order of their first appearance.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet,
};
use async_graphql::{Name, Positioned, Response, Value};

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The selection order of one admitted document.
#[derive(Debug)]
pub struct SelectionOrder {
    document: ExecutableDocument,
    operation_name: Option<String>,
}

impl SelectionOrder {
    /// The order of the operation `operation_name` of `document` (its only operation
    /// when no name is given).
    pub fn new(document: ExecutableDocument, operation_name: Option<String>) -> Self {
        Self {
            document,
            operation_name,
        }
    }

    /// Re-orders the fields of `response.data` as the operation selected them. An
    /// answer that names no operation the document has is left as it is.
    pub fn apply(&self, response: &mut Response) {
        if let Some(operation) = self.operation() {
            let root = [&operation.selection_set.node];
            order(&mut response.data, &root, &self.document.fragments);
        }
    }

    fn operation(&self) -> Option<&OperationDefinition> {
        let op = match (&self.document.operations, self.operation_name.as_deref()) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
            (DocumentOperations::Multiple(_), None) => return None,
        };
        Some(&op.node)
    }
}

/// Orders `value` (an object, or a list of them at any depth) by the selection sets
/// that produced it.
fn order(value: &mut Value, sets: &[&SelectionSet], fragments: &Fragments) {
    match value {
        Value::List(items) => items.iter_mut().for_each(|v| order(v, sets, fragments)),
        Value::Object(map) => {
            let mut keys = Keys::default();
            let mut expanded = HashSet::new();
            for set in sets {
                keys.collect(set, fragments, &mut expanded);
            }
            let mut unordered = std::mem::take(map);
            map.reserve(unordered.len());
            for (key, subsets) in keys.order {
                if let Some(mut v) = unordered.swap_remove(key) {
                    if !subsets.is_empty() {
                        order(&mut v, &subsets, fragments);
                    }
                    map.insert(key.clone(), v);
                }
            }
            // Nothing is expected here: every key of an answer comes from the document.
            map.extend(unordered);
        }
        _ => {}
    }
}

/// The response keys of one object in selection order, each with the selection sets
/// of the fields that share it (merged, as execution merges them).
#[derive(Default)]
struct Keys<'d> {
    order: Vec<(&'d Name, Vec<&'d SelectionSet>)>,
    index: HashMap<&'d str, usize>,
}

impl<'d> Keys<'d> {
    fn collect(
        &mut self,
        set: &'d SelectionSet,
        fragments: &'d Fragments,
        expanded: &mut HashSet<&'d str>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = &field.node.response_key().node;
                    let subset = &field.node.selection_set.node;
                    let at = *self.index.entry(key.as_str()).or_insert_with(|| {
                        self.order.push((key, Vec::new()));
                        self.order.len() - 1
                    });
                    if !subset.items.is_empty() {
                        self.order[at].1.push(subset);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if expanded.insert(name.as_str())
                        && let Some(fragment) = fragments.get(name)
                    {
                        self.collect(&fragment.node.selection_set.node, fragments, expanded);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.collect(&inline.node.selection_set.node, fragments, expanded);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        match value {
            Value::Object(map) => map.keys().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }

    fn answer(json: &str) -> Response {
        let data: serde_json::Value = serde_json::from_str(json).expect("test JSON");
        Response::new(Value::from_json(data).expect("test value"))
    }

    #[test]
    fn fields_follow_the_selection_through_aliases_fragments_and_lists() {
        let doc = parse_query(
            "query Q { z: viewer { name } coupon { ...F id } } \
             fragment F on Coupon { code ... on Coupon { name code } }",
        )
        .expect("test document");
        // serde_json sorts keys, so this arrives in alphabetical order.
        let mut response =
            answer(r#"{"coupon": {"code": "A", "id": "1", "name": "N"}, "z": {"name": "x"}}"#);
        SelectionOrder::new(doc, None).apply(&mut response);
        assert_eq!(keys(&response.data), ["z", "coupon"]);
        let Value::Object(map) = &response.data else {
            panic!("an object")
        };
        assert_eq!(keys(&map["coupon"]), ["code", "name", "id"]);
    }

    #[test]
    fn lists_of_objects_are_ordered_item_by_item() {
        let doc = parse_query("{ items { z a } }").expect("test document");
        let mut response = answer(r#"{"items": [{"a": 1, "z": 2}, {"a": 3, "z": 4}]}"#);
        SelectionOrder::new(doc, None).apply(&mut response);
        let Value::Object(map) = &response.data else {
            panic!("an object")
        };
        let Value::List(items) = &map["items"] else {
            panic!("a list")
        };
        assert!(items.iter().all(|i| keys(i) == ["z", "a"]));
    }

    #[test]
    fn a_fragment_that_spreads_itself_ends() {
        let doc = parse_query("{ a { ...F } } fragment F on T { x ...F }").expect("test document");
        let mut response = answer(r#"{"a": {"x": 1}}"#);
        SelectionOrder::new(doc, None).apply(&mut response);
        assert_eq!(keys(&response.data), ["a"]);
    }
}
