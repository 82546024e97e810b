//! Interop with a real Better Auth server: npm `better-auth` at the version pinned in
//! `tests/interop/better-auth/package.json` (memory adapter, plugins `jwt()` and `bearer()`), run by
//! `tests/interop/better-auth/server.mjs` on 127.0.0.1.
//!
//! Each test signs up and signs in a user over HTTP, takes the tokens Better Auth hands out, and presents
//! them to `examples/resource_server` (a real process) and to the layer in-process.
//!
//! Needs node and the npm packages: `tests/interop/better-auth/install.sh`, then
//! `cargo test --test interop_better_auth -- --include-ignored`.
//!
//! Every child process (node, the example, cargo) is killed by a guard when its test ends, and every wait
//! is bounded.

#[path = "support/example_process.rs"]
mod example_process;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use example_process::{ChildGuard, HttpResponse, Running};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::better_auth::{BetterAuthSession, BetterAuthUser};
use tower_jwt_auth::{JwtAuthLayer, Key, ResponseBody};

/// How long node may take to print its address.
const NODE_START: Duration = Duration::from_secs(30);
/// How long the example may take to start listening.
const EXAMPLE_START: Duration = Duration::from_secs(15);
/// One HTTP exchange (RSA key generation in node happens inside one).
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The secret of every Better Auth server here (also the HS256 key of its `jwt` cookie cache).
const SECRET: &str = "interop-test-secret-0123456789-abcdefghijklmnop";
const PASSWORD: &str = "correct horse battery staple";
const SESSION_DATA: &str = "better-auth.session_data";

// ---------------------------------------------------------------------------------------------------------
// The node harness.

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/better-auth")
}

/// The installed better-auth, checked against the pinned version; a clear message when missing.
fn check_installed() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let dir = harness_dir();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("package.json")).unwrap()).unwrap();
        let pinned = manifest["dependencies"]["better-auth"]
            .as_str()
            .expect("better-auth in package.json")
            .to_owned();
        let installed = std::fs::read(dir.join("node_modules/better-auth/package.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|package| package["version"].as_str().map(str::to_owned));
        match installed {
            Some(version) if version == pinned => version,
            Some(version) => panic!(
                "better-auth {version} is installed in {}, {pinned} is pinned: run tests/interop/better-auth/install.sh",
                dir.display()
            ),
            None => panic!(
                "the npm packages are not installed in {}: run tests/interop/better-auth/install.sh (needs node 20+ and npm)",
                dir.display()
            ),
        }
    })
}

/// A Better Auth server (node), killed when dropped.
struct BetterAuth {
    /// The base URL and origin, `http://127.0.0.1:PORT`.
    url: String,
    // Field order: stdin closes first (the script exits on its end), then the guard kills.
    _stdin: ChildStdin,
    process: ChildGuard,
}

