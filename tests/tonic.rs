//! The layer in front of a real tonic gRPC server (the standard health service), called by a real tonic
//! client over HTTP/2 on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

async fn serve() -> (String, tokio::task::JoinHandle<()>) {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let auth = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check_claims(|claims: &RegisteredClaims| {
            claims.extra.get("role").is_none_or(|r| r != "banned")
        })
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(auth)
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (format!("http://{addr}"), server)
}

async fn check(url: &str, token: Option<&str>) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    client.check(request).await.map(|_| ())
}

#[tokio::test]
async fn grpc_statuses_through_tonic() {
    let (url, server) = serve().await;

    check(&url, Some(&hs256(&claims())))
        .await
        .expect("a valid token passes");

    let missing = check(&url, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");

    let valid = hs256(&claims());
    let flip_at = valid.len() - 10;
    let flipped = if &valid[flip_at..=flip_at] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{flipped}{}", &valid[..flip_at], &valid[flip_at + 1..]);
    let invalid = check(&url, Some(&tampered)).await.unwrap_err();
    assert_eq!(invalid.code(), Code::Unauthenticated);
    assert_eq!(invalid.message(), "the token signature is invalid");

    let mut banned = claims();
    banned["role"] = "banned".into();
    let denied = check(&url, Some(&hs256(&banned))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    server.abort();
}
