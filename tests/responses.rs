//! What refused requests get back (RFC 6750 challenges, JSON bodies, gRPC statuses, 503 for key outages),
//! custom key providers (synchronous refusals and asynchronous lookups), custom error handlers, the
//! `VerifiedHeader` extension and configuration errors.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::source::RequestHead;
use tower_jwt_auth::{
    AuthError, ConfigError, ErrorHandler, InvalidRequest, InvalidToken, JwtAuthBuilder,
    JwtAuthLayer, Key, KeyLookup, KeyProvider, RegisteredClaims, TokenHeader, VerifiedHeader,
};

fn builder() -> JwtAuthBuilder<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

fn layer() -> JwtAuthLayer<RegisteredClaims> {
    builder().build().unwrap()
}

fn get(uri: &str) -> Request<String> {
    Request::get(uri).body(String::new()).unwrap()
}

fn expired() -> String {
    let now = now();
    hs256(
        &json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now - 7200, "exp": now - 3600}),
    )
}

/// The first configuration error of a builder (the layer types have no `Debug` requirement to meet).
fn build_error<C, P, H>(result: Result<JwtAuthLayer<C, P, H>, ConfigError>) -> ConfigError {
    match result {
        Ok(_) => panic!("build() should have failed"),
        Err(error) => error,
    }
}