impl BetterAuth {
    /// Starts `server.mjs` with these settings (see the script) and waits for its address.
    fn start(settings: &[(&str, &str)]) -> Self {
        check_installed();
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
        let mut command = Command::new(&node);
        command
            .arg("server.mjs")
            .current_dir(harness_dir())
            .env_remove("BA_ALG")
            .env_remove("BA_ROTATION_INTERVAL")
            .env_remove("BA_GRACE_PERIOD")
            .env_remove("BA_COOKIE_CACHE")
            .env_remove("BETTER_AUTH_URL")
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("BETTER_AUTH_TELEMETRY", "0")
            .env("NODE_ENV", "test")
            .envs(settings.iter().copied());
        let (mut process, stdin) = ChildGuard::spawn_with_stdin(&mut command);
        // The first line on stdout is the address; the rest is drained.
        let deadline = Instant::now() + NODE_START;
        let line = loop {
            if let Some((line, _)) = process.stdout().split_once('\n') {
                break line.to_owned();
            }
            if Instant::now() >= deadline || process.exited().is_some() {
                let (_, stderr) = process.finish();
                panic!("server.mjs printed no address within {NODE_START:?}:\n{stderr}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let announced: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("server.mjs said {line:?} ({e})"));
        let url = announced["listening"]
            .as_str()
            .expect("listening")
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self {
            url,
            _stdin: stdin,
            process,
        }
    }

    fn uri(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// How many times `/api/auth/jwks` was requested (the script's test-only counter).
    async fn jwks_requests(&self, http: &Http) -> u64 {
        let response = http.get(&self.uri("/__test/jwks-requests"), &[]).await;
        assert_eq!(response.status, 200, "{response:?}");
        response.json()["count"].as_u64().expect("count")
    }

    /// Signs up a user and signs them in with a fresh cookie jar: the account and its session.
    async fn sign_up_and_in(&self, http: &Http, email: &str, name: &str) -> Account {
        let mut signup_jar = Jar::default();
        let response = http
            .post_json(
                &self.uri("/api/auth/sign-up/email"),
                &self.url,
                &signup_jar,
                json!({"email": email, "password": PASSWORD, "name": name}),
            )
            .await;
        assert_eq!(response.status, 200, "sign-up: {response:?}");
        signup_jar.absorb(&response);
        let user = response.json()["user"].clone();
        let id = user["id"].as_str().expect("user.id").to_owned();
        assert_eq!(user["email"], email);

        let mut jar = Jar::default();
        let response = http
            .post_json(
                &self.uri("/api/auth/sign-in/email"),
                &self.url,
                &jar,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status, 200, "sign-in: {response:?}");
        jar.absorb(&response);
        assert_eq!(response.json()["user"]["id"], id.as_str());
        // The bearer plugin hands the session token out in a header.
        let session_token = response
            .header("set-auth-token")
            .unwrap_or_else(|| panic!("no set-auth-token: {response:?}"))
            .to_owned();
        assert!(
            jar.get("better-auth.session_token").is_some(),
            "no session cookie: {response:?}"
        );
        Account {
            id,
            email: email.to_owned(),
            session_token,
            jar,
        }
    }

    /// `GET /api/auth/token` with the session token as a Bearer credential (bearer plugin).
    async fn token(&self, http: &Http, account: &Account) -> String {
        let response = http
            .get(
                &self.uri("/api/auth/token"),
                &[(
                    "authorization",
                    &format!("Bearer {}", account.session_token),
                )],
            )
            .await;
        assert_eq!(response.status, 200, "/api/auth/token: {response:?}");
        response.json()["token"].as_str().expect("token").to_owned()
    }

    /// `GET /api/auth/get-session` with the session cookie: the response (its `set-auth-jwt` header is
    /// the JWT plugin's token; with a cookie cache, it renews `better-auth.session_data`).
    async fn get_session(&self, http: &Http, jar: &mut Jar) -> HttpResponse {
        let response = http
            .get(
                &self.uri("/api/auth/get-session"),
                &[("cookie", &jar.header())],
            )
            .await;
        assert_eq!(response.status, 200, "/api/auth/get-session: {response:?}");
        jar.absorb(&response);
        response
    }
}

impl Drop for BetterAuth {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "--- server.mjs ({}) stderr ---\n{}",
                self.url,
                self.process.stderr()
            );
        }
    }
}

/// A signed-in user.
struct Account {
    id: String,
    email: String,
    session_token: String,
    jar: Jar,
}

// ---------------------------------------------------------------------------------------------------------
// HTTP: a hyper-util client, bounded by a timeout, and a cookie jar.

impl HttpResponse {
    /// 200 with JSON claims.
    #[track_caller]
    fn claims(&self) -> Value {
        assert_eq!(self.status, 200, "{self:#?}");
        self.json()
    }

    /// 401 `invalid_token`.
    #[track_caller]
    fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "{self:#?}");
        let challenge = self.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{self:#?}"
        );
    }
}

struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> HttpResponse {
        let what = format!("{} {}", request.method(), request.uri());
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .to_bytes();
            HttpResponse {
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        };
        tokio::time::timeout(HTTP_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {HTTP_TIMEOUT:?}"))
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Full::default()).unwrap()).await
    }

    /// A JSON POST from the app's own origin (Better Auth checks `Origin` on requests with cookies).
    async fn post_json(&self, uri: &str, origin: &str, jar: &Jar, body: Value) -> HttpResponse {
        let mut request = Request::post(uri)
            .header("content-type", "application/json")
            .header("origin", origin);
        if !jar.is_empty() {
            request = request.header("cookie", jar.header());
        }
        let body = Full::new(Bytes::from(body.to_string()));
        self.send(request.body(body).unwrap()).await
    }
}

