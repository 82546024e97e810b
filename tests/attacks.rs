//! Attacks on the verification pipeline, one table per attack family.
//!
//! Every refused case checks the exact status, the RFC 6750 error code (through `assert_refused` /
//! `assert_invalid_token` of `tests/common`) and that the inner service was never called. Most cases also
//! pin the refusal reason (the `error_description` of the body) so that a forged token cannot pass the
//! test "vacuously" by being refused for some other, accidental defect. Every family also has positive
//! controls: the same token built correctly is accepted by the same layer.
//!
//! All failing cases of a table are collected and reported together, each with its case name.

mod common;

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use common::*;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::{Layer, Service};
use tower_jwt_auth::{
    AuthError, ConfigError, InvalidToken, JwkOptions, JwtAuthLayer, Key, KeyLookup, KeyProvider,
    KeySet, RegisteredClaims, ResponseBody, TokenHeader,
};

type Auth = JwtAuthLayer<RegisteredClaims>;

// ---------------------------------------------------------------------------------------------------------
// Attacker material (generated for this file with `openssl genpkey -algorithm EC -pkeyopt
// ec_paramgen_curve:P-256` and `openssl req -x509`; it protects nothing).

const ATTACKER_EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgooWyA1xGBofXJLFO
ErqLBKZ9/TW2TEzVdN8Y3mTbOhOhRANCAAQFpL7CZujsYvHZQf8Ml0O7iTr788Gk
DhsClOFS/PfTELR24kHcryY2xEkhCezJ5vKlZIwsWVWRpZz1qAu4StZ/
-----END PRIVATE KEY-----
";
const ATTACKER_EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBaS+wmbo7GLx2UH/DJdDu4k6+/PB
pA4bApThUvz30xC0duJB3K8mNsRJIQnsyebypWSMLFlVkaWc9agLuErWfw==
-----END PUBLIC KEY-----
";
const ATTACKER_EC_X: &str = "BaS-wmbo7GLx2UH_DJdDu4k6-_PBpA4bApThUvz30xA";
const ATTACKER_EC_Y: &str = "tHbiQdyvJjbESSEJ7Mnm8qVkjCxZVZGlnPWoC7hK1n8";
/// A self-signed certificate (CN=attacker.example) for the attacker's EC key, standard base64 DER as in `x5c`.
const ATTACKER_CERT: &str = "MIIBjTCCATOgAwIBAgIUQcYBxlbN8A/2VIywa5TCYHIs1G4wCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTAgFw0yNjExMjQwNTQyMDVaGA8yMTI2MTAzMTA1NDIwNVowGzEZMBcGA1UEAwwQYXR0YWNrZXIuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAWkvsJm6Oxi8dlB/wyXQ7uJOvvzwaQOGwKU4VL899MQtHbiQdyvJjbESSEJ7Mnm8qVkjCxZVZGlnPWoC7hK1n+jUzBRMB0GA1UdDgQWBBSlumc2nCMbcHfclPmhldezxIw3BDAfBgNVHSMEGDAWgBSlumc2nCMbcHfclPmhldezxIw3BDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIGUnFNH8tt6X59tfj1Omf3oxt7HLSb7l5PewCOrcy8dkAiEAkOJyDW81Mw3IPVt9aHe5SoW40Iex4oB8tvWQG20WklY=";

/// Order of the P-256 group (big-endian).
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];
/// Order of the Ed25519 group, L = 2^252 + 27742317777372353535851937790883648493 (little-endian).
const ED25519_ORDER_LE: [u8; 32] = [
    0xED, 0xD3, 0xF5, 0x5C, 0x1A, 0x63, 0x12, 0x58, 0xD6, 0x9C, 0xF7, 0xA2, 0xDE, 0xF9, 0xDE, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

// ---------------------------------------------------------------------------------------------------------
// Expectations and the table runner.

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200 and the inner service called.
    Accepted,
    /// 401 `invalid_token`, inner not called; when given, for exactly this reason.
    Invalid(Option<InvalidToken>),
    /// 400 `invalid_request`, inner not called.
    BadRequest,
    /// 403 `insufficient_scope`, inner not called.
    Forbidden,
    /// 401 with a bare challenge (no token found), inner not called.
    NoToken,
    /// 503 with `Retry-After` (keys unavailable), inner not called.
    Unavailable,
    /// Either accepted, or 401 `invalid_token` for this reason (for sweeps across a limit).
    AcceptedOr(InvalidToken),
    /// A gRPC refusal: HTTP 200 with this `grpc-status`, inner not called.
    Grpc(u8),
}

use Expect::*;

/// 401 `invalid_token` for this reason.
fn because(reason: InvalidToken) -> Expect {
    Invalid(Some(reason))
}

/// 401 `invalid_token`, whatever the reason.
const REFUSED: Expect = Invalid(None);

/// Collects the failures of a table so that one run names every failing case.
struct Checks {
    table: &'static str,
    cases: usize,
    failures: Vec<String>,
}

impl Checks {
    fn new(table: &'static str) -> Self {
        Self {
            table,
            cases: 0,
            failures: Vec::new(),
        }
    }

    /// Runs `request` through `layer` and checks the outcome.
    async fn run<L>(
        &mut self,
        layer: &L,
        case: impl AsRef<str>,
        request: Request<String>,
        expect: Expect,
    ) where
        L: Layer<Inner>,
        L::Service:
            Service<Request<String>, Response = Response<ResponseBody<String>>, Error = Infallible>,
    {
        let outcome = run(layer, request).await;
        self.check(case.as_ref(), &outcome, expect);
    }

    /// `Authorization: Bearer <token>` through `layer`.
    async fn token<L>(&mut self, layer: &L, case: impl AsRef<str>, token: &str, expect: Expect)
    where
        L: Layer<Inner>,
        L::Service:
            Service<Request<String>, Response = Response<ResponseBody<String>>, Error = Infallible>,
    {
        self.run(layer, case, bearer(token), expect).await;
    }

    fn check(&mut self, case: &str, outcome: &Outcome, expect: Expect) {
        self.cases += 1;
        let result = catch_unwind(AssertUnwindSafe(|| verify(case, outcome, expect)));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            self.failures.push(format!("[{case}] {message}"));
        }
    }

    /// Records a failure found outside a request (e.g. a fixture that does not hold).
    fn fail(&mut self, case: &str, message: String) {
        self.cases += 1;
        self.failures.push(format!("[{case}] {message}"));
    }

    #[track_caller]
    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases of `{}` failed:\n  - {}",
            self.failures.len(),
            self.cases,
            self.table,
            self.failures.join("\n  - ")
        );
        eprintln!("{}: {} cases passed", self.table, self.cases);
    }
}

