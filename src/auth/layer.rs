use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde::de::DeserializeOwned;
use tower_layer::Layer;

use super::JwtAuth;
use super::future::Resume;
use crate::cache::{KeyUsed, TokenCache, Verified};
use crate::claims::VerifiedHeader;
use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::key::{Key, KeySet};
use crate::provider::TokenHeader;
use crate::provider::{KeyLookup, KeyProvider, StaticKeys};
use crate::response::{DefaultErrorHandler, ErrorHandler};
use crate::source::{Bearer, HeaderSource, QuerySource, RequestHead, Sources, TokenSource};
use crate::verify::{Parsed, Policy, TypPolicy, Verifier};
use bytes::Bytes;
use http::Response;

type ClaimsCheck<C> = Box<dyn Fn(&C) -> bool + Send + Sync>;

/// A [`Layer`] that verifies a JWT on every request and inserts its claims (`C`) into the request
/// extensions (and the [`VerifiedHeader`], when asked with
/// [`JwtAuthBuilder::verified_header`]). Refused requests never reach the inner service.
///
/// Built with [`JwtAuthLayer::builder`]; cheap to clone (one `Arc`).
pub struct JwtAuthLayer<C, P = StaticKeys, H = DefaultErrorHandler> {
    shared: Arc<Shared<C, P, H>>,
}

impl<C, P, H> Clone for JwtAuthLayer<C, P, H> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C, P: fmt::Debug, H: fmt::Debug> fmt::Debug for JwtAuthLayer<C, P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthLayer")
            .field("provider", &self.shared.provider)
            .field("handler", &self.shared.handler)
            .field("optional", &self.shared.optional)
            .finish_non_exhaustive()
    }
}

impl<C, P, H> JwtAuthLayer<C, P, H>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    /// Verifies a token that came without a request of its own — posted in a body, sent over a WebSocket,
    /// carried by a job — with the layer's keys, claim rules, claims check and cache. The token sources
    /// and their transport rules do not apply.
    ///
    /// ```
    /// use tower_jwt_auth::{AuthError, JwtAuthLayer, Key, RegisteredClaims};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let layer = JwtAuthLayer::<RegisteredClaims>::builder()
    ///     .key(Key::hs256(b"0123456789abcdef0123456789abcdef")?)
    ///     .build()?;
    /// let refused = layer.verify("not-a-token").await.unwrap_err();
    /// assert!(matches!(refused, AuthError::InvalidToken(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn verify(&self, token: &str) -> Result<C, AuthError> {
        let shared = &self.shared;
        match shared.token_outcome(token) {
            Outcome::Verified(parts) => Ok(parts.claims),
            Outcome::Refused(error) => Err(error),
            // Only requests without a token are anonymous.
            Outcome::Anonymous => Err(AuthError::MissingToken),
            Outcome::Pending(key, token) => {
                shared.finish(&token, key.await).map(|parts| parts.claims)
            }
        }
    }
}

impl<C> JwtAuthLayer<C> {
    /// Starts the configuration: add keys (or a [`KeyProvider`]), then the claims you expect.
    pub fn builder() -> JwtAuthBuilder<C> {
        JwtAuthBuilder {
            provider: StaticKeys::default(),
            handler: DefaultErrorHandler::default(),
            settings: Settings {
                policy: Policy::default(),
                sources: vec![Box::new(Bearer)],
                default_sources: true,
                verified_header: false,
                optional: false,
                check: None,
                error: None,
                cache_capacity: 10_000,
                cache_ttl: Duration::from_secs(300),
                #[cfg(feature = "cookie")]
                cookies: Vec::new(),
                #[cfg(feature = "cookie")]
                csrf_allowed_origins: Vec::new(),
            },
            _claims: PhantomData,
        }
    }
}

impl<S, C, P, H> Layer<S> for JwtAuthLayer<C, P, H> {
    type Service = JwtAuth<S, C, P, H>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth::new(inner, Arc::clone(&self.shared))
    }
}

/// Configuration of a [`JwtAuthLayer`]; every mistake is reported by [`JwtAuthBuilder::build`].
#[must_use = "call .build() to get the layer"]
pub struct JwtAuthBuilder<C, P = StaticKeys, H = DefaultErrorHandler> {
    provider: P,
    handler: H,
    settings: Settings<C>,
    _claims: PhantomData<fn() -> C>,
}

