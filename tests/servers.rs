//! The layer in real servers on 127.0.0.1: an axum `Router` with the `Claims<C>` extractor, and plain hyper
//! with a `tower::ServiceBuilder` stack. Every server binds port 0, answers a bounded number of requests and
//! is shut down at the end of its test.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tower::ServiceBuilder;
use tower_jwt_auth::{Claims, JwtAuthLayer, Key, RegisteredClaims};

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MyClaims {
    sub: String,
    email: String,
}

async fn me(Claims(claims): Claims<MyClaims>) -> Json<MyClaims> {
    Json(claims)
}

async fn maybe(claims: Option<Claims<MyClaims>>) -> String {
    match claims {
        Some(Claims(claims)) => format!("hello {}", claims.sub),
        None => "anonymous".to_owned(),
    }
}

fn auth(optional: bool) -> JwtAuthLayer<MyClaims> {
    let builder = JwtAuthLayer::<MyClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE);
    if optional {
        builder.optional().build().unwrap()
    } else {
        builder.build().unwrap()
    }
}

/// `/me` behind a required layer; `/maybe` and `/strict` (the `Claims` extractor) behind an optional one.
fn app() -> Router {
    let required = Router::new().route("/me", get(me)).route_layer(auth(false));
    let optional = Router::new()
        .route("/maybe", get(maybe))
        .route("/strict", get(me))
        .route_layer(auth(true));
    required.merge(optional)
}

/// A running server and how to stop it.
struct Server {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        timeout(LIMIT, self.task)
            .await
            .expect("the server shuts down in time")
            .expect("the server task does not panic");
    }
}

async fn spawn_axum(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        shutdown,
        task,
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn send(client: &HttpClient, url: &str, token: Option<&str>) -> Reply {
    let mut request = Request::get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Empty::new()).unwrap();
    let response = timeout(LIMIT, client.request(request))
        .await
        .expect("the server answers in time")
        .expect("the request succeeds");
    let (parts, body) = response.into_parts();
    let body = timeout(LIMIT, body.collect())
        .await
        .expect("the body arrives in time")
        .unwrap()
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// One raw HTTP/1.1 request (`Connection: close`), bytes as given; returns the raw response.
async fn raw(addr: SocketAddr, head: &[u8]) -> String {
    let mut stream = timeout(LIMIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    stream.write_all(head).await.unwrap();
    let mut response = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut response))
        .await
        .expect("the server closes the connection in time")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

#[track_caller]
fn assert_bare_challenge(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.header("www-authenticate"), r#"Bearer realm="api""#);
}

#[tokio::test]
async fn axum_router_with_claims_extractor() {
    let server = spawn_axum(app()).await;
    let client = client();
    let token = hs256(&claims());

    // Valid token: the claims as JSON.
    let reply = send(&client, &server.url("/me"), Some(&token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.header("content-type").starts_with("application/json"));
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body, json!({"sub": "user-1", "email": "a@example.com"}));

    // Missing: the layer's 401 challenge and JSON body.
    let reply = send(&client, &server.url("/me"), None).await;
    assert_bare_challenge(&reply);
    assert_eq!(reply.header("cache-control"), "no-store");
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(body["error"].is_string());

    // Invalid: 401 invalid_token.
    let expired = hs256(&json!({
        "sub": "user-1", "email": "a@example.com", "iss": ISSUER, "aud": AUDIENCE, "exp": now() - 3600
    }));
    let reply = send(&client, &server.url("/me"), Some(&expired)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply
            .header("www-authenticate")
            .contains(r#"error="invalid_token""#)
    );

    // Claims that do not fit the application's type: refused by the layer, not a 500.
    let no_email =
        hs256(&json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 60}));
    let reply = send(&client, &server.url("/me"), Some(&no_email)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply
            .header("www-authenticate")
            .contains(r#"error="invalid_token""#)
    );

    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn axum_optional_layer_and_extractor_rejection() {
    let server = spawn_axum(app()).await;
    let client = client();
    let token = hs256(&claims());

    // Option<Claims<C>>: anonymous without a token, the user with one.
    let reply = send(&client, &server.url("/maybe"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "anonymous");
    let reply = send(&client, &server.url("/maybe"), Some(&token)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "hello user-1");
    // An invalid token is still refused by the optional layer.
    let reply = send(&client, &server.url("/maybe"), Some("abc.def.ghi")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Claims<C> behind the optional layer without a token: the extractor's rejection, a bare challenge.
    let reply = send(&client, &server.url("/strict"), None).await;
    assert_bare_challenge(&reply);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(body["error"].is_string());
    let reply = send(&client, &server.url("/strict"), Some(&token)).await;
    assert_eq!(reply.status, StatusCode::OK);

    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn axum_raw_wire_requests() {
    let server = spawn_axum(app()).await;
    let token = hs256(&claims());
    let host = server.addr;

    let ok = raw(
        host,
        format!("GET /me HTTP/1.1\r\nHost: {host}\r\nAuthorization: bearer   {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(status_line(&ok).contains(" 200 "), "{ok}");
    assert!(ok.contains("a@example.com"));

    // Two Authorization lines on the wire.
    let twice = raw(
        host,
        format!(
            "GET /me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(status_line(&twice).contains(" 400 "), "{twice}");
    assert!(twice.contains("invalid_request"));

    // obs-text in the field.
    let mut head =
        format!("GET /me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer ").into_bytes();
    head.extend_from_slice(b"\xc3\xa9t\xe9\r\nConnection: close\r\n\r\n");
    let obs = raw(host, &head).await;
    assert!(status_line(&obs).contains(" 400 "), "{obs}");

    // A tab after the scheme.
    let tab = raw(
        host,
        format!("GET /me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer\t{token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(status_line(&tab).contains(" 400 "), "{tab}");

    server.stop().await;
}

/// Plain hyper: `http1::Builder` serving a `ServiceBuilder` stack through `TowerToHyperService`.
#[tokio::test]
async fn plain_hyper_server() {
    let auth = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let service = ServiceBuilder::new().layer(auth).service(tower::service_fn(
        |request: Request<Incoming>| async move {
            let sub = request
                .extensions()
                .get::<RegisteredClaims>()
                .and_then(|c| c.sub.clone())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                "hello {sub}"
            )))))
        },
    ));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let (stream, _) = accepted.unwrap();
                    let service = TowerToHyperService::new(service.clone());
                    connections.spawn(async move {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    });
                }
            }
        }
        // The client is gone by now: every connection ends.
        while let Some(result) = connections.join_next().await {
            result.unwrap().unwrap();
        }
    });
    let server = Server {
        addr,
        shutdown,
        task,
    };

    let client = client();
    let token = hs256(&claims());
    let reply = send(&client, &server.url("/"), Some(&token)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "hello user-1");

    let mut bad = token.clone();
    bad.truncate(token.len() - 2);
    bad.push_str("AA");
    let reply = send(&client, &server.url("/"), Some(&bad)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply
            .header("www-authenticate")
            .contains(r#"error="invalid_token""#)
    );
    assert!(!reply.body.contains("hello"));

    let reply = send(&client, &server.url("/"), None).await;
    assert_bare_challenge(&reply);

    drop(client);
    server.stop().await;
}
