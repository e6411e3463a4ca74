//! Authentication and the role matrix: every query and mutation against every role.

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

/// What a caller should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    Unauthenticated,
}

/// What an operation can point at: made fresh for every call.
struct Fixture {
    /// A bulk job (generating one code for `spare`).
    job: Value,
    coupon: Value,
    /// A coupon never redeemed (for deleting).
    spare: Value,
    code: String,
    reservation: Value,
    redemption: Value,
    key: Value,
    endpoint: Value,
    delivery: Value,
    campaign: Value,
    /// An open abuse signal.
    signal: Value,
    n: usize,
}

/// One operation, with a variables builder.
struct Operation {
    name: &'static str,
    query: &'static str,
    variables: fn(&Fixture) -> Value,
    roles: &'static [Role],
}

fn order(id: &str) -> Value {
    json!({ "id": id, "currency": "USD", "subtotal": "50" })
}

fn operations() -> Vec<Operation> {
    use Role::{Admin, Analyst, Public, Storefront};
    vec![
        Operation {
            name: "node",
            query: "query($id: ID!) { node(id: $id) { id } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "coupon",
            query: "query($id: ID) { coupon(id: $id) { id } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "coupons",
            query: "{ coupons { edges { node { id } } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "validateCoupon",
            query: "query($code: String!, $o: OrderInput!) { validateCoupon(input: { code: $code, order: $o }) { valid userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order("v") }),
            roles: &[Admin, Storefront, Public],
        },
        Operation {
            name: "validateCart",
            query: "query($code: String!, $o: OrderInput!) { validateCart(input: { codes: [$code], order: $o }) { valid userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order("v") }),
            roles: &[Admin, Storefront, Public],
        },
        Operation {
            name: "redemptions",
            query: "{ redemptions { nodes { id } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "rules",
            query: "{ rules { name } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "rule",
            query: "{ rule(name: \"matrix_rule\") { name } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "apiKeys",
            query: "{ apiKeys { nodes { id } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "auditLog",
            query: "{ auditLog { edges { node { action } } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "checkRuleSource",
            query: "{ checkRuleSource(source: \"fn check(ctx, params) { pass() }\") { ok } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "balanceAssertions",
            query: "{ balanceAssertions { balanced } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "couponReport",
            query: "query($id: ID!) { couponReport(couponId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { totals { redemptions } } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "campaignReport",
            query: "query($id: ID!) { campaignReport(campaignId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { totals { redemptions } } }",
            variables: |f| json!({ "id": f.campaign }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "bulkJob",
            query: "query($id: ID!) { bulkJob(id: $id) { status } }",
            variables: |f| json!({ "id": f.job }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "bulkJobs",
            query: "{ bulkJobs { nodes { id } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "abuseSignals",
            query: "{ abuseSignals { nodes { id kind } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "campaigns",
            query: "{ campaigns { nodes { id } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "campaign",
            query: "query($id: ID!) { campaign(id: $id) { name } }",
            variables: |f| json!({ "id": f.campaign }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "webhookEndpoints",
            query: "{ webhookEndpoints { nodes { id } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "webhookDeliveries",
            query: "{ webhookDeliveries(first: 5) { nodes { id status } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "viewer",
            query: "{ viewer { role } }",
            variables: |_| json!({}),
            roles: &Role::ALL,
        },
        Operation {
            name: "createCoupon",
            query: "mutation { createCoupon(input: { name: \"x\", discount: { percentage: \"5\" } }) { coupon { id } userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "updateCoupon",
            query: "mutation($id: ID!) { updateCoupon(input: { id: $id, name: \"y\" }) { coupon { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin],
        },
        Operation {
            name: "setCouponStatus",
            query: "mutation($id: ID!) { setCouponStatus(input: { id: $id, status: PAUSED }) { coupon { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin],
        },
        Operation {
            name: "deleteCoupon",
            query: "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { deletedCouponId userErrors { code } } }",
            variables: |f| json!({ "id": f.spare }),
            roles: &[Admin],
        },
        Operation {
            name: "addCodes",
            query: "mutation($id: ID!, $code: String!) { addCodes(input: { couponId: $id, codes: [$code] }) { codes { code } userErrors { code } } }",
            variables: |f| json!({ "id": f.coupon, "code": format!("{}-MORE", f.code) }),
            roles: &[Admin],
        },
        Operation {
            name: "reserveCoupon",
            query: "mutation($code: String!, $o: OrderInput!, $k: String!) { reserveCoupon(input: { code: $code, order: $o, idempotencyKey: $k }) { reservation { id } userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order(&format!("res-{}", f.n)), "k": format!("res-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "reserveCart",
            query: "mutation($code: String!, $o: OrderInput!, $k: String!) { reserveCart(input: { codes: [$code], order: $o, idempotencyKey: $k }) { redemptions { id } userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order(&format!("cart-res-{}", f.n)), "k": format!("cart-res-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "redeemCart",
            query: "mutation($code: String!, $o: OrderInput!, $k: String!) { redeemCart(input: { codes: [$code], order: $o, idempotencyKey: $k }) { redemptions { id } userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order(&format!("cart-red-{}", f.n)), "k": format!("cart-red-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "releaseCart",
            query: "mutation($o: String!) { releaseCart(input: { orderId: $o }) { redemptions { id } userErrors { code } } }",
            variables: |f| json!({ "o": format!("cart-res-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "reverseCart",
            query: "mutation($o: String!, $k: String!) { reverseCart(input: { orderId: $o, idempotencyKey: $k }) { redemptions { id } userErrors { code } } }",
            variables: |f| json!({ "o": format!("cart-red-{}", f.n), "k": format!("cart-rev-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "redeemCoupon",
            query: "mutation($id: ID!, $k: String!) { redeemCoupon(input: { reservationId: $id, idempotencyKey: $k }) { redemption { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.reservation, "k": format!("red-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "releaseReservation",
            query: "mutation($id: ID!) { releaseReservation(input: { reservationId: $id }) { reservation { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.reservation }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "reverseRedemption",
            query: "mutation($id: ID!, $k: String!) { reverseRedemption(input: { redemptionId: $id, idempotencyKey: $k }) { redemption { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.redemption, "k": format!("rev-{}", f.n) }),
            roles: &[Admin, Storefront],
        },
        Operation {
            name: "publishRule",
            query: "mutation { publishRule(input: { name: \"matrix_rule\", source: \"fn check(ctx, params) { pass() }\" }) { rule { name } userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "rollbackRule",
            query: "mutation { rollbackRule(input: { name: \"matrix_rule\", version: 1 }) { rule { name } userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "simulateRules",
            query: "mutation($code: String!, $o: OrderInput!) { simulateRules(input: { code: $code, order: $o }) { reasons { code } userErrors { code } } }",
            variables: |f| json!({ "code": f.code, "o": order("sim") }),
            roles: &[Admin],
        },
        Operation {
            name: "createApiKey",
            query: "mutation { createApiKey(input: { name: \"k\", role: PUBLIC }) { secret userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "revokeApiKey",
            query: "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.key }),
            roles: &[Admin],
        },
        Operation {
            name: "generateCodes",
            query: "mutation($id: ID!) { generateCodes(input: { couponId: $id, count: 1, pattern: { length: 12 } }) { job { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.spare }),
            roles: &[Admin],
        },
        Operation {
            name: "setAbuseAction",
            query: "mutation($id: ID!) { setAbuseAction(input: { couponId: $id, action: ALERT }) { action userErrors { code } } }",
            variables: |f| json!({ "id": f.coupon }),
            roles: &[Admin],
        },
        Operation {
            name: "resolveAbuseSignal",
            query: "mutation($id: ID!) { resolveAbuseSignal(input: { id: $id }) { undone userErrors { code } } }",
            variables: |f| json!({ "id": f.signal }),
            roles: &[Admin],
        },
        Operation {
            name: "cancelBulkJob",
            query: "mutation($id: ID!) { cancelBulkJob(input: { id: $id }) { job { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.job }),
            roles: &[Admin],
        },
        Operation {
            name: "createCampaign",
            query: "mutation { createCampaign(input: { name: \"c\" }) { campaign { id } userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "updateCampaign",
            query: "mutation($id: ID!) { updateCampaign(input: { id: $id, name: \"renamed\" }) { campaign { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.campaign }),
            roles: &[Admin],
        },
        Operation {
            name: "setCouponCampaign",
            query: "mutation($c: ID!, $k: ID) { setCouponCampaign(input: { couponId: $c, campaignId: $k }) { coupon { id } userErrors { code } } }",
            variables: |f| json!({ "c": f.coupon, "k": f.campaign }),
            roles: &[Admin],
        },
        Operation {
            name: "createWebhookEndpoint",
            query: "mutation { createWebhookEndpoint(input: { url: \"https://example.com/h\" }) { secret userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "updateWebhookEndpoint",
            query: "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, active: false }) { webhookEndpoint { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.endpoint }),
            roles: &[Admin],
        },
        Operation {
            name: "deleteWebhookEndpoint",
            query: "mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { deletedId userErrors { code } } }",
            variables: |f| json!({ "id": f.endpoint }),
            roles: &[Admin],
        },
        Operation {
            name: "redeliverWebhook",
            query: "mutation($id: ID!) { redeliverWebhook(input: { deliveryId: $id }) { webhookDelivery { id } userErrors { code } } }",
            variables: |f| json!({ "id": f.delivery }),
            roles: &[Admin],
        },
        Operation {
            name: "rotateApiKey",
            query: "mutation($id: ID!) { rotateApiKey(input: { id: $id }) { secret userErrors { code } } }",
            variables: |f| json!({ "id": f.key }),
            roles: &[Admin],
        },
    ]
}

/// The root fields of `type $name` in `schema.graphql`.
fn root_fields(type_name: &str) -> Vec<String> {
    let sdl = include_str!("../../schema.graphql");
    let start = sdl
        .find(&format!("type {type_name} {{"))
        .unwrap_or_else(|| panic!("no type {type_name}"));
    let body = &sdl[start..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut in_description = false;
    body.lines()
        .skip(1)
        .filter(|l| {
            let quotes = l.matches("\"\"\"").count();
            let inside = in_description || quotes > 0;
            if quotes % 2 == 1 {
                in_description = !in_description;
            }
            !inside && l.starts_with('\t') && !l.starts_with("\t\t") && !l.trim().starts_with('"')
        })
        .filter_map(|l| {
            let name: String = l
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// Every query and mutation in the schema has a row in the matrix.
#[test]
fn the_matrix_covers_every_root_field() {
    let covered: Vec<&str> = operations().iter().map(|o| o.name).collect();
    let fields: Vec<String> = root_fields("Query")
        .into_iter()
        .chain(root_fields("Mutation"))
        .collect();
    assert!(fields.len() > 20, "{fields:?}");
    for field in &fields {
        assert!(
            covered.contains(&field.as_str()),
            "{field} is not in the role matrix"
        );
    }
}

async fn fixture(app: &TestApp, n: usize) -> Fixture {
    let code = format!("ROLE{n}");
    // An endpoint nobody listens on, with one delivery (of the coupon created next).
    let endpoint = app
        .admin(
            "mutation { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/hook\", eventTypes: [COUPON_CREATED] }) { webhookEndpoint { id } } }",
            json!({}),
        )
        .await["createWebhookEndpoint"]["webhookEndpoint"]["id"]
        .clone();
    let coupon = crate::coupons::create(
        app,
        json!({ "name": "m", "code": code, "discount": { "percentage": "5" } }),
    )
    .await;
    let reserve = "mutation($code: String!, $o: OrderInput!, $k: String!) { reserveCoupon(input: { code: $code, order: $o, idempotencyKey: $k }) { reservation { id } } }";
    let redeem = "mutation($code: String!, $o: OrderInput!, $k: String!) { redeemCoupon(input: { code: $code, order: $o, idempotencyKey: $k }) { redemption { id } } }";
    let vars =
        |k: &str| json!({ "code": code, "o": order(&format!("{k}-{n}")), "k": format!("{k}-{n}") });
    let reservation =
        app.admin(reserve, vars("fixture-res")).await["reserveCoupon"]["reservation"]["id"].clone();
    let redemption =
        app.admin(redeem, vars("fixture-red")).await["redeemCoupon"]["redemption"]["id"].clone();
    let key = app
        .admin("mutation { createApiKey(input: { name: \"target\", role: ANALYST }) { apiKey { id } } }", json!({}))
        .await["createApiKey"]["apiKey"]["id"]
        .clone();
    assert!(reservation.is_string() && redemption.is_string() && key.is_string());
    let spare = crate::coupons::create(
        app,
        json!({ "name": "spare", "discount": { "percentage": "5" } }),
    )
    .await;
    coupons::service::webhooks::fan_out(&app.db, chrono::Utc::now())
        .await
        .unwrap();
    let endpoint_id = coupons::ids::decode(
        coupons::ids::Kind::WebhookEndpoint,
        endpoint.as_str().unwrap(),
    )
    .unwrap();
    let filter = coupons::storage::DeliveryFilter {
        endpoint_id: Some(endpoint_id),
        ..Default::default()
    };
    let deliveries = app.webhook_deliveries(&filter, None, 1).await.unwrap();
    let delivery = json!(coupons::ids::encode(
        coupons::ids::Kind::WebhookDelivery,
        deliveries[0].0.id
    ));
    let campaign = app
        .admin(
            "mutation { createCampaign(input: { name: \"matrix\" }) { campaign { id } } }",
            json!({}),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let job = app
        .admin(
            "mutation($id: ID!) { generateCodes(input: { couponId: $id, count: 1, pattern: { length: 12 } }) { job { id } } }",
            json!({ "id": spare["id"] }),
        )
        .await["generateCodes"]["job"]["id"]
        .clone();
    let new = coupons::storage::abuse::NewSignal {
        kind: "VELOCITY",
        scope: format!("matrix:{n}"),
        coupon_id: None,
        evidence: json!({}),
        flagged: json!([]),
        action: "ALERT",
    };
    let now = chrono::Utc::now();
    let raised = app
        .db
        .write(async |mut c| {
            coupons::storage::abuse::raise(&mut c, &new, now - chrono::Duration::hours(1), now)
                .await
        })
        .await
        .unwrap()
        .unwrap();
    let signal = json!(coupons::ids::encode(
        coupons::ids::Kind::AbuseSignal,
        raised.id
    ));
    Fixture {
        job,
        campaign,
        signal,
        endpoint,
        delivery,
        coupon: coupon["id"].clone(),
        spare: spare["id"].clone(),
        code,
        reservation,
        redemption,
        key,
        n,
    }
}

async fn role_matrix(app: TestApp) {
    let mut callers: Vec<(String, Option<String>, Option<Role>)> =
        vec![("anonymous".into(), None, None)];
    for role in Role::ALL {
        callers.push((role.to_string(), Some(app.key(role).await), Some(role)));
    }
    callers.push((
        "COUPONS_ADMIN_KEY".into(),
        Some("scripted-setup-admin-key-0123456789abcdef".into()),
        Some(Role::Admin),
    ));
    app.admin(
        operations()
            .iter()
            .find(|o| o.name == "publishRule")
            .unwrap()
            .query,
        json!({}),
    )
    .await;

    let mut n = 0;
    for op in operations() {
        for (who, key, role) in &callers {
            // Fresh targets per call, so destructive operations have one.
            n += 1;
            let f = fixture(&app, n).await;
            let expected = match role {
                None => Outcome::Unauthenticated,
                Some(r) if op.roles.contains(r) => Outcome::Allowed,
                Some(_) => Outcome::Forbidden,
            };
            let response = app
                .request(key.as_deref(), op.query, (op.variables)(&f))
                .await;
            let got = match response.error_code() {
                None => Outcome::Allowed,
                Some("FORBIDDEN") => Outcome::Forbidden,
                Some("UNAUTHENTICATED") => Outcome::Unauthenticated,
                Some(other) => panic!(
                    "{} as {who}: unexpected {other}: {:#}",
                    op.name, response.body
                ),
            };
            assert_eq!(got, expected, "{} as {who}: {:#}", op.name, response.body);
            if got == Outcome::Allowed {
                let field = response
                    .data()
                    .as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap();
                assert!(!field.is_null(), "{} as {who}", op.name);
                if let Some(errors) = field.get("userErrors") {
                    assert_eq!(errors, &json!([]), "{} as {who}", op.name);
                }
            } else {
                assert_eq!(response.body["errors"].as_array().unwrap().len(), 1);
            }
        }
    }
}
// No bulk-job worker: the fixtures' jobs stay queued, so cancelling one succeeds.
both_backends!(
    role_matrix,
    crate::harness::Options {
        admin_key: Some("scripted-setup-admin-key-0123456789abcdef".into()),
        without_job_worker: true,
        ..crate::harness::Options::default()
    }
);

async fn bad_credentials_are_refused_with_401(app: TestApp) {
    for key in ["cpn_wrong", "not even a key", ""] {
        let response = app
            .request(Some(key), "{ viewer { role } }", json!({}))
            .await;
        assert_eq!(response.status, 401, "{key:?}");
        assert_eq!(response.error_code(), Some("UNAUTHENTICATED"));
        assert_eq!(response.body["data"], Value::Null);
    }
    // A key revoked behind the service's back (in the database) stops working once the
    // key cache reads it again.
    let key = app.key(Role::Analyst).await;
    let ok = app
        .request(Some(&key), "{ viewer { role name keyPrefix } }", json!({}))
        .await;
    assert_eq!(ok.data()["viewer"]["role"], "ANALYST");
    assert_eq!(ok.data()["viewer"]["keyPrefix"], key[..12]);
    app.sql("UPDATE api_keys SET revoked_at = created_at WHERE name = 'test analyst'")
        .await;
    tokio::time::sleep(coupons::cache::KEY_MAX_AGE).await;
    assert_eq!(
        app.request(Some(&key), "{ viewer { role } }", json!({}))
            .await
            .status,
        401
    );
}
both_backends!(bad_credentials_are_refused_with_401);

/// Each refusal says what is wrong and how to fix it, and no more: a missing key (how to
/// send one), an unknown, a revoked and an expired key (each by name), and a role that
/// may not use a field (which roles may).
async fn refusals_say_what_is_wrong(app: TestApp) {
    let ask = async |key: Option<&str>| app.request(key, "{ viewer { role } }", json!({})).await;
    let message = |r: &crate::harness::Response| {
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let missing = ask(None).await;
    assert_eq!(
        (missing.status.as_u16(), missing.error_code()),
        (401, Some("UNAUTHENTICATED"))
    );
    assert!(
        message(&missing).contains("Authorization: Bearer <API key>"),
        "{:#}",
        missing.body
    );
    assert!(missing.body.get("data").is_none_or(Value::is_null));

    let unknown = ask(Some("cpn_0123456789abcdefghijklmnopqrstuv")).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(message(&unknown), "this API key is not known");

    let revoked = app.key(Role::Analyst).await;
    app.sql("UPDATE api_keys SET revoked_at = created_at WHERE name = 'test analyst'")
        .await;
    let r = ask(Some(&revoked)).await;
    assert_eq!(
        (r.status.as_u16(), message(&r)),
        (401, "this API key was revoked".to_owned())
    );

    let expired = app.key(Role::Storefront).await;
    app.sql("UPDATE api_keys SET expires_at = created_at WHERE name = 'test storefront'")
        .await;
    let r = ask(Some(&expired)).await;
    assert_eq!(r.status, 401);
    assert!(
        message(&r).starts_with("this API key has expired"),
        "{:#}",
        r.body
    );

    let public = app.key(Role::Public).await;
    let r = app
        .request(
            Some(&public),
            "{ coupons(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.error_code(), Some("FORBIDDEN"));
    assert_eq!(
        message(&r),
        "this API key's role may not use this field; it is for admin, analyst keys"
    );
}
both_backends!(refusals_say_what_is_wrong);

async fn created_keys_work_and_only_hashes_are_stored(app: TestApp) {
    let data = app.admin("mutation { createApiKey(input: { name: \"Shop\", role: STOREFRONT }) { apiKey { name role prefix } secret } }", json!({})).await;
    let secret = data["createApiKey"]["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("cpn_") && secret.len() >= 4 + 22,
        "{secret}"
    );
    assert_eq!(data["createApiKey"]["apiKey"]["prefix"], secret[..12]);
    let me = app
        .request(Some(&secret), "{ viewer { role name } }", json!({}))
        .await;
    assert_eq!(
        me.data()["viewer"],
        json!({ "role": "STOREFRONT", "name": "Shop" })
    );
    // The secret is nowhere in the table.
    let leaked = app
        .count(&format!(
            "api_keys WHERE secret_hash = '{secret}' OR prefix = '{secret}' OR name = '{secret}'"
        ))
        .await;
    assert_eq!(leaked, 0);
    let blank = app.admin("mutation { createApiKey(input: { name: \"  \", role: PUBLIC }) { secret userErrors { field code } } }", json!({})).await;
    assert_eq!(blank["createApiKey"]["userErrors"][0]["code"], "BLANK");
    assert_eq!(blank["createApiKey"]["secret"], Value::Null);
}
both_backends!(created_keys_work_and_only_hashes_are_stored);

/// Several instances starting together on one empty database create one first key.
async fn first_admin_key_is_created_once(app: TestApp) {
    app.sql("DELETE FROM api_keys").await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let db = app.db.clone();
            tokio::spawn(async move { coupons::auth::create_first_admin_key(&db).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.count("api_keys").await, 1);
    // Never again, even once the keys are gone.
    app.sql("DELETE FROM api_keys").await;
    assert!(
        coupons::auth::create_first_admin_key(&app.db)
            .await
            .unwrap()
            .is_none()
    );
}
both_backends!(first_admin_key_is_created_once);

async fn health_and_graphiql(app: TestApp) {
    assert_eq!(
        app.get("/healthz").await,
        (axum::http::StatusCode::OK, "ok".into())
    );
    assert_eq!(app.get("/readyz").await.0, 200);
    let (status, page) = app.get("/graphql").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("GraphiQL.createFetcher({ url: \"/graphql\" })"),
        "{page}"
    );
    // Works offline: nothing is loaded from another host.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    assert_eq!(assets.len(), 4, "{assets:?}");
    for asset in assets {
        let (status, body) = app.get(asset).await;
        assert_eq!(status, 200, "{asset}");
        assert!(body.len() > 5_000, "{asset}");
    }
    // `/` says where things are, and every link on it answers.
    let (status, home) = app.get("/").await;
    assert_eq!(status, 200);
    let links: Vec<&str> = home
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(
        links,
        [
            "/admin",
            "/graphql",
            "/schema.graphql",
            "/api/docs",
            "/openapi.json",
            "/widget.js",
            "/healthz",
            "/readyz"
        ]
    );
    for link in links {
        assert_eq!(app.get(link).await.0, 200, "{link}");
    }
    let (_, sdl) = app.get("/schema.graphql").await;
    assert_eq!(sdl, coupons::graphql::sdl());
}
both_backends!(health_and_graphiql);
