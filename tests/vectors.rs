//! The standard JOSE test vectors (RFC 7515, RFC 7520, RFC 8037) from `../shared/vectors`, run through the
//! layer with keys loaded from each vector's own JWK.
//!
//! - RFC 7515 A.1/A.2/A.3 (HS256/RS256/ES256 over JWT claims): accepted, with expiry checking off (their
//!   `exp` is in 2011) and no `sub` requirement (they have none).
//! - A.5 (`alg: none`), RFC 7520 §4.5 (detached payload) and every RFC 7520 §5 JWE: refused, 401.
//! - ES512 (A.4, RFC 7520 §4.3): jsonwebtoken has no ES512, so loading the key must fail with a message that
//!   names ES512/P-521, and the token is refused (unsupported algorithm) against any key.
//! - RFC 8037 A.4 (Ed25519) and RFC 7520 §4.1/4.2/4.4: valid signatures over text payloads. Their signatures
//!   are checked directly with the key the crate loaded, and the layer must refuse them as malformed claims
//!   (not as bad signatures, and without crashing).

mod common;

use std::path::PathBuf;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tower_jwt_auth::{
    ConfigError, InvalidToken, JwkOptions, JwtAuthLayer, Key, KeySet, RegisteredClaims,
};

type Auth = JwtAuthLayer<RegisteredClaims>;

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors"))
}

/// One vector file, or a clear failure when the vectors are not there.
fn load(name: &str) -> Value {
    let dir = vectors_dir();
    assert!(
        dir.is_dir(),
        "the JOSE test vectors directory is missing: expected {} (the `shared/vectors` directory next to \
         the crate; CI always provides it)",
        dir.display()
    );
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read test vector {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("test vector {} is not JSON: {e}", path.display()));
    assert_eq!(value["name"], name, "{}: name field", path.display());
    value
}

fn token_of(vector: &Value) -> &str {
    vector["token"].as_str().expect("vector token")
}

fn jwk_of(vector: &Value) -> String {
    assert!(vector["jwk"].is_object(), "{}: no JWK", vector["name"]);
    vector["jwk"].to_string()
}

fn alg_of(vector: &Value) -> Algorithm {
    let alg = vector["alg"].as_str().unwrap();
    Algorithm::from_str(alg).unwrap_or_else(|_| panic!("{alg} is not a jsonwebtoken algorithm"))
}

/// A symmetric (`oct`) JWK: loaded directly (one explicitly configured JWK may be symmetric), and the same
/// JWK in a JWK set only when symmetric keys are allowed; both loads must give the same algorithm and kid.
fn oct_key(vector: &Value, alg: Algorithm) -> Key {
    let key = Key::from_jwk_json(&jwk_of(vector), Some(alg)).expect("an explicit oct JWK loads");
    assert_eq!(key.algorithm(), alg);
    let document = json!({"keys": [vector["jwk"]]}).to_string();
    let refused = KeySet::from_jwks_json(&document).unwrap();
    assert!(
        refused.keys().is_empty(),
        "a JWK set skips oct keys by default"
    );
    let set = KeySet::from_jwks_json_with(
        &document,
        &JwkOptions::default()
            .allow_symmetric(true)
            .default_algorithm(alg),
    )
    .unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    assert_eq!(set.keys().len(), 1);
    assert_eq!(set.keys()[0].algorithm(), alg);
    assert_eq!(set.keys()[0].kid(), key.kid());
    key
}

/// The key of a vector, loaded from its JWK the way the vector's algorithm needs.
fn vector_key(vector: &Value) -> Key {
    let alg = alg_of(vector);
    if vector["jwk"]["kty"] == "oct" {
        oct_key(vector, alg)
    } else {
        let key = Key::from_jwk_json(&jwk_of(vector), Some(alg))
            .unwrap_or_else(|e| panic!("{}: {e}", vector["name"]));
        assert_eq!(key.algorithm(), alg);
        key
    }
}

/// Only for fixed vectors: expiry off, no `sub` required.
fn lenient(key: Key) -> Auth {
    JwtAuthLayer::builder()
        .key(key)
        .dangerous_skip_expiry()
        .require_sub(false)
        .build()
        .unwrap()
}