#[track_caller]
fn json_body(outcome: &Outcome) -> Value {
    serde_json::from_str(&outcome.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", outcome.body))
}

#[track_caller]
fn assert_json_refusal(outcome: &Outcome, error: &str) {
    let body = json_body(outcome);
    assert_eq!(body["error"], error, "body: {}", outcome.body);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "body: {}",
        outcome.body
    );
    assert_eq!(outcome.headers["cache-control"], "no-store");
    assert!(
        outcome.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

// ---------------------------------------------------------------------------------------------------------
// Default responses
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_token_is_a_bare_challenge() {
    let outcome = run(&layer(), get("/me")).await;
    outcome.assert_refused(401, None);
    assert_eq!(outcome.www_authenticate(), r#"Bearer realm="api""#);
    assert_eq!(
        outcome.headers.get_all("www-authenticate").iter().count(),
        1
    );
    assert_json_refusal(&outcome, "unauthorized");
    assert_eq!(
        json_body(&outcome)["error_description"],
        "no bearer token in the request"
    );
}

#[tokio::test]
async fn realm_is_configurable() {
    let layer = builder().realm("my realm").build().unwrap();
    let outcome = run(&layer, get("/me")).await;
    outcome.assert_refused(401, None);
    assert_eq!(outcome.www_authenticate(), r#"Bearer realm="my realm""#);
    let outcome = run(&layer, bearer(&expired())).await;
    outcome.assert_invalid_token();
    assert!(
        outcome
            .www_authenticate()
            .starts_with(r#"Bearer realm="my realm", error="invalid_token""#),
        "{}",
        outcome.www_authenticate()
    );
}

#[test]
fn invalid_realm_is_a_build_error() {
    for realm in ["a\"b", "a\\b", "caf\u{e9}", "line\nbreak", "tab\there"] {
        let error = build_error(builder().realm(realm).build());
        assert!(
            matches!(error, ConfigError::InvalidOption(_)),
            "{realm:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn invalid_token_challenge_has_a_description() {
    let outcome = run(&layer(), bearer(&expired())).await;
    outcome.assert_invalid_token();
    assert_eq!(
        outcome.www_authenticate(),
        r#"Bearer realm="api", error="invalid_token", error_description="the token has expired""#
    );
    assert_json_refusal(&outcome, "invalid_token");
    assert_eq!(
        json_body(&outcome)["error_description"],
        "the token has expired"
    );
}

/// Refused tokens of many kinds: none of them, nor any 8-character piece of any of their segments, may appear
/// anywhere in the response.
#[tokio::test]
async fn refusals_never_echo_the_token() {
    let layer = layer();
    let now = now();
    let good = hs256(&claims());
    let mut bad_signature = good.clone();
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'Q' } else { 'A' });
    let tokens = vec![
        expired(),
        bad_signature,
        hs256(
            &json!({"sub": "user-1", "iss": "https://evil.example.com/issuer-value", "aud": AUDIENCE, "exp": now + 60}),
        ),
        hs256(
            &json!({"sub": "user-1", "iss": ISSUER, "aud": "https://other-audience.example.com", "exp": now + 60}),
        ),
        token(
            Algorithm::HS256,
            &claims(),
            Some("attacker-chosen-kid-<script>alert(1)</script>"),
        ),
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(claims().to_string())
        ),
        sign_raw(
            r#"{"alg":"HS256","typ":"refresh+jwt"}"#,
            &claims().to_string(),
            Algorithm::HS256,
            &signing_key(Algorithm::HS256),
        ),
        sign_raw(
            r#"{"alg":"HS256"}"#,
            r#"{"sub":"user-1","sub":"admin-smuggled-subject","exp":99999999999}"#,
            Algorithm::HS256,
            &signing_key(Algorithm::HS256),
        ),
        "c29tZSBoZWFkZXIgdGhhdCBpcyBub3QganNvbg.c29tZSBwYXlsb2FkIGJ5dGVz.c2lnbmF0dXJlYnl0ZXM"
            .into(),
        token(Algorithm::ES256, &claims(), None),
    ];
    for token in &tokens {
        let outcome = run(&layer, bearer(token)).await;
        assert_eq!(outcome.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(!outcome.reached_inner);
        let mut response_text = outcome.body.clone();
        for (name, value) in &outcome.headers {
            response_text.push_str(name.as_str());
            response_text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        assert!(!response_text.contains(token.as_str()));
        for segment in token.split('.') {
            let segment = segment.as_bytes();
            for window in segment.windows(8) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(
                    !response_text.contains(window),
                    "response leaks {window:?} of {token}: {response_text}"
                );
            }
        }
        for secret in [
            "<script>",
            "attacker-chosen",
            "admin-smuggled",
            "evil.example",
        ] {
            assert!(!response_text.contains(secret), "{response_text}");
        }
    }
}

#[tokio::test]
async fn invalid_request_is_400() {
    let token = hs256(&claims());
    let value = format!("Bearer {token}");
    let request = Request::get("/me")
        .header("authorization", &value)
        .header("authorization", &value)
        .body(String::new())
        .unwrap();
    let outcome = run(&layer(), request).await;
    outcome.assert_refused(400, Some("invalid_request"));
    assert_json_refusal(&outcome, "invalid_request");
    assert!(
        outcome.www_authenticate().contains("error_description="),
        "{}",
        outcome.www_authenticate()
    );
}

#[tokio::test]
async fn failed_claims_check_is_403_insufficient_scope() {
    let layer = builder()
        .check_claims(|_: &RegisteredClaims| false)
        .build()
        .unwrap();
    let outcome = run(&layer, bearer(&hs256(&claims()))).await;
    outcome.assert_refused(403, Some("insufficient_scope"));
    assert_json_refusal(&outcome, "insufficient_scope");
    // An invalid token is still 401, and a missing one a bare 401.
    run(&layer, bearer(&expired())).await.assert_invalid_token();
    run(&layer, get("/me")).await.assert_refused(401, None);
    // The check sees the claims.
    let layer = builder()
        .check_claims(|c: &RegisteredClaims| c.extra.get("email") == Some(&json!("a@example.com")))
        .build()
        .unwrap();
    run(&layer, bearer(&hs256(&claims()))).await.assert_ok();
    let mut other = claims();
    other["email"] = json!("b@example.com");
    run(&layer, bearer(&hs256(&other)))
        .await
        .assert_refused(403, Some("insufficient_scope"));
}

// ---------------------------------------------------------------------------------------------------------
// Custom key providers
// ---------------------------------------------------------------------------------------------------------

/// A provider whose identity provider is down.
#[derive(Debug)]
struct Outage;

impl KeyProvider for Outage {
    type Future = std::future::Ready<Result<Arc<Key>, AuthError>>;

    fn lookup<'a>(&'a self, _: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future> {
        KeyLookup::Refused(AuthError::KeysUnavailable {
            retry_after: Duration::from_secs(7),
        })
    }
}

fn outage_layer() -> JwtAuthLayer<RegisteredClaims, Outage> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Outage)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn keys_unavailable_is_503_with_retry_after() {
    let outcome = run(&outage_layer(), bearer(&hs256(&claims()))).await;
    outcome.assert_refused(503, None);
    assert_eq!(outcome.headers["retry-after"], "7");
    assert!(
        !outcome.headers.contains_key("www-authenticate"),
        "a key outage is no authentication challenge"
    );
    assert_json_refusal(&outcome, "temporarily_unavailable");
    // Without a token there is nothing to look up: still the 401 challenge.
    run(&outage_layer(), get("/me"))
        .await
        .assert_refused(401, None);
}

type KeyFuture = Pin<Box<dyn Future<Output = Result<Arc<Key>, AuthError>> + Send>>;

/// A provider that "fetches" its key: waits, then answers. The `kid` `delay-<ms>` sets the wait.
struct Remote {
    key: Arc<Key>,
    fail: bool,
    lookups: AtomicUsize,
}

impl Remote {
    fn new(key: Key) -> Self {
        Self {
            key: Arc::new(key),
            fail: false,
            lookups: AtomicUsize::new(0),
        }
    }

    fn failing(key: Key) -> Self {
        Self {
            fail: true,
            ..Self::new(key)
        }
    }
}

impl KeyProvider for Remote {
    type Future = KeyFuture;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, KeyFuture> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let delay = header
            .kid()
            .and_then(|kid| kid.strip_prefix("delay-"))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(5);
        let key = Arc::clone(&self.key);
        let fail = self.fail;
        KeyLookup::Pending(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if fail {
                Err(AuthError::KeysUnavailable {
                    retry_after: Duration::from_secs(7),
                })
            } else {
                Ok(key)
            }
        }))
    }
}

fn remote_layer(provider: Remote) -> JwtAuthLayer<RegisteredClaims, Remote> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(provider)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn async_provider_verifies_after_the_lookup() {
    let layer = remote_layer(Remote::new(Key::hs256(SECRET).unwrap()));
    let outcome = run(&layer, bearer(&hs256(&claims()))).await;
    outcome.assert_ok();
    let echoed: Value = serde_json::from_str(&outcome.body).unwrap();
    assert_eq!(echoed["sub"], "user-1");
    assert_eq!(echoed["email"], "a@example.com");
}

#[tokio::test]
async fn async_provider_refuses_a_bad_signature() {
    let layer = remote_layer(Remote::new(Key::hs256([9u8; 32]).unwrap()));
    let outcome = run(&layer, bearer(&hs256(&claims()))).await;
    outcome.assert_invalid_token();
    assert!(
        outcome.www_authenticate().contains("signature"),
        "{}",
        outcome.www_authenticate()
    );
    // Claims problems are found after the lookup too.
    let layer = remote_layer(Remote::new(Key::hs256(SECRET).unwrap()));
    run(&layer, bearer(&expired())).await.assert_invalid_token();
    // And structural problems before it: no lookup for garbage.
    let provider = Remote::new(Key::hs256(SECRET).unwrap());
    let layer = remote_layer(provider);
    run(&layer, bearer("abc.def")).await.assert_invalid_token();
}

#[tokio::test]
async fn async_provider_outage_is_503() {
    let layer = remote_layer(Remote::failing(Key::hs256(SECRET).unwrap()));
    let outcome = run(&layer, bearer(&hs256(&claims()))).await;
    outcome.assert_refused(503, None);
    assert_eq!(outcome.headers["retry-after"], "7");
    assert!(!outcome.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn async_provider_claims_check_is_403() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Remote::new(Key::hs256(SECRET).unwrap()))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check_claims(|_| false)
        .build()
        .unwrap();
    run(&layer, bearer(&hs256(&claims())))
        .await
        .assert_refused(403, Some("insufficient_scope"));
}

/// The inner service: every clone has its own id; records which ids were polled ready, and whether each
/// call was made on an instance that was polled ready (and not yet used).
struct Tracked {
    id: usize,
    shared: Arc<Tracking>,
}

#[derive(Default)]
struct Tracking {
    next_id: AtomicUsize,
    state: Mutex<TrackState>,
}

#[derive(Default)]
struct TrackState {
    ready: HashMap<usize, bool>,
    violations: Vec<String>,
    /// Request paths in the order the inner service was called.
    calls: Vec<String>,
}

impl Tracked {
    fn new() -> Self {
        let shared = Arc::new(Tracking::default());
        Self {
            id: shared.next_id.fetch_add(1, Ordering::SeqCst),
            shared,
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Self {
            id: self.shared.next_id.fetch_add(1, Ordering::SeqCst),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Service<Request<String>> for Tracked {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.shared
            .state
            .lock()
            .unwrap()
            .ready
            .insert(self.id, true);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let mut state = self.shared.state.lock().unwrap();
        if state.ready.remove(&self.id) != Some(true) {
            let violation = format!(
                "instance {} called for {} without poll_ready",
                self.id,
                request.uri()
            );
            state.violations.push(violation);
        }
        state.calls.push(request.uri().path().to_owned());
        let sub = request
            .extensions()
            .get::<RegisteredClaims>()
            .and_then(|c| c.sub.clone())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(sub)))
    }
}

async fn status_and_body<B>(response: Response<B>) -> (StatusCode, String)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, String::from_utf8_lossy(&bytes).into_owned())
}

