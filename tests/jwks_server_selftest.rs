//! Self-test of the JWK-set test server in `support/jwks_server.rs`: every mode once, through a raw
//! HTTP/1.1 client on `tokio::net::TcpStream`, plus counters, headers, outages and drop.

#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jwks_server::{GARBAGE_BODY, HUGE_PREFIX, JwksServer, Mode, jwks_of};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The longest any single request of these tests may take, unless it is meant to hang.
const LIMIT: Duration = Duration::from_secs(2);

/// A whole HTTP/1.1 response, read until the server closed the connection (`Connection: close`).
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Data chunks of a chunked body; `None` if the body was not chunked.
    chunks: Option<usize>,
    /// Time from connecting to the end of the response head, and to the end of the response.
    head_after: Duration,
    elapsed: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// One GET with `Connection: close`, no time limit of its own.
async fn try_get(addr: SocketAddr, path: &str) -> io::Result<Reply> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let mut head_after = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if head_after.is_none() && find(&raw, b"\r\n\r\n").is_some() {
            head_after = Some(started.elapsed());
        }
    }
    let head_after =
        head_after.ok_or_else(|| invalid("connection closed before a response head"))?;
    parse(&raw, head_after, started.elapsed())
}

/// One GET that must succeed within [`LIMIT`].
async fn get(addr: SocketAddr, path: &str) -> Reply {
    timeout(LIMIT, try_get(addr, path))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no response within {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse(raw: &[u8], head_after: Duration, elapsed: Duration) -> io::Result<Reply> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| invalid("no end of head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').ok_or_else(|| invalid("bad header"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
        chunks: None,
        head_after,
        elapsed,
    };
    let rest = &raw[end + 4..];
    if reply
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        let (body, chunks) = dechunk(rest)?;
        reply.body = body;
        reply.chunks = Some(chunks);
    } else {
        reply.body = rest.to_vec();
        if let Some(length) = reply.header("content-length") {
            let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
            if length != reply.body.len() {
                return Err(invalid("body shorter or longer than content-length"));
            }
        }
    }
    Ok(reply)
}

fn dechunk(mut rest: &[u8]) -> io::Result<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut chunks = 0;
    loop {
        let line_end = find(rest, b"\r\n").ok_or_else(|| invalid("truncated chunk size"))?;
        let line = std::str::from_utf8(&rest[..line_end]).map_err(|_| invalid("chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok((body, chunks));
        }
        if rest.len() < size + 2 {
            return Err(invalid("truncated chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        chunks += 1;
        rest = &rest[size + 2..];
    }
}

/// Whether a connection to `addr` is refused, trying for up to [`LIMIT`] (the server stops asynchronously
/// after a drop).
async fn refused_soon(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + LIMIT;
    loop {
        match timeout(LIMIT, TcpStream::connect(addr)).await {
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => return true,
            _ if Instant::now() >= deadline => return false,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn rsa_jwk(kid: &str) -> Value {
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB" })
}

#[tokio::test]
async fn normal_documents_headers_and_counters() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(
        server.url("/jwks.json"),
        format!("http://127.0.0.1:{}/jwks.json", addr.port())
    );
    assert_eq!(server.url("jwks.json"), server.url("/jwks.json"));

    // The default document.
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), json!({ "keys": [] }));

    // A JWK set with cache headers; a query string does not change the path.
    let set = jwks_of(&[rsa_jwk("a"), rsa_jwk("b")]);
    assert_eq!(set, json!({ "keys": [rsa_jwk("a"), rsa_jwk("b")] }));
    server.set_document("/jwks.json", set.clone());
    server.set_headers(
        "/jwks.json",
        vec![
            ("cache-control", "max-age=600".to_owned()),
            ("x-many", "1".to_owned()),
            ("x-many", "2".to_owned()),
        ],
    );
    let reply = get(addr, "/jwks.json?v=2").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), set);
    assert_eq!(reply.header("cache-control"), Some("max-age=600"));
    assert_eq!(reply.headers_named("x-many"), ["1", "2"]);
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );

    // Discovery documents at any path; configured headers override the default content type.
    let discovery =
        json!({ "issuer": "https://issuer.example.com", "jwks_uri": server.url("/jwks.json") });
    server.set_document("/.well-known/openid-configuration", discovery.clone());
    server.set_document("/.well-known/oauth-authorization-server", discovery.clone());
    server.set_headers(
        "/.well-known/oauth-authorization-server",
        vec![("content-type", "text/html".to_owned())],
    );
    let reply = get(addr, "/.well-known/openid-configuration").await;
    assert_eq!(reply.json(), discovery);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let reply = get(addr, "/.well-known/oauth-authorization-server").await;
    assert_eq!(reply.json(), discovery);
    assert_eq!(reply.headers_named("content-type"), ["text/html"]);

    // A path without a document: 404, still counted; then removing a document.
    assert_eq!(get(addr, "/nothing-here").await.status, 404);
    server.remove_document("/.well-known/openid-configuration");
    assert_eq!(
        get(addr, "/.well-known/openid-configuration").await.status,
        404
    );

    assert_eq!(server.fetches("/jwks.json"), 2);
    assert_eq!(server.fetches("/jwks.json?ignored"), 2);
    assert_eq!(server.fetches("/.well-known/openid-configuration"), 2);
    assert_eq!(server.fetches("/.well-known/oauth-authorization-server"), 1);
    assert_eq!(server.fetches("/nothing-here"), 1);
    assert_eq!(server.fetches("/never"), 0);
    assert_eq!(server.total_fetches(), 6);

    server.reset_counts();
    assert_eq!(server.fetches("/jwks.json"), 0);
    assert_eq!(server.total_fetches(), 0);
    get(addr, "/jwks.json").await;
    assert_eq!(server.fetches("/jwks.json"), 1);
    assert_eq!(server.total_fetches(), 1);
    assert!(
        server
            .wait_for_fetches("/jwks.json", 1, Duration::from_millis(10))
            .await
    );
    assert!(
        !server
            .wait_for_fetches("/jwks.json", 2, Duration::from_millis(20))
            .await
    );
}

