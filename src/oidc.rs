//! People sign in through an OpenID Connect provider: the authorization code flow with
//! PKCE for the console, and OAuth2 bearer access tokens (JWTs) for the APIs.
//!
//! The provider is found by discovery (`<issuer>/.well-known/openid-configuration`) on
//! first use. Its signing keys (JWKS) are cached; a token signed with a key the cache does
//! not hold makes the cache read the JWKS again (at most once every
//! [`JWKS_REFRESH_GAP`]), so a key rotation is followed without a restart. A token is
//! accepted when its signature verifies with one of those keys (asymmetric algorithms
//! only), `iss` is the issuer, `aud` names us, `exp` and `nbf` hold within the clock
//! skew, and its role claim maps to a role.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::caller::Role;

/// Least time between two reads of the JWKS caused by unknown key ids.
pub const JWKS_REFRESH_GAP: Duration = Duration::from_secs(5);

/// Where the provider is and how its tokens map to roles.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer URL, exactly as the provider writes `iss`.
    pub issuer: String,
    /// The console's client id.
    pub client_id: String,
    /// The console's client secret; `None` for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// What bearer access tokens must name in `aud`.
    pub audience: String,
    /// The claim that holds a person's groups or roles.
    pub role_claim: String,
    /// Values of that claim that make an admin.
    pub admin_values: Vec<String>,
    /// Values of that claim that make an analyst.
    pub analyst_values: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub skew: Duration,
}

/// Why a sign-in or a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider could not be reached: {0}")]
    Provider(String),
    /// The token is not a valid JWT from the provider for us.
    #[error("the token is not valid: {0}")]
    InvalidToken(String),
    /// The token is valid but its role claim names no role of this service.
    #[error("the token's '{0}' claim names no role of this service")]
    NoRole(String),
}

/// A person, as a verified token describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    /// Their e-mail address, if the token carries it.
    pub email: Option<String>,
    /// Their name, if the token carries it.
    pub name: Option<String>,
    /// The role their claim maps to.
    pub role: Role,
}