/// With an asynchronous lookup, the request must be sent to the very instance that was polled ready, even
/// when several requests go through the same handle and their lookups finish out of order.
#[tokio::test]
async fn async_provider_calls_the_instance_polled_ready() {
    let layer = remote_layer(Remote::new(Key::hs256(SECRET).unwrap()));
    let inner = Tracked::new();
    let tracking = Arc::clone(&inner.shared);
    let mut service = layer.layer(inner);
    let delays = [60u64, 5, 35, 15];
    let mut futures = Vec::new();
    for (i, delay) in delays.iter().enumerate() {
        let token = token(Algorithm::HS256, &claims(), Some(&format!("delay-{delay}")));
        let request = Request::get(format!("/r{i}"))
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap();
        ServiceExt::<Request<String>>::ready(&mut service)
            .await
            .unwrap();
        futures.push(service.call(request));
    }
    // A synchronous refusal in between (no lookup) must not disturb anything either.
    ServiceExt::<Request<String>>::ready(&mut service)
        .await
        .unwrap();
    let refused = service.call(get("/refused"));
    let mut futures = futures.into_iter();
    let (a, b, c, d, e) = tokio::join!(
        futures.next().unwrap(),
        futures.next().unwrap(),
        futures.next().unwrap(),
        futures.next().unwrap(),
        refused,
    );
    for response in [a, b, c, d] {
        let (status, body) = status_and_body(response.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "user-1");
    }
    assert_eq!(
        status_and_body(e.unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let state = tracking.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    // The timers normally fire in the order r1, r3, r2, r0; under load several may fire together, so the
    // exact order is asserted by the gated test below.
    let mut calls = state.calls.clone();
    calls.sort();
    assert_eq!(calls, ["/r0", "/r1", "/r2", "/r3"]);
}

/// A provider whose lookups finish when the test says so: the `kid` `gate-<i>` waits for gate `i`.
struct Gated {
    key: Arc<Key>,
    gates: Mutex<HashMap<String, tokio::sync::oneshot::Receiver<()>>>,
}

impl KeyProvider for Gated {
    type Future = KeyFuture;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, KeyFuture> {
        let gate = header
            .kid()
            .and_then(|kid| self.gates.lock().unwrap().remove(kid));
        let key = Arc::clone(&self.key);
        KeyLookup::Pending(Box::pin(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            Ok(key)
        }))
    }
}

/// Deterministic version: four requests through one handle (ready, call, ready, call, ...), their lookups
/// released in the order 2, 0, 3, 1; each request must reach the inner service on an instance polled ready,
/// in the release order.
#[tokio::test]
async fn async_provider_out_of_order_completion_is_deterministic() {
    let mut senders = Vec::new();
    let mut gates = HashMap::new();
    for i in 0..4 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        senders.push(Some(tx));
        gates.insert(format!("gate-{i}"), rx);
    }
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Gated {
            key: Arc::new(Key::hs256(SECRET).unwrap()),
            gates: Mutex::new(gates),
        })
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let inner = Tracked::new();
    let tracking = Arc::clone(&inner.shared);
    let mut service = layer.layer(inner);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let token = token(Algorithm::HS256, &claims(), Some(&format!("gate-{i}")));
        let request = Request::get(format!("/g{i}"))
            .header("authorization", format!("Bearer {token}"))
            .body(String::new())
            .unwrap();
        ServiceExt::<Request<String>>::ready(&mut service)
            .await
            .unwrap();
        let future = service.call(request);
        tasks.push(tokio::spawn(async move {
            let response = future.await.unwrap();
            status_and_body(response).await
        }));
    }
    let calls = || tracking.state.lock().unwrap().calls.len();
    assert_eq!(
        calls(),
        0,
        "nothing reaches the inner service before its key"
    );
    for (released, gate) in [2usize, 0, 3, 1].into_iter().enumerate() {
        senders[gate].take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while calls() < released + 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the released request reaches the inner service");
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), (StatusCode::OK, "user-1".to_owned()));
    }
    let state = tracking.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert_eq!(state.calls, ["/g2", "/g0", "/g3", "/g1"]);
}