#[tokio::test]
async fn status_garbage_and_empty() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    server.set_document("/jwks.json", jwks_of(&[rsa_jwk("a")]));

    server.set_mode("/jwks.json", Mode::Status(503));
    server.set_headers("/jwks.json", vec![("retry-after", "7".to_owned())]);
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), "status 503");
    assert_eq!(reply.header("retry-after"), Some("7"));
    server.set_headers("/jwks.json", Vec::new());

    server.set_mode("/jwks.json", Mode::Status(404));
    assert_eq!(get(addr, "/jwks.json").await.status, 404);
    server.set_mode("/jwks.json", Mode::Status(304));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 304);
    assert!(reply.body.is_empty());

    server.set_mode("/jwks.json", Mode::Garbage);
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), GARBAGE_BODY);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    server.set_mode("/jwks.json", Mode::Empty);
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), json!({ "keys": [] }));

    server.set_mode("/jwks.json", Mode::Normal);
    assert_eq!(
        get(addr, "/jwks.json").await.json(),
        jwks_of(&[rsa_jwk("a")])
    );
    assert_eq!(server.fetches("/jwks.json"), 6);
}

#[tokio::test]
async fn huge_bodies_with_and_without_length() {
    const SIZE: usize = 3 * 1024 * 1024 + 17;
    let server = JwksServer::start().await;
    let addr = server.addr();

    server.set_mode("/jwks.json", Mode::Huge(SIZE));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("content-length"),
        Some(SIZE.to_string().as_str())
    );
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.body.len(), SIZE);
    assert!(reply.body.starts_with(HUGE_PREFIX.as_bytes()));
    assert!(reply.body[HUGE_PREFIX.len()..].iter().all(|&b| b == b' '));

    server.set_mode("/jwks.json", Mode::HugeNoLength(SIZE));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.body.len(), SIZE);
    assert!(reply.body.starts_with(HUGE_PREFIX.as_bytes()));
    assert!(reply.chunks.expect("chunked") > 1, "streamed in chunks");

    // Shorter than the prefix: truncated prefix, exact length.
    server.set_mode("/jwks.json", Mode::Huge(4));
    assert_eq!(
        get(addr, "/jwks.json").await.body,
        &HUGE_PREFIX.as_bytes()[..4]
    );
    assert_eq!(server.fetches("/jwks.json"), 3);
}

#[tokio::test]
async fn redirects() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    server.set_document("/keys", jwks_of(&[rsa_jwk("moved")]));

    server.set_mode("/jwks.json", Mode::Redirect("/keys".to_owned()));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("/keys"));
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(
        get(addr, &location).await.json(),
        jwks_of(&[rsa_jwk("moved")])
    );

    server.set_mode("/old", Mode::Redirect(server.url("/keys")));
    let reply = get(addr, "/old").await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(server.url("/keys").as_str()));

    server.set_mode("/loop", Mode::RedirectLoop);
    let mut path = "/loop?n=1".to_owned();
    for _ in 0..3 {
        let reply = get(addr, &path).await;
        assert_eq!(reply.status, 302);
        let location = reply.header("location").expect("a location");
        assert_eq!(location, server.url("/loop?n=1"));
        path = location
            .strip_prefix(&format!("http://{addr}"))
            .expect("same server")
            .to_owned();
    }
    assert_eq!(server.fetches("/loop"), 3);
    assert_eq!(server.fetches("/keys"), 1);
    assert_eq!(server.total_fetches(), 6);
}

