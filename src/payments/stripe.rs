//! Stripe's webhooks: the `Stripe-Signature` scheme and the events that move a payment.
//!
//! A signature header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; each `v1` is
//! HMAC-SHA256 of `"<t>.<raw body>"` under an endpoint signing secret (`whsec_…`). An
//! event is accepted when any `v1` matches any configured secret (several while a secret
//! is rolled) and `t` is within the tolerance of now.

use std::time::Duration;

use chrono::{DateTime, Utc};
use coupons_domain::payment::{Binding, Provider};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::{Parsed, Refused};
use crate::ids::{self, Kind};
use crate::service::payments::{Amount, ProviderEvent, Said};

/// The signing secrets of one Stripe endpoint, and how old a signature may be.
#[derive(Clone)]
pub struct StripeSecrets {
    secrets: Vec<Vec<u8>>,
    tolerance: Duration,
}

impl std::fmt::Debug for StripeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSecrets")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl StripeSecrets {
    /// Secrets (blank ones dropped); `None` when none is left.
    pub fn new(secrets: &[String], tolerance: Duration) -> Option<Self> {
        let secrets: Vec<Vec<u8>> = secrets
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        (!secrets.is_empty()).then_some(Self { secrets, tolerance })
    }

    /// Checks `header` against the raw `body` at `now`.
    pub fn verify(&self, header: &str, body: &[u8], now: DateTime<Utc>) -> Result<(), Refused> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", sig)) => signatures.extend(hex::decode(sig).ok()),
                _ => {}
            }
        }
        let (Some(t), false) = (timestamp, signatures.is_empty()) else {
            return Err(Refused::MalformedSignature);
        };
        let matches = self.secrets.iter().any(|secret| {
            signatures.iter().any(|sig| {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                    return false;
                };
                mac.update(t.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                mac.verify_slice(sig).is_ok()
            })
        });
        if !matches {
            return Err(Refused::SignatureMismatch);
        }
        let age = now.timestamp().abs_diff(t);
        if age > self.tolerance.as_secs() {
            return Err(Refused::TimestampOutsideTolerance);
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Map<String, Value>,
}

fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key)?.as_str().filter(|s| !s.is_empty())
}

fn number(o: &Map<String, Value>, key: &str) -> Option<i64> {
    o.get(key)?.as_i64()
}

/// What the payment's metadata binds it to: `coupon_reservation` (a reservation's ID as
/// the API gives it) or `coupon_cart` (the order id a cart was reserved under).
fn binding(o: &Map<String, Value>) -> Option<Binding> {
    let metadata = o.get("metadata")?.as_object()?;
    if let Some(id) = text(metadata, "coupon_reservation") {
        return ids::decode(Kind::Redemption, id).map(Binding::Reservation);
    }
    text(metadata, "coupon_cart").map(|order| Binding::Cart(order.trim().to_owned()))
}

/// Reads a verified event: the payment it is about and what it says, or `Ignored` for a
/// type that does not move a payment.
pub fn parse(body: &[u8]) -> Result<Parsed, Refused> {
    let event: Event = serde_json::from_slice(body).map_err(|_| Refused::MalformedEvent)?;
    let o = &event.data.object;
    let object_id = text(o, "id").ok_or(Refused::MalformedEvent)?;
    // Charges and disputes name their PaymentIntent; a Checkout Session names its own
    // when it made one. Events of one payment meet on that id.
    let payment_intent = text(o, "payment_intent");
    let said = match event.event_type.as_str() {
        "payment_intent.succeeded" => Said::Succeeded(Amount::Minor(
            number(o, "amount_received")
                .or_else(|| number(o, "amount"))
                .unwrap_or(0),
        )),
        "payment_intent.canceled" | "payment_intent.payment_failed" => Said::Failed,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            if !matches!(
                text(o, "payment_status"),
                Some("paid" | "no_payment_required")
            ) {
                // Paid later (a delayed method): Stripe sends another event then.
                return Ok(Parsed::Ignored(event.id, event.event_type));
            }
            // What was taken for the goods: the total less shipping and tax.
            let details = o.get("total_details").and_then(Value::as_object);
            let extra = |k| details.and_then(|d| number(d, k)).unwrap_or(0);
            let total = number(o, "amount_total").unwrap_or(0);
            Said::Succeeded(Amount::Minor(
                total - extra("amount_shipping") - extra("amount_tax"),
            ))
        }
        "checkout.session.expired" | "checkout.session.async_payment_failed" => Said::Failed,
        "charge.refunded" => Said::Refunded {
            total: number(o, "amount_refunded").unwrap_or(0),
            captured: number(o, "amount_captured"),
        },
        "charge.dispute.created" => Said::DisputeOpened,
        "charge.dispute.closed" => match text(o, "status") {
            Some("lost") => Said::DisputeLost,
            _ => Said::DisputeWon,
        },
        _ => return Ok(Parsed::Ignored(event.id, event.event_type)),
    };
    let payment_ref = match event.event_type.as_str() {
        "charge.dispute.created" | "charge.dispute.closed" => {
            payment_intent.or_else(|| text(o, "charge"))
        }
        _ => payment_intent.or(Some(object_id)),
    }
    .unwrap_or(object_id);
    Ok(Parsed::Event(ProviderEvent {
        provider: Provider::Stripe,
        event_id: event.id,
        event_type: event.event_type,
        payment_ref: payment_ref.to_owned(),
        binding: binding(o),
        currency: text(o, "currency").map(str::to_ascii_uppercase),
        said,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn any_configured_secret_and_any_signature_may_match() {
        let now = Utc::now();
        let t = now.timestamp();
        let body = br#"{"id":"evt_1"}"#;
        let secrets = StripeSecrets::new(
            &["whsec_old".into(), " whsec_new ".into()],
            Duration::from_secs(300),
        );
        let secrets = secrets.unwrap();
        let header = format!(
            "t={t},v1={},v1={}",
            sign("other", t, body),
            sign("whsec_new", t, body)
        );
        assert_eq!(secrets.verify(&header, body, now), Ok(()));
        let header = format!("t={t},v1={}", sign("other", t, body));
        assert_eq!(
            secrets.verify(&header, body, now),
            Err(Refused::SignatureMismatch)
        );
        let old = t - 301;
        let header = format!("t={old},v1={}", sign("whsec_old", old, body));
        assert_eq!(
            secrets.verify(&header, body, now),
            Err(Refused::TimestampOutsideTolerance)
        );
        assert_eq!(
            secrets.verify("v1=00", body, now),
            Err(Refused::MalformedSignature)
        );
        assert!(StripeSecrets::new(&[" ".into()], Duration::from_secs(1)).is_none());
    }
}
