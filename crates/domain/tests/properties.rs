//! Property tests of the inputs a code-guesser controls: code normalisation, e-mail
//! normalisation and order parsing. Arbitrary input never panics, and what is accepted
//! is always canonical.

use coupons_domain::order::normalize_email;
use coupons_domain::{CouponCode, LineItemDraft, Order, OrderDraft};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Text that is often almost a code: code characters, with spaces, look-alikes and
/// other scripts mixed in.
fn code_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::char::ranges(vec!['a'..='z', 'A'..='Z', '0'..='9'].into()),
            1 => prop::sample::select(vec!['-', '_', ' ', '\t', '\n', 'ß', 'İ', 'ı', 'é', 'Ｋ', '\u{0}', '\u{200b}', '😀']),
            1 => any::<char>(),
        ],
        0..80,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Accepted exactly when the trimmed text is 3 to 64 code characters; the result
    /// is the trimmed text in ASCII upper case, and parsing it again gives it back.
    #[test]
    fn codes_are_canonical(raw in code_like()) {
        let trimmed = raw.trim();
        let expected_ok = (3..=64).contains(&trimmed.chars().count()) && trimmed.chars().all(code_char);
        match CouponCode::parse(&raw) {
            Ok(code) => {
                prop_assert!(expected_ok, "accepted {raw:?}");
                prop_assert_eq!(code.as_str(), trimmed.to_ascii_uppercase());
                prop_assert!(CouponCode::parse(code.as_str()).unwrap() == code);
                prop_assert_eq!(CouponCode::parse(&trimmed.to_ascii_lowercase()).unwrap(), code);
            }
            Err(e) => {
                prop_assert!(!expected_ok, "refused {raw:?}: {e}");
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Normalising an address twice changes nothing; accepted addresses are trimmed,
    /// lower case, with one `@` and a dotted domain.
    #[test]
    fn emails_normalise_once(raw in "[ \\t]{0,2}[A-Za-z0-9.+_@ -]{0,30}(@[A-Za-z0-9.-]{0,20})?[ ]{0,2}|\\PC{0,40}") {
        if let Ok(e) = normalize_email(&raw) {
            prop_assert!(normalize_email(&e).unwrap() == e);
            prop_assert_eq!(e.trim(), e.as_str());
            prop_assert!(e.to_lowercase() == e);
            prop_assert_eq!(e.matches('@').count(), 1);
            let domain = e.split('@').nth(1).unwrap();
            prop_assert!(domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        }
    }
}

fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (any::<i64>(), 0u32..28).prop_map(|(m, s)| Decimal::new(m, s)),
        (-100_000i64..100_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._@-]{0,12}",
        "\\PC{0,30}",
        Just(String::new()),
        Just("x".repeat(300)),
    ]
}

fn draft() -> impl Strategy<Value = OrderDraft> {
    let item = (
        text(),
        prop::collection::vec(text(), 0..3),
        any::<i64>(),
        decimal(),
    )
        .prop_map(|(sku, categories, quantity, unit_price)| LineItemDraft {
            sku,
            categories,
            quantity,
            unit_price,
        });
    (
        text(),
        prop_oneof!["USD|EUR|JPY|KWD|usd|XXX|US|", "\\PC{0,4}"],
        decimal(),
        prop::collection::vec(item, 0..4),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(text(), 0..3),
        proptest::option::of(any::<bool>()),
        prop::option::of(text()),
    )
        .prop_map(
            |(
                id,
                currency,
                subtotal,
                items,
                customer_id,
                customer_email,
                customer_tags,
                first_order,
                channel,
            )| {
                OrderDraft {
                    id,
                    currency,
                    subtotal,
                    shipping: Decimal::ZERO,
                    items,
                    customer_id,
                    customer_email,
                    customer_tags,
                    first_order,
                    fingerprints: Default::default(),
                    channel,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Any order either parses into a canonical order or is refused with at least one
    /// problem, each on a field of the order; nothing panics.
    #[test]
    fn orders_parse_or_say_why(d in draft()) {
        let items = d.items.len();
        match Order::from_draft(d.clone()) {
            Ok(o) => {
                prop_assert!(o.subtotal.minor >= 0);
                prop_assert_eq!(o.currency.code(), d.currency.trim().to_ascii_uppercase());
                prop_assert_eq!(o.id.as_str(), d.id.trim());
                prop_assert_eq!(o.items.len(), items);
                for item in &o.items {
                    prop_assert!((1..=1_000_000).contains(&item.quantity));
                    prop_assert!(item.unit_price.minor >= 0);
                    prop_assert_eq!(item.unit_price.currency, o.currency);
                }
                if let Some(e) = &o.customer.email {
                    prop_assert_eq!(normalize_email(e).unwrap(), e.clone());
                }
                if let Some(c) = &o.channel {
                    prop_assert_eq!(c.to_ascii_lowercase(), c.clone());
                    prop_assert!(!c.is_empty() && c.len() <= 64);
                }
            }
            Err(invalid) => {
                prop_assert!(!invalid.0.is_empty());
                for problem in &invalid.0 {
                    prop_assert!(!problem.problem.to_string().is_empty());
                }
            }
        }
    }

    /// A well-formed order always parses, and its amounts are exact in minor units.
    #[test]
    fn well_formed_orders_are_exact(
        cents in 0i64..10_000_000,
        quantity in 1i64..1_000,
        email in "[a-z]{1,8}@[a-z]{1,8}\\.(com|test)",
        upper in any::<bool>(),
    ) {
        let email = if upper { email.to_uppercase() } else { email };
        let d = OrderDraft {
            id: " o-1 ".into(),
            currency: "usd".into(),
            subtotal: Decimal::new(cents, 2),
            items: vec![LineItemDraft {
                sku: "SKU".into(),
                categories: vec![" shoes ".into()],
                quantity,
                unit_price: Decimal::new(cents, 2),
            }],
            customer_email: Some(format!("  {email} ")),
            ..OrderDraft::default()
        };
        let o = Order::from_draft(d).unwrap();
        prop_assert_eq!(o.subtotal.minor, cents);
        prop_assert_eq!(o.items[0].unit_price.minor, cents);
        prop_assert_eq!(o.items[0].categories.clone(), vec!["shoes".to_owned()]);
        prop_assert!(o.customer.email == Some(email.to_lowercase()));
        prop_assert_eq!(o.id.as_str(), "o-1");
    }
}
