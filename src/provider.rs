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
use std::future::Future;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::key::Key;

/// What the layer knows of a token before its signature is checked: enough to choose a key.
///
/// Everything here is attacker-controlled until the signature verifies.
#[derive(Debug, Clone)]
pub struct TokenHeader<'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
}

impl<'a> TokenHeader<'a> {
    /// A header with the given `alg` and `kid` (for tests and custom providers).
    pub fn new(alg: Algorithm, kid: Option<&'a str>) -> Self {
        Self {
            alg,
            kid: kid.map(Cow::Borrowed),
        }
    }

    pub(crate) fn from_parts(alg: Algorithm, kid: Option<Cow<'a, str>>) -> Self {
        Self { alg, kid }
    }

    /// The `alg` the token claims. The key decides whether it is allowed.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, unescaped.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A copy that owns its strings, for providers that look keys up asynchronously.
    pub fn into_owned(self) -> TokenHeader<'static> {
        TokenHeader {
            alg: self.alg,
            kid: self.kid.map(|kid| Cow::Owned(kid.into_owned())),
        }
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