/// Cookies by name, as a browser keeps them for one site (expiry by `Max-Age=0` only).
#[derive(Debug, Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, response: &HttpResponse) {
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let mut parts = value.split(';');
            let (cookie, content) = parts
                .next()
                .and_then(|pair| pair.split_once('='))
                .unwrap_or_else(|| panic!("set-cookie {value:?}"));
            let expired = parts.any(|attribute| {
                attribute
                    .trim()
                    .to_ascii_lowercase()
                    .strip_prefix("max-age=")
                    .is_some_and(|age| age.parse::<i64>().is_ok_and(|age| age <= 0))
            });
            if expired || content.is_empty() {
                self.0.remove(cookie.trim());
            } else {
                self.0.insert(cookie.trim().to_owned(), content.to_owned());
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The jar with the cookie `name` replaced.
    fn with(&self, name: &str, value: &str) -> Self {
        let mut jar = self.clone();
        jar.0.insert(name.to_owned(), value.to_owned());
        jar
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tokens.

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The header and the payload of a compact JWS.
fn parts(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let header = decode_part(segments.next().unwrap());
    let payload = decode_part(segments.next().expect("payload"));
    assert_eq!(segments.count(), 1, "three segments: {token}");
    (header, payload)
}

fn kid(token: &str) -> String {
    parts(token).0["kid"].as_str().expect("kid").to_owned()
}

/// The same token with one signature byte changed.
fn tampered(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    let middle = signature.len() / 2;
    signature[middle] ^= 0x01;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn keys_of(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// A JWT-plugin token as Better Auth 1.7 writes it: header `{alg, kid}` (no `typ`), `iss` = `aud` = the
/// base URL's origin, 15 minutes, and the user.
#[track_caller]
fn assert_plugin_token(token: &str, alg: &str, server: &BetterAuth, account: &Account) {
    let (header, payload) = parts(token);
    assert_eq!(keys_of(&header), BTreeSet::from(["alg", "kid"]), "{header}");
    assert_eq!(header["alg"], alg, "{header}");
    assert_eq!(payload["iss"], server.url.as_str(), "{payload}");
    assert_eq!(payload["aud"], server.url.as_str(), "{payload}");
    assert_eq!(payload["sub"], account.id.as_str(), "{payload}");
    assert_eq!(payload["id"], account.id.as_str(), "{payload}");
    assert_eq!(payload["email"], account.email.as_str(), "{payload}");
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 15 * 60, "{payload}");
}

// ---------------------------------------------------------------------------------------------------------
// examples/resource_server as a process.

/// Built once per test binary; its settings (`JWT_*`, `BETTER_AUTH_*`) never come from the test's own
/// environment.
fn resource_server() -> &'static example_process::Example {
    static EXAMPLE: OnceLock<example_process::Example> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        example_process::Example::build("resource_server", &["JWT_*", "BETTER_AUTH_*"])
            .with_start_timeout(EXAMPLE_START)
    })
}

/// The example, accepting connections; killed when dropped.
struct Example {
    url: String,
    _process: Running,
}

impl Example {
    /// Starts the example with exactly these settings (the environment's own are removed).
    fn start(settings: &[(&str, &str)]) -> Self {
        let process = resource_server().start(settings);
        Self {
            url: format!("http://{}", process.addr),
            _process: process,
        }
    }

    async fn me_bearer(&self, http: &Http, token: &str) -> HttpResponse {
        let authorization = format!("Bearer {token}");
        http.get(
            &format!("{}/me", self.url),
            &[("authorization", &authorization)],
        )
        .await
    }

    async fn me_cookies(&self, http: &Http, jar: &Jar) -> HttpResponse {
        http.get(&format!("{}/me", self.url), &[("cookie", &jar.header())])
            .await
    }
}

// ---------------------------------------------------------------------------------------------------------
// The layer in-process, in front of a service that keeps the claims it received.

#[derive(Clone)]
struct Capture<C> {
    seen: Arc<Mutex<Option<C>>>,
}

impl<C: Clone + Send + Sync + 'static> Service<Request<String>> for Capture<C> {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        *self.seen.lock().unwrap() = request.extensions().get::<C>().cloned();
        std::future::ready(Ok(Response::new(String::new())))
    }
}

/// The status, the `WWW-Authenticate` challenge, and the claims the inner service received.
async fn through<C, P>(
    layer: &JwtAuthLayer<C, P>,
    request: Request<String>,
) -> (StatusCode, String, Option<C>)
where
    C: Clone + Send + Sync + 'static,
    JwtAuthLayer<C, P>: Layer<Capture<C>>,
    <JwtAuthLayer<C, P> as Layer<Capture<C>>>::Service:
        Service<Request<String>, Response = Response<ResponseBody<String>>, Error = Infallible>,
{
    let seen = Arc::new(Mutex::new(None));
    let service = layer.layer(Capture {
        seen: Arc::clone(&seen),
    });
    let response = tokio::time::timeout(HTTP_TIMEOUT, service.oneshot(request))
        .await
        .expect("the layer answers in time")
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let claims = seen.lock().unwrap().take();
    (response.status(), challenge, claims)
}

