//! How refusals are answered.
//!
//! [`DefaultErrorHandler`] answers RFC 6750 style: the status, a `WWW-Authenticate: Bearer` challenge and a
//! small JSON body; gRPC requests (`content-type: application/grpc…`) get a gRPC status instead. Implement
//! [`ErrorHandler`] to render your own.
//!
//! ```
//! use http::{Method, Request, StatusCode, Uri};
//! use tower_jwt_auth::{AuthError, DefaultErrorHandler, ErrorHandler, InvalidToken, source::RequestHead};
//!
//! let handler = DefaultErrorHandler::new("api")?;
//! let request = Request::get("/me").body(())?;
//! let response = handler.render(&AuthError::InvalidToken(InvalidToken::Expired), &RequestHead::of(&request));
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="the token has expired""#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::{AuthError, ConfigError};
use crate::source::RequestHead;

/// Renders the response for a refused request.
pub trait ErrorHandler: Send + Sync + 'static {
    /// The response for `error`. Keep it free of internal detail: the client may be an attacker.
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes>;
}

impl<F> ErrorHandler for F
where
    F: Fn(&AuthError, &RequestHead<'_>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        self(error, request)
    }
}

/// RFC 6750 responses with a JSON body, and gRPC statuses for gRPC requests.
#[derive(Debug, Clone)]
pub struct DefaultErrorHandler {
    realm: Box<str>,
}

impl Default for DefaultErrorHandler {
    fn default() -> Self {
        Self {
            realm: "api".into(),
        }
    }
}

impl DefaultErrorHandler {
    /// A handler whose challenges name `realm`. The realm must be printable ASCII without `"` or `\`.
    pub fn new(realm: impl Into<String>) -> Result<Self, ConfigError> {
        let realm = realm.into();
        if realm
            .bytes()
            .any(|b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
        {
            return Err(ConfigError::InvalidOption(
                "the realm must be printable ASCII without quotes or backslashes".into(),
            ));
        }
        Ok(Self {
            realm: realm.into(),
        })
    }

    /// The realm of the challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }
}

impl ErrorHandler for DefaultErrorHandler {
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        if is_grpc(request) {
            return grpc_response(error, request);
        }
        let code = error.rfc6750_code();
        let body = format!(
            r#"{{"error":"{}","error_description":"{}"}}"#,
            code.unwrap_or(match error {
                AuthError::KeysUnavailable { .. } => "temporarily_unavailable",
                AuthError::CrossSiteRequest => "cross_site_request",
                _ => "unauthorized",
            }),
            error.description()
        );
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let AuthError::KeysUnavailable { retry_after } = error {
            headers.insert(RETRY_AFTER, retry_after_seconds(*retry_after));
        } else if *error != AuthError::CrossSiteRequest {
            headers.insert(WWW_AUTHENTICATE, www_authenticate(&self.realm, error));
        }
        response
    }
}

/// The `WWW-Authenticate` value for `error` (RFC 6750 §3): a bare challenge when no token was given.
pub fn www_authenticate(realm: &str, error: &AuthError) -> HeaderValue {
    let value = match error.rfc6750_code() {
        None => format!(r#"Bearer realm="{realm}""#),
        Some(code) => format!(
            r#"Bearer realm="{realm}", error="{code}", error_description="{}""#,
            error.description()
        ),
    };
    // Descriptions are fixed ASCII; the realm was checked when the handler was built.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Whether the request is gRPC (`content-type: application/grpc`, `application/grpc+proto`, …).
pub fn is_grpc(request: &RequestHead<'_>) -> bool {
    request
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
}

/// A trailers-only gRPC response with the status for `error` and its description in `grpc-message`, with
/// the request's gRPC content type (`application/grpc`, `application/grpc+proto`, `application/grpc-web`…).
pub fn grpc_response(error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let content_type = request
        .headers
        .get(CONTENT_TYPE)
        .filter(|ct| ct.as_bytes().starts_with(b"application/grpc"))
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/grpc"));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(error.grpc_code())),
    );
    // Descriptions are plain ASCII without `%`, so they need no percent-encoding.
    headers.insert(
        "grpc-message",
        HeaderValue::from_static(error.description()),
    );
    if let AuthError::KeysUnavailable { retry_after } = error {
        headers.insert(RETRY_AFTER, retry_after_seconds(*retry_after));
    }
    response
}

/// Whole seconds, rounded up (a client retrying early would only be refused again), at least 1.
fn retry_after_seconds(retry_after: std::time::Duration) -> HeaderValue {
    let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
    HeaderValue::from(millis.div_ceil(1000).max(1))
}

pin_project! {
    /// The response body of the layer: the inner service's body, or the refusal's.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // Boxed: the wrapper adds one word to the inner body, not a `Bytes`, to every response moved.
        Refusal { data: Option<Box<Bytes>> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn refusal(data: Bytes) -> Self {
        Self {
            kind: Kind::Refusal {
                data: (!data.is_empty()).then(|| Box::new(data)),
            },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Refusal { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(*d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Inner { .. } => "ResponseBody::Inner",
            Kind::Refusal { .. } => "ResponseBody::Refusal",
        })
    }
}
