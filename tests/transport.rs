//! Where the token is read from (RFC 6750 §2): the `Authorization: Bearer` field, cookies (Better Auth style
//! chunks included), a custom header and the query string, alone and combined, in required and optional mode.

mod common;

use common::*;
use http::{HeaderName, HeaderValue, Request};
use tower_jwt_auth::source::{CookieSource, TokenSource};
use tower_jwt_auth::{JwtAuthBuilder, JwtAuthLayer, Key, RegisteredClaims};

const X_AUTH: &str = "x-auth-token";

fn builder() -> JwtAuthBuilder<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

fn bearer_layer() -> JwtAuthLayer<RegisteredClaims> {
    builder().build().unwrap()
}

fn cookie_layer(name: &str) -> JwtAuthLayer<RegisteredClaims> {
    builder().cookie(name).build().unwrap()
}

fn valid() -> String {
    hs256(&claims())
}

/// GET `uri` with these header fields, each appended (so a name may repeat), values taken as raw bytes.
fn request(uri: &str, fields: &[(&str, &[u8])]) -> Request<String> {
    let mut request = Request::get(uri).body(String::new()).unwrap();
    for (name, value) in fields {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    request
}

fn authorization(value: &str) -> Request<String> {
    request("/me", &[("authorization", value.as_bytes())])
}

fn cookies(fields: &[&str]) -> Request<String> {
    let fields: Vec<(&str, &[u8])> = fields.iter().map(|f| ("cookie", f.as_bytes())).collect();
    request("/me", &fields)
}

/// `token` cut into `n` nearly equal, non-empty pieces.
fn split(token: &str, n: usize) -> Vec<String> {
    let size = token.len().div_ceil(n);
    token
        .as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect()
}

/// The claims echoed by the inner service name the test user.
#[track_caller]
fn assert_authenticated(outcome: &Outcome) {
    outcome.assert_ok();
    let echoed: serde_json::Value = serde_json::from_str(&outcome.body).expect("claims echoed");
    assert_eq!(echoed["sub"], "user-1");
}

#[track_caller]
fn assert_several_methods(outcome: &Outcome) {
    outcome.assert_refused(400, Some("invalid_request"));
    assert!(
        outcome.body.contains("more than one method"),
        "body: {}",
        outcome.body
    );
    assert!(
        outcome.www_authenticate().contains("more than one method"),
        "{}",
        outcome.www_authenticate()
    );
}

// ---------------------------------------------------------------------------------------------------------
// Authorization: Bearer
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let layer = bearer_layer();
    let token = valid();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let outcome = run(&layer, authorization(&format!("{scheme} {token}"))).await;
        assert_authenticated(&outcome);
    }
}

#[tokio::test]
async fn bearer_accepts_several_spaces_and_surrounding_whitespace() {
    let layer = bearer_layer();
    let token = valid();
    for value in [
        format!("Bearer  {token}"),
        format!("Bearer     {token}"),
        format!(" Bearer {token}"),
        format!("Bearer {token}   "),
        format!("   Bearer   {token}   "),
        format!("\tBearer {token}\t"),
    ] {
        let outcome = run(&layer, authorization(&value)).await;
        assert_authenticated(&outcome);
    }
}

