//! One bounded fetch of a JWK set: timeout, body cap, key cap, redirects, `Cache-Control`.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, LOCATION};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use tower::Service;

use crate::key::{JwkOptions, KeySet};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTP client a [`RemoteJwks`](super::RemoteJwks) fetches with: any tower `Service` taking
/// `http::Request<Empty<Bytes>>` and answering an `http::Response` with a body of `Bytes`, so that custom
/// CAs, proxies or mTLS come with the client you bring (e.g. a hyper-util `Client`).
///
/// Implemented for every such service; you do not implement it yourself.
pub trait JwksClient: Clone + Send + Sync + 'static {
    /// Sends one request.
    fn send(
        &self,
        request: Request<Empty<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<BoxedBody>, BoxError>> + Send>>;
}

/// A response body with its type erased.
pub type BoxedBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

impl<S, B> JwksClient for S
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn send(
        &self,
        request: Request<Empty<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<BoxedBody>, BoxError>> + Send>> {
        let mut service = self.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let response = service.call(request).await.map_err(Into::into)?;
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        })
    }
}

/// Why a fetch failed. The last good key set stays in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// No answer within the total timeout.
    Timeout,
    /// The connection or the request failed.
    Transport(String),
    /// A status other than 200.
    Status(u16),
    /// More redirects than allowed, or a redirect without a usable `Location`, or to another origin.
    Redirect,
    /// The body is larger than the cap.
    TooLarge,
    /// The body is not a JWK set.
    Malformed(String),
    /// The set has no usable key.
    NoUsableKey,
    /// The set has more keys than the cap.
    TooManyKeys(usize),
    /// A discovery document is unusable (names another issuer, has no `jwks_uri`, …).
    Discovery(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Status(status) => write!(f, "HTTP status {status}"),
            Self::Redirect => f.write_str("redirect not followed"),
            Self::TooLarge => f.write_str("response body over the size cap"),
            Self::Malformed(e) => write!(f, "not a JWK set: {e}"),
            Self::NoUsableKey => f.write_str("no usable key in the set"),
            Self::TooManyKeys(n) => write!(f, "{n} keys, over the cap"),
            Self::Discovery(e) => write!(f, "discovery: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Limits of one fetch.
#[derive(Debug, Clone)]
pub(crate) struct FetchLimits {
    pub(crate) total_timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) max_keys: usize,
    pub(crate) max_redirects: usize,
}

/// A fetched set and the lifetime its response declared.
pub(crate) struct Fetched {
    pub(crate) set: KeySet,
    pub(crate) max_age: Option<Duration>,
}

/// Owned arguments, no borrow held across an await, and a boxed future: fetches are rare, and this keeps
/// callers' futures provably `Send`.
pub(crate) fn fetch_jwks<C: JwksClient>(
    client: C,
    url: Uri,
    limits: FetchLimits,
) -> Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send>> {
    let FetchLimits {
        total_timeout,
        max_body,
        max_keys,
        max_redirects,
    } = limits;
    let fetch = async move {
        let mut url = url;
        let mut redirects = 0;
        loop {
            let response = get(&client, &url).await?;
            if response.status().is_redirection() {
                if redirects >= max_redirects {
                    return Err(FetchError::Redirect);
                }
                redirects += 1;
                url = redirect_target(&url, response.headers()).ok_or(FetchError::Redirect)?;
                continue;
            }
            let max_age = max_age(response.headers());
            let body = read_body(response, max_body).await?;
            let set = parse_set(&body, max_keys)?;
            return Ok(Fetched { set, max_age });
        }
    };
    Box::pin(async move {
        tokio::time::timeout(total_timeout, fetch)
            .await
            .unwrap_or(Err(FetchError::Timeout))
    })
}

/// A GET of `url`; the future borrows nothing.
pub(crate) fn get<C: JwksClient>(
    client: &C,
    url: &Uri,
) -> Pin<Box<dyn Future<Output = Result<Response<BoxedBody>, FetchError>> + Send>> {
    let request = Request::get(url.clone())
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .body(Empty::new());
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            return Box::pin(std::future::ready(Err(FetchError::Transport(
                e.to_string(),
            ))));
        }
    };
    let sent = client.send(request);
    Box::pin(async move {
        sent.await
            .map_err(|e| FetchError::Transport(error_chain(&*e)))
    })
}

