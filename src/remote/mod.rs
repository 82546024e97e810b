//! Keys from a JWK set published over HTTP, kept fresh in the background (feature `remote`).
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{Empty, Full};
//! use tower_jwt_auth::remote::RemoteJwks;
//!
//! // Any tower service taking `Request<Empty<Bytes>>` can fetch: here a stand-in for an HTTP client.
//! let client = tower::service_fn(|_: Request<Empty<Bytes>>| async {
//!     let jwks = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
//!                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(jwks))))
//! });
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let jwks = RemoteJwks::builder("https://idp.example.com/.well-known/jwks.json")
//!     .client(client)
//!     .build()?;
//! jwks.load().await?; // optional: otherwise the first request loads the set
//! assert_eq!(jwks.kids(), ["k1"]);
//! // Then: JwtAuthLayer::<MyClaims>::builder().provider(jwks).issuer(...).build()?
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Behaviour:
//! - Requests whose `kid` is known never wait: the read path is an atomic pointer load.
//! - The set is refreshed in the background ahead of expiry, on the lifetime from `Cache-Control: max-age`
//!   clamped to a range (default 5 min – 24 h; 10 min without the header).
//! - An unknown `kid` triggers one refetch at most once per cooldown (default 30 s), however many
//!   requests or distinct kids arrive; requests arriving during that fetch wait for it, later ones are
//!   refused at once.
//! - A failed, unparsable, empty or oversized response keeps the last good set (up to a maximum
//!   staleness, default 24 h) and is retried with exponential backoff and jitter.
//! - Until a first good load, requests get `503` with `Retry-After`, never `401`.
//! - Dropping every clone of the provider (and so the layer) stops the background task;
//!   [`ShutdownHandle`] stops it explicitly.

#[cfg(feature = "remote-client")]
mod client;
mod discovery;
mod fetch;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use http::Uri;

#[cfg(feature = "remote-client")]
pub use client::{DefaultClient, default_client};
pub use discovery::Discovery;
pub use fetch::{BoxedBody, FetchError, JwksClient};
use fetch::{FetchLimits, Fetched, fetch_jwks};

use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::key::{Key, SkippedJwk};
use crate::provider::{KeyLookup, KeyProvider, TokenHeader, select_key};

/// Keys from a JWK set URL; see the [module documentation](self).
pub struct RemoteJwks<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for RemoteJwks<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for RemoteJwks<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.inner.url)
            .field("kids", &self.kids())
            .finish_non_exhaustive()
    }
}

/// The default client's connect timeout.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Placeholder for "no client chosen yet" in [`RemoteJwksBuilder`].
#[derive(Debug, Clone, Copy)]
pub struct NoClient;

/// Configuration of a [`RemoteJwks`].
#[derive(Debug, Clone)]
#[must_use = "call .build()"]
pub struct RemoteJwksBuilder<C> {
    url: String,
    client: C,
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    allow_http: bool,
    connect_timeout: Duration,
    min_refresh: Duration,
    max_refresh: Duration,
    default_refresh: Duration,
    cooldown: Duration,
    max_staleness: Duration,
    limits: FetchLimits,
}

impl RemoteJwks<NoClient> {
    /// Starts the configuration for the JWK set at `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder<NoClient> {
        RemoteJwksBuilder {
            url: url.into(),
            client: NoClient,
            config: Config {
                allow_http: false,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                min_refresh: Duration::from_secs(5 * 60),
                max_refresh: Duration::from_secs(24 * 60 * 60),
                default_refresh: Duration::from_secs(10 * 60),
                cooldown: Duration::from_secs(30),
                max_staleness: Duration::from_secs(24 * 60 * 60),
                limits: FetchLimits {
                    total_timeout: Duration::from_secs(5),
                    max_body: 512 * 1024,
                    max_keys: 100,
                    max_redirects: 0,
                },
            },
        }
    }
}

impl<C> RemoteJwksBuilder<C> {
    /// The HTTP client to fetch with (any tower service, see [`JwksClient`]).
    pub fn client<C2: JwksClient>(self, client: C2) -> RemoteJwksBuilder<C2> {
        RemoteJwksBuilder {
            url: self.url,
            client,
            config: self.config,
        }
    }

