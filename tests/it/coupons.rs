//! Coupon administration: creation, validation, lookups, pagination, changes, deletion,
//! codes.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

pub const CREATE: &str = r#"
mutation($input: CreateCouponInput!) {
  createCoupon(input: $input) {
    coupon {
      id name description status lifecycleStatus code startsAt expiresAt
      maxRedemptions perCustomerLimit channels metadata redemptionCount
      discount { type percentage amount { amount currency } maxDiscount { amount currency } }
      rules { name params }
    }
    userErrors { field code message }
  }
}"#;

/// Creates a coupon and returns its JSON, asserting there were no user errors.
pub async fn create(app: &TestApp, input: Value) -> Value {
    let data = app.admin(CREATE, json!({ "input": input })).await;
    let payload = &data["createCoupon"];
    assert_eq!(payload["userErrors"], json!([]), "{payload:#}");
    payload["coupon"].clone()
}

fn percent(code: &str) -> Value {
    json!({ "name": format!("Coupon {code}"), "code": code, "discount": { "percentage": "10" } })
}

async fn create_and_look_up_by_mixed_case_code(app: TestApp) {
    let coupon = create(
        &app,
        json!({
            "name": "  Summer sale ",
            "description": "Ten off",
            "code": "Summer-25",
            "discount": { "percentage": "12.50", "maxDiscount": { "amount": "50", "currency": "usd" } },
            "startsAt": "2026-01-01T00:00:00+01:00",
            "expiresAt": "2036-01-01T12:30:00.123456-05:00",
            "maxRedemptions": 100,
            "perCustomerLimit": 2,
            "channels": ["Web", "pos", "web"],
            "metadata": { "team": "growth" },
            "rules": [{ "name": "allowed_email_domains", "params": { "domains": ["*.acme.com"] } }]
        }),
    )
    .await;
    // Names and codes trimmed and upper-cased, instants in UTC to the microsecond,
    // amounts as decimals in the currency's precision, channels lower-cased and
    // deduplicated in their order.
    insta::assert_json_snapshot!("created_coupon", coupon, { ".id" => crate::snapshot::id("Coupon") });
    let q = "query($code: String, $id: ID) { coupon(code: $code, id: $id) { id code } }";
    for spelling in ["summer-25", " SUMMER-25 ", "sUmMeR-25"] {
        let found = app.admin(q, json!({ "code": spelling })).await;
        assert_eq!(found["coupon"]["id"], coupon["id"], "{spelling}");
    }
    let by_id = app.admin(q, json!({ "id": coupon["id"] })).await;
    assert_eq!(by_id["coupon"]["code"], "SUMMER-25");
    for missing in ["SUMMER-26", "no such code!", ""] {
        assert_eq!(
            app.admin(q, json!({ "code": missing })).await["coupon"],
            Value::Null
        );
    }
    let node = app
        .admin(
            "query($id: ID!) { node(id: $id) { id ... on Coupon { name } } }",
            json!({ "id": coupon["id"] }),
        )
        .await;
    assert_eq!(node["node"]["name"], "Summer sale");
    let both = app
        .request(
            Some(&app.admin),
            q,
            json!({ "code": "X", "id": coupon["id"] }),
        )
        .await;
    assert_eq!(both.error_code(), Some("BAD_USER_INPUT"));
}
both_backends!(create_and_look_up_by_mixed_case_code);

async fn fixed_amounts_use_the_currency_exponent(app: TestApp) {
    for (amount, currency, shown) in [
        ("19.9", "USD", "19.90"),
        ("1000", "jpy", "1000"),
        ("1.234", "KWD", "1.234"),
    ] {
        let c = create(&app, json!({ "name": "Fixed", "discount": { "amount": { "amount": amount, "currency": currency } } })).await;
        assert_eq!(c["discount"]["type"], "FIXED_AMOUNT");
        assert_eq!(c["discount"]["amount"]["amount"], shown);
        assert_eq!(c["discount"]["amount"]["currency"], currency.to_uppercase());
        assert_eq!(c["code"], Value::Null);
    }
}
both_backends!(fixed_amounts_use_the_currency_exponent);