impl<C, P: fmt::Debug, H: fmt::Debug> fmt::Debug for JwtAuthBuilder<C, P, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthBuilder")
            .field("provider", &self.provider)
            .field("handler", &self.handler)
            .field("policy", &self.settings.policy)
            .field("sources", &self.settings.sources.len())
            .field("optional", &self.settings.optional)
            .field("error", &self.settings.error)
            .finish_non_exhaustive()
    }
}

/// Everything but the provider and the handler, which change the builder's type.
struct Settings<C> {
    policy: Policy,
    sources: Vec<Box<dyn TokenSource>>,
    /// `sources` is still the default `[Bearer]`.
    default_sources: bool,
    verified_header: bool,
    optional: bool,
    check: Option<ClaimsCheck<C>>,
    error: Option<ConfigError>,
    /// Entries of the verified-token cache; 0 turns it off.
    cache_capacity: usize,
    cache_ttl: Duration,
    /// Cookie names of `.cookie()`, made into sources at build time with the allowed origins.
    #[cfg(feature = "cookie")]
    cookies: Vec<String>,
    #[cfg(feature = "cookie")]
    csrf_allowed_origins: Vec<crate::source::Origin>,
}

impl<C, H> JwtAuthBuilder<C, StaticKeys, H> {
    /// Adds a verification key. Several keys need distinct `kid`s, and tokens must then name theirs.
    pub fn key(mut self, key: Key) -> Self {
        self.provider.push(key);
        self
    }

    /// Adds several keys.
    pub fn keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        for key in keys {
            self.provider.push(key);
        }
        self
    }

    /// Adds the usable keys of a JWK set.
    pub fn key_set(self, set: KeySet) -> Self {
        self.keys(set.into_keys())
    }

    /// Uses another key provider (e.g. a remote JWK set) instead of static keys. Keys added before are
    /// not used by it, so adding any is a configuration error.
    pub fn provider<P2: KeyProvider>(mut self, provider: P2) -> JwtAuthBuilder<C, P2, H> {
        if !self.provider.keys().is_empty() {
            self.fail(ConfigError::InvalidOption(
                "keys were added and a provider was set: put the keys in the provider".into(),
            ));
        }
        JwtAuthBuilder {
            provider,
            handler: self.handler,
            settings: self.settings,
            _claims: PhantomData,
        }
    }
}

impl<C, P> JwtAuthBuilder<C, P, DefaultErrorHandler> {
    /// The realm named in `WWW-Authenticate` challenges (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        match DefaultErrorHandler::new(realm) {
            Ok(handler) => self.handler = handler,
            Err(e) => self.fail(e),
        }
        self
    }
}

impl<C, P, H> JwtAuthBuilder<C, P, H> {
    /// The key provider being configured (e.g. to load a remote JWK set before serving).
    pub fn key_provider(&self) -> &P {
        &self.provider
    }

    /// Renders refusals with your own handler.
    pub fn error_handler<H2: ErrorHandler>(self, handler: H2) -> JwtAuthBuilder<C, P, H2> {
        JwtAuthBuilder {
            provider: self.provider,
            handler,
            settings: self.settings,
            _claims: PhantomData,
        }
    }

