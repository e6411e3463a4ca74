//! Braintree's webhooks: `bt_signature` / `bt_payload` notifications.
//!
//! `bt_payload` is base64 of the notification's XML. `bt_signature` holds
//! `public_key|hex` pairs joined by `&`; each hex is HMAC-SHA1 of the payload under the
//! SHA-1 digest of that public key's private key. A notification is accepted when a pair
//! names a configured public key and its signature matches (the payload as sent, or with
//! a line feed added, as Braintree's own libraries accept).

use coupons_domain::payment::{Binding, Provider};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha1::{Digest, Sha1};

use super::{Parsed, Refused};
use crate::ids::{self, Kind};
use crate::service::payments::{Amount, ProviderEvent, Said};

/// The API key pairs (public key, private key) whose signatures are accepted.
#[derive(Clone)]
pub struct BraintreeKeys {
    /// Public key and the SHA-1 digest of its private key (the HMAC key).
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for BraintreeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let public: Vec<&str> = self.keys.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("BraintreeKeys")
            .field("public_keys", &public)
            .finish()
    }
}

impl BraintreeKeys {
    /// Pairs written `public_key:private_key`; `None` when there is none, `Err` with
    /// the position of a pair that is not one.
    pub fn parse(pairs: &[String]) -> Result<Option<Self>, usize> {
        let mut keys = Vec::new();
        for (i, pair) in pairs.iter().enumerate() {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            match pair.split_once(':') {
                Some((public, private))
                    if !public.trim().is_empty() && !private.trim().is_empty() =>
                {
                    let digest = Sha1::digest(private.trim().as_bytes()).to_vec();
                    keys.push((public.trim().to_owned(), digest));
                }
                _ => return Err(i + 1),
            }
        }
        Ok((!keys.is_empty()).then_some(Self { keys }))
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Option<Hmac<Sha1>> {
        let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
        mac.update(data);
        Some(mac)
    }

    /// Checks `signature` against `payload` (the `bt_payload` text as posted).
    pub fn verify(&self, signature: &str, payload: &str) -> Result<(), Refused> {
        let pairs: Vec<(&str, &str)> = signature
            .split('&')
            .filter_map(|pair| pair.split_once('|'))
            .collect();
        if pairs.is_empty() {
            return Err(Refused::MalformedSignature);
        }
        let matches = pairs.iter().any(|(public, hex_sig)| {
            let Ok(sig) = hex::decode(hex_sig.trim()) else {
                return false;
            };
            self.keys
                .iter()
                .filter(|(p, _)| p == public)
                .any(|(_, key)| {
                    [payload.to_owned(), format!("{payload}\n")]
                        .iter()
                        .any(|data| {
                            self.mac(key, data.as_bytes())
                                .is_some_and(|mac| mac.verify_slice(&sig).is_ok())
                        })
                })
        });
        if matches {
            Ok(())
        } else {
            Err(Refused::SignatureMismatch)
        }
    }

    /// The answer to Braintree's check of a new destination (`bt_challenge`): the first
    /// public key and the challenge signed with its private key.
    pub fn answer_challenge(&self, challenge: &str) -> Option<String> {
        let challenge = challenge.trim();
        if !(20..=32).contains(&challenge.len())
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let (public, key) = self.keys.first()?;
        let mac = self.mac(key, challenge.as_bytes())?;
        Some(format!(
            "{public}|{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name)?
        .text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn amount(node: roxmltree::Node<'_, '_>) -> Amount {
    Amount::Major(
        child_text(node, "amount")
            .and_then(|a| a.parse::<Decimal>().ok())
            .unwrap_or_default(),
    )
}

/// The binding in a transaction's custom fields: `coupon_reservation` (a reservation's
/// ID) or `coupon_cart` (a cart's order id); Braintree writes them with dashes.
fn binding(transaction: roxmltree::Node<'_, '_>) -> Option<Binding> {
    let fields = child(transaction, "custom-fields")?;
    let field = |names: [&str; 2]| names.iter().find_map(|n| child_text(fields, n));
    if let Some(id) = field(["coupon-reservation", "coupon_reservation"]) {
        return ids::decode(Kind::Redemption, id).map(Binding::Reservation);
    }
    field(["coupon-cart", "coupon_cart"]).map(|order| Binding::Cart(order.to_owned()))
}

/// Reads a verified notification (`bt_payload`, base64 XML).
pub fn parse(payload: &str) -> Result<Parsed, Refused> {
    use base64::Engine as _;
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let xml = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| Refused::MalformedEvent)?;
    let xml = String::from_utf8(xml).map_err(|_| Refused::MalformedEvent)?;
    let doc = roxmltree::Document::parse(&xml).map_err(|_| Refused::MalformedEvent)?;
    let root = doc.root_element();
    let kind = child_text(root, "kind").ok_or(Refused::MalformedEvent)?;
    let timestamp = child_text(root, "timestamp").unwrap_or_default();
    let subject = child(root, "subject").ok_or(Refused::MalformedEvent)?;
    // A notification has no id of its own: its kind, subject and time make one, and a
    // redelivery carries the same.
    let event_id = |subject_id: &str| format!("{kind}:{subject_id}:{timestamp}");
    let transaction = child(subject, "transaction");
    let (event_id, payment_ref, node, said) = match kind {
        "transaction_settled" | "transaction_settlement_declined" => {
            let t = transaction.ok_or(Refused::MalformedEvent)?;
            let id = child_text(t, "id").ok_or(Refused::MalformedEvent)?;
            let refunded = child_text(t, "refunded-transaction-id");
            let said = match (kind, child_text(t, "type"), refunded) {
                ("transaction_settlement_declined", _, _) => Said::Failed,
                // A refund is a credit transaction of its own, naming the sale it refunds.
                (_, Some("credit"), Some(_)) => Said::RefundAdded(amount(t)),
                _ => Said::Succeeded(amount(t)),
            };
            let payment = match (&said, refunded) {
                (Said::RefundAdded(_), Some(sale)) => sale,
                _ => id,
            };
            (event_id(id), payment.to_owned(), t, said)
        }
        "subscription_charged_successfully" => {
            let subscription = child(subject, "subscription").ok_or(Refused::MalformedEvent)?;
            let t = child(subscription, "transactions")
                .and_then(|ts| child(ts, "transaction"))
                .ok_or(Refused::MalformedEvent)?;
            let id = child_text(t, "id").ok_or(Refused::MalformedEvent)?;
            (event_id(id), id.to_owned(), t, Said::Succeeded(amount(t)))
        }
        "dispute_opened" | "dispute_won" | "dispute_lost" => {
            let dispute = child(subject, "dispute").ok_or(Refused::MalformedEvent)?;
            let dispute_id = child_text(dispute, "id").ok_or(Refused::MalformedEvent)?;
            let t = child(dispute, "transaction").ok_or(Refused::MalformedEvent)?;
            let id = child_text(t, "id").ok_or(Refused::MalformedEvent)?;
            let said = match kind {
                "dispute_opened" => Said::DisputeOpened,
                "dispute_won" => Said::DisputeWon,
                _ => Said::DisputeLost,
            };
            (event_id(dispute_id), id.to_owned(), dispute, said)
        }
        _ => {
            let id = event_id("-");
            return Ok(Parsed::Ignored(id, kind.to_owned()));
        }
    };
    let binding = match kind {
        "dispute_opened" | "dispute_won" | "dispute_lost" => None,
        _ => binding(node),
    };
    Ok(Parsed::Event(ProviderEvent {
        provider: Provider::Braintree,
        event_id,
        event_type: kind.to_owned(),
        payment_ref,
        binding,
        currency: child_text(node, "currency-iso-code").map(str::to_ascii_uppercase),
        said,
    }))
}