/// Each bad input gets one userError naming the field and a stable code; nothing is
/// written.
async fn bad_input_is_refused_field_by_field_and_nothing_is_written(app: TestApp) {
    create(&app, percent("TAKEN1")).await;
    let before = (app.count("coupons").await, app.count("coupon_codes").await);
    let ok = || percent("FRESH1");
    let with = |patch: Value| {
        let mut input = ok();
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let long_code = "A".repeat(200);
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            with(json!({"discount": {"amount": {"amount": "5", "currency": "ABC"}}})),
            json!(["input", "discount", "amount", "currency"]),
            "UNKNOWN_CURRENCY",
        ),
        (
            with(json!({"discount": {"amount": {"amount": "5", "currency": "XXX"}}})),
            json!(["input", "discount", "amount", "currency"]),
            "UNKNOWN_CURRENCY",
        ),
        (
            with(json!({"discount": {"amount": {"amount": "5.001", "currency": "USD"}}})),
            json!(["input", "discount", "amount", "amount"]),
            "AMOUNT_TOO_PRECISE",
        ),
        (
            with(json!({"discount": {"amount": {"amount": "-5", "currency": "USD"}}})),
            json!(["input", "discount", "amount", "amount"]),
            "AMOUNT_NOT_POSITIVE",
        ),
        (
            with(json!({"discount": {"percentage": "0"}})),
            json!(["input", "discount", "percentage"]),
            "PERCENTAGE_OUT_OF_RANGE",
        ),
        (
            with(json!({"discount": {"percentage": "150"}})),
            json!(["input", "discount", "percentage"]),
            "PERCENTAGE_OUT_OF_RANGE",
        ),
        (
            with(json!({"discount": {"percentage": "10.00001"}})),
            json!(["input", "discount", "percentage"]),
            "PERCENTAGE_TOO_PRECISE",
        ),
        (
            with(json!({"discount": {}})),
            json!(["input", "discount"]),
            "DISCOUNT_KIND_AMBIGUOUS",
        ),
        (
            with(
                json!({"discount": {"percentage": "5", "amount": {"amount": "5", "currency": "USD"}}}),
            ),
            json!(["input", "discount"]),
            "DISCOUNT_KIND_AMBIGUOUS",
        ),
        (
            with(
                json!({"discount": {"amount": {"amount": "5", "currency": "USD"}, "maxDiscount": {"amount": "5", "currency": "USD"}}}),
            ),
            json!(["input", "discount", "maxDiscount", "amount"]),
            "MAX_DISCOUNT_NOT_APPLICABLE",
        ),
        (
            with(
                json!({"discount": {"percentage": "5", "maxDiscount": {"amount": "0", "currency": "USD"}}}),
            ),
            json!(["input", "discount", "maxDiscount", "amount"]),
            "AMOUNT_NOT_POSITIVE",
        ),
        (
            with(json!({"startsAt": "2027-01-01T00:00:00Z", "expiresAt": "2026-01-01T00:00:00Z"})),
            json!(["input", "expiresAt"]),
            "INVALID_DATE_RANGE",
        ),
        (
            with(json!({"startsAt": "2027-01-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z"})),
            json!(["input", "expiresAt"]),
            "INVALID_DATE_RANGE",
        ),
        (with(json!({"code": ""})), json!(["input", "code"]), "BLANK"),
        (
            with(json!({"code": "   "})),
            json!(["input", "code"]),
            "BLANK",
        ),
        (
            with(json!({"code": "AB"})),
            json!(["input", "code"]),
            "CODE_TOO_SHORT",
        ),
        (
            with(json!({"code": long_code})),
            json!(["input", "code"]),
            "CODE_TOO_LONG",
        ),
        (
            with(json!({"code": "SUM MER"})),
            json!(["input", "code"]),
            "INVALID_CODE",
        ),
        (
            with(json!({"code": "taken1"})),
            json!(["input", "code"]),
            "CODE_TAKEN",
        ),
        (
            with(json!({"maxRedemptions": -1})),
            json!(["input", "maxRedemptions"]),
            "INVALID_LIMIT",
        ),
        (
            with(json!({"maxRedemptions": 0})),
            json!(["input", "maxRedemptions"]),
            "INVALID_LIMIT",
        ),
        (
            with(json!({"perCustomerLimit": -5})),
            json!(["input", "perCustomerLimit"]),
            "INVALID_LIMIT",
        ),
        (
            with(json!({"name": " "})),
            json!(["input", "name"]),
            "BLANK",
        ),
        (
            with(json!({"name": "n".repeat(201)})),
            json!(["input", "name"]),
            "TOO_LONG",
        ),
        (
            with(json!({"description": "d".repeat(2001)})),
            json!(["input", "description"]),
            "TOO_LONG",
        ),
        (
            with(json!({"channels": ["web", "not a channel"]})),
            json!(["input", "channels", "1"]),
            "INVALID_CHANNEL",
        ),
        (
            with(json!({"metadata": [1, 2]})),
            json!(["input", "metadata"]),
            "INVALID_METADATA",
        ),
        (
            with(json!({"rules": [{"name": "Bad-Name"}]})),
            json!(["input", "rules", "0"]),
            "INVALID_RULE_NAME",
        ),
        (
            with(json!({"rules": [{"name": "ok_rule", "params": [1]}]})),
            json!(["input", "rules", "0"]),
            "INVALID_RULE_PARAMS",
        ),
    ];
    for (input, field, code) in cases {
        let data = app.admin(CREATE, json!({ "input": input })).await;
        let payload = &data["createCoupon"];
        assert_eq!(payload["coupon"], Value::Null, "{input}");
        let errors = payload["userErrors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{input}: {errors:#?}");
        assert_eq!(errors[0]["field"], field, "{input}");
        assert_eq!(errors[0]["code"], code, "{input}");
        assert!(!errors[0]["message"].as_str().unwrap().is_empty());
    }
    // Several problems at once are all reported.
    let data = app
        .admin(
            CREATE,
            json!({ "input": with(json!({"name": "", "code": "a b", "maxRedemptions": 0})) }),
        )
        .await;
    let codes: Vec<&str> = data["createCoupon"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["BLANK", "INVALID_LIMIT", "INVALID_CODE"]);
    // Malformed scalars are request errors, not userErrors.
    for bad in [
        json!({"startsAt": "2026-01-01"}),
        json!({"discount": {"percentage": "ten"}}),
        json!({"discount": {"percentage": 10.5}}),
    ] {
        let response = app
            .request(
                Some(&app.admin),
                CREATE,
                json!({ "input": with(bad.clone()) }),
            )
            .await;
        assert!(
            response.body["errors"].is_array(),
            "{bad}: {:#}",
            response.body
        );
    }
    assert_eq!(
        (app.count("coupons").await, app.count("coupon_codes").await),
        before
    );
}
both_backends!(bad_input_is_refused_field_by_field_and_nothing_is_written);