/// The same discipline with static keys (no lookup future): call right after ready, on the same handle.
#[tokio::test]
async fn static_keys_call_the_instance_polled_ready() {
    let inner = Tracked::new();
    let tracking = Arc::clone(&inner.shared);
    let mut service = layer().layer(inner);
    for i in 0..3 {
        let request = Request::get(format!("/s{i}"))
            .header("authorization", format!("Bearer {}", hs256(&claims())))
            .body(String::new())
            .unwrap();
        let response = ServiceExt::<Request<String>>::ready(&mut service)
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let state = tracking.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert_eq!(state.calls.len(), 3);
}

// ---------------------------------------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------------------------------------

fn grpc(content_type: &str, token: Option<&str>) -> Request<String> {
    let mut request = Request::post("/pkg.Service/Method")
        .header("content-type", content_type)
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(String::new()).unwrap()
}

#[track_caller]
fn assert_grpc(outcome: &Outcome, content_type: &str, code: &str) {
    assert_eq!(outcome.status, StatusCode::OK, "gRPC refusals are HTTP 200");
    assert!(!outcome.reached_inner);
    // The request's gRPC content type is answered in kind, and never cached.
    assert_eq!(outcome.headers["content-type"], content_type);
    assert_eq!(outcome.headers["cache-control"], "no-store");
    assert_eq!(outcome.headers["grpc-status"], code);
    assert!(
        !outcome.headers["grpc-message"].is_empty(),
        "a grpc-message is expected"
    );
    assert_eq!(outcome.body, "", "trailers-only response");
}

#[tokio::test]
async fn grpc_unauthenticated() {
    let layer = layer();
    for content_type in ["application/grpc", "application/grpc+proto"] {
        assert_grpc(
            &run(&layer, grpc(content_type, None)).await,
            content_type,
            "16",
        );
        assert_grpc(
            &run(&layer, grpc(content_type, Some(&expired()))).await,
            content_type,
            "16",
        );
        assert_grpc(
            &run(&layer, grpc(content_type, Some("abc.def.ghi"))).await,
            content_type,
            "16",
        );
        let mut twice = grpc(content_type, Some("abc.def.ghi"));
        let field = twice.headers()["authorization"].clone();
        twice.headers_mut().append("authorization", field);
        assert_grpc(&run(&layer, twice).await, content_type, "16");
    }
}

#[tokio::test]
async fn grpc_permission_denied() {
    let layer = builder().check_claims(|_| false).build().unwrap();
    for content_type in ["application/grpc", "application/grpc+proto"] {
        let outcome = run(&layer, grpc(content_type, Some(&hs256(&claims())))).await;
        assert_grpc(&outcome, content_type, "7");
    }
}

#[tokio::test]
async fn grpc_unavailable() {
    for content_type in ["application/grpc", "application/grpc+proto"] {
        let outcome = run(&outage_layer(), grpc(content_type, Some(&hs256(&claims())))).await;
        assert_grpc(&outcome, content_type, "14");
        let layer = remote_layer(Remote::failing(Key::hs256(SECRET).unwrap()));
        let outcome = run(&layer, grpc(content_type, Some(&hs256(&claims())))).await;
        assert_grpc(&outcome, content_type, "14");
    }
}

#[tokio::test]
async fn grpc_valid_token_reaches_the_service() {
    let outcome = run(&layer(), grpc("application/grpc", Some(&hs256(&claims())))).await;
    outcome.assert_ok();
}

// ---------------------------------------------------------------------------------------------------------
// Custom error handlers
// ---------------------------------------------------------------------------------------------------------

fn custom_response(prefix: &str, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::IM_A_TEAPOT)
        .header("x-refused-path", request.uri.path())
        .header("x-original-status", error.status().as_u16())
        .body(Bytes::from(format!("{prefix}: {error}")))
        .unwrap()
}