/// Checks a 401 `invalid_token` for `reason` (when given) with the inner service not called.
#[track_caller]
fn assert_refused_for(case: &str, outcome: &Outcome, reason: Option<InvalidToken>) {
    assert!(
        !outcome.reached_inner,
        "[{case}] the inner service was called: {}",
        outcome.body
    );
    assert_eq!(
        outcome.status,
        StatusCode::UNAUTHORIZED,
        "[{case}] body {}",
        outcome.body
    );
    if let Some(reason) = reason {
        assert!(
            outcome.body.contains(&format!(
                "\"error_description\":\"{}\"",
                reason.description()
            )),
            "[{case}] expected {reason:?}, got {}",
            outcome.body
        );
    }
    outcome.assert_invalid_token();
}

fn payload_text(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn signature_verifies(token: &str, key: &Key) -> bool {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let verifier = (crypto().verifier_factory)(&key.algorithm(), key.decoding_key()).unwrap();
    verifier.verify(input.as_bytes(), &signature).is_ok()
}

/// The token with the first signature byte flipped.
fn with_bad_signature(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    format!("{input}.{}", b64(bytes))
}

/// Every vector of index.json, and the test below that covers it.
const COVERAGE: [(&str, &str); 19] = [
    ("rfc7515_A1_HS256", "rfc7515_a1_a2_a3_are_accepted"),
    ("rfc7515_A2_RS256", "rfc7515_a1_a2_a3_are_accepted"),
    ("rfc7515_A3_ES256", "rfc7515_a1_a2_a3_are_accepted"),
    ("rfc7515_A4_ES512", "es512_vectors_fail_clearly"),
    (
        "rfc7515_A5_unsecured_none",
        "rfc7515_a5_unsecured_none_is_refused",
    ),
    (
        "rfc8037_A4_Ed25519",
        "valid_signatures_over_text_payloads_are_refused_as_malformed_claims",
    ),
    (
        "rfc7520_4_1_RS256",
        "valid_signatures_over_text_payloads_are_refused_as_malformed_claims",
    ),
    (
        "rfc7520_4_2_PS384",
        "valid_signatures_over_text_payloads_are_refused_as_malformed_claims",
    ),
    ("rfc7520_4_3_ES512", "es512_vectors_fail_clearly"),
    (
        "rfc7520_4_4_HS256",
        "valid_signatures_over_text_payloads_are_refused_as_malformed_claims",
    ),
    (
        "rfc7520_4_5_HS256_detached",
        "rfc7520_4_5_detached_payload_is_refused",
    ),
    ("rfc7520_jwe_5_1_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_2_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_3_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_4_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_5_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_6_4", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_8_5", "rfc7520_jwe_vectors_are_refused"),
    ("rfc7520_jwe_5_9_5", "rfc7520_jwe_vectors_are_refused"),
];

#[tokio::test]
async fn every_vector_is_present_and_covered() {
    let dir = vectors_dir();
    assert!(
        dir.is_dir(),
        "the JOSE test vectors directory is missing: expected {} (CI always provides it)",
        dir.display()
    );
    assert!(
        dir.join("README.md").is_file(),
        "{}/README.md is missing",
        dir.display()
    );
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("index.json")).expect("index.json of the test vectors"),
    )
    .expect("index.json is JSON");
    let entries = index.as_array().expect("index.json is an array");
    let mut uncovered = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let vector = load(name);
        assert_eq!(
            vector["alg"], entry["alg"],
            "{name}: alg differs from index.json"
        );
        assert_eq!(
            vector["expected"], entry["expected"],
            "{name}: expected differs from index.json"
        );
        assert!(vector["token"].is_string(), "{name}: no token");
        if !COVERAGE.iter().any(|(covered, _)| *covered == name) {
            uncovered.push(name.to_owned());
        }
    }
    assert!(
        uncovered.is_empty(),
        "vectors without a test in tests/vectors.rs: {uncovered:?}"
    );
    assert_eq!(
        entries.len(),
        COVERAGE.len(),
        "index.json and COVERAGE disagree"
    );
}

