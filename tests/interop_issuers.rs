//! Interop with the JWT libraries people run: Node `jose` and `jsonwebtoken`, Python `PyJWT`, at the versions
//! pinned in `tests/interop/issuers/` (package-lock.json, requirements.txt).
//!
//! - Their tokens verify here: each library generates its own keys, exports the public halves (SPKI PEM,
//!   JWK set) and signs tokens for every algorithm this crate verifies (HS256/384/512, RS256/384/512,
//!   PS256/384/512, ES256/384, EdDSA; `jsonwebtoken` has no EdDSA). Every token passes the layer with its
//!   claims; the same token with one byte changed in its signature or its payload is refused.
//! - Ours verify there: tokens from [`Issuer`] for every algorithm it issues verify in jose, jsonwebtoken and
//!   PyJWT, with the PEM public key, the secret, and the JWK set the issuer publishes.
//!
//! Needs node 20+ and python 3 with the packages: `tests/interop/issuers/install.sh`, then
//! `cargo test --test interop_issuers -- --include-ignored`.
//!
//! The scripts run as child processes, each killed by a guard when its test ends, each waited for at most
//! [`SCRIPT_TIMEOUT`].

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Outcome, bearer, now, run};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_jwt_auth::{Algorithm, IssuedToken, Issuer, JwtAuthLayer, Key, KeySet, RegisteredClaims};

/// How long one script may run (RSA key generation included; they take about a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

const ISS: &str = "https://issuer.interop.test";
const AUD: &str = "https://api.interop.test";
const EMAIL: &str = "ada@example.com";
/// Lifetime of the tokens the libraries mint (`exp - iat`).
const MINT_TTL: u64 = 600;

/// Every algorithm the crate verifies (ES512 is refused by design: jsonwebtoken cannot verify it).
const ALGS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

// ---------------------------------------------------------------------------------------------------------
// Running the scripts.

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/issuers")
}

/// The exact version `name` is pinned to in package.json or requirements.txt.
fn pinned(name: &str) -> String {
    let dir = harness_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("package.json")).unwrap()).unwrap();
    if let Some(version) = manifest["dependencies"][name].as_str() {
        return version.to_owned();
    }
    let requirements = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    requirements
        .lines()
        .filter_map(|line| line.split('#').next()?.trim().split_once("=="))
        .find(|(package, _)| package.split('[').next() == Some(name))
        .map(|(_, version)| version.trim().to_owned())
        .unwrap_or_else(|| panic!("{name} is not pinned in package.json or requirements.txt"))
}

/// Node, after checking that the npm packages are installed at their pinned versions.
fn node() -> Command {
    let dir = harness_dir();
    for package in ["jose", "jsonwebtoken"] {
        let installed = std::fs::read(dir.join(format!("node_modules/{package}/package.json")))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|manifest| manifest["version"].as_str().map(str::to_owned));
        let want = pinned(package);
        match installed {
            Some(version) if version == want => {}
            Some(version) => panic!(
                "{package} {version} is installed in {}, {want} is pinned: run tests/interop/issuers/install.sh",
                dir.display()
            ),
            None => panic!(
                "the npm packages are not installed in {}: run tests/interop/issuers/install.sh (needs node 20+ and npm)",
                dir.display()
            ),
        }
    }
    let mut command = Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()));
    command.current_dir(dir);
    command
}

/// The virtual environment's python (its packages are checked by the scripts' reported versions).
fn python() -> Command {
    let dir = harness_dir();
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/interop/issuers/install.sh (needs python 3 with pip)",
        python.display()
    );
    let mut command = Command::new(python);
    command.current_dir(dir);
    command
}

