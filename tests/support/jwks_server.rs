//! A JWK-set server on 127.0.0.1 for tests of remote key providers.
//!
//! Include it from a test file with
//!
//! ```ignore
//! #[path = "support/jwks_server.rs"]
//! mod jwks_server;
//! ```
//!
//! [`JwksServer::start`] binds `127.0.0.1:0` and serves HTTP/1.1 (hyper, one task per connection) until the
//! server is dropped. Every path has a JSON document, extra response headers, a [`Mode`] and a request
//! counter, all switchable at run time from the test. [`JwksServer::go_down`] and [`JwksServer::come_back`]
//! simulate an outage on the same port.
//!
//! Paths are keyed by the URI path only: a query string is ignored, and a missing leading `/` is added.
//! At start, `/jwks.json` serves `{"keys": []}`; other paths answer 404 until they get a document.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, Sleep};

/// The path served with `{"keys": []}` from the start.
pub const DEFAULT_PATH: &str = "/jwks.json";

/// The body of [`Mode::Garbage`].
pub const GARBAGE_BODY: &str = "not json{{";

/// The first bytes of the bodies of [`Mode::Huge`] and [`Mode::HugeNoLength`]; spaces follow.
pub const HUGE_PREFIX: &str = "{\"keys\":[";

/// The longest wait of the harness itself (stopping the server, rebinding the port).
const LIFECYCLE_LIMIT: Duration = Duration::from_secs(5);

/// The size of the chunks of [`Mode::Huge`] and [`Mode::HugeNoLength`].
const HUGE_CHUNK: usize = 16 * 1024;
static PADDING: [u8; HUGE_CHUNK] = [b' '; HUGE_CHUNK];

/// At most this many pieces in a [`Mode::SlowBody`] body.
const DRIBBLE_PIECES: usize = 20;

/// The behaviour of one path.
#[derive(Clone, Debug)]
pub enum Mode {
    /// 200, `application/json`, the path's document (404 if it has none), the configured headers.
    Normal,
    /// That status with a small `text/plain` body (`status N`). Must be 200..=999.
    Status(u16),
    /// Waits, then answers as [`Mode::Normal`] with the document current at that moment.
    Slow(Duration),
    /// Reads the request and never answers, until the server is dropped or goes down. Other connections
    /// are not affected.
    Hang,
    /// 200, `application/json`, body [`GARBAGE_BODY`].
    Garbage,
    /// 200, `application/json`, body `{"keys":[]}`.
    Empty,
    /// 200, `application/json`, a body of exactly that many bytes with `content-length`: [`HUGE_PREFIX`]
    /// then spaces (truncated if shorter), streamed in 16 KiB chunks.
    Huge(usize),
    /// As [`Mode::Huge`], with chunked transfer encoding and no `content-length`.
    HugeNoLength(usize),
    /// 302 with `Location:` exactly the given value (absolute URL or path).
    Redirect(String),
    /// 302 with `Location:` the absolute URL of the request itself (path and query).
    RedirectLoop,
    /// Headers of the [`Mode::Normal`] answer at once (with `content-length`), then its body in up to 20
    /// pieces, one after each of equal pauses adding up to that duration.
    SlowBody(Duration),
}

