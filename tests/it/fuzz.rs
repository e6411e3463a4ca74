//! Random GraphQL documents, variables and bodies against the real router: the server
//! never panics, never answers 500, and never reports an internal error for bad input.
//! Documents are built from the schema's own names (so many get past parsing and
//! validation into the resolvers) and from known-good documents with random edits.

use std::sync::Arc;

use coupons::auth::Role;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Options, TestApp};

/// Names from `schema.graphql`: fields, arguments, types, enum values.
fn schema_names() -> Vec<String> {
    let sdl = include_str!("../../schema.graphql");
    let mut names: Vec<String> = sdl
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() > 1 && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

const GOOD: &[&str] = &[
    r#"query($i: ValidateCouponInput!) { validateCoupon(input: $i) { valid discount { amount currency } reasons { code message } userErrors { field code } } }"#,
    r#"mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id code status discount { type percentage } } userErrors { field code message } } }"#,
    r#"mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id status discount { amount } } userErrors { field code message } } }"#,
    r#"{ coupons(first: 5, filter: { status: ACTIVE, query: "a" }) { edges { cursor node { id name codes(first: 2) { nodes { code } } } } pageInfo { hasNextPage endCursor } } }"#,
    r#"{ auditLog(first: 3) { edges { node { action entityId before after } } } apiKeys { nodes { id channels } } }"#,
    r#"query($id: ID!) { node(id: $id) { id ... on Coupon { name } ... on Redemption { status } } }"#,
    r#"mutation { simulateRules(input: { source: "fn check(ctx, params) { pass() }", order: { id: "o", currency: "USD", subtotal: "1" } }) { results { rule verdict } } }"#,
    r#"fragment F on Coupon { id name } { coupon(code: "FUZZ10") { ...F redemptions { nodes { id } } } viewer { role name } }"#,
];

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$",
    "!",
    "...",
    "@skip(if: true)",
    "@include(if: $x)",
    "\"",
    "\"\"\"",
    "#",
    ",",
    "=",
    "|",
    "&",
    "on ",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "null",
    "true",
    "-1",
    "1e309",
    "99999999999999999999",
    "0.000000001",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"💥\"",
    "__typename",
    "__schema",
    "a:",
    "input:",
];

/// A random selection set of depth at most `depth`, from schema names.
fn selection(names: Arc<Vec<String>>, depth: u32) -> BoxedStrategy<String> {
    let field = {
        let names = names.clone();
        (
            prop::sample::select((*names).clone()),
            prop::option::of("[a-z]{1,3}"),
            prop::option::of(args(names)),
        )
            .prop_map(|(name, alias, args)| {
                format!(
                    "{}{name}{}",
                    alias.map(|a| format!("{a}: ")).unwrap_or_default(),
                    args.unwrap_or_default()
                )
            })
            .boxed()
    };
    if depth == 0 {
        return prop::collection::vec(field, 1..4)
            .prop_map(|f| f.join(" "))
            .boxed();
    }
    let nested =
        (field.clone(), selection(names, depth - 1)).prop_map(|(f, s)| format!("{f} {{ {s} }}"));
    prop::collection::vec(prop_oneof![field, nested], 1..4)
        .prop_map(|f| f.join(" "))
        .boxed()
}

fn literal(names: Arc<Vec<String>>) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        prop::sample::select(vec![
            "true",
            "false",
            "null",
            "ACTIVE",
            "PAUSED",
            "ADMIN",
            "$i",
            "$x",
            "\"\"",
            "\"10\"",
            "\"-5\"",
            "\"USD\"",
            "\"2026-01-01T00:00:00Z\""
        ])
        .prop_map(str::to_owned),
        prop::sample::select((*names).clone()),
    ];
    leaf.prop_recursive(3, 12, 4, move |inner| {
        let names = names.clone();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select((*names).clone()), inner), 0..4).prop_map(
                |kv| format!(
                    "{{ {} }}",
                    kv.into_iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            ),
        ]
    })
    .boxed()
}

