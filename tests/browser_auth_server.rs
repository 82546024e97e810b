//! `examples/auth_server`'s page in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` through `tests/browser/browser.mjs`) signs up, signs in, sees its own email, cannot
//! read the token from `document.cookie`, survives a cross-origin attack, signs out and is then refused.
//!
//! The attack: a page served by a second server on another port of 127.0.0.1 (another origin, but the same
//! site, so `SameSite=Lax` still lets the browser send the cookie) POSTs to the victim's sign-out with the
//! cookie, by `fetch(…, {mode: "no-cors", credentials: "include"})` and by a plain form. The test checks
//! that the cookie was sent, that the server answered 403 (in the browser's network log and in the
//! server's own request log), and that the session still works afterwards. Without the layer's cross-site
//! check, both POSTs would be 204, the cookie would be cleared and the victim's next "who am I" refused.
//!
//! Run `tests/browser/install.sh` first (CI does).

#[path = "support/example_process.rs"]
mod example_process;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use example_process::ChildGuard;
use example_process::auth_server::AuthServer;
use serde_json::{Value, json};

/// The browser script bounds itself at 90 s; this is the outer bound.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(150);

/// Serves the attacker's page on 127.0.0.1 until dropped.
struct AttackerServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl AttackerServer {
    fn start(victim: &str) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let page = attacker_page(victim);
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            stream
                                .set_read_timeout(Some(Duration::from_secs(5)))
                                .unwrap();
                            let mut reader = BufReader::new(stream);
                            let mut request_line = String::new();
                            if reader.read_line(&mut request_line).is_err() {
                                continue;
                            }
                            // The rest of the head.
                            let mut line = String::new();
                            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                                line.clear();
                            }
                            let (status, body) = if request_line.starts_with("GET / ") {
                                served.fetch_add(1, Ordering::Relaxed);
                                ("200 OK", page.as_str())
                            } else {
                                ("404 Not Found", "")
                            };
                            let mut stream = reader.into_inner();
                            let _ = write!(
                                stream,
                                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(10));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            served,
            thread: Some(thread),
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for AttackerServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// On load, a no-cors credentialed POST to the victim's sign-out and an attempt to read its `/me`; a form
/// that POSTs to the sign-out when clicked.
fn attacker_page(victim: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>You won!</title></head>
<body>
<form id="csrf" method="POST" action="{victim}/api/auth/signout"><button id="go" type="submit">Claim your prize</button></form>
<pre id="result"></pre>
<script>
(async () => {{
  const victim = "{victim}";
  const out = {{}};
  try {{
    const r = await fetch(victim + "/api/auth/signout", {{ method: "POST", mode: "no-cors", credentials: "include" }});
    out.noCors = r.type;
  }} catch (e) {{ out.noCors = "error " + e.name; }}
  try {{
    const r = await fetch(victim + "/api/auth/me", {{ credentials: "include" }});
    out.readMe = "read " + (await r.text());
  }} catch (e) {{ out.readMe = "error " + e.name; }}
  document.getElementById("result").textContent = JSON.stringify(out);
  document.body.dataset.done = "1";
}})();
</script>
</body></html>
"#
    )
}

