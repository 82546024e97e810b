//! The verified-token cache: hits skip verification but never the per-request rules, and an entry is
//! served only within its token's time window and while its key is still current.

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use jsonwebtoken::Algorithm;
use jwks_server::{DEFAULT_PATH, JwksServer, jwks_of};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use tower_jwt_auth::remote::RemoteJwks;
use tower_jwt_auth::{JwtAuthBuilder, JwtAuthLayer, Key, RegisteredClaims};

/// Claims that count how often they are deserialized, i.e. how often a token was really verified.
#[derive(Debug, Clone, Serialize)]
struct Counted {
    sub: String,
}

static DESERIALIZED: AtomicUsize = AtomicUsize::new(0);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            sub: String,
        }
        let raw = Raw::deserialize(deserializer)?;
        DESERIALIZED.fetch_add(1, Ordering::SeqCst);
        Ok(Counted { sub: raw.sub })
    }
}

/// Tests share the counter: each runs its requests under this lock and measures differences.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn verifications() -> usize {
    DESERIALIZED.load(Ordering::SeqCst)
}

fn builder() -> JwtAuthBuilder<Counted> {
    JwtAuthLayer::<Counted>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

#[tokio::test]
async fn a_hit_skips_verification_and_still_inserts_the_claims() {
    let _serial = SERIAL.lock().await;
    let layer = builder().build().unwrap();
    let token = hs256(&claims());
    let before = verifications();
    for _ in 0..5 {
        let outcome = run(&layer, bearer(&token)).await;
        outcome.assert_ok();
    }
    assert_eq!(verifications() - before, 1, "one verification, four hits");
    // Another token is verified on its own.
    let mut other = claims();
    other["sub"] = json!("user-2");
    run(&layer, bearer(&hs256(&other))).await.assert_ok();
    assert_eq!(verifications() - before, 2);
    // With the cache off, every request verifies.
    let uncached = builder().no_cache().build().unwrap();
    for _ in 0..3 {
        run(&uncached, bearer(&token)).await.assert_ok();
    }
    assert_eq!(verifications() - before, 5);
    let uncached = builder().cache_capacity(0).build().unwrap();
    run(&uncached, bearer(&token)).await.assert_ok();
    run(&uncached, bearer(&token)).await.assert_ok();
    assert_eq!(verifications() - before, 7);
}

#[tokio::test]
async fn an_entry_is_not_served_past_the_tokens_exp() {
    let _serial = SERIAL.lock().await;
    let layer = builder().leeway(Duration::ZERO).build().unwrap();
    let mut soon = claims();
    soon["exp"] = json!(now() + 2);
    let token = hs256(&soon);
    run(&layer, bearer(&token)).await.assert_ok();
    run(&layer, bearer(&token)).await.assert_ok();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = run(&layer, bearer(&token)).await;
    outcome.assert_invalid_token();
    assert!(
        outcome.www_authenticate().contains("expired"),
        "{}",
        outcome.www_authenticate()
    );
}

#[tokio::test]
async fn an_entry_is_not_served_past_the_cache_ttl() {
    let _serial = SERIAL.lock().await;
    let layer = builder()
        .cache_ttl(Duration::from_millis(200))
        .build()
        .unwrap();
    let token = hs256(&claims());
    let before = verifications();
    run(&layer, bearer(&token)).await.assert_ok();
    run(&layer, bearer(&token)).await.assert_ok();
    assert_eq!(verifications() - before, 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    run(&layer, bearer(&token)).await.assert_ok();
    assert_eq!(verifications() - before, 2, "verified again after the TTL");
}

#[tokio::test]
async fn a_hit_still_runs_the_claims_check_and_the_transport_rules() {
    let _serial = SERIAL.lock().await;
    let allowed = Arc::new(AtomicBool::new(true));
    let checks = Arc::new(AtomicUsize::new(0));
    let layer = builder()
        .cookie("session")
        .check_claims({
            let (allowed, checks) = (allowed.clone(), checks.clone());
            move |_: &Counted| {
                checks.fetch_add(1, Ordering::SeqCst);
                allowed.load(Ordering::SeqCst)
            }
        })
        .build()
        .unwrap();
    let token = hs256(&claims());
    run(&layer, bearer(&token)).await.assert_ok();
    run(&layer, bearer(&token)).await.assert_ok();
    assert_eq!(checks.load(Ordering::SeqCst), 2, "the hook ran on the hit");
    allowed.store(false, Ordering::SeqCst);
    run(&layer, bearer(&token))
        .await
        .assert_refused(403, Some("insufficient_scope"));
    allowed.store(true, Ordering::SeqCst);
    // The cached token sent two ways at once is still a malformed request.
    let mut both = bearer(&token);
    both.headers_mut()
        .insert("cookie", format!("session={token}").parse().unwrap());
    run(&layer, both)
        .await
        .assert_refused(400, Some("invalid_request"));
}

/// With the default source a hit is looked up before the token's syntax pass: a cached token must still
/// be refused in every field the `Bearer` source refuses, and found in every form it accepts.
#[tokio::test]
async fn a_cached_token_in_a_field_bearer_refuses_is_still_refused() {
    let _serial = SERIAL.lock().await;
    let layer = builder().build().unwrap();
    let token = hs256(&claims());
    let before = verifications();
    run(&layer, bearer(&token)).await.assert_ok();
    let with = |values: &[String]| {
        let mut request = http::Request::get("/me").body(String::new()).unwrap();
        for value in values {
            request
                .headers_mut()
                .append("authorization", value.parse().unwrap());
        }
        request
    };
    for value in [
        format!("Bearer\t{token}"),
        format!("Bearer \t{token}"),
        format!("Bearer {token} extra"),
        format!("Bearer {token},"),
        format!("Bearer \"{token}\""),
    ] {
        run(&layer, with(std::slice::from_ref(&value)))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
    let twice = [format!("Bearer {token}"), format!("Bearer {token}")];
    run(&layer, with(&twice))
        .await
        .assert_refused(400, Some("invalid_request"));
    run(&layer, with(&[format!("Basic {token}")]))
        .await
        .assert_refused(401, None);
    for value in [
        format!("bearer {token}"),
        format!("BEARER   {token}"),
        format!("  Bearer {token}  "),
    ] {
        run(&layer, with(&[value])).await.assert_ok();
    }
    assert_eq!(verifications() - before, 1, "every accepted form was a hit");
}

#[tokio::test]
async fn removing_or_replacing_the_key_invalidates_what_it_verified() {
    let _serial = SERIAL.lock().await;
    let server = JwksServer::start().await;
    server.set_document(DEFAULT_PATH, jwks_of(&[jwk("ed-1"), jwk("ec-256")]));
    let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
        .unknown_kid_cooldown(Duration::from_millis(1))
        .build()
        .unwrap();
    jwks.load().await.unwrap();
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(jwks.clone())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let ed = token(Algorithm::EdDSA, &claims(), Some("ed-1"));
    let ec = token(Algorithm::ES256, &claims(), Some("ec-256"));
    run(&layer, bearer(&ed)).await.assert_ok();
    run(&layer, bearer(&ec)).await.assert_ok();

    // ed-1 is removed from the set: its cached token is refused once the set is refreshed.
    // ec-256 is replaced: same kid, other material (the P-384 key's coordinates would not even fit, so
    // the RSA key takes its kid).
    let mut replaced = jwk("rsa-1");
    replaced["kid"] = json!("ec-256");
    server.set_document(DEFAULT_PATH, jwks_of(&[replaced]));
    jwks.load().await.unwrap();
    run(&layer, bearer(&ed)).await.assert_invalid_token();
    run(&layer, bearer(&ec)).await.assert_invalid_token();
}

#[tokio::test]
async fn unchanged_keys_keep_their_entries_across_refreshes() {
    let _serial = SERIAL.lock().await;
    let server = JwksServer::start().await;
    server.set_document(DEFAULT_PATH, jwks_of(&[jwk("ed-1")]));
    let jwks = RemoteJwks::builder(server.url(DEFAULT_PATH))
        .build()
        .unwrap();
    jwks.load().await.unwrap();
    let layer = JwtAuthLayer::<Counted>::builder()
        .provider(jwks.clone())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let ed = token(Algorithm::EdDSA, &claims(), Some("ed-1"));
    let before = verifications();
    run(&layer, bearer(&ed)).await.assert_ok();
    // A refresh that brings the same key back (new objects, same material) keeps the entry.
    jwks.load().await.unwrap();
    run(&layer, bearer(&ed)).await.assert_ok();
    assert_eq!(verifications() - before, 1);
}

/// With `Arc<C>` as the claims type, every hit hands out the same allocation: the cache clones a
/// pointer, not the claims.
#[tokio::test]
async fn shared_claims_are_not_copied_on_a_hit() {
    use std::convert::Infallible;
    use tower::{Layer, ServiceExt};

    let layer = JwtAuthLayer::<Arc<RegisteredClaims>>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let token = hs256(&claims());
    let mut seen = Vec::new();
    for _ in 0..3 {
        let inner = tower::service_fn(|request: http::Request<String>| async move {
            let mut response = http::Response::new(String::new());
            if let Some(claims) = request.extensions().get::<Arc<RegisteredClaims>>() {
                response.extensions_mut().insert(Arc::clone(claims));
            }
            Ok::<_, Infallible>(response)
        });
        let response = layer.layer(inner).oneshot(bearer(&token)).await.unwrap();
        let claims = response
            .extensions()
            .get::<Arc<RegisteredClaims>>()
            .cloned()
            .expect("claims inserted");
        assert_eq!(claims.sub.as_deref(), Some("user-1"));
        seen.push(claims);
    }
    // The first request verified and cached; the next two were hits on the same `Arc`.
    assert!(Arc::ptr_eq(&seen[1], &seen[2]));
    assert!(Arc::ptr_eq(&seen[0], &seen[1]));
}

/// A provider with one key that counts its lookups and says whether its keys are fixed.
struct CountingKeys {
    key: Key,
    fixed: bool,
    lookups: Arc<AtomicUsize>,
}

impl tower_jwt_auth::KeyProvider for CountingKeys {
    type Future = std::future::Ready<Result<Arc<Key>, tower_jwt_auth::AuthError>>;

    fn lookup<'a>(
        &'a self,
        _: &tower_jwt_auth::TokenHeader<'_>,
    ) -> tower_jwt_auth::KeyLookup<'a, Self::Future> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        tower_jwt_auth::KeyLookup::Found(&self.key)
    }

    fn keys_are_fixed(&self) -> bool {
        self.fixed
    }
}

async fn three_requests<P: tower_jwt_auth::KeyProvider>(
    layer: JwtAuthLayer<RegisteredClaims, P>,
    token: &str,
) {
    for _ in 0..3 {
        run(&layer, bearer(token)).await.assert_ok();
    }
}

/// A provider whose keys may change is asked again on every hit; one whose keys are fixed is not, also
/// when it is routed to by issuer.
#[tokio::test]
async fn a_hit_looks_the_key_up_again_unless_the_keys_are_fixed() {
    let token = hs256(&claims());
    for (fixed, by_issuer) in [(false, false), (true, false), (false, true), (true, true)] {
        let lookups = Arc::new(AtomicUsize::new(0));
        let keys = CountingKeys {
            key: Key::hs256(SECRET).unwrap(),
            fixed,
            lookups: Arc::clone(&lookups),
        };
        let builder = JwtAuthLayer::<RegisteredClaims>::builder().audience(AUDIENCE);
        if by_issuer {
            let issuers = tower_jwt_auth::Issuers::new().issuer(ISSUER, keys);
            three_requests(builder.provider(issuers).build().unwrap(), &token).await;
        } else {
            three_requests(
                builder.provider(keys).issuer(ISSUER).build().unwrap(),
                &token,
            )
            .await;
        }
        let expected = if fixed { 1 } else { 3 };
        let seen = lookups.load(Ordering::SeqCst);
        assert_eq!(seen, expected, "fixed: {fixed}, by issuer: {by_issuer}");
    }
}