#[tokio::test]
async fn bearer_with_tab_separator_is_invalid_request() {
    let layer = bearer_layer();
    let token = valid();
    for value in [
        format!("Bearer\t{token}"),
        format!("Bearer \t{token}"),
        format!("Bearer\t {token}"),
    ] {
        run(&layer, authorization(&value))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn bearer_with_quoted_token_is_invalid_request() {
    let layer = bearer_layer();
    let token = valid();
    for value in [
        format!("Bearer \"{token}\""),
        format!("Bearer '{token}'"),
        format!("Bearer \"{token}"),
    ] {
        run(&layer, authorization(&value))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn bearer_with_a_second_credential_is_invalid_request() {
    let layer = bearer_layer();
    let token = valid();
    for value in [
        format!("Bearer {token}, Bearer {token}"),
        format!("Bearer {token},Bearer {token}"),
        format!("Bearer {token} {token}"),
        "Bearer a b".to_string(),
        format!("Bearer {token}, Basic dXNlcjpwYXNz"),
        format!("Bearer {token} realm=\"x\""),
    ] {
        run(&layer, authorization(&value))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn bearer_with_empty_token_is_invalid_request() {
    let layer = bearer_layer();
    for value in ["Bearer", "Bearer ", "Bearer   ", "bearer\t", "  Bearer  "] {
        run(&layer, authorization(value))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn another_scheme_is_a_missing_token() {
    let layer = bearer_layer();
    for value in [
        "Basic dXNlcjpwYXNz",
        "Digest username=\"a\"",
        "Token abc",
        "DPoP abc.def.ghi",
    ] {
        let outcome = run(&layer, authorization(value)).await;
        outcome.assert_refused(401, None);
        assert_eq!(outcome.www_authenticate(), r#"Bearer realm="api""#);
    }
}

#[tokio::test]
async fn two_authorization_fields_are_invalid_request() {
    let layer = bearer_layer();
    let token = valid();
    let value = format!("Bearer {token}");
    // Both valid and identical.
    run(
        &layer,
        request(
            "/me",
            &[
                ("authorization", value.as_bytes()),
                ("authorization", value.as_bytes()),
            ],
        ),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
    // A valid one and a Basic one.
    run(
        &layer,
        request(
            "/me",
            &[
                ("authorization", b"Basic dXNlcjpwYXNz"),
                ("authorization", value.as_bytes()),
            ],
        ),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
}

#[tokio::test]
async fn non_ascii_authorization_is_invalid_request() {
    let layer = bearer_layer();
    let token = valid();
    let mut with_obs_text = format!("Bearer {token}").into_bytes();
    with_obs_text.push(0xff);
    let mut inside = format!("Bearer {}", &token[..10]).into_bytes();
    inside.extend_from_slice("é".as_bytes());
    inside.extend_from_slice(&token.as_bytes()[10..]);
    for value in [
        b"Bearer \xc3\xa9".to_vec(),
        b"B\xc3\xa9arer abc.def.ghi".to_vec(),
        b"Bearer \x80\x81\x82".to_vec(),
        with_obs_text,
        inside,
    ] {
        let outcome = run(&layer, request("/me", &[("authorization", &value)])).await;
        outcome.assert_refused(400, Some("invalid_request"));
    }
    // Field values are checked by the http crate: these never reach the layer.
    assert!(HeaderValue::from_bytes(b"Bearer a\nb").is_err());
    assert!(HeaderValue::from_bytes(b"Bearer a\x7fb").is_err());
}

// ---------------------------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn cookie_plain() {
    let layer = cookie_layer("session");
    let outcome = run(&layer, cookies(&[&format!("session={}", valid())])).await;
    assert_authenticated(&outcome);
}

#[tokio::test]
async fn cookie_among_other_cookies() {
    let layer = cookie_layer("session");
    let token = valid();
    for field in [
        format!("theme=dark; session={token}; lang=en"),
        format!("a=1;session={token}"),
        format!("session={token}; sessionid=xyz; session_x=1; xsession=2"),
        format!("session.x=1; session={token}"),
    ] {
        assert_authenticated(&run(&layer, cookies(&[&field])).await);
    }
}

#[tokio::test]
async fn cookie_across_two_fields() {
    let layer = cookie_layer("session");
    let token = valid();
    let outcome = run(
        &layer,
        cookies(&["theme=dark; lang=en", &format!("a=b; session={token}")]),
    )
    .await;
    assert_authenticated(&outcome);
}

#[tokio::test]
async fn cookie_chunks_are_joined_in_order() {
    let layer = cookie_layer("session");
    let token = valid();
    let two = split(&token, 2);
    let three = split(&token, 3);
    assert_eq!(three.len(), 3);
    // In order, one field.
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!("session.0={}; session.1={}", two[0], two[1])]),
        )
        .await,
    );
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!(
                "session.0={}; session.1={}; session.2={}",
                three[0], three[1], three[2]
            )]),
        )
        .await,
    );
    // Shuffled, one field and several fields.
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!(
                "session.2={}; other=1; session.0={}; session.1={}",
                three[2], three[0], three[1]
            )]),
        )
        .await,
    );
    assert_authenticated(
        &run(
            &layer,
            cookies(&[
                &format!("session.1={}", three[1]),
                &format!("session.2={}", three[2]),
                &format!("session.0={}", three[0]),
            ]),
        )
        .await,
    );
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!("session.1={}; session.0={}", two[1], two[0])]),
        )
        .await,
    );
}

