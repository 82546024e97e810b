//! The server that `benches/http_load.sh` loads: an axum application with one handler on 127.0.0.1,
//! without authentication or behind the layer.
//!
//! ```sh
//! cargo run --release --example bench_server -- <mode> [addr]
//! ```
//!
//! Modes: `none` (no layer), `passthrough` (no authentication, a layer that does nothing: what any
//! tower layer costs in axum, to read the others against), `hs256-cache`, `hs256-nocache`, `es256-cache`, `es256-nocache` (the layer with
//! a static HS256 or ES256 key, verified-token cache on or off). `addr` defaults to `127.0.0.1:0`.
//!
//! At start it prints two lines on stdout: `token <jwt>` (a valid token for this server, minted with the
//! test keys and valid for an hour; in mode `none` one is minted too, so that every mode is loaded with the
//! same requests) and `listening http://<addr>`. `GET /me` answers `hello` (with the layer, only with the
//! token). It serves until killed, on a tokio multi-thread runtime with one worker per CPU it may use (so
//! `taskset -c 0` gives one worker).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey};
use tower_jwt_auth::{Claims, JwtAuthLayer, Key, RegisteredClaims};

const SECRET: &[u8] = b"bench-secret-of-exactly-32-bytes";
const ISSUER: &str = "https://issuer.example.com";
const AUDIENCE: &str = "https://api.example.com";
/// The handlers' answer, the same with and without the layer.
const BODY: &str = "hello";
const MODES: &str =
    "none, passthrough, hs256-cache, hs256-nocache, es256-cache, es256-nocache, hs256-cache-arc";

/// The handler of the application without authentication.
async fn open() -> &'static str {
    BODY
}

/// The same handler behind the layer: it takes the verified claims with the extractor.
async fn authenticated(Claims(claims): Claims<RegisteredClaims>) -> &'static str {
    std::hint::black_box(claims);
    BODY
}

/// The same, with the claims shared (`Arc`): the cache and the extractor clone a pointer.
async fn authenticated_shared(Claims(claims): Claims<Arc<RegisteredClaims>>) -> &'static str {
    std::hint::black_box(claims);
    BODY
}

fn file(name: &str) -> Result<Vec<u8>, String> {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// A token valid for an hour, with the claims the benches use.
fn token(alg: Algorithm, key: &EncodingKey) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = serde_json::json!({
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 3600, "email": "a@example.com", "name": "A User"
    });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, key).map_err(|e| e.to_string())
}

/// The application for `mode`, and a valid token for it.
fn app(mode: &str) -> Result<(Router, String), String> {
    if mode == "hs256-cache-arc" {
        let layer = JwtAuthLayer::<Arc<RegisteredClaims>>::builder()
            .key(Key::hs256(SECRET).map_err(|e| e.to_string())?)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .map_err(|e| e.to_string())?;
        let router = Router::new()
            .route("/me", get(authenticated_shared))
            .layer(layer);
        let token = token(Algorithm::HS256, &EncodingKey::from_secret(SECRET))?;
        return Ok((router, token));
    }
    let (alg, cache) = match mode {
        "none" => {
            let token = token(Algorithm::HS256, &EncodingKey::from_secret(SECRET))?;
            return Ok((Router::new().route("/me", get(open)), token));
        }
        "passthrough" => {
            let token = token(Algorithm::HS256, &EncodingKey::from_secret(SECRET))?;
            let identity = tower::util::MapRequestLayer::new(|r: axum::extract::Request| r);
            return Ok((Router::new().route("/me", get(open)).layer(identity), token));
        }
        "hs256-cache" => (Algorithm::HS256, true),
        "hs256-nocache" => (Algorithm::HS256, false),
        "es256-cache" => (Algorithm::ES256, true),
        "es256-nocache" => (Algorithm::ES256, false),
        other => return Err(format!("unknown mode {other:?} (one of {MODES})")),
    };
    let (signing, key) = match alg {
        Algorithm::HS256 => (
            EncodingKey::from_secret(SECRET),
            Key::hs256(SECRET).map_err(|e| e.to_string())?,
        ),
        _ => (
            EncodingKey::from_ec_pem(&file("ec256_private.pem")?).map_err(|e| e.to_string())?,
            Key::from_pem(alg, file("ec256_public.pem")?).map_err(|e| e.to_string())?,
        ),
    };
    let builder = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(key)
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let builder = if cache { builder } else { builder.no_cache() };
    let layer = builder.build().map_err(|e| e.to_string())?;
    let router = Router::new().route("/me", get(authenticated)).layer(layer);
    Ok((router, token(alg, &signing)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or(format!("usage: bench_server <mode> [addr]; modes: {MODES}"))?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let (app, token) = app(&mode)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("token {token}");
    println!("listening http://{local}");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server error: {e}"))
}
