//! Where the token is read from.
//!
//! The layer asks every configured source, in order. A source that finds a malformed field answers
//! `400 invalid_request`; two sources that both find a token do too (RFC 6750 §2: one method per request).
//!
//! ```
//! use http::{HeaderMap, Method, Uri};
//! use tower_jwt_auth::source::{Bearer, Extracted, RequestHead, TokenSource};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", "bearer   eyJhbGciOi.eyJzdWIiOi.c2ln  ".parse().unwrap());
//! let (method, uri) = (Method::GET, Uri::from_static("/me"));
//! let head = RequestHead::new(&method, &uri, &headers);
//! assert_eq!(Bearer.extract(&head), Extracted::Found("eyJhbGciOi.eyJzdWIiOi.c2ln".into()));
//! ```

use std::borrow::Cow;
use std::fmt;

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, Method, Uri};

#[cfg(feature = "cookie")]
use crate::error::ConfigError;
use crate::error::{AuthError, InvalidRequest};

/// The parts of a request a [`TokenSource`] or an [`ErrorHandler`](crate::ErrorHandler) may look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The request header fields.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// A view of a request's method, target and headers.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }

    /// A view of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self::new(request.method(), request.uri(), request.headers())
    }
}

/// What a source found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted<'a> {
    /// Nothing for this source.
    Absent,
    /// A token (not yet checked in any way beyond the field's own syntax).
    Found(Cow<'a, str>),
    /// The field is there but malformed: the request is refused with `400 invalid_request`.
    Invalid(InvalidRequest),
    /// A token that the browser attaches by itself (a cookie) on a request that is not shown to come from
    /// the site: refused with `403` ([`AuthError::CrossSiteRequest`]), whatever the token.
    CrossSite,
}

/// A place a token can be carried: implement it for custom transports.
pub trait TokenSource: Send + Sync + 'static {
    /// Looks for a token in the request.
    fn extract<'a>(&self, request: &RequestHead<'a>) -> Extracted<'a>;
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1).
///
/// The scheme is case-insensitive and followed by one or more spaces; whitespace around the field value is
/// ignored. The token must be `token68`. A tab, quotes, a second credential or an empty token is
/// `400 invalid_request`, as is more than one `Authorization` field. Another scheme (`Basic …`) is not a
/// bearer token: the source reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bearer;

impl TokenSource for Bearer {
    fn extract<'a>(&self, request: &RequestHead<'a>) -> Extracted<'a> {
        let mut fields = request.headers.get_all(AUTHORIZATION).iter();
        let Some(field) = fields.next() else {
            return Extracted::Absent;
        };
        if fields.next().is_some() {
            return Extracted::Invalid(InvalidRequest::RepeatedCredentials);
        }
        parse_bearer(field.as_bytes())
    }
}

fn parse_bearer(value: &[u8]) -> Extracted<'_> {
    match locate_bearer(value) {
        Ok(token) if is_token68(token) => match std::str::from_utf8(token) {
            Ok(token) => Extracted::Found(Cow::Borrowed(token)),
            Err(_) => MALFORMED,
        },
        Ok(_) => MALFORMED,
        Err(other) => other,
    }
}

const MALFORMED: Extracted<'static> = Extracted::Invalid(InvalidRequest::MalformedAuthorization);

/// `Bearer ` in any case, compared as one word: the ASCII case bit is set on the letters only.
fn is_bearer_and_space(scheme: &[u8]) -> bool {
    let mut word = [0u8; 8];
    word[..7].copy_from_slice(scheme);
    u64::from_le_bytes(word) | 0x0000_2020_2020_2020 == u64::from_le_bytes(*b"bearer \0")
}

