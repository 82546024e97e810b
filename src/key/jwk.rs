//! JWK (RFC 7517) and JWK set loading, with the checks a verifier owes its keys.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde_json::{Map, Value};

use super::Key;
use crate::error::ConfigError;

/// How JWKs are turned into keys.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JwkOptions {
    /// Accept `oct` (symmetric) JWKs. Off by default: a shared secret published beside public keys is
    /// almost always a mistake.
    pub allow_symmetric: bool,
    /// The algorithm for JWKs that carry no `alg` and whose type does not imply one (RSA, `oct`).
    pub default_algorithm: Option<Algorithm>,
}

impl JwkOptions {
    /// Accept `oct` (symmetric) JWKs.
    pub fn allow_symmetric(mut self, allow: bool) -> Self {
        self.allow_symmetric = allow;
        self
    }

    /// The algorithm for JWKs without `alg` whose type does not imply one.
    pub fn default_algorithm(mut self, alg: Algorithm) -> Self {
        self.default_algorithm = Some(alg);
        self
    }
}

/// The usable keys of a JWK set, and why the others were skipped.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<SkippedJwk>,
}

/// A JWK set entry that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedJwk {
    /// The entry's `kid`, if it had a string one.
    pub kid: Option<String>,
    /// Its position in the set's `keys` array.
    pub index: usize,
    /// Why it was skipped.
    pub reason: String,
}

impl fmt::Display for SkippedJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(
                f,
                "JWK #{} (kid {kid:?}) skipped: {}",
                self.index, self.reason
            ),
            None => write!(f, "JWK #{} skipped: {}", self.index, self.reason),
        }
    }
}

impl KeySet {
    /// Loads a JWK set (`{"keys": [...]}`) with default [`JwkOptions`].
    pub fn from_jwks_json(json: &str) -> Result<Self, ConfigError> {
        Self::from_jwks_json_with(json, &JwkOptions::default())
    }

    /// Loads a JWK set. Entries a verifier cannot use (`use` other than `sig`, `key_ops` without `verify`,
    /// unknown `kty` or `alg`, `oct` unless allowed, private members, bad key material) are skipped and
    /// listed in [`KeySet::skipped`] (and logged with the `tracing` feature); only a document that is not a
    /// JWK set at all is an error.
    pub fn from_jwks_json_with(json: &str, options: &JwkOptions) -> Result<Self, ConfigError> {
        let document: Value = serde_json::from_str(json)
            .map_err(|_| ConfigError::InvalidJwk("the JWK set is not JSON".into()))?;
        Self::from_value(&document, options)
    }

    /// Loads jsonwebtoken's [`JwkSet`](jsonwebtoken::jwk::JwkSet) type; see [`KeySet::from_jwks_json_with`].
    pub fn from_jwk_set(
        set: &jsonwebtoken::jwk::JwkSet,
        options: &JwkOptions,
    ) -> Result<Self, ConfigError> {
        let document =
            serde_json::to_value(set).map_err(|e| ConfigError::InvalidJwk(e.to_string()))?;
        Self::from_value(&document, options)
    }

    pub(crate) fn from_value(document: &Value, options: &JwkOptions) -> Result<Self, ConfigError> {
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ConfigError::InvalidJwk("a JWK set is an object with a `keys` array".into())
            })?;
        let mut set = KeySet::default();
        for (index, entry) in entries.iter().enumerate() {
            match key_from_jwk(entry, options, None) {
                Ok(key) => set.keys.push(key),
                Err(reason) => {
                    let skipped = SkippedJwk {
                        kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                        index,
                        reason: reason.to_string(),
                    };
                    #[cfg(feature = "tracing")]
                    tracing::warn!(kid = ?skipped.kid, index, reason = %skipped.reason, "JWK skipped");
                    set.skipped.push(skipped);
                }
            }
        }
        Ok(set)
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The entries that were skipped, with reasons.
    pub fn skipped(&self) -> &[SkippedJwk] {
        &self.skipped
    }

    /// The usable keys, by value.
    pub fn into_keys(self) -> Vec<Key> {
        self.keys
    }
}

/// Why one JWK is unusable. Private: callers see it as text.
#[derive(Debug)]
pub(crate) struct JwkError(String);

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(reason: impl Into<String>) -> Result<T, JwkError> {
    Err(JwkError(reason.into()))
}

