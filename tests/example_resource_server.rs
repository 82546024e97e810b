//! `examples/resource_server.rs` is a product: build it, run it as a real process configured by its
//! environment, and talk HTTP/1.1 to it over TCP.
//!
//! Every child process is killed by a guard when its test ends (pass or panic), and every wait is bounded.

mod common;
#[path = "support/example_process.rs"]
mod example_process;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use example_process::{Example, Failure, HttpResponse, Running, http_request};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// Read/write timeout of one HTTP exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variables the example reads: removed from the child's environment unless a test sets
/// them, so the developer's own settings never leak into a case.
const EXAMPLE_VARS: [&str; 16] = [
    "JWT_SECRET",
    "JWT_JWKS_URL",
    "JWT_OIDC_ISSUER",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_SECRET",
    "JWT_PUBLIC_KEY",
    "JWT_ALG",
    "JWT_JWKS_FILE",
    "JWT_KID",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_REQUIRED_TYP",
    "JWT_COOKIE",
    "LISTEN_ADDR",
    "RUST_LOG",
    "RUST_LIB_BACKTRACE",
];

/// A secret for `JWT_SECRET` (32 bytes, the tests' HS256 secret).
fn secret() -> &'static str {
    std::str::from_utf8(SECRET).unwrap()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------------------
// The example as a process (tests/support/example_process.rs).

/// Built once per test binary (with the package's default features).
fn example() -> &'static Example {
    static EXAMPLE: OnceLock<Example> = OnceLock::new();
    EXAMPLE.get_or_init(|| Example::build("resource_server", &EXAMPLE_VARS))
}

/// The example, running and accepting connections; killed when dropped.
struct Server {
    // Kept for its Drop: the server is killed with the test.
    _process: Running,
    addr: SocketAddr,
}

impl Server {
    #[track_caller]
    fn start(env: &[(&str, &str)]) -> Self {
        let process = example().start(env);
        Self {
            addr: process.addr,
            _process: process,
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_request(self.addr, "GET", path, headers, None, IO_TIMEOUT)
    }

    fn me(&self, token: &str) -> HttpResponse {
        self.get("/me", &[("Authorization", &format!("Bearer {token}"))])
    }
}

/// Runs the example with `env`, which must make it refuse to start: waits (bounded) for it to exit;
/// [`Failure::assert_one_line`] checks its one line, `resource_server: …`.
#[track_caller]
fn start_fails(env: &[(&str, &str)]) -> Failure {
    example().start_fails(env)
}

// ---------------------------------------------------------------------------------------------------------
// What the example answers.

impl HttpResponse {
    /// 200 with the verified claims as JSON.
    #[track_caller]
    fn assert_claims(&self, sub: &str) -> Value {
        assert_eq!(self.status, 200, "{self:#?}");
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{self:#?}"
        );
        let claims = self.json();
        assert_eq!(claims["sub"], sub, "{claims}");
        claims
    }