/// The token's bytes in a `Bearer` field, before the token's own syntax is checked; or what the field
/// is when it holds no bearer token.
fn locate_bearer(value: &[u8]) -> Result<&[u8], Extracted<'_>> {
    // What clients send: `Bearer <token>`, one space, nothing around it.
    if let Some((scheme, token)) = value.split_at_checked(7)
        && is_bearer_and_space(scheme)
        && token.first().is_some_and(|b| !b.is_ascii_whitespace())
        && token.last().is_some_and(|b| !b.is_ascii_whitespace())
    {
        return Ok(token);
    }
    let value = value.trim_ascii();
    let scheme_end = value
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(
            if !scheme.is_empty() && scheme.iter().all(|b| is_tchar(*b)) {
                Extracted::Absent
            } else {
                MALFORMED
            },
        );
    }
    let token = rest.trim_ascii_start();
    // One or more spaces, never a tab (RFC 7235 `1*SP`).
    if rest.len() == token.len() || rest[..rest.len() - token.len()].contains(&b'\t') {
        return Err(MALFORMED);
    }
    Ok(token)
}

/// RFC 7235 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(value: &[u8]) -> bool {
    let body_len = value.len() - value.iter().rev().take_while(|b| **b == b'=').count();
    let body = &value[..body_len];
    // This runs on every request, over the whole token: fixed-size blocks of branch-free comparisons,
    // which the compiler turns into vector code, and one test per block.
    let mut blocks = body.chunks_exact(32);
    let mut valid = body_len > 0;
    for block in &mut blocks {
        valid &= block
            .iter()
            .fold(0u8, |bad, &b| bad | !is_token68_byte(b) as u8)
            == 0;
    }
    valid & blocks.remainder().iter().all(|&b| is_token68_byte(b))
}

fn is_token68_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    // `-`, `.`, `/` and the digits are the contiguous 0x2D..=0x39.
    let dash_to_nine = b.wrapping_sub(b'-') <= b'9' - b'-';
    letter | dash_to_nine | (b == b'_') | (b == b'~') | (b == b'+')
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A custom header carrying the bare token, e.g. `X-Auth-Token: <token>`.
#[derive(Debug, Clone)]
pub struct HeaderSource {
    name: HeaderName,
}

impl HeaderSource {
    /// Reads the token from the header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self { name }
    }
}

impl TokenSource for HeaderSource {
    fn extract<'a>(&self, request: &RequestHead<'a>) -> Extracted<'a> {
        let mut fields = request.headers.get_all(&self.name).iter();
        let Some(field) = fields.next() else {
            return Extracted::Absent;
        };
        if fields.next().is_some() {
            return Extracted::Invalid(InvalidRequest::RepeatedCredentials);
        }
        match field.to_str().map(str::trim) {
            Ok(token) if !token.is_empty() => Extracted::Found(Cow::Borrowed(token)),
            _ => Extracted::Invalid(InvalidRequest::MalformedTokenField),
        }
    }
}

/// A query parameter, e.g. `?access_token=<token>` (RFC 6750 §2.3). Off unless configured: URLs end up in
/// logs, browser history and `Referer` headers.
#[derive(Debug, Clone)]
pub struct QuerySource {
    name: String,
}

impl QuerySource {
    /// Reads the token from the query parameter `name` (taken as is, without percent-decoding: a JWT needs
    /// none).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl TokenSource for QuerySource {
    fn extract<'a>(&self, request: &RequestHead<'a>) -> Extracted<'a> {
        let Some(query) = request.uri.query() else {
            return Extracted::Absent;
        };
        let mut found = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != self.name {
                continue;
            }
            if found.is_some() {
                return Extracted::Invalid(InvalidRequest::RepeatedCredentials);
            }
            found = Some(value);
        }
        match found {
            None => Extracted::Absent,
            Some("") => Extracted::Invalid(InvalidRequest::MalformedTokenField),
            Some(token) => Extracted::Found(Cow::Borrowed(token)),
        }
    }
}

