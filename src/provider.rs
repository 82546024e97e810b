//! How the layer finds the key for a token.
//!
//! [`StaticKeys`] answers from memory, synchronously. A provider that must fetch keys (a remote JWK set)
//! returns [`KeyLookup::Pending`] with a future; the layer awaits it without blocking other requests.
//!
//! ```
//! use tower_jwt_auth::{Algorithm, Key, KeyLookup, KeyProvider, StaticKeys, TokenHeader};
//!
//! let keys = StaticKeys::new([
//!     Key::hs256([1u8; 32])?.with_kid("old"),
//!     Key::hs256([2u8; 32])?.with_kid("new"),
//! ])?;
//! let header = TokenHeader::new(Algorithm::HS256, Some("new"));
//! match keys.lookup(&header) {
//!     KeyLookup::Found(key) => assert_eq!(key.kid(), Some("new")),
//!     _ => unreachable!(),
//! }
//! // Several keys and no kid: the token must say which.
//! assert!(matches!(keys.lookup(&TokenHeader::new(Algorithm::HS256, None)), KeyLookup::Refused(_)));
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::key::Key;

/// What the layer knows of a token before its signature is checked: enough to choose a key.
///
/// Everything here is attacker-controlled until the signature verifies.
#[derive(Clone)]
pub struct TokenHeader<'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
    /// The encoded payload, for providers that route by `iss` before the signature is checked.
    payload: Option<Cow<'a, [u8]>>,
}

impl<'a> TokenHeader<'a> {
    /// A header with the given `alg` and `kid` (for tests and custom providers).
    pub fn new(alg: Algorithm, kid: Option<&'a str>) -> Self {
        Self {
            alg,
            kid: kid.map(Cow::Borrowed),
            payload: None,
        }
    }

    /// The same header with the token's encoded payload, so that [`TokenHeader::unverified_issuer`] can
    /// read it (for tests and custom providers).
    pub fn with_payload(mut self, payload: &'a str) -> Self {
        self.payload = Some(Cow::Borrowed(payload.as_bytes()));
        self
    }

    /// The header of a cached token, built in place on a hit: its payload bytes were checked when it
    /// was verified, and need not be checked as UTF-8 again.
    #[inline]
    pub(crate) fn cached(alg: Algorithm, kid: Option<&'a str>, payload: &'a [u8]) -> Self {
        Self {
            alg,
            kid: kid.map(Cow::Borrowed),
            payload: Some(Cow::Borrowed(payload)),
        }
    }

    pub(crate) fn from_parts(alg: Algorithm, kid: Option<Cow<'a, str>>, payload: &'a str) -> Self {
        Self {
            alg,
            kid,
            payload: Some(Cow::Borrowed(payload.as_bytes())),
        }
    }

    /// The `alg` the token claims. The key decides whether it is allowed.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, unescaped.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token's `iss`, read from its payload BEFORE the signature is checked: only for choosing where to
    /// look for the key (see [`Issuers`]), never for trusting anything. Decodes the payload on each call.
    /// `Ok(None)` when the token has no string `iss`; an error when the payload is not a strict JSON object.
    pub fn unverified_issuer(&self) -> Result<Option<String>, InvalidToken> {
        use base64::Engine;
        let Some(payload) = &self.payload else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvalidToken::Malformed)?;
        let mut issuer = None;
        crate::json::parse_object(&decoded, 16, |name, value| {
            if name.eq_str("iss") {
                issuer = Some(match value {
                    crate::json::Value::String(iss) => iss.to_cow().into_owned(),
                    _ => return Err(InvalidToken::InvalidClaim("iss")),
                });
            }
            Ok(())
        })?;
        Ok(issuer)
    }

    /// A copy that owns its strings, for providers that look keys up asynchronously.
    pub fn into_owned(self) -> TokenHeader<'static> {
        TokenHeader {
            alg: self.alg,
            kid: self.kid.map(|kid| Cow::Owned(kid.into_owned())),
            payload: self.payload.map(|payload| Cow::Owned(payload.into_owned())),
        }
    }
}