/// Owns a child process; kills and reaps it when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` with `input` on its standard input; its standard output, which must be one JSON
/// document. Panics with its standard error when it fails or outlives [`SCRIPT_TIMEOUT`].
fn run_script(mut command: Command, input: &[u8]) -> Value {
    let description = format!("{command:?}");
    let mut guard = ChildGuard(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}")),
    );
    let mut stdin = guard.0.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropping stdin closes it: the script reads to its end.
    });
    let reader = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(guard.0.stdout.take().unwrap()));
    let stderr = reader(Box::new(guard.0.stderr.take().unwrap()));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // The guard kills it; the pipes close and the reader threads end.
            drop(guard);
            panic!("{description} did not finish within {SCRIPT_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    let stdout = stdout.join().unwrap();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert!(
        status.success(),
        "{description} failed ({status}):\n{stderr}"
    );
    serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "{description} printed no JSON document ({e}):\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&stdout)
        )
    })
}

// ---------------------------------------------------------------------------------------------------------
// Part 1: their tokens, our layer.

/// One token a library minted, with the key to verify it.
#[derive(Debug, Deserialize)]
struct MintedCase {
    lib: String,
    alg: String,
    /// `secret` (base64url), `pem` (SPKI) or `jwks` (the library's JWK set).
    key_format: String,
    kid: Option<String>,
    key: String,
    token: String,
}

#[derive(Debug, Deserialize)]
struct Minted {
    lib: String,
    version: String,
    cases: Vec<MintedCase>,
}

fn mint_settings() -> String {
    json!({"iss": ISS, "aud": AUD, "ttl": MINT_TTL, "email": EMAIL}).to_string()
}

/// Runs the library's mint script; checks it reports the pinned version.
fn mint(lib: &str) -> Minted {
    let command = match lib {
        "jose" | "jsonwebtoken" => {
            let mut command = node();
            command.args(["mint.mjs", lib, &mint_settings()]);
            command
        }
        "pyjwt" => {
            let mut command = python();
            command.args(["mint.py", &mint_settings()]);
            command
        }
        other => panic!("no mint script for {other}"),
    };
    let minted: Minted = serde_json::from_value(run_script(command, b"")).unwrap();
    assert_eq!(minted.lib, lib);
    let package = if lib == "pyjwt" { "PyJWT" } else { lib };
    assert_eq!(
        minted.version,
        pinned(package),
        "{lib}: the installed version is not the pinned one: run tests/interop/issuers/install.sh"
    );
    minted
}

/// The algorithms a library can sign: all of [`ALGS`], except EdDSA for node `jsonwebtoken` (9.x signs
/// through `jws`/`jwa`, which have no EdDSA).
fn algs_of(lib: &str) -> Vec<&'static str> {
    ALGS.iter()
        .copied()
        .filter(|&alg| !(lib == "jsonwebtoken" && alg == "EdDSA"))
        .collect()
}

fn is_hmac(alg: &str) -> bool {
    alg.starts_with("HS")
}

/// The (alg, key format) pairs a library's mint must produce: a secret for HMAC, PEM and JWK set for the rest.
fn expected_cases(lib: &str) -> BTreeSet<(String, String)> {
    let mut cases = BTreeSet::new();
    for alg in algs_of(lib) {
        let formats: &[&str] = if is_hmac(alg) {
            &["secret"]
        } else {
            &["pem", "jwks"]
        };
        for format in formats {
            cases.insert((alg.to_owned(), (*format).to_owned()));
        }
    }
    cases
}

fn algorithm(name: &str) -> Algorithm {
    Algorithm::from_str(name).unwrap_or_else(|_| panic!("unknown algorithm {name}"))
}

fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three segments: {token}");
    [parts[0], parts[1], parts[2]]
}

fn decode(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|e| panic!("not base64url ({e}): {segment}"))
}

/// The token's payload, decoded without verification.
fn payload_of(token: &str) -> Value {
    serde_json::from_slice(&decode(segments(token)[1])).unwrap()
}

