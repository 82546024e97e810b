//! `examples/auth_server` as a real process, for `tests/example_auth_server.rs` and
//! `tests/browser_auth_server.rs`: build it, start it on 127.0.0.1 with a database in a fresh temporary
//! directory, talk HTTP/1.1 to it over TCP, and kill it when the test ends (pass or panic).
//!
//! Every wait is bounded.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the example may take to start listening (it hashes one dummy password first), or to exit on
/// a bad configuration.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// A misconfigured example must say so and exit at once, not after this.
pub const QUICK_EXIT: Duration = Duration::from_secs(5);
/// How long `cargo build --example auth_server` may take (a cold build compiles aws-lc and SQLite).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// Read/write timeout of one HTTP exchange (a debug build hashes a password in about half a second).
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A 32-byte secret.
pub const SECRET: &str = "auth-server-test-secret-32-bytes";

/// Environment variables the example reads: removed from the child's environment unless a test sets them.
const EXAMPLE_VARS: [&str; 7] = [
    "BETTER_AUTH_SECRET",
    "DATABASE_URL",
    "LISTEN_ADDR",
    "PUBLIC_URL",
    "CSRF_ALLOWED_ORIGINS",
    "RUST_LOG",
    "RUST_LIB_BACKTRACE",
];

// ---------------------------------------------------------------------------------------------------------
// Child processes

/// Owns a child process; kills and reaps it when dropped.
pub struct ChildGuard {
    child: Child,
    stdout: Collector,
    stderr: Collector,
}

impl ChildGuard {
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {command:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        Self {
            child,
            stdout: Collector::start(stdout),
            stderr: Collector::start(stderr),
        }
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Kills the process (if still running) and returns its stdout and stderr.
    pub fn finish(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stdout = std::mem::take(&mut self.stdout).finish();
        let stderr = std::mem::take(&mut self.stderr).finish();
        (stdout, stderr)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a pipe to its end on a thread.
#[derive(Default)]
struct Collector {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let thread = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Self {
            buffer,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    fn finish(mut self) -> String {
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !thread.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        self.text()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "tower-jwt-auth-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `sqlite://<dir>/<name>` (an absolute path: `sqlite:///tmp/...`).
    pub fn database_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.0.join(name).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Building and running the example

/// Builds the example once per test binary and returns its path.
pub fn example_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_example)
}

fn build_example() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut build = ChildGuard::spawn(
        Command::new(env!("CARGO"))
            .arg("build")
            .arg("--example")
            .arg("auth_server")
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(&manifest),
    );
    let Some(status) = build.wait_for_exit(BUILD_TIMEOUT) else {
        let (_, stderr) = build.finish();
        panic!("`cargo build --example auth_server` took over {BUILD_TIMEOUT:?}:\n{stderr}");
    };
    let (stdout, stderr) = build.finish();
    assert!(
        status.success(),
        "`cargo build --example auth_server` failed ({status}):\n{stderr}"
    );
    let reported = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "auth_server"
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from));
    let path = reported.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("debug")
            .join("examples")
            .join(format!("auth_server{}", std::env::consts::EXE_SUFFIX))
    });
    assert!(path.is_file(), "no example binary at {}", path.display());
    path
}

/// The example with exactly these settings and arguments, in `dir`.
pub fn example_command(env: &[(&str, &str)], args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(example_binary());
    for name in EXAMPLE_VARS {
        command.env_remove(name);
    }
    // A panic would print a backtrace: more than the one line a misconfiguration may print.
    command.env("RUST_BACKTRACE", "1");
    command.current_dir(dir);
    command.envs(env.iter().copied());
    command.args(args);
    command
}

/// The example, running and accepting connections; killed when dropped.
pub struct AuthServer {
    process: ChildGuard,
    pub addr: SocketAddr,
    /// Every exchange so far: method, path, status.
    pub exchanges: Mutex<Vec<(String, String, u16)>>,
    _dir: Option<TempDir>,
}

