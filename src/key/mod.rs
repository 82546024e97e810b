//! Verification keys, each bound to exactly one algorithm.
//!
//! A [`Key`] is checked when it is loaded (secret length, RSA size and exponent, curve and coordinate
//! lengths, no private material), so most broken keys are refused at start-up rather than failing every
//! token. (With `aws-lc-rs` the public key is also parsed and validated then, EC points included; with only
//! `rust-crypto`, an EC point off its curve is found at verification.) The algorithm a token
//! may use comes from the key, never from the token.
//!
//! ```
//! use tower_jwt_auth::{Algorithm, Key, KeySet};
//!
//! let key = Key::hs256(b"0123456789abcdef0123456789abcdef")?.with_kid("2024-01");
//! assert_eq!(key.algorithm(), Algorithm::HS256);
//! assert_eq!(key.kid(), Some("2024-01"));
//!
//! // Entries a verifier cannot use are skipped, not fatal.
//! let set = KeySet::from_jwks_json(r#"{"keys": [
//!     {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
//!     {"kty": "RSA", "use": "enc", "kid": "b", "n": "AQAB", "e": "AQAB"}
//! ]}"#)?;
//! assert_eq!(set.keys().len(), 1);
//! assert_eq!(set.skipped().len(), 1);
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```

pub(crate) mod der;
mod jwk;
mod signature;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::error::ConfigError;
use der::{Curve, OwnedPublicKey};
use signature::{Material, SignatureCheck};

pub use jwk::{JwkOptions, KeySet, SkippedJwk};

/// One verification key, bound to one algorithm and optionally named by a key id (`kid`).
#[derive(Clone)]
pub struct Key {
    alg: Algorithm,
    kid: Option<Arc<str>>,
    decoding: DecodingKey,
    /// Shared: parsed once, cloned with the key for free.
    check: Arc<SignatureCheck>,
    signature_len: usize,
    fingerprint: u64,
}

impl fmt::Debug for Key {
    // Never print key material, not even a public key: logs are not the place.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// An HS256 key from a raw secret of at least 32 bytes (e.g. `BETTER_AUTH_SECRET`).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::hmac(Algorithm::HS256, secret)
    }

    /// An HS384 key from a raw secret of at least 48 bytes.
    pub fn hs384(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::hmac(Algorithm::HS384, secret)
    }

    /// An HS512 key from a raw secret of at least 64 bytes.
    pub fn hs512(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::hmac(Algorithm::HS512, secret)
    }

    /// An HMAC key for `alg` from a raw secret, refused when shorter than the hash output (RFC 7518 §3.2).
    pub fn hmac(alg: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            other => return Err(not_for_key_type(other, "an HMAC secret")),
        };
        if secret.len() < min {
            return Err(ConfigError::SecretTooShort {
                alg,
                min,
                got: secret.len(),
            });
        }
        Self::new(
            alg,
            DecodingKey::from_secret(secret),
            Material::Secret(secret),
            min,
        )
    }

    /// An HMAC key for `alg` from a standard base64 (padded or not) or base64url secret.
    pub fn hmac_base64(alg: Algorithm, secret: &str) -> Result<Self, ConfigError> {
        let secret = decode_base64_any(secret.trim())
            .ok_or_else(|| ConfigError::InvalidKey("the HMAC secret is not valid base64".into()))?;
        Self::hmac(alg, secret)
    }

    /// A public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, EC P-256/P-384, Ed25519),
    /// `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (its public key is used; the certificate itself is not
    /// validated). Private keys are refused.
    pub fn from_pem(alg: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let pem = std::str::from_utf8(pem.as_ref())
            .map_err(|_| ConfigError::InvalidKey("the PEM is not text".into()))?;
        let public =
            der::parse_public_key_pem(pem).map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        Self::from_public(alg, public)
    }

    /// A public key from DER: SubjectPublicKeyInfo or PKCS#1 `RSAPublicKey`.
    pub fn from_der(alg: Algorithm, der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let public = der::parse_public_key_der(der.as_ref())
            .map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
        Self::from_public(alg, public.into())
    }

    /// An RSA public key from its big-endian modulus and exponent, for RS256/384/512 or PS256/384/512.
    /// The modulus must be 2048 to 8192 bits (4096 with only the `rust-crypto` backend, whose `rsa` crate
    /// verifies no larger), the exponent odd and between 3 and 2³² − 1.
    pub fn rsa_components(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<Self, ConfigError> {
        if alg.family() != AlgorithmFamily::Rsa {
            return Err(not_for_key_type(alg, "an RSA key"));
        }
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = n
            .first()
            .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
        if !(2048..=MAX_RSA_BITS).contains(&bits) {
            return Err(ConfigError::InvalidKey(format!(
                "RSA modulus of {bits} bits; 2048 to {MAX_RSA_BITS} are accepted with this crypto backend"
            )));
        }
        let sane_exponent = e.len() <= 4
            && e.last().is_some_and(|b| b & 1 == 1)
            && e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)) >= 3;
        if !sane_exponent {
            return Err(ConfigError::InvalidKey(
                "RSA exponent must be odd and between 3 and 2^32-1".into(),
            ));
        }
        Self::new(
            alg,
            DecodingKey::from_rsa_raw_components(n, e),
            Material::Rsa { n, e },
            n.len(),
        )
    }

    /// An EC public key from its affine coordinates: P-256 for ES256 (32 bytes each), P-384 for ES384 (48).
    pub fn ec_components(alg: Algorithm, x: &[u8], y: &[u8]) -> Result<Self, ConfigError> {
        let len = ec_coordinate_len(alg)?;
        if x.len() != len || y.len() != len {
            return Err(ConfigError::InvalidKey(format!(
                "{alg:?} needs {len}-byte EC coordinates, got {} and {}",
                x.len(),
                y.len()
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::new(
            alg,
            DecodingKey::from_ec_der(&point),
            Material::EcPoint(&point),
            2 * len,
        )
    }

    /// An Ed25519 public key (EdDSA) from its 32 bytes.
    pub fn ed25519(x: &[u8]) -> Result<Self, ConfigError> {
        if x.len() != 32 {
            return Err(ConfigError::InvalidKey(format!(
                "an Ed25519 public key is 32 bytes, got {}",
                x.len()
            )));
        }
        Self::new(
            Algorithm::EdDSA,
            DecodingKey::from_ed_der(x),
            Material::Ed25519(x),
            64,
        )
    }

    /// A key from one JWK (JSON text). The algorithm is the JWK's `alg`, or `alg` when the JWK has none
    /// (it can also be inferred for EC and OKP keys); a JWK whose `alg` contradicts `alg` is refused.
    /// `kid` is taken from the JWK. Unlike in a [`KeySet`], an unusable JWK is an error here, and an `oct`
    /// (symmetric) JWK is accepted: configuring one key explicitly is the explicit permission.
    pub fn from_jwk_json(json: &str, alg: Option<Algorithm>) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|_| ConfigError::InvalidJwk("not JSON".into()))?;
        let options = JwkOptions {
            default_algorithm: alg,
            allow_symmetric: true,
        };
        jwk::key_from_jwk(&value, &options, alg).map_err(|e| ConfigError::InvalidJwk(e.to_string()))
    }

    /// A key from jsonwebtoken's [`Jwk`](jsonwebtoken::jwk::Jwk) type; see [`Key::from_jwk_json`].
    pub fn from_jwk(
        jwk: &jsonwebtoken::jwk::Jwk,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let value =
            serde_json::to_value(jwk).map_err(|e| ConfigError::InvalidJwk(e.to_string()))?;
        Self::from_jwk_json(&value.to_string(), alg)
    }

    /// Names this key: tokens must then carry this `kid` to be verified with it.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(Arc::from(kid.into()));
        self
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key id as a shared string (cheap to clone).
    pub(crate) fn kid_arc(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    /// The jsonwebtoken key, for use with jsonwebtoken's own functions.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The length in bytes every valid signature of this key has; checked before any crypto.
    pub(crate) fn signature_len(&self) -> usize {
        self.signature_len
    }

    fn new(
        alg: Algorithm,
        decoding: DecodingKey,
        material: Material<'_>,
        signature_len: usize,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            fingerprint: fingerprint(alg, &decoding),
            check: Arc::new(SignatureCheck::new(alg, material)?),
            alg,
            kid: None,
            decoding,
            signature_len,
        })
    }

    /// Whether `signature` (decoded) is this key's signature of `message`.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        self.check
            .verify(self.alg, &self.decoding, message, signature)
    }

    /// Identifies the key material and algorithm (not the kid): the verified-token cache serves an entry
    /// only while the key that verified it is still the one a lookup returns, so a key set that removes
    /// or replaces a key invalidates what it verified. Not a security boundary: keys come from the
    /// configuration or the identity provider, never from the client.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn from_public(alg: Algorithm, public: OwnedPublicKey) -> Result<Self, ConfigError> {
        match public {
            OwnedPublicKey::Rsa { n, e } => Self::rsa_components(alg, &n, &e),
            OwnedPublicKey::Ec { curve, point } => {
                let expected = match curve {
                    Curve::P256 => Algorithm::ES256,
                    Curve::P384 => Algorithm::ES384,
                    Curve::P521 => {
                        return Err(ConfigError::InvalidKey(
                            "P-521 (ES512) keys are not supported by jsonwebtoken".into(),
                        ));
                    }
                };
                if alg != expected {
                    return Err(ConfigError::InvalidKey(format!(
                        "this EC key is for {expected:?}, not {alg:?}"
                    )));
                }
                let len = ec_coordinate_len(alg)?;
                match point.split_first() {
                    Some((0x04, xy)) if xy.len() == 2 * len => {
                        let (x, y) = xy.split_at(len);
                        Self::ec_components(alg, x, y)
                    }
                    _ => Err(ConfigError::InvalidKey(
                        "the EC point must be uncompressed and of the curve's size".into(),
                    )),
                }
            }
            OwnedPublicKey::Ed25519 { x } => {
                if alg != Algorithm::EdDSA {
                    return Err(ConfigError::InvalidKey(format!(
                        "this Ed25519 key is for EdDSA, not {alg:?}"
                    )));
                }
                Self::ed25519(&x)
            }
        }
    }
}

/// The `rsa` crate behind the pure-Rust backend refuses moduli over 4096 bits at verification time; a key
/// that loads must also verify, so the limit is applied here.
#[cfg(any(feature = "aws-lc-rs", not(feature = "rust-crypto")))]
const MAX_RSA_BITS: usize = 8192;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
const MAX_RSA_BITS: usize = 4096;

fn fingerprint(alg: Algorithm, key: &DecodingKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    format!("{alg:?}").hash(&mut hasher);
    match key.kind() {
        jsonwebtoken::DecodingKeyKind::SecretOrDer(bytes) => bytes.hash(&mut hasher),
        jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } => {
            n.hash(&mut hasher);
            e.hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn ec_coordinate_len(alg: Algorithm) -> Result<usize, ConfigError> {
    match alg {
        Algorithm::ES256 => Ok(32),
        Algorithm::ES384 => Ok(48),
        other => Err(not_for_key_type(other, "an EC key")),
    }
}

fn not_for_key_type(alg: Algorithm, what: &str) -> ConfigError {
    ConfigError::InvalidKey(format!("{alg:?} cannot be used with {what}"))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Standard or URL-safe alphabet, padded or not: secrets are pasted from many tools.
fn decode_base64_any(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
        .ok()
}
