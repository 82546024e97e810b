//! Shared test helpers: keys in every format, token minting (including deliberately broken tokens), and a
//! harness that runs a request through the layer and reports whether the inner service was called.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};
use tower_jwt_auth::RegisteredClaims;

pub const SECRET: &[u8] = b"test-secret-of-exactly-32-bytes!";
pub const ISSUER: &str = "https://issuer.example.com";
pub const AUDIENCE: &str = "https://api.example.com";

pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("test key file")
}

pub fn key_text(name: &str) -> String {
    String::from_utf8(key_file(name)).expect("PEM is text")
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The backend the crate itself uses, so tests never depend on jsonwebtoken's process default.
pub fn crypto() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    return &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    return &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
}

/// The private key that signs tokens for `alg` in these tests.
pub fn signing_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET),
        Algorithm::HS384 => EncodingKey::from_secret(&[7u8; 48]),
        Algorithm::HS512 => EncodingKey::from_secret(&[7u8; 64]),
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => EncodingKey::from_rsa_pem(&key_file("rsa_private.pem")).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key_file("ec256_private.pem")).unwrap(),
        Algorithm::ES384 => EncodingKey::from_ec_pem(&key_file("ec384_private.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_file("ed25519_private.pem")).unwrap(),
        other => panic!("no test key for {other:?}"),
    }
}

/// Raw signature bytes of `signing_input`.
pub fn sign_bytes(signing_input: &str, alg: Algorithm, key: &EncodingKey) -> Vec<u8> {
    let signer = (crypto().signer_factory)(&alg, key).unwrap();
    signer.try_sign(signing_input.as_bytes()).unwrap()
}

/// A compact JWS over exactly these header and payload texts (so tests can craft odd JSON).
pub fn sign_raw(header: &str, payload: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = sign_bytes(&input, alg, key);
    format!("{input}.{}", b64(signature))
}

/// Valid claims for the default test layer: sub, iss, aud, iat, exp one hour ahead.
pub fn claims() -> Value {
    let now = now();
    json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "email": "a@example.com"})
}

/// A token for `alg` with the test key, `claims` and an optional kid.
pub fn token(alg: Algorithm, claims: &Value, kid: Option<&str>) -> String {
    let mut header = json!({"alg": alg_name(alg), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        alg,
        &signing_key(alg),
    )
}

pub fn hs256(claims: &Value) -> String {
    token(Algorithm::HS256, claims, None)
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        other => panic!("{other:?}"),
    }
}

/// What came back from one request through the layer.
#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// Whether the inner service saw the request.
    pub reached_inner: bool,
}

impl Outcome {
    pub fn www_authenticate(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Refused with `status` and RFC 6750 `code`, and the inner service never called.
    #[track_caller]
    pub fn assert_refused(&self, status: u16, code: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert!(!self.reached_inner, "the inner service must not be called");
        let challenge = self.www_authenticate();
        match code {
            Some(code) => assert!(
                challenge.contains(&format!("error=\"{code}\"")),
                "challenge {challenge:?} should carry {code}"
            ),
            None if status == 503 => assert!(self.headers.contains_key("retry-after")),
            None => {
                assert!(challenge.starts_with("Bearer realm="), "{challenge:?}");
                assert!(!challenge.contains("error="), "{challenge:?}");
            }
        }
    }

    #[track_caller]
    pub fn assert_invalid_token(&self) {
        self.assert_refused(401, Some("invalid_token"));
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert!(self.reached_inner);
    }
}

/// Runs `request` through `layer` in front of a service that answers 200 with the claims it received.
pub async fn run<L>(layer: &L, request: Request<String>) -> Outcome
where
    L: Layer<Inner>,
    L::Service: Service<
            Request<String>,
            Response = Response<tower_jwt_auth::ResponseBody<String>>,
            Error = Infallible,
        >,
{
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(Inner(calls.clone()));
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Outcome {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        reached_inner: calls.load(Ordering::SeqCst) > 0,
    }
}

/// GET /me with `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Request<String> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

/// The inner service: counts calls, echoes the claims as JSON.
#[derive(Clone)]
pub struct Inner(pub Arc<AtomicUsize>);

impl Service<Request<String>> for Inner {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        let claims = request.extensions().get::<RegisteredClaims>();
        let body = claims
            .map(|c| serde_json::to_string(c).unwrap())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(body)))
    }
}

/// `tests/keys/jwks.json`: the public JWKs of the fixture keys.
pub fn jwks() -> Value {
    serde_json::from_slice(&key_file("jwks.json")).expect("jwks.json")
}

/// The entry of `tests/keys/jwks.json` with this kid.
pub fn jwk(kid: &str) -> Value {
    jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no {kid} in jwks.json"))
        .clone()
}

/// `value` with `patch` merged in (a `null` member removes it).
pub fn patched(mut value: Value, patch: Value) -> Value {
    for (name, member) in patch.as_object().unwrap() {
        if member.is_null() {
            value.as_object_mut().unwrap().remove(name);
        } else {
            value[name] = member.clone();
        }
    }
    value
}

/// The tests' claims without `aud`, for the examples run without `JWT_AUDIENCE`.
pub fn user_claims() -> Value {
    patched(claims(), json!({"aud": null}))
}

/// An HS256 token over [`user_claims`] signed with another secret of the right length: a bad signature.
pub fn foreign_token() -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"}).to_string();
    let key = EncodingKey::from_secret(b"another-secret-of-32-bytes-long!");
    sign_raw(&header, &user_claims().to_string(), Algorithm::HS256, &key)
}

/// Silences "unused" for helpers a given test file does not need.
pub fn _unused(_: Bytes) {}
