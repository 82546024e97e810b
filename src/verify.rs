//! The verification pipeline: cheap structural checks first, crypto second, claims last.
//!
//! Order matters: everything an attacker can send for free (size, charset, segment count, header rules,
//! `alg`/key binding, signature length) is refused before any signature computation, and the payload is
//! only parsed once the signature has verified.

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::CryptoProvider;
use serde::de::DeserializeOwned;

use crate::claims::VerifiedHeader;
use crate::clock::TimeBounds;
use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::json::{self, JsonError, RawStr, Value};
use crate::key::Key;
use crate::provider::TokenHeader;

/// Latest accepted `exp`/`nbf`/`iat`: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;
/// Header segment cap (encoded). Real headers are well under 1 KiB even with `x5t`.
const MAX_HEADER_SEGMENT: usize = 2048;
/// A longer `kid` is not a key id anyone configured.
const MAX_KID_LEN: usize = 256;
/// JSON nesting allowed in headers and claims.
const MAX_JSON_DEPTH: usize = 16;
/// RSA-8192, the largest key accepted, signs with 1024 bytes.
const MAX_SIGNATURE_LEN: usize = 1024;

impl From<JsonError> for InvalidToken {
    fn from(_: JsonError) -> Self {
        InvalidToken::MalformedClaims
    }
}

/// The crypto backend, chosen once and deterministically from the crate features: jsonwebtoken would panic
/// at request time with both or neither of its backends enabled, so its process default is not used.
pub(crate) fn crypto_backend() -> Result<&'static CryptoProvider, ConfigError> {
    #[cfg(feature = "aws-lc-rs")]
    return Ok(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    return Ok(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER);
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    return Err(ConfigError::NoCryptoBackend);
}

/// Which `typ` header values are accepted.
#[derive(Debug, Clone)]
pub(crate) enum TypPolicy {
    /// Absent, `JWT` or `at+jwt`: refuses refresh tokens, DPoP proofs, security events and the like.
    Default,
    /// Exactly this media type (compared case-insensitively, `application/` prefix optional); required.
    Required(Box<str>),
}

/// Claim rules, built once per layer.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// `iss` must be one of these when there are any.
    pub(crate) issuers: Vec<Box<str>>,
    pub(crate) audiences: Box<[Box<str>]>,
    pub(crate) leeway: u64,
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) require_sub: bool,
    pub(crate) require_nbf: bool,
    pub(crate) require_iat: bool,
    pub(crate) require_jti: bool,
    pub(crate) check_exp: bool,
    pub(crate) typ: TypPolicy,
    pub(crate) max_token_len: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Box::new([]),
            leeway: 30,
            max_lifetime: None,
            require_sub: true,
            require_nbf: false,
            require_iat: false,
            require_jti: false,
            check_exp: true,
            typ: TypPolicy::Default,
            max_token_len: 8 * 1024,
        }
    }
}

/// Decoded header bytes; a `kid` is read from here without copying it.
const HEADER_BUFFER: usize = MAX_HEADER_SEGMENT / 4 * 3 + 3;

/// A compact JWS that passed the structural checks; borrows the token.
#[derive(Debug)]
pub(crate) struct Parsed<'t> {
    alg: Algorithm,
    kid: Option<Kid>,
    header_json: [u8; HEADER_BUFFER],
    typ: Option<Cow<'static, str>>,
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

/// Where the `kid` is: in the decoded header when it had no escapes, else unescaped on the heap.
#[derive(Debug)]
enum Kid {
    InHeader(std::ops::Range<usize>),
    Unescaped(Box<str>),
}

impl Parsed<'_> {
    /// What a key provider needs to know.
    /// Where the payload is in the token.
    pub(crate) fn payload_range(&self) -> std::ops::Range<usize> {
        // The signing input is the token's start: `header.payload`.
        let end = self.signing_input.len();
        end - self.payload.len()..end
    }

    pub(crate) fn header(&self) -> TokenHeader<'_> {
        let kid = match &self.kid {
            None => None,
            Some(Kid::Unescaped(kid)) => Some(Cow::Borrowed(&**kid)),
            // The JSON scanner checked UTF-8; a failure here would only mean "no such kid".
            Some(Kid::InHeader(range)) => Some(Cow::Borrowed(
                std::str::from_utf8(&self.header_json[range.clone()]).unwrap_or("\u{fffd}"),
            )),
        };
        TokenHeader::from_parts(self.alg, kid, self.payload)
    }
}