    /// Requires `iss` to be exactly this string (no normalisation, never an array).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if issuer.is_empty() {
            self.fail(ConfigError::InvalidOption("the issuer is empty".into()));
        }
        self.settings.policy.issuers = vec![issuer.into()];
        self
    }

    /// Requires `aud` to name this audience (call again to accept any of several). Without an audience,
    /// tokens that carry `aud` are refused (RFC 7519 §4.1.3: the recipient must find itself in `aud`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        if audience.is_empty() {
            self.fail(ConfigError::InvalidOption("the audience is empty".into()));
        }
        let mut audiences = std::mem::take(&mut self.settings.policy.audiences).into_vec();
        audiences.push(audience.into());
        self.settings.policy.audiences = audiences.into();
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 30 s; at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        if leeway > Duration::from_secs(300) {
            self.fail(ConfigError::InvalidOption(
                "a leeway over 5 minutes defeats expiry".into(),
            ));
        }
        self.settings.policy.leeway = leeway.as_secs();
        self
    }

    /// Refuses tokens whose `exp` is further than this from their `iat` (or from now, without `iat`).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        if lifetime.as_secs() == 0 {
            self.fail(ConfigError::InvalidOption(
                "a maximum lifetime under one second".into(),
            ));
        }
        self.settings.policy.max_lifetime = Some(lifetime.as_secs());
        self
    }

    /// Requires this `typ` (e.g. `at+jwt` for RFC 9068 access tokens), compared as a media type. Without
    /// it, `typ` may be absent, `JWT` or `at+jwt`, and anything else is refused.
    pub fn required_typ(mut self, typ: impl Into<String>) -> Self {
        let typ = typ.into();
        if typ.trim().is_empty() {
            self.fail(ConfigError::InvalidOption(
                "the required typ is empty".into(),
            ));
        }
        self.settings.policy.typ = TypPolicy::Required(typ.into());
        self
    }

    /// Whether `sub` must be a non-empty string (default `true`: the layer exists to say who the user is).
    pub fn require_sub(mut self, required: bool) -> Self {
        self.settings.policy.require_sub = required;
        self
    }

    /// Also requires one of the optional registered claims: `nbf`, `iat` or `jti`.
    pub fn require_claim(mut self, claim: &str) -> Self {
        match claim {
            "nbf" => self.settings.policy.require_nbf = true,
            "iat" => self.settings.policy.require_iat = true,
            "jti" => self.settings.policy.require_jti = true,
            "sub" => self.settings.policy.require_sub = true,
            "exp" => {}
            other => self.fail(ConfigError::InvalidOption(format!(
                "require_claim takes nbf, iat or jti, not {other:?} (use issuer()/audience() for iss/aud)"
            ))),
        }
        self
    }

    /// Accepts tokens without `exp` and ignores `exp` when present. Only for verifying fixed test vectors:
    /// a token that never expires is a credential that can never be withdrawn.
    pub fn dangerous_skip_expiry(mut self) -> Self {
        self.settings.policy.check_exp = false;
        self
    }

    /// Tokens longer than this are refused before any decoding (default 8 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        // The shortest meaningful JWS is far longer; a smaller cap is a typo.
        if len < 64 {
            self.fail(ConfigError::InvalidOption(format!(
                "a token size cap of {len} bytes"
            )));
        }
        self.settings.policy.max_token_len = len;
        self
    }

    /// A check on the verified claims; `false` answers `403 insufficient_scope`. Checks added by several
    /// calls must all pass.
    pub fn check_claims(mut self, check: impl Fn(&C) -> bool + Send + Sync + 'static) -> Self
    where
        C: 'static,
    {
        self.settings.check = Some(match self.settings.check.take() {
            None => Box::new(check),
            Some(previous) => Box::new(move |claims: &C| previous(claims) && check(claims)),
        });
        self
    }

    /// The verified-token cache's size (default 10 000 entries; 0 turns it off). Each entry holds a token
    /// (at most the token size cap), its claims and about 155 bytes: bound memory with this.
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.settings.cache_capacity = entries;
        self
    }

    /// How long a verified token is served from the cache at most (default 5 minutes; never past its
    /// `exp`, and never once its key has been removed or replaced).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        if ttl.is_zero() {
            self.fail(ConfigError::InvalidOption(
                "a zero cache TTL: use cache_capacity(0) to turn the cache off".into(),
            ));
        }
        self.settings.cache_ttl = ttl;
        self
    }

    /// Turns the verified-token cache off: every request is verified from scratch.
    pub fn no_cache(self) -> Self {
        self.cache_capacity(0)
    }

    /// Also inserts the [`VerifiedHeader`] (algorithm and key id) beside the claims. Off by default: it
    /// costs an allocation per request, and most services only need the claims.
    pub fn verified_header(mut self) -> Self {
        self.settings.verified_header = true;
        self
    }

    /// Lets requests without a token through, without claims (an invalid token is still refused).
    pub fn optional(mut self) -> Self {
        self.settings.optional = true;
        self
    }

    /// Also reads the token from this cookie (or its chunks `name.0`, `name.1`, …), refusing unsafe
    /// cross-site requests that carry it (see [`CookieSource`](crate::source::CookieSource)).
    #[cfg(feature = "cookie")]
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.settings.cookies.push(name.into());
        self
    }

    /// Lets pages of this origin (`scheme://host[:port]`) make unsafe requests with the cookies of
    /// [`cookie`](Self::cookie), besides the site itself: a front end served from another port or domain.
    #[cfg(feature = "cookie")]
    pub fn csrf_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        // Checked now, so that `build()` reports the first mistake whatever the call order.
        match crate::source::Origin::allowed(&origin.into()) {
            Ok(origin) => self.settings.csrf_allowed_origins.push(origin),
            Err(error) => self.fail(error),
        }
        self
    }

    /// Also reads the bare token from this header (not `Authorization`: the default `Bearer` source reads it).
    pub fn header(mut self, name: HeaderName) -> Self {
        if name == http::header::AUTHORIZATION {
            self.fail(ConfigError::InvalidOption(
                "Authorization is read by the Bearer source; use .header() for other fields".into(),
            ));
        }
        self.source(HeaderSource::new(name))
    }

    /// Also reads the token from this query parameter (off by default: URLs leak into logs).
    pub fn query(self, name: impl Into<String>) -> Self {
        self.source(QuerySource::new(name))
    }

    /// Also reads the token with a source of your own.
    pub fn source(mut self, source: impl TokenSource) -> Self {
        self.settings.sources.push(Box::new(source));
        self.settings.default_sources = false;
        self
    }

    /// Replaces all sources, in this order (the default is `Authorization: Bearer` alone).
    pub fn token_sources(mut self, sources: Vec<Box<dyn TokenSource>>) -> Self {
        self.settings.sources = sources;
        self.settings.default_sources = false;
        #[cfg(feature = "cookie")]
        self.settings.cookies.clear();
        self
    }

    fn fail(&mut self, error: ConfigError) {
        self.settings.error.get_or_insert(error);
    }
}

