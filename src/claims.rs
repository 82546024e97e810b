//! What the layer puts into the request: the claims, as your type, and (when asked) the verified header.
//!
//! Use your own `C: DeserializeOwned`, or [`RegisteredClaims`], which keeps the registered claims typed and
//! every other claim in a map.
//!
//! ```
//! use tower_jwt_auth::{Audience, RegisteredClaims};
//!
//! let claims: RegisteredClaims = serde_json::from_str(
//!     r#"{"sub": "user-1", "aud": ["api", "web"], "exp": 1700000000.5, "role": "admin"}"#,
//! )?;
//! assert_eq!(claims.sub.as_deref(), Some("user-1"));
//! assert!(claims.aud.as_ref().is_some_and(|aud| aud.contains("web")));
//! assert_eq!(claims.exp, Some(1700000000));
//! assert_eq!(claims.extra["role"], "admin");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Deserializer, Serialize};

/// The header of a verified token, inserted into the request extensions beside the claims by a layer
/// built with [`JwtAuthBuilder::verified_header`](crate::JwtAuthBuilder::verified_header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHeader {
    alg: Algorithm,
    kid: Option<Arc<str>>,
    typ: Option<Cow<'static, str>>,
}

impl VerifiedHeader {
    pub(crate) fn new(
        alg: Algorithm,
        kid: Option<Arc<str>>,
        typ: Option<Cow<'static, str>>,
    ) -> Self {
        Self { alg, kid, typ }
    }

    /// The algorithm the signature was verified with (the key's).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The id of the key that verified the token, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The token's `typ`, if it had one.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
}

/// The registered claims of RFC 7519 §4.1, with all other claims kept in [`RegisteredClaims::extra`].
///
/// The layer has already checked them (types, time window, issuer, audience) before this is built.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegisteredClaims {
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: who the token is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry, seconds since the epoch (a fractional value is truncated).
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub exp: Option<u64>,
    /// Not before, seconds since the epoch.
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(
        default,
        deserialize_with = "numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "web"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is one of the token's audiences.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    // The layer has already refused negatives and values past the year 9999.
    let seconds = Option::<f64>::deserialize(deserializer)?;
    Ok(seconds.map(|s| s.max(0.0) as u64))
}