async fn default_expiry_applies_when_expires_at_is_omitted(app: TestApp) {
    let c = create(&app, json!({ "name": "D", "discount": { "percentage": "5" }, "startsAt": "2030-03-01T00:00:00Z" })).await;
    assert_eq!(c["expiresAt"], "2030-03-31T00:00:00Z");
    let never = create(
        &app,
        json!({ "name": "N", "discount": { "percentage": "5" }, "expiresAt": null }),
    )
    .await;
    assert_eq!(never["expiresAt"], Value::Null);
    let given = create(&app, json!({ "name": "G", "discount": { "percentage": "5" }, "startsAt": "2030-03-01T00:00:00Z", "expiresAt": "2030-03-02T00:00:00Z" })).await;
    assert_eq!(given["expiresAt"], "2030-03-02T00:00:00Z");
}
both_backends!(
    default_expiry_applies_when_expires_at_is_omitted,
    crate::harness::Options {
        default_expiration_days: Some(30),
        ..crate::harness::Options::default()
    }
);

const LIST: &str = r#"
query($first: Int, $after: String, $filter: CouponFilter) {
  coupons(first: $first, after: $after, filter: $filter) {
    edges { cursor node { name code status } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"#;

async fn pagination_walks_every_coupon_once_newest_first(app: TestApp) {
    for i in 0..25 {
        create(&app, percent(&format!("PAGE{i:02}"))).await;
    }
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app
            .admin(LIST, json!({ "first": 10, "after": after }))
            .await;
        let conn = &data["coupons"];
        let edges = conn["edges"].as_array().unwrap();
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["code"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], json!(pages > 1));
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        assert_eq!(edges.len(), 10);
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("PAGE{i:02}")).collect();
    assert_eq!(seen, expected);

    let too_many = app
        .request(Some(&app.admin), LIST, json!({ "first": 101 }))
        .await;
    assert_eq!(too_many.error_code(), Some("BAD_USER_INPUT"));
    let bad_cursor = app
        .request(Some(&app.admin), LIST, json!({ "after": "nonsense" }))
        .await;
    assert_eq!(bad_cursor.error_code(), Some("BAD_USER_INPUT"));
    let default = app.admin(LIST, json!({})).await;
    assert_eq!(default["coupons"]["edges"].as_array().unwrap().len(), 20);
}
both_backends!(pagination_walks_every_coupon_once_newest_first);

async fn filters_by_derived_status_and_text(app: TestApp) {
    create(
        &app,
        json!({ "name": "Live one", "code": "LIVE", "discount": { "percentage": "5" } }),
    )
    .await;
    create(&app, json!({ "name": "Draft one", "code": "DRAFTY", "status": "DRAFT", "discount": { "percentage": "5" } })).await;
    create(&app, json!({ "name": "Later", "code": "LATER", "discount": { "percentage": "5" }, "startsAt": "2099-01-01T00:00:00Z" })).await;
    create(&app, json!({ "name": "Past", "code": "PAST", "discount": { "percentage": "5" }, "startsAt": "2001-01-01T00:00:00Z", "expiresAt": "2002-01-01T00:00:00Z" })).await;
    let used = create(&app, json!({ "name": "Used up", "code": "USEDUP", "discount": { "percentage": "5" }, "maxRedemptions": 1 })).await;
    let id =
        coupons::ids::decode(coupons::ids::Kind::Coupon, used["id"].as_str().unwrap()).unwrap();
    app.sql(&format!(
        "UPDATE coupons SET redemption_count = 1 WHERE id = {id}"
    ))
    .await;
    let names = |status: &str| {
        let app = &app;
        let status = status.to_owned();
        async move {
            let data = app
                .admin(LIST, json!({ "filter": { "status": status } }))
                .await;
            data["coupons"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["node"]["code"].as_str().unwrap().to_owned(),
                        e["node"]["status"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names("ACTIVE").await,
        [("LIVE".to_owned(), "ACTIVE".to_owned())]
    );
    assert_eq!(
        names("DRAFT").await,
        [("DRAFTY".to_owned(), "DRAFT".to_owned())]
    );
    assert_eq!(
        names("SCHEDULED").await,
        [("LATER".to_owned(), "SCHEDULED".to_owned())]
    );
    assert_eq!(
        names("EXPIRED").await,
        [("PAST".to_owned(), "EXPIRED".to_owned())]
    );
    assert_eq!(
        names("EXHAUSTED").await,
        [("USEDUP".to_owned(), "EXHAUSTED".to_owned())]
    );
    assert!(names("PAUSED").await.is_empty());

    let text = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            let data = app.admin(LIST, json!({ "filter": { "query": q } })).await;
            let mut codes: Vec<String> = data["coupons"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
                .collect();
            codes.sort();
            codes
        }
    };
    assert_eq!(text("ONE").await, ["DRAFTY", "LIVE"]); // name, any case
    assert_eq!(text("usedu").await, ["USEDUP"]); // code, any case
    assert_eq!(text("%").await, Vec::<String>::new()); // LIKE wildcards are literal
}
both_backends!(filters_by_derived_status_and_text);

const UPDATE: &str = r#"
mutation($input: UpdateCouponInput!) {
  updateCoupon(input: $input) {
    coupon { id name description startsAt expiresAt maxRedemptions channels discount { type percentage amount { amount currency } } }
    userErrors { field code message }
  }
}"#;

async fn update_changes_only_what_is_given(app: TestApp) {
    let c = create(&app, json!({ "name": "Before", "description": "text", "code": "UPD1", "discount": { "percentage": "5" }, "startsAt": "2030-01-01T00:00:00Z", "expiresAt": "2030-02-01T00:00:00Z", "maxRedemptions": 3, "channels": ["web"] })).await;
    let id = c["id"].clone();
    let data = app
        .admin(
            UPDATE,
            json!({ "input": { "id": id, "name": "After", "maxRedemptions": null } }),
        )
        .await;
    let u = &data["updateCoupon"]["coupon"];
    assert_eq!(data["updateCoupon"]["userErrors"], json!([]));
    assert_eq!(
        (
            u["name"].as_str(),
            u["description"].as_str(),
            u["maxRedemptions"].as_i64()
        ),
        (Some("After"), Some("text"), None)
    );
    assert_eq!(u["expiresAt"], "2030-02-01T00:00:00Z");
    assert_eq!(u["channels"], json!(["web"]));

    let data = app.admin(UPDATE, json!({ "input": { "id": id, "expiresAt": null, "description": null, "discount": { "amount": { "amount": "3", "currency": "EUR" } } } })).await;
    let u = &data["updateCoupon"]["coupon"];
    assert_eq!(
        (u["expiresAt"].clone(), u["description"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        u["discount"]["amount"],
        json!({"amount": "3.00", "currency": "EUR"})
    );

    // The window is checked against the stored start; nothing changes on error.
    let data = app.admin(UPDATE, json!({ "input": { "id": id, "name": "Never saved", "expiresAt": "2029-01-01T00:00:00Z" } })).await;
    assert_eq!(data["updateCoupon"]["coupon"], Value::Null);
    assert_eq!(
        data["updateCoupon"]["userErrors"][0]["field"],
        json!(["input", "expiresAt"])
    );
    assert_eq!(
        data["updateCoupon"]["userErrors"][0]["code"],
        "INVALID_DATE_RANGE"
    );
    let data = app.admin(UPDATE, json!({ "input": { "id": id, "maxRedemptions": -2, "discount": { "percentage": "101" } } })).await;
    let codes: Vec<&str> = data["updateCoupon"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["PERCENTAGE_OUT_OF_RANGE", "INVALID_LIMIT"]);
    let now = app
        .admin(
            "query($id: ID) { coupon(id: $id) { name } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(now["coupon"]["name"], "After");

    for unknown in [json!("Q291cG9uOjk5OTk5"), json!("not-an-id")] {
        let data = app
            .admin(UPDATE, json!({ "input": { "id": unknown, "name": "x" } }))
            .await;
        assert_eq!(data["updateCoupon"]["userErrors"][0]["code"], "NOT_FOUND");
        assert_eq!(
            data["updateCoupon"]["userErrors"][0]["field"],
            json!(["input", "id"])
        );
    }
}
both_backends!(update_changes_only_what_is_given);

const UPDATE_TERMS: &str = r#"
mutation($input: UpdateCouponInput!) {
  updateCoupon(input: $input) {
    coupon { minSubtotal { amount currency } reversalPolicy }
    userErrors { field code }
  }
}"#;

/// Every term of the definition can be changed, and a change is checked against the
/// rest: a minimum subtotal is set, replaced and cleared, the reversal policy switched,
/// and a kept minimum must still match a new discount's currency.
async fn update_changes_every_term(app: TestApp) {
    let c = create(&app, json!({ "name": "Terms", "code": "TERMS1", "discount": { "amount": { "amount": "5", "currency": "EUR" } } })).await;
    let id = c["id"].clone();
    let update = async |changes: Value| {
        let mut input = json!({ "id": id });
        input
            .as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        app.admin(UPDATE_TERMS, json!({ "input": input })).await["updateCoupon"].clone()
    };
    let u = update(json!({ "minSubtotal": { "amount": "20", "currency": "EUR" }, "reversalPolicy": "RESTORE_USAGE" })).await;
    assert_eq!(u["userErrors"], json!([]));
    assert_eq!(
        u["coupon"]["minSubtotal"],
        json!({ "amount": "20.00", "currency": "EUR" })
    );
    assert_eq!(u["coupon"]["reversalPolicy"], "RESTORE_USAGE");

    // A new discount in another currency, with the minimum left as it is: refused.
    let u = update(json!({ "discount": { "amount": { "amount": "5", "currency": "USD" } } })).await;
    assert_eq!(u["coupon"], Value::Null);
    assert_eq!(
        u["userErrors"],
        json!([{ "field": ["input", "minSubtotal", "currency"], "code": "CURRENCY_MISMATCH" }])
    );
    let u = update(json!({ "minSubtotal": { "amount": "20", "currency": "USD" } })).await;
    assert_eq!(u["userErrors"][0]["code"], "CURRENCY_MISMATCH");

    let u = update(json!({ "minSubtotal": null, "reversalPolicy": "KEEP_USAGE" })).await;
    assert_eq!(u["userErrors"], json!([]));
    assert_eq!(u["coupon"]["minSubtotal"], Value::Null);
    assert_eq!(u["coupon"]["reversalPolicy"], "KEEP_USAGE");
}
both_backends!(update_changes_every_term);

/// Definitions that are allowed but probably not meant come back with warnings, on
/// create and on update: a window already over, and a percentage coupon tied to a
/// currency only by its minimum subtotal. An ordinary coupon has none.
async fn odd_coupons_come_with_warnings(app: TestApp) {
    let create = async |input: Value| {
        app.admin("mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { id } userErrors { code } warnings { code message } } }", json!({ "input": input }))
            .await["createCoupon"]
            .clone()
    };
    let codes = |p: &Value| -> Vec<String> {
        p["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let plain =
        create(json!({ "name": "Plain", "code": "WARN0", "discount": { "percentage": "10" } }))
            .await;
    assert_eq!(plain["warnings"], json!([]));
    let over = create(json!({ "name": "Over", "code": "WARN1", "discount": { "percentage": "10" }, "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2020-02-01T00:00:00Z" })).await;
    assert_eq!(over["userErrors"], json!([]));
    assert_eq!(codes(&over), ["WINDOW_OVER"]);
    let euro = create(json!({ "name": "Euro minimum", "code": "WARN2", "discount": { "percentage": "10" }, "minSubtotal": { "amount": "20", "currency": "EUR" } })).await;
    assert_eq!(codes(&euro), ["CURRENCY_ONLY_FROM_MINIMUM"]);
    assert!(
        euro["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("EUR")
    );
    // A cap in that currency makes the currency explicit: no warning.
    let capped = create(json!({ "name": "Capped", "code": "WARN3", "discount": { "percentage": "10", "maxDiscount": { "amount": "5", "currency": "EUR" } }, "minSubtotal": { "amount": "20", "currency": "EUR" } })).await;
    assert_eq!(capped["warnings"], json!([]));
    let updated = app
        .admin("mutation($input: UpdateCouponInput!) { updateCoupon(input: $input) { warnings { code } } }", json!({ "input": { "id": plain["coupon"]["id"], "expiresAt": "2021-01-01T00:00:00Z", "startsAt": "2020-01-01T00:00:00Z" } }))
        .await;
    assert_eq!(
        updated["updateCoupon"]["warnings"],
        json!([{ "code": "WINDOW_OVER" }])
    );
}
both_backends!(odd_coupons_come_with_warnings);

const SET_STATUS: &str = r#"
mutation($id: ID!, $status: CouponLifecycleStatus!) {
  setCouponStatus(input: { id: $id, status: $status }) {
    coupon { status lifecycleStatus }
    userErrors { field code message }
  }
}"#;

async fn status_follows_the_lifecycle(app: TestApp) {
    let c = create(
        &app,
        json!({ "name": "S", "status": "DRAFT", "discount": { "percentage": "5" } }),
    )
    .await;
    assert_eq!(c["status"], "DRAFT");
    let id = c["id"].clone();
    let step = |status: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.admin(SET_STATUS, json!({ "id": id, "status": status }))
                .await["setCouponStatus"]
                .clone()
        }
    };
    assert_eq!(
        step("PAUSED").await["userErrors"][0]["code"],
        "INVALID_STATUS_TRANSITION"
    );
    for status in ["ACTIVE", "PAUSED", "ACTIVE", "ARCHIVED", "ARCHIVED"] {
        let p = step(status).await;
        assert_eq!(p["userErrors"], json!([]), "{status}");
        assert_eq!(p["coupon"]["lifecycleStatus"], status);
        assert_eq!(p["coupon"]["status"], status);
    }
    for status in ["ACTIVE", "PAUSED", "DRAFT"] {
        let p = step(status).await;
        assert_eq!(p["coupon"], Value::Null);
        assert_eq!(p["userErrors"][0]["field"], json!(["input", "status"]));
        assert_eq!(p["userErrors"][0]["code"], "INVALID_STATUS_TRANSITION");
    }
}
both_backends!(status_follows_the_lifecycle);

const DELETE: &str = r#"
mutation($id: ID!) { deleteCoupon(input: { id: $id }) { deletedCouponId userErrors { field code message } } }"#;

async fn delete_is_refused_once_redeemed(app: TestApp) {
    let unused = create(&app, percent("DEL1")).await;
    let data = app.admin(DELETE, json!({ "id": unused["id"] })).await;
    assert_eq!(data["deleteCoupon"]["deletedCouponId"], unused["id"]);
    assert_eq!(
        app.admin("{ coupon(code: \"del1\") { id } }", json!({}))
            .await["coupon"],
        Value::Null
    );
    // Its code is free again.
    create(&app, percent("DEL1")).await;

    let used = create(&app, percent("DEL2")).await;
    let id =
        coupons::ids::decode(coupons::ids::Kind::Coupon, used["id"].as_str().unwrap()).unwrap();
    app.sql(&format!(
        "UPDATE coupons SET redemption_count = 1 WHERE id = {id}"
    ))
    .await;
    let data = app.admin(DELETE, json!({ "id": used["id"] })).await;
    assert_eq!(data["deleteCoupon"]["deletedCouponId"], Value::Null);
    assert_eq!(
        data["deleteCoupon"]["userErrors"][0]["code"],
        "HAS_REDEMPTIONS"
    );
    assert!(
        data["deleteCoupon"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("archive")
    );
    assert_eq!(
        app.admin("{ coupon(code: \"DEL2\") { code } }", json!({}))
            .await["coupon"]["code"],
        "DEL2"
    );

    let again = app.admin(DELETE, json!({ "id": unused["id"] })).await;
    assert_eq!(again["deleteCoupon"]["userErrors"][0]["code"], "NOT_FOUND");
}
both_backends!(delete_is_refused_once_redeemed);

const ADD_CODES: &str = r#"
mutation($input: AddCodesInput!) {
  addCodes(input: $input) {
    coupon { id code }
    codes { id code usageLimit redemptionCount active }
    userErrors { field code message }
  }
}"#;

async fn add_codes_is_all_or_nothing(app: TestApp) {
    let c = create(&app, percent("MAIN")).await;
    let other = create(&app, percent("OTHER")).await;
    let id = c["id"].clone();
    let data = app.admin(ADD_CODES, json!({ "input": { "couponId": id, "codes": ["flyer-1", " Flyer-2", "FLYER_3"], "usageLimit": 1 } })).await;
    let p = &data["addCodes"];
    assert_eq!(p["userErrors"], json!([]));
    let codes: Vec<&str> = p["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["FLYER-1", "FLYER-2", "FLYER_3"]);
    assert!(
        p["codes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["usageLimit"] == 1 && c["active"] == true)
    );
    assert_eq!(p["coupon"]["code"], "MAIN");
    for code in ["flyer-2", "FLYER_3"] {
        let q = app
            .admin(
                "query($c: String) { coupon(code: $c) { id } }",
                json!({ "c": code }),
            )
            .await;
        assert_eq!(q["coupon"]["id"], id);
    }
    let listed = app.admin("query($id: ID) { coupon(id: $id) { codes(first: 2) { edges { node { code } } pageInfo { hasNextPage } } } }", json!({ "id": id })).await;
    assert_eq!(
        listed["coupon"]["codes"]["edges"][1]["node"]["code"],
        "FLYER-1"
    );
    assert_eq!(listed["coupon"]["codes"]["pageInfo"]["hasNextPage"], true);

    let before = app.count("coupon_codes").await;
    let long = "X".repeat(65);
    let many: Vec<String> = (0..1001).map(|i| format!("BULK{i}")).collect();
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            json!({ "couponId": id, "codes": ["NEW-A", "new-a"] }),
            json!(["input", "codes", "1"]),
            "DUPLICATE_CODE",
        ),
        (
            json!({ "couponId": id, "codes": ["NEW-B", "other"] }),
            json!(["input", "codes", "1"]),
            "CODE_TAKEN",
        ),
        (
            json!({ "couponId": id, "codes": ["NEW-C", "bad code"] }),
            json!(["input", "codes", "1"]),
            "INVALID_CODE",
        ),
        (
            json!({ "couponId": id, "codes": ["NEW-D", long] }),
            json!(["input", "codes", "1"]),
            "CODE_TOO_LONG",
        ),
        (
            json!({ "couponId": id, "codes": [] }),
            json!(["input", "codes"]),
            "TOO_FEW",
        ),
        (
            json!({ "couponId": id, "codes": many }),
            json!(["input", "codes"]),
            "TOO_MANY",
        ),
        (
            json!({ "couponId": id, "codes": ["NEW-E"], "usageLimit": 0 }),
            json!(["input", "usageLimit"]),
            "INVALID_LIMIT",
        ),
        (
            json!({ "couponId": "Q291cG9uOjk5OTk5", "codes": ["NEW-F"] }),
            json!(["input", "couponId"]),
            "NOT_FOUND",
        ),
        (
            json!({ "couponId": "garbage", "codes": ["NEW-G"] }),
            json!(["input", "couponId"]),
            "NOT_FOUND",
        ),
    ];
    for (input, field, code) in cases {
        let data = app.admin(ADD_CODES, json!({ "input": input })).await;
        let errors = data["addCodes"]["userErrors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{code}: {errors:#?}");
        assert_eq!(
            (&errors[0]["field"], errors[0]["code"].as_str().unwrap()),
            (&field, code)
        );
        assert_eq!(data["addCodes"]["codes"], json!([]));
    }
    assert_eq!(app.count("coupon_codes").await, before);
    let _ = other;
}
both_backends!(add_codes_is_all_or_nothing);

/// Many admins creating the same code at once: exactly one wins, the others get
/// CODE_TAKEN, and nothing fails with a server error.
async fn concurrent_creates_of_one_code_give_one_coupon(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let input = json!({ "name": format!("Race {i}"), "code": "RACE", "discount": { "percentage": "5" } });
                app.request(Some(&app.admin), CREATE, json!({ "input": input })).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        let response = t.await.unwrap();
        let payload = &response.data()["createCoupon"];
        if payload["coupon"].is_object() {
            won += 1;
        } else {
            assert_eq!(
                payload["userErrors"][0]["code"], "CODE_TAKEN",
                "{payload:#}"
            );
        }
    }
    assert_eq!(won, 1);
    assert_eq!(app.count("coupons").await, 1);
    assert_eq!(app.count("coupon_codes").await, 1);
}
both_backends!(concurrent_creates_of_one_code_give_one_coupon);

fn configured_defaults() -> crate::harness::Options {
    use coupons::service::coupons::CouponDefaults;
    use coupons_domain::defaults::{CodeFormat, DiscountType};
    crate::harness::Options {
        coupon_defaults: Some(CouponDefaults {
            code_format: CodeFormat::parse("WELCOME-{8!}").unwrap(),
            per_customer_limit: Some(2),
            discount_type: DiscountType::FixedAmount,
            currency: Some("EUR".into()),
            allowed_email_domains: vec!["acme.com".into(), "*.acme.com".into()],
            ..Default::default()
        }),
        ..crate::harness::Options::default()
    }
}

/// The server's coupon defaults fill what `createCoupon` leaves out, and only that.
async fn configured_defaults_fill_what_is_left_out(app: TestApp) {
    const MADE: &str = "mutation($input: CreateCouponInput!) { createCoupon(input: $input) {
        coupon { code perCustomerLimit discount { type amount { amount currency } } rules { name params } }
        userErrors { field code } } }";
    let made = app
        .admin(
            MADE,
            json!({ "input": { "name": "Welcome", "discount": { "value": "5" } } }),
        )
        .await;
    let c = &made["createCoupon"]["coupon"];
    let code = c["code"].as_str().unwrap();
    let pattern = coupons_domain::CodePattern::new("WELCOME-", "", 8, None, true).unwrap();
    assert!(pattern.matches(code), "{code}");
    assert_eq!(c["perCustomerLimit"], 2);
    assert_eq!(
        c["discount"]["amount"],
        json!({ "amount": "5.00", "currency": "EUR" })
    );
    assert_eq!(
        c["rules"],
        json!([{ "name": "allowed_email_domains", "params": { "domains": ["acme.com", "*.acme.com"] } }])
    );
    // The rule applies: other domains are refused.
    let check = |email: &str| json!({ "input": { "code": code, "order": { "id": "o", "currency": "EUR", "subtotal": "50", "customer": { "email": email } } } });
    let other = app
        .admin(
            "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid } }",
            check("a@gmail.com"),
        )
        .await;
    assert_eq!(other["validateCoupon"]["valid"], false);
    let ours = app
        .admin(
            "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid } }",
            check("a@eu.acme.com"),
        )
        .await;
    assert_eq!(ours["validateCoupon"]["valid"], true);

    // What the caller gives wins: a code, null for no limit, [] for no rules.
    let given = app
        .admin(
            MADE,
            json!({ "input": { "name": "Given", "code": "GIVEN", "perCustomerLimit": null, "rules": [],
                "discount": { "percentage": "10" } } }),
        )
        .await;
    let g = &given["createCoupon"]["coupon"];
    assert_eq!(
        (
            g["code"].clone(),
            g["perCustomerLimit"].clone(),
            g["rules"].clone()
        ),
        (json!("GIVEN"), Value::Null, json!([]))
    );
    // A bare value beside a percentage is ambiguous.
    let both = app
        .admin(
            MADE,
            json!({ "input": { "name": "Both", "discount": { "value": "5", "percentage": "10" } } }),
        )
        .await;
    assert_eq!(
        both["createCoupon"]["userErrors"],
        json!([{ "field": ["input", "discount"], "code": "DISCOUNT_KIND_AMBIGUOUS" }])
    );
}
both_backends!(
    configured_defaults_fill_what_is_left_out,
    super::configured_defaults()
);

/// A coupon's dates in its time zone: "1 to 31 December in Berlin" runs from Berlin
/// midnight to Berlin midnight, shown back in Berlin time beside UTC; across a clock
/// change the offset follows the date; an unknown zone, or a day beside an instant, is
/// refused; a new zone keeps the instants and shows them in the new zone.
async fn dates_are_read_and_shown_in_the_coupon_time_zone(app: TestApp) {
    const FIELDS: &str = "id timeZone startsAt expiresAt startsAtLocal expiresAtLocal";
    let berlin = create(
        &app,
        json!({ "name": "December", "code": "DEC26", "discount": { "percentage": "10" },
                "timeZone": "Europe/Berlin", "startsOn": "2026-12-01", "endsOn": "2026-12-31" }),
    )
    .await;
    let read = app
        .admin(
            &format!("query($id: ID) {{ coupon(id: $id) {{ {FIELDS} }} }}"),
            json!({ "id": berlin["id"] }),
        )
        .await;
    assert_eq!(
        read["coupon"],
        json!({ "id": berlin["id"], "timeZone": "Europe/Berlin",
                "startsAt": "2026-11-30T23:00:00Z", "expiresAt": "2026-12-31T23:00:00Z",
                "startsAtLocal": "2026-12-01T00:00:00+01:00",
                "expiresAtLocal": "2027-01-01T00:00:00+01:00" })
    );
    let summer = create(
        &app,
        json!({ "name": "Fourth", "code": "JULY4", "discount": { "percentage": "10" },
                "timeZone": "America/New_York", "startsOn": "2027-03-01", "endsOn": "2027-07-04" }),
    )
    .await;
    let read = app
        .admin(
            &format!("query($id: ID) {{ coupon(id: $id) {{ {FIELDS} }} }}"),
            json!({ "id": summer["id"] }),
        )
        .await;
    assert_eq!(read["coupon"]["startsAt"], "2027-03-01T05:00:00Z");
    assert_eq!(read["coupon"]["expiresAt"], "2027-07-05T04:00:00Z");
    assert_eq!(
        read["coupon"]["expiresAtLocal"],
        "2027-07-05T00:00:00-04:00"
    );

    let bad = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { userErrors { field code } } }",
            json!({ "input": { "name": "Bad", "code": "BADTZ", "discount": { "percentage": "10" },
                "timeZone": "Mars/Olympus", "startsAt": "2026-12-01T00:00:00Z", "startsOn": "2026-12-01" } }),
        )
        .await;
    assert_eq!(
        bad["createCoupon"]["userErrors"],
        json!([
            { "field": ["input", "timeZone"], "code": "UNKNOWN_TIME_ZONE" },
            { "field": ["input", "startsAt"], "code": "INVALID_LIMIT" }
        ])
    );

    let moved = app
        .admin(
            &format!("mutation($id: ID!) {{ updateCoupon(input: {{ id: $id, timeZone: \"Asia/Tokyo\" }}) {{ coupon {{ {FIELDS} }} userErrors {{ code }} }} }}"),
            json!({ "id": berlin["id"] }),
        )
        .await;
    assert_eq!(
        moved["updateCoupon"]["coupon"]["expiresAt"],
        "2026-12-31T23:00:00Z"
    );
    assert_eq!(
        moved["updateCoupon"]["coupon"]["expiresAtLocal"], "2027-01-01T08:00:00+09:00",
        "{moved:#}"
    );
}
both_backends!(dates_are_read_and_shown_in_the_coupon_time_zone);