impl<C, P, H> JwtAuthBuilder<C, P, H>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    /// The layer, or the first configuration error.
    pub fn build(self) -> Result<JwtAuthLayer<C, P, H>, ConfigError> {
        let Settings {
            policy,
            #[cfg_attr(not(feature = "cookie"), allow(unused_mut))]
            mut sources,
            default_sources,
            verified_header,
            optional,
            check,
            error,
            cache_capacity,
            cache_ttl,
            #[cfg(feature = "cookie")]
            cookies,
            #[cfg(feature = "cookie")]
            csrf_allowed_origins,
        } = self.settings;
        if let Some(error) = error {
            return Err(error);
        }
        #[cfg(feature = "cookie")]
        for name in cookies {
            let source =
                crate::source::CookieSource::new(name).with_allowed_origins(&csrf_allowed_origins);
            sources.push(Box::new(source));
        }
        self.provider.check()?;
        let mut policy = policy;
        let routed = self.provider.routed_issuers();
        if !routed.is_empty() {
            // A provider that routes by issuer decides which issuers exist; `.issuer(…)` narrows them.
            if let Some(extra) = policy
                .issuers
                .iter()
                .find(|i| !routed.iter().any(|r| r == &***i))
            {
                return Err(ConfigError::InvalidOption(format!(
                    "issuer {extra:?} is not one the provider routes to"
                )));
            }
            if policy.issuers.is_empty() {
                policy.issuers = routed.into_iter().map(String::into_boxed_str).collect();
            }
        }
        let sources = Sources::new(sources, default_sources);
        if sources.is_empty() {
            return Err(ConfigError::InvalidOption("no token source".into()));
        }
        Ok(JwtAuthLayer {
            shared: Arc::new(Shared {
                fixed_keys: self.provider.keys_are_fixed(),
                provider: self.provider,
                verifier: Verifier::new(policy)?,
                sources,
                handler: self.handler,
                verified_header,
                optional,
                check,
                cache: (cache_capacity > 0).then(|| TokenCache::new(cache_capacity, cache_ttl)),
            }),
        })
    }
}

/// Everything the services of one layer share.
pub(crate) struct Shared<C, P, H> {
    provider: P,
    /// The provider's keys never change: a hit needs no second lookup.
    fixed_keys: bool,
    verifier: Verifier,
    sources: Sources,
    pub(crate) handler: H,
    verified_header: bool,
    optional: bool,
    check: Option<ClaimsCheck<C>>,
    cache: Option<TokenCache<C>>,
}