#[tokio::test]
async fn cookie_chunks_with_a_gap_join_only_the_prefix() {
    let layer = cookie_layer("session");
    let token = valid();
    let three = split(&token, 3);
    let outcome = run(
        &layer,
        cookies(&[&format!("session.0={}; session.2={}", three[0], three[2])]),
    )
    .await;
    outcome.assert_invalid_token();
    // Without chunk 0 nothing is joined at all: a missing token.
    let outcome = run(
        &layer,
        cookies(&[&format!("session.1={}; session.2={}", three[1], three[2])]),
    )
    .await;
    outcome.assert_refused(401, None);
}

#[tokio::test]
async fn cookie_unchunked_together_with_chunks_is_invalid_request() {
    // One of the two is stale or was planted (e.g. tossed from a sibling subdomain): choosing either
    // could pick the attacker's identity, so the request is refused.
    let layer = cookie_layer("session");
    let token = valid();
    let three = split(&token, 3);
    for field in [
        format!("session.0=garbage; session.1=more; session={token}"),
        format!("session={token}; session.0=garbage; session.1=more"),
        format!(
            "session={token}; session.0={}; session.1={}; session.2={}",
            three[0], three[1], three[2]
        ),
    ] {
        run(&layer, cookies(&[&field]))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn cookie_repeated_with_different_values_is_invalid_request() {
    let layer = cookie_layer("session");
    let token = valid();
    let other = hs256(&serde_json::json!({
        "sub": "user-2", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 60
    }));
    run(
        &layer,
        cookies(&[&format!("session={token}; session={other}")]),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
    run(
        &layer,
        cookies(&[&format!("session={token}"), &format!("session={other}")]),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
    // The same for a chunk.
    let two = split(&token, 2);
    run(
        &layer,
        cookies(&[&format!(
            "session.0={}; session.1={}; session.0=zzz",
            two[0], two[1]
        )]),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
}

#[tokio::test]
async fn cookie_repeated_with_the_same_value_is_accepted() {
    let layer = cookie_layer("session");
    let token = valid();
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!("session={token}; session={token}")]),
        )
        .await,
    );
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!("session={token}"), &format!("session={token}")]),
        )
        .await,
    );
}

