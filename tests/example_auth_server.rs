//! `examples/auth_server` is the crate's flagship example: build it, run it as a real process (a database in
//! a temporary directory, an ephemeral port on 127.0.0.1) and check every route, every refusal and every
//! configuration error over HTTP/1.1. Also: its OpenAPI document and its route table agree, and every
//! status a test sees is documented.
//!
//! Wrong `Content-Type` on a JSON endpoint is answered `400 invalid_request` (as the issue lists it with the
//! other malformed bodies), not 415.

mod common;
#[path = "support/example_process.rs"]
mod example_process;
#[path = "../examples/auth_server/routes.rs"]
mod routes;
#[allow(dead_code)]
#[path = "../examples/auth_server/time.rs"]
mod time;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use example_process::ChildGuard;
use example_process::auth_server::{
    self as process, AuthServer, HttpResponse, SECRET, TempDir, start_fails,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const SIGNUP: &str = "/api/auth/signup";
const SIGNIN: &str = "/api/auth/signin";
const ME: &str = "/api/auth/me";
const SIGNOUT: &str = "/api/auth/signout";
const VERIFY: &str = "/api/auth/verify";

/// Seven days: the token lifetime and the cookie's Max-Age.
const WEEK: u64 = 7 * 24 * 3600;

const PASSWORD: &str = "correct horse battery";

// ---------------------------------------------------------------------------------------------------------
// Helpers

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON claims")
}

/// An HS256 token with these claims under `secret`.
fn sign(claims: &Value, secret: &[u8]) -> String {
    common::sign_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims.to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(secret),
    )
}

fn signup(server: &AuthServer, email: &str, password: &str, name: &str) -> HttpResponse {
    server.post_json(
        SIGNUP,
        &json!({"email": email, "password": password, "name": name}),
        &[],
    )
}

fn signin(server: &AuthServer, email: &str, password: &str) -> HttpResponse {
    server.post_json(SIGNIN, &json!({"email": email, "password": password}), &[])
}

/// Signs up and in; returns the token.
fn session(server: &AuthServer, email: &str) -> String {
    signup(server, email, PASSWORD, "Ada").expect_json(201);
    signin(server, email, PASSWORD).expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn cookie(token: &str) -> String {
    format!("auth_token={token}")
}

/// The exact 400 body for invalid fields.
#[track_caller]
fn assert_fields(response: &HttpResponse, fields: Value) {
    assert_eq!(
        response.expect_json(400),
        json!({"error": "invalid_request", "error_description": "some fields are invalid", "fields": fields}),
    );
}

/// The exact 400 body for a body that is not a JSON object sent as JSON.
#[track_caller]
fn assert_bad_body(response: &HttpResponse, description: &str) {
    assert_eq!(
        response.expect_json(400),
        json!({"error": "invalid_request", "error_description": description, "fields": {}}),
    );
}

#[track_caller]
fn assert_cross_site(response: &HttpResponse) {
    assert_eq!(
        response.expect_json(403),
        json!({"error": "cross_site_request", "error_description": "cross-site request refused: a cookie credential needs a same-origin request"}),
    );
    assert_eq!(response.header("set-cookie"), None, "{response:#?}");
}

#[track_caller]
fn assert_no_token(response: &HttpResponse) {
    assert_eq!(response.status, 401, "{response:#?}");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

#[track_caller]
fn assert_invalid_token(response: &HttpResponse) {
    assert_eq!(response.status, 401, "{response:#?}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{response:#?}"
    );
}

/// The user JSON the API shows.
#[track_caller]
fn assert_user(user: &Value, email: &str, name: &str) -> String {
    let object = user.as_object().expect("an object");
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["id", "email", "name", "createdAt"]),
        "{user}"
    );
    assert_eq!(user["email"], email);
    assert_eq!(user["name"], name);
    let id = user["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    // Created just now (to the second, in RFC 3339).
    let now = common::now();
    let created = user["createdAt"].as_str().unwrap();
    assert!(
        (now.saturating_sub(60)..=now)
            .map(time::rfc3339)
            .any(|t| t == created),
        "createdAt {created} is not within the last minute"
    );
    id.to_owned()
}

// ---------------------------------------------------------------------------------------------------------
// The OpenAPI document

fn openapi() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/auth_server/openapi.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("openapi.json is JSON")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Every status the server answered on a documented route is documented for it.
#[track_caller]
fn assert_documented(server: &AuthServer) {
    let doc = openapi();
    let exchanges = server.exchanges.lock().unwrap();
    assert!(!exchanges.is_empty());
    for (method, path, status) in exchanges.iter() {
        let operation = &doc["paths"][path][method.to_lowercase()];
        if operation.is_null() {
            continue;
        }
        assert!(
            operation["responses"][status.to_string()].is_object(),
            "{method} {path} answered {status}, which openapi.json does not document"
        );
    }
}

fn assert_refs_resolve(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("a local $ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
            }
            map.values().for_each(|v| assert_refs_resolve(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(doc, v)),
        _ => {}
    }
}

#[test]
fn openapi_document_and_routes_agree() {
    let doc = openapi();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_refs_resolve(&doc, &doc);
    let table: BTreeSet<(String, String)> = routes::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(table.len(), routes::ROUTES.len(), "a route listed twice");
    assert_eq!(documented_routes(&doc), table);

    // The running server answers exactly those: each documented route exists (never 404/405), another
    // method on a documented path is 405, an undocumented path is 404. (The server itself refuses to
    // start if what it registers differs from routes::ROUTES.)
    let server = AuthServer::start(&[]);
    for (method, path) in routes::ROUTES {
        let response = server.request(method, path, &[], None);
        assert!(
            ![404, 405].contains(&response.status),
            "{method} {path}: {response:#?}"
        );
        for other in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if routes::ROUTES.contains(&(other, path)) {
                continue;
            }
            let response = server.request(other, path, &[], None);
            assert_eq!(response.status, 405, "{other} {path}: {response:#?}");
        }
    }
    for path in [
        "/api/auth",
        "/api/auth/",
        "/api/auth/session",
        "/api/auth/me/",
        "/index.html",
        "/openapi.json",
    ] {
        assert_eq!(server.get(path, &[]).status, 404, "{path}");
    }
    assert_documented(&server);
}