fn with_bearer(token: &str) -> Request<String> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

fn with_cookies(jar: &Jar) -> Request<String> {
    Request::get("/me")
        .header("cookie", jar.header())
        .body(String::new())
        .unwrap()
}

#[track_caller]
fn assert_accepted<C>(outcome: (StatusCode, String, Option<C>)) -> C {
    assert_eq!(outcome.0, StatusCode::OK, "{}", outcome.1);
    outcome.2.expect("the claims reached the service")
}

#[track_caller]
fn assert_refused_invalid<C>(outcome: (StatusCode, String, Option<C>)) {
    assert_eq!(outcome.0, StatusCode::UNAUTHORIZED);
    assert!(
        outcome.1.contains("error=\"invalid_token\""),
        "{:?}",
        outcome.1
    );
    assert!(outcome.2.is_none(), "a refused request reached the service");
}

// ---------------------------------------------------------------------------------------------------------
// JWT plugin: one case per key configuration.

/// Signs in, takes a token from `/api/auth/token` and one from `set-auth-jwt`, and presents both (and
/// each with a signature byte changed) to the example and to the layer in-process.
async fn jwt_plugin_case(alg: Option<&str>) {
    let expected_alg = alg.unwrap_or("EdDSA");
    let settings: Vec<(&str, &str)> = alg.map(|a| ("BA_ALG", a)).into_iter().collect();
    let server = BetterAuth::start(&settings);
    let http = Http::new();
    let mut account = server
        .sign_up_and_in(&http, "ada@example.com", "Ada Lovelace")
        .await;

    let from_endpoint = server.token(&http, &account).await;
    let mut jar = account.jar.clone();
    let session = server.get_session(&http, &mut jar).await;
    account.jar = jar;
    assert_eq!(session.json()["user"]["id"], account.id.as_str());
    let from_header = session
        .header("set-auth-jwt")
        .unwrap_or_else(|| panic!("no set-auth-jwt: {session:?}"))
        .to_owned();
    for token in [&from_endpoint, &from_header] {
        assert_plugin_token(token, expected_alg, &server, &account);
    }
    // One signing key (within the same second the two tokens are even byte-identical: same claims,
    // same `iat`, and EdDSA signatures are deterministic).
    assert_eq!(kid(&from_endpoint), kid(&from_header), "one signing key");

    // Better Auth publishes that key with its algorithm.
    let jwks = http.get(&server.uri("/api/auth/jwks"), &[]).await.json();
    let published = jwks["keys"].as_array().expect("keys");
    assert_eq!(published.len(), 1, "{jwks}");
    assert_eq!(published[0]["kid"], kid(&from_endpoint).as_str());
    assert_eq!(published[0]["alg"], expected_alg, "{jwks}");

    // The example, configured with BETTER_AUTH_URL.
    let example = Example::start(&[("BETTER_AUTH_URL", &server.url)]);
    for token in [&from_endpoint, &from_header] {
        let claims = example.me_bearer(&http, token).await.claims();
        assert_eq!(claims["sub"], account.id.as_str(), "{claims}");
        assert_eq!(claims["id"], account.id.as_str(), "{claims}");
        assert_eq!(claims["email"], account.email.as_str(), "{claims}");
        assert_eq!(claims["iss"], server.url.as_str(), "{claims}");
        example
            .me_bearer(&http, &tampered(token))
            .await
            .assert_invalid_token();
    }

    // The layer in-process, typed.
    let layer = JwtAuthLayer::<BetterAuthUser>::better_auth(&server.url)
        .unwrap()
        .build()
        .unwrap();
    for token in [&from_endpoint, &from_header] {
        let user = assert_accepted(through(&layer, with_bearer(token)).await);
        assert_eq!(
            (user.sub.as_str(), user.id.as_str(), user.email.as_str()),
            (account.id.as_str(), account.id.as_str(), "ada@example.com")
        );
        assert_eq!(user.name, "Ada Lovelace");
        assert!(!user.email_verified);
        assert!(user.created_at.is_some());
        assert_refused_invalid(through(&layer, with_bearer(&tampered(token))).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_default_eddsa() {
    jwt_plugin_case(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_es256() {
    jwt_plugin_case(Some("ES256")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_rs256() {
    jwt_plugin_case(Some("RS256")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_ps256() {
    jwt_plugin_case(Some("PS256")).await;
}

// ---------------------------------------------------------------------------------------------------------
// Key rotation.

/// `jwks.rotationInterval`: once the signing key is older than the interval, Better Auth signs with a
/// new key and publishes both (the old one for `gracePeriod`, 30 days by default). The example, which
/// loaded the set holding only the old key, accepts a token of the new key after exactly one refetch,
/// and still accepts the old token without fetching again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_key_rotation() {
    // 2 s: a key outlives the few requests of the first phase; its successor comes 2 s later.
    const ROTATION_INTERVAL: Duration = Duration::from_secs(2);
    let server = BetterAuth::start(&[("BA_ROTATION_INTERVAL", "2")]);
    let http = Http::new();
    let account = server
        .sign_up_and_in(&http, "grace@example.com", "Grace Hopper")
        .await;

    let old = server.token(&http, &account).await;
    let old_kid = kid(&old);
    assert_plugin_token(&old, "EdDSA", &server, &account);
    assert_eq!(server.jwks_requests(&http).await, 0);

    // The example loads the set (holding the old key) before it listens.
    let example = Example::start(&[("BETTER_AUTH_URL", &server.url)]);
    assert_eq!(server.jwks_requests(&http).await, 1);
    let claims = example.me_bearer(&http, &old).await.claims();
    assert_eq!(claims["sub"], account.id.as_str());
    assert_eq!(
        server.jwks_requests(&http).await,
        1,
        "a known kid: no fetch"
    );

    // Ask for tokens until Better Auth signs with a new key (bounded: the interval plus a margin). On the
    // way, keep an old-key token the example has not seen (a later `iat`: the polling spans more than a
    // second), so that it is verified with the refetched set rather than found in the verified-token cache.
    let deadline = Instant::now() + ROTATION_INTERVAL + Duration::from_secs(15);
    let mut old_unseen = None;
    let new = loop {
        let token = server.token(&http, &account).await;
        if kid(&token) != old_kid {
            break token;
        }
        if token != old {
            old_unseen = Some(token);
        }
        assert!(
            Instant::now() < deadline,
            "Better Auth still signs with {old_kid} after {ROTATION_INTERVAL:?} + 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let new_kid = kid(&new);
    assert_plugin_token(&new, "EdDSA", &server, &account);
    assert_eq!(
        server.jwks_requests(&http).await,
        1,
        "signing does not involve the JWKS endpoint"
    );

    // The new kid is unknown to the example: one refetch, then 200.
    let claims = example.me_bearer(&http, &new).await.claims();
    assert_eq!(claims["sub"], account.id.as_str(), "{claims}");
    assert_eq!(claims["email"], "grace@example.com", "{claims}");
    assert_eq!(
        server.jwks_requests(&http).await,
        2,
        "exactly one refetch for the new kid"
    );
    // Old tokens keep working without further fetches: Better Auth still publishes the old key.
    let old_unseen = old_unseen.expect("an old-key token with a later iat");
    assert_eq!(kid(&old_unseen), old_kid);
    for token in [&old_unseen, &old, &new] {
        let claims = example.me_bearer(&http, token).await.claims();
        assert_eq!(claims["sub"], account.id.as_str(), "{claims}");
        example
            .me_bearer(&http, &tampered(token))
            .await
            .assert_invalid_token();
    }
    assert_eq!(server.jwks_requests(&http).await, 2);

    // What Better Auth publishes now: both keys.
    let jwks = http.get(&server.uri("/api/auth/jwks"), &[]).await.json();
    let kids: BTreeSet<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        BTreeSet::from([old_kid.as_str(), new_kid.as_str()]),
        "{jwks}"
    );
}

/// The kids Better Auth publishes now (one request to `/api/auth/jwks`).
async fn published_kids(server: &BetterAuth, http: &Http) -> BTreeSet<String> {
    let jwks = http.get(&server.uri("/api/auth/jwks"), &[]).await.json();
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("{jwks}"))
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// `jwks.gracePeriod`: a rotated-out key is published for that long after its expiry, then dropped. A
/// verifier that loads the set afterwards refuses the old key's tokens (one refetch for the unknown
/// kid, then 401) and accepts the successor's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn jwt_plugin_key_dropped_after_grace_period() {
    // A key signs for 1 s and is published 3 s longer. The successor is minted only once the old key
    // is gone, so it stays published (4 s) while the example loads and checks.
    let server = BetterAuth::start(&[("BA_ROTATION_INTERVAL", "1"), ("BA_GRACE_PERIOD", "3")]);
    let http = Http::new();
    let account = server
        .sign_up_and_in(&http, "grace@example.com", "Grace Hopper")
        .await;
    let old = server.token(&http, &account).await;
    let old_kid = kid(&old);
    assert_eq!(
        published_kids(&server, &http).await,
        BTreeSet::from([old_kid.clone()])
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    while published_kids(&server, &http).await.contains(&old_kid) {
        assert!(
            Instant::now() < deadline,
            "{old_kid} still published after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let new = server.token(&http, &account).await;
    let new_kid = kid(&new);
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        published_kids(&server, &http).await,
        BTreeSet::from([new_kid.clone()])
    );

    let before = server.jwks_requests(&http).await;
    let example = Example::start(&[("BETTER_AUTH_URL", &server.url)]);
    assert_eq!(server.jwks_requests(&http).await, before + 1, "the load");
    let claims = example.me_bearer(&http, &new).await.claims();
    assert_eq!(claims["sub"], account.id.as_str(), "{claims}");
    // The old token: its kid is unknown, one refetch confirms it, then 401; the cooldown holds back
    // another fetch for the second attempt.
    example.me_bearer(&http, &old).await.assert_invalid_token();
    assert_eq!(server.jwks_requests(&http).await, before + 2, "one refetch");
    example.me_bearer(&http, &old).await.assert_invalid_token();
    assert_eq!(server.jwks_requests(&http).await, before + 2, "cooldown");
}

// ---------------------------------------------------------------------------------------------------------
// The session cookie cache, `session.cookieCache.strategy: "jwt"`.

/// The layer for the session cookie: HS256 under the secret, the cookie, no `sub`.
fn session_layer() -> JwtAuthLayer<BetterAuthSession> {
    JwtAuthLayer::<BetterAuthSession>::builder()
        .key(Key::hs256(SECRET.as_bytes()).unwrap())
        .cookie(SESSION_DATA)
        .require_sub(false)
        .build()
        .unwrap()
}

/// The cookie's value (joined from its chunks if split).
fn session_data(jar: &Jar) -> String {
    if let Some(value) = jar.get(SESSION_DATA) {
        return value.to_owned();
    }
    let mut joined = String::new();
    for index in 0.. {
        match jar.get(&format!("{SESSION_DATA}.{index}")) {
            Some(chunk) => joined.push_str(chunk),
            None => break,
        }
    }
    assert!(
        !joined.is_empty(),
        "no {SESSION_DATA} cookie: {:?}",
        jar.names()
    );
    joined
}

/// The cookie as Better Auth writes it: HS256, `{session, user, updatedAt, version, iat, exp}`.
#[track_caller]
fn assert_session_token(token: &str, account: &Account) {
    let (header, payload) = parts(token);
    assert_eq!(header, json!({"alg": "HS256"}));
    assert_eq!(
        keys_of(&payload),
        BTreeSet::from(["session", "user", "updatedAt", "version", "iat", "exp"]),
        "{payload}"
    );
    assert_eq!(payload["user"]["id"], account.id.as_str());
    assert_eq!(payload["session"]["userId"], account.id.as_str());
    assert_eq!(payload["version"], "1");
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 300, "cookieCache.maxAge");
}

/// The cookie, in-process and through the example (`BETTER_AUTH_SECRET`, `JWT_COOKIE`), and its
/// tampered variant.
async fn session_cookie_case(http: &Http, account: &Account, jar: &Jar) {
    let token = session_data(jar);
    assert_session_token(&token, account);

    let layer = session_layer();
    let session = assert_accepted(through(&layer, with_cookies(jar)).await);
    assert_eq!(session.user.id, account.id);
    assert_eq!(session.user.email, account.email);
    assert_eq!(session.session.user_id, account.id);
    assert_eq!(session.version.as_deref(), Some("1"));
    assert!(session.updated_at.is_some() && session.exp.is_some() && session.iat.is_some());
    assert!(session.extra.is_empty(), "{:?}", session.extra);

    // The same cookie with a signature byte changed, whole or in chunks.
    let tampered_token = tampered(&token);
    let tampered_jar = if jar.get(SESSION_DATA).is_some() {
        jar.with(SESSION_DATA, &tampered_token)
    } else {
        let last = (0..)
            .take_while(|i| jar.get(&format!("{SESSION_DATA}.{i}")).is_some())
            .last()
            .unwrap();
        let name = format!("{SESSION_DATA}.{last}");
        let chunk = jar.get(&name).unwrap();
        let prefix_len: usize = (0..last)
            .map(|i| jar.get(&format!("{SESSION_DATA}.{i}")).unwrap().len())
            .sum();
        assert_eq!(tampered_token.len(), token.len());
        jar.with(&name, &tampered_token[prefix_len..prefix_len + chunk.len()])
    };
    assert_ne!(session_data(&tampered_jar), token);
    assert_refused_invalid(through(&layer, with_cookies(&tampered_jar)).await);

    // Without `require_sub(false)` the layer refuses it: this profile has no `sub`.
    let strict = JwtAuthLayer::<BetterAuthSession>::builder()
        .key(Key::hs256(SECRET.as_bytes()).unwrap())
        .cookie(SESSION_DATA)
        .build()
        .unwrap();
    assert_refused_invalid(through(&strict, with_cookies(jar)).await);

    // The example.
    let example = Example::start(&[("BETTER_AUTH_SECRET", SECRET), ("JWT_COOKIE", SESSION_DATA)]);
    let claims = example.me_cookies(http, jar).await.claims();
    assert_eq!(claims["user"]["id"], account.id.as_str(), "{claims}");
    assert_eq!(claims["user"]["email"], account.email.as_str(), "{claims}");
    assert_eq!(claims["session"]["userId"], account.id.as_str(), "{claims}");
    assert_eq!(claims["version"], "1", "{claims}");
    assert!(claims.get("sub").is_none(), "{claims}");
    example
        .me_cookies(http, &tampered_jar)
        .await
        .assert_invalid_token();
    // The session cookie alone is not a JWT (nor read): no token.
    let mut bare = Jar::default();
    bare.0.insert(
        "better-auth.session_token".into(),
        jar.get("better-auth.session_token").unwrap().into(),
    );
    assert_eq!(example.me_cookies(http, &bare).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn session_cookie_cache_jwt() {
    let server = BetterAuth::start(&[("BA_COOKIE_CACHE", "jwt")]);
    let http = Http::new();
    let mut account = server
        .sign_up_and_in(&http, "ada@example.com", "Ada Lovelace")
        .await;
    // Sign-in wrote the cookie; get-session renews it.
    let first = session_data(&account.jar);
    assert_session_token(&first, &account);
    let mut jar = account.jar.clone();
    server.get_session(&http, &mut jar).await;
    account.jar = jar;
    assert!(
        account.jar.get(SESSION_DATA).is_some(),
        "a small session is one cookie: {:?}",
        account.jar.names()
    );
    session_cookie_case(&http, &account, &account.jar).await;
}

/// A user with a long name: Better Auth splits the cookie over `better-auth.session_data.0`, `.1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and the npm packages in tests/interop/better-auth (install.sh)"]
async fn session_cookie_cache_jwt_chunked() {
    let server = BetterAuth::start(&[("BA_COOKIE_CACHE", "jwt")]);
    let http = Http::new();
    let name = "Ada Lovelace ".repeat(270);
    let name = name.trim_end();
    let mut account = server
        .sign_up_and_in(&http, "countess@example.com", name)
        .await;
    let mut jar = account.jar.clone();
    server.get_session(&http, &mut jar).await;
    account.jar = jar;
    let names = account.jar.names();
    assert!(
        names.contains(&"better-auth.session_data.0")
            && names.contains(&"better-auth.session_data.1")
            && !names.contains(&SESSION_DATA),
        "expected chunks: {names:?}"
    );
    session_cookie_case(&http, &account, &account.jar).await;

    let session = assert_accepted(through(&session_layer(), with_cookies(&account.jar)).await);
    assert_eq!(session.user.name, name);
    let example = Example::start(&[("BETTER_AUTH_SECRET", SECRET), ("JWT_COOKIE", SESSION_DATA)]);
    let claims = example.me_cookies(&http, &account.jar).await.claims();
    assert_eq!(claims["user"]["name"], name);
}