    /// 401 `invalid_token`.
    #[track_caller]
    fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "{self:#?}");
        assert!(
            self.challenge().starts_with("Bearer ")
                && self.challenge().contains("error=\"invalid_token\""),
            "{self:#?}"
        );
    }

    /// 401 with a bare challenge: no token was found.
    #[track_caller]
    fn assert_missing_token(&self) {
        assert_eq!(self.status, 401, "{self:#?}");
        assert!(self.challenge().starts_with("Bearer realm="), "{self:#?}");
        assert!(!self.challenge().contains("error="), "{self:#?}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tokens.

/// The tests' claims without `aud`: a token carrying `aud` is refused unless the server is configured
/// with one of its audiences (`JWT_AUDIENCE`; RFC 7519 §4.1.3).
fn user_claims() -> Value {
    patched(claims(), json!({"aud": null}))
}

/// A token with this header and the default claims (plus `patch`), signed by `key`.
fn signed(header: Value, patch: Value, key: &EncodingKey) -> String {
    let alg = match header["alg"].as_str().unwrap() {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => panic!("{other}"),
    };
    let payload = patched(user_claims(), patch);
    sign_raw(&header.to_string(), &payload.to_string(), alg, key)
}

fn hs256_with(secret: &[u8], patch: Value) -> String {
    signed(
        json!({"alg": "HS256", "typ": "JWT"}),
        patch,
        &EncodingKey::from_secret(secret),
    )
}

// ---------------------------------------------------------------------------------------------------------
// A working server.

#[test]
fn jwt_secret_me_with_a_valid_token() {
    let server = Server::start(&[("JWT_SECRET", secret())]);
    let response = server.me(&hs256(&user_claims()));
    let claims = response.assert_claims("user-1");
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["iss"], ISSUER);
    assert!(claims["exp"].as_u64().unwrap() > now());
    assert!(claims.get("aud").is_none(), "{claims}");
}

#[test]
fn jwt_secret_me_without_a_token_is_401_with_a_challenge() {
    let server = Server::start(&[("JWT_SECRET", secret())]);
    let response = server.get("/me", &[]);
    response.assert_missing_token();
    assert_eq!(response.challenge(), "Bearer realm=\"api\"");
    // A token signed with another secret, an expired one, garbage.
    server
        .me(&hs256_with(&[9u8; 32], json!({})))
        .assert_invalid_token();
    server
        .me(&hs256(&json!({"sub": "u", "exp": now() - 3600})))
        .assert_invalid_token();
    server.me("not.a.token").assert_invalid_token();
    // A malformed Authorization header is the client's mistake: 400.
    let response = server.get("/me", &[("Authorization", "Bearer")]);
    assert_eq!(response.status, 400, "{response:#?}");
}

#[test]
fn health_needs_no_token() {
    let server = Server::start(&[("JWT_SECRET", secret())]);
    let response = server.get("/health", &[]);
    assert_eq!(response.status, 200, "{response:#?}");
    assert_eq!(response.body, "ok");
    // A bad token does not matter there either: the layer is not in front of /health.
    assert_eq!(
        server
            .get("/health", &[("Authorization", "Bearer nope")])
            .status,
        200
    );
    // Unknown routes are not hidden behind authentication errors... but are not served either.
    assert_ne!(server.get("/nope", &[]).status, 200);
}

#[test]
fn better_auth_secret_when_jwt_secret_is_absent() {
    let better = "better-auth-secret-of-more-than-32-bytes";
    let server = Server::start(&[("BETTER_AUTH_SECRET", better)]);
    server
        .me(&hs256_with(better.as_bytes(), json!({})))
        .assert_claims("user-1");
    server.me(&hs256(&user_claims())).assert_invalid_token();

    // An empty JWT_SECRET counts as absent.
    let server = Server::start(&[("JWT_SECRET", ""), ("BETTER_AUTH_SECRET", better)]);
    server
        .me(&hs256_with(better.as_bytes(), json!({})))
        .assert_claims("user-1");

    // Both set: JWT_SECRET is the one used.
    let server = Server::start(&[("JWT_SECRET", secret()), ("BETTER_AUTH_SECRET", better)]);
    server.me(&hs256(&user_claims())).assert_claims("user-1");
    server
        .me(&hs256_with(better.as_bytes(), json!({})))
        .assert_invalid_token();
}

#[test]
fn jwt_public_key_es256() {
    let pem = fixture("ec256_public.pem");
    let server = Server::start(&[("JWT_PUBLIC_KEY", &pem), ("JWT_ALG", "ES256")]);
    server
        .me(&token(Algorithm::ES256, &user_claims(), None))
        .assert_claims("user-1");
    // The algorithm is the configured one, whatever the token says.
    server.me(&hs256(&user_claims())).assert_invalid_token();
    server
        .me(&token(Algorithm::ES384, &user_claims(), None))
        .assert_invalid_token();
}

#[test]
fn jwt_public_key_eddsa() {
    let pem = fixture("ed25519_public.pem");
    let server = Server::start(&[("JWT_PUBLIC_KEY", &pem), ("JWT_ALG", "EdDSA")]);
    server
        .me(&token(Algorithm::EdDSA, &user_claims(), None))
        .assert_claims("user-1");
    server
        .me(&token(Algorithm::ES256, &user_claims(), None))
        .assert_invalid_token();
}

#[test]
fn jwt_public_key_rsa_and_certificate() {
    for (file, alg, name) in [
        ("rsa_public.pem", Algorithm::RS256, "RS256"),
        ("rsa_public_pkcs1.pem", Algorithm::PS256, "PS256"),
        ("rsa_cert.pem", Algorithm::RS256, "RS256"),
    ] {
        let pem = fixture(file);
        let server = Server::start(&[("JWT_PUBLIC_KEY", &pem), ("JWT_ALG", name)]);
        server
            .me(&token(alg, &user_claims(), None))
            .assert_claims("user-1");
    }
}

#[test]
fn jwt_jwks_file_with_kids() {
    let jwks = fixture("jwks.json");
    let server = Server::start(&[("JWT_JWKS_FILE", &jwks)]);
    for (alg, kid) in [
        (Algorithm::RS256, "rsa-1"),
        (Algorithm::ES256, "ec-256"),
        (Algorithm::ES384, "ec-384"),
        (Algorithm::EdDSA, "ed-1"),
    ] {
        server
            .me(&token(alg, &user_claims(), Some(kid)))
            .assert_claims("user-1");
    }
    let rsa2 = EncodingKey::from_rsa_pem(&key_file("rsa2_private.pem")).unwrap();
    server
        .me(&signed(
            json!({"alg": "PS256", "kid": "rsa-2"}),
            json!({}),
            &rsa2,
        ))
        .assert_claims("user-1");
    // Several keys: a token must name one, and name one that exists.
    server
        .me(&token(Algorithm::ES256, &user_claims(), None))
        .assert_invalid_token();
    server
        .me(&token(Algorithm::ES256, &user_claims(), Some("nope")))
        .assert_invalid_token();
    // The kid picks the key: ec-256's token under ec-384's kid is refused.
    server
        .me(&token(Algorithm::ES256, &user_claims(), Some("ec-384")))
        .assert_invalid_token();
}

#[test]
fn jwt_kid_names_the_key() {
    let server = Server::start(&[("JWT_SECRET", secret()), ("JWT_KID", "key-2024")]);
    server
        .me(&token(Algorithm::HS256, &user_claims(), Some("key-2024")))
        .assert_claims("user-1");
    server
        .me(&token(Algorithm::HS256, &user_claims(), Some("key-2023")))
        .assert_invalid_token();
    // A single key: a token without kid is still accepted.
    server
        .me(&token(Algorithm::HS256, &user_claims(), None))
        .assert_claims("user-1");

    // With a public key as well.
    let pem = fixture("ed25519_public.pem");
    let server = Server::start(&[
        ("JWT_PUBLIC_KEY", &pem),
        ("JWT_ALG", "EdDSA"),
        ("JWT_KID", "ed"),
    ]);
    server
        .me(&token(Algorithm::EdDSA, &user_claims(), Some("ed")))
        .assert_claims("user-1");
    server
        .me(&token(Algorithm::EdDSA, &user_claims(), Some("other")))
        .assert_invalid_token();
}

#[test]
fn jwt_issuer_and_audience_are_enforced() {
    let server = Server::start(&[
        ("JWT_SECRET", secret()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
    ]);
    // claims() carries the test issuer and audience.
    let echoed = server.me(&hs256(&claims())).assert_claims("user-1");
    assert_eq!(echoed["aud"], AUDIENCE);
    server
        .me(&hs256_with(SECRET, json!({"aud": ["other", AUDIENCE]})))
        .assert_claims("user-1");
    for (patch, what) in [
        (json!({"iss": "https://evil.example.com"}), "wrong iss"),
        (
            json!({"iss": format!("{ISSUER}/")}),
            "iss with a trailing slash",
        ),
        (json!({"iss": null}), "no iss"),
        (json!({"aud": "https://other.example.com"}), "wrong aud"),
        (json!({"aud": null}), "no aud"),
    ] {
        let response = server.me(&hs256(&patched(claims(), patch)));
        assert_eq!(response.status, 401, "{what}: {response:#?}");
        response.assert_invalid_token();
    }
}

/// Without `JWT_AUDIENCE`, a token that names an audience is not for this server (RFC 7519 §4.1.3).
#[test]
fn token_with_aud_needs_jwt_audience() {
    let server = Server::start(&[("JWT_SECRET", secret())]);
    server.me(&hs256(&claims())).assert_invalid_token();
    server.me(&hs256(&user_claims())).assert_claims("user-1");
    let server = Server::start(&[("JWT_SECRET", secret()), ("JWT_AUDIENCE", AUDIENCE)]);
    server.me(&hs256(&claims())).assert_claims("user-1");
    // A configured audience is required.
    server.me(&hs256(&user_claims())).assert_invalid_token();
}

#[test]
fn jwt_required_typ() {
    let server = Server::start(&[("JWT_SECRET", secret()), ("JWT_REQUIRED_TYP", "at+jwt")]);
    let key = EncodingKey::from_secret(SECRET);
    server
        .me(&signed(
            json!({"alg": "HS256", "typ": "at+jwt"}),
            json!({}),
            &key,
        ))
        .assert_claims("user-1");
    server
        .me(&signed(
            json!({"alg": "HS256", "typ": "application/at+jwt"}),
            json!({}),
            &key,
        ))
        .assert_claims("user-1");
    server
        .me(&signed(
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({}),
            &key,
        ))
        .assert_invalid_token();
    server
        .me(&signed(json!({"alg": "HS256"}), json!({}), &key))
        .assert_invalid_token();
}

#[test]
fn jwt_cookie_is_accepted() {
    let server = Server::start(&[("JWT_SECRET", secret()), ("JWT_COOKIE", "session")]);
    let token = hs256(&user_claims());
    server
        .get(
            "/me",
            &[("Cookie", &format!("theme=dark; session={token}"))],
        )
        .assert_claims("user-1");
    // The bearer header still works.
    server.me(&token).assert_claims("user-1");
    // Another cookie name is not a token.
    server
        .get("/me", &[("Cookie", &format!("other={token}"))])
        .assert_missing_token();
    // Without JWT_COOKIE, cookies are not read.
    let server = Server::start(&[("JWT_SECRET", secret())]);
    server
        .get("/me", &[("Cookie", &format!("session={token}"))])
        .assert_missing_token();
}

// ---------------------------------------------------------------------------------------------------------
// Misconfiguration: a non-zero exit, quickly, with one line on stderr.

#[test]
fn no_key_at_all() {
    start_fails(&[]).assert_one_line(&["no key", "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_FILE"]);
    // Empty values are unset values.
    start_fails(&[("JWT_SECRET", ""), ("JWT_PUBLIC_KEY", " ")]).assert_one_line(&["no key"]);
}

#[test]
fn secret_too_short() {
    start_fails(&[("JWT_SECRET", "31-bytes-of-secret-not-enough!!")]).assert_one_line(&[
        "JWT_SECRET",
        "32",
        "31",
    ]);
    start_fails(&[("BETTER_AUTH_SECRET", "short")]).assert_one_line(&["BETTER_AUTH_SECRET", "32"]);
}

#[test]
fn public_key_without_alg() {
    let pem = fixture("ec256_public.pem");
    start_fails(&[("JWT_PUBLIC_KEY", &pem)]).assert_one_line(&["JWT_ALG"]);
}

#[test]
fn unreadable_files() {
    let missing = fixture("does-not-exist.pem");
    start_fails(&[("JWT_PUBLIC_KEY", &missing), ("JWT_ALG", "ES256")])
        .assert_one_line(&["JWT_PUBLIC_KEY", &missing]);
    start_fails(&[("JWT_JWKS_FILE", &missing)]).assert_one_line(&["JWT_JWKS_FILE", &missing]);
    // A directory is not a key file either.
    let dir = fixture("");
    start_fails(&[("JWT_PUBLIC_KEY", &dir), ("JWT_ALG", "ES256")])
        .assert_one_line(&["JWT_PUBLIC_KEY"]);
}

#[test]
fn unusable_key_files() {
    // Not the key type JWT_ALG says, a private key, a JWK set with nothing usable.
    let pem = fixture("ec256_public.pem");
    start_fails(&[("JWT_PUBLIC_KEY", &pem), ("JWT_ALG", "RS256")])
        .assert_one_line(&["JWT_PUBLIC_KEY", "RS256"]);
    let private = fixture("ec256_private.pem");
    start_fails(&[("JWT_PUBLIC_KEY", &private), ("JWT_ALG", "ES256")])
        .assert_one_line(&["JWT_PUBLIC_KEY", "private"]);
    let not_jwks = fixture("README.md");
    start_fails(&[("JWT_JWKS_FILE", &not_jwks)]).assert_one_line(&["JWT_JWKS_FILE"]);
    let p521 = fixture("ec521_public.pem");
    start_fails(&[("JWT_PUBLIC_KEY", &p521), ("JWT_ALG", "ES256")]).assert_one_line(&["P-521"]);
}

#[test]
fn unknown_jwt_alg() {
    let pem = fixture("ec256_public.pem");
    for alg in ["ES512", "none", "es256", "HS257"] {
        start_fails(&[("JWT_PUBLIC_KEY", &pem), ("JWT_ALG", alg)])
            .assert_one_line(&["JWT_ALG", alg]);
    }
}

#[test]
fn two_key_settings_at_once() {
    let pem = fixture("ec256_public.pem");
    let jwks = fixture("jwks.json");
    for env in [
        &[
            ("JWT_SECRET", secret()),
            ("JWT_PUBLIC_KEY", &pem),
            ("JWT_ALG", "ES256"),
        ][..],
        &[("JWT_SECRET", secret()), ("JWT_JWKS_FILE", &jwks)],
        &[
            ("JWT_PUBLIC_KEY", &pem),
            ("JWT_ALG", "ES256"),
            ("JWT_JWKS_FILE", &jwks),
        ],
    ] {
        start_fails(env).assert_one_line(&["only one"]);
    }
}

/// `BETTER_AUTH_SECRET` is in every Better Auth app's environment: it is only the fallback key, so another
/// key setting beside it is not a conflict, and the secret is then not used.
#[test]
fn better_auth_secret_is_only_a_fallback() {
    let jwks = fixture("jwks.json");
    let server = Server::start(&[("BETTER_AUTH_SECRET", secret()), ("JWT_JWKS_FILE", &jwks)]);
    server
        .me(&token(Algorithm::ES256, &user_claims(), Some("ec-256")))
        .assert_claims("user-1");
    // A token under the secret is not accepted: the JWK set configures the keys.
    server
        .me(&hs256_with(secret().as_bytes(), json!({})))
        .assert_invalid_token();
}

#[test]
fn jwt_kid_with_a_jwk_set() {
    let jwks = fixture("jwks.json");
    start_fails(&[("JWT_JWKS_FILE", &jwks), ("JWT_KID", "rsa-1")]).assert_one_line(&["JWT_KID"]);
}

#[test]
fn bad_listen_addr() {
    start_fails(&[("JWT_SECRET", secret()), ("LISTEN_ADDR", "not-an-address")])
        .assert_one_line(&["not-an-address"]);
    // An address already in use.
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    start_fails(&[("JWT_SECRET", secret()), ("LISTEN_ADDR", &addr)]).assert_one_line(&[&addr]);
    drop(busy);
}

// ---------------------------------------------------------------------------------------------------------
// Remote keys: JWT_JWKS_URL, JWT_OIDC_ISSUER, BETTER_AUTH_URL, served by a JWKS server on 127.0.0.1
// ---------------------------------------------------------------------------------------------------------

/// A JWKS server running on its own tokio runtime while the test thread talks to the example. Fields drop
/// in order: the server (aborting its tasks), then the runtime.
struct RemoteKeys {
    server: jwks_server::JwksServer,
    _runtime: tokio::runtime::Runtime,
}

impl RemoteKeys {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(jwks_server::JwksServer::start());
        Self {
            server,
            _runtime: runtime,
        }
    }

    fn origin(&self) -> String {
        self.server.url("").trim_end_matches('/').to_owned()
    }
}

#[test]
fn jwt_jwks_url() {
    let keys = RemoteKeys::start();
    keys.server.set_document(
        "/jwks.json",
        jwks_server::jwks_of(&[jwk("ec-256"), jwk("ed-1")]),
    );
    let server = Server::start(&[("JWT_JWKS_URL", &keys.server.url("/jwks.json"))]);
    server
        .me(&token(Algorithm::EdDSA, &user_claims(), Some("ed-1")))
        .assert_claims("user-1");
    server
        .me(&token(Algorithm::ES256, &user_claims(), Some("ec-256")))
        .assert_claims("user-1");
    server
        .me(&token(Algorithm::ES256, &user_claims(), Some("unknown")))
        .assert_invalid_token();
    // Loaded once at start, refetched once for the unknown kid.
    assert_eq!(keys.server.fetches("/jwks.json"), 2);
}

#[test]
fn jwt_jwks_url_down_at_start_answers_503_then_recovers() {
    let keys = RemoteKeys::start();
    keys.server
        .set_document("/jwks.json", jwks_server::jwks_of(&[jwk("ed-1")]));
    keys.server
        .set_mode("/jwks.json", jwks_server::Mode::Status(500));
    let server = Server::start(&[("JWT_JWKS_URL", &keys.server.url("/jwks.json"))]);
    let token = token(Algorithm::EdDSA, &user_claims(), Some("ed-1"));
    let response = server.me(&token);
    assert_eq!(response.status, 503, "{response:#?}");
    assert!(response.header("retry-after").is_some(), "{response:#?}");
    keys.server
        .set_mode("/jwks.json", jwks_server::Mode::Normal);
    // The backoff retries within seconds: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let response = server.me(&token);
        if response.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery without a restart: {response:#?}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn jwt_oidc_issuer() {
    let keys = RemoteKeys::start();
    let issuer = keys.origin();
    keys.server
        .set_document("/keys", jwks_server::jwks_of(&[jwk("ed-1")]));
    keys.server.set_document(
        "/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": keys.server.url("/keys")}),
    );
    let server = Server::start(&[("JWT_OIDC_ISSUER", &issuer)]);
    let mut claims = user_claims();
    claims["iss"] = json!(issuer);
    server
        .me(&token(Algorithm::EdDSA, &claims, Some("ed-1")))
        .assert_claims("user-1");
    claims["iss"] = json!("https://other.example.com");
    server
        .me(&token(Algorithm::EdDSA, &claims, Some("ed-1")))
        .assert_invalid_token();
    // A discovery document naming another issuer is a configuration error: one line, non-zero exit.
    keys.server.set_document(
        "/.well-known/openid-configuration",
        json!({"issuer": "https://evil.example.com", "jwks_uri": keys.server.url("/keys")}),
    );
    start_fails(&[("JWT_OIDC_ISSUER", &issuer)])
        .assert_one_line(&["JWT_OIDC_ISSUER", "evil.example.com"]);
}