// ---------------------------------------------------------------------------------------------------------
// The flow

#[test]
fn signup_signin_me_signout() {
    let server = AuthServer::start(&[]);
    let origin = server.origin();

    // Sign up: 201 and the user; the email is trimmed and lowercased.
    let created = signup(
        &server,
        "  Ada.Lovelace@Example.COM ",
        PASSWORD,
        " Ada Lovelace ",
    );
    let user = created.expect_json(201);
    let id = assert_user(&user, "ada.lovelace@example.com", "Ada Lovelace");

    // Sign in: 200 {token, user, expiresAt}, the cookie, no caching.
    let response = signin(&server, "ADA.lovelace@example.com", PASSWORD);
    let body = response.expect_json(200);
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["token", "user", "expiresAt"]));
    assert_eq!(body["user"], user);
    let token = body["token"].as_str().unwrap().to_owned();
    let claims = payload(&token);
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["iss"], origin.as_str());
    assert_eq!(claims["aud"], origin.as_str());
    assert_eq!(claims["email"], "ada.lovelace@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, WEEK);
    assert!(iat.abs_diff(common::now()) < 60);
    assert_eq!(body["expiresAt"], time::rfc3339(exp));
    assert_eq!(
        response.headers_named("set-cookie"),
        [format!(
            "auth_token={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age=604800"
        )]
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));

    // Who am I: the cookie, or a Bearer header.
    let me = server.get(
        ME,
        &[("Cookie", &format!("theme=dark; {}", cookie(&token)))],
    );
    assert_eq!(me.expect_json(200), user);
    let me = server.get(ME, &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(me.expect_json(200), user);
    // Nothing, garbage, another cookie name, both at once.
    assert_no_token(&server.get(ME, &[]));
    assert_no_token(&server.get(ME, &[("Cookie", &format!("session={token}"))]));
    assert_invalid_token(&server.get(ME, &[("Authorization", "Bearer abc.def.ghi")]));
    assert_invalid_token(&server.get(ME, &[("Cookie", "auth_token=abc.def.ghi")]));
    let both = server.get(
        ME,
        &[
            ("Cookie", &cookie(&token)),
            ("Authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(both.expect_json(400)["error"], "invalid_request");

    // Sign out with the cookie: only from this origin.
    let with_cookie = |headers: &[(&str, &str)]| {
        let cookie = cookie(&token);
        let mut all = vec![("Cookie", cookie.as_str())];
        all.extend_from_slice(headers);
        server.request("POST", SIGNOUT, &all, None)
    };
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    assert_cross_site(&with_cookie(&[])); // no Origin, no Sec-Fetch-Site (curl)
    assert_cross_site(&with_cookie(&[("Origin", "https://evil.example")]));
    assert_cross_site(&with_cookie(&[("Origin", &other_port)])); // same site, another origin
    assert_cross_site(&with_cookie(&[("Origin", "null")]));
    assert_cross_site(&with_cookie(&[("Sec-Fetch-Site", "cross-site")]));
    assert_cross_site(&with_cookie(&[
        ("Sec-Fetch-Site", "same-site"),
        ("Origin", &other_port),
    ]));
    // The browser's word wins over a matching Origin.
    assert_cross_site(&with_cookie(&[
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", &origin),
    ]));
    // The refusals changed nothing: the cookie still works.
    assert_eq!(
        server
            .get(ME, &[("Cookie", &cookie(&token))])
            .expect_json(200),
        user
    );

    let cleared = "auth_token=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0";
    for same_origin in [
        &[("Origin", origin.as_str())][..],
        &[("Sec-Fetch-Site", "same-origin")],
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", origin.as_str()),
        ],
    ] {
        let out = with_cookie(same_origin);
        assert_eq!(out.status, 204, "{same_origin:?}: {out:#?}");
        assert_eq!(out.body, "");
        assert_eq!(out.headers_named("set-cookie"), [cleared]);
        assert_eq!(out.header("cache-control"), Some("no-store"));
    }
    // Bearer requests are not subject to the check: no browser adds the header by itself.
    let bearer = format!("Bearer {token}");
    for headers in [
        &[("Authorization", bearer.as_str())][..],
        &[
            ("Authorization", bearer.as_str()),
            ("Origin", "https://evil.example"),
        ],
        &[
            ("Authorization", bearer.as_str()),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ] {
        let out = server.request("POST", SIGNOUT, headers, None);
        assert_eq!(out.status, 204, "{headers:?}: {out:#?}");
        assert_eq!(out.headers_named("set-cookie"), [cleared]);
    }
    // Not signed in at all: 401 (before any CSRF question arises).
    assert_no_token(&server.request("POST", SIGNOUT, &[("Origin", &origin)], None));
    assert_no_token(&server.request("POST", SIGNOUT, &[("Cookie", "auth_token=")], None));

    // A cleared cookie is no session...
    assert_no_token(&server.get(ME, &[("Cookie", "auth_token=")]));
    // ...but the token itself is stateless: it stays valid until it expires (documented).
    assert_eq!(
        server
            .get(ME, &[("Authorization", &bearer)])
            .expect_json(200),
        user
    );

    assert_documented(&server);
    // Passwords and tokens never reach the logs.
    let (stdout, stderr) = server.finish();
    for secret in [PASSWORD, &token, SECRET] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret:?} logged:\n{stdout}\n{stderr}"
        );
    }
    assert!(stdout.contains("POST /api/auth/signout -> 403"), "{stdout}");
    assert!(stdout.contains("POST /api/auth/signout -> 204"), "{stdout}");
}

