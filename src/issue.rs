//! Issuing tokens: sign claims with a configured key, and publish the public JWK set.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::{Algorithm, Issuer, JwtAuthLayer, RegisteredClaims};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = Issuer::hmac(Algorithm::HS256, "a-secret-of-at-least-32-bytes-long!!")?
//!     .issuer("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .ttl(Duration::from_secs(7 * 24 * 3600));
//! let issued = issuer.issue("user-42", &serde_json::json!({ "email": "ada@example.com" }))?;
//! assert_eq!(issued.expires_at - issued.issued_at, 7 * 24 * 3600);
//!
//! // The layer that verifies these tokens uses the same key and claims.
//! let layer = JwtAuthLayer::<RegisteredClaims>::builder()
//!     .key(issuer.verification_key())
//!     .issuer("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .build()?;
//! # let _ = (layer, issued.token);
//! # Ok(())
//! # }
//! ```
//!
//! For asymmetric keys, [`Issuer::jwks_json`] gives the public JWK set to serve at
//! `/.well-known/jwks.json`, so that other services verify with
//! [`RemoteJwks`](crate::remote::RemoteJwks) without sharing a secret.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::key::Key;
use crate::key::der::{Curve, PrivateKeyDer, parse_private_key_der, parse_private_key_pem};
use crate::verify::crypto_backend;

/// Seven days, the lifetime of a Better Auth session and the default of [`Issuer::ttl`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// 9999-12-31T23:59:59Z, the last date verifiers accept.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Claims the issuer sets itself; `extra` claims may not use these names.
const RESERVED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// Signs tokens with one key and algorithm, setting `iat`, `exp`, `iss`, `aud`, `sub` and `jti`.
///
/// Cheap to share behind an `Arc`; [`issue`](Self::issue) takes `&self`.
#[derive(Clone)]
pub struct Issuer {
    alg: Algorithm,
    signing_key: EncodingKey,
    verification_key: Key,
    /// The public JWK (without `kid`, `alg`, `use`), for asymmetric keys.
    public_jwk: Option<Map<String, Value>>,
    kid: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    ttl: Duration,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signing key is never printed.
        f.debug_struct("Issuer")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A token just issued, with the times and id written into it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// The `jti` claim: 128 random bits, base64url.
    pub jti: String,
    /// The `iat` claim, seconds since the Unix epoch.
    pub issued_at: u64,
    /// The `exp` claim, seconds since the Unix epoch.
    pub expires_at: u64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A bearer token is a credential: keep it out of logs.
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("jti", &self.jti)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The extra claims did not serialize to a JSON object.
    #[error("extra claims must serialize to a JSON object")]
    ClaimsNotAnObject,
    /// The extra claims could not be serialized.
    #[error("extra claims could not be serialized: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The extra claims set a claim the issuer owns.
    #[error("the claim `{0}` is set by the issuer and cannot be given as an extra claim")]
    ReservedClaim(&'static str),
    /// The subject is empty.
    #[error("the subject must not be empty")]
    EmptySubject,
    /// The system clock is before 1970, or the expiry would fall after the year 9999.
    #[error("the system clock or the lifetime is out of range")]
    Clock,
    /// The operating system's random source failed.
    #[error("no randomness for the token id")]
    Random,
    /// The crypto backend failed to sign.
    #[error("signing failed")]
    Signing,
}

impl Issuer {
    /// An HMAC issuer (HS256, HS384 or HS512). The secret must be at least as long as the
    /// hash output (32, 48 or 64 bytes; RFC 7518 §3.2).
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        let verification_key = Key::hmac(alg, secret)?;
        Self::new(
            alg,
            EncodingKey::from_secret(secret),
            verification_key,
            None,
        )
    }