#[tokio::test]
async fn cookie_empty_is_missing() {
    let layer = cookie_layer("session");
    for field in ["session=", "session=; theme=dark", "theme=dark"] {
        let outcome = run(&layer, cookies(&[field])).await;
        outcome.assert_refused(401, None);
        assert_eq!(outcome.www_authenticate(), r#"Bearer realm="api""#);
    }
}

#[tokio::test]
async fn cookie_better_auth_name_with_chunks() {
    let name = "better-auth.session_data";
    let layer = cookie_layer(name);
    let token = valid();
    assert_authenticated(&run(&layer, cookies(&[&format!("{name}={token}")])).await);
    let three = split(&token, 3);
    assert_authenticated(
        &run(
            &layer,
            cookies(&[&format!(
                "better-auth.session_token=abc; {name}.1={}; {name}.0={}; {name}.2={}",
                three[1], three[0], three[2]
            )]),
        )
        .await,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Custom header and query parameter
// ---------------------------------------------------------------------------------------------------------

fn header_layer() -> JwtAuthLayer<RegisteredClaims> {
    builder()
        .header(HeaderName::from_static(X_AUTH))
        .build()
        .unwrap()
}

#[tokio::test]
async fn custom_header_accepted() {
    let layer = header_layer();
    let token = valid();
    assert_authenticated(&run(&layer, request("/me", &[(X_AUTH, token.as_bytes())])).await);
    let padded = format!("  {token} ");
    assert_authenticated(&run(&layer, request("/me", &[(X_AUTH, padded.as_bytes())])).await);
}

#[tokio::test]
async fn custom_header_repeated_is_invalid_request() {
    let layer = header_layer();
    let token = valid();
    run(
        &layer,
        request(
            "/me",
            &[(X_AUTH, token.as_bytes()), (X_AUTH, token.as_bytes())],
        ),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
}

#[tokio::test]
async fn custom_header_empty_is_invalid_request() {
    let layer = header_layer();
    for value in [&b""[..], b"   ", b"\xff\xfe"] {
        run(&layer, request("/me", &[(X_AUTH, value)]))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
}

#[tokio::test]
async fn query_is_off_by_default() {
    let layer = bearer_layer();
    let token = valid();
    let outcome = run(&layer, request(&format!("/me?access_token={token}"), &[])).await;
    outcome.assert_refused(401, None);
    assert_eq!(outcome.www_authenticate(), r#"Bearer realm="api""#);
}

#[tokio::test]
async fn query_when_enabled() {
    let layer = builder().query("access_token").build().unwrap();
    let token = valid();
    for uri in [
        format!("/me?access_token={token}"),
        format!("/me?a=1&access_token={token}&b=2"),
    ] {
        assert_authenticated(&run(&layer, request(&uri, &[])).await);
    }
    // Another parameter name is not the token.
    run(&layer, request(&format!("/me?token={token}"), &[]))
        .await
        .assert_refused(401, None);
}

#[tokio::test]
async fn query_repeated_is_invalid_request() {
    let layer = builder().query("access_token").build().unwrap();
    let token = valid();
    run(
        &layer,
        request(
            &format!("/me?access_token={token}&access_token={token}"),
            &[],
        ),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
    run(&layer, request("/me?access_token=", &[]))
        .await
        .assert_refused(400, Some("invalid_request"));
}

// ---------------------------------------------------------------------------------------------------------
// Several sources
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn bearer_and_cookie_together_are_invalid_request() {
    let layer = cookie_layer("session");
    let token = valid();
    let bearer = format!("Bearer {token}");
    let cookie = format!("session={token}");
    let outcome = run(
        &layer,
        request(
            "/me",
            &[
                ("authorization", bearer.as_bytes()),
                ("cookie", cookie.as_bytes()),
            ],
        ),
    )
    .await;
    assert_several_methods(&outcome);
}

#[tokio::test]
async fn bearer_and_query_together_are_invalid_request() {
    let layer = builder().query("access_token").build().unwrap();
    let token = valid();
    let bearer = format!("Bearer {token}");
    let outcome = run(
        &layer,
        request(
            &format!("/me?access_token={token}"),
            &[("authorization", bearer.as_bytes())],
        ),
    )
    .await;
    assert_several_methods(&outcome);
}

#[tokio::test]
async fn cookie_and_header_together_are_invalid_request() {
    let layer = builder()
        .cookie("session")
        .header(HeaderName::from_static(X_AUTH))
        .build()
        .unwrap();
    let token = valid();
    let cookie = format!("session={token}");
    let outcome = run(
        &layer,
        request(
            "/me",
            &[("cookie", cookie.as_bytes()), (X_AUTH, token.as_bytes())],
        ),
    )
    .await;
    assert_several_methods(&outcome);
    // Each alone is fine.
    assert_authenticated(&run(&layer, request("/me", &[("cookie", cookie.as_bytes())])).await);
    assert_authenticated(&run(&layer, request("/me", &[(X_AUTH, token.as_bytes())])).await);
}

#[tokio::test]
async fn token_sources_replace_the_default() {
    let sources: Vec<Box<dyn TokenSource>> = vec![Box::new(CookieSource::new("session"))];
    let layer = builder().token_sources(sources).build().unwrap();
    let token = valid();
    // A bearer token is now ignored: missing.
    let outcome = run(&layer, bearer(&token)).await;
    outcome.assert_refused(401, None);
    // Even a malformed Authorization field is not looked at.
    run(&layer, authorization("Bearer"))
        .await
        .assert_refused(401, None);
    let cookie = format!("session={token}");
    assert_authenticated(&run(&layer, request("/me", &[("cookie", cookie.as_bytes())])).await);
    // Bearer + cookie is not "several methods": bearer is no method here.
    let bearer_field = format!("Bearer {token}");
    assert_authenticated(
        &run(
            &layer,
            request(
                "/me",
                &[
                    ("cookie", cookie.as_bytes()),
                    ("authorization", bearer_field.as_bytes()),
                ],
            ),
        )
        .await,
    );
    // No sources at all is a configuration error.
    let none = builder().token_sources(Vec::new()).build();
    assert!(none.is_err());
}

// ---------------------------------------------------------------------------------------------------------
// Optional mode
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn optional_without_token_reaches_inner_without_claims() {
    let layer = builder().optional().build().unwrap();
    let outcome = run(&layer, request("/me", &[])).await;
    outcome.assert_ok();
    assert_eq!(outcome.body, "", "no claims for an anonymous request");
    // Another scheme is no bearer token either.
    let outcome = run(&layer, authorization("Basic dXNlcjpwYXNz")).await;
    outcome.assert_ok();
    assert_eq!(outcome.body, "");
    // And a valid token still yields claims.
    assert_authenticated(&run(&layer, bearer(&valid())).await);
}

#[tokio::test]
async fn optional_with_invalid_token_is_still_refused() {
    let layer = builder().optional().build().unwrap();
    let expired = hs256(&serde_json::json!({
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": now() - 3600
    }));
    for token in [expired.as_str(), "abc.def.ghi", "not-a-jwt"] {
        run(&layer, bearer(token)).await.assert_invalid_token();
    }
}

#[tokio::test]
async fn optional_with_malformed_authorization_is_still_bad_request() {
    let layer = builder().optional().build().unwrap();
    let token = valid();
    for value in [
        "Bearer".to_string(),
        format!("Bearer\t{token}"),
        format!("Bearer {token}, Bearer {token}"),
    ] {
        run(&layer, authorization(&value))
            .await
            .assert_refused(400, Some("invalid_request"));
    }
    let value = format!("Bearer {token}");
    run(
        &layer,
        request(
            "/me",
            &[
                ("authorization", value.as_bytes()),
                ("authorization", value.as_bytes()),
            ],
        ),
    )
    .await
    .assert_refused(400, Some("invalid_request"));
}

#[test]
fn cookie_source_name() {
    assert_eq!(CookieSource::new("session").name(), "session");
}

#[tokio::test]
async fn cookie_empty_unchunked_falls_back_to_chunks() {
    let layer = cookie_layer("session");
    let token = valid();
    let two = split(&token, 2);
    let field = format!("session=; session.0={}; session.1={}", two[0], two[1]);
    assert_authenticated(&run(&layer, cookies(&[&field])).await);
}

#[tokio::test]
async fn cookie_value_in_double_quotes_is_unquoted() {
    let layer = cookie_layer("session");
    let field = format!("session=\"{}\"", valid());
    assert_authenticated(&run(&layer, cookies(&[&field])).await);
}