#[test]
#[ignore = "needs chromium and playwright-core (tests/browser/install.sh)"]
fn browser_signs_up_in_out_and_resists_a_cross_origin_post() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "run tests/browser/install.sh first"
    );
    // The layer's debug events name each refusal's reason (never the token).
    let server = AuthServer::start(&[("RUST_LOG", "info,tower_jwt_auth=debug")]);
    let victim = server.origin();
    let attacker = AttackerServer::start(&victim);
    assert_ne!(attacker.addr.port(), server.addr.port());

    let mut browser = ChildGuard::spawn(
        Command::new("node")
            .arg("browser.mjs")
            .arg(&victim)
            .arg(attacker.origin())
            .current_dir(&dir),
    );
    let started = Instant::now();
    let status = browser.wait_for_exit(BROWSER_TIMEOUT);
    let (stdout, stderr) = browser.finish();
    let status = status.unwrap_or_else(|| {
        panic!("the browser script ran over {BROWSER_TIMEOUT:?}:\n{stdout}\n{stderr}")
    });
    assert!(
        status.success(),
        "browser.mjs failed ({status}) after {:?}:\n{stdout}\n{stderr}",
        started.elapsed()
    );
    let result: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).expect("RESULT is JSON"))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}\n{stderr}"));
    let (server_log, _) = server.finish();
    let context = format!("{result:#}\n--- server log ---\n{server_log}");

    // The page's own flow.
    assert_eq!(result["signup"]["status"], 201, "{context}");
    assert_eq!(
        result["signup"]["body"]["email"], "browser@example.com",
        "{context}"
    );
    assert_eq!(result["signin"]["status"], 200, "{context}");
    assert_eq!(
        result["signin"]["body"]["user"]["email"], "browser@example.com",
        "{context}"
    );
    assert_eq!(result["me"]["status"], 200, "{context}");
    assert_eq!(
        result["me"]["body"]["email"], "browser@example.com",
        "{context}"
    );
    assert_eq!(result["me"]["body"]["name"], "Browser User", "{context}");

    // The cookie is there, HttpOnly and Lax, and invisible to scripts.
    assert_eq!(
        result["cookies"],
        json!([{"name": "auth_token", "httpOnly": true, "sameSite": "Lax", "path": "/", "secure": false, "looksLikeJwt": true}]),
        "{context}"
    );
    assert_eq!(result["documentCookie"], "", "{context}");
    assert_eq!(result["tokenInPage"], false, "{context}");

    // The attack: the attacker's page was served and its script ran.
    assert!(attacker.served.load(Ordering::Relaxed) >= 1, "{context}");
    assert_eq!(result["attackScript"]["noCors"], "opaque", "{context}");
    // Reading the victim's /me from another origin fails (no CORS), whatever the server answered.
    assert_eq!(
        result["attackScript"]["readMe"], "error TypeError",
        "{context}"
    );
    // Both cross-origin POSTs were refused by the server's cross-site check, which only runs when the
    // request carries the cookie: without it the answer would be 401 "unauthorized", not this 403. (So
    // SameSite=Lax did not stop the cookie: same site, another origin.)
    let requests = result["signoutRequests"].as_array().unwrap();
    let attacks: Vec<&Value> = requests.iter().filter(|r| r["phase"] == "attack").collect();
    assert_eq!(attacks.len(), 2, "{context}");
    let refusal = json!({"error": "cross_site_request", "error_description": "cross-site request refused: a cookie credential needs a same-origin request"});
    for attack in &attacks {
        assert_eq!(attack["method"], "POST", "{context}");
        assert_eq!(attack["status"], 403, "{context}");
        // Where the browser reports the body (not for an opaque no-cors response), the cookies and the
        // origin, they say the same; the server's log below covers both requests.
        if let Some(body) = attack["body"].as_str() {
            assert_eq!(
                serde_json::from_str::<Value>(body).unwrap(),
                refusal,
                "{context}"
            );
        }
        assert_ne!(attack["sentCookie"], false, "{context}");
        assert!(
            [Value::Null, json!(attacker.origin())].contains(&attack["origin"]),
            "{context}"
        );
    }
    let kinds: Vec<&str> = attacks
        .iter()
        .map(|a| a["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fetch", "document"], "{context}");
    // The form navigation: Chromium reports its cookie, origin and site. Its response body in the network
    // log can be gone by the time it is read (the page has navigated), so the body is checked below from
    // the navigation's own response (`formPost`).
    assert_eq!(attacks[1]["sentCookie"], true, "{context}");
    assert_eq!(attacks[1]["origin"], json!(attacker.origin()), "{context}");
    assert_eq!(attacks[1]["secFetchSite"], "same-site", "{context}");
    assert_eq!(result["formPost"]["status"], 403, "{context}");
    assert_eq!(
        serde_json::from_str::<Value>(result["formPost"]["body"].as_str().unwrap()).unwrap(),
        refusal,
        "{context}"
    );
    // The session survived.
    assert_eq!(result["meAfterAttack"]["status"], 200, "{context}");
    assert_eq!(
        result["meAfterAttack"]["body"]["email"], "browser@example.com",
        "{context}"
    );

    // Signing out from the page itself works, then the page is refused.
    assert_eq!(result["signout"]["status"], 204, "{context}");
    let own: Vec<&Value> = requests.iter().filter(|r| r["phase"] == "victim").collect();
    assert_eq!(own.len(), 1, "{context}");
    assert_eq!(own[0]["sentCookie"], true, "{context}");
    assert_eq!(own[0]["origin"], json!(victim), "{context}");
    assert_eq!(own[0]["secFetchSite"], "same-origin", "{context}");
    assert_eq!(own[0]["status"], 204, "{context}");
    assert_eq!(result["cookiesAfterSignout"], json!([]), "{context}");
    assert_eq!(result["meAfterSignout"]["status"], 401, "{context}");

    // The server's own log: exactly two sign-outs refused as cross-site, one accepted.
    let count = |needle: &str| server_log.matches(needle).count();
    assert_eq!(count("POST /api/auth/signout -> 403"), 2, "{context}");
    assert_eq!(count("reason=cross-site request refused"), 2, "{context}");
    assert_eq!(count("JWT refused"), 3, "{context}"); // and the 401 after signing out
    assert_eq!(count("POST /api/auth/signout -> 204"), 1, "{context}");
    assert_eq!(count("POST /api/auth/signup -> 201"), 1, "{context}");
    assert_eq!(count("POST /api/auth/signin -> 200"), 1, "{context}");
}