impl fmt::Debug for TokenHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload is unverified and may hold personal data: its length only.
        f.debug_struct("TokenHeader")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("payload_len", &self.payload.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// The answer of a [`KeyProvider`].
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyLookup<'a, F> {
    /// The key, borrowed from the provider (static keys: no allocation, no reference counting).
    Found(&'a Key),
    /// The key, shared (providers whose key sets are swapped at run time).
    Shared(Arc<Key>),
    /// The key needs I/O; the layer awaits the future.
    Pending(F),
    /// No key will verify this token (e.g. [`InvalidToken::UnknownKid`]), or the keys are unavailable
    /// ([`AuthError::KeysUnavailable`]).
    Refused(AuthError),
}

/// Finds the key for a token.
///
/// Implement it for key sources of your own. Answer synchronously whenever you can: [`KeyLookup::Pending`]
/// costs the request a clone of the inner service and an owned copy of the token.
pub trait KeyProvider: Send + Sync + 'static {
    /// The future of an asynchronous lookup. Providers that never return [`KeyLookup::Pending`] use
    /// [`std::future::Ready`].
    type Future: Future<Output = Result<Arc<Key>, AuthError>> + Send + 'static;

    /// The key for a token with this header.
    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future>;

    /// Called once by the layer's `build()`: refuse a configuration that can never verify a token.
    fn check(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The issuers this provider routes tokens by, if it routes by issuer (see [`Issuers`]): the layer then
    /// requires `iss` to be one of them.
    fn routed_issuers(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether this provider's keys are fixed for its whole life: a lookup with the same header always
    /// returns the same key, or always refuses. The verified-token cache then serves a hit without looking
    /// the key up again. Keep the default (`false`) for a provider whose keys can be removed or replaced,
    /// or a hit would outlive the key that verified it.
    fn keys_are_fixed(&self) -> bool {
        false
    }
}

/// Several issuers, each with its own keys: a token is routed by its (unverified) `iss` to that issuer's
/// provider. A token naming no configured issuer is refused before any key lookup or fetch, and a key of
/// issuer A never verifies a token claiming issuer B. The layer requires `iss` to be one of the issuers.
///
/// ```
/// use tower_jwt_auth::{Issuers, JwtAuthLayer, Key, RegisteredClaims, StaticKeys};
///
/// let issuers = Issuers::new()
///     .issuer("https://a.example.com", StaticKeys::new([Key::hs256([1u8; 32])?])?)
///     .issuer("https://b.example.com", StaticKeys::new([Key::hs256([2u8; 32])?])?);
/// let layer = JwtAuthLayer::<RegisteredClaims>::builder().provider(issuers).build()?;
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Issuers<P> {
    issuers: Vec<(String, P)>,
}

impl<P> Default for Issuers<P> {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
        }
    }
}

impl<P: KeyProvider> Issuers<P> {
    /// No issuers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens whose `iss` is exactly `issuer` get their key from `provider`.
    pub fn issuer(mut self, issuer: impl Into<String>, provider: P) -> Self {
        self.issuers.push((issuer.into(), provider));
        self
    }
}

impl<P: KeyProvider> KeyProvider for Issuers<P> {
    type Future = P::Future;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future> {
        let issuer = match header.unverified_issuer() {
            Ok(Some(issuer)) => issuer,
            Ok(None) => return KeyLookup::Refused(InvalidToken::MissingClaim("iss").into()),
            Err(reason) => return KeyLookup::Refused(reason.into()),
        };
        match self.issuers.iter().find(|(name, _)| *name == issuer) {
            Some((_, provider)) => provider.lookup(header),
            None => KeyLookup::Refused(InvalidToken::WrongIssuer.into()),
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        for (index, (issuer, provider)) in self.issuers.iter().enumerate() {
            if issuer.is_empty() {
                return Err(ConfigError::InvalidOption("an empty issuer".into()));
            }
            if self.issuers[..index]
                .iter()
                .any(|(other, _)| other == issuer)
            {
                return Err(ConfigError::InvalidOption(format!(
                    "issuer {issuer:?} is configured twice"
                )));
            }
            provider.check()?;
        }
        Ok(())
    }

    fn routed_issuers(&self) -> Vec<String> {
        self.issuers
            .iter()
            .map(|(issuer, _)| issuer.clone())
            .collect()
    }

    fn keys_are_fixed(&self) -> bool {
        self.issuers
            .iter()
            .all(|(_, provider)| provider.keys_are_fixed())
    }
}

/// Keys fixed at start-up: secrets, PEM/DER/JWK keys, a JWK set read from a file.
///
/// A token that names a `kid` gets the key with that `kid`; a token without one is accepted only when there
/// is a single key. A `kid` carried by two keys is ambiguous: tokens naming it are refused.
#[derive(Debug, Clone, Default)]
pub struct StaticKeys {
    keys: Vec<Key>,
}

impl StaticKeys {
    /// A provider answering from these keys; at least one is required.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Result<Self, ConfigError> {
        let provider = Self {
            keys: keys.into_iter().collect(),
        };
        provider.check()?;
        Ok(provider)
    }

    pub(crate) fn push(&mut self, key: Key) {
        self.keys.push(key);
    }

    /// The configured keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl KeyProvider for StaticKeys {
    type Future = std::future::Ready<Result<Arc<Key>, AuthError>>;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future> {
        match select_key(&self.keys, header) {
            Ok(key) => KeyLookup::Found(key),
            Err(reason) => KeyLookup::Refused(AuthError::InvalidToken(reason)),
        }
    }

    fn keys_are_fixed(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        // With several keys a token must name its key, so a key without a kid could never be used.
        if self.keys.len() > 1 && self.keys.iter().any(|key| key.kid().is_none()) {
            return Err(ConfigError::InvalidOption(
                "with several keys, every key needs a kid (Key::with_kid)".into(),
            ));
        }
        Ok(())
    }
}

/// The key a token names among `keys`: by `kid`, or the only key when the token names none. Shared by the
/// providers so that every one applies the same rules.
pub(crate) fn select_key<'k, K: std::borrow::Borrow<Key>>(
    keys: &'k [K],
    header: &TokenHeader<'_>,
) -> Result<&'k K, InvalidToken> {
    match header.kid() {
        Some(kid) => {
            let mut named = keys.iter().filter(|key| key.borrow().kid() == Some(kid));
            match (named.next(), named.next()) {
                (Some(key), None) => Ok(key),
                (Some(_), Some(_)) => Err(InvalidToken::AmbiguousKid),
                (None, _) => Err(InvalidToken::UnknownKid),
            }
        }
        None => match keys {
            [key] => Ok(key),
            _ => Err(InvalidToken::KidRequired),
        },
    }
}
