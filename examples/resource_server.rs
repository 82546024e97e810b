//! A resource server that verifies JWTs with keys from the environment.
//!
//! ```sh
//! JWT_SECRET=change-me-to-a-secret-of-32-bytes-or-more cargo run --example resource_server
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/me
//! ```
//!
//! Keys (exactly one):
//! - `JWT_SECRET`: an HS256 secret of at least 32 bytes (`BETTER_AUTH_SECRET` is used when no other key
//!   setting is given);
//! - `JWT_PUBLIC_KEY`: the path of a PEM public key, with `JWT_ALG` (RS256, PS256, ES256, EdDSA, …);
//! - `JWT_JWKS_FILE`: the path of a JWK set;
//! - `JWT_JWKS_URL`: the URL of a JWK set, fetched and refreshed in the background;
//! - `JWT_OIDC_ISSUER`: an OpenID Connect issuer: its discovery document gives the JWK set, and `iss` must
//!   equal the issuer;
//! - `BETTER_AUTH_URL`: a Better Auth deployment (JWT plugin): keys from `{url}/api/auth/jwks`, `iss` and
//!   `aud` equal to its origin.
//!
//! Optional: `JWT_KID` (the configured key's id), `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_REQUIRED_TYP`,
//! `JWT_COOKIE` (also read the token from this cookie), `LISTEN_ADDR` (default `127.0.0.1:3000`),
//! `RUST_LOG` (e.g. `tower_jwt_auth=debug` to see why each token was refused).
//!
//! Better Auth's session cookie cache (`session.cookieCache.strategy: "jwt"`): set `BETTER_AUTH_SECRET`
//! and `JWT_COOKIE=better-auth.session_data`. Those tokens have no `sub`: with a `JWT_COOKIE` ending in
//! `.session_data`, a token is accepted with either a `sub` or a `user.id` (the session's user), and
//! `/me` returns all of its claims (`session`, `user`, …).

