//! Regression tests from an adversarial review of the issuer, the private-key reader, the CSRF check of the
//! cookie source, the parsed-once signature checks and the cache hash. Tests named `finding_*` failed on
//! the code as reviewed and pass since the fixes; `ok_*` tests are probes that passed then.

mod common;

use std::time::Duration;

use common::*;
use http::{Method, Request, StatusCode};
use proptest::prelude::*;
use serde_json::json;
use tower_jwt_auth::source::CookieSource;
use tower_jwt_auth::{Algorithm, Issuer, JwtAuthBuilder, JwtAuthLayer, Key, RegisteredClaims};

fn builder() -> JwtAuthBuilder<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

fn post_with_cookie(host: &str, origin: Option<&str>) -> Request<String> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/orders")
        .header("host", host)
        .header("cookie", format!("session={}", hs256(&claims())));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(String::new()).unwrap()
}

// ---------------------------------------------------------------------------------------------------
// CSRF
// ---------------------------------------------------------------------------------------------------

/// Review finding, fixed (low/medium): without `Sec-Fetch-Site` (Safari < 16.4, older Firefox, embedded web views) the
/// Origin check compares only `host[:port]` and ignores the scheme. When `Host` carries no port (the
/// normal case on 443), `https://api.example.com` and `http://api.example.com` — two different origins
/// (ports 443 and 80) — both pass. A page on plain-http port 80 of the same host (a network attacker's
/// injection, or another app on :80) can POST with the victim's cookie to the https API, although the
/// docs say "another port on the same host ... is another origin".
#[tokio::test]
async fn finding_origin_scheme_is_ignored_so_port_80_and_443_are_one_origin() {
    let layer = builder().cookie("session").build().unwrap();
    let https = run(
        &layer,
        post_with_cookie("api.example.com", Some("https://api.example.com")),
    )
    .await;
    let http = run(
        &layer,
        post_with_cookie("api.example.com", Some("http://api.example.com")),
    )
    .await;
    assert!(
        !(https.reached_inner && http.reached_inner),
        "two different origins (https:443 and http:80) were both accepted as same-origin \
         for Host: api.example.com (https {}, http {})",
        https.status,
        http.status
    );
}

/// Review finding, fixed (low): a `Host` that spells out the default port (a proxy that rewrites it as
/// `$host:$server_port`, some HTTP clients) never matches a browser's Origin, which never carries a default
/// port: legitimate same-origin POSTs from browsers without `Sec-Fetch-Site` are refused with 403.
#[tokio::test]
async fn finding_default_port_in_host_refuses_a_same_origin_post() {
    let layer = builder().cookie("session").build().unwrap();
    let outcome = run(
        &layer,
        post_with_cookie("api.example.com:443", Some("https://api.example.com")),
    )
    .await;
    assert_eq!(outcome.status, StatusCode::OK, "{outcome:?}");
}

/// Review finding, fixed (low): `csrf_allowed_origin("https://app.example.com:443")` is accepted by the builder, but a
/// browser serializes that origin as `https://app.example.com` (RFC 6454 §6.1 omits the default port), so
/// the allowance never matches. Either normalize the default port or refuse it at build time.
#[tokio::test]
async fn finding_allowed_origin_with_default_port_never_matches() {
    let layer = builder()
        .cookie("session")
        .csrf_allowed_origin("https://app.example.com:443")
        .build()
        .expect("the builder accepted it");
    let mut request = post_with_cookie("api.example.com", Some("https://app.example.com"));
    request
        .headers_mut()
        .insert("sec-fetch-site", "same-site".parse().unwrap());
    let outcome = run(&layer, request).await;
    assert_eq!(outcome.status, StatusCode::OK, "{outcome:?}");
}

/// Review finding, fixed (low, hardening): `CookieSource::allow_origin` does not validate like the builder's
/// `csrf_allowed_origin` does: `allow_origin("null")` makes `Origin: null` pass, and that is what any
/// site's sandboxed iframe or `data:` document sends.
#[test]
fn finding_cookie_source_allow_origin_accepts_null() {
    for origin in ["null", "app.example.com", "https://app.example.com/x"] {
        assert!(
            CookieSource::new("session").allow_origin(origin).is_err(),
            "an opaque or malformed origin must never be allowed: {origin}"
        );
    }
}

