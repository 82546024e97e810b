//! The layer in front of a tonic gRPC server, and a handler that reads who the caller is.
//!
//! ```sh
//! JWT_SECRET=change-me-to-a-secret-of-32-bytes-or-more cargo run --example tonic_server
//! ```
//!
//! The server speaks this service (calls without a valid token end in `UNAUTHENTICATED`):
//!
//! ```proto
//! syntax = "proto3";
//! package whoami.v1;
//!
//! service WhoAmI {
//!   // The caller's identity, from the verified token.
//!   rpc Get(GetRequest) returns (GetResponse);
//! }
//! message GetRequest {}
//! message GetResponse {
//!   string subject = 1;     // `sub`
//!   string issuer = 2;      // `iss`, empty when the token has none
//!   uint64 expires_at = 3;  // `exp`, seconds since the epoch
//! }
//! ```
//!
//! In a real project `tonic-build` generates the server glue from the `.proto` file. It needs `protoc`,
//! so to keep this example self-contained that glue is written out by hand below ([`WhoAmIServer`]);
//! the part you would write yourself is [`who_am_i`].
//!
//! Settings: `JWT_SECRET` (an HS256 secret of at least 32 bytes, required), `JWT_ISSUER` and
//! `JWT_AUDIENCE` (required values of `iss` and `aud`, optional), `LISTEN_ADDR` (default
//! `127.0.0.1:50051`), `RUST_LOG` (e.g. `tower_jwt_auth=debug` to see why each token was refused).
//!
//! Ctrl-C stops accepting connections and lets open calls finish before exiting.

use std::convert::Infallible;
use std::env;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

// The messages, as `prost-build` would generate them from the `.proto` above.

/// `whoami.v1.GetRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRequest {}

/// `whoami.v1.GetResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetResponse {
    /// The token's `sub`.
    #[prost(string, tag = "1")]
    pub subject: String,
    /// The token's `iss`; empty when it has none.
    #[prost(string, tag = "2")]
    pub issuer: String,
    /// The token's `exp`, seconds since the epoch.
    #[prost(uint64, tag = "3")]
    pub expires_at: u64,
}

/// The handler of `whoami.v1.WhoAmI/Get`. The layer has verified the token before the call reaches it
/// and put the claims into the request's extensions, which tonic hands over with the request.
async fn who_am_i(request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
    let claims = request
        .extensions()
        .get::<RegisteredClaims>()
        // Only possible if the layer were removed from the server: fail closed, never serve anonymously.
        .ok_or_else(|| Status::internal("no verified claims"))?;
    Ok(Response::new(GetResponse {
        // The layer requires a non-empty `sub` by default.
        subject: claims.sub.clone().unwrap_or_default(),
        issuer: claims.iss.clone().unwrap_or_default(),
        expires_at: claims.exp.unwrap_or_default(),
    }))
}

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
            eprintln!("tonic_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // Configuration errors end the process before it listens: a server that starts is a server that works.
    let auth = auth_from_env()?;
    let addr = var("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:50051".into());

    // Bound here rather than by tonic so that a bad or busy address is a one-line error naming it.
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        "listening on http://{local} (gRPC {}/Get needs a token)",
        WhoAmIServer::NAME
    );

    // `.layer(auth)` covers every service of this server. gRPC requests get a gRPC status from the layer
    // (UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE), not an HTTP 401 that clients would misreport.
    Server::builder()
        .layer(auth)
        .add_service(WhoAmIServer)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: no new connections, open calls finish");
        })
        .await
        .map_err(|e| format!("server error: {e}"))
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

// ---------------------------------------------------------------------------------------------------------
// What `tonic-build` would generate: the service's routing, decoding and encoding.

/// The `whoami.v1.WhoAmI` service as a tower service of HTTP requests.
#[derive(Clone)]
struct WhoAmIServer;

impl NamedService for WhoAmIServer {
    const NAME: &'static str = "whoami.v1.WhoAmI";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for WhoAmIServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match request.uri().path() {
            "/whoami.v1.WhoAmI/Get" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(tower::service_fn(who_am_i), request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("").into_http()) }),
        }
    }
}