#[tokio::test]
async fn closure_error_handler() {
    let seen: Arc<Mutex<Vec<AuthError>>> = Arc::default();
    let record = Arc::clone(&seen);
    let handler = move |error: &AuthError, request: &RequestHead<'_>| -> Response<Bytes> {
        record.lock().unwrap().push(error.clone());
        custom_response("closure", error, request)
    };
    let layer = builder()
        .error_handler(handler)
        .check_claims(|c: &RegisteredClaims| c.sub.as_deref() == Some("user-1"))
        .build()
        .unwrap();
    let mut other = claims();
    other["sub"] = json!("user-2");
    let token = hs256(&claims());
    let bad_signature = format!("{}x", &token[..token.len() - 1]);
    let two_fields = Request::get("/two")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    let cases: Vec<(Request<String>, AuthError, u16)> = vec![
        (get("/missing"), AuthError::MissingToken, 401),
        (
            bearer(&expired()),
            AuthError::InvalidToken(InvalidToken::Expired),
            401,
        ),
        (
            bearer(&bad_signature),
            AuthError::InvalidToken(InvalidToken::BadSignature),
            401,
        ),
        (
            two_fields,
            AuthError::InvalidRequest(InvalidRequest::RepeatedCredentials),
            400,
        ),
        (bearer(&hs256(&other)), AuthError::InsufficientScope, 403),
    ];
    for (request, expected, status) in cases {
        let path = request.uri().path().to_owned();
        let outcome = run(&layer, request).await;
        assert_eq!(outcome.status, StatusCode::IM_A_TEAPOT);
        assert!(!outcome.reached_inner);
        assert_eq!(outcome.headers["x-refused-path"], path.as_str());
        assert_eq!(
            outcome.headers["x-original-status"],
            status.to_string().as_str()
        );
        assert_eq!(outcome.body, format!("closure: {expected}"));
        assert!(!outcome.headers.contains_key("www-authenticate"));
        assert_eq!(seen.lock().unwrap().pop(), Some(expected));
    }
    // Accepted requests never reach the handler.
    run(&layer, bearer(&token)).await.assert_ok();
    assert!(seen.lock().unwrap().is_empty());
}

