//! The layer in a plain hyper server, without a framework: a `tower::ServiceBuilder` stack served by
//! hyper's HTTP/1.1 connection builder.
//!
//! ```sh
//! JWT_SECRET=change-me-to-a-secret-of-32-bytes-or-more cargo run --example hyper_server
//! curl -i http://127.0.0.1:3001/health                                 # 200, no token needed
//! curl -i http://127.0.0.1:3001/me                                     # 401
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3001/me   # 200, the token's claims
//! ```
//!
//! Settings: `JWT_SECRET` (an HS256 secret of at least 32 bytes, required), `JWT_ISSUER` and
//! `JWT_AUDIENCE` (required values of `iss` and `aud`, optional), `LISTEN_ADDR` (default
//! `127.0.0.1:3001`), `RUST_LOG` (e.g. `tower_jwt_auth=debug` to see why each token was refused).
//!
//! Ctrl-C stops accepting connections and lets open ones finish their requests before exiting.

use std::convert::Infallible;
use std::env;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims, ResponseBody};

/// How long open connections get to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
            eprintln!("hyper_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // Configuration errors end the process before it listens: a server that starts is a server that works.
    let auth = auth_from_env()?;
    let addr = var("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:3001".into());

    // The protected part of the server. `map_response` is outermost: it boxes the bodies of both the
    // handler's answers and the layer's refusals, so they share one type with `/health`.
    let api = ServiceBuilder::new()
        .map_response(|response: Response<ResponseBody<Full<Bytes>>>| response.map(BodyExt::boxed))
        .layer(auth)
        .service_fn(api);

    // Routing happens in front of the layer, so that `/health` answers without a token.
    let app = service_fn(move |request: Request<Incoming>| {
        let api = api.clone();
        async move {
            if request.uri().path() == "/health" {
                return Ok::<_, Infallible>(full(StatusCode::OK, "ok\n").map(BodyExt::boxed));
            }
            api.oneshot(request).await
        }
    });

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!("listening on http://{local} (GET /me needs a token, GET /health does not)");

    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), app.clone());
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
            _ = &mut ctrl_c => break,
        }
    }

    tracing::info!("shutting down: no new connections, open ones finish their requests");
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
    }
    Ok(())
}

/// Requests that passed the layer: their verified claims are in the request extensions.
async fn api(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/me") => match request.extensions().get::<RegisteredClaims>() {
            Some(claims) => match serde_json::to_vec(claims) {
                Ok(json) => Response::builder()
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(json)))
                    .expect("a valid response"),
                Err(_) => full(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot encode the claims\n",
                ),
            },
            // Only possible if the layer were removed from the stack: fail closed, never serve anonymously.
            None => full(StatusCode::INTERNAL_SERVER_ERROR, "no verified claims\n"),
        },
        (_, "/me") => {
            let mut response = full(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(ALLOW, "GET".parse().unwrap());
            response
        }
        _ => full(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(response)
}

fn full(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid response")
}

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn auth_from_env() -> Result<JwtAuthLayer<RegisteredClaims>, String> {
    let secret = var("JWT_SECRET")
        .ok_or("JWT_SECRET is not set: give an HS256 secret of at least 32 bytes")?;
    let key = Key::hs256(secret.as_bytes()).map_err(|e| format!("JWT_SECRET: {e}"))?;
    tracing::info!("verifying HS256 tokens with the secret from JWT_SECRET");
    let mut builder = JwtAuthLayer::<RegisteredClaims>::builder().key(key);
    if let Some(issuer) = var("JWT_ISSUER") {
        tracing::info!("requiring iss = {issuer:?}");
        builder = builder.issuer(issuer);
    }
    if let Some(audience) = var("JWT_AUDIENCE") {
        tracing::info!("requiring aud to contain {audience:?}");
        builder = builder.audience(audience);
    }
    builder.build().map_err(|e| format!("configuration: {e}"))
}