fn verify(case: &str, out: &Outcome, expect: Expect) {
    let refused = |status: u16| {
        assert!(
            !out.reached_inner,
            "[{case}] THE INNER SERVICE WAS CALLED (status {}, claims {})",
            out.status, out.body
        );
        assert_eq!(
            out.status.as_u16(),
            status,
            "[{case}] wrong status; body {}",
            out.body
        );
    };
    match expect {
        Accepted => {
            assert!(
                out.status == StatusCode::OK && out.reached_inner,
                "[{case}] expected acceptance, got {} {} (inner called: {})",
                out.status,
                out.body,
                out.reached_inner
            );
            out.assert_ok();
        }
        Invalid(reason) => {
            refused(401);
            if let Some(reason) = reason {
                let description = reason.description();
                assert!(
                    out.body
                        .contains(&format!("\"error_description\":\"{description}\"")),
                    "[{case}] expected reason {reason:?} ({description:?}), got body {}",
                    out.body
                );
            }
            out.assert_invalid_token();
        }
        BadRequest => {
            refused(400);
            out.assert_refused(400, Some("invalid_request"));
        }
        Forbidden => {
            refused(403);
            out.assert_refused(403, Some("insufficient_scope"));
        }
        NoToken => {
            refused(401);
            out.assert_refused(401, None);
        }
        Unavailable => {
            refused(503);
            out.assert_refused(503, None);
        }
        AcceptedOr(reason) => {
            if out.status == StatusCode::OK {
                verify(case, out, Accepted);
            } else {
                verify(case, out, because(reason));
            }
        }
        Grpc(code) => {
            assert!(
                !out.reached_inner,
                "[{case}] THE INNER SERVICE WAS CALLED (gRPC, claims {})",
                out.body
            );
            assert_eq!(
                out.status,
                StatusCode::OK,
                "[{case}] gRPC refusals are HTTP 200"
            );
            assert_eq!(
                out.headers.get("grpc-status").and_then(|v| v.to_str().ok()),
                Some(code.to_string().as_str()),
                "[{case}] grpc-status; headers {:?}",
                out.headers
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Layers, requests and token helpers.

/// A layer with this key that requires the test issuer and audience.
fn strict(key: Key) -> Auth {
    JwtAuthLayer::builder()
        .key(key)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn hs_layer() -> Auth {
    strict(Key::hs256(SECRET).unwrap())
}

fn x_token() -> HeaderName {
    HeaderName::from_static("x-token")
}

/// A strict HS256 layer that also reads the bare token from `X-Token`.
fn hs_layer_with_header_source() -> Auth {
    JwtAuthLayer::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .header(x_token())
        .build()
        .unwrap()
}

/// GET /me with `X-Token: <value>`.
fn x_token_request(value: &str) -> Request<String> {
    Request::get("/me")
        .header("x-token", value)
        .body(String::new())
        .unwrap()
}

fn public_pem(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ec256_public.pem",
        Algorithm::ES384 => "ec384_public.pem",
        Algorithm::EdDSA => "ed25519_public.pem",
        _ => "rsa_public.pem",
    }
}

/// The verification key matching `signing_key(alg)` of `tests/common`.
fn verification_key(alg: Algorithm) -> Key {
    match alg {
        Algorithm::HS256 => Key::hs256(SECRET).unwrap(),
        Algorithm::HS384 => Key::hs384([7u8; 48]).unwrap(),
        Algorithm::HS512 => Key::hs512([7u8; 64]).unwrap(),
        other => Key::from_pem(other, key_file(public_pem(other))).unwrap(),
    }
}

fn header(alg: &str) -> Value {
    json!({"alg": alg, "typ": "JWT"})
}

/// HS256 (test secret) over these header and claims.
fn hs_with(header: &Value, claims: &Value) -> String {
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        Algorithm::HS256,
        &signing_key(Algorithm::HS256),
    )
}

/// HS256 (test secret) over exactly these header and payload texts.
fn hs_raw(header: &str, payload: &str) -> String {
    sign_raw(
        header,
        payload,
        Algorithm::HS256,
        &signing_key(Algorithm::HS256),
    )
}

/// A token whose signature is computed over exactly these (already encoded) segments.
fn sign_segments(header_b64: &str, payload_b64: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let signature = sign_bytes(&input, alg, key);
    format!("{input}.{}", b64(signature))
}

/// HS256 (test secret) over arbitrary header and payload bytes.
fn hs_bytes(header: &[u8], payload: &[u8]) -> String {
    sign_segments(
        &b64(header),
        &b64(payload),
        Algorithm::HS256,
        &signing_key(Algorithm::HS256),
    )
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// The valid test claims as JSON text with `member` (raw JSON text) appended.
fn claims_plus(member: &str) -> String {
    let text = claims().to_string();
    format!("{},{member}}}", &text[..text.len() - 1])
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

/// The DER body of a PEM text.
fn pem_body(pem: &str) -> Vec<u8> {
    STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap()
}

fn b64url_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The same segment with one of the unused trailing bits of its last character set: a lenient decoder
/// yields the same bytes, a strict one refuses it.
fn set_trailing_bit(segment: &str) -> String {
    assert_ne!(
        segment.len() % 4,
        0,
        "a segment of length {} has no trailing bits",
        segment.len()
    );
    let mut bytes = segment.as_bytes().to_vec();
    let last = bytes.last_mut().unwrap();
    let index = URL_ALPHABET.iter().position(|c| c == last).unwrap();
    assert_eq!(index & 1, 0, "canonical base64url has zero trailing bits");
    *last = URL_ALPHABET[index | 1];
    let altered = String::from_utf8(bytes).unwrap();
    let lenient = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    assert_eq!(
        lenient.decode(&altered).unwrap(),
        URL_SAFE_NO_PAD.decode(segment).unwrap(),
        "the altered segment must decode to the same bytes under a lenient decoder"
    );
    assert!(URL_SAFE_NO_PAD.decode(&altered).is_err());
    altered
}

/// JSON text with trailing whitespace added until its base64url form has a partial last quantum.
fn with_partial_quantum(json: &str) -> String {
    let mut text = json.to_owned();
    while b64(&text).len().is_multiple_of(4) {
        text.push(' ');
    }
    text
}

fn padded(segment: &str) -> String {
    let n = (4 - segment.len() % 4) % 4;
    assert!(n > 0, "{segment} needs no padding");
    format!("{segment}{}", "=".repeat(n))
}

/// Raw r||s (P-256) to ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn ecdsa_raw_to_der(raw: &[u8]) -> Vec<u8> {
    assert_eq!(raw.len(), 64);
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut body = bytes[first..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    }
    let mut content = integer(&raw[..32]);
    content.extend(integer(&raw[32..]));
    let mut der = vec![0x30, content.len() as u8];
    der.extend(content);
    der
}

/// `a + b` for little-endian 256-bit numbers (no overflow expected).
fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "overflow");
    out
}

// =========================================================================================================
// alg: none

#[tokio::test]
async fn alg_none_in_any_spelling_is_refused() {
    let mut checks = Checks::new("alg none");
    let layers = [
        ("HS256 layer", hs_layer()),
        ("RS256 layer", strict(verification_key(Algorithm::RS256))),
        ("ES256 layer", strict(verification_key(Algorithm::ES256))),
        ("EdDSA layer", strict(verification_key(Algorithm::EdDSA))),
    ];
    let spellings = [
        "none",
        "None",
        "NONE",
        "nOnE",
        "none ",
        " none",
        "none\u{0}",
        "NoNe",
    ];
    let payload = b64(claims().to_string());
    for (layer_name, layer) in &layers {
        for alg in spellings {
            let head = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
            let input = format!("{head}.{payload}");
            let hmac = b64(sign_bytes(
                &input,
                Algorithm::HS256,
                &signing_key(Algorithm::HS256),
            ));
            let cases = [
                ("empty signature", format!("{input}.")),
                ("no signature segment", input.clone()),
                ("signature `c2ln`", format!("{input}.c2ln")),
                (
                    "HMAC-SHA256 signature with the real secret",
                    format!("{input}.{hmac}"),
                ),
            ];
            for (what, token) in cases {
                let expect = if what.contains("signature `") || what.starts_with("HMAC") {
                    because(InvalidToken::UnsupportedAlgorithm)
                } else {
                    REFUSED
                };
                checks
                    .token(
                        layer,
                        format!("{layer_name}: alg {alg:?}, {what}"),
                        &token,
                        expect,
                    )
                    .await;
            }
        }
        // `none` spelled with a JSON escape, and algorithms that do not exist.
        for raw_alg in [
            r#""\u006eone""#,
            r#""hs256""#,
            r#""HS256 ""#,
            r#""ES512""#,
            r#""HS1""#,
            r#""""#,
        ] {
            let token = hs_raw(
                &format!(r#"{{"alg":{raw_alg},"typ":"JWT"}}"#),
                &claims().to_string(),
            );
            checks
                .token(
                    layer,
                    format!("{layer_name}: alg {raw_alg}"),
                    &token,
                    because(InvalidToken::UnsupportedAlgorithm),
                )
                .await;
        }
        // `alg` absent or of the wrong JSON type.
        for raw in [
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null}"#,
            r#"{"alg":256}"#,
            r#"{"alg":["HS256"]}"#,
            r#"{"alg":{"name":"HS256"}}"#,
        ] {
            let token = hs_raw(raw, &claims().to_string());
            checks
                .token(
                    layer,
                    format!("{layer_name}: header {raw}"),
                    &token,
                    because(InvalidToken::MalformedHeader),
                )
                .await;
        }
    }
    // Controls: the same claims, correctly signed, are accepted by each layer.
    for (alg, (layer_name, layer)) in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ]
    .into_iter()
    .zip(&layers)
    {
        checks
            .token(
                layer,
                format!("control: {layer_name}, valid {alg:?}"),
                &token(alg, &claims(), None),
                Accepted,
            )
            .await;
    }
    checks.finish();
}

// =========================================================================================================
// HMAC keyed with the public key (RS256 / ES256 / EdDSA key confusion)

/// The forms of a public key an attacker might feed HMAC as its secret.
fn public_key_forms(alg: Algorithm) -> Vec<(&'static str, Vec<u8>)> {
    let mut forms = Vec::new();
    match alg {
        Algorithm::RS256 => {
            let spki_der = key_file("rsa_public.der");
            let pkcs1_pem = key_file("rsa_public_pkcs1.pem");
            let jwk = jwk("rsa-1");
            forms.push(("SPKI PEM text", key_file("rsa_public.pem")));
            forms.push((
                "SPKI PEM text without trailing newline",
                key_text("rsa_public.pem").trim_end().as_bytes().to_vec(),
            ));
            forms.push(("PKCS#1 PEM text", pkcs1_pem.clone()));
            forms.push(("SPKI DER bytes", spki_der));
            forms.push((
                "PKCS#1 DER bytes",
                pem_body(std::str::from_utf8(&pkcs1_pem).unwrap()),
            ));
            forms.push(("JWK JSON text", jwk.to_string().into_bytes()));
            forms.push((
                "JWK JSON text, pretty",
                serde_json::to_string_pretty(&jwk).unwrap().into_bytes(),
            ));
            forms.push((
                "raw modulus bytes",
                b64url_decode(jwk["n"].as_str().unwrap()),
            ));
            forms.push((
                "base64url modulus text",
                jwk["n"].as_str().unwrap().as_bytes().to_vec(),
            ));
        }
        Algorithm::ES256 => {
            let der = key_file("ec256_public.der");
            let jwk = jwk("ec-256");
            let point = der[der.len() - 65..].to_vec();
            assert_eq!(point[0], 0x04);
            forms.push(("SPKI PEM text", key_file("ec256_public.pem")));
            forms.push(("SPKI DER bytes", der));
            forms.push(("JWK JSON text", jwk.to_string().into_bytes()));
            forms.push((
                "JWK JSON text, pretty",
                serde_json::to_string_pretty(&jwk).unwrap().into_bytes(),
            ));
            forms.push(("raw uncompressed point", point.clone()));
            forms.push(("raw x||y", point[1..].to_vec()));
            forms.push(("raw x", point[1..33].to_vec()));
        }
        Algorithm::EdDSA => {
            let der = key_file("ed25519_public.der");
            let jwk = jwk("ed-1");
            let raw = der[der.len() - 32..].to_vec();
            assert_eq!(raw, b64url_decode(jwk["x"].as_str().unwrap()));
            forms.push(("SPKI PEM text", key_file("ed25519_public.pem")));
            forms.push(("SPKI DER bytes", der));
            forms.push(("JWK JSON text", jwk.to_string().into_bytes()));
            forms.push((
                "JWK JSON text, pretty",
                serde_json::to_string_pretty(&jwk).unwrap().into_bytes(),
            ));
            forms.push(("raw 32 bytes", raw));
        }
        other => unreachable!("{other:?}"),
    }
    forms
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let mut checks = Checks::new("HMAC with the public key as secret");
    for (alg, jwk_kid, der_file) in [
        (Algorithm::RS256, "rsa-1", "rsa_public.der"),
        (Algorithm::ES256, "ec-256", "ec256_public.der"),
        (Algorithm::EdDSA, "ed-1", "ed25519_public.der"),
    ] {
        // The public key, configured in each of the ways the crate offers.
        let jwk = jwk(jwk_kid);
        let configs = [
            (
                "from PEM",
                Key::from_pem(alg, key_file(public_pem(alg))).unwrap(),
            ),
            ("from DER", Key::from_der(alg, key_file(der_file)).unwrap()),
            (
                "from JWK",
                Key::from_jwk_json(&jwk.to_string(), Some(alg)).unwrap(),
            ),
        ];
        for (config, key) in configs {
            let layer = strict(key);
            let config = format!("{alg:?} key {config}");
            checks
                .token(
                    &layer,
                    format!("control: {config}, valid {alg:?} token"),
                    &token(alg, &claims(), None),
                    Accepted,
                )
                .await;
            if config.ends_with("from JWK") {
                checks
                    .token(
                        &layer,
                        format!("control: {config}, valid {alg:?} token naming kid {jwk_kid}"),
                        &token(alg, &claims(), Some(jwk_kid)),
                        Accepted,
                    )
                    .await;
            }
            for (form, secret) in public_key_forms(alg) {
                for hmac in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    let key = EncodingKey::from_secret(&secret);
                    let mut kids = vec![None];
                    if config.ends_with("from JWK") {
                        kids.push(Some(jwk_kid));
                    }
                    for kid in kids {
                        let mut head = header(alg_name(hmac));
                        if let Some(kid) = kid {
                            head["kid"] = json!(kid);
                        }
                        let forged = sign_raw(&head.to_string(), &claims().to_string(), hmac, &key);
                        checks
                            .token(
                                &layer,
                                format!("{config}: {hmac:?} keyed with the {form}, kid {kid:?}"),
                                &forged,
                                because(InvalidToken::AlgorithmMismatch),
                            )
                            .await;
                    }
                }
                // Non-vacuity: the forged HS256 token really is a valid HMAC under that secret.
                if secret.len() >= 32 && config.ends_with("from PEM") {
                    let forged = sign_raw(
                        &header("HS256").to_string(),
                        &claims().to_string(),
                        Algorithm::HS256,
                        &EncodingKey::from_secret(&secret),
                    );
                    checks
                        .token(
                            &strict(Key::hs256(&secret).unwrap()),
                            format!("control: the HS256 token keyed with the {alg:?} {form} verifies as HMAC under that secret"),
                            &forged,
                            Accepted,
                        )
                        .await;
                }
            }
        }
    }

    // A mixed key set: an HMAC secret and an RSA key side by side, each with its kid. A token that names the
    // RSA key but is an HMAC keyed with the RSA public key must not be verified with either.
    let mixed = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("hmac"))
        .key(
            Key::from_pem(Algorithm::RS256, key_file("rsa_public.pem"))
                .unwrap()
                .with_kid("rsa"),
        )
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    for (form, secret) in public_key_forms(Algorithm::RS256) {
        let mut head = header("HS256");
        head["kid"] = json!("rsa");
        let forged = sign_raw(
            &head.to_string(),
            &claims().to_string(),
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret),
        );
        checks
            .token(
                &mixed,
                format!("mixed set: HS256 keyed with the RSA {form}, kid rsa"),
                &forged,
                because(InvalidToken::AlgorithmMismatch),
            )
            .await;
        head["kid"] = json!("hmac");
        let forged = sign_raw(
            &head.to_string(),
            &claims().to_string(),
            Algorithm::HS256,
            &EncodingKey::from_secret(&secret),
        );
        checks
            .token(
                &mixed,
                format!("mixed set: HS256 keyed with the RSA {form}, kid hmac"),
                &forged,
                because(InvalidToken::BadSignature),
            )
            .await;
    }
    checks
        .token(
            &mixed,
            "mixed set: RS256 token naming the HMAC kid",
            &token(Algorithm::RS256, &claims(), Some("hmac")),
            because(InvalidToken::AlgorithmMismatch),
        )
        .await;
    checks
        .token(
            &mixed,
            "control: mixed set, valid HS256 kid hmac",
            &token(Algorithm::HS256, &claims(), Some("hmac")),
            Accepted,
        )
        .await;
    checks
        .token(
            &mixed,
            "control: mixed set, valid RS256 kid rsa",
            &token(Algorithm::RS256, &claims(), Some("rsa")),
            Accepted,
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// Algorithm substitution: every token alg against every key alg

#[tokio::test]
async fn algorithm_substitution_is_refused_for_every_pair() {
    let mut checks = Checks::new("algorithm substitution matrix");
    let algs = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    // All RSA tokens are signed with the same private key (rsa_private.pem), so e.g. a PS256 token against
    // the RS256 key is a genuine signature by the right key under the wrong algorithm.
    let tokens: Vec<_> = algs
        .iter()
        .map(|alg| (*alg, token(*alg, &claims(), None)))
        .collect();
    for key_alg in algs {
        let layer = strict(verification_key(key_alg));
        for (token_alg, token) in &tokens {
            let expect = if *token_alg == key_alg {
                Accepted
            } else {
                because(InvalidToken::AlgorithmMismatch)
            };
            checks
                .token(
                    &layer,
                    format!("{token_alg:?} token against a {key_alg:?} key"),
                    token,
                    expect,
                )
                .await;
        }
    }

    // HMAC family with one secret long enough for all three: HS384/HS512 tokens made with the very secret the
    // HS256 key holds.
    let secret = [0x5au8; 64];
    let encoding = EncodingKey::from_secret(&secret);
    for key_alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let layer = strict(Key::hmac(key_alg, secret).unwrap());
        for token_alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = sign_raw(
                &header(alg_name(token_alg)).to_string(),
                &claims().to_string(),
                token_alg,
                &encoding,
            );
            let expect = if token_alg == key_alg {
                Accepted
            } else {
                because(InvalidToken::AlgorithmMismatch)
            };
            checks
                .token(
                    &layer,
                    format!("{token_alg:?} token, same 64-byte secret, against {key_alg:?}"),
                    &token,
                    expect,
                )
                .await;
        }
    }
    // The test SECRET itself (32 bytes): HS512 and HS384 tokens HMAC'd with it against the HS256 key.
    for token_alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_raw(
            &header(alg_name(token_alg)).to_string(),
            &claims().to_string(),
            token_alg,
            &signing_key(Algorithm::HS256),
        );
        checks
            .token(
                &hs_layer(),
                format!("{token_alg:?} token HMAC'd with the HS256 secret"),
                &token,
                because(InvalidToken::AlgorithmMismatch),
            )
            .await;
    }
    // The header says one algorithm, the signature was made with another (same key family).
    let rs_layer = strict(verification_key(Algorithm::RS256));
    let head = b64(header("RS256").to_string());
    let payload = b64(claims().to_string());
    let input = format!("{head}.{payload}");
    for (what, alg) in [("PS256", Algorithm::PS256), ("RS512", Algorithm::RS512)] {
        let signature = b64(sign_bytes(&input, alg, &signing_key(alg)));
        checks
            .token(
                &rs_layer,
                format!("header RS256, signature made with {what} by the same key"),
                &format!("{input}.{signature}"),
                because(InvalidToken::BadSignature),
            )
            .await;
    }
    let es_layer = strict(verification_key(Algorithm::ES256));
    let head = b64(header("ES256").to_string());
    let input = format!("{head}.{payload}");
    let signature = b64(sign_bytes(
        &input,
        Algorithm::ES384,
        &signing_key(Algorithm::ES384),
    ));
    checks
        .token(
            &es_layer,
            "header ES256, signature made with the ES384 key",
            &format!("{input}.{signature}"),
            because(InvalidToken::BadSignature),
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// Signature tampering

#[tokio::test]
async fn tampered_truncated_and_spliced_signatures_are_refused() {
    let mut checks = Checks::new("signature tampering");
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let layer = strict(verification_key(alg));
        let valid = token(alg, &claims(), None);
        let other = token(alg, &with(claims(), "sub", json!("user-2")), None);
        let parts = segments(&valid);
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        let input = format!("{h}.{p}");
        let sig = b64url_decode(s);
        checks
            .token(&layer, format!("control: {alg:?} valid"), &valid, Accepted)
            .await;
        checks
            .token(
                &layer,
                format!("control: {alg:?} other valid token"),
                &other,
                Accepted,
            )
            .await;

        let mut flipped = sig.clone();
        flipped[0] ^= 0x01;
        let mut flipped_last = sig.clone();
        *flipped_last.last_mut().unwrap() ^= 0x80;
        let tampered_payload = b64(with(claims(), "sub", json!("admin")).to_string());
        let tampered_header = b64(json!({"alg": alg_name(alg)}).to_string());
        let cases: Vec<(&str, String, Expect)> = vec![
            ("empty signature", format!("{input}."), REFUSED),
            ("no signature segment", input.clone(), REFUSED),
            (
                "signature without its last character",
                format!("{input}.{}", &s[..s.len() - 1]),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature cut in half",
                format!("{input}.{}", &s[..s.len() / 2]),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature with one extra character",
                format!("{input}.{s}A"),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature doubled",
                format!("{input}.{s}{s}"),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature with one extra byte",
                format!("{input}.{}", b64([sig.as_slice(), &[0]].concat())),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature one byte short",
                format!("{input}.{}", b64(&sig[..sig.len() - 1])),
                because(InvalidToken::BadSignature),
            ),
            (
                "first bit flipped",
                format!("{input}.{}", b64(&flipped)),
                because(InvalidToken::BadSignature),
            ),
            (
                "last byte flipped",
                format!("{input}.{}", b64(&flipped_last)),
                because(InvalidToken::BadSignature),
            ),
            (
                "all-zero signature of the right length",
                format!("{input}.{}", b64(vec![0u8; sig.len()])),
                because(InvalidToken::BadSignature),
            ),
            (
                "all-ones signature of the right length",
                format!("{input}.{}", b64(vec![0xffu8; sig.len()])),
                because(InvalidToken::BadSignature),
            ),
            (
                "signature spliced from another valid token",
                format!("{input}.{}", segments(&other)[2]),
                because(InvalidToken::BadSignature),
            ),
            (
                "payload spliced from another valid token",
                format!("{h}.{}.{s}", segments(&other)[1]),
                because(InvalidToken::BadSignature),
            ),
            (
                "sub changed after signing",
                format!("{h}.{tampered_payload}.{s}"),
                because(InvalidToken::BadSignature),
            ),
            (
                "header changed after signing (typ dropped)",
                format!("{tampered_header}.{p}.{s}"),
                because(InvalidToken::BadSignature),
            ),
            ("segments swapped", format!("{p}.{h}.{s}"), REFUSED),
        ];
        for (what, token, expect) in cases {
            checks
                .token(&layer, format!("{alg:?}: {what}"), &token, expect)
                .await;
        }
    }

    // HS256 signature of another length: an HS512-sized MAC over the same input with the same secret.
    let layer = hs_layer();
    let valid = hs256(&claims());
    let parts = segments(&valid);
    let input = format!("{}.{}", parts[0], parts[1]);
    let hs512_mac = b64(sign_bytes(
        &input,
        Algorithm::HS512,
        &signing_key(Algorithm::HS256),
    ));
    checks
        .token(
            &layer,
            "HS256 header with an HS512-length MAC by the same secret",
            &format!("{input}.{hs512_mac}"),
            because(InvalidToken::BadSignature),
        )
        .await;
    let hs256_other_secret = b64(sign_bytes(
        &input,
        Algorithm::HS256,
        &EncodingKey::from_secret(&[1u8; 32]),
    ));
    checks
        .token(
            &layer,
            "HS256 MAC by another secret",
            &format!("{input}.{hs256_other_secret}"),
            because(InvalidToken::BadSignature),
        )
        .await;

    // ECDSA P-256: degenerate and out-of-range scalars, and the DER form of a correct signature.
    let layer = strict(verification_key(Algorithm::ES256));
    let valid = token(Algorithm::ES256, &claims(), None);
    let parts = segments(&valid);
    let input = format!("{}.{}", parts[0], parts[1]);
    let raw = b64url_decode(parts[2]);
    let (r, s) = raw.split_at(32);
    let der = ecdsa_raw_to_der(&raw);
    assert_ne!(der.len(), 64, "DER form has another length");
    let mut zero_r = vec![0u8; 32];
    zero_r.extend_from_slice(s);
    let mut zero_s = r.to_vec();
    zero_s.extend_from_slice(&[0u8; 32]);
    let order_twice = [P256_ORDER, P256_ORDER].concat();
    let mut r_order = P256_ORDER.to_vec();
    r_order.extend_from_slice(s);
    let ecdsa_cases: Vec<(&str, Vec<u8>)> = vec![
        ("r = s = 0 (64 zero bytes)", vec![0u8; 64]),
        ("r = 0", zero_r),
        ("s = 0", zero_s),
        ("r = s = n (group order)", order_twice),
        ("r = n, valid s", r_order),
        (
            "r = s = 1",
            [[0u8; 31].as_slice(), &[1], &[0u8; 31], &[1]].concat(),
        ),
        (
            "valid signature, DER-encoded (ASN.1 SEQUENCE of INTEGERs)",
            der.clone(),
        ),
        ("valid signature, DER-encoded, padded to 64 bytes", {
            let mut padded = der.clone();
            padded.resize(64, 0);
            padded
        }),
        ("valid signature, s||r", [s, r].concat()),
    ];
    for (what, signature) in ecdsa_cases {
        checks
            .token(
                &layer,
                format!("ES256: {what}"),
                &format!("{input}.{}", b64(signature)),
                because(InvalidToken::BadSignature),
            )
            .await;
    }

    // Ed25519: a non-canonical S (S + L) is the same signature to a lax verifier; RFC 8032 §5.1.7 requires
    // S < L.
    let layer = strict(verification_key(Algorithm::EdDSA));
    let valid = token(Algorithm::EdDSA, &claims(), None);
    let parts = segments(&valid);
    let input = format!("{}.{}", parts[0], parts[1]);
    let sig = b64url_decode(parts[2]);
    let mut malleated = sig[..32].to_vec();
    malleated.extend(add_le(&sig[32..], &ED25519_ORDER_LE));
    checks
        .token(
            &layer,
            "EdDSA: S replaced by S + L (non-canonical)",
            &format!("{input}.{}", b64(malleated)),
            because(InvalidToken::BadSignature),
        )
        .await;
    let mut small_order_r = vec![0u8; 64];
    small_order_r[0] = 1; // R = identity point encoding, S = 0
    checks
        .token(
            &layer,
            "EdDSA: R = identity, S = 0",
            &format!("{input}.{}", b64(small_order_r)),
            because(InvalidToken::BadSignature),
        )
        .await;

    // RSA: signature values 0, 1 and n - 1 (n from the JWK).
    let layer = strict(verification_key(Algorithm::RS256));
    let valid = token(Algorithm::RS256, &claims(), None);
    let parts = segments(&valid);
    let input = format!("{}.{}", parts[0], parts[1]);
    let mut n_minus_1 = b64url_decode(jwk("rsa-1")["n"].as_str().unwrap());
    *n_minus_1.last_mut().unwrap() -= 1;
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let n = b64url_decode(jwk("rsa-1")["n"].as_str().unwrap());
    for (what, signature) in [
        ("s = 0", vec![0u8; 256]),
        ("s = 1", one),
        ("s = n - 1", n_minus_1),
        ("s = n", n),
    ] {
        checks
            .token(
                &layer,
                format!("RS256: {what}"),
                &format!("{input}.{}", b64(signature)),
                because(InvalidToken::BadSignature),
            )
            .await;
    }
    checks.finish();
}

