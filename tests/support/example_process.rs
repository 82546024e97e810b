//! Running an example of this crate as a real process: built with cargo, configured only by the environment
//! a test gives it, on a free port of 127.0.0.1, and killed by a guard when the test ends (pass or panic);
//! and a small HTTP/1.1 client over a raw TCP stream to talk to it. `auth_server` below adds what
//! `examples/auth_server` needs (a fresh working directory, arguments, its address read from its log).
//!
//! Every wait is bounded.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long an example may take to start listening, or to exit on a bad configuration (unless the suite
/// gives its own limit with [`Example::with_start_timeout`]).
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A misconfigured example must say so and exit at once, not after this.
pub const QUICK_EXIT: Duration = Duration::from_secs(5);
/// How long `cargo build --example …` may take (a cold build compiles aws-lc, and SQLite for auth_server).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

// ---------------------------------------------------------------------------------------------------------
// Child processes: a guard that kills, and bounded collection of their output.

/// Owns a child process; kills and reaps it when dropped, whatever happened in the test.
pub struct ChildGuard {
    child: Child,
    stdout: Collector,
    stderr: Collector,
}

impl ChildGuard {
    /// Spawns `command` with its stdout and stderr collected in the background (stdin: nothing).
    pub fn spawn(command: &mut Command) -> Self {
        Self::start(command.stdin(Stdio::null()))
    }

    /// Like [`ChildGuard::spawn`], with a pipe to its stdin (for a process that exits when its stdin ends).
    pub fn spawn_with_stdin(command: &mut Command) -> (Self, ChildStdin) {
        let mut guard = Self::start(command.stdin(Stdio::piped()));
        let stdin = guard.child.stdin.take().expect("piped stdin");
        (guard, stdin)
    }

    fn start(command: &mut Command) -> Self {
        let mut child = command
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

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits at most `limit` for the process to exit; `None` if it is still running.
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

    /// Kills the process (if still running) and returns everything it wrote to stdout and stderr.
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

    /// What was read so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// Everything, once the pipe is closed (bounded: a pipe kept open by a grandchild is not waited for).
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

/// A port nobody listens on (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Building and running an example.

/// Builds `examples/{name}` with the package's default features (and its dev-dependencies) and returns
/// the executable's path.
pub fn build_example(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut build = ChildGuard::spawn(
        Command::new(env!("CARGO"))
            .arg("build")
            .arg("--example")
            .arg(name)
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(&manifest),
    );
    let Some(status) = build.wait_for_exit(BUILD_TIMEOUT) else {
        let (_, stderr) = build.finish();
        panic!("`cargo build --example {name}` took over {BUILD_TIMEOUT:?}:\n{stderr}");
    };
    let (stdout, stderr) = build.finish();
    assert!(
        status.success(),
        "`cargo build --example {name}` failed ({status}):\n{stderr}"
    );
    // The executable cargo reports; else where cargo puts examples.
    let reported = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from));
    let binary = reported.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("debug")
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    });
    assert!(
        binary.is_file(),
        "no example binary at {}",
        binary.display()
    );
    binary
}

/// A built example and the environment variables it reads.
pub struct Example {
    name: &'static str,
    binary: PathBuf,
    /// Removed from the child's environment unless a test sets them, so the developer's own settings
    /// never leak into a case. A name ending in `*` is a prefix: every variable that starts with it.
    vars: &'static [&'static str],
    start_timeout: Duration,
    /// The exit code a refused configuration must give, when the example promises one.
    exit_code: Option<i32>,
    /// What the example prints on stdout once it serves: a refusing example must not have printed it.
    serving_log: Option<&'static str>,
}