#[tokio::test]
async fn slow_and_slow_body() {
    const PAUSE: Duration = Duration::from_millis(200);
    let server = JwksServer::start().await;
    let addr = server.addr();
    let set = jwks_of(&[rsa_jwk("a"), rsa_jwk("b"), rsa_jwk("c")]);
    server.set_document("/jwks.json", set.clone());
    server.set_headers("/jwks.json", vec![("cache-control", "no-cache".to_owned())]);

    server.set_mode("/jwks.json", Mode::Slow(PAUSE));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), set);
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert!(reply.head_after >= PAUSE, "{:?}", reply.head_after);

    server.set_mode("/jwks.json", Mode::SlowBody(PAUSE));
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), set);
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert!(reply.header("content-length").is_some());
    assert!(
        reply.head_after < PAUSE / 2,
        "headers at once: {:?}",
        reply.head_after
    );
    assert!(reply.elapsed >= PAUSE, "body dribbled: {:?}", reply.elapsed);
    assert_eq!(server.fetches("/jwks.json"), 2);
}

#[tokio::test]
async fn hang_does_not_block_other_connections() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    server.set_mode("/hang", Mode::Hang);

    let hanging = tokio::spawn(timeout(Duration::from_millis(300), try_get(addr, "/hang")));
    assert!(
        server.wait_for_fetches("/hang", 1, LIMIT).await,
        "the hanging request arrived"
    );
    // Others are served while it hangs.
    let started = Instant::now();
    let replies = futures_join(addr, "/jwks.json", 5).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert!(started.elapsed() < Duration::from_millis(250));
    assert!(!hanging.is_finished());

    let outcome = hanging.await.expect("the task");
    assert!(outcome.is_err(), "no answer within the client timeout");
    assert_eq!(server.fetches("/hang"), 1);
    assert_eq!(server.fetches("/jwks.json"), 5);
}

/// `count` concurrent GETs of `path`.
async fn futures_join(addr: SocketAddr, path: &'static str, count: usize) -> Vec<Reply> {
    let tasks: Vec<_> = (0..count).map(|_| tokio::spawn(get(addr, path))).collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("a request task"));
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_all_counted() {
    let server = JwksServer::start().await;
    server.set_mode("/jwks.json", Mode::Slow(Duration::from_millis(100)));
    let started = Instant::now();
    let replies = futures_join(server.addr(), "/jwks.json", 20).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "served concurrently: {:?}",
        started.elapsed()
    );
    assert_eq!(server.fetches("/jwks.json"), 20);
    assert_eq!(server.total_fetches(), 20);
}

#[tokio::test]
async fn go_down_and_come_back_on_the_same_port() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    server.set_document("/jwks.json", jwks_of(&[rsa_jwk("a")]));
    server.set_mode("/hang", Mode::Hang);
    assert_eq!(get(addr, "/jwks.json").await.status, 200);
    assert!(server.is_up().await);

    // An open connection, waiting for an answer that never comes.
    let hanging = tokio::spawn(timeout(LIMIT, try_get(addr, "/hang")));
    assert!(server.wait_for_fetches("/hang", 1, LIMIT).await);

    let started = Instant::now();
    server.go_down().await;
    assert!(!server.is_up().await);
    server.go_down().await; // no-op
    let outcome = hanging.await.expect("the task");
    let dropped = outcome.expect("dropped long before the client timeout");
    assert!(dropped.is_err(), "no response: {dropped:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    let refused = TcpStream::connect(addr).await.expect_err("refused");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    let refused = try_get(addr, "/jwks.json").await.expect_err("refused");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(server.fetches("/jwks.json"), 1);

    // Changes while down apply once back.
    server.set_document("/jwks.json", jwks_of(&[rsa_jwk("b")]));
    server.come_back().await;
    assert!(server.is_up().await);
    server.come_back().await; // no-op
    assert_eq!(server.addr(), addr);
    let reply = get(addr, "/jwks.json").await;
    assert_eq!(reply.json(), jwks_of(&[rsa_jwk("b")]));
    assert_eq!(server.fetches("/jwks.json"), 2);

    // A second outage, immediately after traffic (server-side TIME_WAIT on the port).
    server.go_down().await;
    assert_eq!(
        TcpStream::connect(addr).await.expect_err("refused").kind(),
        io::ErrorKind::ConnectionRefused
    );
    server.come_back().await;
    assert_eq!(get(addr, "/jwks.json").await.status, 200);
    assert_eq!(server.fetches("/jwks.json"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_stops_the_server_and_its_connections() {
    let server = JwksServer::start().await;
    let addr = server.addr();
    server.set_mode("/hang", Mode::Hang);
    assert_eq!(get(addr, "/jwks.json").await.status, 200);

    let hanging = tokio::spawn(timeout(LIMIT, try_get(addr, "/hang")));
    assert!(server.wait_for_fetches("/hang", 1, LIMIT).await);

    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "drop does not block"
    );
    let outcome = hanging.await.expect("the task");
    let dropped = outcome.expect("dropped long before the client timeout");
    assert!(dropped.is_err(), "no response: {dropped:?}");
    assert!(refused_soon(addr).await, "the listener is closed");
}
