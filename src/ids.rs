//! Opaque global IDs: `base64url("Kind:id")`. Clients must treat them as opaque.
//!
//! The one codec of the IDs the API, the CLI, CSV files and webhook payloads show; it
//! knows nothing of GraphQL, so every layer that names an object can use it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The kinds of object that have a global ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A coupon.
    Coupon,
    /// A coupon code.
    CouponCode,
    /// An API key.
    ApiKey,
    /// A reservation or redemption.
    Redemption,
    /// An audit log entry.
    AuditEntry,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery.
    WebhookDelivery,
    /// A campaign.
    Campaign,
    /// A bulk job.
    BulkJob,
    /// An abuse signal.
    AbuseSignal,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Coupon => "Coupon",
            Self::CouponCode => "CouponCode",
            Self::ApiKey => "ApiKey",
            Self::Redemption => "Redemption",
            Self::AuditEntry => "AuditEntry",
            Self::WebhookEndpoint => "WebhookEndpoint",
            Self::WebhookDelivery => "WebhookDelivery",
            Self::Campaign => "Campaign",
            Self::BulkJob => "BulkJob",
            Self::AbuseSignal => "AbuseSignal",
        }
    }
}

/// Encodes a global ID.
pub fn encode(kind: Kind, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.as_str()))
}

/// Decodes a global ID of any kind; `None` if it is not one of ours.
pub fn decode_any(id: &str) -> Option<(Kind, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (kind, n) = text.split_once(':')?;
    let kind = [
        Kind::Coupon,
        Kind::CouponCode,
        Kind::ApiKey,
        Kind::Redemption,
        Kind::AuditEntry,
        Kind::WebhookEndpoint,
        Kind::WebhookDelivery,
        Kind::Campaign,
        Kind::BulkJob,
        Kind::AbuseSignal,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)?;
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    Some((kind, n))
}

/// Decodes a global ID that must be of `kind`.
pub fn decode(kind: Kind, id: &str) -> Option<i64> {
    decode_any(id).filter(|(k, _)| *k == kind).map(|(_, n)| n)
}

/// Encodes a pagination cursor (a row id).
pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
}

/// Decodes a pagination cursor.
pub fn decode_cursor(cursor: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kind_check() {
        let id = encode(Kind::Coupon, 42);
        assert_eq!(decode(Kind::Coupon, &id), Some(42));
        assert_eq!(decode(Kind::CouponCode, &id), None);
        assert_eq!(decode(Kind::Coupon, "garbage!"), None);
        assert_eq!(decode_cursor(&cursor(7)), Some(7));
        assert_eq!(decode_cursor(&id), None);
    }
}