/// `token` with segment `index` (1 payload, 2 signature) decoded, one byte changed by `change`, encoded
/// again: still canonical base64url (no trailing-bit games), exactly one decoded byte different.
fn with_byte_changed(
    token: &str,
    index: usize,
    position: usize,
    change: impl Fn(u8) -> u8,
) -> String {
    let mut parts = segments(token).map(str::to_owned);
    let mut bytes = decode(&parts[index]);
    let before = bytes[position];
    bytes[position] = change(before);
    assert_ne!(bytes[position], before, "the change must change the byte");
    parts[index] = URL_SAFE_NO_PAD.encode(&bytes);
    let altered = parts.join(".");
    let original = decode(segments(token)[index]);
    let differing = original
        .iter()
        .zip(decode(segments(&altered)[index]))
        .filter(|(a, b)| *a != b)
        .count();
    assert_eq!(differing, 1);
    assert_ne!(altered, token);
    altered
}

/// The signature with its lowest bit flipped at the first, a middle and the last byte.
fn signature_flips(token: &str) -> Vec<(String, String)> {
    let len = decode(segments(token)[2]).len();
    [0, len / 2, len - 1]
        .into_iter()
        .map(|position| {
            (
                format!("signature byte {position} of {len}"),
                with_byte_changed(token, 2, position, |b| b ^ 0x01),
            )
        })
        .collect()
}

/// One-byte payload changes that leave claims the layer would accept if the token were unsigned: a letter
/// of `sub`, and the last digit of `exp` (one second more or less). So only the signature can refuse them.
fn payload_flips(token: &str, sub: &str) -> Vec<(String, String)> {
    let payload = decode(segments(token)[1]);
    let find = |needle: &[u8]| -> Vec<usize> {
        payload
            .windows(needle.len())
            .enumerate()
            .filter(|(_, window)| *window == needle)
            .map(|(i, _)| i)
            .collect()
    };
    let quoted_sub = format!("\"{sub}\"");
    let at = find(quoted_sub.as_bytes());
    assert_eq!(at.len(), 1, "sub {sub:?} once in the payload");
    // The first letter of the subject: l^1 is a letter again for the lowercase names used here.
    let sub_letter = at[0] + 1;
    let exp_at = find(b"\"exp\"");
    assert_eq!(exp_at.len(), 1, "one exp member");
    let mut digit = exp_at[0] + 5;
    while matches!(payload[digit], b':' | b' ') {
        digit += 1;
    }
    while payload[digit + 1].is_ascii_digit() {
        digit += 1;
    }
    assert!(payload[digit].is_ascii_digit());
    let flips = vec![
        (
            "payload: a letter of sub".to_owned(),
            with_byte_changed(token, 1, sub_letter, |b| b ^ 0x01),
        ),
        (
            "payload: the last digit of exp".to_owned(),
            with_byte_changed(token, 1, digit, |b| b ^ 0x01),
        ),
    ];
    for (what, altered) in &flips {
        let claims = payload_of(altered);
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp > now() + 60, "{what}: the altered claims stay valid");
        assert!(
            claims["sub"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: sub stays a string"
        );
    }
    flips
}

/// The layer for one minted case, configured from the key the library exported.
fn layer_for(case: &MintedCase) -> JwtAuthLayer<RegisteredClaims> {
    let alg = algorithm(&case.alg);
    let builder = JwtAuthLayer::<RegisteredClaims>::builder()
        .issuer(ISS)
        .audience(AUD);
    let builder = match case.key_format.as_str() {
        "secret" => builder.key(Key::hmac_base64(alg, &case.key).unwrap()),
        "pem" => builder.key(Key::from_pem(alg, &case.key).unwrap()),
        "jwks" => {
            let set = KeySet::from_jwks_json(&case.key).unwrap();
            assert!(
                set.skipped().is_empty(),
                "{}'s JWK set: entries skipped: {:?}",
                case.lib,
                set.skipped()
            );
            let asymmetric = algs_of(&case.lib).iter().filter(|a| !is_hmac(a)).count();
            assert_eq!(set.keys().len(), asymmetric, "{}'s JWK set", case.lib);
            builder.key_set(set)
        }
        other => panic!("unknown key format {other}"),
    };
    builder
        .build()
        .unwrap_or_else(|e| panic!("{} {} {}: {e}", case.lib, case.alg, case.key_format))
}