struct Teapot {
    prefix: &'static str,
    seen: Arc<Mutex<Vec<AuthError>>>,
}

impl ErrorHandler for Teapot {
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        self.seen.lock().unwrap().push(error.clone());
        custom_response(self.prefix, error, request)
    }
}

#[tokio::test]
async fn struct_error_handler() {
    let seen: Arc<Mutex<Vec<AuthError>>> = Arc::default();
    let layer = builder()
        .error_handler(Teapot {
            prefix: "teapot",
            seen: Arc::clone(&seen),
        })
        .build()
        .unwrap();
    let outcome = run(&layer, bearer("abc.def")).await;
    assert_eq!(outcome.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [AuthError::InvalidToken(InvalidToken::Malformed)]
    );
    assert!(outcome.body.starts_with("teapot: "));
    // The handler also renders refusals that come out of an asynchronous lookup.
    let seen: Arc<Mutex<Vec<AuthError>>> = Arc::default();
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Remote::failing(Key::hs256(SECRET).unwrap()))
        .error_handler(Teapot {
            prefix: "async",
            seen: Arc::clone(&seen),
        })
        .build()
        .unwrap();
    let outcome = run(&layer, bearer(&hs256(&claims()))).await;
    assert_eq!(outcome.status, StatusCode::IM_A_TEAPOT);
    assert!(!outcome.reached_inner);
    assert!(matches!(
        seen.lock().unwrap().as_slice(),
        [AuthError::KeysUnavailable { retry_after }] if *retry_after == Duration::from_secs(7)
    ));
}