#[tokio::test]
async fn rfc7515_a1_a2_a3_are_accepted() {
    for name in ["rfc7515_A1_HS256", "rfc7515_A2_RS256", "rfc7515_A3_ES256"] {
        let vector = load(name);
        assert_eq!(vector["expected"], "accept");
        let token = token_of(&vector);
        assert_eq!(
            payload_text(token),
            vector["expected_payload_utf8"].as_str().unwrap(),
            "{name}: payload"
        );
        let alg = alg_of(&vector);

        let mut keys = vec![("key from the vector's JWK", vector_key(&vector))];
        match alg {
            // The oct JWK of A.1 as a raw secret too.
            Algorithm::HS256 => {
                let k = URL_SAFE_NO_PAD
                    .decode(vector["jwk"]["k"].as_str().unwrap())
                    .unwrap();
                keys.push((
                    "Key::hmac from the decoded k",
                    Key::hmac(Algorithm::HS256, k).unwrap(),
                ));
            }
            // P-256 JWKs also imply ES256 without being told.
            Algorithm::ES256 => keys.push((
                "EC JWK with the algorithm inferred",
                Key::from_jwk_json(&jwk_of(&vector), None).unwrap(),
            )),
            _ => {}
        }
        for (how, key) in keys {
            let case = format!("{name} ({how})");
            assert!(
                signature_verifies(token, &key),
                "[{case}] signature does not verify directly"
            );
            let accepting = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(key.clone())
                .issuer("joe")
                .dangerous_skip_expiry()
                .require_sub(false)
                .build()
                .unwrap();
            let outcome = run(&accepting, bearer(token)).await;
            assert!(
                outcome.reached_inner && outcome.status == StatusCode::OK,
                "[{case}] refused: {}",
                outcome.body
            );
            outcome.assert_ok();
            let seen: RegisteredClaims = serde_json::from_str(&outcome.body).unwrap();
            assert_eq!(seen.iss.as_deref(), Some("joe"), "[{case}]");
            assert_eq!(seen.exp, Some(1_300_819_380), "[{case}]");
            assert_eq!(
                seen.extra["http://example.com/is_root"],
                json!(true),
                "[{case}]"
            );

            // The same token is refused as soon as one of the rules it does not meet is on.
            let expiring = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(key.clone())
                .require_sub(false)
                .build()
                .unwrap();
            assert_refused_for(
                &format!("{case}, expiry checked"),
                &run(&expiring, bearer(token)).await,
                Some(InvalidToken::Expired),
            );
            let other_issuer = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(key.clone())
                .issuer("jane")
                .dangerous_skip_expiry()
                .require_sub(false)
                .build()
                .unwrap();
            assert_refused_for(
                &format!("{case}, issuer jane"),
                &run(&other_issuer, bearer(token)).await,
                Some(InvalidToken::WrongIssuer),
            );
            let with_sub = JwtAuthLayer::<RegisteredClaims>::builder()
                .key(key.clone())
                .dangerous_skip_expiry()
                .build()
                .unwrap();
            assert_refused_for(
                &format!("{case}, sub required"),
                &run(&with_sub, bearer(token)).await,
                Some(InvalidToken::MissingClaim("sub")),
            );
            assert_refused_for(
                &format!("{case}, signature altered"),
                &run(&accepting, bearer(&with_bad_signature(token))).await,
                Some(InvalidToken::BadSignature),
            );
        }
    }
}

#[tokio::test]
async fn rfc7515_a5_unsecured_none_is_refused() {
    let vector = load("rfc7515_A5_unsecured_none");
    assert_eq!(vector["expected"], "reject");
    let token = token_of(&vector);
    assert!(
        token.ends_with('.'),
        "an unsecured JWS has an empty signature"
    );
    // Its key is an empty oct secret, which no layer can hold: it is refused at configuration time.
    assert!(matches!(
        Key::hs256(b""),
        Err(ConfigError::SecretTooShort { .. })
    ));
    let a1 = load("rfc7515_A1_HS256");
    // The same token with the A.1 MAC appended, for a non-empty signature.
    let (input, _) = token.rsplit_once('.').unwrap();
    let hmac_key = jsonwebtoken::EncodingKey::from_secret(
        &URL_SAFE_NO_PAD
            .decode(a1["jwk"]["k"].as_str().unwrap())
            .unwrap(),
    );
    let signed = format!(
        "{input}.{}",
        b64(sign_bytes(input, Algorithm::HS256, &hmac_key))
    );
    for source in ["rfc7515_A1_HS256", "rfc7515_A2_RS256", "rfc7515_A3_ES256"] {
        let layer = lenient(vector_key(&load(source)));
        assert_refused_for(
            &format!("A.5 against the {source} key"),
            &run(&layer, bearer(token)).await,
            None,
        );
        assert_refused_for(
            &format!("A.5 with an HMAC signature against the {source} key"),
            &run(&layer, bearer(&signed)).await,
            Some(InvalidToken::UnsupportedAlgorithm),
        );
    }
}

