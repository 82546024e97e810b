//! Property tests: whatever arrives in the `Authorization` field, the layer never panics and answers 400 or
//! 401; 200 only for a token that really is valid. Each property runs a bounded number of cases on one
//! single-thread runtime built per test.

mod common;

use std::cell::Cell;

use common::*;
use http::{HeaderValue, Request, StatusCode};
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

const CASES: u32 = 512;
const SIGNED_CASES: u32 = 384;
const LEEWAY: u64 = 30;
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    })
}

fn layer() -> JwtAuthLayer<RegisteredClaims> {
    JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

/// Bytes a header field value may hold (`HeaderValue::from_bytes` accepts exactly these).
fn field_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/~".to_vec()
        ),
        2 => 0x20u8..=0x7e,
        1 => 0x80u8..=0xff,
        1 => Just(b'\t'),
    ]
}

fn request_with_authorization(value: &[u8]) -> Request<String> {
    let value = HeaderValue::from_bytes(value).expect("only valid field bytes are generated");
    let mut request = Request::get("/me").body(String::new()).unwrap();
    request.headers_mut().insert("authorization", value);
    request
}

/// Runs one request; fails the case unless the answer is 400 or 401 with the inner service untouched, or a
/// 200 that `allowed_ok` permits.
fn check(
    rt: &tokio::runtime::Runtime,
    layer: &JwtAuthLayer<RegisteredClaims>,
    request: Request<String>,
    allowed_ok: bool,
) -> Result<StatusCode, TestCaseError> {
    let outcome = rt.block_on(run(layer, request));
    match outcome.status.as_u16() {
        200 => {
            prop_assert!(allowed_ok, "accepted: {:?}", outcome);
            prop_assert!(outcome.reached_inner);
        }
        400 | 401 => {
            prop_assert!(!outcome.reached_inner, "refused but the inner service ran");
            let challenge = outcome.www_authenticate();
            prop_assert!(
                challenge.starts_with("Bearer realm=\"api\""),
                "{challenge:?}"
            );
            if outcome.status == StatusCode::BAD_REQUEST {
                prop_assert!(
                    challenge.contains("error=\"invalid_request\""),
                    "{challenge:?}"
                );
            }
        }
        other => prop_assert!(false, "unexpected status {other}: {outcome:?}"),
    }
    Ok(outcome.status)
}

// ---------------------------------------------------------------------------------------------------------
// Arbitrary field contents
// ---------------------------------------------------------------------------------------------------------