/// The body of a successful response, capped.
pub(crate) async fn read_body(
    response: Response<BoxedBody>,
    max_body: usize,
) -> Result<Bytes, FetchError> {
    if response.status() != StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    // A declared length over the cap is refused before reading anything.
    if response.body().size_hint().lower() > max_body as u64 {
        return Err(FetchError::TooLarge);
    }
    let mut body = response.into_body();
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::Transport(error_chain(&*e)))?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + data.len() > max_body {
                return Err(FetchError::TooLarge);
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

fn parse_set(body: &[u8], max_keys: usize) -> Result<KeySet, FetchError> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| FetchError::Malformed("not JSON".into()))?;
    // Counted before any entry is converted: a body of thousands of junk entries costs nothing more.
    let entries = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    if entries > max_keys {
        return Err(FetchError::TooManyKeys(entries));
    }
    // `oct` keys are refused: a symmetric secret published over HTTP is no secret.
    let set = KeySet::from_value(&document, &JwkOptions::default())
        .map_err(|e| FetchError::Malformed(e.to_string()))?;
    if set.keys().is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(set)
}

/// `max-age` of `Cache-Control`; `no-store`/`no-cache` count as zero (the caller clamps to its minimum).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return Some(Duration::ZERO),
                "max-age" => {
                    if let Ok(seconds) = argument.trim().trim_matches('"').parse::<u64>() {
                        found = Some(Duration::from_secs(seconds));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The target of a redirect, which must stay on the same origin (scheme, host and port): a JWK set
/// that moves to another host, or from https to http, is not followed.
fn redirect_target(base: &Uri, headers: &HeaderMap) -> Option<Uri> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let target: Uri = location.parse().ok()?;
    if target.scheme().is_some() {
        let same_origin =
            target.scheme() == base.scheme() && target.authority() == base.authority();
        return same_origin.then_some(target);
    }
    // A path: same scheme and authority as the request.
    let path = target.path_and_query()?.clone();
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path);
    Uri::from_parts(parts).ok()
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        let headers = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CACHE_CONTROL, v.parse().unwrap());
            h
        };
        assert_eq!(
            max_age(&headers("public, max-age=600")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age(&headers("MAX-AGE=\"60\"")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age(&headers("no-store")), Some(Duration::ZERO));
        assert_eq!(max_age(&headers("public")), None);
        assert_eq!(max_age(&headers("max-age=abc")), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }

    #[test]
    fn redirect_targets() {
        let base: Uri = "http://127.0.0.1:8080/a/jwks".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, "/b/jwks?x=1".parse().unwrap());
        assert_eq!(
            redirect_target(&base, &headers).unwrap(),
            "http://127.0.0.1:8080/b/jwks?x=1"
        );
        headers.insert(LOCATION, "http://127.0.0.1:8080/c/jwks".parse().unwrap());
        assert_eq!(
            redirect_target(&base, &headers).unwrap(),
            "http://127.0.0.1:8080/c/jwks"
        );
        // Another origin (host, port or scheme) is not followed.
        for elsewhere in [
            "https://other.example/jwks",
            "http://127.0.0.1:8081/jwks",
            "https://127.0.0.1:8080/jwks",
        ] {
            headers.insert(LOCATION, elsewhere.parse().unwrap());
            assert!(redirect_target(&base, &headers).is_none(), "{elsewhere}");
        }
        headers.remove(LOCATION);
        assert!(redirect_target(&base, &headers).is_none());
    }
}
