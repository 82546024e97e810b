//! The axum `Claims` extractor refuses exactly as the layer in front of it would.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_jwt_auth::source::RequestHead;
use tower_jwt_auth::{AuthError, Claims, JwtAuthLayer, Key, RegisteredClaims};

async fn me(Claims(claims): Claims<RegisteredClaims>) -> String {
    claims.sub.unwrap_or_default()
}

async fn call(app: Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn anonymous() -> Request<Body> {
    Request::get("/strict").body(Body::empty()).unwrap()
}

#[tokio::test]
async fn rejection_uses_the_layers_realm() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .audience(AUDIENCE)
        .realm("billing")
        .optional()
        .build()
        .unwrap();
    let app = Router::new().route("/strict", get(me)).layer(layer);
    let (status, headers, _) = call(app.clone(), anonymous()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="billing""#);

    let request = Request::get("/strict")
        .header("authorization", format!("Bearer {}", hs256(&claims())))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(app, request).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "user-1"));
}

#[tokio::test]
async fn rejection_uses_the_layers_error_handler_and_grpc_rules() {
    let handler = |error: &AuthError, _: &RequestHead<'_>| {
        Response::builder()
            .status(error.status())
            .body(Bytes::from_static(b"sign in first"))
            .unwrap()
    };
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .audience(AUDIENCE)
        .error_handler(handler)
        .optional()
        .build()
        .unwrap();
    let app = Router::new().route("/strict", get(me)).layer(layer);
    let (status, _, body) = call(app, anonymous()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, "sign in first")
    );

    let default = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .optional()
        .build()
        .unwrap();
    let app = Router::new().route("/strict", get(me)).layer(default);
    let grpc = Request::get("/strict")
        .header("content-type", "application/grpc")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(app, grpc).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["grpc-status"], "16");
}

#[tokio::test]
async fn without_a_layer_the_rejection_is_still_a_challenge() {
    let app = Router::new().route("/strict", get(me));
    let (status, headers, _) = call(app, anonymous()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="api""#);
}