#[test]
fn arbitrary_bytes_as_the_bearer_token() {
    let rt = runtime();
    let layer = layer();
    runner(CASES)
        .run(&prop::collection::vec(field_byte(), 0..300), |token| {
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(&token);
            check(&rt, &layer, request_with_authorization(&value), false)?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_as_the_authorization_field() {
    let rt = runtime();
    let layer = layer();
    let prefix = prop::sample::select(vec!["", "", "Bearer", "bearer ", "Basic ", " ", "Bearer\t"]);
    runner(CASES)
        .run(
            &(prefix, prop::collection::vec(field_byte(), 0..200)),
            |(prefix, rest)| {
                let mut value = prefix.as_bytes().to_vec();
                value.extend_from_slice(&rest);
                check(&rt, &layer, request_with_authorization(&value), false)?;
                Ok(())
            },
        )
        .unwrap();
}

/// Fully arbitrary bytes, kept only when they form a valid field value.
#[test]
fn arbitrary_raw_bytes_that_form_a_field_value() {
    let rt = runtime();
    let layer = layer();
    runner(CASES)
        .run(&prop::collection::vec(any::<u8>(), 0..24), |bytes| {
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(&bytes);
            if HeaderValue::from_bytes(&value).is_err() {
                return Ok(());
            }
            check(&rt, &layer, request_with_authorization(&value), false)?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn token_alphabet_with_up_to_six_dots() {
    let rt = runtime();
    let layer = layer();
    let valid = hs256(&claims());
    let real: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let segment = prop_oneof![
        4 => "[A-Za-z0-9_-]{0,64}",
        2 => prop::sample::select(real.clone()),
        1 => prop::sample::select(vec![
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#),
            b64("{}"),
            b64("[]"),
            b64("null"),
        ]),
        1 => "[A-Za-z0-9_=+/~-]{0,16}",
    ];
    runner(CASES)
        .run(&prop::collection::vec(segment, 1..=7), |segments| {
            let token = segments.join(".");
            let status = check(&rt, &layer, bearer_request(&token), token == valid)?;
            if token == valid {
                prop_assert_eq!(status, StatusCode::OK);
            }
            Ok(())
        })
        .unwrap();
}

fn bearer_request(token: &str) -> Request<String> {
    request_with_authorization(format!("Bearer {token}").as_bytes())
}

// ---------------------------------------------------------------------------------------------------------
// Mutations of a valid token
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Replace { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), field_byte()).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        (any::<usize>(), field_byte()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
    ]
}

fn apply(token: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut bytes = token.to_vec();
    match *mutation {
        Mutation::Flip { at, bit } => bytes[at % token.len()] ^= 1 << bit,
        Mutation::Replace { at, byte } => bytes[at % token.len()] = byte,
        Mutation::Insert { at, byte } => bytes.insert(at % (token.len() + 1), byte),
        Mutation::Delete { at } => {
            bytes.remove(at % token.len());
        }
    }
    bytes
}

/// Every one-byte mutation of a valid token is refused, unless it only added whitespace around the token
/// (which RFC 7235 lets the field carry).
fn mutations_are_refused(alg: Algorithm, layer: JwtAuthLayer<RegisteredClaims>) {
    let rt = runtime();
    let valid = token(alg, &claims(), None);
    // The unmodified token is accepted.
    check(&rt, &layer, bearer_request(&valid), true).unwrap();
    assert!(
        rt.block_on(run(&layer, bearer_request(&valid)))
            .reached_inner
    );
    runner(CASES)
        .run(&mutation(), |mutation| {
            let mutated = apply(valid.as_bytes(), &mutation);
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(&mutated);
            if HeaderValue::from_bytes(&value).is_err() {
                return Ok(());
            }
            let effective = mutated.trim_ascii();
            let same = effective == valid.as_bytes();
            let status = check(&rt, &layer, request_with_authorization(&value), same)?;
            if status == StatusCode::OK {
                prop_assert_eq!(
                    effective,
                    valid.as_bytes(),
                    "a mutated token was accepted: {:?}",
                    String::from_utf8_lossy(&mutated)
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_hs256_tokens_are_refused() {
    mutations_are_refused(Algorithm::HS256, layer());
}

#[test]
fn mutated_es256_tokens_are_refused() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::from_pem(Algorithm::ES256, key_file("ec256_public.pem")).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    mutations_are_refused(Algorithm::ES256, layer);
}

#[test]
fn mutated_eddsa_tokens_are_refused() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::from_pem(Algorithm::EdDSA, key_file("ed25519_public.pem")).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    mutations_are_refused(Algorithm::EdDSA, layer);
}

// ---------------------------------------------------------------------------------------------------------
// Arbitrary (header, payload) JSON, correctly signed
// ---------------------------------------------------------------------------------------------------------

/// A JSON object as raw text: members as (raw name literal, raw value text), or a raw replacement text.
#[derive(Debug, Clone)]
enum Doc {
    Members(Vec<(String, String)>),
    Raw(String),
}

impl Doc {
    fn render(&self) -> String {
        match self {
            Doc::Raw(text) => text.clone(),
            Doc::Members(members) => {
                let members: Vec<String> = members
                    .iter()
                    .map(|(name, value)| format!("{name}:{value}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
        }
    }

    /// The members as an independent parser (serde_json) sees them; `None` if it is no plain object.
    fn parsed(&self) -> Option<Vec<(String, Value)>> {
        match self {
            // Raw texts are serde_json output or fixed strings: no duplicate members to lose here.
            Doc::Raw(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Some(map.into_iter().collect()),
                _ => None,
            },
            Doc::Members(members) => members
                .iter()
                .map(|(name, value)| {
                    Some((
                        serde_json::from_str::<String>(name).ok()?,
                        serde_json::from_str::<Value>(value).ok()?,
                    ))
                })
                .collect(),
        }
    }
}

/// A member name as a JSON string literal, sometimes with one character written as a `\u` escape.
fn name_literal(names: Vec<&'static str>) -> impl Strategy<Value = String> {
    (prop::sample::select(names), any::<usize>(), 0u8..4).prop_map(|(name, at, escape)| {
        if escape != 0 || name.is_empty() {
            return format!("\"{name}\"");
        }
        let at = at % name.len();
        let (before, rest) = name.split_at(at);
        let mut chars = rest.chars();
        let c = chars.next().unwrap();
        format!("\"{before}\\u{:04x}{}\"", c as u32, chars.as_str())
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A member: mostly one of the `good` raw values (`None`: absent), sometimes one of the `bad` ones.
fn member(
    name: &'static str,
    good: Vec<Option<String>>,
    bad: Vec<Option<String>>,
) -> impl Strategy<Value = Option<(String, String)>> {
    let value = prop_oneof![12 => prop::sample::select(good), 1 => prop::sample::select(bad)];
    (name_literal(vec![name]), value).prop_map(|(name, value)| value.map(|v| (name, v)))
}

fn some(values: &[String]) -> Vec<Option<String>> {
    values.iter().cloned().map(Some).collect()
}

fn with_absent(values: &[String]) -> Vec<Option<String>> {
    let mut values = some(values);
    values.push(None);
    values
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

const HEADER_NAMES: &[&str] = &[
    "alg", "typ", "kid", "cty", "crit", "b64", "enc", "zip", "jku", "jwk", "x5c", "x5t", "x5u", "x",
];
const CLAIM_NAMES: &[&str] = &[
    "exp", "nbf", "iat", "iss", "sub", "aud", "jti", "email", "role", "x",
];

/// Extra members with arbitrary values; their names may repeat a registered one (a duplicate).
fn extras(names: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(
            (name_literal(names.to_vec()), json_value().prop_map(|v| v.to_string())),
            1..3,
        ),
    ]
}

fn raw_doc() -> impl Strategy<Value = Doc> {
    prop_oneof![
        json_value().prop_map(|v| Doc::Raw(v.to_string())),
        ".{0,40}".prop_map(Doc::Raw),
        Just(Doc::Raw("{}".into())),
        Just(Doc::Raw(" { } ".into())),
        Just(Doc::Raw("{\"alg\":\"HS256\"".into())),
        Just(Doc::Raw("{\"alg\":\"HS256\"} ".into())),
        Just(Doc::Raw("{\"alg\":\"HS256\",}".into())),
        Just(Doc::Raw("{\"alg\":\"HS256\"}{}".into())),
        Just(Doc::Members(vec![
            ("\"alg\"".into(), "\"HS256\"".into()),
            ("\"alg\"".into(), "\"HS256\"".into()),
        ])),
    ]
}

fn header_doc() -> impl Strategy<Value = Doc> {
    let members = (
        member(
            "alg",
            some(&[quoted("HS256"), "\"HS\\u0032\\u0035\\u0036\"".into()]),
            with_absent(&[
                quoted("hs256"),
                quoted("none"),
                quoted("None"),
                quoted("HS384"),
                quoted("RS256"),
                quoted("PS256"),
                quoted("ES256"),
                quoted("EdDSA"),
                quoted("HS256 "),
                quoted(""),
                "null".into(),
                "256".into(),
                "[\"HS256\"]".into(),
            ]),
        ),
        member(
            "typ",
            with_absent(&strings(&[
                "\"JWT\"",
                "\"jwt\"",
                "\"at+jwt\"",
                "\"application/at+jwt\"",
                "\"Application/JWT\"",
            ])),
            some(&strings(&[
                "\"refresh+jwt\"",
                "\"dpop+jwt\"",
                "\"secevent+jwt\"",
                "\"\"",
                "1",
                "null",
            ])),
        ),
        member(
            "cty",
            with_absent(&strings(&["\"json\""])),
            some(&strings(&[
                "\"JWT\"",
                "\"jwt\"",
                "\"application/jwt\"",
                "{}",
            ])),
        ),
        member("kid", vec![None], some(&strings(&["\"k1\"", "\"\"", "1"]))),
        extras(HEADER_NAMES),
    )
        .prop_map(|(alg, typ, cty, kid, extras)| {
            let mut members: Vec<(String, String)> =
                [alg, typ, cty, kid].into_iter().flatten().collect();
            members.extend(extras);
            members
        })
        .prop_shuffle()
        .prop_map(Doc::Members);
    prop_oneof![12 => members, 1 => raw_doc()]
}

fn payload_doc(now: u64) -> impl Strategy<Value = Doc> {
    let n = |offset: i64| (now as i64 + offset).to_string();
    let members = (
        (
            member(
                "exp",
                some(&[
                    n(3600),
                    format!("{}.5", n(3600)),
                    format!("{}e0", n(3600)),
                    format!("{}.0E+0", n(7200)),
                    "253402300799".into(),
                ]),
                with_absent(&[
                    n(-3600),
                    n(-120),
                    "1e400".into(),
                    "-1".into(),
                    "253402300800".into(),
                    quoted("soon"),
                    "null".into(),
                    "true".into(),
                    format!("[{}]", n(3600)),
                ]),
            ),
            member(
                "iss",
                some(&[quoted(ISSUER), "\"https:\\/\\/issuer.example.com\"".into()]),
                with_absent(&[
                    quoted("https://issuer.example.com/"),
                    quoted("HTTPS://ISSUER.EXAMPLE.COM"),
                    format!("[{}]", quoted(ISSUER)),
                    "null".into(),
                    "1".into(),
                ]),
            ),
            member(
                "aud",
                some(&[
                    quoted(AUDIENCE),
                    format!("[{}]", quoted(AUDIENCE)),
                    format!("[\"x\",{}]", quoted(AUDIENCE)),
                ]),
                with_absent(&[
                    "[\"x\"]".into(),
                    format!("[{},1]", quoted(AUDIENCE)),
                    format!("[{},null]", quoted(AUDIENCE)),
                    "[]".into(),
                    quoted("x"),
                    "null".into(),
                    "{}".into(),
                ]),
            ),
            member(
                "sub",
                some(&[
                    quoted("user-1"),
                    "\"\\u0000\"".into(),
                    "\"user\\u002d1\"".into(),
                ]),
                with_absent(&[quoted(""), "5".into(), "null".into(), "[\"user-1\"]".into()]),
            ),
        ),
        (
            member(
                "iat",
                with_absent(&[n(0), n(-60), format!("{}.25", n(-60))]),
                some(&[n(3600), n(7200), quoted("x"), "-5".into(), "null".into()]),
            ),
            member(
                "nbf",
                with_absent(&[n(-60), "0".into()]),
                some(&[n(3600), quoted("x"), "-1".into()]),
            ),
            member(
                "jti",
                with_absent(&[quoted("abc"), quoted("")]),
                some(&["5".into(), "null".into()]),
            ),
            extras(CLAIM_NAMES),
        ),
    )
        .prop_map(|((exp, iss, aud, sub), (iat, nbf, jti, extras))| {
            let mut members: Vec<(String, String)> = [exp, iss, aud, sub, iat, nbf, jti]
                .into_iter()
                .flatten()
                .collect();
            members.extend(extras);
            members
        })
        .prop_shuffle()
        .prop_map(Doc::Members);
    prop_oneof![12 => members, 1 => raw_doc()]
}

/// RFC 7515 §4.1.9 media type comparison.
fn media_type_eq(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        let lower = s.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(lower)
    };
    strip(a) == strip(b)
}

fn unique(members: &[(String, Value)]) -> Result<(), String> {
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(format!("duplicate member {:?}", w[0])),
        None => Ok(()),
    }
}

fn get<'a>(members: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    members.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn numeric_date(value: Option<&Value>, name: &str) -> Result<Option<f64>, String> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(d) if (0.0..=MAX_NUMERIC_DATE).contains(&d) => Ok(Some(d)),
            _ => Err(format!("{name} out of range")),
        },
        Some(_) => Err(format!("{name} is no number")),
    }
}

/// Why a token with this header and payload must NOT be accepted by the test layer (`Ok` if it may be).
fn acceptable(header: &Doc, payload: &Doc, now: u64) -> Result<(), String> {
    let header = header.parsed().ok_or("header is no plain JSON object")?;
    let claims = payload.parsed().ok_or("payload is no plain JSON object")?;
    unique(&header)?;
    unique(&claims)?;

    if get(&header, "alg") != Some(&Value::from("HS256")) {
        return Err("alg is not exactly HS256".into());
    }
    for refused in ["crit", "b64", "enc", "zip"] {
        if get(&header, refused).is_some() {
            return Err(format!("header carries {refused}"));
        }
    }
    match get(&header, "typ") {
        None => {}
        Some(Value::String(t)) if media_type_eq(t, "JWT") || media_type_eq(t, "at+jwt") => {}
        Some(other) => return Err(format!("typ {other} not accepted")),
    }
    match get(&header, "cty") {
        None => {}
        Some(Value::String(c)) if !media_type_eq(c, "JWT") => {}
        Some(other) => return Err(format!("cty {other}")),
    }
    if get(&header, "kid").is_some() {
        return Err("kid names no configured key".into());
    }

    let now = now as f64;
    let leeway = LEEWAY as f64;
    let exp = numeric_date(get(&claims, "exp"), "exp")?.ok_or("no exp")?;
    if now >= exp + leeway {
        return Err("expired".into());
    }
    if numeric_date(get(&claims, "nbf"), "nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err("not yet valid".into());
    }
    if numeric_date(get(&claims, "iat"), "iat")?.is_some_and(|iat| iat > now + leeway || iat > exp)
    {
        return Err("iat in the future or after exp".into());
    }
    if get(&claims, "iss") != Some(&Value::from(ISSUER)) {
        return Err("wrong iss".into());
    }
    match get(&claims, "sub") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err("sub is not a non-empty string".into()),
    }
    match get(&claims, "jti") {
        None | Some(Value::String(_)) => {}
        Some(_) => return Err("jti is no string".into()),
    }
    match get(&claims, "aud") {
        Some(Value::String(a)) if a == AUDIENCE => {}
        Some(Value::Array(items))
            if items.iter().all(Value::is_string) && items.contains(&Value::from(AUDIENCE)) => {}
        _ => return Err("aud does not name the audience".into()),
    }
    Ok(())
}

/// Signed (header, payload) pairs: anything accepted must satisfy every rule (soundness); and a token that
/// satisfies every rule with plain JSON must be accepted (completeness: no false refusals).
#[test]
fn arbitrary_signed_json_pairs() {
    let rt = runtime();
    let layer = layer();
    let now = now();
    let key = signing_key(Algorithm::HS256);
    let accepted = Cell::new(0u32);
    let refused = Cell::new(0u32);
    runner(SIGNED_CASES)
        .run(&(header_doc(), payload_doc(now)), |(header, payload)| {
            let token = sign_raw(&header.render(), &payload.render(), Algorithm::HS256, &key);
            let verdict = acceptable(&header, &payload, now);
            let outcome = rt.block_on(run(&layer, bearer_request(&token)));
            match outcome.status.as_u16() {
                200 => {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(outcome.reached_inner);
                    if let Err(reason) = &verdict {
                        prop_assert!(
                            false,
                            "accepted although {reason}: header {} payload {}",
                            header.render(),
                            payload.render()
                        );
                    }
                }
                401 => {
                    refused.set(refused.get() + 1);
                    prop_assert!(!outcome.reached_inner);
                    prop_assert!(
                        outcome
                            .www_authenticate()
                            .contains("error=\"invalid_token\""),
                        "{}",
                        outcome.www_authenticate()
                    );
                    prop_assert!(
                        verdict.is_err(),
                        "refused ({}) although valid: header {} payload {}",
                        outcome.www_authenticate(),
                        header.render(),
                        payload.render()
                    );
                }
                other => prop_assert!(false, "unexpected status {other}: {outcome:?}"),
            }
            Ok(())
        })
        .unwrap();
    assert!(
        accepted.get() > 0 && refused.get() > 0,
        "degenerate generator: {} accepted, {} refused",
        accepted.get(),
        refused.get()
    );
}

/// The same pairs signed with the wrong secret are never accepted, whatever they contain.
#[test]
fn arbitrary_json_pairs_with_a_wrong_signature() {
    let rt = runtime();
    let layer = layer();
    let now = now();
    let wrong = jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-32-bytes-long!");
    runner(CASES / 2)
        .run(&(header_doc(), payload_doc(now)), |(header, payload)| {
            let token = sign_raw(
                &header.render(),
                &payload.render(),
                Algorithm::HS256,
                &wrong,
            );
            check(&rt, &layer, bearer_request(&token), false)?;
            Ok(())
        })
        .unwrap();
}