/// A cookie, e.g. `better-auth.session_data`, including a value split over chunk cookies `name.0`,
/// `name.1`, … as Better Auth writes large cookies (the chunks are joined in order). A non-empty unsplit
/// cookie together with chunks is `400 invalid_request`: one of them is stale or was planted. Cookies are
/// parsed with the `cookie` crate; values are taken raw (no percent-decoding), without the optional
/// surrounding double quotes. Prefer a `__Host-` cookie name: it cannot be set from a sibling subdomain.
///
/// A cookie sent twice with different values is `400 invalid_request`; an empty cookie counts as absent
/// (that is how a cleared cookie looks).
///
/// # Cross-site request forgery
///
/// Browsers attach cookies to requests other sites make. So when the token comes from the cookie and the
/// method is not safe (anything but GET, HEAD, OPTIONS and TRACE), the request must show it comes from the
/// site itself, else it is refused with `403` ([`AuthError::CrossSiteRequest`]) before the token is even
/// looked at:
///
/// - `Sec-Fetch-Site: same-origin`, which browsers set and pages cannot forge; or, when the browser sends no
///   `Sec-Fetch-Site`,
/// - an `Origin` whose host and port are the request's own (`Host`, or the HTTP/2 authority).
///
/// Origins of other sites you trust (a front end on another port or domain) are allowed with
/// [`allow_origin`](Self::allow_origin). `same-site` is not enough: another port on the same host, or a
/// sibling subdomain, is another origin. A request with neither header (curl, a server) is refused: send
/// the token in `Authorization: Bearer` instead, which no browser adds on its own.
///
/// ```
/// use http::{HeaderMap, Method, Uri};
/// use tower_jwt_auth::source::{CookieSource, Extracted, RequestHead, TokenSource};
///
/// let source = CookieSource::new("session").allow_origin("https://app.example.com")?;
/// let mut headers = HeaderMap::new();
/// headers.insert("host", "api.example.com".parse().unwrap());
/// headers.insert("cookie", "session=eyJhbGciOi.eyJzdWIiOi.c2ln".parse().unwrap());
/// headers.insert("origin", "https://evil.example".parse().unwrap());
/// let (method, uri) = (Method::POST, Uri::from_static("/api/orders"));
/// assert_eq!(source.extract(&RequestHead::new(&method, &uri, &headers)), Extracted::CrossSite);
///
/// headers.insert("origin", "https://app.example.com".parse().unwrap());
/// assert!(matches!(source.extract(&RequestHead::new(&method, &uri, &headers)), Extracted::Found(_)));
/// # Ok::<(), tower_jwt_auth::ConfigError>(())
/// ```
#[cfg(feature = "cookie")]
#[derive(Debug, Clone)]
pub struct CookieSource {
    name: String,
    /// Other origins allowed to make unsafe requests with the cookie.
    allowed_origins: Vec<Origin>,
    csrf_check: bool,
}

/// Chunk cookies beyond this many are ignored: a token has at most a few KiB.
#[cfg(feature = "cookie")]
const MAX_CHUNKS: usize = 32;

