//! OIDC discovery and the Better Auth preset against a real HTTP server on 127.0.0.1.

mod common;
#[path = "support/jwks_server.rs"]
mod jwks_server;

use common::*;
use jsonwebtoken::Algorithm;
use jwks_server::{JwksServer, jwks_of};
use serde_json::json;
use tower_jwt_auth::better_auth::BetterAuthUser;
use tower_jwt_auth::remote::{Discovery, FetchError, RemoteJwks};
use tower_jwt_auth::{JwtAuthLayer, RegisteredClaims};

const OIDC: &str = "/.well-known/openid-configuration";

#[tokio::test]
async fn discovery_finds_the_jwks_and_binds_the_issuer() {
    let server = JwksServer::start().await;
    let issuer = server.url("");
    let issuer = issuer.trim_end_matches('/');
    server.set_document("/keys", jwks_of(&[jwk("ed-1")]));
    server.set_document(
        OIDC,
        json!({"issuer": issuer, "jwks_uri": server.url("/keys")}),
    );

    let discovery = Discovery::fetch_with_default_client(issuer).await.unwrap();
    assert_eq!(
        (discovery.issuer.as_str(), discovery.jwks_uri.clone()),
        (issuer, server.url("/keys"))
    );

    let jwks = RemoteJwks::builder(discovery.jwks_uri).build().unwrap();
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .provider(jwks)
        .issuer(discovery.issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let mut claims = claims();
    claims["iss"] = json!(issuer);
    run(
        &layer,
        bearer(&token(Algorithm::EdDSA, &claims, Some("ed-1"))),
    )
    .await
    .assert_ok();
    // The same key, another issuer in the token: refused.
    claims["iss"] = json!("https://issuer.example.com");
    run(
        &layer,
        bearer(&token(Algorithm::EdDSA, &claims, Some("ed-1"))),
    )
    .await
    .assert_invalid_token();
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused() {
    let server = JwksServer::start().await;
    let issuer = server.url("").trim_end_matches('/').to_owned();
    for stated in [
        "https://evil.example.com".to_owned(),
        format!("{issuer}/"),
        issuer.to_uppercase(),
    ] {
        server.set_document(
            OIDC,
            json!({"issuer": stated, "jwks_uri": server.url("/keys")}),
        );
        let error = Discovery::fetch_with_default_client(&issuer)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, FetchError::Discovery(m) if m.contains("names issuer")),
            "{stated}: {error}"
        );
    }
    // No jwks_uri, or a jwks_uri that is not a URL.
    server.set_document(OIDC, json!({"issuer": issuer}));
    assert!(matches!(
        Discovery::fetch_with_default_client(&issuer).await,
        Err(FetchError::Discovery(_))
    ));
    server.set_document(OIDC, json!({"issuer": issuer, "jwks_uri": "not a url"}));
    assert!(matches!(
        Discovery::fetch_with_default_client(&issuer).await,
        Err(FetchError::Discovery(_))
    ));
}

#[tokio::test]
async fn rfc8414_metadata_when_there_is_no_openid_configuration() {
    let server = JwksServer::start().await;
    let issuer = server.url("/tenant");
    server.set_document(
        "/.well-known/oauth-authorization-server/tenant",
        json!({"issuer": issuer, "jwks_uri": server.url("/tenant/keys")}),
    );
    let discovery = Discovery::fetch_with_default_client(&issuer).await.unwrap();
    assert_eq!(discovery.jwks_uri, server.url("/tenant/keys"));
    assert_eq!(
        server.fetches("/tenant/.well-known/openid-configuration"),
        1,
        "OIDC location tried first"
    );
    // Neither document: the error says so.
    let error = Discovery::fetch_with_default_client(&server.url("/nobody"))
        .await
        .unwrap_err();
    assert_eq!(error, FetchError::Status(404));
}

/// A Better Auth deployment's JWT plugin, as far as a resource server sees it: `/api/auth/jwks` without
/// Cache-Control, keys with `kid` and `alg` but no `use`, tokens without `typ`, `iss` = `aud` = the origin.
#[tokio::test]
async fn better_auth_preset() {
    let server = JwksServer::start().await;
    let origin = server.url("").trim_end_matches('/').to_owned();
    let mut ed = jwk("ed-1");
    ed.as_object_mut().unwrap().remove("use");
    // An ES512 key (P-521), as Better Auth can be configured to publish: reported, not fatal.
    let es512 = json!({"kty": "EC", "crv": "P-521", "alg": "ES512", "kid": "p521",
        "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
        "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"});
    server.set_document("/api/auth/jwks", jwks_of(&[es512, ed]));

    let layer = JwtAuthLayer::<BetterAuthUser>::better_auth(&origin)
        .unwrap()
        .build()
        .unwrap();
    let now = now();
    let user = json!({
        "sub": "user-42", "id": "user-42", "email": "ada@example.com", "name": "Ada",
        "emailVerified": true, "image": null,
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-02T00:00:00.000Z",
        "iss": origin, "aud": origin, "iat": now, "exp": now + 900
    });
    let token = sign_raw(
        &json!({"alg": "EdDSA", "kid": "ed-1"}).to_string(),
        &user.to_string(),
        Algorithm::EdDSA,
        &signing_key(Algorithm::EdDSA),
    );
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = tower::Layer::layer(
        &layer,
        tower::service_fn({
            let calls = calls.clone();
            move |request: http::Request<String>| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let user = request.extensions().get::<BetterAuthUser>().cloned();
                async move {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        serde_json::to_string(&user).unwrap(),
                    ))
                }
            }
        }),
    );
    let response = tower::ServiceExt::oneshot(service.clone(), bearer(&token))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let seen: BetterAuthUser = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (seen.id.as_str(), seen.email.as_str(), seen.email_verified),
        ("user-42", "ada@example.com", true)
    );
    assert_eq!(seen.image, None);

    // A token of another deployment (other iss/aud) is refused, as is one whose signature was altered.
    let mut other = user.clone();
    other["iss"] = json!("http://localhost:9999");
    other["aud"] = json!("http://localhost:9999");
    let forged = sign_raw(
        &json!({"alg": "EdDSA", "kid": "ed-1"}).to_string(),
        &other.to_string(),
        Algorithm::EdDSA,
        &signing_key(Algorithm::EdDSA),
    );
    let response = tower::ServiceExt::oneshot(service.clone(), bearer(&forged))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let mut altered = token.clone();
    let at = altered.len() - 5;
    let flipped = if &altered[at..=at] == "A" { "B" } else { "A" };
    altered.replace_range(at..=at, flipped);
    let response = tower::ServiceExt::oneshot(service, bearer(&altered))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.fetches("/api/auth/jwks"), 1);
    // The ES512 key is reported, with a reason that names it, not silently dropped.
    let skipped = layer_provider_skipped(&origin).await;
    assert!(
        skipped
            .iter()
            .any(|s| s.kid.as_deref() == Some("p521") && s.reason.contains("ES512")),
        "{skipped:?}"
    );
}

/// What the preset's provider skipped in the deployment's set.
async fn layer_provider_skipped(origin: &str) -> Vec<tower_jwt_auth::SkippedJwk> {
    let builder = JwtAuthLayer::<BetterAuthUser>::better_auth(origin).unwrap();
    let jwks = builder.key_provider().clone();
    jwks.load().await.unwrap();
    jwks.skipped()
}