/// When a verified token is valid: its `nbf` and `exp`, if it has them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) not_before: Option<f64>,
    pub(crate) expires: Option<f64>,
}

/// The current time in whole seconds since the epoch.
pub(crate) fn now() -> u64 {
    crate::clock::precise_now().as_secs()
}

/// Verifies tokens under one policy; the keys carry their backend state.
#[derive(Debug)]
pub(crate) struct Verifier {
    policy: Policy,
}

impl Verifier {
    pub(crate) fn new(policy: Policy) -> Result<Self, ConfigError> {
        // No backend, no verification: refused when the layer is built, never per request.
        crypto_backend()?;
        Ok(Self { policy })
    }

    /// Structural checks and header rules; no crypto.
    pub(crate) fn parse<'t>(&self, token: &'t str) -> Result<Parsed<'t>, InvalidToken> {
        if token.len() > self.policy.max_token_len {
            return Err(InvalidToken::TooLarge);
        }
        let bytes = token.as_bytes();
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(InvalidToken::Malformed);
        }
        let mut dots = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'.')
            .map(|(i, _)| i);
        let (first, second) = match (dots.next(), dots.next(), dots.next()) {
            (Some(first), Some(second), None) => (first, second),
            (Some(_), Some(_), Some(_)) if bytes.iter().filter(|b| **b == b'.').count() == 4 => {
                return Err(InvalidToken::Encrypted);
            }
            _ => return Err(InvalidToken::Malformed),
        };
        let header_b64 = &token[..first];
        let payload = &token[first + 1..second];
        let signature = &token[second + 1..];
        if header_b64.is_empty() || signature.is_empty() {
            return Err(InvalidToken::Malformed);
        }
        if payload.is_empty() {
            return Err(InvalidToken::DetachedPayload);
        }
        if header_b64.len() > MAX_HEADER_SEGMENT {
            return Err(InvalidToken::TooLarge);
        }
        let mut header_json = [0u8; HEADER_BUFFER];
        let len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut header_json)
            .map_err(|_| InvalidToken::Malformed)?;

        let mut alg = None;
        let mut kid = None;
        let mut typ = None;
        let decoded = &header_json[..len];
        json::parse_object(decoded, MAX_JSON_DEPTH, |name: RawStr<'_>, value| {
            header_member(name, value, &mut alg, &mut typ, &mut |raw: RawStr<'_>| {
                kid = Some(if raw.has_escapes() {
                    Kid::Unescaped(raw.to_cow().into())
                } else {
                    let start = raw.raw().as_ptr() as usize - decoded.as_ptr() as usize;
                    Kid::InHeader(start..start + raw.raw().len())
                });
            })
        })
        .map_err(|e: HeaderError| e.0)?;
        let alg = alg.ok_or(InvalidToken::MalformedHeader)?;
        self.check_typ(typ.as_deref())?;
        Ok(Parsed {
            alg,
            kid,
            header_json,
            typ,
            signing_input: &token[..second],
            payload,
            signature,
        })
    }

    fn check_typ(&self, typ: Option<&str>) -> Result<(), InvalidToken> {
        let accepted = match (&self.policy.typ, typ) {
            (TypPolicy::Default, None) => true,
            (TypPolicy::Default, Some(typ)) => {
                media_type_eq(typ, "JWT") || media_type_eq(typ, "at+jwt")
            }
            (TypPolicy::Required(required), Some(typ)) => media_type_eq(typ, required),
            (TypPolicy::Required(_), None) => false,
        };
        if accepted {
            Ok(())
        } else {
            Err(InvalidToken::TypeNotAccepted)
        }
    }

    /// Signature, then claims, then the application's type; also the window in which the token is valid.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        parsed: &Parsed<'_>,
        key: &Key,
    ) -> Result<(C, VerifiedHeader, Window), AuthError> {
        if parsed.alg != key.algorithm() {
            return Err(InvalidToken::AlgorithmMismatch.into());
        }
        self.check_signature(parsed, key)?;

        let mut buffer = [0u8; 4096];
        let mut heap = Vec::new();
        let payload =
            decode_into(parsed.payload, &mut buffer, &mut heap).ok_or(InvalidToken::Malformed)?;
        let window = self.check_claims(payload, now())?;
        let claims = serde_json::from_slice(payload).map_err(|_| InvalidToken::ClaimsShape)?;
        let header =
            VerifiedHeader::new(key.algorithm(), key.kid_arc().cloned(), parsed.typ.clone());
        Ok((claims, header, window))
    }

    /// Whether a token verified earlier with this `window` is still within its `nbf`/`exp` (leeway
    /// included) at any time `now` allows, as verification would judge it at that time.
    pub(crate) fn still_valid(&self, window: &Window, now: TimeBounds) -> bool {
        let leeway = self.policy.leeway as f64;
        let (earliest, latest) = (now.earliest.as_secs() as f64, now.latest.as_secs() as f64);
        let expired =
            self.policy.check_exp && window.expires.is_some_and(|exp| latest >= exp + leeway);
        let early = window.not_before.is_some_and(|nbf| nbf > earliest + leeway);
        !expired && !early
    }

    fn check_signature(&self, parsed: &Parsed<'_>, key: &Key) -> Result<(), InvalidToken> {
        // Exact length first: refuses DER-encoded ECDSA, truncated and padded signatures without crypto.
        let expected = key.signature_len();
        if parsed.signature.len() != (expected * 4).div_ceil(3) {
            return Err(InvalidToken::BadSignature);
        }
        // The longest signature is RSA-8192's 1024 bytes; the exact length was checked above.
        let mut buffer = [0u8; MAX_SIGNATURE_LEN];
        let len = URL_SAFE_NO_PAD
            .decode_slice(parsed.signature, &mut buffer)
            .map_err(|_| InvalidToken::BadSignature)?;
        let signature = buffer.get(..len).ok_or(InvalidToken::BadSignature)?;
        if key.verify_signature(parsed.signing_input.as_bytes(), signature) {
            Ok(())
        } else {
            Err(InvalidToken::BadSignature)
        }
    }

    fn check_claims(&self, payload: &[u8], now: u64) -> Result<Window, InvalidToken> {
        let policy = &self.policy;
        let mut claims = Registered::default();
        json::parse_object(payload, MAX_JSON_DEPTH, |name: RawStr<'_>, value| {
            claims.take(name, value);
            Ok::<_, InvalidToken>(())
        })?;

        let exp = numeric_date(claims.exp, "exp", policy.check_exp)?;
        let nbf = numeric_date(claims.nbf, "nbf", policy.require_nbf)?;
        let iat = numeric_date(claims.iat, "iat", policy.require_iat)?;
        let now = now as f64;
        let leeway = policy.leeway as f64;
        if let Some(exp) = exp
            && policy.check_exp
            && now >= exp + leeway
        {
            return Err(InvalidToken::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(InvalidToken::NotYetValid);
        }
        if let Some(iat) = iat
            && (iat > now + leeway || exp.is_some_and(|exp| iat > exp))
        {
            return Err(InvalidToken::IssuedInFuture);
        }
        if let (Some(max), Some(exp)) = (policy.max_lifetime, exp)
            && exp - iat.unwrap_or(now) > max as f64
        {
            return Err(InvalidToken::LifetimeTooLong);
        }

        let iss = string_claim(claims.iss, "iss", !policy.issuers.is_empty())?;
        if !policy.issuers.is_empty()
            && !iss.is_some_and(|iss| policy.issuers.iter().any(|expected| iss.eq_str(expected)))
        {
            return Err(InvalidToken::WrongIssuer);
        }
        let sub = string_claim(claims.sub, "sub", policy.require_sub)?;
        if policy.require_sub && sub.is_some_and(|sub| sub.raw().is_empty()) {
            return Err(InvalidToken::InvalidClaim("sub"));
        }
        let jti = string_claim(claims.jti, "jti", policy.require_jti)?;
        if policy.require_jti && jti.is_some_and(|jti| jti.raw().is_empty()) {
            return Err(InvalidToken::InvalidClaim("jti"));
        }
        self.check_audience(claims.aud)?;
        Ok(Window {
            not_before: nbf,
            expires: exp,
        })
    }

    /// RFC 7519 §4.1.3: a token carrying `aud` is refused unless one of its audiences is configured,
    /// even when no audience is configured at all.
    fn check_audience(&self, aud: Option<Value<'_>>) -> Result<(), InvalidToken> {
        let expected = &self.policy.audiences;
        let matches = |candidate: &RawStr<'_>| expected.iter().any(|e| candidate.eq_str(e));
        let accepted = match aud {
            None if expected.is_empty() => true,
            None => return Err(InvalidToken::MissingClaim("aud")),
            Some(Value::String(aud)) => matches(&aud),
            Some(Value::Array(items)) => {
                let mut any = false;
                for item in json::array_elements(items) {
                    match item {
                        Value::String(aud) => any |= matches(&aud),
                        _ => return Err(InvalidToken::InvalidClaim("aud")),
                    }
                }
                any
            }
            Some(_) => return Err(InvalidToken::InvalidClaim("aud")),
        };
        if accepted {
            Ok(())
        } else {
            Err(InvalidToken::WrongAudience)
        }
    }
}