#[cfg(feature = "cookie")]
impl CookieSource {
    /// Reads the token from the cookie `name` (or its chunks), with the cross-site check on.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            allowed_origins: Vec::new(),
            csrf_check: true,
        }
    }

    /// Also accepts unsafe requests whose `Origin` is `origin`: `http://` or `https://`, a host and an
    /// optional port (a default port, a trailing `/` and letter case make no difference). Anything else,
    /// `null` included (what sandboxed frames send), is a configuration error.
    pub fn allow_origin(mut self, origin: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.allowed_origins.push(Origin::allowed(origin.as_ref())?);
        Ok(self)
    }

    /// Adds origins already checked by [`Origin::allowed`].
    pub(crate) fn with_allowed_origins(mut self, origins: &[Origin]) -> Self {
        self.allowed_origins.extend_from_slice(origins);
        self
    }

    /// Turns the cross-site check off. Only for cookies that browsers never send cross-site on their own
    /// and endpoints with another defence: a `SameSite=Lax` cookie is still sent by a page on another port
    /// of the same host.
    pub fn dangerous_disable_csrf_check(mut self) -> Self {
        self.csrf_check = false;
        self
    }

    /// Whether an unsafe request shows it comes from the site or an allowed origin.
    fn shows_same_origin(&self, request: &RequestHead<'_>) -> bool {
        let headers = request.headers;
        // Several Origin fields are no origin at all.
        let mut origins = headers.get_all(http::header::ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (Some(one), None) => one.to_str().ok().and_then(Origin::parse),
            _ => None,
        };
        let allowed = |origin: &Origin| self.allowed_origins.contains(origin);
        if let Some(site) = headers.get("sec-fetch-site") {
            // The browser says where the request comes from; only an allowed origin can overrule "not us".
            return site.as_bytes() == b"same-origin" || origin.as_ref().is_some_and(allowed);
        }
        let Some(origin) = origin else {
            return false;
        };
        allowed(&origin) || origin.is_origin_of(request)
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An origin as browsers send it (RFC 6454): scheme, lowercase host, and port (the scheme's default when
/// none is written).
#[cfg(feature = "cookie")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    https: bool,
    host: Box<str>,
    port: u16,
}

#[cfg(feature = "cookie")]
impl Origin {
    /// An origin given in the configuration: anything [`parse`](Self::parse) refuses is an error.
    pub(crate) fn allowed(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text).ok_or_else(|| {
            ConfigError::InvalidOption(format!(
                "allowed origin {text:?} must look like https://host[:port]"
            ))
        })
    }

    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return None;
        };
        let (host, port) = split_host_port(rest.strip_suffix('/').unwrap_or(rest))?;
        Some(Self {
            https,
            host: host.to_ascii_lowercase().into_boxed_str(),
            port: port.unwrap_or(if https { 443 } else { 80 }),
        })
    }

    /// Whether this is the origin of the request itself: same host and port as `Host` (or the HTTP/2
    /// authority), and the same scheme when the request's is known. Without a port in `Host` the request
    /// went to its scheme's default port; an unknown scheme is taken to be https, so that a page served
    /// over plain http on port 80 is not mistaken for the https site.
    fn is_origin_of(&self, request: &RequestHead<'_>) -> bool {
        let authority = match request.headers.get(http::header::HOST) {
            Some(host) => host.to_str().ok(),
            None => request.uri.authority().map(|a| a.as_str()),
        };
        let Some((host, port)) = authority.and_then(split_host_port) else {
            return false;
        };
        let https = match request.uri.scheme_str() {
            Some(scheme) => scheme.eq_ignore_ascii_case("https"),
            None => true,
        };
        if request.uri.scheme_str().is_some() && https != self.https {
            return false;
        }
        let port = port.unwrap_or(if https { 443 } else { 80 });
        self.host.eq_ignore_ascii_case(host) && self.port == port
    }
}

/// `host[:port]`, with `[…]` around IPv6 literals; `None` for anything else (paths, userinfo, bad ports).
#[cfg(feature = "cookie")]
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port, host_ok) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, rest) = authority.split_at(end);
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        // An IPv6 literal: hex digits, colons, and dots for an embedded IPv4 address.
        let inner = &host[1..host.len() - 1];
        let ok = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        (host, port, ok)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        (host, port, ok)
    };
    let port = match port {
        None => None,
        Some(digits)
            if !digits.is_empty()
                && digits.len() <= 5
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    host_ok.then_some((host, port))
}

#[cfg(feature = "cookie")]
impl TokenSource for CookieSource {
    fn extract<'a>(&self, request: &RequestHead<'a>) -> Extracted<'a> {
        let mut whole: Option<&'a str> = None;
        let mut chunks: [Option<&'a str>; MAX_CHUNKS] = [None; MAX_CHUNKS];
        for field in request.headers.get_all(http::header::COOKIE) {
            let Ok(field) = field.to_str() else {
                continue;
            };
            for cookie in cookie::Cookie::split_parse(field).flatten() {
                let (Some(name), Some(value)) = (cookie.name_raw(), cookie.value_raw()) else {
                    continue;
                };
                // RFC 6265 §4.1.1: a cookie-value may be wrapped in double quotes.
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                let slot = if name == self.name {
                    &mut whole
                } else if let Some(index) = name
                    .strip_prefix(self.name.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .and_then(chunk_index)
                {
                    &mut chunks[index]
                } else {
                    continue;
                };
                match slot {
                    Some(previous) if *previous != value => {
                        return Extracted::Invalid(InvalidRequest::RepeatedCredentials);
                    }
                    _ => *slot = Some(value),
                }
            }
        }
        // An empty cookie is how a cleared one looks: it does not count.
        let whole = whole.filter(|v| !v.is_empty());
        let joined: String = chunks.iter().map_while(|chunk| *chunk).collect();
        let safe_method = matches!(
            *request.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        if (whole.is_some() || !joined.is_empty())
            && self.csrf_check
            && !safe_method
            && !self.shows_same_origin(request)
        {
            return Extracted::CrossSite;
        }
        match (whole, joined.is_empty()) {
            (Some(value), true) => Extracted::Found(Cow::Borrowed(value)),
            // Both forms at once: a stale or tossed cookie. Choosing one could pick the attacker's.
            (Some(_), false) => Extracted::Invalid(InvalidRequest::RepeatedCredentials),
            (None, false) => Extracted::Found(Cow::Owned(joined)),
            (None, true) => Extracted::Absent,
        }
    }
}

#[cfg(feature = "cookie")]
fn chunk_index(suffix: &str) -> Option<usize> {
    // Digits only: `usize::from_str` would also take `+1`.
    if suffix.is_empty() || suffix.len() > 2 || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    suffix.parse().ok().filter(|i| *i < MAX_CHUNKS)
}

/// The ordered sources of one layer.
pub(crate) struct Sources {
    list: Box<[Box<dyn TokenSource>]>,
    /// The default: [`Bearer`] alone.
    bearer_only: bool,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sources({})", self.list.len())
    }
}