/// Probes that passed: forged or odd headers do not get a cross-site cookie through.
#[tokio::test]
async fn ok_csrf_probes() {
    let layer = builder()
        .cookie("session")
        .csrf_allowed_origin("https://app.example.com")
        .build()
        .unwrap();
    let refused: &[&[(&str, &str)]] = &[
        // Browser-set Sec-Fetch-Site overrides a matching Origin.
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://api.example.com"),
        ],
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://api.example.com"),
        ],
        &[("sec-fetch-site", "none")],
        &[("sec-fetch-site", "Same-Origin")],
        // Origin with userinfo / path / suffix tricks.
        &[("origin", "https://app.example.com@evil.example")],
        &[("origin", "https://app.example.com.evil.example")],
        &[("origin", "https://evil.example/https://app.example.com")],
        // (An explicit default port, `https://api.example.com:443`, is the same origin: accepted.)
        &[("origin", "https://api.example.com/x")],
        // Two origins, one allowed.
        &[
            ("origin", "https://evil.example"),
            ("origin", "https://app.example.com"),
        ],
        // Referer is not evidence.
        &[("referer", "https://api.example.com/page")],
    ];
    for fields in refused {
        let mut request = post_with_cookie("api.example.com", None);
        for (name, value) in *fields {
            request.headers_mut().append(*name, value.parse().unwrap());
        }
        let outcome = run(&layer, request).await;
        assert_eq!(outcome.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(!outcome.reached_inner);
    }
    // Lowercase method names are extension methods: checked, not treated as safe.
    let mut request = post_with_cookie("api.example.com", None);
    *request.method_mut() = Method::from_bytes(b"post").unwrap();
    assert_eq!(run(&layer, request).await.status, StatusCode::FORBIDDEN);
    // Chunked cookies are checked too.
    let token = hs256(&claims());
    let (a, b) = token.split_at(20);
    let request = Request::post("/x")
        .header("host", "api.example.com")
        .header("cookie", format!("session.0={a}; session.1={b}"))
        .header("origin", "https://evil.example")
        .body(String::new())
        .unwrap();
    assert_eq!(run(&layer, request).await.status, StatusCode::FORBIDDEN);
    // Same-origin and allowed origins pass.
    for origin in ["https://api.example.com", "https://APP.example.com"] {
        run(&layer, post_with_cookie("api.example.com", Some(origin)))
            .await
            .assert_ok();
    }
}

// ---------------------------------------------------------------------------------------------------
// Private keys and the issuer
// ---------------------------------------------------------------------------------------------------

/// Review finding, fixed (medium, secret leak): the private-key PEM reader lacks the public reader's "label is printable
/// ASCII" check. A PEM whose BEGIN line lost a dash (or its dashes) makes the "label" run up to the END
/// line's dashes, i.e. over the whole base64 body, and `ConfigError::InvalidKey` then carries the private
/// key in its message: `unsupported PEM label "PRIVATE KEY----\nMIIEv…"`, which start-up code prints.
#[test]
fn finding_malformed_private_pem_puts_the_key_into_the_error_message() {
    let pem = key_text("ec256_private.pem");
    let body_line = pem.lines().nth(1).unwrap().to_owned();
    for broken in [
        pem.replacen(
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY----",
            1,
        ),
        pem.replacen("-----BEGIN PRIVATE KEY-----", "-----BEGIN PRIVATE KEY", 1),
    ] {
        let error = Issuer::from_pem(Algorithm::ES256, &broken).unwrap_err();
        let message = error.to_string();
        assert!(
            !message.contains(&body_line),
            "the error message contains the private key: {message}"
        );
    }
}

/// Review finding, fixed (low, usability): `openssl ecparam -name prime256v1 -genkey` (the most common recipe for an
/// ES256 key) writes an `EC PARAMETERS` block before the `EC PRIVATE KEY` block. The reader looks at the
/// first block only and refuses the file, and the message says "(expected PUBLIC KEY, RSA PUBLIC KEY or
/// CERTIFICATE)" — the public reader's list, wrong for a private key.
#[test]
fn finding_openssl_ecparam_genkey_output_is_refused() {
    const ECPARAM_GENKEY: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPdhadLKe1hxPejQ/s11avgeWFeutdewKEJd3A2K3JMNoAoGCCqGSM49
AwEHoUQDQgAEDCHMjrhVCGm/xr+sVKXylgJa/tm/SOaxkoGKKk5p71tQx+mN739i
fKQE7WFP8NdJ3uTlf2gNnDrqwsUWPPtgWQ==
-----END EC PRIVATE KEY-----
";
    let result = Issuer::from_pem(Algorithm::ES256, ECPARAM_GENKEY);
    assert!(result.is_ok(), "{:?}", result.err().map(|e| e.to_string()));
}

/// A SEC1 key whose embedded public key belongs to another private key (openssl: "Key is invalid").
const MISMATCHED_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIJAsS1yThv83zsnl0i647+9TDAP0K8zkUtzlCRKJtS3OoAoGCCqGSM49
AwEHoUQDQgAEK6Rvw3cc1wQWYslLUWoZS7Ahfh46jOVJSlD3QKDiG88kJjmE+UN4
YGggqSvruTlqoK/AyxcTI/Bvvg8Woaprdg==
-----END EC PRIVATE KEY-----
";