/// Private members per RFC 7518 §6: their presence means a private key was published or configured.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

pub(crate) fn key_from_jwk(
    jwk: &Value,
    options: &JwkOptions,
    configured_alg: Option<Algorithm>,
) -> Result<Key, JwkError> {
    let Some(jwk) = jwk.as_object() else {
        return fail("not a JSON object");
    };
    let kty = match jwk.get("kty") {
        Some(Value::String(kty)) => kty.as_str(),
        _ => return fail("no `kty`"),
    };
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return fail("`use` is not `sig`"),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => {}
        Some(_) => return fail("`key_ops` does not include `verify`"),
    }
    if kty != "oct" && PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return fail("contains private key material");
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return fail("`kid` is not a string"),
    };
    match kty {
        "RSA" | "EC" | "OKP" => {}
        "oct" if options.allow_symmetric => {}
        "oct" => return fail("symmetric (`oct`) keys are not allowed"),
        other => return fail(format!("unsupported key type {other:?}")),
    }
    let alg = algorithm(jwk, kty, options, configured_alg)?;
    let key = match kty {
        "RSA" => Key::rsa_components(alg, &member(jwk, "n")?, &member(jwk, "e")?),
        "EC" => {
            let crv = string_member(jwk, "crv")?;
            let expected = match crv {
                "P-256" => Algorithm::ES256,
                "P-384" => Algorithm::ES384,
                other => return fail(format!("unsupported curve {other:?}")),
            };
            if alg != expected {
                return fail(format!("curve {crv} cannot be used with {alg:?}"));
            }
            Key::ec_components(alg, &member(jwk, "x")?, &member(jwk, "y")?)
        }
        "OKP" => match string_member(jwk, "crv")? {
            "Ed25519" => Key::ed25519(&member(jwk, "x")?),
            other => return fail(format!("unsupported curve {other:?}")),
        },
        _ => Key::hmac(alg, member(jwk, "k")?),
    };
    let key = key.map_err(|e| JwkError(e.to_string()))?;
    Ok(match kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

fn algorithm(
    jwk: &Map<String, Value>,
    kty: &str,
    options: &JwkOptions,
    configured: Option<Algorithm>,
) -> Result<Algorithm, JwkError> {
    let declared = match jwk.get("alg") {
        None => None,
        Some(Value::String(alg)) => match Algorithm::from_str(alg) {
            Ok(alg) => Some(alg),
            Err(_) if alg == "ES512" => {
                return fail("ES512 (P-521) is not supported by jsonwebtoken");
            }
            Err(_) => return fail(format!("unsupported `alg` {alg:?}")),
        },
        Some(_) => return fail("`alg` is not a string"),
    };
    if let (Some(declared), Some(configured)) = (declared, configured)
        && declared != configured
    {
        return fail(format!("the JWK is for {declared:?}, not {configured:?}"));
    }
    let inferred = match (kty, jwk.get("crv").and_then(Value::as_str)) {
        ("EC", Some("P-256")) => Some(Algorithm::ES256),
        ("EC", Some("P-384")) => Some(Algorithm::ES384),
        ("EC", Some("P-521")) => return fail("ES512 (P-521) is not supported by jsonwebtoken"),
        ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
        _ => None,
    };
    let alg = declared
        .or(configured)
        .or(inferred)
        .or(options.default_algorithm)
        .ok_or_else(|| {
            JwkError(format!(
                "no `alg`, and {} key does not imply one",
                article(kty)
            ))
        })?;
    let family_matches = matches!(
        (kty, alg.family()),
        ("RSA", AlgorithmFamily::Rsa)
            | ("EC", AlgorithmFamily::Ec)
            | ("OKP", AlgorithmFamily::Ed)
            | ("oct", AlgorithmFamily::Hmac)
    );
    if !family_matches {
        return fail(format!("{} key cannot be used with {alg:?}", article(kty)));
    }
    Ok(alg)
}

/// "an RSA", "an EC", "an OKP", "an oct": every supported `kty` takes "an".
fn article(kty: &str) -> String {
    format!("an {kty}")
}

fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, JwkError> {
    match jwk.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => fail(format!("`{name}` is missing or not a string")),
    }
}

/// A base64url member. Padding is tolerated: it changes nothing about the key and some publishers add it.
fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwkError> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)
        .decode(string_member(jwk, name)?)
        .or_else(|_| fail(format!("`{name}` is not base64url")))
}
