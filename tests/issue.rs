//! The token issuer: tokens for every algorithm it signs verify through the layer and in jsonwebtoken with
//! the fixture public keys, its JWK set loads, and misuse is refused with a precise error.

mod common;

use std::time::Duration;

use common::{AUDIENCE, ISSUER, SECRET, key_file, key_text, run};
use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tower_jwt_auth::{
    ConfigError, IssueError, Issuer, JwtAuthLayer, KeySet, RegisteredClaims, issue::DEFAULT_TTL,
};

/// Every asymmetric algorithm, the private key that signs it, and the public PEM that must verify it.
fn asymmetric_cases() -> Vec<(Algorithm, &'static str, &'static str)> {
    let mut cases = Vec::new();
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        cases.push((alg, "rsa_private.pem", "rsa_public.pem"));
        cases.push((alg, "rsa_private_pkcs1.pem", "rsa_public.pem"));
    }
    cases.push((Algorithm::ES256, "ec256_private.pem", "ec256_public.pem"));
    cases.push((
        Algorithm::ES256,
        "ec256_private_sec1.pem",
        "ec256_public.pem",
    ));
    cases.push((Algorithm::ES384, "ec384_private.pem", "ec384_public.pem"));
    cases.push((
        Algorithm::EdDSA,
        "ed25519_private.pem",
        "ed25519_public.pem",
    ));
    cases
}

fn independent_key(alg: Algorithm, public_pem: &str) -> DecodingKey {
    let pem = key_file(public_pem);
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem).unwrap(),
        _ => DecodingKey::from_rsa_pem(&pem).unwrap(),
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud", "jti"]);
    validation
}

fn layer_for(issuer: &Issuer) -> JwtAuthLayer<RegisteredClaims> {
    JwtAuthLayer::builder()
        .key(issuer.verification_key())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

fn check_issued(issuer: &Issuer, independent: Option<(&DecodingKey, Algorithm)>) {
    let issued = issuer
        .issue(
            "user-7",
            &json!({"email": "ada@example.com", "roles": ["admin"]}),
        )
        .unwrap();
    assert_eq!(issued.expires_at - issued.issued_at, DEFAULT_TTL.as_secs());
    assert!(issued.issued_at.abs_diff(common::now()) <= 2);
    assert_eq!(issued.jti.len(), 22, "128 bits in base64url");

    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.alg, issuer.algorithm());
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), issuer.key_id());

    // Through the layer, with the issuer's own verification key.
    let outcome = tokio_run(&layer_for(issuer), &issued.token);
    outcome.assert_ok();
    let claims: Value = serde_json::from_str(&outcome.body).unwrap();
    assert_eq!(claims["sub"], "user-7");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["jti"], issued.jti.as_str());
    assert_eq!(claims["exp"], issued.expires_at);
    assert_eq!(claims["email"], "ada@example.com");

    // Independently, with jsonwebtoken and the fixture's public key.
    if let Some((key, alg)) = independent {
        let data = jsonwebtoken::decode::<Value>(&issued.token, key, &validation(alg)).unwrap();
        assert_eq!(data.claims["roles"], json!(["admin"]));
    }

    // One flipped signature character is refused.
    let mut tampered = issued.token.into_bytes();
    let at = tampered.len() - 6;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    tokio_run(&layer_for(issuer), &tampered).assert_invalid_token();
}

fn tokio_run(layer: &JwtAuthLayer<RegisteredClaims>, token: &str) -> common::Outcome {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(run(layer, common::bearer(token)))
}

#[test]
fn hmac_tokens_verify_in_the_layer_and_in_jsonwebtoken() {
    for (alg, secret) in [
        (Algorithm::HS256, SECRET.to_vec()),
        (Algorithm::HS384, vec![7u8; 48]),
        (Algorithm::HS512, vec![7u8; 64]),
    ] {
        let issuer = Issuer::hmac(alg, &secret)
            .unwrap()
            .issuer(ISSUER)
            .audience(AUDIENCE);
        assert_eq!(issuer.key_id(), None);
        assert_eq!(
            issuer.jwks_json(),
            None,
            "an HMAC secret is never published"
        );
        check_issued(&issuer, Some((&DecodingKey::from_secret(&secret), alg)));
    }
}