impl Example {
    /// Builds `examples/{name}` with the package's default features (and its dev-dependencies).
    pub fn build(name: &'static str, vars: &'static [&'static str]) -> Self {
        Self {
            name,
            binary: build_example(name),
            vars,
            start_timeout: START_TIMEOUT,
            exit_code: None,
            serving_log: None,
        }
    }

    /// How long the example may take to start serving, or to exit on a bad configuration.
    pub fn with_start_timeout(mut self, limit: Duration) -> Self {
        self.start_timeout = limit;
        self
    }

    /// A refused configuration exits with exactly `code`.
    pub fn with_exit_code(mut self, code: i32) -> Self {
        self.exit_code = Some(code);
        self
    }

    /// The example prints `text` on stdout once it serves, never before refusing a configuration.
    pub fn with_serving_log(mut self, text: &'static str) -> Self {
        self.serving_log = Some(text);
        self
    }

    pub fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    /// The example without its variables from the test's own environment (nor `RUST_LOG`).
    pub fn bare_command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        for name in self.vars {
            match name.strip_suffix('*') {
                Some(prefix) => {
                    for (set, _) in std::env::vars_os() {
                        if set.to_str().is_some_and(|set| set.starts_with(prefix)) {
                            command.env_remove(set);
                        }
                    }
                }
                None => {
                    command.env_remove(name);
                }
            }
        }
        command.env_remove("RUST_LOG");
        // A panic would print a backtrace: more than the one line a misconfiguration may print.
        command.env("RUST_BACKTRACE", "1");
        command
    }

    /// The example with exactly these settings, `LISTEN_ADDR` set to `addr` unless `env` gives it.
    pub fn command(&self, env: &[(&str, &str)], addr: SocketAddr) -> Command {
        let mut command = self.bare_command();
        command.env("LISTEN_ADDR", addr.to_string());
        command.envs(env.iter().copied());
        command
    }

    /// The example, running and accepting connections; killed when dropped.
    #[track_caller]
    pub fn start(&self, env: &[(&str, &str)]) -> Running {
        let addr = free_addr();
        self.start_command(
            &mut self.command(env, addr),
            &format!("accept connections on {addr}"),
            Duration::from_millis(25),
            |_| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .is_ok()
                    .then_some(addr)
            },
        )
    }

    /// Spawns `command` and polls `ready` (every `poll`, within the start timeout) for the address the
    /// example serves on; panics with its output if it exits first or is not ready in time.
    #[track_caller]
    pub fn start_command(
        &self,
        command: &mut Command,
        what: &str,
        poll: Duration,
        mut ready: impl FnMut(&ChildGuard) -> Option<SocketAddr>,
    ) -> Running {
        let mut process = ChildGuard::spawn(command);
        let deadline = Instant::now() + self.start_timeout;
        loop {
            if let Some(addr) = ready(&process) {
                return Running { process, addr };
            }
            if let Some(status) = process.exited() {
                let (stdout, stderr) = process.finish();
                panic!(
                    "{} exited ({status}) instead of serving:\n{stderr}\n{stdout}",
                    self.name
                );
            }
            if Instant::now() >= deadline {
                let (stdout, stderr) = process.finish();
                panic!(
                    "{} did not {what} within {:?}:\n{stderr}\n{stdout}",
                    self.name, self.start_timeout
                );
            }
            thread::sleep(poll);
        }
    }

    /// Runs the example with `env`, which must make it refuse to start: waits (bounded) for it to exit.
    #[track_caller]
    pub fn start_fails(&self, env: &[(&str, &str)]) -> Failure {
        self.command_fails(
            &mut self.command(env, free_addr()),
            &format!("with {env:?}"),
        )
    }

    /// Runs `command`, which must make the example refuse to start: waits (bounded) for it to exit.
    #[track_caller]
    pub fn command_fails(&self, command: &mut Command, what: &str) -> Failure {
        let started = Instant::now();
        let mut process = ChildGuard::spawn(command);
        let status = process.wait_for_exit(self.start_timeout);
        let elapsed = started.elapsed();
        let (stdout, stderr) = process.finish();
        let Some(status) = status else {
            panic!(
                "{what}, {} kept running for {:?} instead of refusing the configuration\nstderr: {stderr}\nstdout: {stdout}",
                self.name, self.start_timeout
            );
        };
        Failure {
            prefix: format!("{}: ", self.name),
            exit_code: self.exit_code,
            serving_log: self.serving_log,
            status,
            stdout,
            stderr,
            elapsed,
        }
    }
}

/// A running example.
pub struct Running {
    process: ChildGuard,
    pub addr: SocketAddr,
}