/// Mints with `lib`, then: every case present, every token accepted with its claims, every altered one
/// refused. Returns the number of cases checked.
async fn check_library(lib: &str) -> usize {
    let started = now();
    let minted = mint(lib);
    let got: BTreeSet<(String, String)> = minted
        .cases
        .iter()
        .map(|c| (c.alg.clone(), c.key_format.clone()))
        .collect();
    assert_eq!(
        minted.cases.len(),
        got.len(),
        "{lib}: duplicate cases in the mint output"
    );
    assert_eq!(got, expected_cases(lib), "{lib}: the matrix of cases");

    for case in &minted.cases {
        let label = format!("{} {} ({})", case.lib, case.alg, case.key_format);
        let header: Value = serde_json::from_slice(&decode(segments(&case.token)[0])).unwrap();
        assert_eq!(header["alg"], case.alg.as_str(), "{label}: header {header}");
        assert_eq!(
            header.get("kid").and_then(Value::as_str),
            case.kid.as_deref(),
            "{label}: the token names its key in a JWK set, and only there"
        );
        let payload = payload_of(&case.token);
        let sub = format!("{}-{}-{}", case.lib, case.alg, case.key_format);
        let layer = layer_for(case);

        let accepted: Outcome = run(&layer, bearer(&case.token)).await;
        accepted.assert_ok();
        let claims: Value = serde_json::from_str(&accepted.body).unwrap();
        assert_eq!(
            claims, payload,
            "{label}: the claims the service saw are the token's"
        );
        assert_eq!(claims["sub"], sub.as_str(), "{label}");
        assert_eq!(claims["iss"], ISS, "{label}");
        assert_eq!(claims["aud"], AUD, "{label}");
        assert_eq!(claims["email"], EMAIL, "{label}");
        let iat = claims["iat"].as_u64().unwrap();
        let exp = claims["exp"].as_u64().unwrap();
        assert_eq!(exp - iat, MINT_TTL, "{label}: exp - iat");
        assert!(
            iat + 5 >= started && iat <= now() + 5,
            "{label}: iat {iat} is now"
        );

        let mut altered = signature_flips(&case.token);
        altered.extend(payload_flips(&case.token, &sub));
        for (what, token) in &altered {
            let refused = run(&layer, bearer(token)).await;
            assert_eq!(
                refused.status, 401,
                "{label}, {what}: must be refused; body {}",
                refused.body
            );
            refused.assert_invalid_token();
            assert!(
                refused
                    .www_authenticate()
                    .contains("error_description=\"the token signature is invalid\""),
                "{label}, {what}: refused for its signature, not another reason: {}",
                refused.www_authenticate()
            );
        }
        // The original still passes after the refusals (nothing was poisoned).
        run(&layer, bearer(&case.token)).await.assert_ok();
    }
    minted.cases.len()
}

#[tokio::test]
#[ignore = "needs node and python packages in tests/interop/issuers (install.sh)"]
async fn jose_tokens_verify_and_altered_ones_do_not() {
    // 3 HMAC (secret) + 9 asymmetric × (PEM, JWK set).
    assert_eq!(check_library("jose").await, 21);
}

#[tokio::test]
#[ignore = "needs node and python packages in tests/interop/issuers (install.sh)"]
async fn node_jsonwebtoken_tokens_verify_and_altered_ones_do_not() {
    // 3 HMAC (secret) + 8 asymmetric × (PEM, JWK set): jsonwebtoken 9 has no EdDSA.
    assert_eq!(check_library("jsonwebtoken").await, 19);
}

#[tokio::test]
#[ignore = "needs node and python packages in tests/interop/issuers (install.sh)"]
async fn pyjwt_tokens_verify_and_altered_ones_do_not() {
    // 3 HMAC (secret) + 9 asymmetric × (PEM, JWK set).
    assert_eq!(check_library("pyjwt").await, 21);
}