    /// The range the set's lifetime (`Cache-Control: max-age`) is clamped to (default 5 min – 24 h).
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_refresh = min;
        self.config.max_refresh = max;
        self
    }

    /// The lifetime of a set served without `max-age` (default 10 min).
    pub fn default_refresh(mut self, refresh: Duration) -> Self {
        self.config.default_refresh = refresh;
        self
    }

    /// At most one refetch for unknown kids per this interval (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.cooldown = cooldown;
        self
    }

    /// Allows a plain `http` URL for a host other than loopback (default: https only, except on
    /// 127.0.0.1/localhost). Only for a trusted network: keys fetched without TLS can be replaced in transit.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.config.allow_http = allow;
        self
    }

    /// How long past its expiry the last good set is used while fetches fail (default 24 h); then requests
    /// get 503.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.config.max_staleness = staleness;
        self
    }

    /// Connect timeout of the default client (default 2 s; a client you bring has its own).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Total time for one fetch, connection and body included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.total_timeout = timeout;
        self
    }

    /// Largest accepted response body (default 512 KiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.config.limits.max_body = bytes;
        self
    }

    /// Most entries accepted in a set (default 100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.config.limits.max_keys = keys;
        self
    }

    /// Redirects followed (default 0: a redirect is a failed fetch).
    pub fn max_redirects(mut self, redirects: usize) -> Self {
        self.config.limits.max_redirects = redirects;
        self
    }
}

#[cfg(feature = "remote-client")]
impl RemoteJwksBuilder<NoClient> {
    /// The provider with the [`DefaultClient`], or why the configuration cannot work.
    pub fn build(self) -> Result<RemoteJwks<DefaultClient>, ConfigError> {
        let client = default_client(self.config.connect_timeout)?;
        self.client(client).build()
    }
}

impl<C: JwksClient> RemoteJwksBuilder<C> {
    /// The provider, or why the configuration cannot work.
    pub fn build(self) -> Result<RemoteJwks<C>, ConfigError> {
        let url: Uri = self.url.parse().map_err(|_| {
            ConfigError::InvalidOption(format!("JWKS URL {:?} is not a URL", self.url))
        })?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(ConfigError::InvalidOption(format!(
                "JWKS URL {:?} must be absolute http(s)",
                self.url
            )));
        }
        let config = self.config;
        let invalid = |what: &str| Err(ConfigError::InvalidOption(what.into()));
        if config.min_refresh.is_zero() || config.min_refresh > config.max_refresh {
            return invalid("refresh bounds must satisfy 0 < min <= max");
        }
        if config.max_refresh > Duration::from_secs(30 * 24 * 60 * 60) {
            return invalid("the maximum refresh interval is 30 days");
        }
        if config.cooldown.is_zero() {
            return invalid(
                "the unknown-kid cooldown must be positive: it is what bounds refetches",
            );
        }
        if url.scheme_str() == Some("http") && !config.allow_http && !is_loopback(&url) {
            return Err(ConfigError::InvalidOption(format!(
                "JWKS URL {:?} is plain http: keys fetched without TLS can be replaced in transit (use https, or allow_insecure_http for a trusted network)",
                self.url
            )));
        }
        if config.limits.total_timeout.is_zero()
            || config.limits.max_body == 0
            || config.limits.max_keys == 0
        {
            return invalid("timeout, body cap and key cap must be positive");
        }
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                url,
                client: self.client,
                config,
                keys: ArcSwapOption::empty(),
                fetch_lock: Arc::new(tokio::sync::Mutex::new(())),
                generation: AtomicU64::new(0),
                last_error: std::sync::Mutex::new(None),
                claim: std::sync::Mutex::new(None),
                retry_at: AtomicU64::new(0),
                failures: AtomicU32::new(0),
                epoch: Instant::now(),
                background: AtomicBool::new(false),
                shutdown,
            }),
        })
    }
}

impl<C: JwksClient> RemoteJwks<C> {
    /// Fetches the set now (and starts the background refresh). Await it at start-up to serve the first
    /// requests without waiting; without it the first request loads the set.
    pub async fn load(&self) -> Result<(), FetchError> {
        Inner::start_background(&self.inner);
        let seen = self.inner.generation.load(Ordering::Acquire);
        Arc::clone(&self.inner).refresh(seen, true, false).await
    }

    /// A handle that stops the background refresh (cached keys stay in use).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        let inner: Arc<dyn Shutdown> = self.inner.clone();
        ShutdownHandle(Arc::downgrade(&inner))
    }
}

impl<C> RemoteJwks<C> {
    /// The kids of the keys in use (empty before the first good load).
    pub fn kids(&self) -> Vec<String> {
        self.keys()
            .iter()
            .filter_map(|key| key.kid().map(str::to_owned))
            .collect()
    }

