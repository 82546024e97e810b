//! The middleware: [`JwtAuthLayer`], its [`JwtAuth`] service and their [`ResponseFuture`].
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};
//!
//! # tokio_test_block_on(async {
//! let auth = JwtAuthLayer::<RegisteredClaims>::builder()
//!     .key(Key::hs256(b"0123456789abcdef0123456789abcdef")?)
//!     .issuer("https://issuer.example.com")
//!     .build()?;
//! let service = ServiceBuilder::new().layer(auth).service(service_fn(|req: Request<()>| async move {
//!     let user = req.extensions().get::<RegisteredClaims>().and_then(|c| c.sub.clone());
//!     Ok::<_, Infallible>(Response::new(Bytes::from(user.unwrap_or_default())))
//! }));
//!
//! let response = service.oneshot(Request::get("/me").body(())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
#[cfg(feature = "axum")]
pub(crate) use layer::LayerRefusals;
pub use layer::{JwtAuthBuilder, JwtAuthLayer};
pub use service::JwtAuth;