#[test]
fn the_matrix_is_the_documented_one() {
    // Runs without the packages: the expected matrix itself cannot shrink unnoticed.
    let total: usize = ["jose", "jsonwebtoken", "pyjwt"]
        .iter()
        .map(|lib| expected_cases(lib).len())
        .sum();
    assert_eq!(total, 61);
    assert_eq!(algs_of("jose").len(), 12);
    assert_eq!(algs_of("jsonwebtoken").len(), 11);
}

// ---------------------------------------------------------------------------------------------------------
// Part 2: our tokens, their verifiers.

/// Claims the crate's issuer adds beside the registered ones.
fn our_extra() -> Value {
    json!({"email": EMAIL, "roles": ["reader", "writer"]})
}

/// A key for the crate's [`Issuer`], and the public half the verifiers get.
struct OurKey {
    alg: &'static str,
    /// Who generated it: `openssl` (the fixtures in tests/keys) or `jose` (keygen.mjs).
    source: &'static str,
    kind: OurKeyKind,
}

enum OurKeyKind {
    Secret(Vec<u8>),
    Pair {
        private_pem: String,
        public_pem: String,
    },
}

/// The fixtures of tests/keys (made with openssl, see its README): RS* with `rsa`, PS* with `rsa2`, and a
/// secret of the hash size for each HS*.
fn fixture_keys() -> Vec<OurKey> {
    ALGS.iter()
        .map(|&alg| {
            let pair = |name: &str| OurKeyKind::Pair {
                private_pem: common::key_text(&format!("{name}_private.pem")),
                public_pem: common::key_text(&format!("{name}_public.pem")),
            };
            let kind = match alg {
                "HS256" | "HS384" | "HS512" => {
                    let len: usize = alg[2..].parse::<usize>().unwrap() / 8;
                    OurKeyKind::Secret((0..len).map(|i| (i * 37 + len) as u8).collect())
                }
                "RS256" | "RS384" | "RS512" => pair("rsa"),
                "PS256" | "PS384" | "PS512" => pair("rsa2"),
                "ES256" => pair("ec256"),
                "ES384" => pair("ec384"),
                "EdDSA" => pair("ed25519"),
                other => panic!("no fixture for {other}"),
            };
            OurKey {
                alg,
                source: "openssl",
                kind,
            }
        })
        .collect()
}

/// Fresh keys from jose (generateKeyPair + exportPKCS8/exportSPKI, generateSecret): the crate reads the
/// private keys jose exports.
fn jose_keys() -> Vec<OurKey> {
    let mut command = node();
    command.arg("keygen.mjs");
    let generated = run_script(command, b"");
    assert_eq!(generated["version"], pinned("jose").as_str());
    ALGS.iter()
        .map(|&alg| {
            let key = &generated["keys"][alg];
            let text = |name: &str| {
                key[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("keygen.mjs: no {name} for {alg}"))
                    .to_owned()
            };
            let kind = if is_hmac(alg) {
                OurKeyKind::Secret(decode(&text("secret")))
            } else {
                OurKeyKind::Pair {
                    private_pem: text("private_pkcs8"),
                    public_pem: text("public_spki"),
                }
            };
            OurKey {
                alg,
                source: "jose",
                kind,
            }
        })
        .collect()
}

/// A token the crate issued, as it was issued.
struct Ours {
    id: String,
    alg: &'static str,
    issuer: Issuer,
    issued: IssuedToken,
    ttl: u64,
    key: OurKey,
}

/// One issuer per key, each with its own lifetime, and one token from each.
fn issue_ours(keys: Vec<OurKey>) -> Vec<Ours> {
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let alg = algorithm(key.alg);
            let ttl = 600 + 60 * i as u64;
            let issuer = match &key.kind {
                OurKeyKind::Secret(secret) => Issuer::hmac(alg, secret),
                OurKeyKind::Pair { private_pem, .. } => Issuer::from_pem(alg, private_pem),
            }
            .unwrap_or_else(|e| panic!("{} {}: {e}", key.source, key.alg))
            .issuer(ISS)
            .audience(AUD)
            .ttl(Duration::from_secs(ttl));
            let issued = issuer
                .issue(&format!("ours-{}", key.alg), &our_extra())
                .unwrap();
            Ours {
                id: format!("{}/{}", key.source, key.alg),
                alg: key.alg,
                issuer,
                issued,
                ttl,
                key,
            }
        })
        .collect()
}