    /// The keys in use (empty before the first good load).
    pub fn keys(&self) -> Vec<Arc<Key>> {
        self.inner
            .keys
            .load()
            .as_ref()
            .map(|snapshot| snapshot.keys.clone())
            .unwrap_or_default()
    }

    /// The entries of the last fetched set that were not loaded, and why (e.g. an ES512 key, which
    /// jsonwebtoken cannot verify).
    pub fn skipped(&self) -> Vec<SkippedJwk> {
        self.inner
            .keys
            .load()
            .as_ref()
            .map(|snapshot| snapshot.skipped.clone())
            .unwrap_or_default()
    }

    /// The JWK set URL.
    pub fn url(&self) -> &Uri {
        &self.inner.url
    }
}

/// Stops the background refresh of a [`RemoteJwks`].
#[derive(Clone)]
pub struct ShutdownHandle(Weak<dyn Shutdown>);

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShutdownHandle")
    }
}

impl ShutdownHandle {
    /// Stops the background task; a no-op when the provider is already gone.
    pub fn shutdown(&self) {
        if let Some(inner) = self.0.upgrade() {
            inner.shutdown();
        }
    }
}

trait Shutdown: Send + Sync {
    fn shutdown(&self);
}

impl<C: Send + Sync> Shutdown for Inner<C> {
    fn shutdown(&self) {
        // `send` would drop the value while no task listens yet; the task reads it when it starts.
        self.shutdown.send_replace(true);
    }
}

type KeyFuture = Pin<Box<dyn Future<Output = Result<Arc<Key>, AuthError>> + Send>>;

impl<C: JwksClient> KeyProvider for RemoteJwks<C> {
    type Future = KeyFuture;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, KeyFuture> {
        let inner = &self.inner;
        Inner::start_background(inner);
        let now = inner.now();
        if let Some(snapshot) = inner
            .keys
            .load()
            .as_ref()
            .filter(|s| !inner.too_stale(s, now))
        {
            return match select_key(&snapshot.keys, header) {
                Ok(key) => KeyLookup::Shared(Arc::clone(key)),
                Err(InvalidToken::UnknownKid) => inner.unknown_kid(header, now),
                Err(reason) => KeyLookup::Refused(reason.into()),
            };
        }
        inner.no_keys(header, now)
    }
}

struct Inner<C> {
    url: Uri,
    client: C,
    config: Config,
    keys: ArcSwapOption<Snapshot>,
    /// Held across a fetch: makes fetches single-flight. The read path never touches it.
    fetch_lock: Arc<tokio::sync::Mutex<()>>,
    /// Bumped after every fetch attempt: a caller that saw generation `g` and finds `g + n` after taking the
    /// lock joined another caller's fetch and takes its outcome.
    generation: AtomicU64,
    /// The outcome of the latest fetch (`None`: success), for callers that joined it.
    last_error: std::sync::Mutex<Option<FetchError>>,
    /// The unknown-kid refetch of the current cooldown, if claimed.
    claim: std::sync::Mutex<Option<Claim>>,
    /// When a failed fetch may be retried (ms since `epoch`).
    retry_at: AtomicU64,
    failures: AtomicU32,
    epoch: Instant,
    background: AtomicBool,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// An unknown-kid refetch: claimed at `at`, to move the set past `generation`.
#[derive(Clone, Copy)]
struct Claim {
    at: u64,
    generation: u64,
}

struct Snapshot {
    keys: Vec<Arc<Key>>,
    skipped: Vec<SkippedJwk>,
    fetched_at: u64,
    ttl: Duration,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while these short bookkeeping locks are held; a poisoned one is still consistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<C: JwksClient> Inner<C> {
    fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// Past its expiry by more than the allowed staleness.
    fn too_stale(&self, snapshot: &Snapshot, now: u64) -> bool {
        let expiry = snapshot.fetched_at.saturating_add(millis(snapshot.ttl));
        now > expiry.saturating_add(millis(self.config.max_staleness))
    }

    /// Unknown kid: one refetch per cooldown, which every request arriving before it completes joins; else
    /// join a fetch under way; else refuse at once.
    fn unknown_kid<'a>(
        self: &Arc<Self>,
        header: &TokenHeader<'_>,
        now: u64,
    ) -> KeyLookup<'a, KeyFuture> {
        let generation = self.generation.load(Ordering::Acquire);
        {
            let mut claim = locked(&self.claim);
            match *claim {
                // The claimed refetch has not completed: join it (whoever takes the lock first fetches).
                Some(c) if c.generation == generation => {
                    return self.pending(header, generation, true);
                }
                Some(c) if now.saturating_sub(c.at) < millis(self.config.cooldown) => {}
                _ => {
                    *claim = Some(Claim {
                        at: now,
                        generation,
                    });
                    return self.pending(header, generation, true);
                }
            }
        }
        if self.fetch_lock.try_lock().is_err() {
            return self.pending(header, generation, false);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(url = %self.url, kid = ?header.kid(), "unknown kid: refetch held back by the cooldown");
        KeyLookup::Refused(InvalidToken::UnknownKid.into())
    }

