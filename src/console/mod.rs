//! The admin console at `/admin`: a small client (plain ES modules, no build step) served
//! from the binary, which calls `/graphql` with the person's session; and sign-in.
//!
//! - `GET /admin`: the console's page; `GET /admin/assets/<file>`: its scripts and styles.
//! - `GET /admin/login`: with an OpenID issuer, a redirect to it (authorization code
//!   flow with PKCE, `state` and `nonce`); without one, a form that takes an admin API key
//!   once (`POST /admin/login`) and turns it into a session.
//! - `GET /admin/callback`: the issuer's answer; the ID token is checked (signature by the
//!   issuer's JWKS, `iss`, `aud`, times, `nonce`) and the role read from its claim.
//! - `GET /admin/session`: who is signed in, and the CSRF token every change must send
//!   in `X-CSRF-Token`. `POST /admin/logout`: ends the session.
//!
//! A session is a random cookie value (`HttpOnly; Secure; SameSite=Lax`), stored only as
//! its SHA-256, with idle and absolute timeouts.

mod assets;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{
    AuthError, Authenticator, CSRF_HEADER, Role, SESSION_COOKIE, cookie, session_hash,
};
use crate::oidc::{Person, random_token};
use crate::storage::sessions::{self, StoredSession};
use crate::storage::{Actor, AuditAction, EntityType, audit};

/// The console's content security policy: its own scripts, styles and calls only.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// How long a sign-in may take at the provider.
const LOGIN_WINDOW_MINUTES: i64 = 10;

#[derive(Clone)]
struct ConsoleState {
    auth: Authenticator,
    public_url: Option<String>,
    trusted_proxy_header: Option<axum::http::HeaderName>,
}

/// The console's routes.
pub fn routes(
    auth: Authenticator,
    public_url: Option<String>,
    trusted_proxy_header: Option<axum::http::HeaderName>,
) -> Router {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/admin/assets/{file}", get(asset))
        .route("/admin/login", get(login).post(key_login))
        .route("/admin/callback", get(callback))
        .route("/admin/session", get(session))
        .route("/admin/logout", post(logout))
        .with_state(ConsoleState {
            auth,
            public_url,
            trusted_proxy_header,
        })
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(CONTENT_SECURITY_POLICY, CSP), (CACHE_CONTROL, "no-store")],
        Html(body),
    )
        .into_response()
}

async fn page() -> Response {
    html(StatusCode::OK, assets::INDEX.to_owned())
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A small page of the sign-in, with `message` (fixed text, never input).
fn sign_in_page(status: StatusCode, message: &str, with_form: bool) -> Response {
    let form = if with_form {
        r#"<form method="post" action="/admin/login" class="stack">
  <label for="key">Admin API key</label>
  <input id="key" name="key" type="password" autocomplete="off" required>
  <button type="submit">Sign in</button>
</form>"#
    } else {
        r#"<p><a href="/admin/login?again=1">Sign in again</a></p>"#
    };
    let message = if message.is_empty() {
        String::new()
    } else {
        format!(r#"<p role="alert" class="error">{message}</p>"#)
    };
    html(
        status,
        format!(
            r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Coupons console</title><link rel="stylesheet" href="/admin/assets/console.css"></head>
<body><main class="sign-in"><h1>Coupons console</h1>{message}{form}</main></body>
</html>"#
        ),
    )
}

/// The page of a sign-in the service could not carry out (a storage fault, logged).
fn cannot_sign_in(fault: &dyn std::fmt::Display, with_form: bool) -> Response {
    tracing::error!(error = %fault, "a console sign-in failed");
    sign_in_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service cannot sign you in now; try again.",
        with_form,
    )
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

fn redirect_uri(state: &ConsoleState, headers: &HeaderMap) -> String {
    let base = state.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    });
    format!("{}/admin/callback", base.trim_end_matches('/'))
}

#[derive(Deserialize)]
struct LoginQuery {
    /// Set after a sign-out or a refusal: the provider asks for the person again.
    again: Option<String>,
}

async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(oidc) = state.auth.oidc() else {
        return sign_in_page(StatusCode::OK, "", true);
    };
    let (login_state, nonce, verifier) = (random_token(24), random_token(24), random_token(48));
    let now = Utc::now();
    let stale = now - chrono::Duration::minutes(LOGIN_WINDOW_MINUTES);
    let saved = state
        .auth
        .db()
        .write(async |mut c| {
            sessions::save_login(&mut c, &login_state, &nonce, &verifier, now, stale).await
        })
        .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "could not start a sign-in");
        return sign_in_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service cannot start a sign-in now; try again.",
            false,
        );
    }
    match oidc
        .authorize_url(
            &redirect_uri(&state, &headers),
            &login_state,
            &nonce,
            &verifier,
            query.again.is_some(),
        )
        .await
    {
        Ok(url) => redirect(&url),
        Err(e) => {
            tracing::error!(error = %e, "the identity provider could not be reached");
            sign_in_page(
                StatusCode::BAD_GATEWAY,
                "The identity provider could not be reached; try again.",
                false,
            )
        }
    }
}

#[derive(Deserialize)]
struct KeyForm {
    key: String,
}