/// The verifiers' input: each token as issued, with one signature byte changed, with one payload byte
/// changed (ids `…/signature`, `…/payload`), each with the issuer's JWK set, the PEM or the secret.
fn verifier_input(ours: &[Ours]) -> Vec<u8> {
    let mut cases = Vec::new();
    for our in ours {
        let token = &our.issued.token;
        let signature = signature_flips(token).swap_remove(1).1;
        let payload = payload_flips(token, &format!("ours-{}", our.alg))
            .swap_remove(0)
            .1;
        let (pem, secret) = match &our.key.kind {
            OurKeyKind::Secret(secret) => (None, Some(URL_SAFE_NO_PAD.encode(secret))),
            OurKeyKind::Pair { public_pem, .. } => (Some(public_pem.clone()), None),
        };
        let jwks = our.issuer.jwks_json();
        assert_eq!(
            jwks.is_some(),
            !is_hmac(our.alg),
            "{}: a JWK set for public keys only",
            our.id
        );
        for (suffix, token) in [
            ("", token),
            ("/signature", &signature),
            ("/payload", &payload),
        ] {
            cases.push(json!({
                "id": format!("{}{suffix}", our.id),
                "alg": our.alg,
                "token": token,
                "kid": our.issuer.key_id(),
                "jwks": jwks,
                "pem": pem,
                "secret": secret,
            }));
        }
    }
    serde_json::to_vec(&json!({"iss": ISS, "aud": AUD, "cases": cases})).unwrap()
}

/// The verification methods the scripts must report for a token of `alg` (see verify.mjs, verify.py).
fn methods_for(alg: &str, verifier: &str) -> Vec<&'static str> {
    let hmac = is_hmac(alg);
    match verifier {
        "node" if hmac => vec!["jose-secret", "jsonwebtoken-secret"],
        // jsonwebtoken 9 has no EdDSA.
        "node" if alg == "EdDSA" => vec!["jose-jwks", "jose-spki"],
        "node" => vec![
            "jose-jwks",
            "jose-spki",
            "jsonwebtoken-jwk",
            "jsonwebtoken-pem",
        ],
        "python" if hmac => vec!["pyjwt-secret"],
        "python" => vec!["pyjwt-jwks", "pyjwt-pem"],
        other => panic!("no verifier {other}"),
    }
}

/// The claims a verifier returned are exactly the ones issued.
fn check_our_claims(label: &str, our: &Ours, result: &Value) {
    let payload = &result["payload"];
    let issued = &our.issued;
    let mut expected = our_extra();
    expected["iss"] = json!(ISS);
    expected["aud"] = json!(AUD);
    expected["sub"] = json!(format!("ours-{}", our.alg));
    expected["iat"] = json!(issued.issued_at);
    expected["exp"] = json!(issued.expires_at);
    expected["jti"] = json!(issued.jti);
    assert_eq!(payload, &expected, "{label}: the claims round-trip");
    let exp = payload["exp"].as_u64().unwrap();
    let iat = payload["iat"].as_u64().unwrap();
    assert_eq!(exp - iat, our.ttl, "{label}: exp - iat is the issuer's ttl");
    assert_eq!(our.issuer.lifetime(), Duration::from_secs(our.ttl));

    let header = &result["header"];
    assert_eq!(header["alg"], our.alg, "{label}: header {header}");
    assert_eq!(header["typ"], "JWT", "{label}: header {header}");
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        our.issuer.key_id(),
        "{label}: header {header}"
    );
}