/// Probe: an inconsistent EC key must be refused, or at least sign tokens its own published key verifies.
#[test]
fn ok_inconsistent_ec_key_is_refused_or_self_consistent() {
    match Issuer::from_pem(Algorithm::ES256, MISMATCHED_SEC1) {
        Err(error) => eprintln!("refused: {error}"),
        Ok(issuer) => {
            let layer = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(issuer.verification_key())
                .build()
                .unwrap();
            let token = issuer.issue("u", &json!({})).unwrap().token;
            let outcome = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(run(&layer, bearer(&token)));
            outcome.assert_ok();
        }
    }
}

/// Rewrites the fixture's PKCS#8 v1 P-256 key as PKCS#8 v2 (version 1, `[1] IMPLICIT` public key).
fn ec_pkcs8_v2() -> Vec<u8> {
    let v1 = pem_body(&key_text("ec256_private.pem"));
    // SEQUENCE(len) INTEGER 0 ...: only short or one-byte long forms occur for this key.
    assert_eq!(v1[0], 0x30);
    let content = if v1[1] < 0x80 { &v1[2..] } else { &v1[3..] };
    assert_eq!(&content[..3], &[0x02, 0x01, 0x00]);
    let public = hex(
        "040e2f18675bc658b6301b1899d0c09d38b0a5379ec1b6bb7a96100c529efdbd4b2efca189afa7554188eae2955d32c8d27a95d7bd6d9265e55ea9ef9ec1b815a7",
    );
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend_from_slice(&content[3..]);
    body.push(0x81);
    body.push((public.len() + 1) as u8);
    body.push(0x00);
    body.extend_from_slice(&public);
    let mut out = vec![0x30];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        out.push(0x81);
        out.push(body.len() as u8);
    }
    out.extend_from_slice(&body);
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Probe: PKCS#8 v2 EC keys (which the reader claims to take) are either usable or refused cleanly.
#[test]
fn ok_pkcs8_v2_ec_key() {
    let der = ec_pkcs8_v2();
    match Issuer::from_der(Algorithm::ES256, &der) {
        Ok(issuer) => {
            let layer = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(issuer.verification_key())
                .build()
                .unwrap();
            let token = issuer.issue("u", &json!({})).unwrap().token;
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(run(&layer, bearer(&token)))
                .assert_ok();
        }
        Err(error) => eprintln!("PKCS#8 v2 EC refused: {error}"),
    }
}

/// Review finding, fixed (low): `Issuer::ttl` takes any lifetime up to i64::MAX seconds, but the crate's own verifier
/// refuses `exp` after 9999-12-31, so an issuer configured with a very long TTL silently mints tokens that
/// its own layer refuses. Refuse such a TTL (or an `exp` beyond 253402300799) in `issue_at`.
#[tokio::test]
async fn finding_issuer_mints_tokens_its_own_layer_refuses() {
    let issuer = Issuer::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .ttl(Duration::from_secs(10_000 * 366 * 24 * 3600));
    let issued = issuer.issue("user-1", &json!({}));
    let Ok(issued) = issued else {
        return; // refusing to issue would be the fix
    };
    let layer = builder().build().unwrap();
    let outcome = run(&layer, bearer(&issued.token)).await;
    assert_eq!(
        outcome.status,
        StatusCode::OK,
        "issued exp={} is refused by the layer: {}",
        issued.expires_at,
        outcome.body
    );
}

/// Probe: the largest accepted RSA key (8192 bits, 1024-byte signatures: the stack buffer's exact size)
/// signs and verifies, PKCS#1 v1.5 and PSS; e=3 keys too.
#[tokio::test]
async fn ok_rsa_8192_and_e3_issuers_round_trip() {
    for (file, alg) in [
        ("rsa8192_private.pem", Algorithm::RS512),
        ("rsa8192_private.pem", Algorithm::PS256),
        ("rsa_e3_private.pem", Algorithm::RS256),
        ("rsa4096_private.pem", Algorithm::PS512),
    ] {
        let issuer = match Issuer::from_pem(alg, key_file(file)) {
            Ok(issuer) => issuer,
            Err(error) if cfg!(not(feature = "aws-lc-rs")) && file.contains("8192") => {
                eprintln!("{file}: {error}");
                continue;
            }
            Err(error) => panic!("{file} {alg:?}: {error}"),
        };
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .key(issuer.verification_key())
            .build()
            .unwrap();
        let token = issuer.issue("u", &json!({})).unwrap().token;
        run(&layer, bearer(&token)).await.assert_ok();
        // Also through the published JWK set.
        let keys = tower_jwt_auth::KeySet::from_jwks_json(&issuer.jwks_json().unwrap()).unwrap();
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .key_set(keys)
            .build()
            .unwrap();
        run(&layer, bearer(&token)).await.assert_ok();
    }
}