// ---------------------------------------------------------------------------------------------------------
// VerifiedHeader
// ---------------------------------------------------------------------------------------------------------

/// Runs `request` through `layer` in front of a service that answers with what it found in the extensions.
async fn header_echo(
    layer: &JwtAuthLayer<RegisteredClaims>,
    request: Request<String>,
) -> (StatusCode, Value) {
    let service = layer.layer(tower::service_fn(|request: Request<String>| async move {
        let header = request.extensions().get::<VerifiedHeader>();
        let claims = request.extensions().get::<RegisteredClaims>();
        let body = json!({
            "alg": header.map(|h| format!("{:?}", h.alg())),
            "kid": header.and_then(|h| h.kid()),
            "typ": header.and_then(|h| h.typ()),
            "sub": claims.and_then(|c| c.sub.clone()),
        });
        Ok::<_, Infallible>(Response::new(body.to_string()))
    }));
    let response = service.oneshot(request).await.unwrap();
    let (status, body) = status_and_body(response).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn verified_header_beside_the_claims() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .keys([
            Key::hs256(SECRET).unwrap().with_kid("k1"),
            Key::from_pem(Algorithm::ES256, key_file("ec256_public.pem"))
                .unwrap()
                .with_kid("ec-1"),
        ])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .verified_header()
        .build()
        .unwrap();
    let hs256 = token(Algorithm::HS256, &claims(), Some("k1"));
    // Verified, then served from the cache: the header either way.
    for _ in 0..2 {
        let (status, body) = header_echo(&layer, bearer(&hs256)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["alg"], "HS256");
        assert_eq!(body["kid"], "k1");
        assert_eq!(body["typ"], "JWT");
        assert_eq!(body["sub"], "user-1");
    }

    let (status, body) = header_echo(
        &layer,
        bearer(&token(Algorithm::ES256, &claims(), Some("ec-1"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["alg"], "ES256");
    assert_eq!(body["kid"], "ec-1");

    // A key without kid, a token without typ.
    let token = sign_raw(
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
        Algorithm::HS256,
        &signing_key(Algorithm::HS256),
    );
    let (status, body) = header_echo(&layer_without_kid(), bearer(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["alg"], "HS256");
    assert_eq!(body["kid"], Value::Null);
    assert_eq!(body["typ"], Value::Null);
}

fn layer_without_kid() -> JwtAuthLayer<RegisteredClaims> {
    builder().verified_header().build().unwrap()
}

#[tokio::test]
async fn no_verified_header_unless_asked() {
    let token = hs256(&claims());
    for layer in [layer(), builder().no_cache().build().unwrap()] {
        for _ in 0..2 {
            let (status, body) = header_echo(&layer, bearer(&token)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["sub"], "user-1");
            assert_eq!(body["alg"], Value::Null, "{body}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------------------

#[test]
fn footguns_are_build_errors() {
    let invalid = |result: Result<JwtAuthLayer<RegisteredClaims>, ConfigError>, what: &str| {
        let error = build_error(result);
        assert!(
            matches!(error, ConfigError::InvalidOption(_)),
            "{what}: {error:?}"
        );
    };
    invalid(builder().required_typ(" ").build(), "empty required typ");
    invalid(builder().max_token_len(10).build(), "tiny token cap");
    invalid(
        builder().max_lifetime(Duration::ZERO).build(),
        "zero lifetime",
    );
    invalid(
        builder().header(http::header::AUTHORIZATION).build(),
        "Authorization as a bare header source",
    );
    invalid(
        JwtAuthLayer::<RegisteredClaims>::builder()
            .key(Key::hs256(SECRET).unwrap())
            .key(Key::hs256([9u8; 32]).unwrap())
            .build(),
        "two keys without kids",
    );
    // Keys added before switching to a provider would be silently unused.
    let error = build_error(
        JwtAuthLayer::<RegisteredClaims>::builder()
            .key(Key::hs256(SECRET).unwrap())
            .provider(Remote::new(Key::hs256(SECRET).unwrap()))
            .build(),
    );
    assert!(matches!(error, ConfigError::InvalidOption(_)), "{error:?}");
}

#[tokio::test]
async fn require_claim_sub_overrides_require_sub_false() {
    let layer = builder()
        .require_sub(false)
        .require_claim("sub")
        .build()
        .unwrap();
    let mut no_sub = claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    run(&layer, bearer(&hs256(&no_sub)))
        .await
        .assert_invalid_token();
    let layer = builder().require_sub(false).build().unwrap();
    run(&layer, bearer(&hs256(&no_sub))).await.assert_ok();
}

#[tokio::test]
async fn claims_checks_compose() {
    let layer = builder()
        .check_claims(|c: &RegisteredClaims| c.sub.is_some())
        .check_claims(|c: &RegisteredClaims| {
            c.extra.get("email").is_some_and(|e| e == "a@example.com")
        })
        .build()
        .unwrap();
    run(&layer, bearer(&hs256(&claims()))).await.assert_ok();
    let mut other = claims();
    other["email"] = "b@example.com".into();
    run(&layer, bearer(&hs256(&other)))
        .await
        .assert_refused(403, Some("insufficient_scope"));
    // A later permissive check does not undo an earlier refusal.
    let layer = builder()
        .check_claims(|_| false)
        .check_claims(|_| true)
        .build()
        .unwrap();
    run(&layer, bearer(&hs256(&claims())))
        .await
        .assert_refused(403, Some("insufficient_scope"));
}

#[tokio::test]
async fn async_provider_answering_with_another_kid_is_refused() {
    // A buggy provider returns the key of "other" for any kid: the layer notices.
    let key = Key::hs256(SECRET).unwrap().with_kid("other");
    let layer = remote_layer(Remote::new(key));
    let token = token(Algorithm::HS256, &claims(), Some("delay-1"));
    run(&layer, bearer(&token)).await.assert_invalid_token();
    let token = crate::token(Algorithm::HS256, &claims(), Some("other"));
    run(&layer, bearer(&token)).await.assert_ok();
}

#[test]
fn build_errors_surface_at_build() {
    let error = build_error(JwtAuthLayer::<RegisteredClaims>::builder().build());
    assert_eq!(error, ConfigError::NoKeys);
    let error = build_error(
        JwtAuthLayer::<RegisteredClaims>::builder()
            .keys(Vec::new())
            .issuer(ISSUER)
            .build(),
    );
    assert_eq!(error, ConfigError::NoKeys);

    assert_eq!(
        Key::hs256(b"too short").unwrap_err(),
        ConfigError::SecretTooShort {
            alg: Algorithm::HS256,
            min: 32,
            got: 9
        }
    );
    assert!(matches!(
        Key::hs512(SECRET).unwrap_err(),
        ConfigError::SecretTooShort {
            min: 64,
            got: 32,
            ..
        }
    ));

    let error = build_error(builder().leeway(Duration::from_secs(301)).build());
    assert!(matches!(error, ConfigError::InvalidOption(_)), "{error:?}");
    assert!(builder().leeway(Duration::from_secs(300)).build().is_ok());

    let error = build_error(
        JwtAuthLayer::<RegisteredClaims>::builder()
            .key(Key::hs256(SECRET).unwrap())
            .issuer("")
            .build(),
    );
    assert!(matches!(error, ConfigError::InvalidOption(_)), "{error:?}");

    let error = build_error(builder().audience("").build());
    assert!(matches!(error, ConfigError::InvalidOption(_)), "{error:?}");

    for claim in ["aud", "iss", "email", "", "NBF"] {
        let error = build_error(builder().require_claim(claim).build());
        assert!(
            matches!(error, ConfigError::InvalidOption(_)),
            "{claim:?}: {error:?}"
        );
    }
    for claim in ["nbf", "iat", "jti", "exp", "sub"] {
        assert!(builder().require_claim(claim).build().is_ok(), "{claim}");
    }

    // The first error wins and is not hidden by later valid options.
    let error = build_error(
        builder()
            .leeway(Duration::from_secs(3600))
            .require_claim("aud")
            .leeway(Duration::from_secs(1))
            .build(),
    );
    assert!(
        matches!(&error, ConfigError::InvalidOption(m) if m.contains("leeway")),
        "{error:?}"
    );
}
