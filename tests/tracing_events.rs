//! With the `tracing` feature, every refusal emits exactly one debug event naming the reason and the kid,
//! and never the token.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use jsonwebtoken::Algorithm;
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

/// Collects formatted events in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `requests` with a debug-level subscriber that writes into the returned capture.
fn capture_events(requests: impl std::future::Future<Output = ()>) -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(requests));
    captured
}

#[test]
fn one_debug_event_per_refusal_with_reason_and_kid_never_the_token() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("k1"))
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let mut expired = claims();
    expired["exp"] = serde_json::json!(now() - 3600);
    let expired = token(Algorithm::HS256, &expired, Some("k1"));
    let unknown_kid = token(Algorithm::HS256, &claims(), Some("no-such-key"));
    let valid = token(Algorithm::HS256, &claims(), Some("k1"));

    let captured = capture_events(async {
        run(&layer, bearer(&expired)).await.assert_invalid_token();
        run(&layer, bearer(&unknown_kid))
            .await
            .assert_invalid_token();
        run(&layer, bearer(&valid)).await.assert_ok();
    });

    let lines = captured.lines();
    assert_eq!(
        lines.len(),
        2,
        "one event per refusal, none for the accepted token: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("DEBUG") && l.contains("JWT refused")),
        "{lines:#?}"
    );
    assert!(
        lines[0].contains("the token has expired") && lines[0].contains(r#"kid=Some("k1")"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("unknown key") && lines[1].contains(r#"kid=Some("no-such-key")"#),
        "{}",
        lines[1]
    );
    for (line, token) in lines.iter().zip([&expired, &unknown_kid]) {
        for segment in token.split('.') {
            assert!(
                !line.contains(&segment[..segment.len().min(12)]),
                "the token leaked: {line}"
            );
        }
    }
}

#[test]
fn a_claims_check_that_fails_on_a_cache_hit_logs_the_kid() {
    // Passes while the token is verified (and cached), fails on the hit that follows.
    let revoked = Arc::new(AtomicBool::new(false));
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap().with_kid("k1"))
        .audience(AUDIENCE)
        .check_claims({
            let revoked = revoked.clone();
            move |_| !revoked.load(Ordering::SeqCst)
        })
        .build()
        .unwrap();
    let valid = token(Algorithm::HS256, &claims(), Some("k1"));

    let captured = capture_events(async {
        run(&layer, bearer(&valid)).await.assert_ok();
        revoked.store(true, Ordering::SeqCst);
        run(&layer, bearer(&valid))
            .await
            .assert_refused(403, Some("insufficient_scope"));
    });

    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("JWT refused") && lines[0].contains(r#"kid=Some("k1")"#),
        "{}",
        lines[0]
    );
}
