//! Cross-site request forgery: a cookie-carried token on an unsafe method needs `Sec-Fetch-Site:
//! same-origin`, an `Origin` matching the request's own host, or an allowed origin; everything else is a 403
//! without a challenge, decided before the token is looked at. Bearer tokens are not affected.

mod common;

use common::*;
use http::{Method, Request, StatusCode};
use tower_jwt_auth::source::CookieSource;
use tower_jwt_auth::{ConfigError, JwtAuthBuilder, JwtAuthLayer, Key, RegisteredClaims};

fn builder() -> JwtAuthBuilder<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

fn layer() -> JwtAuthLayer<RegisteredClaims> {
    builder().cookie("session").build().unwrap()
}

/// A request to api.example.com:8443 with the session cookie and these extra fields.
fn with_cookie(method: Method, cookie: &str, fields: &[(&str, &str)]) -> Request<String> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/api/orders")
        .header("host", "api.example.com:8443")
        .header("cookie", cookie);
    for (name, value) in fields {
        builder = builder.header(*name, *value);
    }
    builder.body(String::new()).unwrap()
}

fn session() -> String {
    format!("session={}", hs256(&claims()))
}

fn assert_cross_site(outcome: &Outcome) {
    assert_eq!(outcome.status, StatusCode::FORBIDDEN, "{outcome:?}");
    assert!(!outcome.reached_inner);
    assert!(
        outcome.headers.get("www-authenticate").is_none(),
        "another token would not help: no challenge"
    );
    assert_eq!(
        outcome.body,
        r#"{"error":"cross_site_request","error_description":"cross-site request refused: a cookie credential needs a same-origin request"}"#
    );
}

#[tokio::test]
async fn unsafe_methods_without_origin_evidence_are_refused() {
    let layer = layer();
    for method in ["POST", "PUT", "PATCH", "DELETE", "PURGE"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let outcome = run(&layer, with_cookie(method.clone(), &session(), &[])).await;
        assert_cross_site(&outcome);
    }
}

#[tokio::test]
async fn safe_methods_are_not_checked() {
    let layer = layer();
    for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
        let fields = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        run(&layer, with_cookie(method, &session(), &fields))
            .await
            .assert_ok();
    }
}

#[tokio::test]
async fn sec_fetch_site_decides_when_present() {
    let layer = layer();
    let same = [("sec-fetch-site", "same-origin")];
    run(&layer, with_cookie(Method::POST, &session(), &same))
        .await
        .assert_ok();
    // Another port of the same host or a sibling subdomain is same-site, not same-origin.
    for site in ["same-site", "cross-site", "none", "SAME-ORIGIN", ""] {
        let fields = [("sec-fetch-site", site)];
        assert_cross_site(&run(&layer, with_cookie(Method::POST, &session(), &fields)).await);
        // An Origin naming the host does not overrule the browser's own verdict.
        let fields = [
            ("sec-fetch-site", site),
            ("origin", "https://api.example.com:8443"),
        ];
        assert_cross_site(&run(&layer, with_cookie(Method::POST, &session(), &fields)).await);
    }
}

#[tokio::test]
async fn origin_must_match_the_request_host_without_sec_fetch_site() {
    let layer = layer();
    for origin in [
        "https://api.example.com:8443",
        "http://API.example.com:8443",
    ] {
        run(
            &layer,
            with_cookie(Method::POST, &session(), &[("origin", origin)]),
        )
        .await
        .assert_ok();
    }
    for origin in [
        "https://api.example.com",
        "https://api.example.com:9443",
        "https://evil.example",
        "https://api.example.com:8443.evil.example",
        "null",
        "api.example.com:8443",
        "",
    ] {
        let outcome = run(
            &layer,
            with_cookie(Method::POST, &session(), &[("origin", origin)]),
        )
        .await;
        assert_cross_site(&outcome);
    }
    // Two Origin fields are no origin.
    let outcome = run(
        &layer,
        with_cookie(
            Method::POST,
            &session(),
            &[
                ("origin", "https://api.example.com:8443"),
                ("origin", "https://api.example.com:8443"),
            ],
        ),
    )
    .await;
    assert_cross_site(&outcome);
}

#[tokio::test]
async fn the_http2_authority_stands_in_for_host() {
    let layer = layer();
    let request = Request::post("https://api.example.com:8443/api/orders")
        .header("cookie", session())
        .header("origin", "https://api.example.com:8443")
        .body(String::new())
        .unwrap();
    run(&layer, request).await.assert_ok();
    let request = Request::post("https://api.example.com:8443/api/orders")
        .header("cookie", session())
        .header("origin", "https://evil.example")
        .body(String::new())
        .unwrap();
    assert_cross_site(&run(&layer, request).await);
}

#[tokio::test]
async fn allowed_origins_pass_and_the_builder_order_does_not_matter() {
    let layers = [
        builder()
            .cookie("session")
            .csrf_allowed_origin("http://localhost:5173")
            .build()
            .unwrap(),
        builder()
            .csrf_allowed_origin("http://localhost:5173/")
            .cookie("session")
            .build()
            .unwrap(),
        builder()
            .source(
                CookieSource::new("session")
                    .allow_origin("HTTP://LOCALHOST:5173")
                    .unwrap(),
            )
            .build()
            .unwrap(),
    ];
    for layer in &layers {
        for fields in [
            &[("origin", "http://localhost:5173")][..],
            &[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "same-site"),
            ],
            &[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            run(layer, with_cookie(Method::POST, &session(), fields))
                .await
                .assert_ok();
        }
        for origin in ["http://localhost:5174", "https://localhost:5173"] {
            let fields = [("origin", origin), ("sec-fetch-site", "cross-site")];
            assert_cross_site(&run(layer, with_cookie(Method::POST, &session(), &fields)).await);
        }
    }
}

