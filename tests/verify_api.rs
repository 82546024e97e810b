//! `JwtAuthLayer::verify`: one token without a request, under the layer's keys, rules, claims check and
//! cache, on the static and the asynchronous key paths.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;
use tower_jwt_auth::{
    AuthError, InvalidToken, JwtAuthLayer, Key, KeyLookup, KeyProvider, RegisteredClaims,
    TokenHeader,
};

fn layer() -> JwtAuthLayer<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check_claims(|c: &RegisteredClaims| c.sub.as_deref() != Some("banned"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_good_token_gives_its_claims() {
    let claims = layer().verify(&hs256(&claims())).await.unwrap();
    assert_eq!(claims.sub.as_deref(), Some("user-1"));
    assert_eq!(claims.iss.as_deref(), Some(ISSUER));
}

/// The token with one signature character changed, away from the last one (whose low bits may be unused).
fn flip_signature_char(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn every_rule_of_the_layer_applies() {
    let layer = layer();
    let cases = [
        (
            "garbage".to_owned(),
            AuthError::InvalidToken(InvalidToken::Malformed),
        ),
        (
            String::new(),
            AuthError::InvalidToken(InvalidToken::Malformed),
        ),
        (
            hs256(&patched(claims(), json!({"exp": 1}))),
            AuthError::InvalidToken(InvalidToken::Expired),
        ),
        (
            hs256(&patched(claims(), json!({"iss": "https://other.example"}))),
            AuthError::InvalidToken(InvalidToken::WrongIssuer),
        ),
        (
            flip_signature_char(&hs256(&claims())),
            AuthError::InvalidToken(InvalidToken::BadSignature),
        ),
        (
            hs256(&patched(claims(), json!({"sub": "banned"}))),
            AuthError::InsufficientScope,
        ),
    ];
    for (token, expected) in cases {
        // Twice: a refusal is never cached, a second answer is the same.
        for _ in 0..2 {
            assert_eq!(layer.verify(&token).await.unwrap_err(), expected, "{token}");
        }
    }
}

#[tokio::test]
async fn the_cache_serves_a_token_verified_once_but_the_check_still_runs() {
    let layer = layer();
    let token = hs256(&claims());
    for _ in 0..3 {
        layer.verify(&token).await.unwrap();
    }
    // A token checked by the layer for a request is a cache hit for `verify`, and the other way round.
    let outcome = run(&layer, bearer(&token)).await;
    outcome.assert_ok();
}

/// A provider whose every lookup waits: `verify` awaits it like the service does.
struct Slow {
    key: Arc<Key>,
    lookups: AtomicUsize,
}

type KeyFuture = Pin<Box<dyn Future<Output = Result<Arc<Key>, AuthError>> + Send>>;

impl KeyProvider for Slow {
    type Future = KeyFuture;

    fn lookup<'a>(&'a self, header: &TokenHeader<'_>) -> KeyLookup<'a, KeyFuture> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let key = Arc::clone(&self.key);
        let down = header.kid() == Some("down");
        KeyLookup::Pending(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if down {
                Err(AuthError::KeysUnavailable {
                    retry_after: Duration::from_secs(3),
                })
            } else {
                Ok(key)
            }
        }))
    }
}

#[tokio::test]
async fn the_asynchronous_key_path_is_awaited() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(Slow {
            key: Arc::new(Key::hs256(SECRET).unwrap().with_kid("k1")),
            lookups: AtomicUsize::new(0),
        })
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let good = token(jsonwebtoken::Algorithm::HS256, &claims(), Some("k1"));
    assert_eq!(
        layer.verify(&good).await.unwrap().sub.as_deref(),
        Some("user-1")
    );
    let down = token(jsonwebtoken::Algorithm::HS256, &claims(), Some("down"));
    assert_eq!(
        layer.verify(&down).await.unwrap_err(),
        AuthError::KeysUnavailable {
            retry_after: Duration::from_secs(3)
        }
    );
    // The provider answered with a key whose kid is not the token's: refused.
    let other = token(jsonwebtoken::Algorithm::HS256, &claims(), Some("k2"));
    assert_eq!(
        layer.verify(&other).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::UnknownKid)
    );
}