/// Decodes base64url into the stack buffer when it fits, else into `heap`.
fn decode_into<'b>(encoded: &str, buffer: &'b mut [u8], heap: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    if encoded.len() / 4 * 3 + 3 <= buffer.len() {
        let len = URL_SAFE_NO_PAD.decode_slice(encoded, buffer).ok()?;
        Some(&buffer[..len])
    } else {
        *heap = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        Some(heap)
    }
}

/// Header parsing errors carry the refusal reason; JSON errors map to a malformed header.
struct HeaderError(InvalidToken);

impl From<JsonError> for HeaderError {
    fn from(_: JsonError) -> Self {
        HeaderError(InvalidToken::MalformedHeader)
    }
}

impl From<InvalidToken> for HeaderError {
    fn from(reason: InvalidToken) -> Self {
        HeaderError(reason)
    }
}

fn header_member<'h>(
    name: RawStr<'h>,
    value: Value<'h>,
    alg: &mut Option<Algorithm>,
    typ: &mut Option<Cow<'static, str>>,
    kid: &mut dyn FnMut(RawStr<'h>),
) -> Result<(), HeaderError> {
    let malformed = HeaderError(InvalidToken::MalformedHeader);
    // Parameters that change how the token must be processed: refused (RFC 7515 §4.1.11, RFC 7797,
    // RFC 7516, RFC 8725 §3.9).
    const REFUSED: [&str; 4] = ["crit", "b64", "enc", "zip"];
    if REFUSED.iter().any(|p| name.eq_str(p)) {
        return Err(InvalidToken::UnsupportedHeaderParameter.into());
    }
    if name.eq_str("alg") {
        let Value::String(value) = value else {
            return Err(malformed);
        };
        // `none`, `None`, `ES512`, anything unknown: no such algorithm here.
        let parsed =
            Algorithm::from_str(&value.to_cow()).map_err(|_| InvalidToken::UnsupportedAlgorithm)?;
        *alg = Some(parsed);
    } else if name.eq_str("kid") {
        match value {
            Value::String(value) if value.raw().len() <= MAX_KID_LEN => kid(value),
            _ => return Err(malformed),
        }
    } else if name.eq_str("typ") {
        let Value::String(value) = value else {
            return Err(malformed);
        };
        *typ = Some(match value.to_cow() {
            v if v == "JWT" => Cow::Borrowed("JWT"),
            v if v == "at+jwt" => Cow::Borrowed("at+jwt"),
            v => Cow::Owned(v.into_owned()),
        });
    } else if name.eq_str("cty") {
        let Value::String(value) = value else {
            return Err(malformed);
        };
        if media_type_eq(&value.to_cow(), "JWT") {
            return Err(InvalidToken::Nested.into());
        }
    }
    // `jku`, `x5u`, `jwk`, `x5c`, `x5t`: never used to find or trust a key (RFC 8725 §3.10).
    Ok(())
}