/// Without an issuer: an admin key, once, becomes a session.
async fn key_login(
    State(state): State<ConsoleState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    if state.auth.oidc().is_some() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let header = format!("Bearer {}", form.key.trim());
    let caller = match state.auth.authenticate(Some(&header)).await {
        Ok(Some(c)) if c.role == Role::Admin => c,
        Ok(_)
        | Err(
            AuthError::Malformed
            | AuthError::UnknownKey
            | AuthError::Revoked
            | AuthError::Expired
            | AuthError::Token(_),
        ) => {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                "That is not an admin API key.",
                true,
            );
        }
        Err(e) => return cannot_sign_in(&e, true),
    };
    let subject = caller
        .key_id
        .map_or_else(|| "COUPONS_ADMIN_KEY".to_owned(), |id| format!("key:{id}"));
    let who = Signed {
        subject,
        email: None,
        name: caller.name.clone(),
        role: Role::Admin,
        key_id: caller.key_id,
    };
    start_session(&state, &headers, peer, who).await
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<ConsoleState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(oidc) = state.auth.oidc() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if answer.error.is_some() {
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            "The identity provider did not sign you in.",
            false,
        );
    }
    let (Some(code), Some(login_state)) = (answer.code, answer.state) else {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete.",
            false,
        );
    };
    let taken = state
        .auth
        .db()
        .write(async |mut c| sessions::take_login(&mut c, &login_state).await)
        .await;
    let (nonce, verifier) = match taken {
        Ok(Some((nonce, verifier, started)))
            if Utc::now() - started <= chrono::Duration::minutes(LOGIN_WINDOW_MINUTES) =>
        {
            (nonce, verifier)
        }
        Ok(_) => {
            return sign_in_page(
                StatusCode::BAD_REQUEST,
                "This sign-in is unknown or too old; start again.",
                false,
            );
        }
        Err(e) => return cannot_sign_in(&e, false),
    };
    match oidc
        .sign_in(&code, &redirect_uri(&state, &headers), &verifier, &nonce)
        .await
    {
        Ok(person) => start_session(&state, &headers, peer, Signed::from(&person)).await,
        Err(crate::oidc::OidcError::NoRole(_)) => sign_in_page(
            StatusCode::FORBIDDEN,
            "Your account has no role in this service: ask an administrator.",
            false,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "a console sign-in was refused");
            sign_in_page(
                StatusCode::UNAUTHORIZED,
                "The sign-in could not be verified; start again.",
                false,
            )
        }
    }
}

/// Who a new session is for.
struct Signed {
    subject: String,
    email: Option<String>,
    name: String,
    role: Role,
    key_id: Option<i64>,
}

impl From<&Person> for Signed {
    fn from(p: &Person) -> Self {
        Self {
            subject: p.subject.clone(),
            email: p.email.clone(),
            name: p.name.clone().unwrap_or_else(|| p.display()),
            role: p.role,
            key_id: None,
        }
    }
}

async fn start_session(
    state: &ConsoleState,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    who: Signed,
) -> Response {
    let value = random_token(32);
    let now = Utc::now();
    let limits = state.auth.session_limits();
    let stored = StoredSession {
        id_hash: session_hash(&value),
        subject: who.subject,
        email: who.email,
        name: who.name,
        role: who.role.as_str().to_owned(),
        key_id: who.key_id,
        csrf_token: random_token(32),
        created_at: now,
        last_seen_at: now,
        expires_at: now + limits.absolute,
    };
    let ip = crate::router::client_ip(
        headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        state.trusted_proxy_header.as_ref(),
    );
    let actor = Actor {
        ip: ip.map(|ip| ip.to_string()),
        ..crate::auth::session_caller(&stored).actor()
    };
    let after = json!({ "subject": stored.subject, "email": stored.email, "role": stored.role, "expires_at": stored.expires_at });
    let stored = &stored;
    let created = state
        .auth
        .db()
        .write(async move |mut c| {
            sessions::create_session(&mut c, stored).await?;
            let entity = EntityType::ConsoleSession;
            let action = AuditAction::ConsoleSignedIn;
            audit::write_audit(
                &mut c,
                &actor,
                action,
                entity,
                &stored.subject,
                None,
                Some(after),
                now,
            )
            .await
        })
        .await;
    if let Err(e) = created {
        return cannot_sign_in(&e, false);
    }
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        limits.absolute.num_seconds()
    );
    let mut response = redirect("/admin");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

async fn session(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let found = match cookie(&headers, SESSION_COOKIE) {
        None => Ok(None),
        Some(value) => state.auth.session(value).await,
    };
    match found {
        Ok(Some(s)) => (
            [(CACHE_CONTROL, "no-store")],
            Json(json!({
                "csrfToken": s.csrf_token,
                "name": s.name,
                "email": s.email,
                "role": s.role,
                "expiresAt": s.expires_at,
            })),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            [(CACHE_CONTROL, "no-store")],
            Json(json!({ "signIn": "/admin/login" })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not read a console session");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Ends the session; needs its CSRF token, like every change.
async fn logout(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let Some(value) = cookie(&headers, SESSION_COOKIE) else {
        return redirect("/admin/login");
    };
    let live = match state.auth.session(value).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not read a console session");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if let Some(s) = live {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent != Some(s.csrf_token.as_str()) {
            return (
                StatusCode::FORBIDDEN,
                Json(json!({ "code": "CSRF_TOKEN_MISSING" })),
            )
                .into_response();
        }
        let id_hash = s.id_hash.clone();
        let ended = state
            .auth
            .db()
            .write(async |mut c| sessions::delete_session(&mut c, &id_hash).await)
            .await;
        if let Err(e) = ended {
            tracing::error!(error = %e, "could not end a console session");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let mut response = redirect("/admin/login?again=1");
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}
