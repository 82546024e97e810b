//! `examples/tonic_server.rs` is a product: build it, run it as a real process configured by its
//! environment, and call its gRPC service with a tonic client over HTTP/2 on 127.0.0.1.

mod common;
#[path = "support/example_process.rs"]
mod example_process;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use example_process::{Example, Running};
use http::uri::PathAndQuery;
use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

/// Connect and call timeout of every gRPC call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

fn example() -> &'static Example {
    static EXAMPLE: OnceLock<Example> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        Example::build(
            "tonic_server",
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
// The client side of `whoami.v1.WhoAmI`, from the `.proto` in the example's documentation.

#[derive(Clone, PartialEq, prost::Message)]
struct GetRequest {}

#[derive(Clone, PartialEq, prost::Message)]
struct GetResponse {
    #[prost(string, tag = "1")]
    subject: String,
    #[prost(string, tag = "2")]
    issuer: String,
    #[prost(uint64, tag = "3")]
    expires_at: u64,
}

/// A tonic channel to the example, on its own runtime (the tests themselves are synchronous: they also
/// manage a child process).
struct Client {
    channel: Channel,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        // One worker keeps the HTTP/2 connection serviced between calls.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let channel = runtime.block_on(async {
            Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_timeout(CALL_TIMEOUT)
                .timeout(CALL_TIMEOUT)
                .connect()
                .await
                .expect("connect to the example")
        });
        Self { channel, runtime }
    }

    /// Calls `path` with an empty request and `token` (if any) as a Bearer token.
    fn call(&self, path: &'static str, token: Option<&str>) -> Result<GetResponse, tonic::Status> {
        let mut request = tonic::Request::new(GetRequest {});
        if let Some(token) = token {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        self.runtime.block_on(async move {
            grpc.ready().await.expect("the channel is ready");
            grpc.unary(
                request,
                PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .map(tonic::Response::into_inner)
        })
    }

    fn who_am_i(&self, token: Option<&str>) -> Result<GetResponse, tonic::Status> {
        self.call("/whoami.v1.WhoAmI/Get", token)
    }
}

#[track_caller]
fn assert_unauthenticated(result: Result<GetResponse, tonic::Status>, message: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

// ---------------------------------------------------------------------------------------------------------
// A working server.

#[test]
fn good_token_gets_its_identity() {
    let server = start(&[("JWT_SECRET", secret())]);
    let client = Client::connect(server.addr);
    let claims = user_claims();
    let me = client
        .who_am_i(Some(&hs256(&claims)))
        .expect("a valid token passes");
    assert_eq!(
        me,
        GetResponse {
            subject: "user-1".into(),
            issuer: ISSUER.into(),
            expires_at: claims["exp"].as_u64().unwrap(),
        }
    );
    // Another subject, no issuer: the handler reads each caller's own claims.
    let other = patched(user_claims(), json!({"sub": "user-2", "iss": null}));
    let me = client.who_am_i(Some(&hs256(&other))).unwrap();
    assert_eq!((me.subject.as_str(), me.issuer.as_str()), ("user-2", ""));
}

#[test]
fn missing_and_bad_tokens_get_unauthenticated() {
    let server = start(&[("JWT_SECRET", secret())]);
    let client = Client::connect(server.addr);
    assert_unauthenticated(client.who_am_i(None), "no bearer token in the request");
    assert_unauthenticated(
        client.who_am_i(Some(&foreign_token())),
        "the token signature is invalid",
    );

    // The good token with its signature's first character changed.
    let good = hs256(&user_claims());
    let at = good.rfind('.').unwrap() + 1;
    let other = if good.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{other}{}", &good[..at], &good[at + 1..]);
    assert_unauthenticated(
        client.who_am_i(Some(&tampered)),
        "the token signature is invalid",
    );

    let expired = hs256(&patched(
        user_claims(),
        json!({"iat": now() - 7200, "exp": now() - 3600}),
    ));
    assert_unauthenticated(client.who_am_i(Some(&expired)), "the token has expired");
    assert_unauthenticated(client.who_am_i(Some("not-a-jwt")), "the token is malformed");

    // The connection survives refusals: the good token still passes on it.
    assert_eq!(client.who_am_i(Some(&good)).unwrap().subject, "user-1");
}

#[test]
fn unknown_methods_are_behind_the_layer_too() {
    let server = start(&[("JWT_SECRET", secret())]);
    let client = Client::connect(server.addr);
    let token = hs256(&user_claims());
    for path in ["/whoami.v1.WhoAmI/Delete", "/other.v1.Service/Get"] {
        let refused = client.call(path, None).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{path}: {refused:?}");
        let unknown = client.call(path, Some(&token)).unwrap_err();
        assert_eq!(unknown.code(), Code::Unimplemented, "{path}: {unknown:?}");
    }
}

#[test]
fn issuer_and_audience_are_enforced() {
    let server = start(&[
        ("JWT_SECRET", secret()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
    ]);
    let client = Client::connect(server.addr);
    assert_eq!(
        client.who_am_i(Some(&hs256(&claims()))).unwrap().issuer,
        ISSUER
    );
    for (patch, what) in [
        (json!({"iss": "https://evil.example.com"}), "wrong iss"),
        (json!({"iss": null}), "no iss"),
        (json!({"aud": "https://other.example.com"}), "wrong aud"),
        (json!({"aud": null}), "no aud"),
    ] {
        let refused = client
            .who_am_i(Some(&hs256(&patched(claims(), patch))))
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{what}: {refused:?}");
    }
}

#[test]
fn logs_say_where_it_listens_and_which_key() {
    let server = start(&[("JWT_SECRET", secret()), ("JWT_AUDIENCE", AUDIENCE)]);
    let addr = server.addr;
    let (stdout, stderr) = server.output();
    let log = format!("{stdout}{stderr}");
    assert!(
        log.contains(&format!("listening on http://{addr}")),
        "{log}"
    );
    assert!(log.contains("whoami.v1.WhoAmI"), "{log}");
    assert!(log.contains("JWT_SECRET"), "{log}");
    assert!(log.contains(AUDIENCE), "{log}");
    assert!(
        !log.contains(secret()),
        "the secret must never be logged: {log}"
    );
}

/// Ctrl-C: the server stops even with a client's HTTP/2 connection open, and exits successfully.
#[cfg(unix)]
#[test]
fn ctrl_c_shuts_down_gracefully() {
    let server = start(&[("JWT_SECRET", secret())]);
    let client = Client::connect(server.addr);
    let token = hs256(&user_claims());
    assert_eq!(client.who_am_i(Some(&token)).unwrap().subject, "user-1");
    let stopped = server.interrupt(Duration::from_secs(5));
    let log = format!("{}{}", stopped.stdout, stopped.stderr);
    let status = stopped
        .status
        .unwrap_or_else(|| panic!("still running 5 s after SIGINT:\n{log}"));
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    let after = client.who_am_i(Some(&token)).unwrap_err();
    assert_eq!(after.code(), Code::Unavailable, "{after:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Misconfiguration: a non-zero exit, quickly, with one line on stderr.

#[test]
fn no_secret() {
    example()
        .start_fails(&[])
        .assert_one_line(&["JWT_SECRET", "32"]);
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
