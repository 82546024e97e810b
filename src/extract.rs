//! The axum extractor for the claims the layer verified (feature `axum`).
//!
//! `Claims<C>` refuses with the same 401 as the layer when there are no claims (the layer is in optional
//! mode and no token came); `Option<Claims<C>>` lets the handler decide.
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use serde::{Deserialize, Serialize};
//! use tower_jwt_auth::{Claims, JwtAuthLayer, Key};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct User { sub: String, email: Option<String> }
//!
//! async fn me(Claims(user): Claims<User>) -> Json<User> { Json(user) }
//! async fn greet(user: Option<Claims<User>>) -> String {
//!     user.map_or("hello, stranger".into(), |Claims(u)| format!("hello, {}", u.sub))
//! }
//!
//! let auth = JwtAuthLayer::<User>::builder()
//!     .key(Key::hs256(b"0123456789abcdef0123456789abcdef")?)
//!     .optional()
//!     .build()?;
//! let app: Router = Router::new().route("/me", get(me)).route("/", get(greet)).layer(auth);
//! # Ok::<(), tower_jwt_auth::ConfigError>(())
//! ```

use std::ops::{Deref, DerefMut};

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use bytes::Bytes;

use crate::auth::LayerRefusals;
use crate::error::AuthError;
use crate::response::{DefaultErrorHandler, ErrorHandler};
use crate::source::RequestHead;

/// The verified claims of the request, as inserted by [`JwtAuthLayer`](crate::JwtAuthLayer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<C>(pub C);

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> DerefMut for Claims<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.0
    }
}

/// The request has no verified claims: answered as the layer answers a missing token (same realm, same
/// error handler, gRPC aware).
#[derive(Debug)]
pub struct MissingClaims {
    response: http::Response<Bytes>,
}

impl MissingClaims {
    fn new(parts: &Parts) -> Self {
        let request = RequestHead::new(&parts.method, &parts.uri, &parts.headers);
        let response = match parts.extensions.get::<LayerRefusals>() {
            Some(refusals) => refusals.0.render(&AuthError::MissingToken, &request),
            // No layer in front (a routing mistake): still a proper challenge.
            None => DefaultErrorHandler::default().render(&AuthError::MissingToken, &request),
        };
        Self { response }
    }
}

impl std::fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no verified claims in the request")
    }
}

impl std::error::Error for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        self.response.map(axum_core::body::Body::from)
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<C>() {
            Some(claims) => Ok(Claims(claims.clone())),
            None => Err(MissingClaims::new(parts)),
        }
    }
}

impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<C>().cloned().map(Claims))
    }
}