impl Sources {
    /// `bearer_only` says that `sources` is exactly `[Bearer]`.
    pub(crate) fn new(sources: Vec<Box<dyn TokenSource>>, bearer_only: bool) -> Self {
        Self {
            bearer_only: bearer_only && sources.len() == 1,
            list: sources.into_boxed_slice(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// With the default source only: the bytes that [`Bearer`] would take as the token, before it checks
    /// their syntax. For the cache, which holds only tokens that passed that check (a verified token is
    /// base64url segments, a subset of `token68`), so a byte-equal entry needs no second pass. `None`
    /// unless the request has one `Authorization` field, with the `Bearer` scheme.
    pub(crate) fn unchecked_bearer<'a>(&self, request: &RequestHead<'a>) -> Option<&'a [u8]> {
        if !self.bearer_only {
            return None;
        }
        let mut fields = request.headers.get_all(AUTHORIZATION).iter();
        match (fields.next(), fields.next()) {
            (Some(field), None) => locate_bearer(field.as_bytes()).ok(),
            _ => None,
        }
    }

    /// The one token of the request, if any.
    pub(crate) fn extract<'a>(
        &self,
        request: &RequestHead<'a>,
    ) -> Result<Option<Cow<'a, str>>, AuthError> {
        let mut found = None;
        for source in self.list.iter() {
            match source.extract(request) {
                Extracted::Absent => {}
                Extracted::Invalid(reason) => return Err(reason.into()),
                Extracted::CrossSite => return Err(AuthError::CrossSiteRequest),
                Extracted::Found(_) if found.is_some() => {
                    return Err(InvalidRequest::SeveralMethods.into());
                }
                Extracted::Found(token) => found = Some(token),
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &[u8]) -> Extracted<'_> {
        parse_bearer(value)
    }

    #[test]
    fn bearer_syntax() {
        let found = |t: &'static str| Extracted::Found(Cow::Borrowed(t));
        let malformed = Extracted::Invalid(InvalidRequest::MalformedAuthorization);
        assert_eq!(bearer(b"Bearer abc.def.ghi"), found("abc.def.ghi"));
        assert_eq!(bearer(b"bEaReR    abc"), found("abc"));
        assert_eq!(bearer(b"  Bearer abc  "), found("abc"));
        assert_eq!(bearer(b"Bearer abc=="), found("abc=="));
        assert_eq!(bearer(b"Basic dXNlcjpwYXNz"), Extracted::Absent);
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer\tabc",
            b"Bearer \tabc",
            b"Bearer \"abc\"",
            b"Bearer abc def",
            b"Bearer abc,Bearer def",
            b"Bearer ab\tc",
            b"Bearer =abc",
            b"Bearer a=b",
            b"Bearer \xc3\xa9",
            b"B\xc3\xa9arer abc",
            b"",
        ] {
            assert_eq!(bearer(bad), malformed, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn chunk_indices() {
        assert_eq!(chunk_index("0"), Some(0));
        assert_eq!(chunk_index("31"), Some(31));
        assert_eq!(chunk_index("32"), None);
        assert_eq!(chunk_index("+1"), None);
        assert_eq!(chunk_index(""), None);
    }
}
