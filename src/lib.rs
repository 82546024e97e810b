//! JWT authentication middleware for [tower](https://docs.rs/tower) servers: axum, tonic, plain hyper.
//!
//! [`JwtAuthLayer`] takes the token from the request (`Authorization: Bearer`, a cookie, a header, a query
//! parameter), verifies its signature with a key you configure, checks its claims strictly (RFC 8725), and
//! inserts your claims type `C` into the request extensions. Requests without a valid token get an RFC 6750
//! answer and never reach your service.
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use serde::{Deserialize, Serialize};
//! use tower_jwt_auth::{Claims, JwtAuthLayer, Key};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct MyClaims { sub: String, email: String }
//!
//! async fn me(Claims(c): Claims<MyClaims>) -> Json<MyClaims> { Json(c) }
//!
//! let secret = b"a secret of at least 32 bytes!!!";
//! let auth = JwtAuthLayer::<MyClaims>::builder()
//!     .key(Key::hs256(secret)?)                  // or RS*/PS*/ES*/EdDSA from PEM, DER, a JWK, a JWK set
//!     .issuer("https://issuer.example.com")
//!     .audience("https://api.example.com")
//!     .build()?;                                  // configuration errors surface here, never per request
//! let app: Router = Router::new().route("/me", get(me)).layer(auth);
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```
//!
//! The same layer verifies a token that came without a request ([`JwtAuthLayer::verify`]), and
//! [`Issuer`] signs tokens, so a Rust service can also be the issuer and publish its JWK set.
//!
//! # Security defaults
//!
//! - The algorithm comes from the key, never from the token: each [`Key`] verifies exactly one algorithm,
//!   so `alg: none`, HS256-with-a-public-key and PS/RS swaps are refused before any crypto.
//! - `exp` is required; `nbf` and `iat` are checked; configured `iss`/`aud` are required, type-checked and
//!   compared exactly; `sub` must be a non-empty string unless switched off.
//! - `crit`, `b64`, `enc`, `zip`, JWE, nested JWTs, JSON serialization, duplicate JSON members and
//!   oversized tokens are refused; `jku`, `x5u`, `jwk` and `x5c` are never used.
//! - A token read from a cookie is refused on unsafe cross-site requests (CSRF), see
//!   [`source::CookieSource`].
//! - Refusals are precise and safe: 400 `invalid_request`, 401 `invalid_token`, 403 `insufficient_scope`,
//!   and 503 with `Retry-After` when keys are unavailable (never a 401 for an outage).
//!
//! # Features
//!
//! - `aws-lc-rs` (default): jsonwebtoken's aws-lc backend; `rust-crypto`: the pure-Rust one. With both,
//!   aws-lc-rs is used; with neither, `build()` fails with [`ConfigError::NoCryptoBackend`].
//! - `cookie` (default): [`source::CookieSource`].
//! - `axum`: the [`Claims`] extractor.
//! - `tracing`: a debug event per refusal, a warning per skipped JWK, JWKS fetch events.
//! - `remote`: [`remote::RemoteJwks`], a JWK set fetched over HTTP with any tower client; OIDC discovery
//!   ([`remote::Discovery`]); the Better Auth preset ([`better_auth`]).
//! - `remote-client`: a default HTTP client for it (hyper-util with rustls).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
#[cfg(feature = "remote")]
pub mod better_auth;
mod cache;
pub mod claims;
mod clock;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod issue;
mod json;
pub mod key;
pub mod provider;
#[cfg(feature = "remote")]
pub mod remote;
pub mod response;
pub mod source;
mod verify;

pub use auth::{JwtAuth, JwtAuthBuilder, JwtAuthLayer, ResponseFuture};
pub use claims::{Audience, RegisteredClaims, VerifiedHeader};
pub use error::{AuthError, ConfigError, InvalidRequest, InvalidToken};
#[cfg(feature = "axum")]
pub use extract::{Claims, MissingClaims};
pub use issue::{IssueError, IssuedToken, Issuer};
pub use key::{JwkOptions, Key, KeySet, SkippedJwk};
pub use provider::{Issuers, KeyLookup, KeyProvider, StaticKeys, TokenHeader};
pub use response::{DefaultErrorHandler, ErrorHandler, ResponseBody};

pub use bytes::Bytes;
pub use jsonwebtoken::{self, Algorithm};