/// Probe: HMAC signatures are exact-length; truncated, extended and ECDSA high-S variants behave.
#[tokio::test]
async fn ok_signature_edge_cases() {
    let layer = builder().build().unwrap();
    let token = hs256(&claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    for bad in [
        format!("{input}.{}", &sig[..sig.len() - 1]),
        format!("{input}.{sig}A"),
        format!("{input}.{}", &sig[..22]),
        format!("{input}."),
    ] {
        run(&layer, bearer(&bad)).await.assert_invalid_token();
    }
    // A non-canonical last base64url character (unused bits set) is refused, so a token has one spelling.
    let last = sig.as_bytes()[sig.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.iter().position(|b| *b == last).unwrap();
    let twin = alphabet[index ^ 1] as char;
    let twin_token = format!("{input}.{}{twin}", &sig[..sig.len() - 1]);
    run(&layer, bearer(&twin_token))
        .await
        .assert_invalid_token();
}

// ---------------------------------------------------------------------------------------------------
// No panics on arbitrary private key input
// ---------------------------------------------------------------------------------------------------

fn fixtures() -> Vec<(Algorithm, Vec<u8>)> {
    vec![
        (Algorithm::ES256, pem_body(&key_text("ec256_private.pem"))),
        (Algorithm::ES256, ec_pkcs8_v2()),
        (
            Algorithm::ES256,
            pem_body(&key_text("ec256_private_sec1.pem")),
        ),
        (Algorithm::ES384, pem_body(&key_text("ec384_private.pem"))),
        (Algorithm::EdDSA, pem_body(&key_text("ed25519_private.pem"))),
        (Algorithm::RS256, pem_body(&key_text("rsa_private.pem"))),
        (
            Algorithm::RS256,
            pem_body(&key_text("rsa_private_pkcs1.pem")),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn ok_mutated_private_keys_never_panic(which in 0usize..7, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let (alg, mut der) = fixtures().swap_remove(which);
        for (at, value) in edits {
            let at = at % der.len();
            der[at] = value;
        }
        let _ = Issuer::from_der(alg, &der);
        let truncated = &der[..cut % (der.len() + 1)];
        let _ = Issuer::from_der(alg, truncated);
        use base64::Engine;
        let label = match which { 2 => "EC PRIVATE KEY", 6 => "RSA PRIVATE KEY", _ => "PRIVATE KEY" };
        let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der));
        let _ = Issuer::from_pem(alg, pem);
    }

    #[test]
    fn ok_random_private_pem_never_panics(text in "(-----BEGIN |-----END |PRIVATE KEY|EC |RSA |-----|[A-Za-z0-9+/=:\n ]{0,8}){0,12}") {
        let _ = Issuer::from_pem(Algorithm::ES256, &text);
    }
}

/// Probe: RFC 8410 §10.3's PKCS#8 v2 Ed25519 key (attributes and public key) is read; the public key
/// derived from the seed is the one the RFC gives.
#[test]
fn ok_rfc8410_v2_ed25519_key() {
    const V2: &str = "-----BEGIN PRIVATE KEY-----
MHICAQEwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
oB8wHQYKKoZIhvcNAQkJFDEPDA1DdXJkbGUgQ2hhaXJzgSEAGb9ECWmEzf6FQbrB
Z9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PRIVATE KEY-----
";
    let issuer = Issuer::from_pem(Algorithm::EdDSA, V2).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json().unwrap()).unwrap();
    assert_eq!(
        jwks["keys"][0]["x"],
        common::b64(hex(
            "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        ))
    );
}

/// Probe: a cached token's signature pasted onto another payload hashes to the same cache slot (the hash
/// covers only the last 32 bytes) and must still be refused: the full comparison guards.
#[tokio::test]
async fn ok_cache_slot_shared_by_a_forged_token_is_not_served() {
    let layer = builder().build().unwrap();
    let good = hs256(&claims());
    run(&layer, bearer(&good)).await.assert_ok();
    run(&layer, bearer(&good)).await.assert_ok(); // a hit
    let (header, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut evil = claims();
    evil["sub"] = json!("admin");
    let forged = format!("{header}.{}.{signature}", b64(evil.to_string()));
    assert_eq!(&forged[forged.len() - 32..], &good[good.len() - 32..]);
    run(&layer, bearer(&forged)).await.assert_invalid_token();
    // And the real token is still served afterwards.
    let outcome = run(&layer, bearer(&good)).await;
    outcome.assert_ok();
    assert!(outcome.body.contains("\"user-1\""), "{}", outcome.body);
}