fn args(names: Arc<Vec<String>>) -> BoxedStrategy<String> {
    prop::collection::vec(
        (prop::sample::select((*names).clone()), literal(names)),
        1..3,
    )
    .prop_map(|kv| {
        format!(
            "({})",
            kv.into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
    .boxed()
}

/// Whole documents from the schema's names.
fn document(names: Arc<Vec<String>>) -> BoxedStrategy<String> {
    (
        prop::sample::select(vec![
            "",
            "query ",
            "mutation ",
            "query Q($i: ValidateCouponInput, $x: Boolean) ",
            "subscription ",
        ]),
        selection(names, 3),
    )
        .prop_map(|(op, s)| format!("{op}{{ {s} }}"))
        .boxed()
}

/// Known-good documents with random edits.
fn edited() -> BoxedStrategy<String> {
    (
        prop::sample::select(GOOD.to_vec()),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..3u8,
                prop::sample::select(TOKENS.to_vec()),
            ),
            1..6,
        ),
    )
        .prop_map(|(doc, edits)| {
            let mut doc: Vec<char> = doc.chars().collect();
            for (at, op, token) in edits {
                let i = at.index(doc.len() + 1);
                match op {
                    0 => doc.splice(i..i, token.chars()).for_each(drop),
                    1 if i < doc.len() => {
                        doc.remove(i);
                    }
                    _ => {
                        let end = (i + token.len()).min(doc.len());
                        doc.splice(i..end, token.chars()).for_each(drop);
                    }
                }
            }
            doc.into_iter().collect()
        })
        .boxed()
}

/// Arbitrary JSON, as variables.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        prop::sample::select(vec![
            "USD",
            "FUZZ10",
            "1.005",
            "-0",
            "1e400",
            "2026-13-45T99:00:00Z",
            "a@b.c",
            "\u{0}"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "code",
                    "order",
                    "id",
                    "currency",
                    "subtotal",
                    "items",
                    "customer",
                    "email",
                    "channel",
                    "idempotencyKey",
                    "name",
                    "discount",
                    "percentage",
                    "amount",
                    "x",
                    ""
                ])
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Variables shaped like the inputs of the good documents, with random values.
fn variables() -> BoxedStrategy<Value> {
    let order = (json_value(), json_value(), json_value(), json_value()).prop_map(|(id, currency, subtotal, customer)| {
        json!({ "id": id, "currency": currency, "subtotal": subtotal, "customer": customer })
    });
    let input = (
        prop_oneof![Just(json!("FUZZ10")), json_value()],
        prop_oneof![order, json_value()],
        json_value(),
        json_value(),
    )
        .prop_map(|(code, order, key, discount)| {
            json!({ "code": code, "order": order, "idempotencyKey": key, "name": "n", "discount": discount })
        });
    // Well typed, with hostile strings: these get past validation into the resolvers.
    let s = || {
        prop_oneof![
            "\\PC{0,24}",
            "[ -~]{0,12}",
            Just("FUZZ10".to_owned()),
            Just("1.005".to_owned()),
            Just("USD".to_owned()),
            Just("x".repeat(300)),
            Just("\u{0}".to_owned())
        ]
    };
    let amount = prop_oneof![3 => "[0-9]{1,6}(\\.[0-9]{1,3})?", 1 => "-?[0-9.e+-]{0,8}"];
    let currency = prop_oneof![3 => prop::sample::select(vec!["USD", "usd", "JPY", "KWD"]).prop_map(str::to_owned), 1 => s()];
    let typed = (s(), s(), currency, amount, s(), s(), prop::option::of(s()))
        .prop_map(|(code, id, currency, subtotal, email, key, channel)| {
            json!({ "code": code, "idempotencyKey": key, "order": { "id": id, "currency": currency, "subtotal": subtotal,
                "customer": { "email": email, "id": key }, "channel": channel } })
        });
    prop_oneof![
        4 => (typed, s()).prop_map(|(i, id)| json!({ "i": i, "id": id, "x": true })),
        3 => (input, json_value(), json_value()).prop_map(|(i, id, x)| json!({ "i": i, "id": id, "x": x })),
        1 => json_value(),
    ]
    .boxed()
}

