//! Running an example of this crate as a real process: built with cargo, configured only by the environment
//! a test gives it, on a free port of 127.0.0.1, and killed by a guard when the test ends (pass or panic).
//! Every wait is bounded.
#![allow(dead_code)]

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long an example may take to start listening, or to exit on a bad configuration.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A misconfigured example must say so and exit at once, not after this.
pub const QUICK_EXIT: Duration = Duration::from_secs(5);
/// How long `cargo build --example …` may take (a cold build compiles aws-lc).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// Owns a child process; kills and reaps it when dropped, whatever happened in the test.
pub struct ChildGuard {
    child: Child,
    stdout: Collector,
    stderr: Collector,
}

impl ChildGuard {
    /// Spawns `command` with its stdout and stderr collected in the background.
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
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

/// A port nobody listens on (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap()
}

/// A built example and the environment variables it reads.
pub struct Example {
    name: &'static str,
    binary: PathBuf,
    /// Removed from the child's environment unless a test sets them, so the developer's own settings
    /// never leak into a case.
    vars: &'static [&'static str],
}

impl Example {
    /// Builds `examples/{name}.rs` with the package's default features (and its dev-dependencies).
    pub fn build(name: &'static str, vars: &'static [&'static str]) -> Self {
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
        Self { name, binary, vars }
    }

    /// The example with exactly these settings, `LISTEN_ADDR` set to `addr` unless `env` gives it.
    pub fn command(&self, env: &[(&str, &str)], addr: SocketAddr) -> Command {
        let mut command = Command::new(&self.binary);
        for name in self.vars {
            command.env_remove(name);
        }
        command.env_remove("RUST_LOG");
        // A panic would print a backtrace: more than the one line a misconfiguration may print.
        command.env("RUST_BACKTRACE", "1");
        command.env("LISTEN_ADDR", addr.to_string());
        command.envs(env.iter().copied());
        command
    }

    /// The example, running and accepting connections; killed when dropped.
    #[track_caller]
    pub fn start(&self, env: &[(&str, &str)]) -> Running {
        let addr = free_addr();
        let mut process = ChildGuard::spawn(&mut self.command(env, addr));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = process.exited() {
                let (stdout, stderr) = process.finish();
                panic!(
                    "{} exited ({status}) instead of serving:\n{stderr}\n{stdout}",
                    self.name
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Running { process, addr };
            }
            if Instant::now() >= deadline {
                let (stdout, stderr) = process.finish();
                panic!(
                    "{} did not accept connections on {addr} within {START_TIMEOUT:?}:\n{stderr}\n{stdout}",
                    self.name
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs the example with `env`, which must make it refuse to start: waits (bounded) for it to exit.
    #[track_caller]
    pub fn start_fails(&self, env: &[(&str, &str)]) -> Failure {
        let mut command = self.command(env, free_addr());
        let started = Instant::now();
        let mut process = ChildGuard::spawn(&mut command);
        let status = process.wait_for_exit(START_TIMEOUT);
        let elapsed = started.elapsed();
        let (stdout, stderr) = process.finish();
        let Some(status) = status else {
            panic!(
                "with {env:?}, {} kept running for {START_TIMEOUT:?} instead of refusing the configuration\nstderr: {stderr}\nstdout: {stdout}",
                self.name
            );
        };
        Failure {
            prefix: format!("{}: ", self.name),
            status,
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

    /// Kills the process and returns what it wrote.
    pub fn output(self) -> (String, String) {
        self.process.finish()
    }
}

/// What a misconfigured example did.
pub struct Failure {
    prefix: String,
    pub status: ExitStatus,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Failure {
    /// Non-zero exit, quickly, with exactly one line on stderr, prefixed with the example's name, that names
    /// every one of `words`.
    #[track_caller]
    pub fn assert_one_line(&self, words: &[&str]) -> &str {
        assert!(!self.status.success(), "exit status {}", self.status);
        assert!(
            self.status.code().is_some(),
            "killed by a signal ({}), not an orderly exit; stderr: {}",
            self.status,
            self.stderr
        );
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
        line
    }
}