/// How a running example ended after Ctrl-C.
pub struct Stopped {
    /// `None`: still running after the limit (then killed).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    /// Sends SIGINT (what Ctrl-C sends) and waits at most `limit` for the process to exit.
    #[cfg(unix)]
    pub fn interrupt(mut self, limit: Duration) -> Stopped {
        // The shell's builtin `kill`: no extra package, no unsafe code.
        let sent = Command::new("sh")
            .arg("-c")
            .arg("kill -INT \"$1\"")
            .arg("sh")
            .arg(self.process.id().to_string())
            .status()
            .expect("run sh");
        assert!(sent.success(), "kill -INT failed: {sent}");
        let status = self.process.wait_for_exit(limit);
        let (stdout, stderr) = self.process.finish();
        Stopped {
            status,
            stdout,
            stderr,
        }
    }

    /// What the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.process.stdout()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Kills the process and returns what it wrote.
    pub fn output(self) -> (String, String) {
        self.process.finish()
    }
}

/// What a misconfigured example did.
pub struct Failure {
    prefix: String,
    exit_code: Option<i32>,
    serving_log: Option<&'static str>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Failure {
    /// Non-zero exit (the example's promised code, if any), quickly, with exactly one line on stderr,
    /// prefixed with the example's name, that names every one of `words`; and never a word that it served.
    #[track_caller]
    pub fn assert_one_line(&self, words: &[&str]) -> &str {
        assert!(!self.status.success(), "exit status {}", self.status);
        assert!(
            self.status.code().is_some(),
            "killed by a signal ({}), not an orderly exit; stderr: {}",
            self.status,
            self.stderr
        );
        if let Some(code) = self.exit_code {
            assert_eq!(self.status.code(), Some(code), "stderr: {}", self.stderr);
        }
        assert!(
            self.elapsed < QUICK_EXIT,
            "took {:?} to refuse the configuration",
            self.elapsed
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "panic instead of an error message:\n{}",
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stderr, got {lines:#?}"
        );
        assert!(self.stderr.ends_with('\n'), "{:?}", self.stderr);
        let line = lines[0];
        assert!(line.starts_with(&self.prefix), "{line:?}");
        assert!(line.len() > self.prefix.len() + 10, "{line:?}");
        for word in words {
            assert!(line.contains(word), "{line:?} should mention {word:?}");
        }
        if let Some(serving) = self.serving_log {
            assert!(
                !self.stdout.contains(serving),
                "it served before failing: {}",
                self.stdout
            );
        }
        line
    }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP/1.1 over a raw TCP stream.

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

    /// The `WWW-Authenticate` header, or "".
    pub fn challenge(&self) -> &str {
        self.header("www-authenticate").unwrap_or("")
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

/// A connection to `addr` whose connect, reads and writes each give up after `timeout`.
pub fn connect(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, timeout).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream
}

/// The request's bytes: `Host` (unless `headers` has one) after `first_headers`, then `headers`, and a
/// `Content-Length` with the body.
fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    first_headers: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut request = format!("{method} {path} HTTP/1.1\r\n{first_headers}");
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
    bytes
}

/// One exchange on a new connection (`Connection: close`), reading the response to its end; each step
/// bounded by `timeout`.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> HttpResponse {
    let mut stream = connect(addr, timeout);
    let request = request_bytes(addr, method, path, "Connection: close\r\n", headers, body);
    stream.write_all(&request).expect("send request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("reading the response to {method} {path}: {e}"));
    parse_response(&raw)
}

/// Sends one request on `stream` and reads exactly one response (by its `content-length`), leaving the
/// connection open unless the request says `Connection: close`.
pub fn exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let addr = stream.peer_addr().unwrap();
    let request = request_bytes(addr, method, path, "", headers, None);
    stream.write_all(&request).expect("send request");

    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).expect("read the response head");
        assert!(n > 0, "connection closed mid-head: {raw:?}");
        raw.extend_from_slice(&chunk[..n]);
    };
    let (head, status, headers) = parse_head(&raw[..head_end]);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().expect("content-length"))
        .unwrap_or_else(|| panic!("every response of the example has a content-length: {head}"));
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).expect("read the body");
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), length, "more bytes than the content-length");
    HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

/// The head (without its final blank line): itself, the status and the headers.
fn parse_head(head: &[u8]) -> (&str, u16, Vec<(String, String)>) {
    let head = std::str::from_utf8(head).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().expect("status code");
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    (head, status, headers)
}