    /// No usable set: join the fetch under way, or load now unless a failed fetch is backing off.
    fn no_keys<'a>(
        self: &Arc<Self>,
        header: &TokenHeader<'_>,
        now: u64,
    ) -> KeyLookup<'a, KeyFuture> {
        let generation = self.generation.load(Ordering::Acquire);
        if self.fetch_lock.try_lock().is_err() {
            return self.pending(header, generation, false);
        }
        if now >= self.retry_at.load(Ordering::Acquire) {
            return self.pending(header, generation, true);
        }
        KeyLookup::Refused(self.unavailable(now))
    }

    /// A lookup that waits until the set has moved past generation `seen` (fetching itself when `may_fetch`
    /// and nobody else has), then selects again.
    fn pending<'a>(
        self: &Arc<Self>,
        header: &TokenHeader<'_>,
        seen: u64,
        may_fetch: bool,
    ) -> KeyLookup<'a, KeyFuture> {
        let inner = Arc::clone(self);
        let header = header.clone().into_owned();
        KeyLookup::Pending(Box::pin(async move {
            let _ = Arc::clone(&inner).refresh(seen, may_fetch, false).await;
            let now = inner.now();
            match inner
                .keys
                .load()
                .as_ref()
                .filter(|s| !inner.too_stale(s, now))
            {
                Some(snapshot) => select_key(&snapshot.keys, &header)
                    .map(Arc::clone)
                    .map_err(AuthError::from),
                None => Err(inner.unavailable(now)),
            }
        }))
    }

    fn unavailable(&self, now: u64) -> AuthError {
        let wait = self.retry_at.load(Ordering::Acquire).saturating_sub(now);
        AuthError::KeysUnavailable {
            retry_after: Duration::from_millis(wait).max(Duration::from_secs(1)),
        }
    }

    /// Makes the set move past generation `seen`: if another caller fetched since, takes that fetch's
    /// outcome; otherwise fetches when `may_fetch` (and, with `only_if_due`, when a refresh is still due).
    /// Single-flight through the fetch lock. Takes an owned `Arc` so that the future is `'static` and
    /// provably `Send`.
    async fn refresh(
        self: Arc<Self>,
        seen: u64,
        may_fetch: bool,
        only_if_due: bool,
    ) -> Result<(), FetchError> {
        // Owned guards keep borrows out of the future, which keeps it provably `Send`.
        let _guard = Arc::clone(&self.fetch_lock).lock_owned().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return locked(&self.last_error).clone().map_or(Ok(()), Err);
        }
        if !may_fetch || (only_if_due && !self.next_refresh(self.now()).is_zero()) {
            return Ok(());
        }
        let result = fetch_jwks(
            self.client.clone(),
            self.url.clone(),
            self.config.limits.clone(),
        )
        .await;
        let now = self.now();
        let outcome = match result {
            Ok(fetched) => {
                self.install(fetched, now);
                Ok(())
            }
            Err(error) => {
                let failures = self
                    .failures
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                let backoff = backoff(failures, self.config.min_refresh, now);
                self.retry_at
                    .store(now.saturating_add(millis(backoff)), Ordering::Release);
                #[cfg(feature = "tracing")]
                tracing::warn!(url = %self.url, %error, failures, retry_in = ?backoff,
                    "JWKS fetch failed; keeping the last good keys");
                Err(error)
            }
        };
        *locked(&self.last_error) = outcome.clone().err();
        self.generation.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    fn install(&self, fetched: Fetched, now: u64) {
        let config = &self.config;
        let ttl = fetched
            .max_age
            .unwrap_or(config.default_refresh)
            .clamp(config.min_refresh, config.max_refresh);
        let skipped = fetched.set.skipped().to_vec();
        let keys: Vec<Arc<Key>> = fetched.set.into_keys().into_iter().map(Arc::new).collect();
        #[cfg(feature = "tracing")]
        {
            let kids = |keys: &[Arc<Key>]| -> Vec<String> {
                keys.iter()
                    .map(|k| k.kid().unwrap_or("").to_owned())
                    .collect()
            };
            let old = self
                .keys
                .load()
                .as_ref()
                .map(|s| kids(&s.keys))
                .unwrap_or_default();
            let new = kids(&keys);
            let added: Vec<_> = new.iter().filter(|k| !old.contains(k)).collect();
            let removed: Vec<_> = old.iter().filter(|k| !new.contains(k)).collect();
            tracing::info!(url = %self.url, keys = new.len(), ttl = ?ttl, "JWKS fetched");
            if !added.is_empty() || !removed.is_empty() {
                tracing::info!(url = %self.url, ?added, ?removed, "JWKS keys changed");
            }
        }
        self.keys.store(Some(Arc::new(Snapshot {
            keys,
            skipped,
            fetched_at: now,
            ttl,
        })));
        self.failures.store(0, Ordering::Release);
        self.retry_at.store(0, Ordering::Release);
    }

    /// When the background task should fetch next.
    fn next_refresh(&self, now: u64) -> Duration {
        if self.failures.load(Ordering::Acquire) > 0 {
            return Duration::from_millis(
                self.retry_at.load(Ordering::Acquire).saturating_sub(now),
            );
        }
        match self.keys.load().as_ref() {
            // Ahead of expiry, so that no request ever finds the set expired.
            Some(snapshot) => {
                let due = snapshot
                    .fetched_at
                    .saturating_add(millis(snapshot.ttl) / 10 * 9);
                Duration::from_millis(due.saturating_sub(now))
            }
            None => Duration::ZERO,
        }
    }

    /// Starts the refresh task on the current tokio runtime (which needs its time driver), unless it runs or
    /// was shut down. Without a runtime, requests load the set lazily and the next lookup tries again; if the
    /// task ends (its runtime dropped), the next lookup starts another.
    fn start_background(self: &Arc<Self>) {
        if self.background.load(Ordering::Acquire)
            || *self.shutdown.borrow()
            || self.background.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::Release);
            return;
        };
        let running = Running(Arc::downgrade(self));
        let mut shutdown = self.shutdown.subscribe();
        runtime.spawn(async move {
            let weak = &running.0;
            loop {
                // Also covers a shutdown requested before the task existed.
                if *shutdown.borrow_and_update() {
                    return;
                }
                let delay = match weak.upgrade() {
                    Some(inner) => inner.next_refresh(inner.now()),
                    None => return,
                };
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    // A shutdown, or the provider dropped (the sender with it).
                    _ = shutdown.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                if *shutdown.borrow() {
                    return;
                }
                let seen = inner.generation.load(Ordering::Acquire);
                let _ = inner.refresh(seen, true, true).await;
            }
        });
    }
}