#[test]
fn malformed_allowed_origins_are_configuration_errors() {
    for origin in [
        "localhost:5173",
        "ftp://example.com",
        "https://",
        "https://example.com/app",
        "https://example.com?x",
    ] {
        let err = builder()
            .cookie("session")
            .csrf_allowed_origin(origin)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidOption(_)),
            "{origin}: {err}"
        );
    }
}

#[tokio::test]
async fn the_check_comes_before_the_token_is_looked_at() {
    let layer = layer();
    // A garbage or expired cookie on a cross-site POST is still a 403, not a 401: nothing about the token
    // is revealed to the other site.
    for cookie in [
        "session=garbage",
        &format!(
            "session={}",
            hs256(&patched(claims(), serde_json::json!({"exp": 1})))
        ),
    ] {
        let outcome = run(&layer, with_cookie(Method::POST, cookie, &[])).await;
        assert_cross_site(&outcome);
    }
    // Chunked cookies are checked the same way.
    let token = hs256(&claims());
    let (a, b) = token.split_at(token.len() / 2);
    let chunked = format!("session.0={a}; session.1={b}");
    assert_cross_site(&run(&layer, with_cookie(Method::POST, &chunked, &[])).await);
    run(
        &layer,
        with_cookie(Method::POST, &chunked, &[("sec-fetch-site", "same-origin")]),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn bearer_tokens_and_absent_cookies_are_not_affected() {
    let layer = layer();
    let request = Request::post("/api/orders")
        .header("host", "api.example.com:8443")
        .header("authorization", format!("Bearer {}", hs256(&claims())))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(String::new())
        .unwrap();
    run(&layer, request).await.assert_ok();
    // No credential at all: the usual 401 with a challenge.
    let outcome = run(
        &layer,
        with_cookie(
            Method::POST,
            "theme=dark",
            &[("origin", "https://evil.example")],
        ),
    )
    .await;
    outcome.assert_refused(401, None);
}

#[tokio::test]
async fn the_check_can_be_turned_off_explicitly() {
    let layer = builder()
        .source(CookieSource::new("session").dangerous_disable_csrf_check())
        .build()
        .unwrap();
    let fields = [("origin", "https://evil.example")];
    run(&layer, with_cookie(Method::POST, &session(), &fields))
        .await
        .assert_ok();
}

#[tokio::test]
async fn grpc_requests_get_permission_denied() {
    let layer = layer();
    let request = with_cookie(
        Method::POST,
        &session(),
        &[("content-type", "application/grpc")],
    );
    let outcome = run(&layer, request).await;
    assert!(!outcome.reached_inner);
    assert_eq!(outcome.headers["grpc-status"], "7");
}

/// Without `Sec-Fetch-Site`, origins are compared as browsers define them: scheme, host and port, a
/// default port written or not. Without a port in `Host` the request went to its scheme's default port;
/// an unknown scheme counts as https, so a plain-http page on port 80 is not the https site.
#[tokio::test]
async fn origins_compare_scheme_host_and_port() {
    let layer = layer();
    let post = |host: &str, origin: &str| {
        Request::post("/api/orders")
            .header("host", host)
            .header("cookie", session())
            .header("origin", origin)
            .body(String::new())
            .unwrap()
    };
    for (host, origin) in [
        ("api.example.com", "https://api.example.com"),
        ("api.example.com:443", "https://api.example.com"),
        ("api.example.com", "https://api.example.com:443"),
        ("127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("[::1]:3000", "http://[::1]:3000"),
    ] {
        run(&layer, post(host, origin)).await.assert_ok();
    }
    for (host, origin) in [
        ("api.example.com", "http://api.example.com"),
        ("api.example.com:80", "https://api.example.com"),
        ("api.example.com", "https://user@api.example.com"),
        ("api.example.com", "https://api.example.com/path"),
        ("[::1]:3000", "http://[::1]:3001"),
        ("api.example.com:+443", "https://api.example.com"),
    ] {
        assert_cross_site(&run(&layer, post(host, origin)).await);
    }
    // When the request's scheme is known (HTTP/2, absolute form), it must match too.
    let request = Request::post("http://api.example.com:8080/api/orders")
        .header("cookie", session())
        .header("origin", "https://api.example.com:8080")
        .body(String::new())
        .unwrap();
    assert_cross_site(&run(&layer, request).await);
}

#[tokio::test]
async fn allowed_origins_are_normalised_and_validated() {
    let layer = builder()
        .cookie("session")
        .csrf_allowed_origin("https://APP.example.com:443/")
        .build()
        .unwrap();
    let fields = [
        ("origin", "https://app.example.com"),
        ("sec-fetch-site", "cross-site"),
    ];
    run(&layer, with_cookie(Method::POST, &session(), &fields))
        .await
        .assert_ok();
    // `null` is what sandboxed frames and data: documents send: never an allowed origin.
    for origin in [
        "null",
        "app.example.com",
        "https://app.example.com/x",
        "https://u@app.example.com",
        "https://app:example.com:443",
        "https://[app.example.com]",
        "https://[]:443",
    ] {
        assert!(
            CookieSource::new("session").allow_origin(origin).is_err(),
            "{origin}"
        );
    }
}
