//! Why a request was refused, and why a configuration was.
//!
//! ```
//! use http::StatusCode;
//! use tower_jwt_auth::{AuthError, InvalidToken};
//!
//! let err = AuthError::InvalidToken(InvalidToken::Expired);
//! assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(err.rfc6750_code(), Some("invalid_token"));
//! assert_eq!(err.description(), "the token has expired");
//! ```

use std::time::Duration;

use http::StatusCode;

/// Why the layer refused a request.
///
/// Every variant maps to one RFC 6750 outcome (see [`AuthError::status`] and
/// [`AuthError::rfc6750_code`]); descriptions are fixed strings, safe to send to the client: they never contain
/// the token, key material or parser internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no token: 401 with a bare `Bearer` challenge (RFC 6750 §3.1).
    #[error("no bearer token in the request")]
    MissingToken,
    /// The request itself is malformed (RFC 6750 `invalid_request`): 400.
    #[error("{0}")]
    InvalidRequest(InvalidRequest),
    /// The token is malformed, expired or otherwise invalid (RFC 6750 `invalid_token`): 401.
    #[error("{0}")]
    InvalidToken(InvalidToken),
    /// The token is valid but the claims check refused it (RFC 6750 `insufficient_scope`): 403.
    #[error("the token does not grant access to this resource")]
    InsufficientScope,
    /// The key provider cannot answer right now (e.g. the identity provider is down): 503 with `Retry-After`.
    /// Not the client's fault, so never a 401.
    #[error("the verification keys are temporarily unavailable")]
    KeysUnavailable {
        /// When the client should try again.
        retry_after: Duration,
    },
    /// A cookie-carried token on an unsafe request that does not show it comes from the site (see
    /// [`CookieSource`](crate::source::CookieSource)): 403, without a challenge, since another token would
    /// not help.
    #[error("cross-site request refused")]
    CrossSiteRequest,
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::CrossSiteRequest => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code, if any (`MissingToken` and `KeysUnavailable` carry none).
    pub fn rfc6750_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::KeysUnavailable { .. } | Self::CrossSiteRequest => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
        }
    }

    /// A short description that is safe to show the client.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingToken => "no bearer token in the request",
            Self::InvalidRequest(r) => r.description(),
            Self::InvalidToken(r) => r.description(),
            Self::InsufficientScope => "the token does not grant access to this resource",
            Self::KeysUnavailable { .. } => "the verification keys are temporarily unavailable",
            Self::CrossSiteRequest => {
                "cross-site request refused: a cookie credential needs a same-origin request"
            }
        }
    }

    /// The gRPC status code for gRPC requests: 16 `UNAUTHENTICATED`, 7 `PERMISSION_DENIED` or 14 `UNAVAILABLE`.
    pub fn grpc_code(&self) -> u8 {
        match self {
            Self::MissingToken | Self::InvalidRequest(_) | Self::InvalidToken(_) => 16,
            Self::InsufficientScope | Self::CrossSiteRequest => 7,
            Self::KeysUnavailable { .. } => 14,
        }
    }
}

impl From<InvalidToken> for AuthError {
    fn from(reason: InvalidToken) -> Self {
        Self::InvalidToken(reason)
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(reason: InvalidRequest) -> Self {
        Self::InvalidRequest(reason)
    }
}

/// Why a request was malformed (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one `Authorization` field, or a repeated token header, cookie or query parameter.
    #[error("the token is given more than once")]
    RepeatedCredentials,
    /// The token was given by more than one method (RFC 6750 §2).
    #[error("the token is given by more than one method")]
    SeveralMethods,
    /// An `Authorization: Bearer` field that is not `Bearer <token68>`.
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    /// A token header, cookie or query parameter that is empty or not valid text.
    #[error("malformed token field")]
    MalformedTokenField,
}

impl InvalidRequest {
    /// A short description that is safe to show the client.
    pub fn description(&self) -> &'static str {
        match self {
            Self::RepeatedCredentials => "the token is given more than once",
            Self::SeveralMethods => "the token is given by more than one method",
            Self::MalformedAuthorization => "malformed Authorization header",
            Self::MalformedTokenField => "malformed token field",
        }
    }
}

