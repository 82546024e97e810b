//! `examples/hyper_server.rs` is a product: build it, run it as a real process configured by its
//! environment, and talk HTTP/1.1 to it over TCP on 127.0.0.1.

mod common;
#[path = "support/example_process.rs"]
mod example_process;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use example_process::{Example, HttpResponse, Running, exchange};
use serde_json::{Value, json};

/// Read/write timeout of one HTTP exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn example() -> &'static Example {
    static EXAMPLE: OnceLock<Example> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        Example::build(
            "hyper_server",
            &["JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "LISTEN_ADDR"],
        )
    })
}

fn secret() -> &'static str {
    std::str::from_utf8(SECRET).unwrap()
}

fn start(env: &[(&str, &str)]) -> Running {
    example().start(env)
}

// ---------------------------------------------------------------------------------------------------------
// HTTP/1.1 over a raw TCP stream.

impl HttpResponse {
    /// 200 with the verified claims as JSON.
    #[track_caller]
    fn assert_claims(&self) -> Value {
        assert_eq!(self.status, 200, "{self:#?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:#?}"
        );
        self.json()
    }

    /// 401 with a bare challenge (no token was found) and the layer's JSON body.
    #[track_caller]
    fn assert_missing_token(&self) {
        assert_eq!(self.status, 401, "{self:#?}");
        assert_eq!(self.challenge(), r#"Bearer realm="api""#, "{self:#?}");
        assert_eq!(self.json()["error"], "unauthorized", "{self:#?}");
    }

    /// 401 `invalid_token` with this description.
    #[track_caller]
    fn assert_invalid_token(&self, description: &str) {
        assert_eq!(self.status, 401, "{self:#?}");
        assert_eq!(
            self.challenge(),
            format!(
                r#"Bearer realm="api", error="invalid_token", error_description="{description}""#
            ),
            "{self:#?}"
        );
        assert_eq!(
            self.json(),
            json!({"error": "invalid_token", "error_description": description})
        );
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    example_process::connect(addr, IO_TIMEOUT)
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    exchange(&mut connect(addr), method, path, &all)
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> HttpResponse {
    match token {
        Some(token) => request(
            addr,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
        ),
        None => request(addr, "GET", path, &[]),
    }
}

// ---------------------------------------------------------------------------------------------------------
// A working server.

#[test]
fn good_token_gets_its_claims() {
    let server = start(&[("JWT_SECRET", secret())]);
    let token = hs256(&user_claims());
    let claims = get(server.addr, "/me", Some(&token)).assert_claims();
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["exp"], user_claims()["exp"]);
    assert!(claims.get("aud").is_none(), "{claims}");
}

#[test]
fn missing_and_bad_tokens_get_401() {
    let server = start(&[("JWT_SECRET", secret())]);
    get(server.addr, "/me", None).assert_missing_token();
    get(server.addr, "/me", Some(&foreign_token()))
        .assert_invalid_token("the token signature is invalid");

    // The good token with its signature's first character changed.
    let good = hs256(&user_claims());
    let at = good.rfind('.').unwrap() + 1;
    let other = if good.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{other}{}", &good[..at], &good[at + 1..]);
    get(server.addr, "/me", Some(&tampered)).assert_invalid_token("the token signature is invalid");

    let expired = hs256(&patched(
        user_claims(),
        json!({"iat": now() - 7200, "exp": now() - 3600}),
    ));
    get(server.addr, "/me", Some(&expired)).assert_invalid_token("the token has expired");
    let garbage = get(server.addr, "/me", Some("not-a-jwt"));
    assert_eq!(garbage.status, 401, "{garbage:#?}");
    assert!(
        garbage.challenge().contains(r#"error="invalid_token""#),
        "{garbage:#?}"
    );

    // Without JWT_AUDIENCE, a token naming an audience is not for this server (RFC 7519 §4.1.3).
    let with_aud = get(server.addr, "/me", Some(&hs256(&claims())));
    assert_eq!(with_aud.status, 401, "{with_aud:#?}");
}

#[test]
fn health_needs_no_token_and_other_routes_do() {
    let server = start(&[("JWT_SECRET", secret())]);
    let token = hs256(&user_claims());
    for token in [None, Some(token.as_str()), Some("not-a-jwt")] {
        let health = get(server.addr, "/health", token);
        assert_eq!(health.status, 200, "{health:#?}");
        assert_eq!(health.body, "ok\n");
        assert!(health.header("www-authenticate").is_none());
    }
    // Behind the layer, unknown paths and methods are refused before routing when there is no token...
    get(server.addr, "/nope", None).assert_missing_token();
    request(server.addr, "POST", "/me", &[("Content-Length", "0")]).assert_missing_token();
    // ...and answered by the handler when there is one.
    let nope = get(server.addr, "/nope", Some(&token));
    assert_eq!(nope.status, 404, "{nope:#?}");
    let post = request(
        server.addr,
        "POST",
        "/me",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Length", "0"),
        ],
    );
    assert_eq!(post.status, 405, "{post:#?}");
    assert_eq!(post.header("allow"), Some("GET"));
}

#[test]
fn issuer_and_audience_are_enforced() {
    let server = start(&[
        ("JWT_SECRET", secret()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
    ]);
    let claims_back = get(server.addr, "/me", Some(&hs256(&claims()))).assert_claims();
    assert_eq!(claims_back["aud"], AUDIENCE);
    for (patch, what) in [
        (json!({"iss": "https://evil.example.com"}), "wrong iss"),
        (json!({"iss": null}), "no iss"),
        (json!({"aud": "https://other.example.com"}), "wrong aud"),
        (json!({"aud": null}), "no aud"),
    ] {
        let response = get(server.addr, "/me", Some(&hs256(&patched(claims(), patch))));
        assert_eq!(response.status, 401, "{what}: {response:#?}");
        assert!(
            response.challenge().contains(r#"error="invalid_token""#),
            "{what}: {response:#?}"
        );
    }
}

#[test]
fn logs_say_where_it_listens_and_which_key() {
    let server = start(&[("JWT_SECRET", secret()), ("JWT_ISSUER", ISSUER)]);
    let addr = server.addr;
    let (stdout, stderr) = server.output();
    let log = format!("{stdout}{stderr}");
    assert!(
        log.contains(&format!("listening on http://{addr}")),
        "{log}"
    );
    assert!(log.contains("JWT_SECRET"), "{log}");
    assert!(log.contains(ISSUER), "{log}");
    assert!(
        !log.contains(secret()),
        "the secret must never be logged: {log}"
    );
}

/// Ctrl-C: the server stops even with an idle keep-alive connection open, and exits successfully.
#[cfg(unix)]
#[test]
fn ctrl_c_shuts_down_gracefully() {
    let server = start(&[("JWT_SECRET", secret())]);
    let token = hs256(&user_claims());
    let mut kept = connect(server.addr);
    let first = exchange(
        &mut kept,
        "GET",
        "/me",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(first.status, 200, "{first:#?}");
    let stopped = server.interrupt(Duration::from_secs(5));
    let log = format!("{}{}", stopped.stdout, stopped.stderr);
    let status = stopped
        .status
        .unwrap_or_else(|| panic!("still running 5 s after SIGINT:\n{log}"));
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    // The idle connection was closed by the server, not left dangling.
    let mut rest = Vec::new();
    let closed = kept.read_to_end(&mut rest);
    assert!(
        matches!(closed, Ok(0)) || closed.is_err(),
        "{closed:?} {rest:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Misconfiguration: a non-zero exit, quickly, with one line on stderr.

#[test]
fn no_secret() {
    example()
        .start_fails(&[])
        .assert_one_line(&["JWT_SECRET", "32"]);
    example()
        .start_fails(&[("JWT_SECRET", " ")])
        .assert_one_line(&["JWT_SECRET"]);
}

#[test]
fn secret_too_short() {
    example()
        .start_fails(&[("JWT_SECRET", "31-bytes-of-secret-not-enough!!")])
        .assert_one_line(&["JWT_SECRET", "32", "31"]);
}

#[test]
fn bad_listen_addr() {
    example()
        .start_fails(&[("JWT_SECRET", secret()), ("LISTEN_ADDR", "not-an-address")])
        .assert_one_line(&["not-an-address"]);
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    example()
        .start_fails(&[("JWT_SECRET", secret()), ("LISTEN_ADDR", &addr)])
        .assert_one_line(&[&addr]);
    drop(busy);
}
