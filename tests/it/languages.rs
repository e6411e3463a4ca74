//! Messages in the shopper's language: `Accept-Language` picks the catalogue a
//! rejection's message comes from; codes stay the same, and an unknown code reads the
//! same as one switched off.

use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::{REDEEM, order, redeem_input};
use crate::coupons::create;
use crate::harness::TestApp;

const VALIDATE: &str = "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid reasons { code message } } }";

/// A storefront's call with an `Accept-Language` header (or none): its `data`.
async fn storefront(app: &TestApp, language: Option<&str>, query: &str, variables: Value) -> Value {
    let key = app.key(Role::Storefront).await;
    let headers: Vec<(&str, &str)> = language
        .map(|l| vec![("accept-language", l)])
        .unwrap_or_default();
    let body = json!({ "query": query, "variables": variables }).to_string();
    let response = app.post(Some(&key), &headers, body).await;
    assert!(response.body.get("errors").is_none(), "{:#}", response.body);
    response.body["data"].clone()
}

async fn reason(app: &TestApp, language: Option<&str>, code: &str) -> (String, String) {
    let data = storefront(
        app,
        language,
        VALIDATE,
        json!({ "input": { "code": code, "order": order("lang-1", "ann@example.com", "50.00") } }),
    )
    .await;
    let r = &data["validateCoupon"]["reasons"][0];
    (
        r["code"].as_str().unwrap().to_owned(),
        r["message"].as_str().unwrap().to_owned(),
    )
}

async fn rejections_speak_the_shopper_s_language(app: TestApp) {
    create(
        &app,
        json!({ "name": "Old", "code": "OLDIE", "discount": { "percentage": "10" },
                "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2020-02-01T00:00:00Z" }),
    )
    .await;
    create(
        &app,
        json!({ "name": "Later", "code": "DRAFTY", "status": "DRAFT", "discount": { "percentage": "10" } }),
    )
    .await;

    let german = Some("de-DE,de;q=0.9,en;q=0.5");
    assert_eq!(
        reason(&app, german, "OLDIE").await,
        ("EXPIRED".into(), "dieser Gutschein ist abgelaufen".into())
    );
    assert_eq!(
        reason(&app, None, "OLDIE").await,
        ("EXPIRED".into(), "this coupon has expired".into())
    );
    assert_eq!(
        reason(&app, Some("es"), "OLDIE").await.1,
        "este cupón ha caducado"
    );
    // A language not shipped falls back to English.
    assert_eq!(
        reason(&app, Some("pt-BR"), "OLDIE").await.1,
        "this coupon has expired"
    );
    // Unknown and switched off read the same, in every language.
    let unknown = reason(&app, german, "NO-SUCH-CODE").await;
    assert_eq!(
        unknown,
        (
            "NOT_FOUND".into(),
            "diesen Gutscheincode gibt es nicht".into()
        )
    );
    assert_eq!(reason(&app, german, "DRAFTY").await, unknown);

    // A refused redemption's userErrors too.
    let data = storefront(
        &app,
        Some("fr-CH, fr;q=0.9"),
        REDEEM,
        redeem_input(
            "OLDIE",
            order("lang-2", "ann@example.com", "50.00"),
            "lang-2",
        ),
    )
    .await;
    let error = &data["redeemCoupon"]["userErrors"][0];
    assert_eq!(error["code"], "EXPIRED");
    assert_eq!(error["message"], "ce bon de réduction a expiré");
}

both_backends!(rejections_speak_the_shopper_s_language);
