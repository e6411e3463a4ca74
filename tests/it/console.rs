//! The console's sessions without an identity provider, on both backends: an admin key
//! turns into a session once; the session works on `/graphql` with its CSRF token only;
//! it ends on sign-out, when idle too long, and at its absolute end; other keys are
//! refused. (Sign-in through a real OpenID provider is `tests/browser/console-auth.test.js`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coupons::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

/// Signs in with `key`: the status and the session cookie's value, if one was set.
async fn sign_in(app: &TestApp, key: &str) -> (StatusCode, Option<String>) {
    let form = serde_urlencoded::to_string([("key", key)]).unwrap();
    let request = Request::post("/admin/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, headers, _) = app.send(request).await;
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|c| {
            assert!(
                c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax"),
                "{c}"
            );
            c.trim_start_matches("coupons_session=")
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        });
    (status, cookie)
}

async fn session(app: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let request = Request::get("/admin/session")
        .header("cookie", format!("coupons_session={cookie}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = app.send(request).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn graphql(
    app: &TestApp,
    cookie: &str,
    csrf: Option<&str>,
    query: &str,
) -> (StatusCode, Value) {
    let mut request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("cookie", format!("coupons_session={cookie}"));
    if let Some(token) = csrf {
        request = request.header("x-csrf-token", token);
    }
    let body = json!({ "query": query }).to_string();
    let (status, _, text) = app.send(request.body(Body::from(body)).unwrap()).await;
    (status, serde_json::from_str(&text).unwrap())
}

async fn a_key_becomes_a_session_that_ends(app: TestApp) {
    // The page and its sign-in form.
    let (status, page) = app.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/admin/assets/app.js"), "{page}");
    let (status, form) = app.get("/admin/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(r#"name="key""#) && form.contains("<label"),
        "{form}"
    );

    // Only an admin key signs in.
    let analyst = app.key(Role::Analyst).await;
    for wrong in [analyst.as_str(), "cpn_not_a_key", ""] {
        let (status, cookie) = sign_in(&app, wrong).await;
        assert_eq!(
            (status, cookie),
            (StatusCode::UNAUTHORIZED, None),
            "{wrong}"
        );
    }
    let (status, cookie) = sign_in(&app, &app.admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    let (status, who) = session(&app, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(who["role"], "admin");
    let csrf = who["csrfToken"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32);
    assert_eq!(app.count("console_sessions").await, 1);
    let stored: i64 = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM console_sessions WHERE id_hash = '{cookie}' OR csrf_token = '{cookie}'"
        ))
        .await;
    assert_eq!(stored, 0, "only the cookie's hash is stored");

    // The session on /graphql: with its CSRF token only.
    let (status, refused) = graphql(&app, &cookie, None, "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused:#}");
    let (status, _) = graphql(&app, &cookie, Some("not-the-token"), "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = graphql(&app, &cookie, Some(&csrf), "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["data"]["viewer"]["role"], "ADMIN", "{answer:#}");
    let signed_in: i64 = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'CONSOLE_SIGNED_IN'")
        .await;
    assert_eq!(signed_in, 1);

    // Idle too long, or past its absolute end: over.
    let idle_start = match app.database_url().starts_with("postgres") {
        true => {
            "UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes', created_at = now() - interval '31 minutes'"
        }
        false => {
            "UPDATE console_sessions SET last_seen_at = datetime('now', '-31 minutes'), created_at = datetime('now', '-31 minutes')"
        }
    };
    app.sql(idle_start).await;
    assert_eq!(
        session(&app, &cookie).await.0,
        StatusCode::UNAUTHORIZED,
        "idle"
    );
    assert_eq!(
        app.count("console_sessions").await,
        0,
        "an ended session is deleted"
    );

    let (_, cookie) = sign_in(&app, &app.admin).await;
    let cookie = cookie.unwrap();
    assert_eq!(session(&app, &cookie).await.0, StatusCode::OK);
    let past = match app.database_url().starts_with("postgres") {
        true => "UPDATE console_sessions SET expires_at = now() - interval '1 second'",
        false => "UPDATE console_sessions SET expires_at = datetime('now', '-1 second')",
    };
    app.sql(past).await;
    assert_eq!(
        session(&app, &cookie).await.0,
        StatusCode::UNAUTHORIZED,
        "absolute end"
    );

    // Sign-out needs the CSRF token, then ends the session.
    let (_, cookie) = sign_in(&app, &app.admin).await;
    let cookie = cookie.unwrap();
    let csrf = session(&app, &cookie).await.1["csrfToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let logout = |token: Option<&str>| {
        let mut r =
            Request::post("/admin/logout").header("cookie", format!("coupons_session={cookie}"));
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.body(Body::empty()).unwrap()
    };
    assert_eq!(app.send(logout(None)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        session(&app, &cookie).await.0,
        StatusCode::OK,
        "still signed in"
    );
    let (status, headers, _) = app.send(logout(Some(&csrf))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(session(&app, &cookie).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = graphql(&app, &cookie, Some(&csrf), "{ viewer { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both_backends!(a_key_becomes_a_session_that_ends);