#[test]
fn better_auth_url() {
    let keys = RemoteKeys::start();
    let origin = keys.origin();
    keys.server
        .set_document("/api/auth/jwks", jwks_server::jwks_of(&[jwk("ed-1")]));
    // Better Auth apps also have their secret in the environment: it is not used here.
    let server = Server::start(&[
        ("BETTER_AUTH_URL", &origin),
        ("BETTER_AUTH_SECRET", secret()),
    ]);
    let mut claims = user_claims();
    claims["iss"] = json!(origin);
    claims["aud"] = json!(origin);
    let header = json!({"alg": "EdDSA", "kid": "ed-1"});
    let good = sign_raw(
        &header.to_string(),
        &claims.to_string(),
        Algorithm::EdDSA,
        &signing_key(Algorithm::EdDSA),
    );
    let me = server.me(&good).assert_claims("user-1");
    assert_eq!(me["aud"], json!(origin));
    // Without the deployment's audience, refused.
    claims["aud"] = json!("https://elsewhere.example.com");
    let other = sign_raw(
        &header.to_string(),
        &claims.to_string(),
        Algorithm::EdDSA,
        &signing_key(Algorithm::EdDSA),
    );
    server.me(&other).assert_invalid_token();
    start_fails(&[("BETTER_AUTH_URL", "not a url")]).assert_one_line(&["BETTER_AUTH_URL"]);
}
