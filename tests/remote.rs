//! Integration tests of `RemoteJwks`: a JWK set served by the test server in `support/jwks_server.rs`
//! (real HTTP on 127.0.0.1 through the default hyper-util client, unless a test brings its own client),
//! and real tokens through the layer.
//!
//! Every test is bounded: the whole test by [`TEST_LIMIT`], each request by [`REQUEST_LIMIT`], and waits
//! for a condition poll with a deadline. Intervals are configured in the 100 ms – 1 s range.

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use common::*;
use http::{Request, Response};
use http_body_util::{Empty, Full};
use jsonwebtoken::EncodingKey;
use jwks_server::{DEFAULT_PATH, JwksServer, Mode, jwks_of};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tower_jwt_auth::remote::{FetchError, JwksClient, RemoteJwks, default_client};
use tower_jwt_auth::{Algorithm, JwtAuthLayer, RegisteredClaims};

type Auth<C> = JwtAuthLayer<RegisteredClaims, RemoteJwks<C>>;
type ErrorCheck = fn(&FetchError) -> bool;

/// The longest any test may take.
const TEST_LIMIT: Duration = Duration::from_secs(12);
/// The longest any single request may take (a hung request fails the test instead of hanging it).
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// A request whose kid is cached never waits for a fetch: it must answer within this.
const KNOWN_BUDGET: Duration = Duration::from_millis(100);
/// The kids of `tests/keys/jwks.json`.
const ALL_KIDS: [&str; 5] = ["rsa-1", "rsa-2", "ec-256", "ec-384", "ed-1"];

// ---------------------------------------------------------------------------------------------------------
// Helpers

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs a whole test body under [`TEST_LIMIT`].
async fn bounded<F: Future>(body: F) -> F::Output {
    timeout(TEST_LIMIT, body)
        .await
        .expect("the test exceeded its time limit")
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns whether it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(ms(20)).await;
    }
}

/// A server publishing the entries of `tests/keys/jwks.json` with these kids at [`DEFAULT_PATH`].
async fn server_with(kids: &[&str]) -> JwksServer {
    let server = JwksServer::start().await;
    server.set_document(DEFAULT_PATH, set_of(kids));
    server
}

fn set_of(kids: &[&str]) -> Value {
    jwks_of(&kids.iter().map(|kid| jwk(kid)).collect::<Vec<_>>())
}

/// The layer the tests use: the provider, the test issuer and audience.
fn layer<C: JwksClient>(jwks: &RemoteJwks<C>) -> Auth<C> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(jwks.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("layer")
}

/// A valid token signed by the private key of the fixture JWK `kid`.
fn token_for(kid: &str) -> String {
    match kid {
        "rsa-1" => token(Algorithm::RS256, &claims(), Some(kid)),
        "rsa-2" => {
            let key = EncodingKey::from_rsa_pem(&key_file("rsa2_private.pem")).unwrap();
            let header = json!({"alg": "PS256", "typ": "JWT", "kid": kid}).to_string();
            sign_raw(&header, &claims().to_string(), Algorithm::PS256, &key)
        }
        "ec-256" => token(Algorithm::ES256, &claims(), Some(kid)),
        "ec-384" => token(Algorithm::ES384, &claims(), Some(kid)),
        "ed-1" => token(Algorithm::EdDSA, &claims(), Some(kid)),
        other => panic!("no private key for {other}"),
    }
}

/// A well-formed EdDSA token naming a kid the server never published.
fn alien_token(kid: &str) -> String {
    token(Algorithm::EdDSA, &claims(), Some(kid))
}

/// One request through the layer, bounded by [`REQUEST_LIMIT`], with its latency.
async fn send<C: JwksClient>(auth: &Auth<C>, token: &str) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = timeout(REQUEST_LIMIT, run(auth, bearer(token)))
        .await
        .expect("a request through the layer must not hang");
    (outcome, started.elapsed())
}

/// Tokens of these kids are accepted, each within [`KNOWN_BUDGET`].
async fn assert_fast_ok<C: JwksClient>(auth: &Auth<C>, tokens: &[(&str, String)], context: &str) {
    for (kid, token) in tokens {
        let (outcome, took) = send(auth, token).await;
        assert_eq!(
            outcome.status, 200,
            "{context}: token of cached kid {kid} refused: {}",
            outcome.body
        );
        outcome.assert_ok();
        assert!(
            took < KNOWN_BUDGET,
            "{context}: token of cached kid {kid} took {took:?} (budget {KNOWN_BUDGET:?})"
        );
    }
}

fn tokens_for(kids: &[&'static str]) -> Vec<(&'static str, String)> {
    kids.iter().map(|kid| (*kid, token_for(kid))).collect()
}

/// 503 with `Retry-After` (at least 1 s), never 401: the keys are unavailable, the token is not at fault.
#[track_caller]
fn assert_unavailable(outcome: &Outcome, context: &str) {
    assert_eq!(
        outcome.status.as_u16(),
        503,
        "{context}: expected 503 (keys unavailable), got {}: {}",
        outcome.status,
        outcome.body
    );
    outcome.assert_refused(503, None);
    let retry_after: u64 = outcome.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "{context}: Retry-After {retry_after}");
}

/// 401 `invalid_token`.
#[track_caller]
fn assert_401(outcome: &Outcome, context: &str) {
    assert_eq!(
        outcome.status.as_u16(),
        401,
        "{context}: expected 401, got {}: {}",
        outcome.status,
        outcome.body
    );
    outcome.assert_invalid_token();
}

/// xorshift64*: kids that no server publishes, different on every run.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(nanos | 1)
    }

    fn kid(&mut self) -> String {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        format!("spray-{:016x}", self.0.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }
}

/// The default client, counting the requests it is asked to send (every attempt and every redirect hop,
/// including those to a server that is down).
fn counting_client(calls: Arc<AtomicUsize>) -> impl JwksClient {
    let client = default_client(ms(500)).expect("default client");
    tower::service_fn(move |request: Request<Empty<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        client.request(request)
    })
}