// =========================================================================================================
// Key material in the token header: jwk, jku, x5u, x5c

#[tokio::test]
async fn key_material_in_the_token_header_is_never_trusted() {
    let mut checks = Checks::new("jwk/jku/x5u/x5c headers");
    let attacker = EncodingKey::from_ec_pem(ATTACKER_EC_PRIVATE.as_bytes()).unwrap();
    let attacker_jwk = json!({"kty": "EC", "crv": "P-256", "x": ATTACKER_EC_X, "y": ATTACKER_EC_Y});
    let admin = with(claims(), "sub", json!("admin"));
    let headers: Vec<(&str, Value)> = vec![
        (
            "embedded jwk",
            json!({"alg": "ES256", "typ": "JWT", "jwk": attacker_jwk}),
        ),
        (
            "embedded jwk with use/alg",
            json!({"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": ATTACKER_EC_X, "y": ATTACKER_EC_Y, "use": "sig", "alg": "ES256"}}),
        ),
        (
            "jku",
            json!({"alg": "ES256", "jku": "https://attacker.example/.well-known/jwks.json"}),
        ),
        (
            "jku pointing at localhost",
            json!({"alg": "ES256", "jku": "http://127.0.0.1:1/jwks.json"}),
        ),
        (
            "x5u",
            json!({"alg": "ES256", "x5u": "https://attacker.example/cert.pem"}),
        ),
        (
            "x5c with the attacker's self-signed certificate",
            json!({"alg": "ES256", "x5c": [ATTACKER_CERT]}),
        ),
        (
            "x5t#S256 of the attacker's certificate",
            json!({"alg": "ES256", "x5t#S256": "AAAA", "x5c": [ATTACKER_CERT]}),
        ),
        (
            "jwk + jku + x5u + x5c together",
            json!({"alg": "ES256", "jwk": attacker_jwk, "jku": "https://attacker.example/jwks", "x5u": "https://attacker.example/c.pem", "x5c": [ATTACKER_CERT]}),
        ),
    ];
    let our_layer = strict(verification_key(Algorithm::ES256));
    let attacker_layer = strict(Key::from_pem(Algorithm::ES256, ATTACKER_EC_PUBLIC).unwrap());
    let set_layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key_set(KeySet::from_jwks_json(&key_text("jwks.json")).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    for (what, head) in &headers {
        let forged = sign_raw(
            &head.to_string(),
            &admin.to_string(),
            Algorithm::ES256,
            &attacker,
        );
        checks
            .token(
                &our_layer,
                format!("attacker-signed, {what}"),
                &forged,
                because(InvalidToken::BadSignature),
            )
            .await;
        // Non-vacuity: the forged token is a genuine signature by the key it advertises.
        checks
            .token(
                &attacker_layer,
                format!(
                    "control: the attacker's {what} token verifies under the attacker's own key"
                ),
                &forged,
                Accepted,
            )
            .await;
        // Naming a kid of the configured set, with the attacker's key embedded.
        let mut named = head.clone();
        named["kid"] = json!("ec-256");
        if named.get("jwk").is_some() {
            named["jwk"]["kid"] = json!("ec-256");
        }
        let forged = sign_raw(
            &named.to_string(),
            &admin.to_string(),
            Algorithm::ES256,
            &attacker,
        );
        checks
            .token(
                &set_layer,
                format!("attacker-signed, {what}, kid of a configured key"),
                &forged,
                because(InvalidToken::BadSignature),
            )
            .await;
        // The headers are ignored, not trusted: with our key's signature the token is accepted.
        let ours = sign_raw(
            &head.to_string(),
            &claims().to_string(),
            Algorithm::ES256,
            &signing_key(Algorithm::ES256),
        );
        checks
            .token(
                &our_layer,
                format!("control: {what} header, signed by the configured key"),
                &ours,
                Accepted,
            )
            .await;
    }
    // The same against RSA: the attacker signs RS256 with its own RSA key (rsa2) and embeds its JWK.
    let rsa_layer = strict(verification_key(Algorithm::RS256));
    let mut rsa2_jwk = jwk("rsa-2");
    rsa2_jwk["alg"] = json!("RS256");
    let attacker_rsa = EncodingKey::from_rsa_pem(&key_file("rsa2_private.pem")).unwrap();
    for (what, head) in [
        ("embedded RSA jwk", json!({"alg": "RS256", "jwk": rsa2_jwk})),
        (
            "RSA jku",
            json!({"alg": "RS256", "jku": "https://attacker.example/jwks.json"}),
        ),
    ] {
        let forged = sign_raw(
            &head.to_string(),
            &admin.to_string(),
            Algorithm::RS256,
            &attacker_rsa,
        );
        checks
            .token(
                &rsa_layer,
                format!("attacker-signed RS256, {what}"),
                &forged,
                because(InvalidToken::BadSignature),
            )
            .await;
        let genuine = strict(Key::from_pem(Algorithm::RS256, key_file("rsa2_public.pem")).unwrap());
        checks
            .token(
                &genuine,
                format!("control: attacker RS256 {what} verifies under rsa2"),
                &forged,
                Accepted,
            )
            .await;
    }
    checks.finish();
}

// =========================================================================================================
// Hostile kid values