fn bodies(names: Arc<Vec<String>>) -> BoxedStrategy<String> {
    let vars = prop::option::of(variables());
    prop_oneof![
        3 => (document(names.clone()), vars.clone()).prop_map(|(q, v)| json!({ "query": q, "variables": v }).to_string()),
        3 => (edited(), vars).prop_map(|(q, v)| json!({ "query": q, "variables": v }).to_string()),
        4 => (prop::sample::select(GOOD.to_vec()), variables()).prop_map(|(q, v)| json!({ "query": q, "variables": v }).to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => "\\PC{0,64}",
        1 => prop::collection::vec(document(names), 1..4).prop_map(|qs| Value::from(qs.into_iter().map(|q| json!({ "query": q })).collect::<Vec<_>>()).to_string()),
    ]
    .boxed()
}

fn fuzz_options() -> Options {
    Options {
        limiter: Some(coupons::service::limiter::LimiterSettings {
            public: coupons::service::limiter::Budget::UNLIMITED,
            ..Default::default()
        }),
        ..Options::default()
    }
}

async fn random_requests_never_fail_the_server(app: TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "Fuzz", "code": "FUZZ10", "discount": { "percentage": "10" } }),
    )
    .await;
    let keys = vec![
        Some(app.admin.clone()),
        Some(app.key(Role::Storefront).await),
        Some(app.key(Role::Public).await),
        None,
    ];
    let names = Arc::new(schema_names());
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let handle = tokio::runtime::Handle::current();
    let app = &app;
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (bodies(names), prop::sample::select(keys));
        runner
            .run(&strategy, |(body, key)| {
                let r = handle.block_on(app.post(key.as_deref(), &[], body.clone()));
                prop_assert!(
                    r.status.as_u16() < 500 || r.status.as_u16() == 503,
                    "{} for {body}: {:#}",
                    r.status,
                    r.body
                );
                let internal = r.body.to_string().contains("INTERNAL_SERVER_ERROR");
                prop_assert!(!internal, "internal error for {body}: {:#}", r.body);
                Ok(())
            })
            .unwrap();
    });
    let r = app
        .request(Some(&app.admin), "{ viewer { role } }", json!({}))
        .await;
    assert_eq!(r.data()["viewer"]["role"], json!("ADMIN"));
}
both_backends!(random_requests_never_fail_the_server, super::fuzz_options());

/// Text with NUL characters and lone surrogates where the database stores text: a
/// clear refusal or a clean write, never an internal error.
async fn hostile_text_is_refused_or_stored_cleanly(app: TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "Nul", "code": "NUL10", "discount": { "percentage": "10" } }),
    )
    .await;
    let store = app.key(Role::Storefront).await;
    let redeem = "mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id orderId } userErrors { field code } } }";
    for (n, text) in ["a\u{0}b", "\u{0}", "x\u{7f}y", "🙂\u{fffd}"]
        .iter()
        .enumerate()
    {
        let order = json!({ "id": text, "currency": "USD", "subtotal": "10", "customer": { "id": text }, "channel": text });
        let r = app
            .request(Some(&store), redeem, json!({ "i": { "code": "NUL10", "order": order, "idempotencyKey": format!("{text}{n}") } }))
            .await;
        let created = app.request(Some(&app.admin), "mutation($n: String!) { createCoupon(input: { name: $n, discount: { percentage: \"1\" }, metadata: { k: $n } }) { userErrors { code } } }", json!({ "n": text })).await;
        for r in [&r, &created] {
            if text.contains('\0') {
                assert_eq!(
                    r.error_code(),
                    Some("BAD_USER_INPUT"),
                    "{text:?}: {:#}",
                    r.body
                );
            } else {
                assert!(r.body.get("errors").is_none(), "{text:?}: {:#}", r.body);
            }
        }
    }
    // The same text written as a GraphQL escape inside the document.
    let r = app
        .request(Some(&app.admin), r#"mutation { createCoupon(input: { name: "a\u0000b", discount: { percentage: "1" } }) { userErrors { code } } }"#, json!({}))
        .await;
    assert_eq!(r.error_code(), Some("BAD_USER_INPUT"), "{:#}", r.body);
    assert_eq!(app.count("coupons").await, 3);
}
both_backends!(hostile_text_is_refused_or_stored_cleanly);