#[test]
fn signup_validation() {
    let server = AuthServer::start(&[]);
    let valid = json!({"email": "grace@example.com", "password": PASSWORD, "name": "Grace"});
    let with = |patch: Value| {
        let mut body = valid.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        server.post_json(SIGNUP, &body, &[])
    };
    let not_an_address = "must be an email address like name@example.com";
    for email in [
        "",
        "   ",
        "grace",
        "grace@",
        "@example.com",
        "grace@example",
        "grace@@example.com",
        "gr@ce@example.com",
        "grace @example.com",
        "grace@exa mple.com",
        "grace@.example.com",
        "grace@example..com",
        "grace@-example.com",
        "grace@example.com.",
        "<grace>@example.com",
        "grace\n@example.com",
    ] {
        assert_fields(
            &with(json!({"email": email})),
            json!({"email": not_an_address}),
        );
    }
    let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(186)); // 255 characters
    assert_eq!(long.len(), 255);
    assert_fields(
        &with(json!({"email": long})),
        json!({"email": "must be at most 254 characters"}),
    );

    assert_fields(
        &with(json!({"password": "7 chars"})),
        json!({"password": "must be at least 8 characters"}),
    );
    assert_fields(
        &with(json!({"password": ""})),
        json!({"password": "must be at least 8 characters"}),
    );
    assert_fields(
        &with(json!({"password": "x".repeat(129)})),
        json!({"password": "must be at most 128 characters"}),
    );
    // Characters, not bytes: 7 two-byte characters are too short, 128 of them are fine.
    assert_fields(
        &with(json!({"password": "é".repeat(7)})),
        json!({"password": "must be at least 8 characters"}),
    );

    assert_fields(
        &with(json!({"name": "  "})),
        json!({"name": "must not be empty"}),
    );
    assert_fields(
        &with(json!({"name": "n".repeat(101)})),
        json!({"name": "must be at most 100 characters"}),
    );
    assert_fields(
        &with(json!({"name": "a\u{7}b"})),
        json!({"name": "must not contain control characters"}),
    );

    // Missing fields, nulls, wrong types: every field at once.
    assert_fields(
        &server.post_json(SIGNUP, &json!({}), &[]),
        json!({"email": "required", "password": "required", "name": "required"}),
    );
    assert_fields(
        &server.post_json(
            SIGNUP,
            &json!({"email": null, "password": 12345678, "name": ["Grace"]}),
            &[],
        ),
        json!({"email": "required", "password": "must be a string", "name": "must be a string"}),
    );
    assert_fields(
        &with(json!({"email": "nope", "password": "short"})),
        json!({"email": not_an_address, "password": "must be at least 8 characters"}),
    );

    // The body as a whole.
    let raw = |content_type: Option<&str>, body: &str| {
        let mut headers = Vec::new();
        if let Some(t) = content_type {
            headers.push(("Content-Type", t));
        }
        server.request("POST", SIGNUP, &headers, Some(body.as_bytes()))
    };
    let json_text = valid.to_string();
    let wrong_type = "the body must be JSON, sent with Content-Type: application/json";
    assert_bad_body(&raw(None, &json_text), wrong_type);
    assert_bad_body(&raw(Some("text/plain"), &json_text), wrong_type);
    assert_bad_body(
        &raw(
            Some("application/x-www-form-urlencoded"),
            "email=a%40b.c&password=12345678&name=x",
        ),
        wrong_type,
    );
    assert_bad_body(
        &raw(Some("multipart/form-data; boundary=x"), &json_text),
        wrong_type,
    );
    assert_bad_body(
        &raw(Some("application/json"), "{\"email\": "),
        "the body is not valid JSON",
    );
    assert_bad_body(
        &raw(Some("application/json"), ""),
        "the body is not valid JSON",
    );
    assert_bad_body(
        &raw(Some("application/json"), "[1, 2]"),
        "the body must be a JSON object",
    );
    assert_bad_body(
        &raw(Some("application/json"), "\"grace@example.com\""),
        "the body must be a JSON object",
    );
    // Too large for a sign-up form.
    let huge =
        json!({"email": "grace@example.com", "password": PASSWORD, "name": "x".repeat(20_000)});
    assert_eq!(server.post_json(SIGNUP, &huge, &[]).status, 413);

    // Nothing above created an account; these do: the bounds are inclusive, parameters are accepted.
    assert_eq!(
        raw(Some("Application/JSON; charset=utf-8"), &json_text).expect_json(201)["email"],
        "grace@example.com"
    );
    with(json!({"email": "p8@example.com", "password": "12345678"})).expect_json(201);
    with(json!({"email": "p128@example.com", "password": "é".repeat(128)})).expect_json(201);
    with(json!({"email": "n100@example.com", "name": "n".repeat(100)})).expect_json(201);
    with(json!({"email": "o'neil+tag@sub.example.co.uk"})).expect_json(201);

    // The same address again, whatever its case or spacing: 409.
    for email in ["grace@example.com", " GRACE@example.com"] {
        let conflict = with(json!({"email": email}));
        assert_eq!(
            conflict.expect_json(409),
            json!({"error": "email_taken", "error_description": "an account with this email already exists"})
        );
    }
    // The first password still signs in: the 409 changed nothing.
    signin(&server, "grace@example.com", PASSWORD).expect_json(200);
    assert_documented(&server);
}