#[tokio::test]
async fn hostile_kid_values_are_refused() {
    let mut checks = Checks::new("hostile kid");
    let two_keys = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("k1"))
        .key(Key::hs256([9u8; 32]).unwrap().with_kid("k2"))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let single = hs_layer();
    let long_3000 = "k".repeat(3000);
    let long_300 = "k".repeat(300);
    let strings: Vec<(&str, Value, Expect)> = vec![
        (
            "path traversal",
            json!("../../dev/null"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "absolute path",
            json!("/etc/passwd"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "URL",
            json!("https://attacker.example/key.pem"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "SQL injection",
            json!("' OR 1=1 --"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "SQL injection naming k1",
            json!("k1' OR '1'='1"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "shell injection",
            json!("$(rm -rf /)"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "backticks",
            json!("`id`"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "NUL inside",
            json!("a\u{0}b"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "k1 + NUL (C-string truncation)",
            json!("k1\u{0}"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "k1 + NUL + junk",
            json!("k1\u{0}../../x"),
            because(InvalidToken::UnknownKid),
        ),
        (
            "CRLF log injection",
            json!("k\r\nlevel=error msg=pwned"),
            because(InvalidToken::UnknownKid),
        ),
        ("empty string", json!(""), because(InvalidToken::UnknownKid)),
        ("K1 (case)", json!("K1"), because(InvalidToken::UnknownKid)),
        (
            "k1 with a trailing space",
            json!("k1 "),
            because(InvalidToken::UnknownKid),
        ),
        (
            "Cyrillic homoglyph of k1",
            json!("\u{043a}1"),
            because(InvalidToken::UnknownKid),
        ),
        ("3000 characters", json!(long_3000), REFUSED),
        (
            "300 characters",
            json!(long_300),
            because(InvalidToken::MalformedHeader),
        ),
        ("a number", json!(1), because(InvalidToken::MalformedHeader)),
        ("null", Value::Null, because(InvalidToken::MalformedHeader)),
        (
            "an object",
            json!({"kid": "k1"}),
            because(InvalidToken::MalformedHeader),
        ),
        (
            "an array",
            json!(["k1"]),
            because(InvalidToken::MalformedHeader),
        ),
        (
            "a bool",
            json!(true),
            because(InvalidToken::MalformedHeader),
        ),
    ];
    for (layer_name, layer) in [
        ("two keys k1/k2", &two_keys),
        ("single key without kid", &single),
    ] {
        for (what, kid, expect) in &strings {
            let mut head = header("HS256");
            head["kid"] = kid.clone();
            let token = hs_with(&head, &claims());
            checks
                .token(layer, format!("{layer_name}: kid {what}"), &token, *expect)
                .await;
        }
    }
    // Controls.
    checks
        .token(
            &two_keys,
            "control: kid k1",
            &token(Algorithm::HS256, &claims(), Some("k1")),
            Accepted,
        )
        .await;
    let k2 = sign_raw(
        &json!({"alg": "HS256", "kid": "k2"}).to_string(),
        &claims().to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(&[9u8; 32]),
    );
    checks
        .token(&two_keys, "control: kid k2", &k2, Accepted)
        .await;
    checks
        .token(
            &two_keys,
            "control: kid k1 spelled with a JSON escape (k\\u0031)",
            &hs_raw(r#"{"alg":"HS256","kid":"k\u0031"}"#, &claims().to_string()),
            Accepted,
        )
        .await;
    checks
        .token(
            &single,
            "control: single key, no kid",
            &hs256(&claims()),
            Accepted,
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// crit, b64, enc, zip, unknown header parameters

#[tokio::test]
async fn crit_b64_enc_and_zip_headers_are_refused() {
    let mut checks = Checks::new("crit/b64/enc/zip");
    let layer = hs_layer();
    let refused_headers: Vec<(&str, String)> = vec![
        (
            "crit [\"exp2\"] (unknown, present)",
            json!({"alg": "HS256", "crit": ["exp2"], "exp2": 1}).to_string(),
        ),
        (
            "crit [\"exp2\"] (unknown, absent)",
            json!({"alg": "HS256", "crit": ["exp2"]}).to_string(),
        ),
        ("crit []", json!({"alg": "HS256", "crit": []}).to_string()),
        (
            "crit [\"alg\"] (a registered parameter)",
            json!({"alg": "HS256", "crit": ["alg"]}).to_string(),
        ),
        (
            "crit [\"kid\"] (absent parameter)",
            json!({"alg": "HS256", "crit": ["kid"]}).to_string(),
        ),
        (
            "crit \"exp2\" (not an array)",
            json!({"alg": "HS256", "crit": "exp2"}).to_string(),
        ),
        (
            "crit null",
            json!({"alg": "HS256", "crit": null}).to_string(),
        ),
        (
            "crit with an escaped name",
            r#"{"alg":"HS256","\u0063rit":["exp2"]}"#.to_owned(),
        ),
        (
            "b64 false",
            json!({"alg": "HS256", "b64": false}).to_string(),
        ),
        (
            "b64 false with crit [\"b64\"] (RFC 7797)",
            json!({"alg": "HS256", "b64": false, "crit": ["b64"]}).to_string(),
        ),
        ("b64 true", json!({"alg": "HS256", "b64": true}).to_string()),
        (
            "enc in a JWS header",
            json!({"alg": "HS256", "enc": "A128GCM"}).to_string(),
        ),
        (
            "zip in a JWS header",
            json!({"alg": "HS256", "zip": "DEF"}).to_string(),
        ),
        (
            "enc and zip",
            json!({"alg": "HS256", "enc": "A256GCM", "zip": "DEF"}).to_string(),
        ),
        (
            "crit before alg",
            r#"{"crit":["exp2"],"exp2":true,"alg":"HS256"}"#.to_owned(),
        ),
    ];
    for (what, head) in refused_headers {
        let token = hs_raw(&head, &claims().to_string());
        checks
            .token(
                &layer,
                format!("correctly signed, {what}"),
                &token,
                because(InvalidToken::UnsupportedHeaderParameter),
            )
            .await;
    }
    checks
        .token(
            &layer,
            "control: no crit",
            &hs_with(&header("HS256"), &claims()),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "control: unknown non-critical header parameter",
            &hs_with(
                &json!({"alg": "HS256", "x-custom": {"a": 1}, "exp2": 1}),
                &claims(),
            ),
            Accepted,
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// JWE, nested JWTs, JSON serialization, polyglots

#[tokio::test]
async fn jwe_nested_and_json_serialized_tokens_are_refused() {
    let mut checks = Checks::new("JWE / nested / JSON serialization");
    let layer = hs_layer_with_header_source();
    let valid = hs256(&claims());
    let parts = segments(&valid);
    let (h, p, s) = (parts[0], parts[1], parts[2]);

    // JWE and wrong segment counts.
    let jwe_header = b64(json!({"alg": "RSA-OAEP", "enc": "A256GCM"}).to_string());
    let jws_header_jwe = b64(json!({"alg": "HS256", "enc": "A256GCM"}).to_string());
    let structural: Vec<(&str, String, Expect)> = vec![
        (
            "JWE (5 segments)",
            format!(
                "{jwe_header}.{}.{}.{}.{}",
                b64([1u8; 256]),
                b64([2u8; 12]),
                b64(b"ciphertext"),
                b64([3u8; 16])
            ),
            because(InvalidToken::Encrypted),
        ),
        (
            "JWE with dir (empty key segment)",
            format!(
                "{jwe_header}..{}.{}.{}",
                b64([2u8; 12]),
                b64(b"ciphertext"),
                b64([3u8; 16])
            ),
            because(InvalidToken::Encrypted),
        ),
        (
            "5 segments with a JWS header",
            format!("{jws_header_jwe}.{p}.{s}.{p}.{s}"),
            because(InvalidToken::Encrypted),
        ),
        (
            "valid JWS + 2 extra segments",
            format!("{valid}.{p}.{s}"),
            because(InvalidToken::Encrypted),
        ),
        (
            "4 segments",
            format!("{valid}.{s}"),
            because(InvalidToken::Malformed),
        ),
        (
            "6 segments",
            format!("{valid}.{p}.{s}.{h}"),
            because(InvalidToken::Malformed),
        ),
        (
            "2 segments",
            format!("{h}.{p}"),
            because(InvalidToken::Malformed),
        ),
        ("1 segment", h.to_owned(), because(InvalidToken::Malformed)),
        (
            "empty header segment",
            format!(".{p}.{s}"),
            because(InvalidToken::Malformed),
        ),
        ("only dots", "..".to_owned(), REFUSED),
        (
            "detached payload",
            format!("{h}..{s}"),
            because(InvalidToken::DetachedPayload),
        ),
    ];
    for (what, token, expect) in structural {
        checks.token(&layer, what, &token, expect).await;
    }

    // Nested JWTs: cty JWT in any spelling, with a JWT or with valid claims as payload.
    let inner_jwt = hs256(&claims());
    for cty in [
        "JWT",
        "jwt",
        "Jwt",
        "application/jwt",
        "APPLICATION/JWT",
        "application/JWT",
    ] {
        let head = json!({"alg": "HS256", "cty": cty});
        let nested = sign_raw(
            &head.to_string(),
            &inner_jwt,
            Algorithm::HS256,
            &signing_key(Algorithm::HS256),
        );
        checks
            .token(
                &layer,
                format!("nested JWT, cty {cty:?}"),
                &nested,
                because(InvalidToken::Nested),
            )
            .await;
        checks
            .token(
                &layer,
                format!("cty {cty:?} over valid claims"),
                &hs_with(&head, &claims()),
                because(InvalidToken::Nested),
            )
            .await;
    }
    checks
        .token(
            &layer,
            "cty a number",
            &hs_with(&json!({"alg": "HS256", "cty": 1}), &claims()),
            because(InvalidToken::MalformedHeader),
        )
        .await;
    for cty in ["json", "application/json"] {
        checks
            .token(
                &layer,
                format!("control: cty {cty:?} over valid claims"),
                &hs_with(&json!({"alg": "HS256", "cty": cty}), &claims()),
                Accepted,
            )
            .await;
    }

    // JSON serialization (RFC 7515 §7.2) and a compact/JSON polyglot (CVE-2022-39227 style: a verifier
    // that checks the JSON form but reads claims from the compact-looking key).
    let forged_payload = b64(with(claims(), "sub", json!("admin")).to_string());
    let general =
        json!({"payload": p, "signatures": [{"protected": h, "signature": s}]}).to_string();
    let flattened = json!({"protected": h, "payload": p, "signature": s}).to_string();
    let polyglot = format!(
        r#"{{"{h}.{forged_payload}.":"","protected":"{h}","payload":"{p}","signature":"{s}"}}"#
    );
    let polyglot_trailing =
        format!(r#"{h}.{forged_payload}.{{"protected":"{h}","payload":"{p}","signature":"{s}"}}"#);
    let compact_then_json = format!(r#"{valid}{{"a":1}}"#);
    for (what, value) in [
        ("general JSON serialization", &general),
        ("flattened JSON serialization", &flattened),
        ("compact/JSON polyglot", &polyglot),
        ("compact prefix with a JSON signature", &polyglot_trailing),
        ("valid compact token followed by JSON", &compact_then_json),
    ] {
        checks
            .run(
                &layer,
                format!("{what} as Bearer"),
                bearer(value),
                BadRequest,
            )
            .await;
        checks
            .run(
                &layer,
                format!("{what} in X-Token"),
                x_token_request(value),
                because(InvalidToken::Malformed),
            )
            .await;
    }
    checks
        .run(
            &layer,
            "control: compact token in X-Token",
            x_token_request(&valid),
            Accepted,
        )
        .await;
    checks
        .token(&layer, "control: compact token as Bearer", &valid, Accepted)
        .await;
    checks.finish();
}

// =========================================================================================================
// Non-canonical base64url, whitespace

#[tokio::test]
async fn non_canonical_base64url_is_refused() {
    let mut checks = Checks::new("base64url canonical form");
    let layer = hs_layer_with_header_source();
    let key = signing_key(Algorithm::HS256);

    // Segments whose encoded form has a partial last quantum, so padding and trailing bits exist.
    let head_json = with_partial_quantum(&header("HS256").to_string());
    let payload_json = with_partial_quantum(&claims().to_string());
    let h = b64(&head_json);
    let p = b64(&payload_json);
    let valid = sign_segments(&h, &p, Algorithm::HS256, &key);
    let s = segments(&valid)[2].to_owned();
    assert_ne!(s.len() % 4, 0);
    checks
        .token(
            &layer,
            "control: canonical token (trailing whitespace in the JSON)",
            &valid,
            Accepted,
        )
        .await;
    checks
        .run(
            &layer,
            "control: canonical token in X-Token",
            x_token_request(&valid),
            Accepted,
        )
        .await;

    // `=` padding, each token correctly signed over exactly the text it carries.
    let padded_header = sign_segments(&padded(&h), &p, Algorithm::HS256, &key);
    let padded_payload = sign_segments(&h, &padded(&p), Algorithm::HS256, &key);
    let padded_signature = format!("{h}.{p}.{}", padded(&s));
    let padded_all = {
        let t = sign_segments(&padded(&h), &padded(&p), Algorithm::HS256, &key);
        let sig = segments(&t)[2].to_owned();
        format!("{}.{}.{}", padded(&h), padded(&p), padded(&sig))
    };
    // Bearer's token68 allows `=` only at the very end: a padded header or payload is a malformed request.
    checks
        .token(
            &layer,
            "Bearer: padded header segment",
            &padded_header,
            BadRequest,
        )
        .await;
    checks
        .token(
            &layer,
            "Bearer: padded payload segment",
            &padded_payload,
            BadRequest,
        )
        .await;
    checks
        .token(
            &layer,
            "Bearer: every segment padded",
            &padded_all,
            BadRequest,
        )
        .await;
    checks
        .token(
            &layer,
            "Bearer: padded signature segment",
            &padded_signature,
            because(InvalidToken::Malformed),
        )
        .await;
    for (what, token) in [
        ("padded header segment", &padded_header),
        ("padded payload segment", &padded_payload),
        ("padded signature segment", &padded_signature),
        ("every segment padded", &padded_all),
    ] {
        checks
            .run(
                &layer,
                format!("X-Token: {what}"),
                x_token_request(token),
                because(InvalidToken::Malformed),
            )
            .await;
    }

    // The standard alphabet (`+`, `/`), correctly signed over the standard-alphabet text.
    let std_claims = with(claims(), "x", json!("?????>>>>>"));
    let std_payload = STANDARD_NO_PAD.encode(std_claims.to_string());
    assert!(
        std_payload.contains('+') && std_payload.contains('/'),
        "{std_payload}"
    );
    let std_header_json = json!({"alg": "HS256", "x": "?????>>>>>"}).to_string();
    let std_header = STANDARD_NO_PAD.encode(&std_header_json);
    assert!(
        std_header.contains('+') && std_header.contains('/'),
        "{std_header}"
    );
    checks
        .token(
            &layer,
            "control: the same claims, base64url",
            &hs_with(&header("HS256"), &std_claims),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "control: the same header, base64url",
            &hs_raw(&std_header_json, &claims().to_string()),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "payload in standard base64 (+ and /)",
            &sign_segments(&h, &std_payload, Algorithm::HS256, &key),
            because(InvalidToken::Malformed),
        )
        .await;
    checks
        .token(
            &layer,
            "header in standard base64 (+ and /)",
            &sign_segments(&std_header, &p, Algorithm::HS256, &key),
            because(InvalidToken::Malformed),
        )
        .await;
    // A signature with `-` or `_` rewritten to `+` or `/`: the same bytes under the standard alphabet.
    let mut found = false;
    for i in 0..200 {
        let t = hs256(&with(claims(), "jti", json!(format!("jti-{i}"))));
        let sig = segments(&t)[2];
        if sig.contains('-') || sig.contains('_') {
            let std_sig = sig.replace('-', "+").replace('_', "/");
            assert_eq!(
                STANDARD_NO_PAD.decode(&std_sig).unwrap(),
                URL_SAFE_NO_PAD.decode(sig).unwrap()
            );
            let parts = segments(&t);
            checks
                .token(
                    &layer,
                    "control: token whose signature has - or _",
                    &t,
                    Accepted,
                )
                .await;
            checks
                .token(
                    &layer,
                    "signature in standard base64 (+ or /)",
                    &format!("{}.{}.{std_sig}", parts[0], parts[1]),
                    because(InvalidToken::Malformed),
                )
                .await;
            found = true;
            break;
        }
    }
    if !found {
        checks.fail(
            "signature in standard base64",
            "no signature with - or _ found in 200 tries".into(),
        );
    }

    // `~` is token68 but not base64url.
    checks
        .token(
            &layer,
            "signature with a ~",
            &format!("{h}.{p}.{}~", &s[..s.len() - 1]),
            because(InvalidToken::Malformed),
        )
        .await;

    // Non-zero trailing bits: the altered segment decodes to the same bytes under a lenient decoder, and the
    // header/payload cases are correctly signed over the altered text.
    let h_bits = set_trailing_bit(&h);
    let p_bits = set_trailing_bit(&p);
    let s_bits = set_trailing_bit(&s);
    for (what, token, reason) in [
        (
            "header with non-zero trailing bits",
            sign_segments(&h_bits, &p, Algorithm::HS256, &key),
            InvalidToken::Malformed,
        ),
        (
            "payload with non-zero trailing bits",
            sign_segments(&h, &p_bits, Algorithm::HS256, &key),
            InvalidToken::Malformed,
        ),
        (
            "signature with non-zero trailing bits",
            format!("{h}.{p}.{s_bits}"),
            InvalidToken::BadSignature,
        ),
    ] {
        checks.token(&layer, what, &token, because(reason)).await;
    }
    // A payload over 4 KiB (decoded on the heap rather than in the stack buffer), trailing bits set.
    let roomy = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_token_len(1 << 16)
        .build()
        .unwrap();
    let big_json =
        with_partial_quantum(&with(claims(), "blob", json!("b".repeat(6000))).to_string());
    let big_p = b64(&big_json);
    checks
        .token(
            &roomy,
            "control: payload over 4 KiB, canonical",
            &sign_segments(&h, &big_p, Algorithm::HS256, &key),
            Accepted,
        )
        .await;
    checks
        .token(
            &roomy,
            "payload over 4 KiB with non-zero trailing bits",
            &sign_segments(&h, &set_trailing_bit(&big_p), Algorithm::HS256, &key),
            because(InvalidToken::Malformed),
        )
        .await;
    checks
        .token(
            &roomy,
            "payload over 4 KiB, padded, as Bearer",
            &sign_segments(&h, &padded(&big_p), Algorithm::HS256, &key),
            BadRequest,
        )
        .await;
    // The same for an ES256 signature (86 characters, 4 trailing bits).
    let es_layer = strict(verification_key(Algorithm::ES256));
    let es = token(Algorithm::ES256, &claims(), None);
    let parts = segments(&es);
    checks
        .token(
            &es_layer,
            "ES256 signature with non-zero trailing bits",
            &format!("{}.{}.{}", parts[0], parts[1], set_trailing_bit(parts[2])),
            because(InvalidToken::BadSignature),
        )
        .await;
    checks.finish();
}

#[tokio::test]
async fn whitespace_and_control_characters_inside_the_token_are_refused() {
    let mut checks = Checks::new("whitespace inside the token");
    let layer = hs_layer_with_header_source();
    let valid = hs256(&claims());
    let parts = segments(&valid);
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let spaced = [
        ("space after the first dot", format!("{h}. {p}.{s}")),
        (
            "space inside the payload",
            format!("{h}.{}  {}.{s}", &p[..10], &p[10..]),
        ),
        (
            "tab inside the payload",
            format!("{h}.{}\t{}.{s}", &p[..10], &p[10..]),
        ),
        ("space before the signature", format!("{h}.{p}. {s}")),
    ];
    for (what, token) in &spaced {
        // Bearer: `1*SP token68` cannot contain whitespace: the request itself is malformed.
        checks
            .token(&layer, format!("Bearer: {what}"), token, BadRequest)
            .await;
        // A custom header takes the field value as the token: the token is malformed.
        checks
            .run(
                &layer,
                format!("X-Token: {what}"),
                x_token_request(token),
                because(InvalidToken::Malformed),
            )
            .await;
    }
    // Leading/trailing whitespace is not part of the field value (RFC 9110 §5.5): accepted.
    checks
        .run(
            &layer,
            "control: X-Token with surrounding spaces",
            x_token_request(&format!("  {valid} \t")),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "control: Bearer with several spaces",
            &format!("   {valid}"),
            Accepted,
        )
        .await;

    // A newline cannot be carried by an HTTP field value at all (http refuses to build it), so it can only
    // arrive percent-encoded, e.g. in a query parameter, which the query source takes verbatim.
    assert!(HeaderValue::from_str(&format!("{h}.\n{p}.{s}")).is_err());
    assert!(HeaderValue::from_str(&format!("{h}.\r\n{p}.{s}")).is_err());
    let query_layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .query("access_token")
        .build()
        .unwrap();
    let query = |value: &str| {
        Request::get(format!("/me?access_token={value}"))
            .body(String::new())
            .unwrap()
    };
    checks
        .run(
            &query_layer,
            "control: query parameter",
            query(&valid),
            Accepted,
        )
        .await;
    for (what, token) in [
        ("percent-encoded newline", format!("{h}.%0A{p}.{s}")),
        ("percent-encoded CRLF", format!("{h}.{p}%0D%0A.{s}")),
        ("percent-encoded space", format!("{h}.{p}.%20{s}")),
        ("percent-encoded NUL", format!("{h}.{p}.{s}%00")),
        ("plus sign (form-encoded space)", format!("{h}.+{p}.{s}")),
    ] {
        checks
            .run(
                &query_layer,
                format!("query: {what}"),
                query(&token),
                because(InvalidToken::Malformed),
            )
            .await;
    }
    checks.finish();
}

// =========================================================================================================
// JSON: BOM, non-objects, duplicates, syntax, nesting

#[tokio::test]
async fn malformed_json_in_header_or_payload_is_refused() {
    let mut checks = Checks::new("malformed JSON");
    let layer = hs_layer();
    let good_header = header("HS256").to_string();
    let good_claims = claims().to_string();

    let headers: Vec<(&str, Vec<u8>)> = vec![
        (
            "UTF-8 BOM before the header JSON",
            format!("\u{feff}{good_header}").into_bytes(),
        ),
        ("header is an array", br#"["HS256"]"#.to_vec()),
        ("header is a string", br#""HS256""#.to_vec()),
        ("header is a number", b"256".to_vec()),
        ("header is null", b"null".to_vec()),
        ("header is true", b"true".to_vec()),
        ("header is empty", b"".to_vec()),
        ("header is {}", b"{}".to_vec()),
        (
            "header with trailing garbage",
            format!("{good_header}x").into_bytes(),
        ),
        (
            "two header objects",
            format!("{good_header}{good_header}").into_bytes(),
        ),
        (
            "header with a trailing comma",
            br#"{"alg":"HS256",}"#.to_vec(),
        ),
        ("header with single quotes", br#"{'alg':'HS256'}"#.to_vec()),
        (
            "header with a comment",
            br#"{"alg":"HS256"/* x */}"#.to_vec(),
        ),
        ("header with an unquoted name", br#"{alg:"HS256"}"#.to_vec()),
        (
            "header with invalid UTF-8",
            b"{\"alg\":\"HS256\",\"x\":\"\xff\"}".to_vec(),
        ),
        (
            "header with a lone surrogate",
            br#"{"alg":"HS256","x":"\ud800"}"#.to_vec(),
        ),
        (
            "header with a raw control character",
            b"{\"alg\":\"HS256\",\"x\":\"a\x01b\"}".to_vec(),
        ),
        ("header truncated", br#"{"alg":"HS256""#.to_vec()),
        (
            "header with NUL after the object",
            format!("{good_header}\0").into_bytes(),
        ),
    ];
    for (what, bytes) in headers {
        let token = hs_bytes(&bytes, good_claims.as_bytes());
        let expect = if what == "header is empty" {
            REFUSED
        } else {
            because(InvalidToken::MalformedHeader)
        };
        checks.token(&layer, what, &token, expect).await;
    }

    let payloads: Vec<(&str, Vec<u8>)> = vec![
        (
            "UTF-8 BOM before the claims JSON",
            format!("\u{feff}{good_claims}").into_bytes(),
        ),
        (
            "claims are an array",
            format!("[{good_claims}]").into_bytes(),
        ),
        (
            "claims are a string",
            serde_json::to_vec(&good_claims).unwrap(),
        ),
        ("claims are a number", b"1".to_vec()),
        ("claims are null", b"null".to_vec()),
        ("claims are false", b"false".to_vec()),
        (
            "claims with trailing garbage",
            format!("{good_claims}x").into_bytes(),
        ),
        (
            "two claims objects",
            format!("{good_claims}{good_claims}").into_bytes(),
        ),
        (
            "claims with a trailing comma",
            claims_plus(r#""x":1,"#).into_bytes(),
        ),
        ("claims with NaN", claims_plus(r#""x":NaN"#).into_bytes()),
        (
            "claims with Infinity",
            claims_plus(r#""x":Infinity"#).into_bytes(),
        ),
        (
            "claims with a leading-zero number",
            claims_plus(r#""x":01"#).into_bytes(),
        ),
        (
            "claims with a hex number",
            claims_plus(r#""x":0x10"#).into_bytes(),
        ),
        (
            "claims with a comment",
            claims_plus(r#""x":1/* */"#).into_bytes(),
        ),
        (
            "claims with single-quoted strings",
            claims_plus(r#""x":'a'"#).into_bytes(),
        ),
        (
            "claims with invalid UTF-8",
            [
                claims_plus(r#""x":"a"#).into_bytes(),
                b"\xc3\x28\"}".to_vec(),
            ]
            .concat(),
        ),
        (
            "claims with overlong UTF-8",
            [
                claims_plus(r#""x":"a"#).into_bytes(),
                b"\xc0\xaf\"}".to_vec(),
            ]
            .concat(),
        ),
        (
            "claims with a lone low surrogate",
            claims_plus(r#""x":"\udc00""#).into_bytes(),
        ),
        (
            "claims with an invalid escape",
            claims_plus(r#""x":"\x41""#).into_bytes(),
        ),
        (
            "claims with a raw newline in a string",
            claims_plus("\"x\":\"a\nb\"").into_bytes(),
        ),
        (
            "claims truncated",
            good_claims.as_bytes()[..good_claims.len() - 1].to_vec(),
        ),
    ];
    for (what, bytes) in payloads {
        let token = hs_bytes(good_header.as_bytes(), &bytes);
        checks
            .token(&layer, what, &token, because(InvalidToken::MalformedClaims))
            .await;
    }
    // Controls: exotic but valid JSON.
    checks
        .token(
            &layer,
            "control: pretty-printed claims with CRLF",
            &hs_raw(
                &good_header,
                &serde_json::to_string_pretty(&claims())
                    .unwrap()
                    .replace('\n', "\r\n"),
            ),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "control: escaped claim names and values",
            &hs_raw(&good_header, &claims_plus(r#""\u0078":"\ud83d\ude00\n""#)),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "control: issuer written with escaped slashes",
            &hs_raw(
                &good_header,
                &claims().to_string().replace(
                    "https://issuer.example.com",
                    r"https:\/\/issuer.example.com",
                ),
            ),
            Accepted,
        )
        .await;
    checks.finish();
}

#[tokio::test]
async fn duplicate_json_members_are_refused() {
    let mut checks = Checks::new("duplicate members");
    let layer = hs_layer();
    let now = now();
    let claims_text = claims().to_string();
    let headers = [
        ("alg twice (HS256, none)", r#"{"alg":"HS256","alg":"none"}"#),
        (
            "alg twice (HS256, RS256)",
            r#"{"alg":"HS256","alg":"RS256"}"#,
        ),
        ("alg twice, same value", r#"{"alg":"HS256","alg":"HS256"}"#),
        ("alg and \\u0061lg", r#"{"alg":"HS256","\u0061lg":"RS256"}"#),
        (
            "typ twice",
            r#"{"alg":"HS256","typ":"JWT","typ":"dpop+jwt"}"#,
        ),
        ("kid twice", r#"{"alg":"HS256","kid":"a","kid":"b"}"#),
        (
            "crit hidden behind a duplicate",
            r#"{"alg":"HS256","x":1,"x":{"crit":["a"]}}"#,
        ),
        (
            "nested duplicate in the header",
            r#"{"alg":"HS256","jwk":{"kty":"EC","kty":"oct"}}"#,
        ),
    ];
    for (what, head) in headers {
        checks
            .token(
                &layer,
                format!("header: {what}"),
                &hs_raw(head, &claims_text),
                because(InvalidToken::MalformedHeader),
            )
            .await;
    }
    // `none` is refused as soon as it is read, before the duplicate is seen: any 401 will do.
    checks
        .token(
            &layer,
            "header: alg twice (none, HS256)",
            &hs_raw(r#"{"alg":"none","alg":"HS256"}"#, &claims_text),
            REFUSED,
        )
        .await;
    let future = now + 3600;
    let past = now - 3600;
    let payloads = [
        ("sub twice", claims_plus(r#""sub":"admin""#)),
        ("sub and s\\u0075b", claims_plus(r#""s\u0075b":"admin""#)),
        (
            "exp twice (future, past)",
            claims_plus(&format!(r#""exp":{past}"#)),
        ),
        (
            "exp twice (past first)",
            format!(
                r#"{{"exp":{past},"sub":"user-1","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{future}}}"#
            ),
        ),
        (
            "exp and \\u0065xp",
            claims_plus(&format!(r#""\u0065xp":{future}"#)),
        ),
        (
            "exp and \\u0065\\u0078\\u0070",
            claims_plus(&format!(r#""\u0065\u0078\u0070":{future}"#)),
        ),
        (
            "iss twice",
            claims_plus(r#""iss":"https://attacker.example""#),
        ),
        ("aud twice", claims_plus(r#""aud":"other""#)),
        (
            "nested duplicate",
            claims_plus(r#""ctx":{"role":"user","role":"admin"}"#),
        ),
        (
            "deeply nested duplicate",
            claims_plus(r#""ctx":{"a":{"b":{"c":1,"c":2}}}"#),
        ),
        (
            "duplicate inside an array element",
            claims_plus(r#""roles":[{"r":"user"},{"r":"a","r":"admin"}]"#),
        ),
        (
            "duplicate with a surrogate-pair escape",
            claims_plus(r#""😀":1,"\ud83d\ude00":2"#),
        ),
    ];
    for (what, payload) in payloads {
        checks
            .token(
                &layer,
                format!("payload: {what}"),
                &hs_raw(&header("HS256").to_string(), &payload),
                because(InvalidToken::MalformedClaims),
            )
            .await;
    }
    // Controls: same names in different objects are not duplicates.
    checks
        .token(
            &layer,
            "control: same member name at different levels",
            &hs_raw(
                &header("HS256").to_string(),
                &claims_plus(r#""ctx":{"sub":"x","exp":1,"ctx":{"sub":"y"}}"#),
            ),
            Accepted,
        )
        .await;
    checks.finish();
}

#[tokio::test]
async fn oversized_tokens_and_deep_nesting_are_refused_without_crashing() {
    let mut checks = Checks::new("size and nesting");
    let layer = hs_layer();
    let roomy = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_token_len(1 << 21)
        .build()
        .unwrap();

    // Over 8 KiB: refused for size; the same token is fine once the cap allows it.
    let big = hs256(&with(claims(), "blob", json!("a".repeat(7000))));
    assert!(big.len() > 8 * 1024);
    checks
        .token(
            &layer,
            "token over 8 KiB",
            &big,
            because(InvalidToken::TooLarge),
        )
        .await;
    checks
        .token(
            &roomy,
            "control: the same token with a larger cap",
            &big,
            Accepted,
        )
        .await;
    // A token over the cap that is not even a JWT is refused for size too (before any decoding).
    checks
        .token(
            &layer,
            "8 KiB + 1 of garbage",
            &"a".repeat(8 * 1024 + 1),
            because(InvalidToken::TooLarge),
        )
        .await;
    checks
        .token(
            &layer,
            "1 MiB of dots and letters",
            &"a.".repeat(1 << 19),
            because(InvalidToken::TooLarge),
        )
        .await;

    // The boundary: the longest reachable token <= 8192 is accepted, the shortest > 8192 refused.
    let mut at_most = None;
    let mut over = None;
    for n in 5800..6400 {
        let t = hs256(&with(claims(), "blob", json!("a".repeat(n))));
        if t.len() <= 8192 {
            at_most = Some(t);
        } else if over.is_none() {
            over = Some(t);
        }
    }
    let (at_most, over) = (at_most.unwrap(), over.unwrap());
    checks
        .token(
            &layer,
            format!("control: token of {} bytes (<= 8192)", at_most.len()),
            &at_most,
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            format!("token of {} bytes (> 8192)", over.len()),
            &over,
            because(InvalidToken::TooLarge),
        )
        .await;

    // Every payload size around the 4 KiB decode buffer is accepted (stack and heap decoding agree).
    let base_len = claims_plus(r#""blob":"""#).len();
    for decoded in 4080..4110 {
        let blob = "c".repeat(decoded - base_len);
        let payload = claims_plus(&format!(r#""blob":"{blob}""#));
        assert_eq!(payload.len(), decoded);
        checks
            .token(
                &layer,
                format!("control: payload of {decoded} bytes"),
                &hs_raw(&header("HS256").to_string(), &payload),
                Accepted,
            )
            .await;
    }
    // Header segments swept across the header cap: accepted, or refused as too large, never anything else.
    let mut refused_any = false;
    for pad in (1400..1700).step_by(7) {
        let head = json!({"alg": "HS256", "x-pad": "h".repeat(pad)});
        let t = hs_with(&head, &claims());
        let outcome = run(&layer, bearer(&t)).await;
        refused_any |= outcome.status != StatusCode::OK;
        checks.check(
            &format!(
                "header segment of {} characters",
                b64(head.to_string()).len()
            ),
            &outcome,
            AcceptedOr(InvalidToken::TooLarge),
        );
    }
    assert!(refused_any, "the header sweep should cross the header cap");

    // An oversized header segment inside a token under the size cap.
    let big_header = json!({"alg": "HS256", "x-pad": "a".repeat(3000)});
    let t = hs_with(&big_header, &claims());
    assert!(t.len() < 8 * 1024);
    checks
        .token(
            &layer,
            "header segment of ~4 KiB",
            &t,
            because(InvalidToken::TooLarge),
        )
        .await;
    checks
        .token(
            &roomy,
            "header segment of ~4 KiB (larger token cap)",
            &t,
            because(InvalidToken::TooLarge),
        )
        .await;
    let kid_header = json!({"alg": "HS256", "x-pad": "a".repeat(600)});
    checks
        .token(
            &layer,
            "control: header segment of ~800 bytes",
            &hs_with(&kid_header, &claims()),
            Accepted,
        )
        .await;

    // Deep nesting, correctly signed: refused as malformed claims, no stack overflow.
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    checks
        .token(
            &layer,
            "control: claim nested 5 deep",
            &hs_raw(
                &header("HS256").to_string(),
                &claims_plus(&format!(r#""deep":{}"#, nest(5))),
            ),
            Accepted,
        )
        .await;
    for (what, member, on) in [
        (
            "1000 nested arrays in a claim",
            format!(r#""deep":{}"#, nest(1000)),
            &layer,
        ),
        (
            "1000 nested objects in a claim (large cap)",
            format!(r#""deep":{}"#, objects(1000)),
            &roomy,
        ),
        (
            "100000 nested arrays in a claim (large cap)",
            format!(r#""deep":{}"#, nest(100_000)),
            &roomy,
        ),
        (
            "100000 unclosed arrays in a claim (large cap)",
            format!(r#""deep":{}"#, "[".repeat(100_000)),
            &roomy,
        ),
    ] {
        let t = hs_raw(&header("HS256").to_string(), &claims_plus(&member));
        checks
            .token(on, what, &t, because(InvalidToken::MalformedClaims))
            .await;
    }
    let deep_header = format!(r#"{{"alg":"HS256","x":{}}}"#, nest(500));
    checks
        .token(
            &layer,
            "500 nested arrays in the header",
            &hs_raw(&deep_header, &claims().to_string()),
            because(InvalidToken::MalformedHeader),
        )
        .await;
    // Many members (past the inline duplicate-detection buffer), all distinct, then one duplicate.
    let many: String = (0..500)
        .map(|i| format!(r#""m{i}":{i}"#))
        .collect::<Vec<_>>()
        .join(",");
    checks
        .token(
            &layer,
            "control: 500 distinct claims",
            &hs_raw(&header("HS256").to_string(), &claims_plus(&many)),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "500 claims with a duplicate at the end",
            &hs_raw(
                &header("HS256").to_string(),
                &claims_plus(&format!("{many},\"m3\":0")),
            ),
            because(InvalidToken::MalformedClaims),
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// exp / nbf / iat

#[tokio::test]
async fn time_claims_are_checked_strictly() {
    let mut checks = Checks::new("exp/nbf/iat");
    let layer = hs_layer();
    let now = now();
    let base = claims;
    let header_text = header("HS256").to_string();
    let raw_exp = |exp: &str| {
        let mut c = without(base(), "exp").to_string();
        c.insert_str(c.len() - 1, &format!(r#","exp":{exp}"#));
        hs_raw(&header_text, &c)
    };
    let cases: Vec<(&str, String, Expect)> = vec![
        ("control: valid", hs256(&base()), Accepted),
        (
            "control: exp a float in the future",
            hs256(&with(base(), "exp", json!(now as f64 + 3600.5))),
            Accepted,
        ),
        (
            "control: exp in exponent notation in the future",
            raw_exp(&format!("{}e0", now + 3600)),
            Accepted,
        ),
        (
            "exp missing",
            hs256(&without(base(), "exp")),
            because(InvalidToken::MissingClaim("exp")),
        ),
        (
            "exp a string (future)",
            hs256(&with(base(), "exp", json!((now + 3600).to_string()))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp null",
            hs256(&with(base(), "exp", Value::Null)),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp true",
            hs256(&with(base(), "exp", json!(true))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp an array",
            hs256(&with(base(), "exp", json!([now + 3600]))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp an object",
            hs256(&with(base(), "exp", json!({"t": now + 3600}))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp negative",
            hs256(&with(base(), "exp", json!(-1))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp very negative",
            hs256(&with(base(), "exp", json!(i64::MIN))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp 0",
            hs256(&with(base(), "exp", json!(0))),
            because(InvalidToken::Expired),
        ),
        ("exp -0", raw_exp("-0"), because(InvalidToken::Expired)),
        (
            "exp a float in the past",
            hs256(&with(base(), "exp", json!(1_000_000_000.5))),
            because(InvalidToken::Expired),
        ),
        (
            "exp 2^53+1",
            hs256(&with(base(), "exp", json!(9_007_199_254_740_993u64))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp u64::MAX",
            raw_exp("18446744073709551615"),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp u64::MAX + 1",
            raw_exp("18446744073709551616"),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp 1e300",
            raw_exp("1e300"),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        // Refused by the JSON scanner (a number no double can hold) or as an invalid claim: either way a 401.
        ("exp 1e400 (overflows f64)", raw_exp("1e400"), REFUSED),
        ("exp -1e400", raw_exp("-1e400"), REFUSED),
        (
            "exp year 10000",
            hs256(&with(base(), "exp", json!(253_402_300_800u64))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp in milliseconds",
            hs256(&with(base(), "exp", json!((now + 3600) * 1000))),
            because(InvalidToken::InvalidClaim("exp")),
        ),
        (
            "exp 1e-400 (underflows to 0)",
            raw_exp("1e-400"),
            because(InvalidToken::Expired),
        ),
        (
            "nbf in the future",
            hs256(&with(base(), "nbf", json!(now + 3600))),
            because(InvalidToken::NotYetValid),
        ),
        (
            "nbf a string",
            hs256(&with(base(), "nbf", json!("0"))),
            because(InvalidToken::InvalidClaim("nbf")),
        ),
        (
            "nbf null",
            hs256(&with(base(), "nbf", Value::Null)),
            because(InvalidToken::InvalidClaim("nbf")),
        ),
        (
            "nbf negative",
            hs256(&with(base(), "nbf", json!(-5))),
            because(InvalidToken::InvalidClaim("nbf")),
        ),
        (
            "control: nbf in the past",
            hs256(&with(base(), "nbf", json!(now - 60))),
            Accepted,
        ),
        (
            "iat in the future",
            hs256(&with(base(), "iat", json!(now + 3600))),
            because(InvalidToken::IssuedInFuture),
        ),
        (
            "iat a string",
            hs256(&with(base(), "iat", json!(now.to_string()))),
            because(InvalidToken::InvalidClaim("iat")),
        ),
        (
            "iat after exp",
            hs256(&with(
                with(base(), "iat", json!(now + 20)),
                "exp",
                json!(now + 10),
            )),
            because(InvalidToken::IssuedInFuture),
        ),
        (
            "control: iat far in the past",
            hs256(&with(base(), "iat", json!(now - 86_400))),
            Accepted,
        ),
        // Default leeway: 30 s. `now` here is <= the layer's clock, so these are deterministic.
        (
            "exp one second past exp+leeway",
            hs256(&with(
                with(base(), "exp", json!(now - 31)),
                "iat",
                json!(now - 3600),
            )),
            because(InvalidToken::Expired),
        ),
        (
            "exp exactly at exp+leeway",
            hs256(&with(
                with(base(), "exp", json!(now - 30)),
                "iat",
                json!(now - 3600),
            )),
            because(InvalidToken::Expired),
        ),
        (
            "control: exp within the leeway",
            hs256(&with(
                with(base(), "exp", json!(now - 20)),
                "iat",
                json!(now - 3600),
            )),
            Accepted,
        ),
        (
            "nbf beyond the leeway",
            hs256(&with(base(), "nbf", json!(now + 90))),
            because(InvalidToken::NotYetValid),
        ),
        (
            "control: nbf within the leeway",
            hs256(&with(base(), "nbf", json!(now + 10))),
            Accepted,
        ),
        (
            "iat beyond the leeway",
            hs256(&with(base(), "iat", json!(now + 90))),
            because(InvalidToken::IssuedInFuture),
        ),
        (
            "control: iat within the leeway",
            hs256(&with(base(), "iat", json!(now + 10))),
            Accepted,
        ),
    ];
    for (what, token, expect) in cases {
        checks.token(&layer, what, &token, expect).await;
    }

    // A tighter leeway.
    let tight = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(5))
        .build()
        .unwrap();
    checks
        .token(
            &tight,
            "leeway 5 s: exp 6 s ago",
            &hs256(&with(
                with(base(), "exp", json!(now - 6)),
                "iat",
                json!(now - 3600),
            )),
            because(InvalidToken::Expired),
        )
        .await;
    checks
        .token(
            &tight,
            "control: leeway 5 s, exp 2 s from now",
            &hs256(&with(base(), "exp", json!(now + 2))),
            Accepted,
        )
        .await;
    checks
        .token(
            &tight,
            "leeway 5 s: nbf 60 s ahead",
            &hs256(&with(base(), "nbf", json!(now + 60))),
            because(InvalidToken::NotYetValid),
        )
        .await;
    assert!(
        matches!(
            JwtAuthLayer::<RegisteredClaims>::builder()
                .key(Key::hs256(SECRET).unwrap())
                .leeway(Duration::from_secs(301))
                .build(),
            Err(ConfigError::InvalidOption(_))
        ),
        "a leeway over 5 minutes must be refused at build time"
    );

    // max_lifetime.
    let short = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let lifetime = |iat: Option<u64>, exp: u64| {
        let c = with(base(), "exp", json!(exp));
        hs256(&match iat {
            Some(iat) => with(c, "iat", json!(iat)),
            None => without(c, "iat"),
        })
    };
    for (what, token, expect) in [
        (
            "max_lifetime 1 h: iat now, exp in 2 h",
            lifetime(Some(now), now + 7200),
            because(InvalidToken::LifetimeTooLong),
        ),
        (
            "max_lifetime 1 h: issued 2 h ago, exp in 5 min",
            lifetime(Some(now - 7200), now + 300),
            because(InvalidToken::LifetimeTooLong),
        ),
        (
            "max_lifetime 1 h: no iat, exp in 2 h",
            lifetime(None, now + 7200),
            because(InvalidToken::LifetimeTooLong),
        ),
        (
            "max_lifetime 1 h: iat now, exp in a year",
            lifetime(Some(now), now + 31_536_000),
            because(InvalidToken::LifetimeTooLong),
        ),
        (
            "control: max_lifetime 1 h, iat now, exp in 30 min",
            lifetime(Some(now), now + 1800),
            Accepted,
        ),
        (
            "control: max_lifetime 1 h, no iat, exp in 30 min",
            lifetime(None, now + 1800),
            Accepted,
        ),
    ] {
        checks.token(&short, what, &token, expect).await;
    }
    checks.finish();
}

// =========================================================================================================
// iss / aud / sub

#[tokio::test]
async fn issuer_audience_and_subject_are_checked_exactly() {
    let mut checks = Checks::new("iss/aud/sub");
    let layer = hs_layer();
    let base = claims;
    let iss = |v: Value| hs256(&with(base(), "iss", v));
    let aud = |v: Value| hs256(&with(base(), "aud", v));
    let sub = |v: Value| hs256(&with(base(), "sub", v));
    let cases: Vec<(&str, String, Expect)> = vec![
        ("control: valid", hs256(&base()), Accepted),
        (
            "iss missing",
            hs256(&without(base(), "iss")),
            because(InvalidToken::MissingClaim("iss")),
        ),
        (
            "iss different",
            iss(json!("https://attacker.example")),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss with a suffix",
            iss(json!(format!("{ISSUER}.attacker.example"))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss with a path suffix",
            iss(json!(format!("{ISSUER}/evil"))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss with a trailing slash",
            iss(json!(format!("{ISSUER}/"))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss in upper case",
            iss(json!(ISSUER.to_uppercase())),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss with another scheme",
            iss(json!(ISSUER.replace("https", "http"))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss prefix only",
            iss(json!(&ISSUER[..ISSUER.len() - 1])),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss + NUL",
            iss(json!(format!("{ISSUER}\u{0}"))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss with surrounding spaces",
            iss(json!(format!(" {ISSUER} "))),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss empty",
            iss(json!("")),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "iss an array with the right issuer",
            iss(json!([ISSUER])),
            because(InvalidToken::InvalidClaim("iss")),
        ),
        (
            "iss a number",
            iss(json!(1)),
            because(InvalidToken::InvalidClaim("iss")),
        ),
        (
            "iss null",
            iss(Value::Null),
            because(InvalidToken::InvalidClaim("iss")),
        ),
        (
            "iss an object",
            iss(json!({"iss": ISSUER})),
            because(InvalidToken::InvalidClaim("iss")),
        ),
        (
            "aud missing",
            hs256(&without(base(), "aud")),
            because(InvalidToken::MissingClaim("aud")),
        ),
        (
            "aud different",
            aud(json!("https://other.example.com")),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud with a trailing slash",
            aud(json!(format!("{AUDIENCE}/"))),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud in upper case",
            aud(json!(AUDIENCE.to_uppercase())),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud empty string",
            aud(json!("")),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud empty array",
            aud(json!([])),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud array of others",
            aud(json!(["a", "b"])),
            because(InvalidToken::WrongAudience),
        ),
        (
            "aud a number",
            aud(json!(1)),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud null",
            aud(Value::Null),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud true",
            aud(json!(true)),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud an object",
            aud(json!({"aud": AUDIENCE})),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud array with a non-string",
            aud(json!(["other", 5])),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud array with the right audience and a non-string",
            aud(json!([AUDIENCE, 5])),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud array with the right audience and null",
            aud(json!([null, AUDIENCE])),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "aud nested array",
            aud(json!([[AUDIENCE]])),
            because(InvalidToken::InvalidClaim("aud")),
        ),
        (
            "control: aud array with the right audience",
            aud(json!([AUDIENCE])),
            Accepted,
        ),
        (
            "control: aud array with others and the right audience",
            aud(json!(["a", AUDIENCE, "b"])),
            Accepted,
        ),
        (
            "sub missing",
            hs256(&without(base(), "sub")),
            because(InvalidToken::MissingClaim("sub")),
        ),
        (
            "sub empty",
            sub(json!("")),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "sub a number",
            sub(json!(42)),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "sub null",
            sub(Value::Null),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "sub an array",
            sub(json!(["user-1"])),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "sub an object",
            sub(json!({"id": "user-1"})),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "sub true",
            sub(json!(true)),
            because(InvalidToken::InvalidClaim("sub")),
        ),
        (
            "jti a number",
            hs256(&with(base(), "jti", json!(1))),
            because(InvalidToken::InvalidClaim("jti")),
        ),
    ];
    for (what, token, expect) in cases {
        checks.token(&layer, what, &token, expect).await;
    }

    // Several accepted audiences.
    let two_audiences = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .audience("https://second.example.com")
        .build()
        .unwrap();
    checks
        .token(
            &two_audiences,
            "control: second configured audience",
            &aud(json!("https://second.example.com")),
            Accepted,
        )
        .await;
    checks
        .token(
            &two_audiences,
            "two audiences: neither",
            &aud(json!("https://third.example.com")),
            because(InvalidToken::WrongAudience),
        )
        .await;

    // require_sub(false).
    let no_sub = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_sub(false)
        .build()
        .unwrap();
    checks
        .token(
            &no_sub,
            "control: require_sub(false), sub missing",
            &hs256(&without(base(), "sub")),
            Accepted,
        )
        .await;
    checks
        .token(
            &no_sub,
            "control: require_sub(false), sub present",
            &hs256(&base()),
            Accepted,
        )
        .await;
    checks
        .token(
            &no_sub,
            "require_sub(false), sub a number",
            &sub(json!(42)),
            because(InvalidToken::InvalidClaim("sub")),
        )
        .await;

    // Without issuer/audience configured, they are still type-checked when present.
    let lax = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .build()
        .unwrap();
    checks
        .token(
            &lax,
            "control: no issuer/audience configured",
            &hs256(&without(without(base(), "iss"), "aud")),
            Accepted,
        )
        .await;
    checks
        .token(
            &lax,
            "no audience configured, aud a number",
            &aud(json!(1)),
            because(InvalidToken::InvalidClaim("aud")),
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// typ

#[tokio::test]
async fn typ_confusion_is_refused() {
    let mut checks = Checks::new("typ");
    let at_jwt = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .required_typ("at+jwt")
        .build()
        .unwrap();
    let default = hs_layer();
    let typed = |typ: Option<Value>| {
        let mut head = json!({"alg": "HS256"});
        if let Some(typ) = typ {
            head["typ"] = typ;
        }
        hs_with(&head, &claims())
    };
    let required: Vec<(&str, Option<Value>, Expect)> = vec![
        (
            "typ JWT",
            Some(json!("JWT")),
            because(InvalidToken::TypeNotAccepted),
        ),
        ("typ missing", None, because(InvalidToken::TypeNotAccepted)),
        (
            "typ dpop+jwt",
            Some(json!("dpop+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ application/dpop+jwt",
            Some(json!("application/dpop+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ jwt+at (reversed)",
            Some(json!("jwt+at")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ empty",
            Some(json!("")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ a number",
            Some(json!(1)),
            because(InvalidToken::MalformedHeader),
        ),
        (
            "typ null",
            Some(Value::Null),
            because(InvalidToken::MalformedHeader),
        ),
        (
            "typ [\"at+jwt\"]",
            Some(json!(["at+jwt"])),
            because(InvalidToken::MalformedHeader),
        ),
        ("control: typ at+jwt", Some(json!("at+jwt")), Accepted),
        (
            "control: typ application/at+jwt",
            Some(json!("application/at+jwt")),
            Accepted,
        ),
        ("control: typ AT+JWT", Some(json!("AT+JWT")), Accepted),
    ];
    for (what, typ, expect) in required {
        checks
            .token(
                &at_jwt,
                format!("required at+jwt: {what}"),
                &typed(typ),
                expect,
            )
            .await;
    }
    let defaults: Vec<(&str, Option<Value>, Expect)> = vec![
        (
            "typ refresh+jwt",
            Some(json!("refresh+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ secevent+jwt",
            Some(json!("secevent+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ dpop+jwt",
            Some(json!("dpop+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ logout+jwt",
            Some(json!("logout+jwt")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ JOSE+JSON",
            Some(json!("JOSE+JSON")),
            because(InvalidToken::TypeNotAccepted),
        ),
        (
            "typ a number",
            Some(json!(1)),
            because(InvalidToken::MalformedHeader),
        ),
        ("control: typ JWT", Some(json!("JWT")), Accepted),
        ("control: typ jwt", Some(json!("jwt")), Accepted),
        (
            "control: typ application/jwt",
            Some(json!("application/jwt")),
            Accepted,
        ),
        ("control: typ at+jwt", Some(json!("at+jwt")), Accepted),
        ("control: typ missing", None, Accepted),
    ];
    for (what, typ, expect) in defaults {
        checks
            .token(
                &default,
                format!("default policy: {what}"),
                &typed(typ),
                expect,
            )
            .await;
    }
    checks.finish();
}

// =========================================================================================================
// Claims check hook

#[tokio::test]
async fn claims_check_hook_answers_403_and_is_only_asked_about_valid_tokens() {
    let mut checks = Checks::new("claims check");
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check_claims(move |c: &RegisteredClaims| {
            counter.fetch_add(1, Ordering::SeqCst);
            c.extra.get("role") == Some(&json!("admin"))
        })
        .build()
        .unwrap();
    let role = |r: Value| hs256(&with(claims(), "role", r));
    checks
        .token(
            &layer,
            "hook true (role admin)",
            &role(json!("admin")),
            Accepted,
        )
        .await;
    checks
        .token(
            &layer,
            "hook false (role user)",
            &role(json!("user")),
            Forbidden,
        )
        .await;
    checks
        .token(
            &layer,
            "hook false (role missing)",
            &hs256(&claims()),
            Forbidden,
        )
        .await;
    checks
        .token(
            &layer,
            "hook false (role [admin])",
            &role(json!(["admin"])),
            Forbidden,
        )
        .await;
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    // Invalid tokens are refused before the hook: 401, never 403, and the hook is not asked.
    let expired_admin = hs256(&with(
        with(claims(), "role", json!("admin")),
        "exp",
        json!(now() - 3600),
    ));
    checks
        .token(
            &layer,
            "expired admin token",
            &expired_admin,
            because(InvalidToken::Expired),
        )
        .await;
    let forged = sign_raw(
        &header("HS256").to_string(),
        &with(claims(), "role", json!("admin")).to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(&[1u8; 32]),
    );
    checks
        .token(
            &layer,
            "forged admin token",
            &forged,
            because(InvalidToken::BadSignature),
        )
        .await;
    checks
        .token(
            &layer,
            "alg none admin token",
            &format!(
                "{}.{}.",
                b64(r#"{"alg":"none"}"#),
                b64(with(claims(), "role", json!("admin")).to_string())
            ),
            REFUSED,
        )
        .await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        4,
        "the hook must not see unverified claims"
    );
    checks.finish();
}

// =========================================================================================================
// Key selection in key sets

#[tokio::test]
async fn key_selection_by_kid_cannot_be_steered() {
    let mut checks = Checks::new("key selection");
    let k2_secret = [9u8; 32];
    let two = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("k1"))
        .key(Key::hs256(k2_secret).unwrap().with_kid("k2"))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let k1_signed = |kid: Option<&str>| token(Algorithm::HS256, &claims(), kid);
    checks
        .token(
            &two,
            "control: signed by k1, kid k1",
            &k1_signed(Some("k1")),
            Accepted,
        )
        .await;
    checks
        .token(
            &two,
            "signed by k1, kid k2",
            &k1_signed(Some("k2")),
            because(InvalidToken::BadSignature),
        )
        .await;
    checks
        .token(
            &two,
            "signed by k1, no kid",
            &k1_signed(None),
            because(InvalidToken::KidRequired),
        )
        .await;
    checks
        .token(
            &two,
            "signed by k1, unknown kid",
            &k1_signed(Some("k3")),
            because(InvalidToken::UnknownKid),
        )
        .await;

    let ambiguous = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("same"))
        .key(Key::hs256(k2_secret).unwrap().with_kid("same"))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    checks
        .token(
            &ambiguous,
            "kid shared by two keys, valid for the first",
            &k1_signed(Some("same")),
            because(InvalidToken::AmbiguousKid),
        )
        .await;
    let k2_token = sign_raw(
        &json!({"alg": "HS256", "kid": "same"}).to_string(),
        &claims().to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(&k2_secret),
    );
    checks
        .token(
            &ambiguous,
            "kid shared by two keys, valid for the second",
            &k2_token,
            because(InvalidToken::AmbiguousKid),
        )
        .await;
    checks
        .token(
            &ambiguous,
            "kid shared by two keys, no kid",
            &k1_signed(None),
            because(InvalidToken::KidRequired),
        )
        .await;

    // The JWK set of tests/keys: kids bind both key and algorithm.
    let set = JwtAuthLayer::<RegisteredClaims>::builder()
        .key_set(KeySet::from_jwks_json(&key_text("jwks.json")).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let rsa2 = EncodingKey::from_rsa_pem(&key_file("rsa2_private.pem")).unwrap();
    let ps256_rsa2 = |kid: &str| {
        sign_raw(
            &json!({"alg": "PS256", "kid": kid}).to_string(),
            &claims().to_string(),
            Algorithm::PS256,
            &rsa2,
        )
    };
    let cases: Vec<(&str, String, Expect)> = vec![
        (
            "control: RS256 kid rsa-1",
            token(Algorithm::RS256, &claims(), Some("rsa-1")),
            Accepted,
        ),
        (
            "control: PS256 by rsa2, kid rsa-2",
            ps256_rsa2("rsa-2"),
            Accepted,
        ),
        (
            "control: ES256 kid ec-256",
            token(Algorithm::ES256, &claims(), Some("ec-256")),
            Accepted,
        ),
        (
            "control: ES384 kid ec-384",
            token(Algorithm::ES384, &claims(), Some("ec-384")),
            Accepted,
        ),
        (
            "control: EdDSA kid ed-1",
            token(Algorithm::EdDSA, &claims(), Some("ed-1")),
            Accepted,
        ),
        (
            "RS256 (rsa-1 key) naming rsa-2 (a PS256 key)",
            token(Algorithm::RS256, &claims(), Some("rsa-2")),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "PS256 by rsa-1 naming rsa-2",
            token(Algorithm::PS256, &claims(), Some("rsa-2")),
            because(InvalidToken::BadSignature),
        ),
        (
            "PS256 by rsa2 naming rsa-1 (an RS256 key)",
            ps256_rsa2("rsa-1"),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "ES256 naming ec-384",
            token(Algorithm::ES256, &claims(), Some("ec-384")),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "ES256 naming ed-1",
            token(Algorithm::ES256, &claims(), Some("ed-1")),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "HS256 keyed with the rsa-1 JWK text, kid rsa-1",
            sign_raw(
                &json!({"alg": "HS256", "kid": "rsa-1"}).to_string(),
                &claims().to_string(),
                Algorithm::HS256,
                &EncodingKey::from_secret(jwk("rsa-1").to_string().as_bytes()),
            ),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "valid RS256 without kid",
            token(Algorithm::RS256, &claims(), None),
            because(InvalidToken::KidRequired),
        ),
        (
            "valid RS256 with an unknown kid",
            token(Algorithm::RS256, &claims(), Some("rsa-3")),
            because(InvalidToken::UnknownKid),
        ),
    ];
    for (what, token, expect) in cases {
        checks
            .token(&set, format!("jwks.json: {what}"), &token, expect)
            .await;
    }

    // A single key with a kid: a token without kid uses it; a token naming another kid does not.
    let named = strict(Key::hs256(SECRET).unwrap().with_kid("only"));
    checks
        .token(
            &named,
            "control: single named key, token without kid",
            &k1_signed(None),
            Accepted,
        )
        .await;
    checks
        .token(
            &named,
            "single named key, token naming another kid",
            &k1_signed(Some("other")),
            because(InvalidToken::UnknownKid),
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// Request-level smuggling

#[tokio::test]
async fn credentials_cannot_be_smuggled_in_the_request() {
    let mut checks = Checks::new("request smuggling");
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .header(x_token())
        .query("access_token")
        .build()
        .unwrap();
    let valid = hs256(&claims());
    let forged = hs_with(&header("HS256"), &with(claims(), "sub", json!("admin")))
        .rsplit_once('.')
        .map(|(input, _)| format!("{input}.{}", segments(&valid)[2]))
        .unwrap();
    let get = || Request::get("/me");
    let cases: Vec<(&str, Request<String>, Expect)> = vec![
        ("control: Bearer", bearer(&valid), Accepted),
        (
            "control: lower-case scheme",
            get()
                .header("authorization", format!("bearer {valid}"))
                .body(String::new())
                .unwrap(),
            Accepted,
        ),
        (
            "two Authorization fields (valid, forged)",
            get()
                .header("authorization", format!("Bearer {valid}"))
                .header("authorization", format!("Bearer {forged}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "two Authorization fields (forged, valid)",
            get()
                .header("authorization", format!("Bearer {forged}"))
                .header("authorization", format!("Bearer {valid}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "two bearer credentials in one field",
            get()
                .header("authorization", format!("Bearer {forged}, Bearer {valid}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "two tokens after one Bearer",
            get()
                .header("authorization", format!("Bearer {forged} {valid}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "quoted token",
            get()
                .header("authorization", format!("Bearer \"{valid}\""))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "Bearer and X-Token",
            get()
                .header("authorization", format!("Bearer {valid}"))
                .header("x-token", &forged)
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "Bearer and query",
            Request::get(format!("/me?access_token={forged}"))
                .header("authorization", format!("Bearer {valid}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "query parameter twice",
            Request::get(format!("/me?access_token={valid}&access_token={forged}"))
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "X-Token twice",
            get()
                .header("x-token", &valid)
                .header("x-token", &forged)
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "empty X-Token",
            get().header("x-token", "").body(String::new()).unwrap(),
            BadRequest,
        ),
        (
            "Bearer without token",
            get()
                .header("authorization", "Bearer")
                .body(String::new())
                .unwrap(),
            BadRequest,
        ),
        (
            "Basic credentials",
            get()
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(String::new())
                .unwrap(),
            NoToken,
        ),
        (
            "no credentials",
            get().body(String::new()).unwrap(),
            NoToken,
        ),
        (
            "forged token (payload swapped)",
            bearer(&forged),
            because(InvalidToken::BadSignature),
        ),
    ];
    for (what, request, expect) in cases {
        checks.run(&layer, what, request, expect).await;
    }
    checks.finish();
}

// =========================================================================================================
// Claims of the application's own type

#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    sub: String,
    email: String,
    exp: u64,
}

#[tokio::test]
async fn claims_that_do_not_fit_the_application_type_are_refused() {
    let mut checks = Checks::new("application claims type");
    let layer = JwtAuthLayer::<AppClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    checks
        .token(&layer, "control: fits", &hs256(&claims()), Accepted)
        .await;
    checks
        .token(
            &layer,
            "email missing",
            &hs256(&without(claims(), "email")),
            because(InvalidToken::ClaimsShape),
        )
        .await;
    checks
        .token(
            &layer,
            "email a number",
            &hs256(&with(claims(), "email", json!(1))),
            because(InvalidToken::ClaimsShape),
        )
        .await;
    checks
        .token(
            &layer,
            "exp a float (valid NumericDate, not a u64)",
            &hs256(&with(claims(), "exp", json!(now() as f64 + 100.5))),
            because(InvalidToken::ClaimsShape),
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// Configuration-time key confusion

#[tokio::test]
async fn keys_cannot_be_configured_for_the_wrong_algorithm() {
    let rsa_pem = key_file("rsa_public.pem");
    let ec_pem = key_file("ec256_public.pem");
    let ed_pem = key_file("ed25519_public.pem");
    let cases: Vec<(&str, Result<Key, ConfigError>)> = vec![
        (
            "RSA public key as HS256",
            Key::from_pem(Algorithm::HS256, &rsa_pem),
        ),
        (
            "RSA public key as ES256",
            Key::from_pem(Algorithm::ES256, &rsa_pem),
        ),
        (
            "RSA public key as EdDSA",
            Key::from_pem(Algorithm::EdDSA, &rsa_pem),
        ),
        (
            "EC P-256 key as HS256",
            Key::from_pem(Algorithm::HS256, &ec_pem),
        ),
        (
            "EC P-256 key as ES384",
            Key::from_pem(Algorithm::ES384, &ec_pem),
        ),
        (
            "EC P-256 key as RS256",
            Key::from_pem(Algorithm::RS256, &ec_pem),
        ),
        (
            "Ed25519 key as HS256",
            Key::from_pem(Algorithm::HS256, &ed_pem),
        ),
        (
            "Ed25519 key as ES256",
            Key::from_pem(Algorithm::ES256, &ed_pem),
        ),
        (
            "RSA DER as HS256",
            Key::from_der(Algorithm::HS256, key_file("rsa_public.der")),
        ),
        (
            "RSA private key",
            Key::from_pem(Algorithm::RS256, key_file("rsa_private.pem")),
        ),
        (
            "EC private key",
            Key::from_pem(Algorithm::ES256, key_file("ec256_private.pem")),
        ),
        (
            "Ed25519 private key",
            Key::from_pem(Algorithm::EdDSA, key_file("ed25519_private.pem")),
        ),
        (
            "RSA 1024-bit key",
            Key::from_pem(Algorithm::RS256, key_file("rsa1024_public.pem")),
        ),
        (
            "RSA JWK as HS256",
            Key::from_jwk_json(&jwk("rsa-1").to_string(), Some(Algorithm::HS256)),
        ),
        (
            "RSA JWK (alg RS256) as PS256",
            Key::from_jwk_json(&jwk("rsa-1").to_string(), Some(Algorithm::PS256)),
        ),
        (
            "EC JWK as ES384",
            Key::from_jwk_json(&jwk("ec-256").to_string(), Some(Algorithm::ES384)),
        ),
        (
            "EC JWK as HS256",
            Key::from_jwk_json(&jwk("ec-256").to_string(), Some(Algorithm::HS256)),
        ),
        (
            "EC JWK with private d",
            Key::from_jwk_json(&with(jwk("ec-256"), "d", json!("AAAA")).to_string(), None),
        ),
        (
            "oct JWK with a secret shorter than HS256 needs",
            Key::from_jwk_json(
                r#"{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAA"}"#,
                None,
            ),
        ),
        (
            "oct JWK configured for RS256",
            Key::from_jwk_json(
                r#"{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
                Some(Algorithm::RS256),
            ),
        ),
        ("HS256 secret of 31 bytes", Key::hs256([1u8; 31])),
        ("HS256 empty secret", Key::hs256([])),
        (
            "HMAC constructor with RS256",
            Key::hmac(Algorithm::RS256, [1u8; 64]),
        ),
    ];
    let mut failures = Vec::new();
    for (what, result) in &cases {
        if let Ok(key) = result {
            failures.push(format!("{what}: accepted as {key:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "configurations that must fail were accepted:\n  {}",
        failures.join("\n  ")
    );
    // One oct JWK configured explicitly is a symmetric key the user asked for; a JWK set (a document
    // published for many verifiers) skips oct keys unless symmetric keys are allowed.
    let single = Key::from_jwk_json(
        r#"{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
        None,
    )
    .expect("an explicitly configured oct JWK");
    assert_eq!(single.algorithm(), Algorithm::HS256);
    let set = KeySet::from_jwks_json(r#"{"keys":[{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#).unwrap();
    assert!(set.keys().is_empty() && set.skipped().len() == 1);
    let allowed = KeySet::from_jwks_json_with(
        r#"{"keys":[{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#,
        &JwkOptions::default().allow_symmetric(true),
    )
    .unwrap();
    assert_eq!(allowed.keys().len(), 1);
}

// =========================================================================================================
// Optional mode: a bad token is refused, never downgraded to anonymous

#[tokio::test]
async fn optional_mode_never_downgrades_a_bad_token_to_anonymous() {
    let mut checks = Checks::new("optional mode");
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .optional()
        .build()
        .unwrap();
    let outcome = run(&layer, Request::get("/").body(String::new()).unwrap()).await;
    checks.check(
        "control: no token at all passes anonymously",
        &outcome,
        Accepted,
    );
    if outcome.reached_inner && !outcome.body.is_empty() {
        checks.fail(
            "anonymous request",
            format!("claims were inserted: {}", outcome.body),
        );
    }
    checks
        .run(
            &layer,
            "control: Basic credentials pass anonymously",
            Request::get("/")
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(String::new())
                .unwrap(),
            Accepted,
        )
        .await;
    checks
        .token(&layer, "control: valid token", &hs256(&claims()), Accepted)
        .await;
    let admin = with(claims(), "sub", json!("admin"));
    let cases: Vec<(&str, String, Expect)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(admin.to_string())),
            REFUSED,
        ),
        (
            "forged signature",
            sign_raw(
                &header("HS256").to_string(),
                &admin.to_string(),
                Algorithm::HS256,
                &EncodingKey::from_secret(&[1u8; 32]),
            ),
            because(InvalidToken::BadSignature),
        ),
        (
            "expired",
            hs256(&with(
                with(claims(), "exp", json!(now() - 3600)),
                "iat",
                json!(now() - 7200),
            )),
            because(InvalidToken::Expired),
        ),
        (
            "HS256 keyed with a public key",
            sign_raw(
                &header("RS256").to_string(),
                &admin.to_string(),
                Algorithm::HS256,
                &EncodingKey::from_secret(&key_file("rsa_public.pem")),
            ),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "garbage",
            "garbage".to_owned(),
            because(InvalidToken::Malformed),
        ),
        (
            "JWE",
            "a.b.c.d.e".to_owned(),
            because(InvalidToken::Encrypted),
        ),
        (
            "wrong audience",
            hs256(&with(claims(), "aud", json!("other"))),
            because(InvalidToken::WrongAudience),
        ),
    ];
    for (what, token, expect) in cases {
        checks
            .token(&layer, format!("optional: {what}"), &token, expect)
            .await;
    }
    checks
        .run(
            &layer,
            "optional: malformed Authorization",
            Request::get("/")
                .header("authorization", "Bearer a b")
                .body(String::new())
                .unwrap(),
            BadRequest,
        )
        .await;
    checks
        .run(
            &layer,
            "optional: Bearer without token",
            Request::get("/")
                .header("authorization", "Bearer")
                .body(String::new())
                .unwrap(),
            BadRequest,
        )
        .await;
    checks.finish();
}

// =========================================================================================================
// The asynchronous key path (KeyLookup::Pending): the same rules after the key arrives

/// A provider that always answers asynchronously; `kid` steers failures.
struct AsyncKeys {
    key: Arc<Key>,
    lookups: Arc<AtomicUsize>,
}

impl KeyProvider for AsyncKeys {
    type Future = std::future::Ready<Result<Arc<Key>, AuthError>>;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = match header.kid() {
            Some("down") => Err(AuthError::KeysUnavailable {
                retry_after: Duration::from_secs(7),
            }),
            Some("unknown") => Err(InvalidToken::UnknownKid.into()),
            _ => Ok(Arc::clone(&self.key)),
        };
        KeyLookup::Pending(std::future::ready(answer))
    }
}

#[tokio::test]
async fn asynchronous_key_lookups_apply_the_same_rules() {
    let mut checks = Checks::new("asynchronous key path");
    let lookups = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(AsyncKeys {
            key: Arc::new(Key::from_pem(Algorithm::RS256, key_file("rsa_public.pem")).unwrap()),
            lookups: lookups.clone(),
        })
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check_claims(move |c: &RegisteredClaims| {
            counter.fetch_add(1, Ordering::SeqCst);
            c.extra.get("role") != Some(&json!("banned"))
        })
        .build()
        .unwrap();
    let rs = |claims: &Value, kid: Option<&str>| token(Algorithm::RS256, claims, kid);
    let admin = with(claims(), "sub", json!("admin"));
    let head = |alg: &str| header(alg).to_string();
    let cases: Vec<(&str, String, Expect)> = vec![
        ("control: valid RS256", rs(&claims(), None), Accepted),
        (
            "claims hook refuses",
            rs(&with(claims(), "role", json!("banned")), None),
            Forbidden,
        ),
        (
            "HS256 keyed with the SPKI PEM",
            sign_raw(
                &head("HS256"),
                &admin.to_string(),
                Algorithm::HS256,
                &EncodingKey::from_secret(&key_file("rsa_public.pem")),
            ),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "PS256 by the same RSA key",
            token(Algorithm::PS256, &claims(), None),
            because(InvalidToken::AlgorithmMismatch),
        ),
        (
            "payload swapped after signing",
            {
                let valid = rs(&claims(), None);
                let p = segments(&valid);
                format!("{}.{}.{}", p[0], b64(admin.to_string()), p[2])
            },
            because(InvalidToken::BadSignature),
        ),
        (
            "attacker RSA key with embedded jwk",
            sign_raw(
                &json!({"alg": "RS256", "jwk": jwk("rsa-2")}).to_string(),
                &admin.to_string(),
                Algorithm::RS256,
                &EncodingKey::from_rsa_pem(&key_file("rsa2_private.pem")).unwrap(),
            ),
            because(InvalidToken::BadSignature),
        ),
        (
            "expired",
            rs(
                &with(
                    with(claims(), "exp", json!(now() - 3600)),
                    "iat",
                    json!(now() - 7200),
                ),
                None,
            ),
            because(InvalidToken::Expired),
        ),
        (
            "wrong issuer",
            rs(
                &with(claims(), "iss", json!("https://attacker.example")),
                None,
            ),
            because(InvalidToken::WrongIssuer),
        ),
        (
            "duplicate exp",
            sign_raw(
                &head("RS256"),
                &claims_plus(&format!(r#""exp":{}"#, now() + 999_999)),
                Algorithm::RS256,
                &signing_key(Algorithm::RS256),
            ),
            because(InvalidToken::MalformedClaims),
        ),
        (
            "crit",
            sign_raw(
                &json!({"alg": "RS256", "crit": ["exp2"], "exp2": 1}).to_string(),
                &claims().to_string(),
                Algorithm::RS256,
                &signing_key(Algorithm::RS256),
            ),
            because(InvalidToken::UnsupportedHeaderParameter),
        ),
        (
            "provider: unknown kid",
            rs(&claims(), Some("unknown")),
            because(InvalidToken::UnknownKid),
        ),
        (
            "provider: keys unavailable",
            rs(&claims(), Some("down")),
            Unavailable,
        ),
    ];
    for (what, token, expect) in cases {
        checks
            .token(&layer, format!("async: {what}"), &token, expect)
            .await;
    }
    // Tokens refused on structure never reach the provider.
    let before = lookups.load(Ordering::SeqCst);
    for (what, token) in [
        (
            "alg none",
            format!(
                "{}.{}.sig",
                b64(r#"{"alg":"none"}"#),
                b64(admin.to_string())
            ),
        ),
        ("JWE", "a.b.c.d.e".to_owned()),
        ("oversized", "a".repeat(9000)),
        (
            "typ dpop+jwt",
            sign_raw(
                &json!({"alg": "RS256", "typ": "dpop+jwt"}).to_string(),
                &claims().to_string(),
                Algorithm::RS256,
                &signing_key(Algorithm::RS256),
            ),
        ),
    ] {
        checks
            .token(&layer, format!("async: {what}"), &token, REFUSED)
            .await;
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        before,
        "structurally invalid tokens must be refused before any key lookup"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "the claims hook sees only the two verified tokens"
    );
    checks.finish();
}

// =========================================================================================================
// gRPC requests: refused with a gRPC status, never passed through

#[tokio::test]
async fn grpc_requests_with_bad_tokens_never_reach_the_service() {
    let mut checks = Checks::new("gRPC refusals");
    let layer = hs_layer();
    let grpc = |auth: Option<String>| {
        let mut request =
            Request::post("/pkg.Service/Method").header("content-type", "application/grpc");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.body(String::new()).unwrap()
    };
    checks
        .run(
            &layer,
            "control: gRPC with a valid token",
            grpc(Some(format!("Bearer {}", hs256(&claims())))),
            Accepted,
        )
        .await;
    let forged = sign_raw(
        &header("HS256").to_string(),
        &claims().to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(&[1u8; 32]),
    );
    checks
        .run(
            &layer,
            "gRPC, forged token",
            grpc(Some(format!("Bearer {forged}"))),
            Grpc(16),
        )
        .await;
    checks
        .run(
            &layer,
            "gRPC, alg none",
            grpc(Some(format!(
                "Bearer {}.{}.",
                b64(r#"{"alg":"none"}"#),
                b64(claims().to_string())
            ))),
            Grpc(16),
        )
        .await;
    checks
        .run(&layer, "gRPC, no token", grpc(None), Grpc(16))
        .await;
    checks
        .run(
            &layer,
            "gRPC, malformed Authorization",
            grpc(Some("Bearer a b".into())),
            Grpc(16),
        )
        .await;
    checks.finish();
}

#[tokio::test]
async fn required_claims_must_be_present_and_non_empty() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .audience(AUDIENCE)
        .require_claim("jti")
        .require_claim("nbf")
        .build()
        .unwrap();
    let mut good = claims();
    good["jti"] = serde_json::json!("token-1");
    good["nbf"] = serde_json::json!(now());
    run(&layer, bearer(&hs256(&good))).await.assert_ok();
    for (case, claim, value) in [
        ("jti missing", "jti", None),
        ("jti empty", "jti", Some(serde_json::json!(""))),
        ("nbf missing", "nbf", None),
    ] {
        let mut bad = good.clone();
        match value {
            Some(value) => bad[claim] = value,
            None => {
                bad.as_object_mut().unwrap().remove(claim);
            }
        }
        let outcome = run(&layer, bearer(&hs256(&bad))).await;
        assert_eq!(outcome.status.as_u16(), 401, "{case}");
        outcome.assert_invalid_token();
    }
}
