//! Secrets sealed at rest: the webhook signing secrets and the generated service secret
//! are stored encrypted with AES-256-GCM under the master key, so that a copy of the
//! database (a backup, a replica, a dump) does not give them away.
//!
//! A sealed value is text: `sealed:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`,
//! where the key id is the first 8 hex digits of the SHA-256 of the key (which key, not
//! the key). The purpose of the value (`webhook secret`, `service secret customer_key`)
//! is bound in as associated data, so a sealed value cannot be moved to another use.
//!
//! The master key comes from `COUPONS_MASTER_KEY` (64 hex digits or base64 of 32 bytes)
//! or the file `COUPONS_MASTER_KEY_FILE` names; in development, without either, from a
//! key file made at the first start (`coupons.key` beside the working directory's
//! database). `COUPONS_MASTER_KEY_PREVIOUS` names keys still accepted for opening while
//! `coupons rotate-master-key` re-seals every value under the current key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed:v1:";

/// The purpose of webhook endpoints' signing secrets.
pub const WEBHOOK_SECRET: &str = "webhook secret";

/// What went wrong opening or reading a key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key is not 32 bytes in hex or base64.
    #[error("a master key must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    /// The value was sealed with a key this instance does not have.
    #[error(
        "sealed with master key {0}, which this instance was not given (COUPONS_MASTER_KEY, COUPONS_MASTER_KEY_PREVIOUS)"
    )]
    UnknownKey(String),
    /// The value is not a sealed value or was changed.
    #[error("a sealed value does not open: it is damaged or was sealed for another use")]
    Damaged,
}

/// One master key.
#[derive(Clone)]
struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            id: hex::encode(&digest[..4]),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }
}

/// Seals and opens secrets with the current master key (and opens with earlier ones).
#[derive(Clone)]
pub struct Sealer {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.id)
            .finish_non_exhaustive()
    }
}

/// Reads a key written as 64 hex digits or as base64 of 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], SealError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| SealError::BadKey)?
    } else {
        STANDARD.decode(text).map_err(|_| SealError::BadKey)?
    };
    bytes.try_into().map_err(|_| SealError::BadKey)
}

/// A new random key, as 64 hex digits.
pub fn new_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sealer {
    /// Seals with `current`; opens with it and with `previous`.
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: MasterKey::new(current),
            previous: previous.iter().map(MasterKey::new).collect(),
        }
    }

    /// The current key's id.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `secret` for `purpose`.
    pub fn seal(&self, purpose: &str, secret: &str) -> String {
        let nonce: [u8; 12] = rand::random();
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: purpose.as_bytes(),
        };
        // Encrypting to memory fails only past AES-GCM's length limit (64 GiB).
        let sealed = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{}:{}", self.current.id, STANDARD.encode(bytes))
    }

    /// Opens a value sealed for `purpose`. A value without the prefix is a secret
    /// stored before sealing existed, returned as it is (start-up seals those).
    pub fn open(&self, purpose: &str, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once(':').ok_or(SealError::Damaged)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Damaged)?;
        if bytes.len() < 12 {
            return Err(SealError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let payload = Payload {
            msg: sealed,
            aad: purpose.as_bytes(),
        };
        let plain = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SealError::Damaged)
    }

    /// Whether `stored` is sealed with the current key (else it is plain, or sealed with
    /// an earlier key, and `rotate-master-key` re-seals it).
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }
}

/// The purpose of the service secret called `name`.
pub fn service_secret(name: &str) -> String {
    format!("service secret {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let sealer = Sealer::new(&a, &[]);
        let sealed = sealer.seal("p", "whsec_123");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("whsec_123"));
        assert_ne!(
            sealed,
            sealer.seal("p", "whsec_123"),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open("p", &sealed).unwrap(), "whsec_123");
        assert!(matches!(sealer.open("q", &sealed), Err(SealError::Damaged)));
        let other = Sealer::new(&b, &[]);
        assert!(matches!(
            other.open("p", &sealed),
            Err(SealError::UnknownKey(_))
        ));
        let rotated = Sealer::new(&b, &[a]);
        assert_eq!(rotated.open("p", &sealed).unwrap(), "whsec_123");
        assert!(!rotated.is_current(&sealed));
        let mut tampered = sealed;
        tampered.pop();
        tampered.push('A');
        assert!(sealer.open("p", &tampered).is_err());
        assert_eq!(sealer.open("p", "plain").unwrap(), "plain");
    }

    #[test]
    fn keys_are_read_as_hex_or_base64() {
        let hex_key = "00".repeat(32);
        assert_eq!(parse_key(&hex_key).unwrap(), [0u8; 32]);
        assert_eq!(parse_key(&STANDARD.encode([7u8; 32])).unwrap(), [7u8; 32]);
        assert!(parse_key("short").is_err());
        assert_eq!(parse_key(&new_key()).unwrap().len(), 32);
    }
}
