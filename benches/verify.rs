//! Verification cost of the layer against the floor: `jsonwebtoken::decode` alone, same key, token and
//! claims type. Prints the layer/floor ratio per algorithm, measured in the same run.
//!
//! `cargo bench --bench verify`

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{Empty, Full};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use tower::{Layer, Service};
use tower_jwt_auth::remote::RemoteJwks;
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

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

/// The inner service does nothing; the layer's future is ready on first poll with static keys.
#[derive(Clone)]
struct Noop;

impl Service<Request<()>> for Noop {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        assert!(request.extensions().get::<RegisteredClaims>().is_some());
        std::future::ready(Ok(Response::new(())))
    }
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
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The remote provider starts its refresher on the current runtime, once.
    let _context = runtime.enter();
    let mut ratios = Vec::new();
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
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .key(key)
            .issuer("https://issuer.example.com")
            .audience("https://api.example.com")
            .build()
            .unwrap();
        let mut service = layer.layer(Noop);
        let request = || {
            Request::get("/me")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap()
        };

        let mut group = c.benchmark_group(format!("{alg:?}"));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("floor: jsonwebtoken::decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<RegisteredClaims>(&token, &decoding, &validation).unwrap()
            })
        });
        group.bench_function("layer: static key", |b| {
            b.iter_batched(
                request,
                |r| poll_once(service.call(r)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let mut remote = public_jwk(alg).map(|jwk| remote_layer(&runtime, jwk).layer(Noop));
        if let Some(remote) = remote.as_mut() {
            group.bench_function("layer: key from a loaded remote JWK set", |b| {
                b.iter_batched(
                    request,
                    |r| poll_once(remote.call(r)).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();

        // A same-run ratio, interleaved to share whatever else the machine is doing.
        let rounds = 2_000;
        let (mut floor, mut ours, mut fetched) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for _ in 0..rounds {
            let start = Instant::now();
            std::hint::black_box(
                jsonwebtoken::decode::<RegisteredClaims>(&token, &decoding, &validation).unwrap(),
            );
            floor += start.elapsed();
            let r = request();
            let start = Instant::now();
            std::hint::black_box(poll_once(service.call(r)).unwrap());
            ours += start.elapsed();
            if let Some(remote) = remote.as_mut() {
                let r = request();
                let start = Instant::now();
                std::hint::black_box(poll_once(remote.call(r)).unwrap());
                fetched += start.elapsed();
            }
        }
        let ratio = |d: Duration| d.as_secs_f64() / floor.as_secs_f64();
        let remote_ratio = remote.is_some().then(|| ratio(fetched));
        ratios.push((alg, ratio(ours), remote_ratio, floor / rounds));
    }
    println!("\nsame run, interleaved, relative to jsonwebtoken::decode (no cache):");
    println!("  alg     static key   remote JWK set   floor per token");
    for (alg, ours, remote, floor) in ratios {
        let remote = remote.map_or("-".to_owned(), |r| format!("{r:.2}x"));
        println!(
            "  {:<7} {ours:>9.2}x   {remote:>14}   {floor:?}",
            format!("{alg:?}")
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