/// A whole response (the connection closed after it): chunked or by `content-length`.
fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let (_, status, headers) = parse_head(&raw[..split]);
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

// ---------------------------------------------------------------------------------------------------------
// examples/auth_server (tests/example_auth_server.rs and tests/browser_auth_server.rs): started with a
// database in a fresh temporary directory, its address read from its log.

pub mod auth_server {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;

    use serde_json::Value;

    use super::{Example, Running, http_request};
    pub use super::{Failure, HttpResponse};

    /// How long the example may take to start listening (it hashes one dummy password first), or to exit
    /// on a bad configuration.
    pub const START_TIMEOUT: Duration = Duration::from_secs(20);
    /// Read/write timeout of one HTTP exchange (a debug build hashes a password in about half a second).
    const IO_TIMEOUT: Duration = Duration::from_secs(20);

    /// A 32-byte secret.
    pub const SECRET: &str = "auth-server-test-secret-32-bytes";

    /// Environment variables the example reads: removed from the child's environment unless a test sets
    /// them.
    const EXAMPLE_VARS: [&str; 7] = [
        "BETTER_AUTH_SECRET",
        "DATABASE_URL",
        "LISTEN_ADDR",
        "PUBLIC_URL",
        "CSRF_ALLOWED_ORIGINS",
        "RUST_LOG",
        "RUST_LIB_BACKTRACE",
    ];

    /// Built once per test binary.
    fn example() -> &'static Example {
        static EXAMPLE: OnceLock<Example> = OnceLock::new();
        EXAMPLE.get_or_init(|| {
            Example::build("auth_server", &EXAMPLE_VARS)
                .with_start_timeout(START_TIMEOUT)
                .with_exit_code(1)
                .with_serving_log("listening on")
        })
    }

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

    /// The example (built first, if needed) with exactly these settings and arguments, in `dir`.
    pub fn example_command(env: &[(&str, &str)], args: &[&str], dir: &Path) -> Command {
        let mut command = example().bare_command();
        command.current_dir(dir);
        command.envs(env.iter().copied());
        command.args(args);
        command
    }

    /// The example, running and accepting connections; killed when dropped.
    pub struct AuthServer {
        running: Running,
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
            let running = example().start_command(
                &mut example_command(&full, args, dir.path()),
                "log its address",
                Duration::from_millis(20),
                |process| listening_addr(&process.stdout()),
            );
            Self {
                addr: running.addr,
                running,
                exchanges: Mutex::new(Vec::new()),
                _dir: Some(dir),
            }
        }

        /// `http://127.0.0.1:port`.
        pub fn origin(&self) -> String {
            format!("http://{}", self.addr)
        }

        pub fn stdout(&self) -> String {
            self.running.stdout()
        }

        pub fn stderr(&self) -> String {
            self.running.stderr()
        }

        /// Kills the server and returns its stdout and stderr.
        pub fn finish(self) -> (String, String) {
            self.running.output()
        }

        /// One HTTP/1.1 exchange on a new connection.
        pub fn request(
            &self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: Option<&[u8]>,
        ) -> HttpResponse {
            let response = http_request(self.addr, method, path, headers, body, IO_TIMEOUT);
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
        pub fn post_json(
            &self,
            path: &str,
            body: &Value,
            headers: &[(&str, &str)],
        ) -> HttpResponse {
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

    /// Runs the example with exactly `env` and `args` (no defaults but `LISTEN_ADDR=127.0.0.1:0`), which
    /// must make it refuse to start; [`Failure::assert_one_line`] also checks it exits with 1 and never
    /// logged that it listens.
    #[track_caller]
    pub fn start_fails(env: &[(&str, &str)], args: &[&str]) -> Failure {
        let dir = TempDir::new("auth-server-fails");
        let mut full: Vec<(&str, &str)> = vec![("LISTEN_ADDR", "127.0.0.1:0")];
        full.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
        full.extend_from_slice(env);
        let mut command = example_command(&full, args, dir.path()); // builds the example first, if needed
        example().command_fails(&mut command, &format!("with {env:?} {args:?}"))
    }
}