/// RFC 7515 §4.1.9: case-insensitive, `application/` optional.
fn media_type_eq(value: &str, expected: &str) -> bool {
    fn subtype(media_type: &str) -> &str {
        const PREFIX: &str = "application/";
        match media_type.get(..PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &media_type[PREFIX.len()..],
            _ => media_type,
        }
    }
    subtype(value).eq_ignore_ascii_case(subtype(expected))
}

/// The registered claims as found in the payload, unchecked.
#[derive(Default)]
struct Registered<'p> {
    exp: Option<Value<'p>>,
    nbf: Option<Value<'p>>,
    iat: Option<Value<'p>>,
    iss: Option<Value<'p>>,
    sub: Option<Value<'p>>,
    aud: Option<Value<'p>>,
    jti: Option<Value<'p>>,
}

impl<'p> Registered<'p> {
    fn take(&mut self, name: RawStr<'p>, value: Value<'p>) {
        let slot = match name.raw() {
            b"exp" => &mut self.exp,
            b"nbf" => &mut self.nbf,
            b"iat" => &mut self.iat,
            b"iss" => &mut self.iss,
            b"sub" => &mut self.sub,
            b"aud" => &mut self.aud,
            b"jti" => &mut self.jti,
            _ if name.has_escapes() => match name.to_cow().as_ref() {
                "exp" => &mut self.exp,
                "nbf" => &mut self.nbf,
                "iat" => &mut self.iat,
                "iss" => &mut self.iss,
                "sub" => &mut self.sub,
                "aud" => &mut self.aud,
                "jti" => &mut self.jti,
                _ => return,
            },
            _ => return,
        };
        *slot = Some(value);
    }
}