/// Why a token was refused (401 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Longer than the configured cap; refused before any decoding.
    #[error("the token is too large")]
    TooLarge,
    /// Not three base64url segments of a compact JWS, or a segment that does not decode.
    #[error("the token is malformed")]
    Malformed,
    /// A JWE (five segments): this layer verifies signed tokens only.
    #[error("encrypted tokens are not accepted")]
    Encrypted,
    /// A JWS with an empty (detached) payload.
    #[error("detached payloads are not accepted")]
    DetachedPayload,
    /// Header is not a strict JSON object, or a member has the wrong type.
    #[error("the token header is malformed")]
    MalformedHeader,
    /// `alg` is `none`, unknown, or not supported by this build.
    #[error("the token algorithm is not supported")]
    UnsupportedAlgorithm,
    /// `alg` is not the one algorithm bound to the key.
    #[error("the token algorithm is not allowed for this key")]
    AlgorithmMismatch,
    /// `crit`, `b64`, `enc` or `zip` in the header (RFC 7515 §4.1.11, RFC 7797, RFC 8725 §3.1).
    #[error("the token header carries an unsupported parameter")]
    UnsupportedHeaderParameter,
    /// `cty: JWT`: a nested token.
    #[error("nested tokens are not accepted")]
    Nested,
    /// `typ` names another kind of token, or not the required one.
    #[error("the token type is not accepted")]
    TypeNotAccepted,
    /// The token has no `kid` and several keys are configured.
    #[error("the token must name its key (kid)")]
    KidRequired,
    /// The `kid` names no configured key.
    #[error("the token names an unknown key")]
    UnknownKid,
    /// The `kid` names several keys.
    #[error("the token names an ambiguous key")]
    AmbiguousKid,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// The payload is not a strict JSON object.
    #[error("the token claims are malformed")]
    MalformedClaims,
    /// A required claim is absent.
    #[error("the token lacks a required claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or is out of range.
    #[error("the token has an invalid claim")]
    InvalidClaim(&'static str),
    /// `exp` is in the past (leeway included).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (leeway included).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future, or after `exp`.
    #[error("the token issue time is invalid")]
    IssuedInFuture,
    /// The lifetime exceeds the configured maximum.
    #[error("the token lifetime is too long")]
    LifetimeTooLong,
    /// `iss` is not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not name the configured audience.
    #[error("the token audience is not accepted")]
    WrongAudience,
    /// The claims do not deserialize into the application's claims type.
    #[error("the token claims do not have the expected shape")]
    ClaimsShape,
}

impl InvalidToken {
    /// A short description that is safe to show the client.
    pub fn description(&self) -> &'static str {
        match self {
            Self::TooLarge => "the token is too large",
            Self::Malformed => "the token is malformed",
            Self::Encrypted => "encrypted tokens are not accepted",
            Self::DetachedPayload => "detached payloads are not accepted",
            Self::MalformedHeader => "the token header is malformed",
            Self::UnsupportedAlgorithm => "the token algorithm is not supported",
            Self::AlgorithmMismatch => "the token algorithm is not allowed for this key",
            Self::UnsupportedHeaderParameter => "the token header carries an unsupported parameter",
            Self::Nested => "nested tokens are not accepted",
            Self::TypeNotAccepted => "the token type is not accepted",
            Self::KidRequired => "the token must name its key (kid)",
            Self::UnknownKid => "the token names an unknown key",
            Self::AmbiguousKid => "the token names an ambiguous key",
            Self::BadSignature => "the token signature is invalid",
            Self::MalformedClaims => "the token claims are malformed",
            Self::MissingClaim(_) => "the token lacks a required claim",
            Self::InvalidClaim(_) => "the token has an invalid claim",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token issue time is invalid",
            Self::LifetimeTooLong => "the token lifetime is too long",
            Self::WrongIssuer => "the token issuer is not accepted",
            Self::WrongAudience => "the token audience is not accepted",
            Self::ClaimsShape => "the token claims do not have the expected shape",
        }
    }
}

/// Why a configuration was refused by `build()` or a key constructor.
///
/// Every configuration problem surfaces here, at start-up, never per request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key material cannot be used for verification.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The JWK or JWK set cannot be used.
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    #[error("HMAC secret too short: {alg:?} needs at least {min} bytes, got {got}")]
    SecretTooShort {
        /// The algorithm the secret is for.
        alg: jsonwebtoken::Algorithm,
        /// Bytes required.
        min: usize,
        /// Bytes given.
        got: usize,
    },
    /// No key was configured.
    #[error("no verification key configured")]
    NoKeys,
    /// No crypto backend is compiled in.
    #[error(
        "no crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature of tower-jwt-auth"
    )]
    NoCryptoBackend,
    /// Another option is out of range or contradicts another.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}
