//! The layer inside an axum application: one `Router`, one handler, driven in process (no sockets) with
//! `ServiceExt::oneshot` per request, without the layer and with it (HS256 and ES256, cache off and cache
//! hit). Prints, measured in the same run and interleaved, each variant's time per request against the
//! router without the layer.
//!
//! `cargo bench --bench axum`
//!
//! Every request carries the same valid token, also without the layer, so that the variants differ only
//! by the layer (and by the handler reading the claims). Over real sockets, see `benches/http_load.sh`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use tower::ServiceExt;
use tower_jwt_auth::{Claims, JwtAuthLayer, Key, RegisteredClaims};

const SECRET: &[u8] = b"bench-secret-of-exactly-32-bytes";
const ISSUER: &str = "https://issuer.example.com";
const AUDIENCE: &str = "https://api.example.com";
/// The handlers' answer, the same with and without the layer.
const BODY: &str = "hello";

/// The handler of the application without authentication.
async fn open() -> &'static str {
    BODY
}

/// The same handler behind the layer: it takes the verified claims with the extractor.
async fn authenticated(Claims(claims): Claims<RegisteredClaims>) -> &'static str {
    std::hint::black_box(claims);
    BODY
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The same, with the claims shared: the cache and the extractor clone a pointer.
async fn authenticated_shared(Claims(claims): Claims<Arc<RegisteredClaims>>) -> &'static str {
    std::hint::black_box(claims);
    BODY
}

/// The signing key and the layer's key for `alg` (HS256 or ES256).
fn keys(alg: Algorithm) -> (EncodingKey, Key) {
    match alg {
        Algorithm::HS256 => (
            EncodingKey::from_secret(SECRET),
            Key::hs256(SECRET).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&file("ec256_private.pem")).unwrap(),
            Key::from_pem(alg, file("ec256_public.pem")).unwrap(),
        ),
        other => panic!("{other:?}"),
    }
}

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 3600, "email": "a@example.com", "name": "A User"
    });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).unwrap()
}

/// The application behind the layer for `key`, with or without the verified-token cache.
fn protected(key: Key, cache: bool) -> Router {
    let builder = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(key)
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let builder = if cache { builder } else { builder.no_cache() };
    Router::new()
        .route("/me", get(authenticated))
        .layer(builder.build().unwrap())
}

/// The HS256 application behind the layer with `Arc` claims and the cache.
fn protected_shared(key: Key) -> Router {
    let layer = JwtAuthLayer::<Arc<RegisteredClaims>>::builder()
        .key(key)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    Router::new()
        .route("/me", get(authenticated_shared))
        .layer(layer)
}

/// The open application behind a layer that does nothing: what any layer costs in axum (a clone and a
/// box of the wrapped service per request, a boxed future), which is not the layer's own work.
fn pass_through() -> Router {
    Router::new()
        .route("/me", get(open))
        .layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r))
}

fn request_with(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Polls once: a router with static keys and handlers that never wait is ready on the first poll.
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("nothing in these routers waits"),
    }
}

/// One request through a clone of the router (as axum's server does per connection), checked for 200.
fn serve(router: &Router, request: Request<Body>) {
    let response = poll_once(router.clone().oneshot(request)).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    std::hint::black_box(response);
}

/// Mean time of `f` over the rounds it was given (interleaving is done by the caller).
#[derive(Default, Clone, Copy)]
struct Timer(Duration, u32);

impl Timer {
    fn time<T>(&mut self, f: impl FnOnce() -> T) {
        let start = Instant::now();
        std::hint::black_box(f());
        self.0 += start.elapsed();
        self.1 += 1;
    }

    fn mean(&self) -> Duration {
        self.0 / self.1.max(1)
    }
}

struct Variant {
    name: &'static str,
    router: Router,
    token: String,
    timer: Timer,
}

fn bench(c: &mut Criterion) {
    let (hs_signing, hs_key) = keys(Algorithm::HS256);
    let (es_signing, es_key) = keys(Algorithm::ES256);
    let hs_token = token(Algorithm::HS256, &hs_signing);
    let es_token = token(Algorithm::ES256, &es_signing);
    let variant = |name, router, token: &String| Variant {
        name,
        router,
        token: token.clone(),
        timer: Timer::default(),
    };
    let mut variants = [
        variant("no layer", Router::new().route("/me", get(open)), &hs_token),
        variant("pass-through layer", pass_through(), &hs_token),
        variant(
            "HS256, cache off",
            protected(hs_key.clone(), false),
            &hs_token,
        ),
        variant(
            "HS256, cache hit",
            protected(hs_key.clone(), true),
            &hs_token,
        ),
        variant("HS256, hit, Arc", protected_shared(hs_key), &hs_token),
        variant(
            "ES256, cache off",
            protected(es_key.clone(), false),
            &es_token,
        ),
        variant("ES256, cache hit", protected(es_key, true), &es_token),
    ];
    // Each router answers 200 to its token, and the protected ones 401 without it; this also fills the
    // caches, so that "cache hit" measures hits only.
    for v in &variants {
        serve(&v.router, request_with(&v.token));
        let bare = Request::get("/me").body(Body::empty()).unwrap();
        let status = poll_once(v.router.clone().oneshot(bare)).unwrap().status();
        let expected = if matches!(v.name, "no layer" | "pass-through layer") {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{}", v.name);
    }

    let mut group = c.benchmark_group("axum");
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(3));
    for v in &variants {
        group.bench_function(v.name, |b| {
            b.iter_batched(
                || request_with(&v.token),
                |r| serve(&v.router, r),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // Same-run figures, interleaved so that all share whatever else the machine is doing.
    for _ in 0..2_000 {
        for v in &mut variants {
            let request = request_with(&v.token);
            let router = &v.router;
            v.timer.time(|| serve(router, request));
        }
    }

    let base = variants[0].timer.mean();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "\nSame run, interleaved; an axum Router in process (oneshot per request), against the router \
         without the layer:"
    );
    println!("  variant               per request   vs no layer   throughput vs no layer");
    for v in &variants {
        let mean = v.timer.mean();
        println!(
            "  {:<20} {:>11.2?}   {:>10.2}x   {:>21.2}x",
            v.name,
            mean,
            ratio(mean, base),
            ratio(base, mean)
        );
    }
    println!(
        "  (in process there is no socket, parsing or writing: these ratios bound the layer's share from \
         above; benches/http_load.sh measures it over HTTP)"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