/// A NumericDate: a JSON number between 0 and the year 9999, when present; `required` makes it mandatory.
fn numeric_date(
    value: Option<Value<'_>>,
    name: &'static str,
    required: bool,
) -> Result<Option<f64>, InvalidToken> {
    match value {
        None if required => Err(InvalidToken::MissingClaim(name)),
        None => Ok(None),
        Some(value) => match value.as_f64() {
            Some(date) if (0.0..=MAX_NUMERIC_DATE).contains(&date) => Ok(Some(date)),
            _ => Err(InvalidToken::InvalidClaim(name)),
        },
    }
}

fn string_claim<'p>(
    value: Option<Value<'p>>,
    name: &'static str,
    required: bool,
) -> Result<Option<RawStr<'p>>, InvalidToken> {
    match value {
        None if required => Err(InvalidToken::MissingClaim(name)),
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn media_types() {
        assert!(media_type_eq("at+JWT", "at+jwt"));
        assert!(media_type_eq("application/at+jwt", "at+jwt"));
        assert!(media_type_eq("Application/JWT", "JWT"));
        assert!(!media_type_eq("jwt+refresh", "JWT"));
        assert!(!media_type_eq("dpop+jwt", "at+jwt"));
    }

    #[test]
    fn a_hit_judges_the_window_by_the_stricter_bound() {
        let verifier = Verifier::new(Policy {
            leeway: 5,
            ..Policy::default()
        })
        .unwrap();
        let at = |earliest: u64, latest: u64| TimeBounds {
            earliest: Duration::from_secs(earliest),
            latest: Duration::from_secs(latest),
        };
        let expires = Window {
            not_before: None,
            expires: Some(1_000.0),
        };
        assert!(verifier.still_valid(&expires, at(1_004, 1_004)));
        assert!(!verifier.still_valid(&expires, at(1_005, 1_005)));
        assert!(
            !verifier.still_valid(&expires, at(1_004, 1_005)),
            "served when it may have expired"
        );
        let not_yet = Window {
            not_before: Some(1_000.0),
            expires: None,
        };
        assert!(verifier.still_valid(&not_yet, at(995, 995)));
        assert!(!verifier.still_valid(&not_yet, at(994, 994)));
        assert!(
            !verifier.still_valid(&not_yet, at(994, 995)),
            "served when it may not be valid yet"
        );
    }
}