#[tokio::test]
async fn rfc7520_4_5_detached_payload_is_refused() {
    let vector = load("rfc7520_4_5_HS256_detached");
    assert_eq!(vector["expected"], "reject");
    let token = token_of(&vector);
    let layer = lenient(vector_key(&vector));
    assert_refused_for(
        "RFC 7520 4.5 detached",
        &run(&layer, bearer(token)).await,
        Some(InvalidToken::DetachedPayload),
    );

    // Re-attached, it is the §4.4 token: a valid signature, then refused only for its text payload.
    let (header, signature) = token.split_once("..").unwrap();
    let attached = format!(
        "{header}.{}.{signature}",
        vector["detached_payload_b64"].as_str().unwrap()
    );
    assert_eq!(attached, token_of(&load("rfc7520_4_4_HS256")));
    assert!(signature_verifies(&attached, &vector_key(&vector)));
    assert_refused_for(
        "RFC 7520 4.5 re-attached",
        &run(&layer, bearer(&attached)).await,
        Some(InvalidToken::MalformedClaims),
    );
}

#[tokio::test]
async fn rfc7520_jwe_vectors_are_refused() {
    let layers: Vec<(&str, Auth)> = [
        "rfc7515_A1_HS256",
        "rfc7515_A2_RS256",
        "rfc7515_A3_ES256",
        "rfc7520_4_1_RS256",
    ]
    .into_iter()
    .map(|name| (name, lenient(vector_key(&load(name)))))
    .collect();
    let set = JwtAuthLayer::<RegisteredClaims>::builder()
        .key_set(KeySet::from_jwks_json(&key_text("jwks.json")).unwrap())
        .dangerous_skip_expiry()
        .require_sub(false)
        .build()
        .unwrap();
    let mut count = 0;
    for (name, _) in COVERAGE
        .iter()
        .filter(|(name, _)| name.starts_with("rfc7520_jwe_"))
    {
        let vector = load(name);
        assert_eq!(vector["expected"], "reject");
        assert!(vector["jwk"].is_null(), "{name}");
        let token = token_of(&vector);
        assert_eq!(token.split('.').count(), 5, "{name} is a compact JWE");
        for (key_name, layer) in &layers {
            assert_refused_for(
                &format!("{name} against the {key_name} key"),
                &run(layer, bearer(token)).await,
                Some(InvalidToken::Encrypted),
            );
        }
        assert_refused_for(
            &format!("{name} against jwks.json"),
            &run(&set, bearer(token)).await,
            Some(InvalidToken::Encrypted),
        );
        count += 1;
    }
    assert_eq!(count, 8);
}