/// `{"keys": [..keys]}`.
pub fn jwks_of(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// A JWK-set server on 127.0.0.1; see the module documentation.
///
/// Dropping it aborts the accept task and every connection task (the listener is closed as soon as the
/// runtime processes the cancellation); it never blocks.
pub struct JwksServer {
    shared: Arc<Shared>,
    life: tokio::sync::Mutex<Life>,
}

impl JwksServer {
    /// Binds `127.0.0.1:0` (with `SO_REUSEADDR`) and serves in a tokio task until dropped.
    ///
    /// Panics if it cannot bind.
    pub async fn start() -> JwksServer {
        let socket = new_socket().expect("jwks_server: create a socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("jwks_server: bind 127.0.0.1:0");
        let listener = socket.listen(1024).expect("jwks_server: listen");
        let addr = listener.local_addr().expect("jwks_server: local address");

        let mut paths = HashMap::new();
        paths.insert(
            DEFAULT_PATH.to_owned(),
            PathState {
                document: Some(jwks_of(&[])),
                ..PathState::default()
            },
        );
        let shared = Arc::new(Shared {
            addr,
            state: Mutex::new(State { paths, total: 0 }),
        });
        let running = Running::spawn(listener, shared.clone());
        JwksServer {
            shared,
            life: tokio::sync::Mutex::new(Life::Up(running)),
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path` (a leading `/` is added if missing). The path may carry a
    /// query string.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.shared.addr)
    }

    /// The listening address; the same after [`JwksServer::come_back`].
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The JSON document served at `path` by [`Mode::Normal`], [`Mode::Slow`] and [`Mode::SlowBody`].
    pub fn set_document(&self, path: &str, body: Value) {
        self.shared.with_path(path, |p| p.document = Some(body));
    }

    /// Removes the document of `path`: it answers 404 in [`Mode::Normal`] from now on.
    pub fn remove_document(&self, path: &str) {
        self.shared.with_path(path, |p| p.document = None);
    }

    /// Extra response headers for `path`, replacing those set before. They are added to every response of
    /// the path (whatever the mode) and override the defaults of the mode (`content-type`, `location`); a
    /// name given twice in the list is sent twice.
    ///
    /// Panics on an invalid header name or value.
    pub fn set_headers(&self, path: &str, headers: Vec<(&'static str, String)>) {
        let headers: Vec<(HeaderName, HeaderValue)> = headers
            .into_iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|e| panic!("jwks_server: header name {name:?}: {e}"));
                let value = HeaderValue::try_from(value.as_str())
                    .unwrap_or_else(|e| panic!("jwks_server: header value {value:?}: {e}"));
                (name, value)
            })
            .collect();
        self.shared.with_path(path, |p| p.headers = headers);
    }

    /// The behaviour of `path` from now on (requests already in progress keep theirs).
    ///
    /// Panics on a status outside 200..=999 or a redirect target that is not a valid header value.
    pub fn set_mode(&self, path: &str, mode: Mode) {
        match &mode {
            Mode::Status(code) => assert!(
                (200..=999).contains(code),
                "jwks_server: Mode::Status({code}) must be 200..=999"
            ),
            Mode::Redirect(to) => {
                if let Err(e) = HeaderValue::try_from(to.as_str()) {
                    panic!("jwks_server: Mode::Redirect({to:?}): {e}");
                }
            }
            _ => {}
        }
        self.shared.with_path(path, |p| p.mode = mode);
    }

    /// How many requests reached `path`, counted when each request arrives, whatever the mode.
    pub fn fetches(&self, path: &str) -> usize {
        let key = path_key(path);
        self.shared.lock().paths.get(&key).map_or(0, |p| p.fetches)
    }

    /// How many requests reached the server, all paths together (including paths without a document).
    pub fn total_fetches(&self) -> usize {
        self.shared.lock().total
    }

    /// Sets every counter to zero.
    pub fn reset_counts(&self) {
        let mut state = self.shared.lock();
        state.total = 0;
        for p in state.paths.values_mut() {
            p.fetches = 0;
        }
    }

    /// Waits until `path` has been fetched at least `at_least` times, at most `limit`. Returns whether it
    /// was.
    pub async fn wait_for_fetches(&self, path: &str, at_least: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.fetches(path) >= at_least {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the server is accepting connections (not between [`JwksServer::go_down`] and
    /// [`JwksServer::come_back`]).
    pub async fn is_up(&self) -> bool {
        matches!(*self.life.lock().await, Life::Up(_))
    }

    /// Stops serving: closes the listener (new connections are refused from now on) and drops every
    /// connection, including those of [`Mode::Hang`], before returning. The port stays reserved by a bound,
    /// non-listening socket so that nothing else takes it. Does nothing if already down.
    pub async fn go_down(&self) {
        let mut life = self.life.lock().await;
        if let Life::Up(running) = &mut *life {
            running.stop().await;
            *life = Life::Down(reserve(self.shared.addr));
        }
    }

    /// Serves again on the same port, with the same documents, modes, headers and counters. Retries for up
    /// to 5 s if the port cannot be bound at once; panics after that. Does nothing if already up.
    pub async fn come_back(&self) {
        let mut life = self.life.lock().await;
        if let Life::Down(reserved) = &mut *life {
            let listener = listen_again(self.shared.addr, reserved.take()).await;
            *life = Life::Up(Running::spawn(listener, self.shared.clone()));
        }
    }
}

impl std::fmt::Debug for JwksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksServer")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------------------
// State

struct Shared {
    addr: SocketAddr,
    state: Mutex<State>,
}

struct State {
    paths: HashMap<String, PathState>,
    total: usize,
}

struct PathState {
    document: Option<Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    mode: Mode,
    fetches: usize,
}

impl Default for PathState {
    fn default() -> Self {
        PathState {
            document: None,
            headers: Vec::new(),
            mode: Mode::Normal,
            fetches: 0,
        }
    }
}

impl Shared {
    /// Never held across an await; a panic elsewhere does not make the state unusable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_path(&self, path: &str, f: impl FnOnce(&mut PathState)) {
        let key = path_key(path);
        let mut state = self.lock();
        f(state.paths.entry(key).or_default());
    }

    /// Counts the request and returns the mode it gets.
    fn arrive(&self, path: &str) -> Mode {
        let mut state = self.lock();
        state.total += 1;
        let p = state.paths.entry(path.to_owned()).or_default();
        p.fetches += 1;
        p.mode.clone()
    }

    /// The document (serialized) and the configured headers of a path, now.
    fn snapshot(&self, path: &str) -> (Option<Bytes>, Vec<(HeaderName, HeaderValue)>) {
        let state = self.lock();
        match state.paths.get(path) {
            Some(p) => (
                p.document
                    .as_ref()
                    .map(|d| Bytes::from(serde_json::to_vec(d).expect("serialize a JSON value"))),
                p.headers.clone(),
            ),
            None => (None, Vec::new()),
        }
    }
}

/// The key of a path: the part before any query string, with a leading `/`.
fn path_key(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

// ---------------------------------------------------------------------------------------------------------
// Lifecycle

enum Life {
    Up(Running),
    /// Down, with the port held by a bound, non-listening socket when that could be done.
    Down(Option<TcpSocket>),
}

/// The accept task. Dropping it aborts the task, which drops the listener and every connection task.
struct Running {
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Running {
        let (stop, stopped) = oneshot::channel();
        Running {
            task: tokio::spawn(accept_loop(listener, shared, stopped)),
            stop: Some(stop),
        }
    }

    /// Asks the accept task to close the listener, abort the connections and wait for them; aborts it if
    /// that takes too long. When this returns the listener is closed.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(LIFECYCLE_LIMIT, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
            let _ = tokio::time::timeout(LIFECYCLE_LIMIT, &mut self.task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A stop request, or the `Running` dropped.
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // E.g. too many open files: back off briefly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(shared.clone(), request));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn new_socket() -> std::io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    Ok(socket)
}

/// A bound, non-listening socket on `addr`: connections to it are refused, and ephemeral port allocation
/// skips it.
fn reserve(addr: SocketAddr) -> Option<TcpSocket> {
    let socket = new_socket().ok()?;
    socket.bind(addr).ok()?;
    Some(socket)
}

async fn listen_again(addr: SocketAddr, reserved: Option<TcpSocket>) -> TcpListener {
    if let Some(listener) = reserved.and_then(|socket| socket.listen(1024).ok()) {
        return listener;
    }
    let deadline = Instant::now() + LIFECYCLE_LIMIT;
    loop {
        let attempt = new_socket().and_then(|socket| {
            socket.bind(addr)?;
            socket.listen(1024)
        });
        match attempt {
            Ok(listener) => return listener,
            Err(e) if Instant::now() >= deadline => {
                panic!("jwks_server: cannot listen on {addr} again: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Responses

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let path = path_key(request.uri().path());
    let mode = shared.arrive(&path);
    let json = HeaderValue::from_static("application/json");
    let response = match mode {
        Mode::Normal => normal(&shared, &path),
        Mode::Slow(pause) => {
            tokio::time::sleep(pause).await;
            normal(&shared, &path)
        }
        Mode::SlowBody(duration) => {
            let mut response = normal(&shared, &path);
            let body = std::mem::replace(response.body_mut(), ResponseBody::empty());
            *response.body_mut() = body.dribbled(duration);
            response
        }
        Mode::Hang => std::future::pending().await,
        Mode::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!("status {}", status.as_u16());
            let headers = [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))];
            respond(&shared, &path, status, headers, ResponseBody::full(body))
        }
        Mode::Garbage => respond(
            &shared,
            &path,
            StatusCode::OK,
            [(CONTENT_TYPE, json)],
            ResponseBody::full(GARBAGE_BODY),
        ),
        Mode::Empty => respond(
            &shared,
            &path,
            StatusCode::OK,
            [(CONTENT_TYPE, json)],
            ResponseBody::full(r#"{"keys":[]}"#),
        ),
        Mode::Huge(len) => respond(
            &shared,
            &path,
            StatusCode::OK,
            [(CONTENT_TYPE, json)],
            ResponseBody::huge(len, true),
        ),
        Mode::HugeNoLength(len) => respond(
            &shared,
            &path,
            StatusCode::OK,
            [(CONTENT_TYPE, json)],
            ResponseBody::huge(len, false),
        ),
        Mode::Redirect(to) => {
            let location = HeaderValue::try_from(to.as_str()).expect("checked by set_mode");
            redirect(&shared, &path, location)
        }
        Mode::RedirectLoop => {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let location = HeaderValue::try_from(format!("http://{}{target}", shared.addr))
                .expect("a URI is a valid header value");
            redirect(&shared, &path, location)
        }
    };
    Ok(response)
}

fn normal(shared: &Shared, path: &str) -> Response<ResponseBody> {
    match shared.snapshot(path).0 {
        Some(document) => respond(
            shared,
            path,
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            ResponseBody::full(document),
        ),
        None => respond(
            shared,
            path,
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            ResponseBody::full(format!("no document at {path}")),
        ),
    }
}

fn redirect(shared: &Shared, path: &str, location: HeaderValue) -> Response<ResponseBody> {
    respond(
        shared,
        path,
        StatusCode::FOUND,
        [(LOCATION, location)],
        ResponseBody::full(""),
    )
}

/// A response with the mode's default headers, then the path's configured headers (which override them).
fn respond<const N: usize>(
    shared: &Shared,
    path: &str,
    status: StatusCode,
    defaults: [(HeaderName, HeaderValue); N],
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers: &mut HeaderMap = response.headers_mut();
    for (name, value) in defaults {
        headers.insert(name, value);
    }
    let mut seen: Vec<HeaderName> = Vec::new();
    for (name, value) in shared.snapshot(path).1 {
        if seen.contains(&name) {
            headers.append(name, value);
        } else {
            headers.insert(name.clone(), value);
            seen.push(name);
        }
    }
    response
}

// ---------------------------------------------------------------------------------------------------------
// Bodies

/// The body of every response: whole, padding streamed in chunks, or pieces after pauses.
struct ResponseBody(BodyKind);

enum BodyKind {
    Full(Option<Bytes>),
    Huge {
        prefix: Option<Bytes>,
        /// Padding bytes still to send.
        remaining: usize,
        /// Total length, announced as `content-length` when known.
        length: Option<u64>,
    },
    Dribble {
        pieces: VecDeque<Bytes>,
        pause: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
        remaining: u64,
    },
}

impl ResponseBody {
    fn empty() -> Self {
        ResponseBody(BodyKind::Full(None))
    }

    fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody(BodyKind::Full((!bytes.is_empty()).then_some(bytes)))
    }

    fn huge(len: usize, with_length: bool) -> Self {
        let prefix_len = HUGE_PREFIX.len().min(len);
        let prefix = Bytes::from_static(&HUGE_PREFIX.as_bytes()[..prefix_len]);
        ResponseBody(BodyKind::Huge {
            prefix: (prefix_len > 0).then_some(prefix),
            remaining: len - prefix_len,
            length: with_length.then_some(len as u64),
        })
    }

    /// The same bytes, in up to [`DRIBBLE_PIECES`] pieces, each after a pause; the pauses add up to
    /// `duration`.
    fn dribbled(self, duration: Duration) -> Self {
        let bytes = match self.0 {
            BodyKind::Full(bytes) => bytes.unwrap_or_default(),
            other => return ResponseBody(other),
        };
        let count = bytes.len().clamp(1, DRIBBLE_PIECES);
        let piece_len = bytes.len().div_ceil(count).max(1);
        let mut pieces = VecDeque::new();
        let mut rest = bytes.clone();
        while !rest.is_empty() {
            pieces.push_back(rest.split_to(piece_len.min(rest.len())));
        }
        let pause = duration / u32::try_from(pieces.len().max(1)).unwrap_or(u32::MAX);
        ResponseBody(BodyKind::Dribble {
            pieces,
            pause,
            sleep: None,
            remaining: bytes.len() as u64,
        })
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match &mut this.0 {
            BodyKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyKind::Huge {
                prefix, remaining, ..
            } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(HUGE_CHUNK);
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PADDING[..n])))))
            }
            BodyKind::Dribble {
                pieces,
                pause,
                sleep,
                remaining,
            } => {
                if pieces.is_empty() {
                    return Poll::Ready(None);
                }
                let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*pause)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *sleep = None;
                let piece = pieces.pop_front().expect("not empty");
                *remaining -= piece.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Huge {
                prefix,
                remaining,
                length,
            } => match length {
                Some(_) => SizeHint::with_exact(
                    prefix.as_ref().map_or(0, |p| p.len() as u64) + *remaining as u64,
                ),
                None => SizeHint::default(),
            },
            BodyKind::Dribble { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
