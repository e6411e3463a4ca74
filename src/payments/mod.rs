//! Payment providers' webhooks, the receivers of payment hand-off:
//! `POST /payments/stripe` and `POST /payments/braintree` (and `GET
//! /payments/braintree?bt_challenge=…`, Braintree's check of a new destination).
//!
//! A receiver verifies the provider's signature over the raw body before anything else
//! (a bad one answers 400 and writes nothing), reads the event into a
//! [`ProviderEvent`](crate::service::payments::ProviderEvent), and hands it to
//! [`service::payments::receive`], which applies it exactly once. Types that do not move
//! a payment answer 200 and are ignored; a fault answers 500 so the provider retries.
//! A provider without secrets configured has no route (404).

pub mod braintree;
pub mod stripe;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

pub use braintree::BraintreeKeys;
pub use stripe::StripeSecrets;

use crate::rest::problem::Problem;
use crate::service::Services;
use crate::service::payments::{self as use_case, ProviderEvent};

/// The providers whose webhooks are received, with their secrets.
#[derive(Debug, Clone, Default)]
pub struct PaymentReceivers {
    /// Stripe's endpoint signing secrets.
    pub stripe: Option<StripeSecrets>,
    /// Braintree's API key pairs.
    pub braintree: Option<BraintreeKeys>,
}

/// Why a provider's request was refused (400; nothing is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No signature, or not in the provider's format.
    #[error("the signature is missing or malformed")]
    MalformedSignature,
    /// No signature matches a configured secret.
    #[error("no signature matches a configured secret")]
    SignatureMismatch,
    /// The signature's time is too far from now (a replay, or a clock far off).
    #[error("the signature's timestamp is outside the tolerance")]
    TimestampOutsideTolerance,
    /// Signed, but not an event the provider sends.
    #[error("the event cannot be read")]
    MalformedEvent,
}

impl Refused {
    fn code(self) -> &'static str {
        match self {
            Self::MalformedSignature => "SIGNATURE_MALFORMED",
            Self::SignatureMismatch => "SIGNATURE_MISMATCH",
            Self::TimestampOutsideTolerance => "SIGNATURE_EXPIRED",
            Self::MalformedEvent => "EVENT_MALFORMED",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        Problem::new(StatusCode::BAD_REQUEST, self.code(), self.to_string()).into_response()
    }
}

/// A verified event: one that moves a payment, or one that is ignored (its id and type).
#[derive(Debug, Clone)]
pub enum Parsed {
    /// Applied to its payment.
    Event(ProviderEvent),
    /// A type that does not move a payment.
    Ignored(String, String),
}

#[derive(Clone)]
struct ReceiverState {
    services: Services,
    receivers: PaymentReceivers,
    trusted_proxy_header: Option<axum::http::HeaderName>,
}

/// The receivers' routes, for the providers configured.
pub fn routes(
    services: Services,
    receivers: PaymentReceivers,
    trusted_proxy_header: Option<axum::http::HeaderName>,
) -> Router {
    let mut router = Router::new();
    if receivers.stripe.is_some() {
        router = router.route("/payments/stripe", post(stripe_webhook));
    }
    if receivers.braintree.is_some() {
        router = router.route(
            "/payments/braintree",
            post(braintree_webhook).get(braintree_challenge),
        );
    }
    router.with_state(ReceiverState {
        services,
        receivers,
        trusted_proxy_header,
    })
}

async fn stripe_webhook(
    State(state): State<ReceiverState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secrets) = &state.receivers.stripe else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parsed = secrets
        .verify(signature, &body, Utc::now())
        .and_then(|()| stripe::parse(&body));
    answer(&state, peer, &headers, parsed).await
}

/// A Braintree notification, as its form posts it.
#[derive(Deserialize)]
struct Notification {
    bt_signature: String,
    bt_payload: String,
}

async fn braintree_webhook(
    State(state): State<ReceiverState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(keys) = &state.receivers.braintree else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let parsed = match serde_urlencoded::from_bytes::<Notification>(&body) {
        Err(_) => Err(Refused::MalformedSignature),
        Ok(n) => keys
            .verify(&n.bt_signature, &n.bt_payload)
            .and_then(|()| braintree::parse(&n.bt_payload)),
    };
    answer(&state, peer, &headers, parsed).await
}

#[derive(Deserialize)]
struct Challenge {
    bt_challenge: String,
}

async fn braintree_challenge(
    State(state): State<ReceiverState>,
    Query(q): Query<Challenge>,
) -> Response {
    match state
        .receivers
        .braintree
        .as_ref()
        .and_then(|k| k.answer_challenge(&q.bt_challenge))
    {
        Some(answer) => answer.into_response(),
        None => Refused::MalformedEvent.into_response(),
    }
}

async fn answer(
    state: &ReceiverState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    parsed: Result<Parsed, Refused>,
) -> Response {
    let event = match parsed {
        Err(refused) => {
            tracing::warn!(code = refused.code(), "payment webhook refused");
            return refused.into_response();
        }
        Ok(Parsed::Ignored(id, kind)) => {
            return axum::Json(
                json!({ "received": true, "event": id, "type": kind, "result": "IGNORED" }),
            )
            .into_response();
        }
        Ok(Parsed::Event(event)) => event,
    };
    let ip = crate::router::client_ip(
        headers,
        peer.map(|Extension(ConnectInfo(a))| a),
        state.trusted_proxy_header.as_ref(),
    );
    let id = event.event_id.clone();
    match use_case::receive(&state.services, event, ip.map(|ip| ip.to_string())).await {
        Ok(received) => axum::Json(json!({
            "received": true,
            "event": id,
            "result": received.outcome.result.as_str(),
            "replayed": received.replayed,
            "redeemed": received.outcome.redeemed,
            "released": received.outcome.released,
            "reversed": received.outcome.reversed.iter().map(|(id, minor)| json!({ "id": id, "amountMinor": minor })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => Problem::from_service(e, "event").into_response(),
    }
}