#[tokio::test]
async fn es512_vectors_fail_clearly() {
    // jsonwebtoken has no ES512: there is no Algorithm to ask for.
    assert!(Algorithm::from_str("ES512").is_err());
    let names_p521 = |message: &str| message.contains("ES512") || message.contains("P-521");
    let mut unclear = Vec::new();
    for name in ["rfc7515_A4_ES512", "rfc7520_4_3_ES512"] {
        let vector = load(name);
        assert_eq!(vector["alg"], "ES512");
        assert_eq!(vector["jwk"]["crv"], "P-521");
        let jwk = jwk_of(&vector);
        let mut with_alg = vector["jwk"].clone();
        with_alg["alg"] = json!("ES512");

        // Every way of loading the key fails, and says why.
        let attempts: Vec<(&str, Result<Key, ConfigError>)> = vec![
            ("from_jwk_json(jwk, None)", Key::from_jwk_json(&jwk, None)),
            (
                "from_jwk_json(jwk with alg ES512, None)",
                Key::from_jwk_json(&with_alg.to_string(), None),
            ),
            (
                "from_jwk_json(jwk, Some(ES256))",
                Key::from_jwk_json(&jwk, Some(Algorithm::ES256)),
            ),
            (
                "from_jwk_json(jwk, Some(ES384))",
                Key::from_jwk_json(&jwk, Some(Algorithm::ES384)),
            ),
        ];
        for (how, result) in attempts {
            match result {
                Ok(key) => panic!("{name}: {how} loaded a P-521 key as {key:?}"),
                Err(error) if !names_p521(&error.to_string()) => {
                    unclear.push(format!(
                        "{name}: {how} fails with {:?}, which names neither ES512 nor P-521",
                        error.to_string()
                    ));
                }
                Err(_) => {}
            }
        }
        let set = KeySet::from_jwks_json(&json!({"keys": [vector["jwk"]]}).to_string()).unwrap();
        assert!(
            set.keys().is_empty(),
            "{name}: a JWK set loaded the P-521 key"
        );
        if !names_p521(&set.skipped()[0].reason) {
            unclear.push(format!(
                "{name}: skipped from a JWK set because {:?}, which names neither ES512 nor P-521",
                set.skipped()[0].reason
            ));
        }
        let set = KeySet::from_jwks_json(&json!({"keys": [with_alg]}).to_string()).unwrap();
        assert!(
            set.keys().is_empty() && names_p521(&set.skipped()[0].reason),
            "{name}: {:?}",
            set.skipped()
        );

        // The token is refused, as an unsupported algorithm, whatever key is configured.
        let token = token_of(&vector);
        let mut layers: Vec<(String, Auth)> = [
            "rfc7515_A1_HS256",
            "rfc7515_A2_RS256",
            "rfc7515_A3_ES256",
            "rfc7520_4_1_RS256",
            "rfc7520_4_2_PS384",
            "rfc8037_A4_Ed25519",
        ]
        .into_iter()
        .map(|n| (format!("{n} key"), lenient(vector_key(&load(n)))))
        .collect();
        layers.push((
            "test ES384 key".into(),
            lenient(Key::from_pem(Algorithm::ES384, key_file("ec384_public.pem")).unwrap()),
        ));
        for (key_name, layer) in &layers {
            let outcome = run(layer, bearer(token)).await;
            assert_refused_for(
                &format!("{name} against the {key_name}"),
                &outcome,
                Some(InvalidToken::UnsupportedAlgorithm),
            );
        }
    }
    // The P-521 PEM of tests/keys: refused for every EC algorithm, naming the curve.
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let error = Key::from_pem(alg, key_file("ec521_public.pem")).expect_err("P-521 PEM");
        assert!(
            names_p521(&error.to_string()),
            "ec521_public.pem as {alg:?}: {error}"
        );
    }
    assert!(
        unclear.is_empty(),
        "ES512/P-521 keys must fail clearly:\n  {}",
        unclear.join("\n  ")
    );
}

#[tokio::test]
async fn valid_signatures_over_text_payloads_are_refused_as_malformed_claims() {
    for name in [
        "rfc8037_A4_Ed25519",
        "rfc7520_4_1_RS256",
        "rfc7520_4_2_PS384",
        "rfc7520_4_4_HS256",
    ] {
        let vector = load(name);
        let token = token_of(&vector);
        let key = vector_key(&vector);
        if let Some(kid) = vector["kid"].as_str() {
            assert_eq!(key.kid(), Some(kid), "{name}: the JWK's kid is kept");
        }
        let payload = payload_text(token);
        assert_eq!(
            payload,
            vector["expected_payload_utf8"].as_str().unwrap(),
            "{name}"
        );
        assert!(
            serde_json::from_str::<Value>(&payload).is_err(),
            "{name}: the payload is text, not JSON"
        );

        // The signature is valid under the key exactly as the crate loaded it...
        assert!(
            signature_verifies(token, &key),
            "{name}: the signature does not verify with the loaded key"
        );
        assert!(
            !signature_verifies(&with_bad_signature(token), &key),
            "{name}: an altered signature verifies"
        );

        // ...so the layer gets past the signature and refuses the claims (a 401, not a crash), while an
        // altered signature is refused for the signature.
        let layer = lenient(key);
        assert_refused_for(
            name,
            &run(&layer, bearer(token)).await,
            Some(InvalidToken::MalformedClaims),
        );
        assert_refused_for(
            &format!("{name}, signature altered"),
            &run(&layer, bearer(&with_bad_signature(token))).await,
            Some(InvalidToken::BadSignature),
        );
    }
}