impl AuthServer {
    /// With `BETTER_AUTH_SECRET`, `LISTEN_ADDR=127.0.0.1:0` and a database in a fresh directory unless
    /// `env` sets them.
    #[track_caller]
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, &[])
    }

    #[track_caller]
    pub fn start_with(env: &[(&str, &str)], args: &[&str]) -> Self {
        let dir = TempDir::new("auth-server");
        let database = dir.database_url("users.db");
        let mut full: Vec<(&str, &str)> =
            vec![("LISTEN_ADDR", "127.0.0.1:0"), ("DATABASE_URL", &database)];
        if !args.contains(&"--dev") {
            full.push(("BETTER_AUTH_SECRET", SECRET));
        }
        full.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
        full.extend_from_slice(env);
        let mut process = ChildGuard::spawn(&mut example_command(&full, args, dir.path()));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addr) = listening_addr(&process.stdout()) {
                return Self {
                    process,
                    addr,
                    exchanges: Mutex::new(Vec::new()),
                    _dir: Some(dir),
                };
            }
            if let Some(status) = process.exited() {
                let (stdout, stderr) = process.finish();
                panic!("the example exited ({status}) instead of serving:\n{stderr}\n{stdout}");
            }
            if Instant::now() >= deadline {
                let (stdout, stderr) = process.finish();
                panic!(
                    "the example did not log its address within {START_TIMEOUT:?}:\n{stderr}\n{stdout}"
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stdout(&self) -> String {
        self.process.stdout()
    }

    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Kills the server and returns its stdout and stderr.
    pub fn finish(self) -> (String, String) {
        self.process.finish()
    }

    /// One HTTP/1.1 exchange on a new connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> HttpResponse {
        let response = http_request(self.addr, method, path, headers, body);
        self.exchanges
            .lock()
            .unwrap()
            .push((method.into(), path.into(), response.status));
        response
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", path, headers, None)
    }

    /// A POST with a JSON body and `Content-Type: application/json`.
    pub fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> HttpResponse {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, Some(body.to_string().as_bytes()))
    }
}

/// The address in the example's "listening on http://…" log line.
fn listening_addr(stdout: &str) -> Option<SocketAddr> {
    let rest = stdout.split("listening on http://").nth(1)?;
    let end = rest.find([' ', '\n'])?;
    rest[..end].parse().ok()
}

/// What a misconfigured example did.
pub struct Failure {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs the example with exactly `env` and `args` (no defaults), which must make it refuse to start.
#[track_caller]
pub fn start_fails(env: &[(&str, &str)], args: &[&str]) -> Failure {
    let dir = TempDir::new("auth-server-fails");
    let mut full: Vec<(&str, &str)> = vec![("LISTEN_ADDR", "127.0.0.1:0")];
    full.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
    full.extend_from_slice(env);
    let mut command = example_command(&full, args, dir.path()); // builds the example first, if needed
    let started = Instant::now();
    let mut process = ChildGuard::spawn(&mut command);
    let status = process.wait_for_exit(START_TIMEOUT);
    let elapsed = started.elapsed();
    let (stdout, stderr) = process.finish();
    let Some(status) = status else {
        panic!(
            "with {env:?} {args:?} the example kept running for {START_TIMEOUT:?} instead of refusing\nstderr: {stderr}\nstdout: {stdout}"
        );
    };
    Failure {
        status,
        stdout,
        stderr,
        elapsed,
    }
}

impl Failure {
    /// Non-zero exit, quickly, with exactly one line on stderr, `auth_server: …`, naming every one of
    /// `words`.
    #[track_caller]
    pub fn assert_one_line(&self, words: &[&str]) -> &str {
        assert!(!self.status.success(), "exit status {}", self.status);
        assert_eq!(self.status.code(), Some(1), "stderr: {}", self.stderr);
        assert!(
            self.elapsed < QUICK_EXIT,
            "took {:?} to refuse the configuration",
            self.elapsed
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got {lines:#?}"
        );
        let line = lines[0];
        assert!(line.starts_with("auth_server: "), "{line:?}");
        for word in words {
            assert!(line.contains(word), "{line:?} should mention {word:?}");
        }
        assert!(
            !self.stdout.contains("listening on"),
            "it listened before failing: {}",
            self.stdout
        );
        line
    }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP/1.1 over a raw TCP stream

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }

    /// This status and a JSON body; returns the body.
    #[track_caller]
    pub fn expect_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:#?}"
        );
        self.json()
    }
}

pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpResponse {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream.write_all(&bytes).expect("send request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("reading the response to {method} {path}: {e}"));
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().expect("status code");
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    } else if let Some((_, length)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        assert_eq!(
            body.len(),
            length.parse::<usize>().unwrap(),
            "content-length"
        );
    }
    HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
