//! An authentication server: sign up, sign in (a JWT in an `HttpOnly` cookie and in the body), "who am
//! I", sign out, and token verification for other services. Users live in SQLite with Argon2id password
//! hashes; tokens are HS256 under `BETTER_AUTH_SECRET`, verified by [`JwtAuthLayer`].
//!
//! ```sh
//! BETTER_AUTH_SECRET=$(openssl rand -base64 32) cargo run --example auth_server
//! cargo run --example auth_server -- --dev     # a throwaway secret, generated for this run
//! ```
//!
//! Then open <http://127.0.0.1:3000/>, or see `openapi.json` beside this file for the API.
//!
//! Settings:
//! - `BETTER_AUTH_SECRET` (required unless `--dev`): the HS256 secret, at least 32 bytes;
//! - `DATABASE_URL` (default `sqlite://auth_server.db`, in the working directory): `sqlite://path`,
//!   `sqlite:///absolute/path` or `sqlite::memory:`; the schema is created at start;
//! - `LISTEN_ADDR` (default `127.0.0.1:3000`);
//! - `PUBLIC_URL`: the origin browsers use (default `http://` + the listening address); it is the tokens'
//!   `iss` and `aud`, and with `https://` the cookie is `Secure` and named `__Host-auth_token`;
//! - `CSRF_ALLOWED_ORIGINS`: comma-separated origins of other front ends allowed to POST with the cookie;
//! - `RUST_LOG` (default `info`).
//!
//! A token from the cookie is accepted for POST only from the same origin (`Origin` or
//! `Sec-Fetch-Site`): a page on another origin, even another port of the same host, gets 403. Tokens sent
//! as `Authorization: Bearer` are not subject to that check.

mod api;
mod config;
mod password;
mod routes;
mod store;
mod time;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use tower_jwt_auth::{Algorithm, Issuer, JwtAuthBuilder, JwtAuthLayer, RegisteredClaims};

use crate::api::{App, CookieSettings, Session};
use crate::config::Secret;

/// Session lifetime: the token's `exp` and the cookie's `Max-Age`.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Request bodies are small JSON objects.
const MAX_BODY: usize = 16 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("auth_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = config::from_env(std::env::args().skip(1))?;
    if let Secret::Generated(_) = config.secret {
        eprintln!(
            "\n\
             ************************************************************************\n\
             *  auth_server --dev: DEVELOPMENT MODE                                 *\n\
             *  BETTER_AUTH_SECRET was generated at random for this run only.       *\n\
             *  Tokens stop verifying when the server stops. Never use --dev in     *\n\
             *  production: set BETTER_AUTH_SECRET (32 bytes or more) instead.      *\n\
             ************************************************************************\n"
        );
    }

    let store = store::Store::open(&config.database)?;
    let passwords = password::Passwords::new()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("LISTEN_ADDR: cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;

    let origin = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let secure = origin.starts_with("https://");
    // Over https the `__Host-` prefix makes browsers refuse the cookie from anywhere but this host.
    let cookie_name = if secure {
        "__Host-auth_token"
    } else {
        "auth_token"
    };
    let issuer = Issuer::hmac(Algorithm::HS256, config.secret.bytes())
        .map_err(|e| format!("BETTER_AUTH_SECRET: {e}"))?
        .issuer(origin.clone())
        .audience(origin.clone())
        .ttl(SESSION_TTL);

    // The session layer: the cookie (or a Bearer header), with the cross-site check on unsafe methods.
    let mut session =
        policy(JwtAuthLayer::<Session>::builder(), &issuer, &origin).cookie(cookie_name);
    if config.public_url.is_some() {
        // Behind a proxy the Host header may not be the public one.
        session = session.csrf_allowed_origin(origin.clone());
    }
    for allowed in &config.allowed_origins {
        session = session.csrf_allowed_origin(allowed.clone());
    }
    let session = session.build().map_err(|e| format!("configuration: {e}"))?;
    let verifier = policy(
        JwtAuthLayer::<RegisteredClaims>::builder(),
        &issuer,
        &origin,
    )
    .build()
    .map_err(|e| format!("configuration: {e}"))?;

    let app = App {
        store,
        passwords,
        issuer: Arc::new(issuer),
        cookie: Arc::new(CookieSettings {
            name: cookie_name,
            secure,
            max_age: SESSION_TTL.as_secs(),
        }),
        verifier,
    };

    let public = Routes::default()
        .add(Method::GET, "/", api::index)
        .add(Method::POST, "/api/auth/signup", api::signup)
        .add(Method::POST, "/api/auth/signin", api::signin)
        .add(Method::POST, "/api/auth/verify", api::verify);
    // The layer wraps each protected handler (not the path), so that a wrong method is a 405 before any
    // question of credentials.
    let protected = Routes::default()
        .add(Method::GET, "/api/auth/me", api::me.layer(session.clone()))
        .add(
            Method::POST,
            "/api/auth/signout",
            api::signout.layer(session),
        );
    let registered: Vec<(String, String)> =
        public.seen.iter().chain(&protected.seen).cloned().collect();
    let table: Vec<(String, String)> = routes::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    if registered != table {
        return Err(format!(
            "the routes registered {registered:?} differ from routes::ROUTES {table:?}"
        ));
    }
    let router = public
        .router
        .merge(protected.router)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(log_request))
        .with_state(app);

    tracing::info!("users database: {}", store::describe(&config.database));
    match config.secret {
        Secret::FromEnv(_) => tracing::info!("signing tokens with BETTER_AUTH_SECRET (HS256)"),
        Secret::Generated(_) => tracing::warn!(
            "signing tokens with a secret GENERATED by --dev: development only, tokens die with this process"
        ),
    }
    tracing::info!(
        "listening on http://{local} (iss/aud {origin}, cookie {cookie_name}{})",
        if secure { ", Secure" } else { "" }
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// What every verifier of these tokens requires: this key, `iss` and `aud`.
fn policy<C>(builder: JwtAuthBuilder<C>, issuer: &Issuer, origin: &str) -> JwtAuthBuilder<C> {
    builder
        .key(issuer.verification_key())
        .issuer(origin)
        .audience(origin)
}

/// A router that records what it registers.
struct Routes {
    router: Router<App>,
    seen: Vec<(String, String)>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            router: Router::new(),
            seen: Vec::new(),
        }
    }
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<T, App>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.seen.push((method.to_string(), path.to_owned()));
        self
    }
}

/// One line per request: method, path and status (never the query, headers or body: they carry
/// passwords and tokens).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!("{method} {path} -> {}", response.status().as_u16());
    response
}