/// The DER inside a PEM file of tests/keys.
fn pem_der(name: &str) -> Vec<u8> {
    let text = key_text(name);
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// The P-521 public key of tests/keys as an ES512 JWK (a curve the crate does not support).
fn es512_jwk() -> Value {
    let der = pem_der("ec521_public.pem");
    let point = &der[der.len() - 133..];
    assert_eq!(point[0], 0x04, "uncompressed point");
    json!({"kty": "EC", "kid": "es512", "alg": "ES512", "crv": "P-521",
           "x": b64(&point[1..67]), "y": b64(&point[67..])})
}

// ---------------------------------------------------------------------------------------------------------
// 1, 2: loading

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_load_serves_every_algorithm_of_the_set_with_one_fetch() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .build()
            .unwrap();
        assert_eq!(jwks.url().to_string(), server.url(DEFAULT_PATH));
        assert!(jwks.kids().is_empty(), "no keys before the first load");
        let auth = layer(&jwks);

        jwks.load().await.expect("initial load");
        assert_eq!(jwks.kids(), ALL_KIDS);
        assert_eq!(jwks.keys().len(), 5);
        assert_eq!(server.fetches(DEFAULT_PATH), 1);

        // RS256, PS256, ES256, ES384, EdDSA, each on its own key.
        assert_fast_ok(&auth, &tokens_for(&ALL_KIDS), "after load").await;
        // A key only verifies the algorithm it is for: an ES256 token naming the RSA key is refused.
        let swapped = token(Algorithm::ES256, &claims(), Some("rsa-1"));
        assert_401(&send(&auth, &swapped).await.0, "ES256 token naming rsa-1");
        // A token for another audience is refused.
        let other_aud = patched(claims(), json!({"aud": "https://other.example.com"}));
        let foreign = token(Algorithm::EdDSA, &other_aud, Some("ed-1"));
        assert_401(&send(&auth, &foreign).await.0, "token for another audience");

        // Neither those requests nor the background task fetched again.
        sleep(ms(300)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "exactly one fetch: load() and nothing else"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_load_on_the_first_request() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        sleep(ms(100)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            0,
            "nothing fetched before use"
        );

        let (first, _) = send(&auth, &token_for("ed-1")).await;
        first.assert_ok();
        assert_eq!(jwks.kids(), ALL_KIDS);
        assert_fast_ok(&auth, &tokens_for(&ALL_KIDS), "after the lazy load").await;
        sleep(ms(300)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "the first request loads the set with exactly one fetch"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_load_stampede_is_one_fetch() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        // Slow, so that every first request arrives while the load is under way.
        server.set_mode(DEFAULT_PATH, Mode::Slow(ms(200)));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .timeout(secs(2))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let token = token_for("ec-256");
        let mut requests = JoinSet::new();
        for _ in 0..50 {
            let (auth, token) = (auth.clone(), token.clone());
            requests.spawn(async move { send(&auth, &token).await });
        }
        while let Some(result) = requests.join_next().await {
            let (outcome, took) = result.unwrap();
            outcome.assert_ok();
            assert!(took < secs(2), "waited {took:?} for a 200 ms load");
        }
        sleep(ms(200)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "50 concurrent first requests share one fetch"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_share_one_fetch() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_mode(DEFAULT_PATH, Mode::Slow(ms(200)));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .timeout(secs(2))
            .build()
            .unwrap();
        // E.g. several services sharing one provider, each loading it at start-up.
        let mut loads = JoinSet::new();
        for _ in 0..10 {
            let jwks = jwks.clone();
            loads.spawn(async move { jwks.load().await });
        }
        let started = Instant::now();
        while let Some(result) = loads.join_next().await {
            result.unwrap().expect("load");
        }
        assert!(
            started.elapsed() < secs(1),
            "10 loads took {:?}",
            started.elapsed()
        );
        assert_eq!(jwks.kids(), ALL_KIDS);
        sleep(ms(100)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "concurrent load() calls share the fetch under way"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 3: rotation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_new_kid_one_refetch_removed_kid_refused_after_refetch() {
    bounded(async {
        let server = server_with(&["ec-256"]).await;
        let cooldown = ms(300);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(secs(60), secs(3600))
            .default_refresh(secs(600))
            .unknown_kid_cooldown(cooldown)
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        assert_eq!(jwks.kids(), ["ec-256"]);
        assert_eq!(server.fetches(DEFAULT_PATH), 1);
        let ec = token_for("ec-256");
        let ed = token_for("ed-1");
        send(&auth, &ec).await.0.assert_ok();

        // The issuer publishes a new key and signs with it: one refetch, and the token is accepted.
        server.set_document(DEFAULT_PATH, set_of(&["ec-256", "ed-1"]));
        let (outcome, _) = send(&auth, &ed).await;
        outcome.assert_ok();
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            2,
            "exactly one refetch for the new kid"
        );
        assert_eq!(jwks.kids(), ["ec-256", "ed-1"]);
        assert_fast_ok(
            &auth,
            &[("ed-1", ed.clone()), ("ec-256", ec.clone())],
            "rotated",
        )
        .await;
        assert_eq!(server.fetches(DEFAULT_PATH), 2, "cached kids fetch nothing");

        // The issuer retires ec-256. The cached set still has it until the next fetch.
        server.set_document(DEFAULT_PATH, set_of(&["ed-1"]));
        send(&auth, &ec).await.0.assert_ok();
        assert_eq!(server.fetches(DEFAULT_PATH), 2);
        // After the cooldown, another unknown kid refetches once; ec-256 is gone with it.
        sleep(cooldown + ms(50)).await;
        assert_401(&send(&auth, &alien_token("not-yet")).await.0, "unknown kid");
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            3,
            "one refetch after the cooldown"
        );
        assert_eq!(jwks.kids(), ["ed-1"]);
        assert_401(&send(&auth, &ec).await.0, "token of the removed kid ec-256");
        send(&auth, &ed).await.0.assert_ok();
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            3,
            "the removed kid is within the cooldown: no further fetch"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_removed_kid_refused_after_background_refresh() {
    bounded(async {
        let server = server_with(&["ec-256", "ed-1"]).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), secs(60))
            .default_refresh(ms(300))
            .unknown_kid_cooldown(secs(30))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        let ec = token_for("ec-256");
        send(&auth, &ec).await.0.assert_ok();
        let before = server.fetches(DEFAULT_PATH);

        server.set_document(DEFAULT_PATH, set_of(&["ed-1"]));
        let started = Instant::now();
        let refused = eventually(secs(3), || async {
            let (outcome, took) = send(&auth, &ec).await;
            assert!(took < KNOWN_BUDGET, "request took {took:?}");
            match outcome.status.as_u16() {
                200 => false,
                _ => {
                    assert_401(&outcome, "token of the removed kid");
                    true
                }
            }
        })
        .await;
        assert!(
            refused,
            "ec-256 still accepted 3 s after its removal (refresh every ~270 ms)"
        );
        assert!(
            server.fetches(DEFAULT_PATH) > before,
            "a background fetch happened"
        );
        assert!(
            started.elapsed() < secs(1),
            "the removal took {:?} to apply with a 300 ms refresh",
            started.elapsed()
        );
        send(&auth, &token_for("ed-1")).await.0.assert_ok();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 4: unknown-kid spray

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_spray_fetches_at_most_once_per_cooldown() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let cooldown = secs(10);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(secs(60), secs(3600))
            .default_refresh(secs(600))
            .unknown_kid_cooldown(cooldown)
            .timeout(secs(2))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        assert_eq!(server.fetches(DEFAULT_PATH), 1);
        // A slow refetch, so that many of the spray's requests arrive while it is under way.
        server.set_mode(DEFAULT_PATH, Mode::Slow(ms(150)));

        let mut rng = Rng::new();
        let spray: Vec<String> = (0..1000).map(|_| alien_token(&rng.kid())).collect();
        let known = token_for("ec-256");
        let started = Instant::now();
        let mut requests = JoinSet::new();
        let mut known_requests = JoinSet::new();
        for (i, token) in spray.into_iter().enumerate() {
            let sprayer = auth.clone();
            requests.spawn(async move { send(&sprayer, &token).await });
            if i % 250 == 125 {
                let (auth, known) = (auth.clone(), known.clone());
                known_requests.spawn(async move { send(&auth, &known).await });
            }
        }
        let mut refused = 0;
        while let Some(result) = requests.join_next().await {
            let (outcome, took) = result.unwrap();
            assert_401(&outcome, "token with a random kid");
            assert!(took < secs(3), "a sprayed request waited {took:?}");
            refused += 1;
        }
        let spray_time = started.elapsed();
        while let Some(result) = known_requests.join_next().await {
            let (outcome, _) = result.unwrap();
            assert_eq!(
                outcome.status, 200,
                "known kid during the spray: {}",
                outcome.body
            );
            outcome.assert_ok();
        }
        assert_eq!(refused, 1000);
        assert!(
            spray_time < cooldown,
            "the spray took {spray_time:?}, longer than the cooldown"
        );
        let extra = server.fetches(DEFAULT_PATH) - 1;
        assert!(
            extra <= 1,
            "{extra} refetches for 1000 unknown kids within one cooldown"
        );

        // A second wave within the same cooldown: refused at once, nothing fetched.
        server.set_mode(DEFAULT_PATH, Mode::Normal);
        let before = server.fetches(DEFAULT_PATH);
        let mut requests = JoinSet::new();
        for _ in 0..200 {
            let (auth, token) = (auth.clone(), alien_token(&rng.kid()));
            requests.spawn(async move { send(&auth, &token).await });
        }
        while let Some(result) = requests.join_next().await {
            let (outcome, took) = result.unwrap();
            assert_401(&outcome, "second wave");
            assert!(took < secs(1), "refused at once, not after {took:?}");
        }
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            before,
            "no fetch within the cooldown"
        );
        assert_fast_ok(&auth, &tokens_for(&["rsa-1", "ed-1"]), "after the spray").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_unknown_kid_spray_refetches_once_per_cooldown() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let cooldown = ms(300);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(secs(60), secs(3600))
            .default_refresh(secs(600))
            .unknown_kid_cooldown(cooldown)
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        let mut rng = Rng::new();
        let started = Instant::now();
        let mut requests = JoinSet::new();
        while started.elapsed() < ms(1300) {
            for _ in 0..20 {
                let (auth, token) = (auth.clone(), alien_token(&rng.kid()));
                requests.spawn(async move { send(&auth, &token).await });
            }
            sleep(ms(20)).await;
        }
        let mut count = 0;
        while let Some(result) = requests.join_next().await {
            assert_401(&result.unwrap().0, "sustained spray");
            count += 1;
        }
        let window = started.elapsed();
        let extra = server.fetches(DEFAULT_PATH) - 1;
        let allowed = (window.as_millis() / cooldown.as_millis()) as usize + 1;
        assert!(
            extra <= allowed,
            "{extra} refetches in {window:?} with a {cooldown:?} cooldown (at most {allowed})"
        );
        assert!(
            extra >= 2,
            "the refetch resumes after each cooldown: {extra} in {window:?}"
        );
        assert!(count >= 500, "{count} requests");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 5: faults while keys are cached

enum Fault {
    Down,
    Serve(Mode),
}

/// Loads the full set, injects `fault`, then forces fetch attempts (background refresh every ~100 ms and
/// unknown kids after a 200 ms cooldown) while checking that cached kids keep verifying within
/// [`KNOWN_BUDGET`] and unknown kids are refused with 401 within the fetch timeout; finally the server
/// recovers and a changed set is picked up without a restart.
async fn cached_keys_survive(fault: Fault, fetch_timeout: Duration, min_attempts: usize) {
    let server = server_with(&ALL_KIDS).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
        .client(counting_client(attempts.clone()))
        .refresh_bounds(ms(100), secs(60))
        .default_refresh(ms(200))
        .unknown_kid_cooldown(ms(200))
        .timeout(fetch_timeout)
        .max_body(16 * 1024)
        .max_keys(20)
        .max_redirects(3)
        .build()
        .unwrap();
    let auth = layer(&jwks);
    jwks.load().await.expect("initial load");
    let known = tokens_for(&ALL_KIDS);
    assert_fast_ok(&auth, &known, "before the fault").await;

    let served_before = server.fetches(DEFAULT_PATH);
    let attempts_before = attempts.load(Ordering::SeqCst);
    match &fault {
        Fault::Down => server.go_down().await,
        Fault::Serve(mode) => server.set_mode(DEFAULT_PATH, mode.clone()),
    }
    if let Fault::Serve(_) = fault {
        // A fetch has reached the faulty server (and, for Hang/Slow, is still waiting for it).
        assert!(
            server
                .wait_for_fetches(DEFAULT_PATH, served_before + 1, secs(2))
                .await,
            "no fetch attempt reached the server"
        );
        assert_fast_ok(&auth, &known, "while a fetch is under way").await;
    }

    // Unknown kids, in the background: each forces an attempt once the cooldown has passed (or joins
    // the one under way) and is refused with 401 within the fetch timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let probed = Arc::new(AtomicUsize::new(0));
    let unknown_budget = fetch_timeout + ms(700);
    let probes = tokio::spawn({
        let (auth, stop, probed) = (auth.clone(), stop.clone(), probed.clone());
        async move {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                let n = probed.load(Ordering::SeqCst);
                let (outcome, took) = send(&auth, &alien_token(&format!("unknown-{n}"))).await;
                assert_401(&outcome, "unknown kid while fetches fail");
                worst = worst.max(took);
                probed.fetch_add(1, Ordering::SeqCst);
                sleep(ms(30)).await;
            }
            worst
        }
    });

    // Cached kids, continuously, until enough attempts failed and a few unknown kids were probed.
    let deadline = Instant::now() + secs(5);
    let mut rounds = 0;
    while attempts.load(Ordering::SeqCst) < attempts_before + min_attempts
        || probed.load(Ordering::SeqCst) < 3
        || rounds < 10
    {
        assert!(
            Instant::now() < deadline,
            "in 5 s: {} fetch attempts, {} unknown-kid probes",
            attempts.load(Ordering::SeqCst) - attempts_before,
            probed.load(Ordering::SeqCst)
        );
        assert_fast_ok(&auth, &known, "during the fault").await;
        rounds += 1;
        sleep(ms(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let worst = probes.await.unwrap();
    assert!(
        worst <= unknown_budget,
        "an unknown kid waited {worst:?}, over the fetch timeout {fetch_timeout:?}"
    );
    assert_eq!(jwks.kids(), ALL_KIDS, "the last good set stays in use");
    match fault {
        Fault::Down => assert_eq!(server.fetches(DEFAULT_PATH), served_before),
        Fault::Serve(_) => assert!(server.fetches(DEFAULT_PATH) >= served_before + 2),
    }

    // Recovery: the server is fixed and has rotated; the change is picked up in the background.
    server.set_document(DEFAULT_PATH, set_of(&["rsa-1", "ed-1"]));
    server.set_mode(DEFAULT_PATH, Mode::Normal);
    server.come_back().await;
    let recovered = eventually(secs(3), || async { jwks.kids() == ["rsa-1", "ed-1"] }).await;
    assert!(
        recovered,
        "the fixed server's set was not picked up: {:?}",
        jwks.kids()
    );
    assert_401(
        &send(&auth, &token_for("ec-256")).await.0,
        "kid dropped after recovery",
    );
    assert_fast_ok(&auth, &tokens_for(&["rsa-1", "ed-1"]), "after recovery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_endpoint_down_keeps_cached_keys() {
    bounded(cached_keys_survive(Fault::Down, ms(500), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_status_500_keeps_cached_keys() {
    bounded(cached_keys_survive(
        Fault::Serve(Mode::Status(500)),
        ms(500),
        3,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_slower_than_timeout_keeps_cached_keys() {
    bounded(cached_keys_survive(
        Fault::Serve(Mode::Slow(ms(1500))),
        ms(300),
        2,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_body_slower_than_timeout_keeps_cached_keys() {
    bounded(cached_keys_survive(
        Fault::Serve(Mode::SlowBody(ms(1500))),
        ms(300),
        2,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_hang_keeps_cached_keys() {
    bounded(cached_keys_survive(Fault::Serve(Mode::Hang), ms(500), 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_garbage_keeps_cached_keys() {
    bounded(cached_keys_survive(Fault::Serve(Mode::Garbage), ms(500), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_empty_set_keeps_cached_keys() {
    bounded(cached_keys_survive(Fault::Serve(Mode::Empty), ms(500), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_huge_body_with_length_keeps_cached_keys() {
    bounded(cached_keys_survive(
        Fault::Serve(Mode::Huge(200_000)),
        ms(500),
        3,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_huge_body_without_length_keeps_cached_keys() {
    bounded(cached_keys_survive(
        Fault::Serve(Mode::HugeNoLength(200_000)),
        ms(500),
        3,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_redirect_loop_keeps_cached_keys() {
    // Each attempt is 4 requests (the first and 3 redirects): 8 client calls are 2 attempts.
    bounded(cached_keys_survive(
        Fault::Serve(Mode::RedirectLoop),
        ms(500),
        8,
    ))
    .await;
}

/// The limits on their own, on a cold start: each one fails the fetch with its own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_errors_are_reported_by_load() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .timeout(ms(300))
            .max_body(16 * 1024)
            .build()
            .unwrap();
        let cases: Vec<(Mode, ErrorCheck)> = vec![
            (Mode::Status(500), |e| matches!(e, FetchError::Status(500))),
            (Mode::Status(404), |e| matches!(e, FetchError::Status(404))),
            (Mode::Garbage, |e| matches!(e, FetchError::Malformed(_))),
            (Mode::Empty, |e| matches!(e, FetchError::NoUsableKey)),
            (Mode::Huge(100_000), |e| matches!(e, FetchError::TooLarge)),
            (Mode::HugeNoLength(100_000), |e| {
                matches!(e, FetchError::TooLarge)
            }),
            (Mode::Slow(secs(2)), |e| matches!(e, FetchError::Timeout)),
            (Mode::Hang, |e| matches!(e, FetchError::Timeout)),
            (Mode::RedirectLoop, |e| matches!(e, FetchError::Redirect)),
        ];
        for (mode, expected) in cases {
            server.set_mode(DEFAULT_PATH, mode.clone());
            let started = Instant::now();
            let error = jwks.load().await.expect_err("a failed fetch");
            assert!(expected(&error), "{mode:?}: unexpected error {error:?}");
            assert!(
                started.elapsed() < ms(300) + ms(500),
                "{mode:?}: load() took {:?} with a 300 ms timeout",
                started.elapsed()
            );
            assert!(jwks.kids().is_empty());
        }
        server.go_down().await;
        let error = jwks.load().await.expect_err("server down");
        assert!(matches!(error, FetchError::Transport(_)), "down: {error:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 6: cold start

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_while_down_is_503_then_recovers_without_restart() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.go_down().await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(200), secs(60))
            .connect_timeout(ms(300))
            .timeout(secs(1))
            .unknown_kid_cooldown(ms(200))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let error = jwks
            .load()
            .await
            .expect_err("load while the server is down");
        assert!(matches!(error, FetchError::Transport(_)), "{error:?}");

        // Known and unknown kids alike: 503 with Retry-After, never 401, never waiting long.
        let tokens = [
            token_for("ed-1"),
            token_for("rsa-1"),
            alien_token("whatever"),
        ];
        let until = Instant::now() + ms(600);
        let mut sent = 0;
        while Instant::now() < until {
            for token in &tokens {
                let (outcome, took) = send(&auth, token).await;
                assert_unavailable(&outcome, "cold start, server down");
                assert!(took < ms(1500), "a cold-start request waited {took:?}");
                sent += 1;
            }
            sleep(ms(30)).await;
        }
        assert!(sent >= 6);

        server.come_back().await;
        let came_back = Instant::now();
        let ok = eventually(secs(3), || async {
            send(&auth, &tokens[0]).await.0.status == 200
        })
        .await;
        assert!(ok, "still no keys 3 s after the server came back");
        assert!(
            came_back.elapsed() < secs(2),
            "recovery took {:?}",
            came_back.elapsed()
        );
        assert_eq!(jwks.kids(), ALL_KIDS);
        assert_fast_ok(&auth, &tokens_for(&ALL_KIDS), "after recovery").await;
        // With keys, an unknown kid is the token's fault again.
        assert_401(
            &send(&auth, &tokens[2]).await.0,
            "unknown kid after recovery",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_500_lazy_is_503_then_recovers_in_background() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_mode(DEFAULT_PATH, Mode::Status(500));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(200), secs(60))
            .timeout(secs(1))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let token = token_for("ec-384");
        for _ in 0..5 {
            let (outcome, took) = send(&auth, &token).await;
            assert_unavailable(&outcome, "cold start, server answers 500");
            assert!(took < ms(1500), "{took:?}");
            sleep(ms(50)).await;
        }
        assert!(server.fetches(DEFAULT_PATH) >= 1);

        // Fixed: the background retry (backoff capped at 200 ms) loads the set without any request.
        server.set_mode(DEFAULT_PATH, Mode::Normal);
        let loaded = eventually(secs(3), || async { jwks.kids().len() == 5 }).await;
        assert!(
            loaded,
            "the background retry did not load the set after the server was fixed"
        );
        assert_fast_ok(&auth, &[("ec-384", token)], "after recovery").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_hanging_server_is_bounded_by_the_timeout() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_mode(DEFAULT_PATH, Mode::Hang);
        let fetch_timeout = ms(400);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            // Backoff ≥ 750 ms, so that the retry comes after the checks below.
            .refresh_bounds(secs(2), secs(60))
            .timeout(fetch_timeout)
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let token = token_for("ed-1");
        let mut requests = JoinSet::new();
        for _ in 0..20 {
            let (auth, token) = (auth.clone(), token.clone());
            requests.spawn(async move { send(&auth, &token).await });
        }
        while let Some(result) = requests.join_next().await {
            let (outcome, took) = result.unwrap();
            assert_unavailable(&outcome, "cold start, server hangs");
            assert!(
                took <= fetch_timeout + ms(400),
                "waited {took:?} (timeout {fetch_timeout:?})"
            );
        }
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "20 first requests share one fetch"
        );
        // Backing off: refused at once, no fetch.
        let (outcome, took) = send(&auth, &token).await;
        assert_unavailable(&outcome, "during the backoff");
        assert!(
            took < KNOWN_BUDGET,
            "a request during the backoff waited {took:?}"
        );
        assert_eq!(server.fetches(DEFAULT_PATH), 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 7: max staleness

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_staleness_turns_cached_keys_into_503() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let staleness = ms(700);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), secs(60))
            .default_refresh(ms(200))
            .max_staleness(staleness)
            .timeout(ms(500))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        let loaded = Instant::now();
        server.set_mode(DEFAULT_PATH, Mode::Status(500));
        let token = token_for("rsa-1");
        assert_fast_ok(&auth, &[("rsa-1", token.clone())], "fresh keys").await;

        // Within the staleness the last good set is used; after it, 503.
        let mut first_503 = None;
        let deadline = loaded + staleness + secs(2);
        while Instant::now() < deadline {
            let (outcome, took) = send(&auth, &token).await;
            assert!(took < ms(1000), "waited {took:?}");
            if outcome.status == 200 {
                assert!(
                    loaded.elapsed() <= staleness + ms(500),
                    "a set older than the {staleness:?} staleness still accepted after {:?}",
                    loaded.elapsed()
                );
            } else {
                assert_unavailable(&outcome, "keys too stale");
                first_503 = Some(loaded.elapsed());
                break;
            }
            sleep(ms(25)).await;
        }
        let at = first_503.expect("no 503 within 2 s after the staleness passed");
        assert!(
            at >= staleness,
            "503 after {at:?}, before the {staleness:?} staleness"
        );
        assert!(server.fetches(DEFAULT_PATH) >= 2);
        // Unknown kids get 503 too (no usable set), not 401.
        assert_unavailable(
            &send(&auth, &alien_token("x")).await.0,
            "stale, unknown kid",
        );

        // The server is fixed: a good fetch makes the set fresh again.
        server.set_mode(DEFAULT_PATH, Mode::Normal);
        let ok = eventually(secs(3), || async {
            send(&auth, &token).await.0.status == 200
        })
        .await;
        assert!(ok, "still 503 after the server was fixed");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 8: redirects

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_a_failed_fetch_by_default() {
    bounded(async {
        let server = server_with(&[]).await;
        server.set_document("/real.json", set_of(&ALL_KIDS));
        server.set_mode(DEFAULT_PATH, Mode::Redirect("/real.json".into()));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let error = jwks
            .load()
            .await
            .expect_err("a redirect is not followed by default");
        assert!(matches!(error, FetchError::Redirect), "{error:?}");
        assert_unavailable(
            &send(&auth, &token_for("ed-1")).await.0,
            "cold start after a redirect",
        );
        assert_eq!(server.fetches(DEFAULT_PATH), 1);
        assert_eq!(
            server.fetches("/real.json"),
            0,
            "the redirect was not followed"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_followed_with_max_redirects() {
    bounded(async {
        let server = server_with(&[]).await;
        server.set_document("/real.json", set_of(&ALL_KIDS));
        server.set_mode("/relative", Mode::Redirect("/real.json".into()));
        server.set_mode("/absolute", Mode::Redirect(server.url("/real.json")));
        server.set_mode("/two-hops", Mode::Redirect("/relative".into()));
        for path in ["/relative", "/absolute"] {
            let jwks = RemoteJwks::builder(server.url(path))
                .max_redirects(1)
                .build()
                .unwrap();
            let auth = layer(&jwks);
            jwks.load().await.unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(jwks.kids(), ALL_KIDS);
            assert_fast_ok(&auth, &tokens_for(&["rsa-2", "ed-1"]), path).await;
        }
        assert_eq!(server.fetches("/real.json"), 2);
        // Two hops with one allowed: failed.
        let jwks = RemoteJwks::builder(server.url("/two-hops"))
            .max_redirects(1)
            .build()
            .unwrap();
        let error = jwks.load().await.expect_err("two redirects, one allowed");
        assert!(matches!(error, FetchError::Redirect), "{error:?}");
        assert_eq!(server.fetches("/real.json"), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loop_is_bounded() {
    bounded(async {
        let server = server_with(&[]).await;
        server.set_mode("/loop", Mode::RedirectLoop);
        let jwks = RemoteJwks::builder(server.url("/loop"))
            .max_redirects(3)
            .timeout(secs(2))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let started = Instant::now();
        let error = jwks.load().await.expect_err("a redirect loop");
        assert!(matches!(error, FetchError::Redirect), "{error:?}");
        assert!(started.elapsed() < secs(1), "{:?}", started.elapsed());
        assert_eq!(
            server.fetches("/loop"),
            4,
            "the request and 3 redirects, no more"
        );
        assert_unavailable(&send(&auth, &token_for("ed-1")).await.0, "redirect loop");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 9: the content of the set

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oct_keys_in_a_fetched_set_are_refused() {
    bounded(async {
        let oct = json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(SECRET)});
        let server = server_with(&[]).await;
        server.set_document(DEFAULT_PATH, jwks_of(std::slice::from_ref(&oct)));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(secs(60), secs(3600))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let hmac = token(Algorithm::HS256, &claims(), Some("hmac"));
        let error = jwks.load().await.expect_err("a set with only an oct key");
        assert!(matches!(error, FetchError::NoUsableKey), "{error:?}");
        assert!(jwks.kids().is_empty());
        assert_unavailable(&send(&auth, &hmac).await.0, "only an oct key");

        // Beside a usable key, the oct key is skipped: its tokens are refused.
        server.set_document(DEFAULT_PATH, jwks_of(&[oct, jwk("ec-256")]));
        jwks.load().await.unwrap();
        assert_eq!(jwks.kids(), ["ec-256"]);
        assert_401(
            &send(&auth, &hmac).await.0,
            "HS256 token signed with the published oct key",
        );
        send(&auth, &token_for("ec-256")).await.0.assert_ok();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_entries_than_max_keys_is_refused() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .max_keys(4)
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let error = jwks.load().await.expect_err("5 keys, 4 allowed");
        assert!(matches!(error, FetchError::TooManyKeys(5)), "{error:?}");
        assert_unavailable(&send(&auth, &token_for("ed-1")).await.0, "too many keys");

        // Skipped entries count too.
        server.set_document(
            DEFAULT_PATH,
            jwks_of(&[
                jwk("ec-256"),
                jwk("ed-1"),
                es512_jwk(),
                es512_jwk(),
                es512_jwk(),
            ]),
        );
        let error = jwks.load().await.expect_err("5 entries, 4 allowed");
        assert!(matches!(error, FetchError::TooManyKeys(5)), "{error:?}");

        // At the cap: accepted.
        server.set_document(DEFAULT_PATH, set_of(&ALL_KIDS));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .max_keys(5)
            .build()
            .unwrap();
        jwks.load().await.unwrap();
        assert_eq!(jwks.kids(), ALL_KIDS);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es512_entries_are_skipped_other_keys_work() {
    bounded(async {
        let server = server_with(&[]).await;
        server.set_document(
            DEFAULT_PATH,
            jwks_of(&[es512_jwk(), jwk("ec-256"), jwk("ed-1")]),
        );
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        assert_eq!(jwks.kids(), ["ec-256", "ed-1"]);
        let skipped = jwks.skipped();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].kid.as_deref(), Some("es512"));
        assert_eq!(skipped[0].index, 0);
        assert_fast_ok(
            &auth,
            &tokens_for(&["ec-256", "ed-1"]),
            "beside an ES512 entry",
        )
        .await;
        // A token naming the ES512 key: unknown, 401 (not 503).
        let header = json!({"alg": "ES512", "typ": "JWT", "kid": "es512"}).to_string();
        let es512 = format!(
            "{}.{}.{}",
            b64(header),
            b64(claims().to_string()),
            b64([7u8; 132])
        );
        assert_401(
            &send(&auth, &es512).await.0,
            "token naming the skipped ES512 key",
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 10: Cache-Control

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_schedules_the_background_refresh() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_headers(
            DEFAULT_PATH,
            vec![("cache-control", "public, max-age=1".into())],
        );
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(200), secs(60))
            .default_refresh(secs(60))
            .build()
            .unwrap();
        jwks.load().await.unwrap();
        let loaded = Instant::now();
        // Not at the minimum (200 ms), not at the default (60 s): at the 1 s lifetime, ahead of expiry.
        sleep(ms(600)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "refreshed before max-age=1 was near"
        );
        assert!(
            server.wait_for_fetches(DEFAULT_PATH, 2, secs(2)).await,
            "no background refresh within 2.6 s of a max-age=1 set"
        );
        let at = loaded.elapsed();
        assert!(
            at >= ms(700) && at <= ms(1600),
            "refreshed after {at:?} for max-age=1"
        );
        // And again, on the same schedule.
        assert!(server.wait_for_fetches(DEFAULT_PATH, 3, secs(2)).await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_no_store_clamps_to_the_minimum() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_headers(DEFAULT_PATH, vec![("cache-control", "no-store".into())]);
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(200), secs(60))
            .default_refresh(secs(60))
            .build()
            .unwrap();
        jwks.load().await.unwrap();
        let loaded = Instant::now();
        sleep(ms(1200)).await;
        let fetches = server.fetches(DEFAULT_PATH) - 1;
        let elapsed = loaded.elapsed();
        // Every ~180 ms (90 % of 200 ms): about 6 in 1.2 s; neither the default nor a busy loop.
        assert!(
            fetches >= 3,
            "{fetches} refreshes in {elapsed:?} with no-store and a 200 ms minimum"
        );
        assert!(
            fetches <= 9,
            "{fetches} refreshes in {elapsed:?}: faster than the 200 ms minimum"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_clamps_to_the_maximum() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        server.set_headers(
            DEFAULT_PATH,
            vec![("cache-control", "max-age=86400".into())],
        );
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), ms(400))
            .default_refresh(ms(400))
            .build()
            .unwrap();
        jwks.load().await.unwrap();
        assert!(
            server.wait_for_fetches(DEFAULT_PATH, 3, secs(2)).await,
            "max-age=86400 must be clamped to the 400 ms maximum"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 11: shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_background_fetches_cached_keys_keep_working() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), secs(60))
            .default_refresh(ms(150))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        assert!(
            server.wait_for_fetches(DEFAULT_PATH, 3, secs(2)).await,
            "the background refresh runs (every ~135 ms)"
        );
        let handle = jwks.shutdown_handle();
        handle.shutdown();
        // A fetch under way may finish.
        sleep(ms(200)).await;
        let stopped_at = server.fetches(DEFAULT_PATH);
        sleep(ms(700)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            stopped_at,
            "background fetches after shutdown()"
        );
        assert_fast_ok(&auth, &tokens_for(&ALL_KIDS), "after shutdown").await;
        assert_eq!(jwks.kids(), ALL_KIDS);
        handle.shutdown(); // twice: a no-op

        // A handle outliving its provider is harmless.
        drop(auth);
        drop(jwks);
        handle.shutdown();
    })
    .await;
}

/// `shutdown()` before the background task started (before `load()` or the first request) must stick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_before_first_use_prevents_background_fetches() {
    bounded(async {
        let server = server_with(&["ed-1"]).await;
        let early = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), secs(60))
            .default_refresh(ms(150))
            .build()
            .unwrap();
        early.shutdown_handle().shutdown();
        early.load().await.unwrap();
        sleep(ms(600)).await;
        assert_eq!(
            server.fetches(DEFAULT_PATH),
            1,
            "background fetches (refresh every ~135 ms) although shutdown() was called before load()"
        );
        send(&layer(&early), &token_for("ed-1")).await.0.assert_ok();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_layer_and_providers_stops_the_background_task() {
    bounded(async {
        let server = server_with(&ALL_KIDS).await;
        // A marker owned by the client, so by the provider: it is released when the provider is freed.
        let marker = Arc::new(());
        let client = {
            let marker = marker.clone();
            let client = default_client(ms(500)).unwrap();
            tower::service_fn(move |request: Request<Empty<Bytes>>| {
                std::hint::black_box(&marker);
                client.request(request)
            })
        };
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .client(client)
            .refresh_bounds(ms(100), secs(60))
            .default_refresh(ms(150))
            .build()
            .unwrap();
        let auth = layer(&jwks);
        let clone = jwks.clone();
        jwks.load().await.unwrap();
        send(&auth, &token_for("ed-1")).await.0.assert_ok();
        assert!(server.wait_for_fetches(DEFAULT_PATH, 3, secs(2)).await);
        assert!(Arc::strong_count(&marker) > 1);

        drop(auth);
        drop(jwks);
        drop(clone);
        let freed = eventually(secs(2), || async { Arc::strong_count(&marker) == 1 }).await;
        assert!(
            freed,
            "the provider is still alive after every clone and the layer were dropped (strong count {})",
            Arc::strong_count(&marker)
        );
        let stopped_at = server.fetches(DEFAULT_PATH);
        sleep(ms(600)).await;
        assert_eq!(server.fetches(DEFAULT_PATH), stopped_at, "background fetches after the drop");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------------------
// 12: a client of your own

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_client_is_used_for_every_fetch() {
    bounded(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let document = set_of(&["ec-256", "ed-1"]).to_string();
        let client = {
            let (calls, requests) = (calls.clone(), requests.clone());
            tower::service_fn(move |request: Request<Empty<Bytes>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                let accept = request.headers()["accept"].to_str().unwrap().to_owned();
                requests
                    .lock()
                    .unwrap()
                    .push((request.uri().to_string(), accept));
                let body = document.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("cache-control", "max-age=600")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                }
            })
        };
        // Nothing listens there: only the custom client is ever asked.
        let url = "http://127.0.0.1:9/.well-known/jwks.json";
        let jwks = RemoteJwks::builder(url).client(client).build().unwrap();
        let auth = layer(&jwks);
        jwks.load().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(jwks.kids(), ["ec-256", "ed-1"]);
        {
            let seen = requests.lock().unwrap();
            assert_eq!(seen[0].0, url);
            assert!(
                seen[0].1.contains("application/jwk-set+json"),
                "accept {:?}",
                seen[0].1
            );
        }
        assert_fast_ok(&auth, &tokens_for(&["ec-256", "ed-1"]), "custom client").await;
        // An unknown kid: one refetch through the same client, then the cooldown (default 30 s).
        assert_401(&send(&auth, &alien_token("nope")).await.0, "unknown kid");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_401(&send(&auth, &alien_token("nope-2")).await.0, "unknown kid");
        sleep(ms(100)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // A failing client: load() reports it, requests get 503.
        let failing = tower::service_fn(|_: Request<Empty<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("no route for tests"))
        });
        let jwks = RemoteJwks::builder(url).client(failing).build().unwrap();
        let error = jwks.load().await.expect_err("the client fails");
        assert!(
            matches!(&error, FetchError::Transport(text) if text.contains("no route for tests")),
            "{error:?}"
        );
        assert_unavailable(
            &send(&layer(&jwks), &token_for("ed-1")).await.0,
            "failing client",
        );
    })
    .await;
}

#[test]
fn builder_refuses_unusable_configurations() {
    let bad = [
        RemoteJwks::builder("not a url").build().err(),
        RemoteJwks::builder("ftp://127.0.0.1/jwks.json")
            .build()
            .err(),
        RemoteJwks::builder("/jwks.json").build().err(),
        RemoteJwks::builder("http://127.0.0.1/jwks.json")
            .refresh_bounds(secs(10), secs(1))
            .build()
            .err(),
        RemoteJwks::builder("http://127.0.0.1/jwks.json")
            .refresh_bounds(Duration::ZERO, secs(1))
            .build()
            .err(),
        RemoteJwks::builder("http://127.0.0.1/jwks.json")
            .timeout(Duration::ZERO)
            .build()
            .err(),
        RemoteJwks::builder("http://127.0.0.1/jwks.json")
            .max_body(0)
            .build()
            .err(),
        RemoteJwks::builder("http://127.0.0.1/jwks.json")
            .max_keys(0)
            .build()
            .err(),
    ];
    for (i, error) in bad.iter().enumerate() {
        assert!(error.is_some(), "configuration {i} must be refused");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Regressions from the review of the fetch coordination and URL rules
// ---------------------------------------------------------------------------------------------------------

mod review {
    use super::*;
    use tower_jwt_auth::{KeyLookup, KeyProvider, TokenHeader};

    fn header(kid: &str) -> TokenHeader<'_> {
        TokenHeader::new(Algorithm::EdDSA, Some(kid))
    }

    async fn resolve(
        lookup: KeyLookup<
            '_,
            impl Future<Output = Result<Arc<tower_jwt_auth::Key>, tower_jwt_auth::AuthError>>,
        >,
    ) -> Result<Option<String>, tower_jwt_auth::AuthError> {
        match lookup {
            KeyLookup::Pending(future) => bounded(future).await.map(|k| k.kid().map(str::to_owned)),
            KeyLookup::Shared(key) => Ok(key.kid().map(str::to_owned)),
            KeyLookup::Found(key) => Ok(key.kid().map(str::to_owned)),
            KeyLookup::Refused(error) => Err(error),
            _ => unreachable!(),
        }
    }

    /// Two loads joined on one failing fetch both report the failure: `load()?` at start-up never passes
    /// with no keys.
    #[tokio::test]
    async fn a_load_that_joined_a_failed_fetch_reports_the_failure() {
        bounded(async {
            let server = server_with(&["ed-1"]).await;
            server.set_mode(DEFAULT_PATH, Mode::Slow(ms(200)));
            server.set_document(DEFAULT_PATH, json!({"not": "a set"}));
            let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
                .build()
                .unwrap();
            let (a, b) = tokio::join!(jwks.load(), jwks.load());
            assert!(a.is_err() && b.is_err(), "{a:?} {b:?}");
            assert_eq!(server.fetches(DEFAULT_PATH), 1);
            assert!(jwks.kids().is_empty());
        })
        .await;
    }

    /// Lookups made together but polled one after another still share one fetch.
    #[tokio::test]
    async fn late_polled_cold_start_lookups_share_one_fetch() {
        bounded(async {
            let server = server_with(&["ed-1"]).await;
            let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
                .build()
                .unwrap();
            let lookups: Vec<_> = (0..10).map(|_| jwks.lookup(&header("ed-1"))).collect();
            for lookup in lookups {
                assert_eq!(resolve(lookup).await.unwrap().as_deref(), Some("ed-1"));
            }
            assert_eq!(server.fetches(DEFAULT_PATH), 1);
        })
        .await;
    }

    /// A second request for a freshly rotated kid, made before the first one's refetch has even started,
    /// joins that refetch instead of being refused.
    #[tokio::test]
    async fn a_rotated_kid_is_not_refused_while_its_refetch_is_pending() {
        bounded(async {
            let server = server_with(&["ec-256"]).await;
            let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
                .build()
                .unwrap();
            jwks.load().await.unwrap();
            server.set_document(DEFAULT_PATH, set_of(&["ec-256", "ed-1"]));
            let first = jwks.lookup(&header("ed-1"));
            let second = jwks.lookup(&header("ed-1"));
            assert!(
                matches!(second, KeyLookup::Pending(_)),
                "the second lookup must join the refetch"
            );
            assert_eq!(resolve(second).await.unwrap().as_deref(), Some("ed-1"));
            assert_eq!(resolve(first).await.unwrap().as_deref(), Some("ed-1"));
            assert_eq!(server.fetches(DEFAULT_PATH), 2, "one load, one refetch");
        })
        .await;
    }

    #[tokio::test]
    async fn plain_http_only_on_loopback_unless_allowed() {
        let error = RemoteJwks::builder("http://keys.example.com/jwks.json")
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("plain http"), "{error}");
        assert!(
            RemoteJwks::builder("http://keys.example.com/jwks.json")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
        for loopback in [
            "http://127.0.0.1:1/j",
            "http://localhost:1/j",
            "http://[::1]:1/j",
            "https://keys.example.com/j",
        ] {
            assert!(RemoteJwks::builder(loopback).build().is_ok(), "{loopback}");
        }
        // Settings that would defeat the rate limits or overflow are refused.
        let zero_cooldown = RemoteJwks::builder("https://k.example.com/j")
            .unknown_kid_cooldown(Duration::ZERO)
            .build();
        assert!(zero_cooldown.is_err());
        let huge = RemoteJwks::builder("https://k.example.com/j")
            .refresh_bounds(secs(1), Duration::MAX)
            .build();
        assert!(huge.is_err());
    }

    /// A redirect to another origin (here: another port) is not followed, even when redirects are allowed.
    #[tokio::test]
    async fn redirects_stay_on_the_same_origin() {
        bounded(async {
            let server = server_with(&["ed-1"]).await;
            let elsewhere = server_with(&["ed-1"]).await;
            server.set_mode(DEFAULT_PATH, Mode::Redirect(elsewhere.url(DEFAULT_PATH)));
            let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
                .max_redirects(3)
                .build()
                .unwrap();
            assert_eq!(jwks.load().await, Err(FetchError::Redirect));
            assert_eq!(elsewhere.fetches(DEFAULT_PATH), 0);
        })
        .await;
    }

    /// Thousands of junk entries are refused by count, before any is converted.
    #[tokio::test]
    async fn the_key_cap_is_checked_before_entries_are_converted() {
        bounded(async {
            let server = JwksServer::start().await;
            let junk: Vec<Value> = (0..20_000).map(|_| json!({})).collect();
            server.set_document(DEFAULT_PATH, jwks_of(&junk));
            let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
                .build()
                .unwrap();
            assert_eq!(jwks.load().await, Err(FetchError::TooManyKeys(20_000)));
        })
        .await;
    }

    /// The refresher runs on the runtime that first needed it; when that runtime is gone, the next lookup on
    /// another runtime starts a new one (else removed keys would stay accepted until the staleness limit).
    #[test]
    fn the_refresher_restarts_on_another_runtime() {
        let serving = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = serving.block_on(server_with(&["ed-1"]));
        let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
            .refresh_bounds(ms(100), ms(100))
            .build()
            .unwrap();
        let setup = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        setup.block_on(async { jwks.load().await.unwrap() });
        drop(setup); // the refresher it started is gone with it
        let before = server.fetches(DEFAULT_PATH);
        let app = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        app.block_on(async {
            let auth = layer(&jwks);
            send(&auth, &token_for("ed-1")).await.0.assert_ok();
            sleep(ms(700)).await;
        });
        let refreshes = server.fetches(DEFAULT_PATH) - before;
        assert!(
            refreshes >= 2,
            "{refreshes} background refreshes on the second runtime"
        );
        drop(server);
        drop(serving);
    }

    /// `.issuer(A)` with issuers A and B narrows the layer to A.
    #[tokio::test]
    async fn an_issuer_option_narrows_routed_issuers() {
        use tower_jwt_auth::{Issuers, Key, StaticKeys};
        let keys = || StaticKeys::new([Key::hs256(SECRET).unwrap()]).unwrap();
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .provider(
                Issuers::new()
                    .issuer(ISSUER, keys())
                    .issuer("https://b.example.com", keys()),
            )
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        run(&layer, bearer(&hs256(&claims()))).await.assert_ok();
        let mut from_b = claims();
        from_b["iss"] = json!("https://b.example.com");
        run(&layer, bearer(&hs256(&from_b)))
            .await
            .assert_invalid_token();
    }

    #[tokio::test]
    async fn retry_after_is_rounded_up() {
        use tower_jwt_auth::{AuthError, DefaultErrorHandler, ErrorHandler, source::RequestHead};
        let request = http::Request::get("/").body(()).unwrap();
        let response = DefaultErrorHandler::default().render(
            &AuthError::KeysUnavailable {
                retry_after: ms(1900),
            },
            &RequestHead::of(&request),
        );
        assert_eq!(response.headers()["retry-after"], "2");
    }
}
