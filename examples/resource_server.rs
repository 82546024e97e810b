//! A resource server that verifies JWTs with keys from the environment.
//!
//! ```sh
//! JWT_SECRET=change-me-to-a-secret-of-32-bytes-or-more cargo run --example resource_server
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/me
//! ```
//!
//! Keys (exactly one):
//! - `JWT_SECRET`: an HS256 secret of at least 32 bytes (`BETTER_AUTH_SECRET` is used when it is unset);
//! - `JWT_PUBLIC_KEY`: the path of a PEM public key, with `JWT_ALG` (RS256, PS256, ES256, EdDSA, …);
//! - `JWT_JWKS_FILE`: the path of a JWK set.
//!
//! Optional: `JWT_KID` (the configured key's id), `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_REQUIRED_TYP`,
//! `JWT_COOKIE` (also read the token from this cookie), `LISTEN_ADDR` (default `127.0.0.1:3000`),
//! `RUST_LOG` (e.g. `tower_jwt_auth=debug` to see why each token was refused).

use std::env;
use std::process::ExitCode;
use std::str::FromStr;

use axum::routing::get;
use axum::{Json, Router};
use tower_jwt_auth::{Algorithm, Claims, JwtAuthLayer, Key, KeySet, RegisteredClaims};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("resource_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let auth = layer_from_env()?;
    let addr = var("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let app = Router::new()
        .route("/me", get(me))
        .layer(auth)
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("listening on http://{local} (GET /me needs a token, GET /health does not)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))
}

async fn me(Claims(claims): Claims<RegisteredClaims>) -> Json<RegisteredClaims> {
    Json(claims)
}

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn layer_from_env() -> Result<JwtAuthLayer<RegisteredClaims>, String> {
    let secret = var("JWT_SECRET")
        .map(|s| ("JWT_SECRET", s))
        .or_else(|| var("BETTER_AUTH_SECRET").map(|s| ("BETTER_AUTH_SECRET", s)));
    let public_key = var("JWT_PUBLIC_KEY");
    let jwks_file = var("JWT_JWKS_FILE");
    let kid = var("JWT_KID");

    let keys: Vec<Key> = match (secret, public_key, jwks_file) {
        (Some((name, secret)), None, None) => {
            let key = Key::hs256(secret.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
            tracing::info!("verifying HS256 tokens with the secret from {name}");
            vec![key]
        }
        (None, Some(path), None) => {
            let alg =
                var("JWT_ALG").ok_or("JWT_PUBLIC_KEY needs JWT_ALG (e.g. RS256, ES256, EdDSA)")?;
            let alg = Algorithm::from_str(&alg)
                .map_err(|_| format!("JWT_ALG: unknown algorithm {alg:?}"))?;
            let pem = std::fs::read(&path)
                .map_err(|e| format!("JWT_PUBLIC_KEY: cannot read {path}: {e}"))?;
            let key =
                Key::from_pem(alg, pem).map_err(|e| format!("JWT_PUBLIC_KEY ({path}): {e}"))?;
            tracing::info!("verifying {alg:?} tokens with the public key in {path}");
            vec![key]
        }
        (None, None, Some(path)) => {
            let json = std::fs::read_to_string(&path)
                .map_err(|e| format!("JWT_JWKS_FILE: cannot read {path}: {e}"))?;
            let set = KeySet::from_jwks_json(&json)
                .map_err(|e| format!("JWT_JWKS_FILE ({path}): {e}"))?;
            for skipped in set.skipped() {
                tracing::warn!("{path}: {skipped}");
            }
            for key in set.keys() {
                tracing::info!(
                    "loaded {:?} key {:?} from {path}",
                    key.algorithm(),
                    key.kid()
                );
            }
            set.into_keys()
        }
        (None, None, None) => {
            return Err(
                "no key configured: set JWT_SECRET (or BETTER_AUTH_SECRET), JWT_PUBLIC_KEY with JWT_ALG, or JWT_JWKS_FILE"
                    .into(),
            );
        }
        _ => {
            return Err(
                "set only one of JWT_SECRET/BETTER_AUTH_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_FILE"
                    .into(),
            );
        }
    };
    let keys = match kid {
        Some(kid) if keys.len() == 1 => keys.into_iter().map(|k| k.with_kid(kid.clone())).collect(),
        Some(_) => {
            return Err("JWT_KID applies to a single key; a JWK set names its keys itself".into());
        }
        None => keys,
    };

    let mut builder = JwtAuthLayer::<RegisteredClaims>::builder().keys(keys);
    if let Some(issuer) = var("JWT_ISSUER") {
        tracing::info!("requiring iss = {issuer:?}");
        builder = builder.issuer(issuer);
    }
    if let Some(audience) = var("JWT_AUDIENCE") {
        tracing::info!("requiring aud to contain {audience:?}");
        builder = builder.audience(audience);
    }
    if let Some(typ) = var("JWT_REQUIRED_TYP") {
        tracing::info!("requiring typ = {typ:?}");
        builder = builder.required_typ(typ);
    }
    if let Some(cookie) = var("JWT_COOKIE") {
        tracing::info!("also reading the token from the cookie {cookie:?}");
        builder = builder.cookie(cookie);
    }
    builder.build().map_err(|e| format!("configuration: {e}"))
}
