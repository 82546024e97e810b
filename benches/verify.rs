//! Verification cost of the layer against the floor: `jsonwebtoken::decode` alone, same key, token and
//! claims type. Prints the layer/floor ratio per algorithm, measured in the same run.
//!
//! `cargo bench --bench verify`

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};
use tower_jwt_auth::remote::RemoteJwks;
use tower_jwt_auth::{JwtAuthLayer, Key, KeyProvider, RegisteredClaims};

const SECRET: &[u8] = b"bench-secret-of-exactly-32-bytes";

fn keys(alg: Algorithm) -> (EncodingKey, DecodingKey, Key) {
    let file = |name: &str| {
        std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    match alg {
        Algorithm::HS256 => (
            EncodingKey::from_secret(SECRET),
            DecodingKey::from_secret(SECRET),
            Key::hs256(SECRET).unwrap(),
        ),
        Algorithm::RS256 | Algorithm::PS256 => (
            EncodingKey::from_rsa_pem(&file("rsa_private.pem")).unwrap(),
            DecodingKey::from_rsa_pem(&file("rsa_public.pem")).unwrap(),
            Key::from_pem(alg, file("rsa_public.pem")).unwrap(),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&file("ec256_private.pem")).unwrap(),
            DecodingKey::from_ec_pem(&file("ec256_public.pem")).unwrap(),
            Key::from_pem(alg, file("ec256_public.pem")).unwrap(),
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(&file("ed25519_private.pem")).unwrap(),
            DecodingKey::from_ed_pem(&file("ed25519_public.pem")).unwrap(),
            Key::from_pem(alg, file("ed25519_public.pem")).unwrap(),
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
        "sub": "user-1", "iss": "https://issuer.example.com", "aud": "https://api.example.com",
        "iat": now, "exp": now + 3600, "email": "a@example.com", "name": "A User"
    });
    let header = jsonwebtoken::Header::new(alg);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

/// The inner service: does nothing, so that every layer is timed around the same call. Timed without the layer too ('bare'): the call, and dropping the request and response, is
/// subtracted from a hit to give the layer's own cost. That the claims arrive is checked outside the
/// timed loops ([`assert_verifies`]), and every timed call checks the status.
#[derive(Clone)]
struct Bare;

impl Service<Request<()>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        std::hint::black_box(request);
        std::future::ready(Ok(Response::new(())))
    }
}

/// Sends `token` through `layer` (the same verifier and cache the timed service uses) to a service that
/// checks that claims of type `C` arrived.
fn assert_verifies<C, P>(layer: &JwtAuthLayer<C, P>, token: &str)
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    P: KeyProvider,
{
    let check = tower::service_fn(|request: Request<()>| {
        assert!(request.extensions().get::<C>().is_some(), "no claims");
        std::future::ready(Ok::<_, Infallible>(Response::new(())))
    });
    let response = poll_once(layer.layer(check).call(request_with(token))).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A timed call's response, checked: the request went through to the inner service.
fn ok<B>(result: Result<Response<B>, Infallible>) -> Response<B> {
    let response = result.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// A timed call's response, checked: the layer refused the request.
fn refused<B>(result: Result<Response<B>, Infallible>) -> Response<B> {
    let response = result.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    response
}

fn poll_once<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("static keys never wait"),
    }
}

/// The public JWK of the bench key for `alg`, bound to `alg`, from the test fixtures.
fn public_jwk(alg: Algorithm) -> Option<serde_json::Value> {
    let kid = match alg {
        Algorithm::RS256 | Algorithm::PS256 => "rsa-1",
        Algorithm::ES256 => "ec-256",
        Algorithm::EdDSA => "ed-1",
        _ => return None, // a fetched set never carries symmetric keys
    };
    let path = format!("{}/tests/keys/jwks.json", env!("CARGO_MANIFEST_DIR"));
    let set: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut jwk = set["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == kid)?
        .clone();
    jwk["alg"] = serde_json::json!(format!("{alg:?}"));
    Some(jwk)
}

/// A loaded `RemoteJwks` whose "HTTP client" answers from memory.
fn remote_layer(
    runtime: &tokio::runtime::Runtime,
    jwk: serde_json::Value,
) -> JwtAuthLayer<RegisteredClaims, RemoteJwks<impl tower_jwt_auth::remote::JwksClient>> {
    let document = bytes::Bytes::from(serde_json::json!({ "keys": [jwk] }).to_string());
    let client = tower::service_fn(move |_: Request<Empty<bytes::Bytes>>| {
        let document = document.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(document))) }
    });
    let jwks = RemoteJwks::builder("http://127.0.0.1/jwks.json")
        .client(client)
        .build()
        .unwrap();
    runtime.block_on(jwks.load()).unwrap();
    JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(jwks)
        .issuer("https://issuer.example.com")
        .audience("https://api.example.com")
        .no_cache()
        .build()
        .unwrap()
}