/// Marks the refresh task as running; clears the mark when the task ends, however it ends.
struct Running<C>(Weak<Inner<C>>);

impl<C> Drop for Running<C> {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.background.store(false, Ordering::Release);
        }
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback(url: &Uri) -> bool {
    match url.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Exponential backoff from 1 s, capped at `cap`, with ±25 % jitter so that many instances do not retry
/// in step.
fn backoff(failures: u32, cap: Duration, seed: u64) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << failures.saturating_sub(1).min(16));
    let base = base.min(cap).as_millis() as u64;
    // xorshift of the clock: jitter needs no cryptographic randomness.
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15 ^ (failures as u64).rotate_left(32);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let spread = base / 2;
    let jitter = if spread == 0 { 0 } else { x % spread };
    Duration::from_millis(base - base / 4 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let cap = Duration::from_secs(300);
        for seed in [0, 1, 12345, u64::MAX] {
            let first = backoff(1, cap, seed);
            assert!(
                first >= Duration::from_millis(750) && first < Duration::from_millis(1250),
                "{first:?}"
            );
            let fifth = backoff(5, cap, seed);
            assert!(
                fifth >= Duration::from_secs(12) && fifth < Duration::from_secs(20),
                "{fifth:?}"
            );
            assert!(backoff(40, cap, seed) < cap + cap / 4);
        }
        assert_ne!(backoff(3, cap, 1), backoff(3, cap, 2));
    }
}
