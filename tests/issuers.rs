//! Several issuers: tokens are routed by their (unverified) `iss` to that issuer's keys.

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use jwks_server::{JwksServer, jwks_of};
use serde_json::json;
use tower_jwt_auth::remote::RemoteJwks;
use tower_jwt_auth::{
    ConfigError, Issuers, JwtAuthLayer, Key, KeyLookup, KeyProvider, RegisteredClaims, StaticKeys,
    TokenHeader,
};

const A: &str = "https://a.example.com";
const B: &str = "https://b.example.com";
const SECRET_A: [u8; 32] = [0xA; 32];
const SECRET_B: [u8; 32] = [0xB; 32];

/// Static keys that count their lookups.
#[derive(Clone)]
struct Counting(StaticKeys, Arc<AtomicUsize>);

impl KeyProvider for Counting {
    type Future = <StaticKeys as KeyProvider>::Future;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, Self::Future> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.lookup(header)
    }
}

fn hs(secret: &[u8], claims: &serde_json::Value) -> String {
    sign_raw(
        r#"{"alg":"HS256"}"#,
        &claims.to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(secret),
    )
}

fn claims_of(issuer: &str) -> serde_json::Value {
    let mut claims = claims();
    claims["iss"] = json!(issuer);
    claims
}

#[tokio::test]
async fn tokens_are_routed_by_issuer_and_bound_to_its_keys() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let provider = |secret: [u8; 32]| {
        Counting(
            StaticKeys::new([Key::hs256(secret).unwrap()]).unwrap(),
            lookups.clone(),
        )
    };
    let issuers = Issuers::new()
        .issuer(A, provider(SECRET_A))
        .issuer(B, provider(SECRET_B));
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(issuers)
        .audience(AUDIENCE)
        .build()
        .unwrap();

    // Each issuer's token with its own key.
    run(&layer, bearer(&hs(&SECRET_A, &claims_of(A))))
        .await
        .assert_ok();
    run(&layer, bearer(&hs(&SECRET_B, &claims_of(B))))
        .await
        .assert_ok();
    // A key of issuer A never verifies a token claiming issuer B, and vice versa.
    run(&layer, bearer(&hs(&SECRET_A, &claims_of(B))))
        .await
        .assert_invalid_token();
    run(&layer, bearer(&hs(&SECRET_B, &claims_of(A))))
        .await
        .assert_invalid_token();

    // An unknown issuer, a near miss, a missing or mistyped iss: refused before any key lookup.
    let before = lookups.load(Ordering::SeqCst);
    for claims in [
        claims_of("https://c.example.com"),
        claims_of("https://a.example.com/"),
        claims_of("https://A.example.com"),
        {
            let mut c = claims();
            c.as_object_mut().unwrap().remove("iss");
            c
        },
        {
            let mut c = claims();
            c["iss"] = json!([A]);
            c
        },
    ] {
        let outcome = run(&layer, bearer(&hs(&SECRET_A, &claims))).await;
        outcome.assert_invalid_token();
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        before,
        "no key lookup for an unroutable token"
    );
}

#[tokio::test]
async fn an_unknown_issuer_never_causes_a_fetch() {
    let server = JwksServer::start().await;
    server.set_document("/a", jwks_of(&[jwk("ed-1")]));
    server.set_document("/b", jwks_of(&[jwk("ec-256")]));
    let remote = |path: &str| RemoteJwks::builder(server.url(path)).build().unwrap();
    let issuers = Issuers::new()
        .issuer(A, remote("/a"))
        .issuer(B, remote("/b"));
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(issuers)
        .audience(AUDIENCE)
        .build()
        .unwrap();

    run(
        &layer,
        bearer(&token(Algorithm::EdDSA, &claims_of(A), Some("ed-1"))),
    )
    .await
    .assert_ok();
    assert_eq!((server.fetches("/a"), server.fetches("/b")), (1, 0));
    // Issuer B's set is only fetched for B's tokens; A's key named in a token claiming B is not found there.
    run(
        &layer,
        bearer(&token(Algorithm::EdDSA, &claims_of(B), Some("ed-1"))),
    )
    .await
    .assert_invalid_token();
    assert_eq!(server.fetches("/b"), 1);
    for i in 0..50 {
        let claims = claims_of(&format!("https://unknown-{i}.example.com"));
        run(
            &layer,
            bearer(&token(Algorithm::EdDSA, &claims, Some(&format!("kid-{i}")))),
        )
        .await
        .assert_invalid_token();
    }
    assert_eq!(server.total_fetches(), 2, "unknown issuers caused fetches");
}

#[test]
fn configuration_errors() {
    let keys = || StaticKeys::new([Key::hs256(SECRET_A).unwrap()]).unwrap();
    let error = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Issuers::new().issuer(A, keys()).issuer(A, keys()))
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::InvalidOption(m) if m.contains("twice")),
        "{error}"
    );
    let error = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Issuers::<StaticKeys>::new())
        .build()
        .unwrap_err();
    assert_eq!(error, ConfigError::NoKeys);
    // An issuer option the router does not know could never match.
    let error = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Issuers::new().issuer(A, keys()))
        .issuer(B)
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::InvalidOption(m) if m.contains(B)),
        "{error}"
    );
    assert!(
        JwtAuthLayer::<RegisteredClaims>::builder()
            .provider(Issuers::new().issuer(A, keys()))
            .issuer(A)
            .build()
            .is_ok()
    );
}