#[test]
fn signin_refusals_look_alike() {
    let server = AuthServer::start(&[]);
    signup(&server, "alan@example.com", PASSWORD, "Alan").expect_json(201);

    let wrong_password = signin(&server, "alan@example.com", "not the password");
    let unknown_email = signin(&server, "nobody@example.com", PASSWORD);
    let expected =
        json!({"error": "invalid_credentials", "error_description": "wrong email or password"});
    for response in [&wrong_password, &unknown_email] {
        assert_eq!(response.expect_json(401), expected);
        assert_eq!(response.header("set-cookie"), None);
    }
    // Byte for byte the same, headers too (but the date).
    assert_eq!(wrong_password.body, unknown_email.body);
    let without_date = |r: &HttpResponse| {
        r.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(without_date(&wrong_password), without_date(&unknown_email));
    // The password is case-sensitive; an empty one is just wrong.
    assert_eq!(
        signin(&server, "alan@example.com", &PASSWORD.to_uppercase()).expect_json(401),
        expected
    );
    assert_eq!(
        signin(&server, "alan@example.com", "").expect_json(401),
        expected
    );

    // An unknown email costs a password verification too (against a dummy hash), so the time does not
    // tell which one was wrong. Not a performance figure: a lookup alone would take about 1 % of the
    // time; the bound is loose enough for a busy machine.
    let median = |email: &str, password: &str| {
        let mut times: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(signin(&server, email, password).status, 401);
                started.elapsed()
            })
            .collect();
        times.sort();
        times[1]
    };
    let wrong = median("alan@example.com", "not the password");
    let unknown = median("nobody@example.com", "not the password");
    assert!(
        unknown * 10 >= wrong * 3,
        "an unknown email took {unknown:?}, a wrong password {wrong:?}"
    );

    // Malformed requests are 400, not 401.
    assert_fields(
        &server.post_json(SIGNIN, &json!({"email": "alan@example.com"}), &[]),
        json!({"password": "required"}),
    );
    assert_fields(
        &server.post_json(SIGNIN, &json!({"email": 1, "password": true}), &[]),
        json!({"email": "must be a string", "password": "must be a string"}),
    );
    let form = server.request(
        "POST",
        SIGNIN,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"email=alan%40example.com&password=correct+horse+battery"),
    );
    assert_bad_body(
        &form,
        "the body must be JSON, sent with Content-Type: application/json",
    );
    assert_bad_body(
        &server.request(
            "POST",
            SIGNIN,
            &[("Content-Type", "application/json")],
            Some(b"{"),
        ),
        "the body is not valid JSON",
    );
    // The right password, with the email in another case and spaces.
    signin(&server, " ALAN@example.com ", PASSWORD).expect_json(200);
    assert_documented(&server);
}