/// Calls per timed batch: one pair of clock reads per batch, so that the clock's own cost (tens of
/// nanoseconds) does not weigh on the fastest paths. The batch's requests are built just before.
const BATCH: usize = 32;

/// Time per call in each batch it was given (interleaving is done by the caller); reported as the median
/// over batches, so that a burst of the machine's other load moves no figure.
#[derive(Default, Clone)]
struct Timer(Vec<Duration>);

impl Timer {
    fn time<T>(&mut self, mut f: impl FnMut() -> T) {
        self.time_each(vec![(); BATCH], |()| f());
    }

    fn time_each<I, T>(&mut self, inputs: Vec<I>, mut f: impl FnMut(I) -> T) {
        let count = inputs.len().max(1) as u32;
        let start = Instant::now();
        for input in inputs {
            std::hint::black_box(f(input));
        }
        self.0.push(start.elapsed() / count);
    }

    fn median(&self) -> Duration {
        let mut batches = self.0.clone();
        batches.sort_unstable();
        batches.get(batches.len() / 2).copied().unwrap_or_default()
    }
}

fn request_with(token: &str) -> Request<()> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
}

struct Row {
    alg: Algorithm,
    floor: Duration,
    uncached: Duration,
    remote: Option<Duration>,
    hit: Duration,
    hit_shared: Duration,
    bare: Duration,
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The remote provider starts its refresher on the current runtime, once.
    let _context = runtime.enter();
    let mut rows = Vec::new();
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let (encoding, decoding, key) = keys(alg);
        let token = token(alg, &encoding);
        let mut validation = Validation::new(alg);
        validation.set_issuer(&["https://issuer.example.com"]);
        validation.set_audience(&["https://api.example.com"]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let builder = || {
            JwtAuthLayer::<RegisteredClaims>::builder()
                .key(key.clone())
                .issuer("https://issuer.example.com")
                .audience("https://api.example.com")
        };
        let uncached_layer = builder().no_cache().build().unwrap();
        let cached_layer = builder().build().unwrap();
        // The same with `C = Arc<RegisteredClaims>`: a hit hands out a pointer, not a deep copy.
        let shared_layer = JwtAuthLayer::<Arc<RegisteredClaims>>::builder()
            .key(key.clone())
            .issuer("https://issuer.example.com")
            .audience("https://api.example.com")
            .build()
            .unwrap();
        let remote_layer = public_jwk(alg).map(|jwk| remote_layer(&runtime, jwk));
        // Also fills the caches: the timed calls are hits.
        let check_all = || {
            assert_verifies(&uncached_layer, &token);
            assert_verifies(&cached_layer, &token);
            assert_verifies(&shared_layer, &token);
            if let Some(layer) = &remote_layer {
                assert_verifies(layer, &token);
            }
        };
        check_all();
        let mut uncached = uncached_layer.layer(Bare);
        let mut cached = cached_layer.layer(Bare);
        let mut shared = shared_layer.layer(Bare);
        let mut remote = remote_layer.as_ref().map(|layer| layer.layer(Bare));
        let request = || request_with(&token);

        let mut group = c.benchmark_group(format!("{alg:?}"));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("floor: jsonwebtoken::decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<RegisteredClaims>(&token, &decoding, &validation).unwrap()
            })
        });
        group.bench_function("layer: static key, cache off", |b| {
            b.iter_batched(
                request,
                |r| ok(poll_once(uncached.call(r))),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("layer: cache hit", |b| {
            b.iter_batched(
                request,
                |r| ok(poll_once(cached.call(r))),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("layer: cache hit, Arc claims", |b| {
            b.iter_batched(
                request,
                |r| ok(poll_once(shared.call(r))),
                BatchSize::SmallInput,
            )
        });
        if let Some(remote) = remote.as_mut() {
            group.bench_function("layer: key from a loaded remote JWK set, cache off", |b| {
                b.iter_batched(
                    request,
                    |r| ok(poll_once(remote.call(r))),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();

        // Same-run figures, interleaved so that all share whatever else the machine is doing.
        let (mut floor, mut ours, mut hit, mut hit_shared, mut fetched, mut bare) =
            Default::default();
        let batch = || (0..BATCH).map(|_| request()).collect::<Vec<_>>();
        for _ in 0..200 {
            Timer::time(&mut floor, || {
                jsonwebtoken::decode::<RegisteredClaims>(&token, &decoding, &validation).unwrap()
            });
            Timer::time_each(&mut ours, batch(), |r| ok(poll_once(uncached.call(r))));
            Timer::time_each(&mut hit, batch(), |r| ok(poll_once(cached.call(r))));
            Timer::time_each(&mut hit_shared, batch(), |r| ok(poll_once(shared.call(r))));
            Timer::time_each(&mut bare, batch(), |r| ok(poll_once(Bare.call(r))));
            if let Some(remote) = remote.as_mut() {
                Timer::time_each(&mut fetched, batch(), |r| ok(poll_once(remote.call(r))));
            }
        }
        check_all();
        let (floor, ours, hit, hit_shared, fetched, bare): (
            Timer,
            Timer,
            Timer,
            Timer,
            Timer,
            Timer,
        ) = (floor, ours, hit, hit_shared, fetched, bare);
        rows.push(Row {
            alg,
            floor: floor.median(),
            uncached: ours.median(),
            remote: remote.is_some().then(|| fetched.median()),
            hit: hit.median(),
            hit_shared: hit_shared.median(),
            bare: bare.median(),
        });
    }

    // Rejections, against one HS256 verification.
    let (encoding, decoding, key) = keys(Algorithm::HS256);
    let valid = token(Algorithm::HS256, &encoding);
    let bad_signature = format!("{}AAAA", &valid[..valid.len() - 4]);
    let mut layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(key)
        .issuer("https://issuer.example.com")
        .audience("https://api.example.com")
        .build()
        .unwrap()
        .layer(Bare);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["https://issuer.example.com"]);
    validation.set_audience(&["https://api.example.com"]);
    let garbage = "garbage.not-a.token";
    let no_token = || Request::get("/me").body(()).unwrap();
    let mut group = c.benchmark_group("rejections");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("no token", |b| {
        b.iter_batched(
            no_token,
            |r| refused(poll_once(layer.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("garbage token", |b| {
        b.iter_batched(
            || request_with(garbage),
            |r| refused(poll_once(layer.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bad signature", |b| {
        b.iter_batched(
            || request_with(&bad_signature),
            |r| refused(poll_once(layer.call(r))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    // What handing the claims over costs by itself, for any layer: `Arc` claims into the request's empty
    // extensions (a map, a table and a box), freed when the request is dropped.
    let shared_claims = Arc::new(
        jsonwebtoken::decode::<RegisteredClaims>(&valid, &decoding, &validation)
            .unwrap()
            .claims,
    );
    let (mut floor, mut none, mut junk, mut forged) = Default::default();
    let (mut handed_over, mut plain): (Timer, Timer) = Default::default();
    for _ in 0..200 {
        Timer::time(&mut floor, || {
            jsonwebtoken::decode::<RegisteredClaims>(&valid, &decoding, &validation).unwrap()
        });
        let batch = |make: &dyn Fn() -> Request<()>| (0..BATCH).map(|_| make()).collect();
        Timer::time_each(&mut none, batch(&no_token), |r| {
            refused(poll_once(layer.call(r)))
        });
        Timer::time_each(&mut junk, batch(&|| request_with(garbage)), |r| {
            refused(poll_once(layer.call(r)))
        });
        Timer::time_each(&mut forged, batch(&|| request_with(&bad_signature)), |r| {
            refused(poll_once(layer.call(r)))
        });
        Timer::time_each(
            &mut handed_over,
            batch(&|| request_with(&valid)),
            |mut r| {
                r.extensions_mut().insert(Arc::clone(&shared_claims));
                ok(poll_once(Bare.call(r)))
            },
        );
        Timer::time_each(&mut plain, batch(&|| request_with(&valid)), |r| {
            ok(poll_once(Bare.call(r)))
        });
    }
    let (floor, none, junk, forged): (Timer, Timer, Timer, Timer) = (floor, none, junk, forged);

    println!(
        "\nSame run, interleaved, timed in batches of {BATCH} (medians over batches); ratios against \
         jsonwebtoken::decode of the same token (the floor)."
    );
    println!(
        "A hit's own cost is the call through the layer minus the same call without it (the inner \
         service, dropping the request and the response: 'bare')."
    );
    println!(
        "  alg     floor     static key  remote set  bare    | hit, RegisteredClaims       | hit, Arc<RegisteredClaims>"
    );
    println!(
        "                    (x floor)   (x floor)           | own cost  floor/own  total  | own cost  floor/own  total"
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    for row in &rows {
        let remote = row
            .remote
            .map_or("-".to_owned(), |r| format!("{:.2}x", ratio(r, row.floor)));
        let own = |hit: Duration| hit.saturating_sub(row.bare).max(Duration::from_nanos(1));
        println!(
            "  {:<7} {:>8.2?}  {:>9.2}x  {:>10}  {:>6.0?}  | {:>7.0?}  {:>8.1}x  {:>6.0?} | {:>7.0?}  {:>8.1}x  {:>6.0?}",
            format!("{:?}", row.alg),
            row.floor,
            ratio(row.uncached, row.floor),
            remote,
            row.bare,
            own(row.hit),
            ratio(row.floor, own(row.hit)),
            row.hit,
            own(row.hit_shared),
            ratio(row.floor, own(row.hit_shared)),
            row.hit_shared,
        );
    }
    println!(
        "  rejections vs one HS256 verification ({:.2?}):",
        floor.median()
    );
    for (what, timer) in [
        ("no token", &none),
        ("garbage token", &junk),
        ("bad signature", &forged),
    ] {
        println!(
            "    {what:<14} {:.2?} = {:.2}x",
            timer.median(),
            ratio(timer.median(), floor.median())
        );
    }
    println!(
        "  of a hit's own cost, handing Arc claims over (inserted into the request's empty extensions, \
         freed with it), which any layer that inserts claims pays: {:.0?}",
        handed_over.median().saturating_sub(plain.median())
    );
    let find = |alg| rows.iter().find(|r| r.alg == alg).unwrap();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let worst = rows
        .iter()
        .map(|r| ratio(r.uncached, r.floor))
        .fold(0.0, f64::max);
    let hs = find(Algorithm::HS256);
    let es = find(Algorithm::ES256);
    println!("  targets:");
    println!(
        "    layer without cache <= 1.10x the floor (worst {worst:.2}x): {}",
        verdict(worst <= 1.10)
    );
    for (what, hs_hit, es_hit) in [
        ("Arc<RegisteredClaims>", hs.hit_shared, es.hit_shared),
        ("RegisteredClaims, cloned per hit", hs.hit, es.hit),
    ] {
        let hs_hit = hs_hit.saturating_sub(hs.bare).max(Duration::from_nanos(1));
        let es_hit = es_hit.saturating_sub(es.bare).max(Duration::from_nanos(1));
        let hit_hs = ratio(hs.floor, hs_hit);
        println!(
            "    cache hit (own cost) >= 20x faster than the HS256 floor, {what} ({hit_hs:.1}x): {}",
            verdict(hit_hs >= 20.0)
        );
        let hit_es = ratio(es.floor, es_hit);
        println!(
            "    cache hit (own cost) >= 250x faster than the ES256 floor, {what} ({hit_es:.1}x): {}",
            verdict(hit_es >= 250.0)
        );
    }
    let garbage_ratio = ratio(junk.median(), floor.median());
    println!(
        "    garbage rejection cheaper than one HS256 verification ({garbage_ratio:.2}x): {}",
        verdict(garbage_ratio < 1.0)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