impl Person {
    /// How the audit log and the console name them: `e-mail (sub)`, or the sub alone.
    pub fn display(&self) -> String {
        match &self.email {
            Some(email) => format!("{email} ({})", self.subject),
            None => self.subject.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Known {
    discovery: Discovery,
    jwks: JwkSet,
}

/// What this instance knows of the provider, and when it last tried to read it.
#[derive(Default)]
struct Cache {
    known: Option<Known>,
    tried_at: Option<Instant>,
}

/// The provider, as this instance knows it.
#[derive(Clone)]
pub struct Oidc {
    settings: Arc<OidcSettings>,
    http: reqwest::Client,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// Random URL-safe text of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::rng().random()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// The PKCE challenge (S256) of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
];

impl Oidc {
    /// A provider to be discovered on first use.
    pub fn new(settings: OidcSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    async fn fetch<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| OidcError::Provider(format!("{url}: {e}")))?;
        answer
            .json()
            .await
            .map_err(|e| OidcError::Provider(format!("{url}: {e}")))
    }

    /// Reads the discovery document and the JWKS again.
    async fn read(&self) -> Result<Known, OidcError> {
        let issuer = self.settings.issuer.trim_end_matches('/');
        let discovery: Discovery = self
            .fetch(&format!("{issuer}/.well-known/openid-configuration"))
            .await?;
        if discovery.issuer.trim_end_matches('/') != issuer {
            return Err(OidcError::Provider(format!(
                "the discovery document names the issuer {:?}, not {issuer:?}",
                discovery.issuer
            )));
        }
        let jwks = self.fetch(&discovery.jwks_uri).await?;
        Ok(Known { discovery, jwks })
    }

    /// Reads the provider again, noting the attempt whatever its outcome.
    async fn refresh(&self, cache: &mut Cache) -> Result<(), OidcError> {
        cache.tried_at = Some(Instant::now());
        cache.known = Some(self.read().await?);
        Ok(())
    }

    /// The authorization and token endpoints.
    async fn endpoints(&self) -> Result<(String, String), OidcError> {
        let mut cache = self.cache.lock().await;
        if cache.known.is_none() {
            self.refresh(&mut cache).await?;
        }
        let d = &cache
            .known
            .as_ref()
            .ok_or_else(|| OidcError::Provider("unknown".into()))?
            .discovery;
        Ok((d.authorization_endpoint.clone(), d.token_endpoint.clone()))
    }

    /// The key that signed a token with `kid`. A kid the cache does not hold (a
    /// rotation) makes it read the JWKS again; reads are at least [`JWKS_REFRESH_GAP`]
    /// apart, and a token that comes sooner waits for the next read rather than being
    /// refused, so tokens with made-up kids can delay a new key but not shut it out.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, OidcError> {
        for _ in 0..3 {
            let wait = {
                let mut cache = self.cache.lock().await;
                if let Some(jwk) = cache.known.as_ref().and_then(|k| find(&k.jwks, kid)) {
                    return DecodingKey::from_jwk(jwk)
                        .map_err(|e| OidcError::InvalidToken(e.to_string()));
                }
                match cache.tried_at.map(|t| t.elapsed()) {
                    Some(since) if since < JWKS_REFRESH_GAP => JWKS_REFRESH_GAP - since,
                    _ => {
                        self.refresh(&mut cache).await?;
                        continue;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
        Err(OidcError::InvalidToken(
            "signed with a key the provider does not publish".into(),
        ))
    }

    /// Verifies a JWT from the provider naming `audience`; its claims.
    pub async fn verify(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::InvalidToken(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[audience]);
        validation.leeway = self.settings.skew.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))
    }

    /// The person a verified token's claims describe, with the role their claim maps to.
    pub fn person(&self, claims: &Map<String, Value>) -> Result<Person, OidcError> {
        let s = &self.settings;
        let values: Vec<&str> = match claims.get(&s.role_claim) {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => one.split([' ', ',']).collect(),
            _ => Vec::new(),
        };
        let has = |wanted: &[String]| values.iter().any(|v| wanted.iter().any(|w| w == v));
        let role = if has(&s.admin_values) {
            Role::Admin
        } else if has(&s.analyst_values) {
            Role::Analyst
        } else {
            return Err(OidcError::NoRole(s.role_claim.clone()));
        };
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Person {
            subject: text("sub").ok_or_else(|| OidcError::InvalidToken("no sub".into()))?,
            email: text("email"),
            name: text("name"),
            role,
        })
    }

    /// The person an API bearer access token names.
    pub async fn bearer(&self, token: &str) -> Result<Person, OidcError> {
        let claims = self.verify(token, &self.settings.audience).await?;
        self.person(&claims)
    }

    /// Where to send a browser to sign in.
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
        fresh: bool,
    ) -> Result<String, OidcError> {
        let (authorize, _) = self.endpoints().await?;
        let mut url =
            url::Url::parse(&authorize).map_err(|e| OidcError::Provider(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair(
                "scope",
                &format!("openid email profile {}", self.settings.role_claim),
            )
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        if fresh {
            // After a sign-out or a refusal: ask the person again, so another account
            // can be used.
            url.query_pairs_mut().append_pair("prompt", "login");
        }
        Ok(url.into())
    }

    /// Trades an authorization code for the person its ID token names, checking the
    /// token's signature, issuer, audience (our client id), times and `nonce`.
    pub async fn sign_in(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Person, OidcError> {
        let (_, token_endpoint) = self.endpoints().await?;
        let s = &self.settings;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", s.client_id.as_str()),
        ];
        if let Some(secret) = &s.client_secret {
            form.push(("client_secret", secret));
        }
        #[derive(Deserialize)]
        struct Tokens {
            id_token: String,
        }
        let tokens: Tokens = self
            .http
            .post(&token_endpoint)
            .form(&form)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| OidcError::Provider(format!("token endpoint: {e}")))?
            .json()
            .await
            .map_err(|e| OidcError::Provider(format!("token endpoint: {e}")))?;
        let claims = self.verify(&tokens.id_token, &s.client_id).await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(OidcError::InvalidToken("the nonce does not match".into()));
        }
        self.person(&claims)
    }
}

fn find<'a>(jwks: &'a JwkSet, kid: Option<&str>) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => jwks.find(kid),
        // Without a kid, only an unambiguous set will do.
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
}

/// Whether a bearer credential is a JWT (three dot-separated parts) rather than an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3 && !credential.starts_with(crate::auth::KEY_PREFIX)
}