/// Renders refusals the way the layer would: inserted into anonymous requests (optional mode) so that an
/// extractor that then finds no claims answers with the layer's realm and error handler.
#[cfg(feature = "axum")]
#[derive(Clone)]
pub(crate) struct LayerRefusals(pub(crate) Arc<dyn RenderRefusal>);

#[cfg(feature = "axum")]
pub(crate) trait RenderRefusal: Send + Sync {
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes>;
}

#[cfg(feature = "axum")]
impl<C, P, H> RenderRefusal for Shared<C, P, H>
where
    C: Send + Sync,
    P: Send + Sync,
    H: ErrorHandler,
{
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        self.handler.render(error, request)
    }
}

/// What a verified token adds to the request.
pub(crate) struct VerifiedParts<C> {
    claims: C,
    /// Present when the layer inserts it.
    header: Option<VerifiedHeader>,
}

impl<C: Clone + Send + Sync + 'static> VerifiedParts<C> {
    pub(crate) fn insert_into(self, extensions: &mut http::Extensions) {
        extensions.insert(self.claims);
        if let Some(header) = self.header {
            extensions.insert(header);
        }
    }
}

/// What to do with a request.
pub(crate) enum Outcome<C, F> {
    Verified(VerifiedParts<C>),
    Anonymous,
    Refused(AuthError),
    /// The key needs I/O: the future, and the token to verify once it resolves.
    Pending(F, Box<str>),
}

impl<C, P, H> Shared<C, P, H>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    pub(crate) fn authenticate(&self, request: &RequestHead<'_>) -> Outcome<C, P::Future> {
        // With the default source, a cache hit is served before the syntax pass over the token.
        let unchecked = match self.cache {
            Some(_) => self.sources.unchecked_bearer(request),
            None => None,
        };
        if let Some(outcome) = unchecked.and_then(|raw| self.cached_outcome(raw)) {
            return outcome;
        }
        let token = match self.sources.extract(request) {
            Ok(Some(token)) => token,
            Ok(None) if self.optional => return Outcome::Anonymous,
            Ok(None) => return self.refuse(AuthError::MissingToken, None),
            Err(error) => return self.refuse(error, None),
        };
        if unchecked.is_some() {
            // The same bytes: the cache has already missed.
            return self.fresh_outcome(&token);
        }
        self.token_outcome(&token)
    }

    /// Verifies one token taken from wherever: the cache, then the parse, the key lookup and the checks.
    pub(crate) fn token_outcome(&self, token: &str) -> Outcome<C, P::Future> {
        match self.cached_outcome(token.as_bytes()) {
            Some(outcome) => outcome,
            None => self.fresh_outcome(token),
        }
    }

    /// The parse, the key lookup and the checks, without the cache.
    fn fresh_outcome(&self, token: &str) -> Outcome<C, P::Future> {
        let parsed = match self.verifier.parse(token) {
            Ok(parsed) => parsed,
            Err(reason) => return self.refuse(reason.into(), None),
        };
        let header = parsed.header();
        let verified = match self.provider.lookup(&header) {
            KeyLookup::Found(key) => self.verify(token, &parsed, key),
            KeyLookup::Shared(key) => self.verify(token, &parsed, &key),
            KeyLookup::Refused(error) => Err(error),
            KeyLookup::Pending(future) => return Outcome::Pending(future, token.into()),
        };
        match verified {
            Ok(parts) => Outcome::Verified(parts),
            Err(error) => self.refuse(error, header.kid()),
        }
    }

    fn verify(
        &self,
        token: &str,
        parsed: &Parsed<'_>,
        key: &Key,
    ) -> Result<VerifiedParts<C>, AuthError> {
        let (claims, header, window) = self.verifier.verify::<C>(parsed, key)?;
        if let Some(check) = &self.check
            && !check(&claims)
        {
            return Err(AuthError::InsufficientScope);
        }
        if let Some(cache) = &self.cache {
            let token_header = parsed.header();
            let verified = Verified {
                claims: &claims,
                header: &header,
                token_kid: token_header.kid(),
                fingerprint: key.fingerprint(),
                window,
                payload: parsed.payload_range(),
            };
            cache.insert(token, verified, crate::clock::precise_now());
        }
        Ok(VerifiedParts {
            claims,
            header: self.verified_header.then_some(header),
        })
    }

    /// A cached verification of this exact token, if it is still inside its time window and the key that
    /// verified it is still the one a lookup returns (asked only of providers whose keys can change). The
    /// claims check runs again.
    fn cached_outcome(&self, token: &[u8]) -> Option<Outcome<C, P::Future>> {
        let cache = self.cache.as_ref()?;
        let now = cache.now();
        let still_valid = |window: &_| self.verifier.still_valid(window, now);
        let hit = cache.get(
            token,
            now,
            still_valid,
            self.verified_header,
            !self.fixed_keys,
        )?;
        if let Some(used) = &hit.key
            && !self.key_still_current(token, used)
        {
            return None;
        }
        Some(match &self.check {
            Some(check) if !check(&hit.claims) => {
                // Rare: the kid for the log is read again rather than carried by every hit.
                let parsed = std::str::from_utf8(token)
                    .ok()
                    .and_then(|token| self.verifier.parse(token).ok());
                let header = parsed.as_ref().map(Parsed::header);
                self.refuse(
                    AuthError::InsufficientScope,
                    header.as_ref().and_then(TokenHeader::kid),
                )
            }
            _ => Outcome::Verified(VerifiedParts {
                claims: hit.claims,
                header: hit.header,
            }),
        })
    }

    /// Whether a lookup for the cached token still returns the key that verified it (same material and
    /// algorithm).
    fn key_still_current(&self, token: &[u8], used: &KeyUsed) -> bool {
        // For providers that route by issuer; the token is the one the entry was made from.
        let payload = token
            .get(used.payload.start as usize..used.payload.end as usize)
            .unwrap_or_default();
        let header = TokenHeader::cached(used.alg, used.token_kid.as_deref(), payload);
        match self.provider.lookup(&header) {
            KeyLookup::Found(key) => key.fingerprint() == used.fingerprint,
            KeyLookup::Shared(key) => key.fingerprint() == used.fingerprint,
            // Removed, replaced by a key being fetched, unavailable: verify from scratch.
            _ => false,
        }
    }

    fn refuse<F>(&self, error: AuthError, kid: Option<&str>) -> Outcome<C, F> {
        log_refusal(&error, kid);
        Outcome::Refused(error)
    }
}

