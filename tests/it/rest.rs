//! The REST API under `/api`: the same use cases, keys, roles, limits, error codes and
//! audit entries as GraphQL, with problem+json errors, ETags, `If-Match` and
//! `Idempotency-Key` headers.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use coupons::auth::Role;
use coupons::service::limiter::{Budget, LimiterSettings};
use serde_json::{Value, json};

use crate::both_backends;
use crate::checkout::order;
use crate::harness::{Options, TestApp};

/// One REST call: status, headers, and the body as JSON (`null` when empty).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let (status, headers, text) = app.send(request.body(body).unwrap()).await;
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    if !status.is_success() {
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{status} {json:#}"
        );
        assert_eq!(json["status"], status.as_u16(), "{json:#}");
    }
    (status, headers, json)
}

fn etag(headers: &HeaderMap) -> String {
    headers["etag"].to_str().unwrap().to_owned()
}

async fn coupons_are_created_read_listed_and_changed_with_etags(app: TestApp) {
    let admin = app.admin.clone();
    let admin = Some(admin.as_str());
    let (status, headers, created) = call(
        &app,
        Method::POST,
        "/api/coupons",
        admin,
        &[],
        Some(json!({ "name": "Ten off", "code": "REST10", "discount": { "percentage": "10" }, "channels": ["web"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/api/coupons/{id}").as_str());
    assert_eq!(created["discount"]["percentage"], "10");
    assert_eq!(created["status"], "ACTIVE");
    let first = etag(&headers);
    let path = format!("/api/coupons/{id}");

    let (status, headers, read) = call(&app, Method::GET, &path, admin, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(etag(&headers), first);
    assert_eq!(read["name"], "Ten off");

    // The same coupon through GraphQL: one ID, one view.
    let data = app
        .admin(
            "query($id: ID!) { coupon(id: $id) { name channels } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["coupon"]["channels"], json!(["web"]));

    // A change needs the version it was read at.
    let patch = Some(json!({ "name": "Ten percent off" }));
    let (status, _, problem) = call(&app, Method::PATCH, &path, admin, &[], patch.clone()).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(problem["errors"][0]["field"], json!(["header", "If-Match"]));
    let (status, headers, changed) = call(
        &app,
        Method::PATCH,
        &path,
        admin,
        &[("if-match", &first)],
        patch,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed:#}");
    assert_eq!(changed["name"], "Ten percent off");
    assert_eq!(changed["channels"], json!(["web"]), "PATCH keeps the rest");
    let second = etag(&headers);
    assert_ne!(second, first);

    // A second admin still holding the first version is refused; nothing changes.
    let (status, _, problem) = call(
        &app,
        Method::PUT,
        &path,
        admin,
        &[("if-match", &first)],
        Some(json!({ "name": "Overwritten", "discount": { "percentage": "50" } })),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(problem["code"], "PRECONDITION_FAILED");
    let (_, headers, read) = call(&app, Method::GET, &path, admin, &[], None).await;
    assert_eq!(read["name"], "Ten percent off");
    assert_eq!(etag(&headers), second);

    // PUT replaces: what it leaves out is cleared.
    let (status, _, replaced) = call(
        &app,
        Method::PUT,
        &path,
        admin,
        &[("if-match", &second)],
        Some(json!({ "name": "Fifteen off", "discount": { "percentage": "15" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced:#}");
    assert_eq!(replaced["discount"]["percentage"], "15");
    assert_eq!(replaced["channels"], json!([]));

    // Invalid fields: the codes and paths of GraphQL's userErrors, under the body.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/coupons",
        admin,
        &[],
        Some(json!({ "name": "", "discount": { "percentage": "120" } })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let graphql = app
        .admin(
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { userErrors { field code } } }",
            json!({ "input": { "name": "", "discount": { "percentage": "120" } } }),
        )
        .await;
    let expected: Vec<Value> = graphql["createCoupon"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field: Vec<Value> = e["field"].as_array().unwrap()[1..].to_vec();
            json!({ "field": field, "code": e["code"] })
        })
        .collect();
    let got: Vec<Value> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({ "field": e["field"], "code": e["code"] }))
        .collect();
    assert_eq!(got, expected);
    assert!(got.contains(
        &json!({ "field": ["discount", "percentage"], "code": "PERCENTAGE_OUT_OF_RANGE" })
    ));
    // A field of the wrong name or type is named too.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/coupons",
        admin,
        &[],
        Some(json!({ "name": "X", "discount": { "percentage": "ten" } })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["errors"][0]["field"],
        json!(["discount", "percentage"])
    );
    // Not JSON at all.
    let request = Request::post("/api/coupons")
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "text/plain")
        .body(Body::from("name=x"))
        .unwrap();
    assert_eq!(
        app.send(request).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    // Listing pages with a cursor, newest first.
    for n in 0..2 {
        call(
            &app,
            Method::POST,
            "/api/coupons",
            admin,
            &[],
            Some(json!({ "name": format!("Page {n}"), "discount": { "percentage": "5" } })),
        )
        .await;
    }
    let (status, _, page) = call(&app, Method::GET, "/api/coupons?limit=2", admin, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["name"], "Page 1");
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let (_, _, rest) = call(
        &app,
        Method::GET,
        &format!("/api/coupons?limit=2&after={cursor}"),
        admin,
        &[],
        None,
    )
    .await;
    assert_eq!(rest["items"][0]["id"], id.as_str());
    assert_eq!(rest["nextCursor"], Value::Null);
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/api/coupons?limit=500",
        admin,
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The audit log has each REST change, by the key that made it.
    let audit = app
        .admin(
            "{ auditLog(first: 50) { nodes { action entityId actorRole } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = audit["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entityId"] == id.as_str())
        .inspect(|e| assert_eq!(e["actorRole"], "ADMIN"))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["COUPON_UPDATED", "COUPON_UPDATED", "COUPON_CREATED"]
    );

    // Roles: the GraphQL guards' lists.
    let storefront = app.key(Role::Storefront).await;
    let (status, _, problem) = call(&app, Method::GET, &path, Some(&storefront), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "FORBIDDEN");
    let analyst = app.key(Role::Analyst).await;
    assert_eq!(
        call(&app, Method::GET, &path, Some(&analyst), &[], None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _, _) = call(&app, Method::DELETE, &path, Some(&analyst), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, problem) = call(&app, Method::GET, &path, None, &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(problem["code"], "UNAUTHENTICATED");

    // Delete: refused once redeemed, as in GraphQL; an unused coupon goes.
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/api/redemptions",
        Some(&storefront),
        &[("idempotency-key", "del-1")],
        Some(json!({ "code": "rest10", "order": order("del-1", "ann@example.com", "20.00") })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, problem) = call(&app, Method::DELETE, &path, admin, &[], None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "HAS_REDEMPTIONS");
    let unused = page["items"][0]["id"].as_str().unwrap();
    let unused = format!("/api/coupons/{unused}");
    assert_eq!(
        call(&app, Method::DELETE, &unused, admin, &[], None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, _, problem) = call(&app, Method::GET, &unused, admin, &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "NOT_FOUND");
}

both_backends!(coupons_are_created_read_listed_and_changed_with_etags);

async fn checkout_runs_over_rest_with_idempotency_keys(app: TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "Five off", "code": "FIVE", "discount": { "amount": { "amount": "5.00", "currency": "USD" } } }),
    )
    .await;
    crate::coupons::create(
        &app,
        json!({ "name": "Old", "code": "OLDIE", "discount": { "percentage": "10" },
                "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2020-02-01T00:00:00Z" }),
    )
    .await;
    let key = app.key(Role::Storefront).await;
    let key = Some(key.as_str());

    let (status, _, answer) = call(
        &app,
        Method::POST,
        "/api/coupon/validate",
        key,
        &[],
        Some(json!({ "code": " five ", "order": order("o-1", "ann@example.com", "40.00") })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({ "valid": true, "discount": { "amount": "5.00", "currency": "USD" }, "lines": [], "reasons": [] })
    );
    let (_, _, answer) = call(
        &app,
        Method::POST,
        "/api/coupon/validate",
        key,
        &[("accept-language", "de")],
        Some(json!({ "code": "OLDIE", "order": order("o-1", "ann@example.com", "40.00") })),
    )
    .await;
    assert_eq!(answer["valid"], false);
    assert_eq!(
        answer["reasons"],
        json!([{ "code": "EXPIRED", "message": "dieser Gutschein ist abgelaufen" }])
    );

    // Reserve, with the key as a header; a retry gets the first answer.
    let body = json!({ "code": "FIVE", "order": order("o-1", "ann@example.com", "40.00"), "holdMinutes": 10 });
    let (status, headers, reservation) = call(
        &app,
        Method::POST,
        "/api/reservations",
        key,
        &[("idempotency-key", "res-1")],
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reservation:#}");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!(reservation["status"], "RESERVED");
    assert_eq!(
        reservation["discount"],
        json!({ "amount": "5.00", "currency": "USD" })
    );
    let (status, headers, again) = call(
        &app,
        Method::POST,
        "/api/reservations",
        key,
        &[("idempotency-key", "res-1")],
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["id"], reservation["id"]);
    // The same key for another request is refused.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/reservations",
        key,
        &[("idempotency-key", "res-1")],
        Some(json!({ "code": "FIVE", "order": order("o-2", "bob@example.com", "40.00") })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(
        problem["errors"][0]["field"],
        json!(["header", "Idempotency-Key"])
    );
    // No key at all.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/redemptions",
        key,
        &[],
        Some(json!({ "reservationId": reservation["id"] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        problem["errors"][0]["field"],
        json!(["header", "Idempotency-Key"])
    );

    // Redeem the reservation, then refund two of the five.
    let (status, _, redemption) = call(
        &app,
        Method::POST,
        "/api/redemptions",
        key,
        &[("idempotency-key", "red-1")],
        Some(json!({ "reservationId": reservation["id"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{redemption:#}");
    assert_eq!(redemption["status"], "REDEEMED");
    assert_eq!(redemption["id"], reservation["id"]);
    let id = redemption["id"].as_str().unwrap();
    let (status, _, reversed) = call(
        &app,
        Method::POST,
        &format!("/api/redemptions/{id}/reverse"),
        key,
        &[("idempotency-key", "rev-1")],
        Some(json!({ "refundedDiscount": "2.00" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reversed:#}");
    assert_eq!(reversed["status"], "PARTIALLY_REVERSED");
    assert_eq!(
        reversed["refundedDiscount"],
        json!({ "amount": "2.00", "currency": "USD" })
    );
    let (status, _, problem) = call(
        &app,
        Method::POST,
        &format!("/api/redemptions/{id}/reverse"),
        key,
        &[("idempotency-key", "rev-2")],
        Some(json!({ "refundedDiscount": "9.00" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "REFUND_EXCEEDS_DISCOUNT");
    assert_eq!(problem["errors"][0]["field"], json!(["refundedDiscount"]));

    // A code that does not apply: 422 with every reason, in the shopper's language.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/redemptions",
        key,
        &[("idempotency-key", "red-2"), ("accept-language", "fr")],
        Some(json!({ "code": "OLDIE", "order": order("o-3", "ann@example.com", "40.00") })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "EXPIRED");
    assert_eq!(problem["errors"][0]["field"], json!(["code"]));
    assert_eq!(
        problem["errors"][0]["message"],
        "ce bon de réduction a expiré"
    );

    // Release: a second reservation goes back; an unknown ID is not found.
    let (_, _, second) = call(
        &app,
        Method::POST,
        "/api/reservations",
        key,
        &[("idempotency-key", "res-2")],
        Some(json!({ "code": "FIVE", "order": order("o-4", "cy@example.com", "40.00") })),
    )
    .await;
    let second = second["id"].as_str().unwrap();
    let (status, _, released) = call(
        &app,
        Method::POST,
        &format!("/api/reservations/{second}/release"),
        key,
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(released["status"], "RELEASED");
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/reservations/bm9wZQ/release",
        key,
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "RESERVATION_NOT_FOUND");

    // The counters agree with the rows.
    crate::checkout::assert_reconciled(&app).await;
}

both_backends!(checkout_runs_over_rest_with_idempotency_keys);

fn guessing_options() -> Options {
    Options {
        limiter: Some(LimiterSettings {
            public: "key=5,ip=0,customer=0".parse::<Budget>().unwrap(),
            ..LimiterSettings::default()
        }),
        ..Options::default()
    }
}

/// A `public` key guessing codes over REST is locked out like one guessing over
/// GraphQL, on the same budget; an unknown and a draft code read the same.
async fn guessing_over_rest_is_throttled(app: TestApp) {
    crate::coupons::create(
        &app,
        json!({ "name": "Later", "code": "DRAFTY", "status": "DRAFT", "discount": { "percentage": "10" } }),
    )
    .await;
    let key = app.key(Role::Public).await;
    let key = Some(key.as_str());
    let validate = |code: &str| json!({ "code": code, "order": { "id": "g-1", "currency": "EUR", "subtotal": "30.00" } });
    let (_, _, unknown) = call(
        &app,
        Method::POST,
        "/api/coupon/validate",
        key,
        &[],
        Some(validate("NO-SUCH")),
    )
    .await;
    let (_, _, draft) = call(
        &app,
        Method::POST,
        "/api/coupon/validate",
        key,
        &[],
        Some(validate("DRAFTY")),
    )
    .await;
    assert_eq!(unknown, draft);
    assert_eq!(unknown["reasons"][0]["code"], "NOT_FOUND");

    for n in 0..3 {
        let (status, _, _) = call(
            &app,
            Method::POST,
            "/api/coupon/validate",
            key,
            &[],
            Some(validate(&format!("GUESS-{n}"))),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, problem) = call(
        &app,
        Method::POST,
        "/api/coupon/validate",
        key,
        &[],
        Some(validate("GUESS-9")),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem:#}");
    assert_eq!(problem["code"], "THROTTLED");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0);
    assert_eq!(problem["retryAfter"], wait);
    // The same lockout over GraphQL.
    let response = app
        .request(
            key,
            "query($input: ValidateCouponInput!) { validateCoupon(input: $input) { valid } }",
            json!({ "input": validate("GUESS-10") }),
        )
        .await;
    assert_eq!(response.error_code(), Some("THROTTLED"));
}

both_backends!(guessing_over_rest_is_throttled, super::guessing_options());

/// What the storefront loads: the document, the reference page, the widget and its
/// texts.
async fn the_document_the_widget_and_its_texts_are_served(app: TestApp) {
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document, coupons::rest::openapi_json());
    let (status, page) = app.get("/api/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("/api/docs/redoc-2.5.4.standalone.js"),
        "{page}"
    );
    assert_eq!(
        app.get("/api/docs/redoc-2.5.4.standalone.js").await.0,
        StatusCode::OK
    );
    let (status, script) = app.get("/widget.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(script, coupons::rest::storefront::WIDGET);
    assert_eq!(app.get("/widget/v1.js").await.1, script);
    let (status, _, texts) = call(
        &app,
        Method::GET,
        "/api/widget/texts",
        None,
        &[("accept-language", "de-AT, en;q=0.5")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(texts["language"], "de");
    assert_eq!(texts["label"], "Gutscheincode");
    // Off unless enabled.
    assert_eq!(app.get("/demo").await.0, StatusCode::NOT_FOUND);
}

both_backends!(the_document_the_widget_and_its_texts_are_served);

/// Carts over REST: several codes on one order, all or none.
async fn carts_run_over_rest(app: TestApp) {
    for (code, discount) in [
        ("CART-A", json!({ "percentage": "10" })),
        (
            "CART-B",
            json!({ "amount": { "amount": "5.00", "currency": "USD" } }),
        ),
    ] {
        crate::coupons::create(
            &app,
            json!({ "name": code, "code": code, "discount": discount, "combinesWith": ["ORDER"] }),
        )
        .await;
    }
    crate::coupons::create(
        &app,
        json!({ "name": "Old", "code": "CART-OLD", "discount": { "percentage": "10" }, "combinesWith": ["ORDER"],
                "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2020-02-01T00:00:00Z" }),
    )
    .await;
    let key = app.key(Role::Storefront).await;
    let key = Some(key.as_str());
    let cart = |codes: Value, order_id: &str| json!({ "codes": codes, "order": order(order_id, "ann@example.com", "100.00") });

    let (status, _, answer) = call(
        &app,
        Method::POST,
        "/api/carts/validate",
        key,
        &[("accept-language", "de")],
        Some(cart(json!(["cart-a", "CART-B", "CART-OLD"]), "c-1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["valid"], false);
    assert_eq!(
        answer["discount"],
        json!({ "amount": "15.00", "currency": "USD" })
    );
    assert_eq!(answer["applied"].as_array().unwrap().len(), 2);
    assert_eq!(
        answer["leftOut"],
        json!([{ "code": "CART-OLD", "reasons": [{ "code": "EXPIRED", "message": "dieser Gutschein ist abgelaufen" }] }])
    );

    // All or none: with the expired code, nothing is written.
    let (status, _, problem) = call(
        &app,
        Method::POST,
        "/api/carts/redemptions",
        key,
        &[("idempotency-key", "cart-0")],
        Some(cart(json!(["CART-A", "CART-OLD"]), "c-0")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "EXPIRED");
    assert_eq!(problem["errors"][0]["field"], json!(["codes"]));
    assert_eq!(app.count("redemptions").await, 0);

    let (status, _, reserved) = call(
        &app,
        Method::POST,
        "/api/carts/reservations",
        key,
        &[("idempotency-key", "cart-1")],
        Some(cart(json!(["CART-A", "CART-B"]), "c-1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reserved:#}");
    assert_eq!(reserved["redemptions"].as_array().unwrap().len(), 2);
    let (status, _, released) =
        call(&app, Method::POST, "/api/carts/c-1/release", key, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&Value> = released["redemptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!("RELEASED"), &json!("RELEASED")]);

    let (status, _, redeemed) = call(
        &app,
        Method::POST,
        "/api/carts/redemptions",
        key,
        &[("idempotency-key", "cart-2")],
        Some(cart(json!(["CART-A", "CART-B"]), "c-2")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{redeemed:#}");
    let (status, _, reversed) = call(
        &app,
        Method::POST,
        "/api/carts/c-2/reverse",
        key,
        &[("idempotency-key", "cart-2-back")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reversed:#}");
    assert!(
        reversed["redemptions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "REVERSED")
    );
    crate::checkout::assert_reconciled(&app).await;
}

both_backends!(carts_run_over_rest);

/// The integrity hash the README and the REST guide give for `/widget/v1.js` is the
/// file's. A change to the widget changes it: then the version in the pinned path goes
/// up too (pages cache `/widget/v1.js` for good), and the docs get the new hash.
#[test]
fn the_documented_integrity_is_the_widget_s() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha384::digest(coupons::rest::storefront::WIDGET.as_bytes());
    let integrity = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    let pinned = format!("/widget/{}.js", coupons::rest::storefront::WIDGET_VERSION);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "docs/rest.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        assert!(
            text.contains(&integrity),
            "{doc} must give the widget's integrity {integrity}"
        );
        assert!(text.contains(&pinned), "{doc} must load {pinned}");
    }
}