use std::env;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use tower_jwt_auth::remote::{DefaultClient, Discovery, RemoteJwks};
use tower_jwt_auth::{
    Algorithm, Claims, JwtAuthBuilder, JwtAuthLayer, Key, KeySet, RegisteredClaims,
};

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
    let addr = var("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let protected = Router::new().route("/me", get(me));
    let protected = match auth_from_env().await? {
        Auth::Static(layer) => protected.layer(layer),
        Auth::Remote(layer) => protected.layer(layer),
    };
    let app = protected.route("/health", get(|| async { "ok" }));
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

/// The claims as the layer hands them over: shared, so that a cache hit and the `Claims` extractor copy
/// a pointer, not the claims.
type UserClaims = Arc<RegisteredClaims>;

async fn me(Claims(claims): Claims<UserClaims>) -> Json<UserClaims> {
    Json(claims)
}

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The layer, with static keys or with keys fetched over HTTP.
enum Auth {
    Static(JwtAuthLayer<UserClaims>),
    Remote(JwtAuthLayer<UserClaims, RemoteJwks<DefaultClient>>),
}

/// The key settings; exactly one may be given.
const KEY_SETTINGS: [&str; 6] = [
    "JWT_SECRET",
    "JWT_PUBLIC_KEY",
    "JWT_JWKS_FILE",
    "JWT_JWKS_URL",
    "JWT_OIDC_ISSUER",
    "BETTER_AUTH_URL",
];

async fn auth_from_env() -> Result<Auth, String> {
    let given: Vec<&str> = KEY_SETTINGS
        .into_iter()
        .filter(|name| var(name).is_some())
        .collect();
    let setting = match given.as_slice() {
        [one] => *one,
        // Better Auth apps carry their secret in the environment anyway: it is the fallback.
        [] if var("BETTER_AUTH_SECRET").is_some() => "BETTER_AUTH_SECRET",
        [] => {
            return Err(format!(
                "no key configured: set one of {} (or BETTER_AUTH_SECRET)",
                KEY_SETTINGS.join(", ")
            ));
        }
        several => return Err(format!("set only one of {}", several.join(", "))),
    };
    if setting != "BETTER_AUTH_SECRET" && var("BETTER_AUTH_SECRET").is_some() {
        tracing::info!("BETTER_AUTH_SECRET is set but not used: {setting} configures the keys");
    }
    let value = var(setting).unwrap_or_default();
    match setting {
        "JWT_SECRET" | "BETTER_AUTH_SECRET" => {
            let key = Key::hs256(value.as_bytes()).map_err(|e| format!("{setting}: {e}"))?;
            tracing::info!("verifying HS256 tokens with the secret from {setting}");
            static_layer(vec![key])
        }
        "JWT_PUBLIC_KEY" => {
            let alg =
                var("JWT_ALG").ok_or("JWT_PUBLIC_KEY needs JWT_ALG (e.g. RS256, ES256, EdDSA)")?;
            let alg = Algorithm::from_str(&alg)
                .map_err(|_| format!("JWT_ALG: unknown algorithm {alg:?}"))?;
            let pem = std::fs::read(&value)
                .map_err(|e| format!("JWT_PUBLIC_KEY: cannot read {value}: {e}"))?;
            let key =
                Key::from_pem(alg, pem).map_err(|e| format!("JWT_PUBLIC_KEY ({value}): {e}"))?;
            tracing::info!("verifying {alg:?} tokens with the public key in {value}");
            static_layer(vec![key])
        }
        "JWT_JWKS_FILE" => {
            let json = std::fs::read_to_string(&value)
                .map_err(|e| format!("JWT_JWKS_FILE: cannot read {value}: {e}"))?;
            let set = KeySet::from_jwks_json(&json)
                .map_err(|e| format!("JWT_JWKS_FILE ({value}): {e}"))?;
            for skipped in set.skipped() {
                tracing::warn!("{value}: {skipped}");
            }
            for key in set.keys() {
                tracing::info!(
                    "loaded {:?} key {:?} from {value}",
                    key.algorithm(),
                    key.kid()
                );
            }
            static_layer(set.into_keys())
        }
        "JWT_JWKS_URL" => {
            no_kid_with(setting)?;
            let jwks = RemoteJwks::builder(value.clone())
                .build()
                .map_err(|e| format!("JWT_JWKS_URL: {e}"))?;
            remote_layer(
                JwtAuthLayer::<UserClaims>::builder().provider(jwks.clone()),
                jwks,
            )
            .await
        }
        "JWT_OIDC_ISSUER" => {
            no_kid_with(setting)?;
            let discovery = Discovery::fetch_with_default_client(&value)
                .await
                .map_err(|e| format!("JWT_OIDC_ISSUER {value}: {e}"))?;
            tracing::info!("OIDC issuer {value}: keys from {}", discovery.jwks_uri);
            let jwks = RemoteJwks::builder(discovery.jwks_uri)
                .build()
                .map_err(|e| format!("JWT_OIDC_ISSUER: {e}"))?;
            let builder = JwtAuthLayer::<UserClaims>::builder()
                .provider(jwks.clone())
                .issuer(discovery.issuer);
            remote_layer(builder, jwks).await
        }
        _ => {
            no_kid_with(setting)?;
            let builder = JwtAuthLayer::<UserClaims>::better_auth(&value)
                .map_err(|e| format!("BETTER_AUTH_URL: {e}"))?;
            let jwks = builder.key_provider().clone();
            tracing::info!(
                "verifying Better Auth tokens of {value} (keys from {})",
                jwks.url()
            );
            remote_layer(builder, jwks).await
        }
    }
}

/// A JWK set names its keys itself.
fn no_kid_with(setting: &str) -> Result<(), String> {
    match var("JWT_KID") {
        Some(_) => Err(format!("JWT_KID applies to a single key, not to {setting}")),
        None => Ok(()),
    }
}

fn static_layer(keys: Vec<Key>) -> Result<Auth, String> {
    let keys = match var("JWT_KID") {
        Some(kid) if keys.len() == 1 => keys.into_iter().map(|k| k.with_kid(kid.clone())).collect(),
        Some(_) => {
            return Err("JWT_KID applies to a single key; a JWK set names its keys itself".into());
        }
        None => keys,
    };
    let builder = options(JwtAuthLayer::<UserClaims>::builder().keys(keys));
    builder
        .build()
        .map(Auth::Static)
        .map_err(|e| format!("configuration: {e}"))
}

async fn remote_layer(
    builder: JwtAuthBuilder<UserClaims, RemoteJwks<DefaultClient>>,
    jwks: RemoteJwks<DefaultClient>,
) -> Result<Auth, String> {
    let layer = options(builder)
        .build()
        .map_err(|e| format!("configuration: {e}"))?;
    // An outage of the key server is not a configuration error: start, answer 503, recover by itself.
    match jwks.load().await {
        Ok(()) => {
            tracing::info!("loaded keys {:?} from {}", jwks.kids(), jwks.url());
            for skipped in jwks.skipped() {
                tracing::warn!("{}: {skipped}", jwks.url());
            }
        }
        Err(e) => tracing::warn!(
            "cannot load keys from {} yet ({e}); requests get 503 until it answers",
            jwks.url()
        ),
    }
    Ok(Auth::Remote(layer))
}

/// The options every key setting shares.
fn options<P>(mut builder: JwtAuthBuilder<UserClaims, P>) -> JwtAuthBuilder<UserClaims, P> {
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
        if cookie.ends_with(".session_data") {
            tracing::info!(
                "{cookie:?} is Better Auth's session cache: the identity is sub or user.id"
            );
            builder = builder.require_sub(false).check_claims(has_identity);
        }
        builder = builder.cookie(cookie);
    }
    builder
}

/// A non-empty `sub`, or a non-empty `user.id` (Better Auth's session cookie cache has no `sub`).
fn has_identity(claims: &UserClaims) -> bool {
    let user_id = claims
        .extra
        .get("user")
        .and_then(|user| user.get("id"))
        .and_then(|id| id.as_str());
    claims.sub.as_deref().is_some_and(|sub| !sub.is_empty())
        || user_id.is_some_and(|id| !id.is_empty())
}