impl<C, P, H> Resume<C> for Shared<C, P, H>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    fn resume(
        &self,
        token: &str,
        key: Result<Arc<Key>, AuthError>,
        request: &RequestHead<'_>,
    ) -> Result<VerifiedParts<C>, Box<Response<Bytes>>> {
        self.finish(token, key)
            .map_err(|error| Box::new(self.handler.render(&error, request)))
    }
}

impl<C, P, H> Shared<C, P, H>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
    H: ErrorHandler,
{
    /// Verification once an asynchronous key lookup has answered.
    fn finish(
        &self,
        token: &str,
        key: Result<Arc<Key>, AuthError>,
    ) -> Result<VerifiedParts<C>, AuthError> {
        self.verifier
            .parse(token)
            .map_err(AuthError::from)
            .and_then(|parsed| {
                let header = parsed.header();
                key.and_then(|key| match (header.kid(), key.kid()) {
                    // Defence in depth against a provider that answers with another key.
                    (Some(wanted), Some(got)) if wanted != got => {
                        Err(InvalidToken::UnknownKid.into())
                    }
                    _ => self.verify(token, &parsed, &key),
                })
                .inspect_err(|error| log_refusal(error, header.kid()))
            })
    }
}

#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn log_refusal(error: &AuthError, kid: Option<&str>) {
    // The kid is attacker-controlled: Debug-escaped and length-capped by the parser; never the token.
    #[cfg(feature = "tracing")]
    tracing::debug!(status = error.status().as_u16(), reason = %error, detail = ?detail(error), kid = ?kid, "JWT refused");
}

#[cfg(feature = "tracing")]
fn detail(error: &AuthError) -> Option<&'static str> {
    match error {
        AuthError::InvalidToken(
            InvalidToken::MissingClaim(claim) | InvalidToken::InvalidClaim(claim),
        ) => Some(claim),
        _ => None,
    }
}
