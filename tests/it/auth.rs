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

/// One operation, with a variables builder given a coupon ID.
struct Operation {
    name: &'static str,
    query: &'static str,
    variables: fn(&Value) -> Value,
    roles: &'static [Role],
}

fn operations() -> Vec<Operation> {
    use Role::{Admin, Analyst};
    vec![
        Operation {
            name: "node",
            query: "query($id: ID!) { node(id: $id) { id } }",
            variables: |id| json!({ "id": id }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "coupon",
            query: "query($id: ID) { coupon(id: $id) { id } }",
            variables: |id| json!({ "id": id }),
            roles: &[Admin, Analyst],
        },
        Operation {
            name: "coupons",
            query: "{ coupons { edges { node { id } } } }",
            variables: |_| json!({}),
            roles: &[Admin, Analyst],
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
            variables: |id| json!({ "id": id }),
            roles: &[Admin],
        },
        Operation {
            name: "setCouponStatus",
            query: "mutation($id: ID!) { setCouponStatus(input: { id: $id, status: ACTIVE }) { coupon { id } userErrors { code } } }",
            variables: |id| json!({ "id": id }),
            roles: &[Admin],
        },
        Operation {
            name: "addCodes",
            query: "mutation($id: ID!, $code: String!) { addCodes(input: { couponId: $id, codes: [$code] }) { codes { code } userErrors { code } } }",
            variables: |id| {
                let n = coupons::graphql::ids::decode(
                    coupons::graphql::ids::Kind::Coupon,
                    id.as_str().unwrap(),
                )
                .unwrap();
                json!({ "id": id, "code": format!("ROLE-{n}") })
            },
            roles: &[Admin],
        },
        Operation {
            name: "createApiKey",
            query: "mutation { createApiKey(input: { name: \"k\", role: PUBLIC }) { secret userErrors { code } } }",
            variables: |_| json!({}),
            roles: &[Admin],
        },
        Operation {
            name: "deleteCoupon",
            query: "mutation($id: ID!) { deleteCoupon(input: { id: $id }) { deletedCouponId userErrors { code } } }",
            variables: |id| json!({ "id": id }),
            roles: &[Admin],
        },
    ]
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

    for op in operations() {
        for (who, key, role) in &callers {
            // A fresh coupon per call, so destructive operations have a target.
            let coupon = crate::coupons::create(
                &app,
                json!({ "name": "m", "discount": { "percentage": "5" } }),
            )
            .await;
            let expected = match role {
                None => Outcome::Unauthenticated,
                Some(r) if op.roles.contains(r) => Outcome::Allowed,
                Some(_) => Outcome::Forbidden,
            };
            let response = app
                .request(key.as_deref(), op.query, (op.variables)(&coupon["id"]))
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
both_backends!(
    role_matrix,
    crate::harness::Options {
        admin_key: Some("scripted-setup-admin-key-0123456789abcdef".into()),
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
    // A revoked key stops working at once.
    let key = app.key(Role::Analyst).await;
    let ok = app
        .request(Some(&key), "{ viewer { role name keyPrefix } }", json!({}))
        .await;
    assert_eq!(ok.data()["viewer"]["role"], "ANALYST");
    assert_eq!(ok.data()["viewer"]["keyPrefix"], key[..12]);
    app.sql("UPDATE api_keys SET revoked_at = created_at WHERE name = 'test analyst'")
        .await;
    assert_eq!(
        app.request(Some(&key), "{ viewer { role } }", json!({}))
            .await
            .status,
        401
    );
}
both_backends!(bad_credentials_are_refused_with_401);

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
}
both_backends!(health_and_graphiql);