    /// An issuer from a private key in PEM: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// (PKCS#1) or `EC PRIVATE KEY` (SEC1, after any `EC PARAMETERS` block). `alg` must suit the
    /// key: RS256/384/512 or PS256/384/512 for RSA (2048 to 8192 bits; 4096 with only the
    /// `rust-crypto` backend), ES256 for P-256, ES384 for P-384, EdDSA for Ed25519. Encrypted keys
    /// are not read.
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let pem = std::str::from_utf8(pem.as_ref())
            .map_err(|_| ConfigError::InvalidKey("PEM is not UTF-8".to_owned()))?;
        let key = parse_private_key_pem(pem).map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        Self::from_private(alg, key)
    }

    /// An issuer from a DER private key: PKCS#8, or PKCS#1 for RSA. See [`from_pem`](Self::from_pem).
    pub fn from_der(alg: Algorithm, der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = parse_private_key_der(der.as_ref())
            .map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        Self::from_private(alg, key)
    }

    fn from_private(alg: Algorithm, key: PrivateKeyDer) -> Result<Self, ConfigError> {
        let provider = crypto_backend()?;
        let utils = &provider.key_utils;
        let mismatch =
            || ConfigError::InvalidKey(format!("the private key cannot be used with {alg:?}"));
        let failed = |what: &str| ConfigError::InvalidKey(format!("unusable {what} private key"));
        let mut jwk = Map::new();
        let (signing_key, verification_key) = match key {
            PrivateKeyDer::Rsa(der) => {
                if !matches!(
                    alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ) {
                    return Err(mismatch());
                }
                let (n, e) =
                    (utils.rsa_pub_components_from_private_key)(&der).map_err(|_| failed("RSA"))?;
                let verification_key = Key::rsa_components(alg, &n, &e)?;
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), URL_SAFE_NO_PAD.encode(&n).into());
                jwk.insert("e".into(), URL_SAFE_NO_PAD.encode(&e).into());
                (EncodingKey::from_rsa_der(&der), verification_key)
            }
            PrivateKeyDer::Ec { curve, pkcs8 } => {
                let crv = match (curve, alg) {
                    (Curve::P256, Algorithm::ES256) => "P-256",
                    (Curve::P384, Algorithm::ES384) => "P-384",
                    (Curve::P521, _) => {
                        return Err(ConfigError::InvalidKey(
                            "P-521 (ES512) keys are not supported".to_owned(),
                        ));
                    }
                    _ => return Err(mismatch()),
                };
                let (_, x, y) = (utils.ec_pub_components_from_private_key)(&pkcs8, alg)
                    .map_err(|_| failed("EC"))?;
                let verification_key = Key::ec_components(alg, &x, &y)?;
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), crv.into());
                jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(&x).into());
                jwk.insert("y".into(), URL_SAFE_NO_PAD.encode(&y).into());
                (EncodingKey::from_ec_der(&pkcs8), verification_key)
            }
            PrivateKeyDer::Ed25519(pkcs8) => {
                if alg != Algorithm::EdDSA {
                    return Err(mismatch());
                }
                let x = (utils.ed_pub_components_from_private_key)(
                    &pkcs8,
                    &jsonwebtoken::jwk::EllipticCurve::Ed25519,
                )
                .map_err(|_| failed("Ed25519"))?;
                let verification_key = Key::ed25519(&x)?;
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(&x).into());
                (EncodingKey::from_ed_der(&pkcs8), verification_key)
            }
        };
        let mut issuer = Self::new(alg, signing_key, verification_key, Some(jwk))?;
        // RFC 7638 thumbprint as the default kid, so that rotations never reuse an id.
        let thumbprint = issuer.thumbprint()?;
        issuer = issuer.kid(thumbprint);
        Ok(issuer)
    }

    fn new(
        alg: Algorithm,
        signing_key: EncodingKey,
        verification_key: Key,
        public_jwk: Option<Map<String, Value>>,
    ) -> Result<Self, ConfigError> {
        let issuer = Self {
            alg,
            signing_key,
            verification_key,
            public_jwk,
            kid: None,
            iss: None,
            aud: None,
            ttl: DEFAULT_TTL,
        };
        // Sign once now, so that a key the backend cannot use fails at start, not per request.
        issuer
            .sign(b"{}")
            .map_err(|_| ConfigError::InvalidKey("the key cannot sign".to_owned()))?;
        Ok(issuer)
    }

    fn thumbprint(&self) -> Result<String, ConfigError> {
        let Some(jwk) = &self.public_jwk else {
            return Err(ConfigError::InvalidKey("no public key".to_owned()));
        };
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
        let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => &["e", "kty", "n"],
            Some("EC") => &["crv", "kty", "x", "y"],
            _ => &["crv", "kty", "x"],
        };
        let canonical: Map<String, Value> = members
            .iter()
            .filter_map(|&m| jwk.get(m).map(|v| (m.to_owned(), v.clone())))
            .collect();
        let canonical = serde_json::to_vec(&canonical)
            .map_err(|_| ConfigError::InvalidKey("thumbprint".to_owned()))?;
        let digest =
            (crypto_backend()?.key_utils.compute_digest)(&canonical, ThumbprintHash::SHA256)
                .map_err(|_| ConfigError::InvalidKey("thumbprint".to_owned()))?;
        Ok(URL_SAFE_NO_PAD.encode(digest))
    }

    /// Sets the `kid` header (and the verification key's kid). Asymmetric issuers default
    /// to the key's RFC 7638 thumbprint; HMAC issuers have none unless set.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        self.verification_key = self.verification_key.with_kid(kid.clone());
        self.kid = Some(kid);
        self
    }

    /// Sets the `iss` claim of every token.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets the `aud` claim of every token.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.aud = Some(aud.into());
        self
    }

    /// Sets how long tokens are valid (default [`DEFAULT_TTL`], 7 days).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` written into token headers, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.ttl
    }

    /// The key that verifies this issuer's tokens, for [`JwtAuthBuilder::key`](crate::JwtAuthBuilder::key):
    /// the public key for asymmetric issuers, the secret for HMAC.
    pub fn verification_key(&self) -> Key {
        self.verification_key.clone()
    }

    /// The public JWK set (`{"keys":[{…, "kid", "alg", "use":"sig"}]}`) to serve at
    /// `/.well-known/jwks.json`; `None` for HMAC issuers, whose key is a secret.
    pub fn jwks_json(&self) -> Option<String> {
        let mut jwk = self.public_jwk.clone()?;
        if let Some(kid) = &self.kid {
            jwk.insert("kid".into(), kid.clone().into());
        }
        jwk.insert("alg".into(), algorithm_name(self.alg));
        jwk.insert("use".into(), "sig".into());
        let set = serde_json::json!({ "keys": [Value::Object(jwk)] });
        Some(set.to_string())
    }

    /// Issues a token for `subject`, valid from now for the configured lifetime.
    ///
    /// `extra` must serialize to a JSON object (use `&serde_json::json!({})` for none);
    /// it may not set `iss`, `sub`, `aud`, `exp`, `nbf`, `iat` or `jti`.
    pub fn issue<C: Serialize + ?Sized>(
        &self,
        subject: &str,
        extra: &C,
    ) -> Result<IssuedToken, IssueError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| IssueError::Clock)?
            .as_secs();
        self.issue_at(subject, extra, now)
    }

    /// Like [`issue`](Self::issue), with `iat` given in seconds since the Unix epoch.
    pub fn issue_at<C: Serialize + ?Sized>(
        &self,
        subject: &str,
        extra: &C,
        issued_at: u64,
    ) -> Result<IssuedToken, IssueError> {
        if subject.is_empty() {
            return Err(IssueError::EmptySubject);
        }
        let mut claims = match serde_json::to_value(extra).map_err(IssueError::Serialize)? {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(IssueError::ClaimsNotAnObject),
        };
        if let Some(&reserved) = RESERVED_CLAIMS.iter().find(|&&c| claims.contains_key(c)) {
            return Err(IssueError::ReservedClaim(reserved));
        }
        // Verifiers (this crate's included) refuse dates past the year 9999.
        let expires_at = issued_at
            .checked_add(self.ttl.as_secs())
            .filter(|&exp| exp <= MAX_NUMERIC_DATE)
            .ok_or(IssueError::Clock)?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| IssueError::Random)?;
        let jti = URL_SAFE_NO_PAD.encode(id);
        if let Some(iss) = &self.iss {
            claims.insert("iss".into(), iss.clone().into());
        }
        claims.insert("sub".into(), subject.into());
        if let Some(aud) = &self.aud {
            claims.insert("aud".into(), aud.clone().into());
        }
        claims.insert("iat".into(), issued_at.into());
        claims.insert("exp".into(), expires_at.into());
        claims.insert("jti".into(), jti.clone().into());
        let payload = serde_json::to_vec(&claims).map_err(IssueError::Serialize)?;
        let token = self.sign(&payload)?;
        Ok(IssuedToken {
            token,
            jti,
            issued_at,
            expires_at,
        })
    }

    /// Builds the compact JWS of `payload` under this issuer's header.
    fn sign(&self, payload: &[u8]) -> Result<String, IssueError> {
        let mut header = Map::new();
        header.insert("alg".into(), algorithm_name(self.alg));
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), kid.clone().into());
        }
        let header = serde_json::to_vec(&header).map_err(IssueError::Serialize)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let provider = crypto_backend().map_err(|_| IssueError::Signing)?;
        let signer = (provider.signer_factory)(&self.alg, &self.signing_key)
            .map_err(|_| IssueError::Signing)?;
        let signature = signer
            .try_sign(token.as_bytes())
            .map_err(|_| IssueError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// The JOSE name of an algorithm, as jsonwebtoken serializes it.
fn algorithm_name(alg: Algorithm) -> Value {
    serde_json::to_value(alg).unwrap_or(Value::Null)
}