#[test]
fn asymmetric_tokens_verify_in_the_layer_and_with_the_fixture_public_keys() {
    let cases = asymmetric_cases();
    assert_eq!(cases.len(), 16);
    for (alg, private, public) in cases {
        let issuer = Issuer::from_pem(alg, key_file(private))
            .unwrap_or_else(|e| panic!("{alg:?} {private}: {e}"))
            .issuer(ISSUER)
            .audience(AUDIENCE);
        check_issued(&issuer, Some((&independent_key(alg, public), alg)));
    }
}

#[test]
fn der_private_keys_are_read() {
    // PKCS#8 DER is the PEM body; PKCS#1 DER is accepted for RSA.
    for (alg, private) in [
        (Algorithm::ES256, "ec256_private.pem"),
        (Algorithm::EdDSA, "ed25519_private.pem"),
        (Algorithm::RS256, "rsa_private.pem"),
        (Algorithm::RS256, "rsa_private_pkcs1.pem"),
    ] {
        let der = pem_body(&key_text(private));
        let issuer = Issuer::from_der(alg, der)
            .unwrap()
            .issuer(ISSUER)
            .audience(AUDIENCE);
        check_issued(&issuer, None);
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn the_published_jwk_set_loads_and_verifies_and_kids_are_rfc7638_thumbprints() {
    for (alg, private, public) in asymmetric_cases() {
        let issuer = Issuer::from_pem(alg, key_file(private)).unwrap();
        let jwks = issuer
            .jwks_json()
            .expect("asymmetric issuers publish a JWK set");
        let document: Value = serde_json::from_str(&jwks).unwrap();
        let entry = &document["keys"][0];
        assert_eq!(document["keys"].as_array().unwrap().len(), 1);
        assert_eq!(entry["use"], "sig");
        assert_eq!(entry["alg"], common::alg_name(alg));
        assert!(
            entry.get("d").is_none() && entry.get("p").is_none(),
            "{entry}"
        );

        // jsonwebtoken parses the set, and its own thumbprint agrees with the kid (RSA and EC; it has
        // none for OKP).
        let set: JwkSet = serde_json::from_str(&jwks).unwrap();
        let jwk: &Jwk = set.find(issuer.key_id().unwrap()).unwrap();
        if alg != Algorithm::EdDSA {
            assert_eq!(
                jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
                issuer.key_id().unwrap()
            );
        }

        // The set loads in this crate, and verifies the issuer's tokens.
        let keys = KeySet::from_jwks_json(&jwks).unwrap();
        assert_eq!(keys.keys().len(), 1);
        assert!(keys.skipped().is_empty());
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .key_set(keys)
            .build()
            .unwrap();
        let issued = issuer.issue("user-9", &json!({})).unwrap();
        tokio_run(&layer, &issued.token).assert_ok();

        // The public key in the set is the fixture's public key.
        let from_set = DecodingKey::from_jwk(jwk).unwrap();
        let mut plain = Validation::new(alg);
        plain.validate_aud = false;
        jsonwebtoken::decode::<Value>(&issued.token, &from_set, &plain).unwrap();
        jsonwebtoken::decode::<Value>(&issued.token, &independent_key(alg, public), &plain)
            .unwrap();
    }
}

#[test]
fn the_ed25519_kid_is_its_rfc8037_thumbprint() {
    // RFC 8037 appendix A.3: the thumbprint of the appendix A.1 key.
    let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    let issuer = Issuer::from_der(Algorithm::EdDSA, pkcs8).unwrap();
    assert_eq!(
        issuer.key_id(),
        Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn options_are_written_into_the_token() {
    let issuer = Issuer::hmac(Algorithm::HS256, SECRET)
        .unwrap()
        .kid("k-2026")
        .ttl(Duration::from_secs(900));
    assert_eq!(issuer.lifetime(), Duration::from_secs(900));
    let issued = issuer.issue_at("u", &(), 1_700_000_000).unwrap();
    assert_eq!(
        (issued.issued_at, issued.expires_at),
        (1_700_000_000, 1_700_000_900)
    );
    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k-2026"));
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        &issued.token,
        &DecodingKey::from_secret(SECRET),
        &validation,
    )
    .unwrap()
    .claims;
    // No iss/aud unless configured; the issuer's claims only.
    assert_eq!(
        claims,
        json!({"sub": "u", "iat": 1_700_000_000u64, "exp": 1_700_000_900u64, "jti": issued.jti})
    );
    // The verification key carries the kid, so a layer with several keys picks it.
    assert_eq!(issuer.verification_key().kid(), Some("k-2026"));
    // Token ids are random.
    let again = issuer.issue_at("u", &(), 1_700_000_000).unwrap();
    assert_ne!(again.jti, issued.jti);
}

#[test]
fn misuse_is_refused_with_a_precise_error() {
    let issuer = Issuer::hmac(Algorithm::HS256, SECRET).unwrap();
    for reserved in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"] {
        let err = issuer.issue("u", &json!({ reserved: 1 })).unwrap_err();
        assert!(
            matches!(err, IssueError::ReservedClaim(c) if c == reserved),
            "{err}"
        );
    }
    assert!(matches!(
        issuer.issue("u", &json!([1, 2])).unwrap_err(),
        IssueError::ClaimsNotAnObject
    ));
    assert!(matches!(
        issuer.issue("u", &"text").unwrap_err(),
        IssueError::ClaimsNotAnObject
    ));
    assert!(matches!(
        issuer.issue("", &()).unwrap_err(),
        IssueError::EmptySubject
    ));
    assert!(matches!(
        issuer.ttl(Duration::MAX).issue("u", &()).unwrap_err(),
        IssueError::Clock
    ));
}

#[test]
fn unusable_keys_are_refused_at_construction() {
    assert!(matches!(
        Issuer::hmac(Algorithm::HS256, [1u8; 31]).unwrap_err(),
        ConfigError::SecretTooShort {
            min: 32,
            got: 31,
            ..
        }
    ));
    assert!(matches!(
        Issuer::hmac(Algorithm::HS512, [1u8; 48]).unwrap_err(),
        ConfigError::SecretTooShort { min: 64, .. }
    ));
    let refused = [
        (Algorithm::ES256, "rsa_private.pem"),
        (Algorithm::RS256, "ec256_private.pem"),
        (Algorithm::ES384, "ec256_private.pem"),
        (Algorithm::ES256, "ec384_private.pem"),
        (Algorithm::RS256, "ed25519_private.pem"),
        (Algorithm::HS256, "rsa_private.pem"),
        (Algorithm::RS256, "rsa_public.pem"),
        (Algorithm::ES256, "ec256_cert.pem"),
    ];
    for (alg, file) in refused {
        let err = Issuer::from_pem(alg, key_file(file)).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidKey(_)),
            "{alg:?} {file}: {err}"
        );
    }
    for garbage in [
        &b""[..],
        b"not a key",
        b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
    ] {
        assert!(Issuer::from_pem(Algorithm::RS256, garbage).is_err());
        assert!(Issuer::from_der(Algorithm::RS256, garbage).is_err());
    }
    // A legacy encrypted PEM is refused rather than misread.
    let encrypted = key_text("rsa_private_pkcs1.pem").replace(
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
    );
    assert!(Issuer::from_pem(Algorithm::RS256, encrypted).is_err());
    // Truncated DER never panics.
    let der = pem_body(&key_text("rsa_private.pem"));
    for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
        assert!(Issuer::from_der(Algorithm::RS256, &der[..cut]).is_err());
    }
}

#[test]
fn debug_output_never_shows_secrets_or_tokens() {
    let issuer = Issuer::hmac(Algorithm::HS256, SECRET).unwrap();
    let debug = format!("{issuer:?}");
    assert!(!debug.contains("test-secret"), "{debug}");
    let issued = issuer.issue("u", &()).unwrap();
    let debug = format!("{issued:?}");
    assert!(!debug.contains(&issued.token[..20]), "{debug}");
    let rsa = Issuer::from_pem(Algorithm::RS256, key_file("rsa_private.pem")).unwrap();
    assert!(format!("{rsa:?}").len() < 300);
}