#[test]
fn verify_endpoint() {
    let server = AuthServer::start(&[]);
    let origin = server.origin();
    let token = session(&server, "kat@example.com");
    let check = |token: &str| {
        server
            .post_json(VERIFY, &json!({"token": token}), &[])
            .expect_json(200)
    };

    let valid = check(&token);
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["claims"], payload(&token));
    assert_eq!(valid.as_object().unwrap().len(), 2, "{valid}");

    let invalid = |token: &str, why: &str| {
        assert_eq!(
            check(token),
            json!({"valid": false, "claims": null, "error": why}),
            "{token}"
        );
    };
    let now = common::now();
    let good =
        json!({"sub": "someone", "iss": origin, "aud": origin, "iat": now, "exp": now + 600});
    let with = |patch: Value| common::patched(good.clone(), patch);
    // Sanity: the hand-made token passes, so each refusal below is for its one change.
    assert_eq!(check(&sign(&good, SECRET.as_bytes()))["valid"], true);
    invalid(
        &sign(
            &with(json!({"exp": now - 3600, "iat": now - 7200})),
            SECRET.as_bytes(),
        ),
        "the token has expired",
    );
    invalid(
        &sign(&good, b"another-secret-of-32-bytes-long!"),
        "the token signature is invalid",
    );
    invalid(
        &sign(
            &with(json!({"aud": "https://elsewhere.example.com"})),
            SECRET.as_bytes(),
        ),
        "the token audience is not accepted",
    );
    invalid(
        &sign(
            &with(json!({"iss": "https://elsewhere.example.com"})),
            SECRET.as_bytes(),
        ),
        "the token issuer is not accepted",
    );
    invalid(
        &sign(&with(json!({"aud": null})), SECRET.as_bytes()),
        "the token lacks a required claim",
    );
    let mut tampered = token.clone();
    tampered.push('A');
    assert_eq!(check(&tampered)["valid"], false);
    for malformed in ["", "not a token", "line\nbreak", "a.b", "\u{e9}.b.c"] {
        invalid(malformed, "the token is malformed");
    }

    assert_fields(
        &server.post_json(VERIFY, &json!({}), &[]),
        json!({"token": "required"}),
    );
    assert_fields(
        &server.post_json(VERIFY, &json!({"token": 7}), &[]),
        json!({"token": "must be a string"}),
    );
    assert_bad_body(
        &server.request(
            "POST",
            VERIFY,
            &[("Content-Type", "text/plain")],
            Some(token.as_bytes()),
        ),
        "the body must be JSON, sent with Content-Type: application/json",
    );
    // /verify reads the body only: a cookie or a header of the caller is not what it checks.
    let response = server.post_json(
        VERIFY,
        &json!({"token": "x"}),
        &[
            ("Cookie", &cookie(&token)),
            ("Authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(response.expect_json(200)["valid"], false);
    assert_documented(&server);
}

#[test]
fn me_for_a_user_that_does_not_exist() {
    let server = AuthServer::start(&[]);
    let origin = server.origin();
    let now = common::now();
    // Signed with the server's secret, for a user id nobody has.
    let token = sign(
        &json!({"sub": "0123456789abcdef0123456789abcdef", "iss": origin, "aud": origin, "iat": now, "exp": now + 600}),
        SECRET.as_bytes(),
    );
    let response = server.get(ME, &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(
        response.expect_json(401),
        json!({"error": "invalid_token", "error_description": "the user no longer exists"})
    );
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"api\", error=\"invalid_token\"")
    );
    // A token for another audience never reaches the handler.
    let other = sign(
        &json!({"sub": "x", "iss": origin, "aud": "https://elsewhere.example.com", "iat": now, "exp": now + 600}),
        SECRET.as_bytes(),
    );
    assert_invalid_token(&server.get(ME, &[("Authorization", &format!("Bearer {other}"))]));
    assert_documented(&server);
}

#[test]
fn page_at_root() {
    let server = AuthServer::start(&[]);
    let page = server.get("/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    for needle in [
        "id=\"signup\"",
        "id=\"signin\"",
        "id=\"me\"",
        "id=\"signout\"",
        "/api/auth/signup",
        "/api/auth/signin",
        "/api/auth/me",
        "/api/auth/signout",
        "fetch(",
    ] {
        assert!(page.body.contains(needle), "the page lacks {needle}");
    }
    // It never keeps the token where scripts could find it again.
    for forbidden in ["localStorage", "sessionStorage", "document.cookie"] {
        assert!(!page.body.contains(forbidden), "the page uses {forbidden}");
    }
    assert_documented(&server);
}

// ---------------------------------------------------------------------------------------------------------
// Configuration

#[test]
fn https_public_url_makes_the_cookie_secure() {
    let server = AuthServer::start(&[("PUBLIC_URL", "https://Auth.Example.com/")]);
    signup(&server, "lin@example.com", PASSWORD, "Lin").expect_json(201);
    let response = signin(&server, "lin@example.com", PASSWORD);
    let token = response.expect_json(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers_named("set-cookie"),
        [format!(
            "__Host-auth_token={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age=604800; Secure"
        )]
    );
    let claims = payload(&token);
    assert_eq!(claims["iss"], "https://auth.example.com");
    assert_eq!(claims["aud"], "https://auth.example.com");
    let cookie = format!("__Host-auth_token={token}");
    assert_eq!(
        server.get(ME, &[("Cookie", &cookie)]).expect_json(200)["email"],
        "lin@example.com"
    );
    // The public origin may POST even though the Host header (behind a proxy) is another.
    let out = server.request(
        "POST",
        SIGNOUT,
        &[("Cookie", &cookie), ("Origin", "https://auth.example.com")],
        None,
    );
    assert_eq!(out.status, 204, "{out:#?}");
    assert_eq!(
        out.headers_named("set-cookie"),
        ["__Host-auth_token=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure"]
    );
    assert_cross_site(&server.request(
        "POST",
        SIGNOUT,
        &[("Cookie", &cookie), ("Origin", "http://auth.example.com")],
        None,
    ));
    // The plain name is not this server's cookie.
    assert_no_token(&server.get(ME, &[("Cookie", &format!("auth_token={token}"))]));
}

#[test]
fn csrf_allowed_origins() {
    let server = AuthServer::start(&[(
        "CSRF_ALLOWED_ORIGINS",
        "http://localhost:5173, https://app.example.com",
    )]);
    let token = session(&server, "ida@example.com");
    let signout = |origin: &str| {
        server.request(
            "POST",
            SIGNOUT,
            &[("Cookie", &cookie(&token)), ("Origin", origin)],
            None,
        )
    };
    assert_eq!(signout("http://localhost:5173").status, 204);
    assert_eq!(signout("https://app.example.com").status, 204);
    assert_cross_site(&signout("http://localhost:5174"));
    assert_cross_site(&signout("https://evil.example.com"));
}

#[test]
fn users_persist_across_restarts() {
    let dir = TempDir::new("auth-server-persist");
    let url = dir.database_url("persist.db");
    let first = AuthServer::start(&[("DATABASE_URL", &url)]);
    let user = signup(&first, "joan@example.com", PASSWORD, "Joan").expect_json(201);
    assert!(first.stdout().contains(&format!(
        "users database: {}",
        dir.path().join("persist.db").display()
    )));
    drop(first);
    assert!(dir.path().join("persist.db").is_file());

    let second = AuthServer::start(&[("DATABASE_URL", &url)]);
    assert_eq!(
        signin(&second, "joan@example.com", PASSWORD).expect_json(200)["user"],
        user
    );
    assert_eq!(
        signup(&second, "joan@example.com", PASSWORD, "Joan").status,
        409
    );

    // In memory: nothing survives, nothing is written.
    let memory = AuthServer::start(&[("DATABASE_URL", "sqlite::memory:")]);
    assert_eq!(signin(&memory, "joan@example.com", PASSWORD).status, 401);
    signup(&memory, "joan@example.com", PASSWORD, "Joan").expect_json(201);
    assert!(memory.stdout().contains("in-memory"));
}

#[test]
fn default_database_is_a_file_in_the_working_directory() {
    // No DATABASE_URL: ./auth_server.db (the harness runs the example in a fresh directory).
    let dir = TempDir::new("auth-server-default-db");
    let mut process = ChildGuard::spawn(&mut process::example_command(
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("LISTEN_ADDR", "127.0.0.1:0"),
        ],
        &[],
        dir.path(),
    ));
    let deadline = Instant::now() + process::START_TIMEOUT;
    while !process.stdout().contains("listening on") {
        assert!(process.exited().is_none(), "exited: {}", process.stderr());
        assert!(
            Instant::now() < deadline,
            "not listening: {}",
            process.stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.path().join("auth_server.db").is_file());
    let (stdout, _) = process.finish();
    assert!(stdout.contains("auth_server.db"), "{stdout}");
}

#[test]
fn refuses_to_start_without_a_good_secret() {
    start_fails(&[], &[]).assert_one_line(&["BETTER_AUTH_SECRET", "32", "--dev"]);
    start_fails(&[("BETTER_AUTH_SECRET", "  ")], &[])
        .assert_one_line(&["BETTER_AUTH_SECRET is not set"]);
    let short = "x".repeat(31);
    start_fails(&[("BETTER_AUTH_SECRET", &short)], &[]).assert_one_line(&[
        "BETTER_AUTH_SECRET",
        "31 bytes",
        "32",
    ]);
    // --dev does not excuse a short secret that was given.
    start_fails(&[("BETTER_AUTH_SECRET", &short)], &["--dev"])
        .assert_one_line(&["BETTER_AUTH_SECRET", "31 bytes"]);
    // 32 bytes is enough.
    let server = AuthServer::start(&[("BETTER_AUTH_SECRET", &"y".repeat(32))]);
    assert!(
        server
            .stdout()
            .contains("signing tokens with BETTER_AUTH_SECRET")
    );
}

#[test]
fn dev_flag_generates_a_secret_and_says_so() {
    // The same public origin for both runs, so that their tokens differ only by the secret.
    let public = ("PUBLIC_URL", "http://dev.example.com");
    let first = AuthServer::start_with(&[public], &["--dev"]);
    assert!(
        first.stderr().contains("DEVELOPMENT MODE"),
        "{}",
        first.stderr()
    );
    assert!(
        first.stdout().contains("GENERATED by --dev"),
        "{}",
        first.stdout()
    );
    let token = session(&first, "dev@example.com");
    let verify = |server: &AuthServer, token: &str| {
        server
            .post_json(VERIFY, &json!({"token": token}), &[])
            .expect_json(200)
    };
    assert_eq!(verify(&first, &token)["valid"], true);
    // Not the test's secret, nor any fixed one.
    assert_eq!(
        verify(&first, &sign(&payload(&token), SECRET.as_bytes()))["error"],
        "the token signature is invalid"
    );

    // Another run, another secret: the first run's token is refused for its signature alone.
    let second = AuthServer::start_with(&[public], &["--dev"]);
    assert_eq!(
        verify(&second, &token),
        json!({"valid": false, "claims": null, "error": "the token signature is invalid"})
    );
    let second_token = session(&second, "dev@example.com");
    assert_eq!(verify(&second, &second_token)["valid"], true);
    assert_eq!(verify(&first, &second_token)["valid"], false);

    // An explicit secret wins over --dev: no banner.
    let explicit = AuthServer::start_with(&[("BETTER_AUTH_SECRET", SECRET)], &["--dev"]);
    assert!(
        !explicit.stderr().contains("DEVELOPMENT MODE"),
        "{}",
        explicit.stderr()
    );
    assert!(
        explicit
            .stdout()
            .contains("signing tokens with BETTER_AUTH_SECRET")
    );
}

#[test]
fn bad_settings_are_one_line_errors() {
    let secret = ("BETTER_AUTH_SECRET", SECRET);
    for (url, words) in [
        (
            "postgres://localhost/users",
            &["DATABASE_URL", "only SQLite"][..],
        ),
        ("users.db", &["DATABASE_URL"]),
        ("sqlite://", &["DATABASE_URL", "no file name"]),
        ("sqlite://users.db?mode=ro", &["DATABASE_URL", "query"]),
        (
            "sqlite:///nonexistent-dir-for-auth-server/users.db",
            &["DATABASE_URL", "cannot open"],
        ),
    ] {
        start_fails(&[secret, ("DATABASE_URL", url)], &[]).assert_one_line(words);
    }
    start_fails(&[secret, ("LISTEN_ADDR", "not-an-address")], &[])
        .assert_one_line(&["LISTEN_ADDR", "not-an-address"]);
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = TempDir::new("auth-server-busy");
    let url = dir.database_url("u.db");
    start_fails(
        &[secret, ("LISTEN_ADDR", &addr), ("DATABASE_URL", &url)],
        &[],
    )
    .assert_one_line(&["LISTEN_ADDR", &addr]);
    drop(busy);
    for bad in [
        "auth.example.com",
        "ftp://auth.example.com",
        "https://auth.example.com/path",
        "https://",
    ] {
        start_fails(&[secret, ("PUBLIC_URL", bad)], &[]).assert_one_line(&["PUBLIC_URL", bad]);
    }
    start_fails(
        &[
            secret,
            (
                "CSRF_ALLOWED_ORIGINS",
                "http://ok.example.com,not an origin",
            ),
        ],
        &[],
    )
    .assert_one_line(&["CSRF_ALLOWED_ORIGINS", "not an origin"]);
    start_fails(&[secret], &["--verbose"]).assert_one_line(&["--verbose", "--dev"]);
}

#[test]
fn rfc3339_dates() {
    // The example's date formatting (used for createdAt and expiresAt), against known instants.
    assert_eq!(time::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(time::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(time::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(time::rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}