/// Runs a verifier script over our tokens; every expected method reports, the tokens as issued verify
/// with their claims, the altered ones are refused. Returns the number of verifications that succeeded.
fn check_verifier(verifier: &str, ours: &[Ours]) -> usize {
    let input = verifier_input(ours);
    let (command, versions) = match verifier {
        "node" => {
            let mut command = node();
            command.arg("verify.mjs");
            (command, vec!["jose", "jsonwebtoken"])
        }
        "python" => {
            let mut command = python();
            command.arg("verify.py");
            (command, vec!["PyJWT", "cryptography"])
        }
        other => panic!("no verifier {other}"),
    };
    let output = run_script(command, &input);
    for package in versions {
        assert_eq!(
            output["versions"][package],
            pinned(package).as_str(),
            "{package}: the installed version is not the pinned one: run tests/interop/issuers/install.sh"
        );
    }
    let results = output["results"].as_array().expect("results");

    let mut expected = BTreeSet::new();
    for our in ours {
        for suffix in ["", "/signature", "/payload"] {
            for method in methods_for(our.alg, verifier) {
                expected.insert((format!("{}{suffix}", our.id), method.to_owned()));
            }
        }
    }
    let got: BTreeSet<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["method"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), results.len(), "{verifier}: duplicate results");
    assert_eq!(got, expected, "{verifier}: the matrix of verifications");

    let mut verified = 0;
    for result in results {
        let id = result["id"].as_str().unwrap();
        let method = result["method"].as_str().unwrap();
        let label = format!("{id} with {method}");
        let our = ours
            .iter()
            .find(|o| {
                id == o.id
                    || id
                        .strip_prefix(o.id.as_str())
                        .is_some_and(|s| s.starts_with('/'))
            })
            .unwrap();
        if id == our.id {
            assert_eq!(
                result["ok"], true,
                "{label}: our token must verify: {}",
                result["error"]
            );
            check_our_claims(&label, our, result);
            match method {
                "jose-jwks" => assert_eq!(
                    result["thumbprint"].as_str(),
                    our.issuer.key_id(),
                    "{label}: the default kid is the RFC 7638 thumbprint jose computes"
                ),
                "pyjwt-jwks" => assert_eq!(
                    result["jwk"],
                    json!({"set_size": 1, "kid": our.issuer.key_id(), "alg": our.alg}),
                    "{label}: PyJWT loaded the published set"
                ),
                _ => {}
            }
            verified += 1;
        } else {
            assert_eq!(
                result["ok"], false,
                "{label}: an altered token must be refused"
            );
            // jose: "signature verification failed", jsonwebtoken: "invalid signature", PyJWT:
            // "Signature verification failed": refused for the signature, not for another reason.
            let error = result["error"].as_str().unwrap_or_default();
            assert!(
                error.to_ascii_lowercase().contains("signature"),
                "{label}: refused for its signature, not {error:?}"
            );
        }
    }
    verified
}

/// Our tokens, from openssl's keys (tests/keys) and from jose's.
fn all_ours() -> Vec<Ours> {
    let mut keys = fixture_keys();
    keys.extend(jose_keys());
    let ours = issue_ours(keys);
    assert_eq!(ours.len(), 2 * ALGS.len());
    ours
}

#[test]
#[ignore = "needs node and python packages in tests/interop/issuers (install.sh)"]
fn our_tokens_verify_in_jose_and_node_jsonwebtoken() {
    // Per key source (openssl, jose): HS* 3 × 2 methods, 8 algorithms × 4, EdDSA × 2 (jose only).
    assert_eq!(check_verifier("node", &all_ours()), 2 * (3 * 2 + 8 * 4 + 2));
}

#[test]
#[ignore = "needs node and python packages in tests/interop/issuers (install.sh)"]
fn our_tokens_verify_in_pyjwt() {
    // Per key source (openssl, jose): HS* 3 × 1 method (secret), 9 algorithms × 2 (JWK set, PEM).
    assert_eq!(check_verifier("python", &all_ours()), 2 * (3 + 9 * 2));
}
