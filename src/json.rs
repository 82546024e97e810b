//! A strict, single-pass JSON scanner for JOSE headers and JWT claims sets.
//!
//! serde_json accepts duplicate object members (the last one wins), but RFC 7515 §4 and
//! RFC 7519 §4 require duplicate Header Parameter / Claim Names to be refused, and an
//! attacker can otherwise smuggle a second `alg`, `exp` or `aud` past a different parser.
//! This module validates the bytes (strict RFC 8259, duplicates at any depth refused, nesting
//! bounded) before serde_json deserializes the same bytes. It runs on attacker-controlled input
//! on every request, so it never panics, recurses at most `max_depth` levels, and allocates
//! only for objects with more than [`INLINE_NAMES`] members or when unescaping on request.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// Why a document was refused. Small and `Copy` so refusing costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON per RFC 8259: bad token, number, escape, control character, or trailing data.
    Syntax,
    /// The input is not valid UTF-8 (RFC 8259 §8.1 requires it).
    InvalidUtf8,
    /// An object, at any depth, has two members whose names are equal after unescaping.
    DuplicateMember,
    /// Objects and arrays nest deeper than the caller's `max_depth`.
    TooDeep,
    /// Valid JSON, but the top-level value is not an object.
    NotAnObject,
    /// A number too large for an IEEE 754 double (`1e999`): parsers disagree on it (RFC 7493 §2.2).
    NumberOutOfRange,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "malformed JSON",
            Self::InvalidUtf8 => "JSON is not valid UTF-8",
            Self::DuplicateMember => "duplicate member name in JSON object",
            Self::TooDeep => "JSON nested too deeply",
            Self::NotAnObject => "JSON value is not an object",
            Self::NumberOutOfRange => "JSON number out of range",
        })
    }
}

impl std::error::Error for JsonError {}

/// A JSON string as it appears in the input: the bytes between the quotes, escapes intact.
///
/// Only the scanner creates these, so `raw` is always valid UTF-8 with valid escapes; keeping
/// the escaped form lets the common no-escape case compare and borrow without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawStr<'a> {
    /// The text between the quotes, escapes intact.
    raw: &'a str,
    /// Whether `raw` contains a backslash escape, i.e. whether it differs from the value.
    has_escapes: bool,
}

impl<'a> RawStr<'a> {
    /// The bytes between the quotes, in escaped form.
    pub(crate) fn raw(&self) -> &'a [u8] {
        self.raw.as_bytes()
    }

    /// Whether the string contains escapes (if not, `raw` is the value itself).
    pub(crate) fn has_escapes(&self) -> bool {
        self.has_escapes
    }

    /// Whether the unescaped value equals `s`, without allocating.
    pub(crate) fn eq_str(&self, s: &str) -> bool {
        if !self.has_escapes {
            return self.raw == s;
        }
        // Every escape is longer than the UTF-8 it stands for, so the value is strictly
        // shorter than `raw`: a cheap way to reject most mismatches without decoding.
        s.len() < self.raw.len() && self.chars().eq(s.chars())
    }

    /// The unescaped value: borrowed from the input when there are no escapes.
    #[allow(
        clippy::wrong_self_convention,
        reason = "by reference like the other accessors, as callers expect"
    )]
    pub(crate) fn to_cow(&self) -> Cow<'a, str> {
        if self.has_escapes {
            Cow::Owned(self.chars().collect())
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Whether two strings have the same unescaped value, without allocating.
    pub(crate) fn unescaped_eq(&self, other: &RawStr<'_>) -> bool {
        match (self.has_escapes, other.has_escapes) {
            (false, false) => self.raw == other.raw,
            (false, true) => other.eq_str(self.raw),
            (true, false) => self.eq_str(other.raw),
            (true, true) => self.chars().eq(other.chars()),
        }
    }

    /// A cheap hash (FNV-1a) of the unescaped value's UTF-8: equal values, however escaped,
    /// have equal fingerprints.
    fn fingerprint(&self) -> u32 {
        fn fnv1a(hash: u32, bytes: &[u8]) -> u32 {
            bytes
                .iter()
                .fold(hash, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
        }
        const OFFSET_BASIS: u32 = 0x811c_9dc5;
        if self.has_escapes {
            self.chars().fold(OFFSET_BASIS, |h, c| {
                fnv1a(h, c.encode_utf8(&mut [0; 4]).as_bytes())
            })
        } else {
            fnv1a(OFFSET_BASIS, self.raw.as_bytes())
        }
    }

    /// The characters of the unescaped value, decoded lazily.
    fn chars(&self) -> Unescape<'a> {
        Unescape { rest: self.raw }
    }
}

/// Iterator over the characters of a [`RawStr`]'s value, decoding escapes on the fly.
struct Unescape<'a> {
    /// The escaped text not yet decoded.
    rest: &'a str,
}

impl Iterator for Unescape<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let mut chars = self.rest.chars();
        let c = chars.next()?;
        if c != '\\' {
            self.rest = chars.as_str();
            return Some(c);
        }
        // The scanner validated every escape; should one be bad anyway, end instead of panicking.
        let Some((c, len)) = decode_escape(self.rest.as_bytes()) else {
            self.rest = "";
            return None;
        };
        self.rest = self.rest.get(len..).unwrap_or_default();
        Some(c)
    }
}

/// Decodes the escape at the start of `esc` (which begins with the backslash).
///
/// Returns the character and the escape's length in bytes, or `None` for an invalid escape,
/// including a `\u` escape that is a lone or unpaired UTF-16 surrogate.
fn decode_escape(esc: &[u8]) -> Option<(char, usize)> {
    let c = match *esc.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return decode_unicode_escape(esc),
        _ => return None,
    };
    Some((c, 2))
}

/// Decodes a `\uXXXX` escape, or a `\uXXXX\uXXXX` surrogate pair, at the start of `esc`.
fn decode_unicode_escape(esc: &[u8]) -> Option<(char, usize)> {
    let high = hex4(esc.get(2..6)?)?;
    match high {
        0xD800..=0xDBFF => {
            // A high surrogate is only valid as the first half of a pair.
            let [b'\\', b'u', digits @ ..] = esc.get(6..12)? else {
                return None;
            };
            let low = hex4(digits)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let code = 0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            Some((char::from_u32(code)?, 12))
        }
        // A low surrogate without a high one before it.
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(high)?, 6)),
    }
}

/// Parses hexadecimal digits (either case) into a number; `None` if any is not a hex digit.
fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0, |acc, &d| Some(acc << 4 | char::from(d).to_digit(16)?))
}

/// A member value, as a cheap summary borrowing from the input.
#[derive(Debug, Clone, Copy)]
#[allow(
    dead_code,
    reason = "a complete summary of every JSON kind; not every caller reads every payload"
)]
pub(crate) enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// The number's text exactly as written, already validated against the RFC 8259 grammar.
    Number(&'a str),
    /// A string, escapes intact.
    String(RawStr<'a>),
    /// The array's full text including `[` and `]`; see [`array_elements`].
    Array(&'a [u8]),
    /// The object's full text including `{` and `}`; see [`parse_object`].
    Object(&'a [u8]),
}

impl Value<'_> {
    /// The number as `f64`, or `None` if this is not a number or it overflows to infinity.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(text) => text.parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }
    }
}

/// Validates `input` as exactly one JSON object, optionally surrounded by JSON whitespace, and
/// calls `on_member(name, value)` for each top-level member in order.
///
/// Strict RFC 8259: valid UTF-8 (no BOM), no duplicate member names in any object at any depth
/// (compared after unescaping), no unescaped control characters, no invalid escapes or lone
/// surrogates, numbers per the grammar. Nesting deeper than `max_depth` (the top-level object
/// is depth 1) is [`JsonError::TooDeep`]; recursion is bounded by it, at roughly 1 to 2 KiB
/// of stack per level, so keep it small (tens, not thousands).
/// A valid top-level value that is not an object is [`JsonError::NotAnObject`].
///
/// An error from `on_member` aborts the scan and is returned. Members may have been reported
/// before a later error is found, so callers must treat any error as refusing the whole input.
pub(crate) fn parse_object<'a, E: From<JsonError>>(
    input: &'a [u8],
    max_depth: usize,
    on_member: impl FnMut(RawStr<'a>, Value<'a>) -> Result<(), E>,
) -> Result<(), E> {
    // Checked up front (fast for ASCII) so strings and numbers can be borrowed as `&str`.
    let text = std::str::from_utf8(input).map_err(|_| JsonError::InvalidUtf8)?;
    let mut parser = Parser {
        text,
        pos: 0,
        max_depth,
    };
    parser.skip_ws();
    if parser.peek() == Some(b'{') {
        parser.object(1, on_member)?;
        parser.end()?;
        Ok(())
    } else {
        // Still validate, so that garbage is reported as such and not as "not an object".
        parser.value(1)?;
        parser.end()?;
        Err(JsonError::NotAnObject.into())
    }
}

/// Iterates the top-level elements of an array text returned as [`Value::Array`].
///
/// Scalars are validated again (cheaply); nested arrays and objects are skipped without
/// recursion and trusted to have been validated by [`parse_object`]. On malformed input the
/// iterator never panics: it just ends early.
pub(crate) fn array_elements<'a>(array: &'a [u8]) -> impl Iterator<Item = Value<'a>> {
    let parser = std::str::from_utf8(array).ok().map(|text| Parser {
        text,
        pos: 0,
        // Unused: elements are skipped iteratively, never recursively.
        max_depth: 0,
    });
    ArrayElements {
        parser,
        started: false,
    }
}

/// The iterator behind [`array_elements`].
struct ArrayElements<'a> {
    /// `None` once the array ended or turned out malformed.
    parser: Option<Parser<'a>>,
    /// Whether the opening `[` was consumed.
    started: bool,
}

impl<'a> Iterator for ArrayElements<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        let element = self.step();
        if element.is_none() {
            // Fused: after the end or an error, stay ended.
            self.parser = None;
        }
        element
    }
}

impl<'a> ArrayElements<'a> {
    /// Consumes the separator (or opening bracket) and the next element.
    fn step(&mut self) -> Option<Value<'a>> {
        let parser = self.parser.as_mut()?;
        parser.skip_ws();
        if self.started {
            // After an element: a comma means another one follows; `]` or anything else ends.
            if parser.bump()? != b',' {
                return None;
            }
        } else {
            self.started = true;
            if parser.bump()? != b'[' {
                return None;
            }
            parser.skip_ws();
            if parser.peek() == Some(b']') {
                return None;
            }
        }
        parser.skip_ws();
        parser.shallow_value().ok()
    }
}

/// Maximum member names per object kept in a stack array for duplicate detection.
const INLINE_NAMES: usize = 32;

/// The member names seen so far in one object.
///
/// Typical JOSE objects have a handful of members, so names live in a fixed stack array and
/// are compared linearly, each first by a fingerprint so that most comparisons are one integer
/// comparison. Past [`INLINE_NAMES`] the linear scan would make big objects quadratic, so the
/// names move to a hash set (SipHash, so it is not open to hash flooding).
struct SeenNames<'a> {
    /// Fingerprints of the first names; only `fingerprints[..len]` is meaningful.
    fingerprints: [u32; INLINE_NAMES],
    /// The first names, in order; `None` (cheap to set up) for unused slots.
    names: [Option<RawStr<'a>>; INLINE_NAMES],
    /// How many names the arrays hold.
    len: usize,
    /// Every name (unescaped) once there are more than `INLINE_NAMES`.
    spilled: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> SeenNames<'a> {
    /// No names seen yet.
    fn new() -> Self {
        Self {
            fingerprints: [0; INLINE_NAMES],
            names: [None; INLINE_NAMES],
            len: 0,
            spilled: None,
        }
    }

    /// Records `name`, refusing it if an equal (unescaped) name was seen before.
    fn insert(&mut self, name: RawStr<'a>) -> Result<(), JsonError> {
        if let Some(set) = &mut self.spilled {
            return if set.insert(name.to_cow()) {
                Ok(())
            } else {
                Err(JsonError::DuplicateMember)
            };
        }
        let fingerprint = name.fingerprint();
        let fingerprints = self.fingerprints.get(..self.len).unwrap_or_default();
        let names = self.names.get(..self.len).unwrap_or_default();
        if fingerprints
            .iter()
            .zip(names)
            .any(|(&f, seen)| f == fingerprint && seen.is_some_and(|s| s.unescaped_eq(&name)))
        {
            return Err(JsonError::DuplicateMember);
        }
        match (
            self.fingerprints.get_mut(self.len),
            self.names.get_mut(self.len),
        ) {
            (Some(f), Some(slot)) => {
                *f = fingerprint;
                *slot = Some(name);
                self.len += 1;
            }
            _ => {
                // The arrays are full, and `name` is not among their names: spill.
                let mut set: HashSet<Cow<'a, str>> =
                    self.names.iter().flatten().map(RawStr::to_cow).collect();
                set.insert(name.to_cow());
                self.spilled = Some(set);
            }
        }
        Ok(())
    }
}

/// A cursor over the validated-UTF-8 input.
///
/// Invariant: `pos <= text.len()`; every read goes through `get`, so a bug shows up as a
/// syntax error rather than a panic.
struct Parser<'a> {
    /// The whole input.
    text: &'a str,
    /// Offset of the next unread byte.
    pos: usize,
    /// Deepest nesting allowed; the top-level value is depth 1.
    max_depth: usize,
}

impl<'a> Parser<'a> {
    /// The input as bytes (all JSON syntax is ASCII).
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The unread part of the input.
    fn rest(&self) -> &'a [u8] {
        self.bytes().get(self.pos..).unwrap_or_default()
    }

    /// The next byte, without consuming it.
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// Consumes and returns the next byte.
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Consumes the next byte if it is `b`.
    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    /// The input from `start` up to the cursor.
    fn since(&self, start: usize) -> Result<&'a [u8], JsonError> {
        self.bytes().get(start..self.pos).ok_or(JsonError::Syntax)
    }

    /// Skips JSON whitespace (RFC 8259 §2: space, tab, line feed, carriage return only).
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Requires that only whitespace remains.
    fn end(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(JsonError::Syntax)
        }
    }

    /// Refuses a container that would sit at `depth`, before recursing into it.
    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.max_depth {
            Err(JsonError::TooDeep)
        } else {
            Ok(())
        }
    }

    /// Scans any value at the cursor, validating nested containers fully (recursively).
    /// `depth` is the depth a container starting here would have.
    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        let start = self.pos;
        match self.peek() {
            Some(b'{') => {
                self.object(depth, |_, _| Ok::<(), JsonError>(()))?;
                Ok(Value::Object(self.since(start)?))
            }
            Some(b'[') => {
                self.array(depth)?;
                Ok(Value::Array(self.since(start)?))
            }
            _ => self.scalar(),
        }
    }

    /// Scans a value at the cursor, skipping nested containers without validating them.
    fn shallow_value(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.pos;
        match self.peek() {
            Some(b'{') => {
                self.skip_container()?;
                Ok(Value::Object(self.since(start)?))
            }
            Some(b'[') => {
                self.skip_container()?;
                Ok(Value::Array(self.since(start)?))
            }
            _ => self.scalar(),
        }
    }

    /// Scans a string, number or literal at the cursor.
    fn scalar(&mut self) -> Result<Value<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            _ => Err(JsonError::Syntax),
        }
    }

    /// Scans an object at the cursor (on its `{`) at `depth`, refusing duplicate names and
    /// reporting each member to `on_member`.
    fn object<E: From<JsonError>>(
        &mut self,
        depth: usize,
        mut on_member: impl FnMut(RawStr<'a>, Value<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.enter(depth)?;
        self.pos += 1; // the `{`
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(());
        }
        let mut seen = SeenNames::new();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(JsonError::Syntax.into());
            }
            let name = self.string()?;
            seen.insert(name)?;
            self.skip_ws();
            if !self.eat(b':') {
                return Err(JsonError::Syntax.into());
            }
            self.skip_ws();
            let value = self.value(depth + 1)?;
            on_member(name, value)?;
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b'}') => return Ok(()),
                _ => return Err(JsonError::Syntax.into()),
            }
        }
    }

    /// Scans an array at the cursor (on its `[`) at `depth`.
    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        self.enter(depth)?;
        self.pos += 1; // the `[`
        self.skip_ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth + 1)?;
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => return Ok(()),
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    /// Skips an array or object at the cursor by counting brackets outside strings, with no
    /// recursion, so arbitrarily deep input cannot exhaust the stack. Bracket kinds are not
    /// matched: this is only for text that `parse_object` already validated.
    fn skip_container(&mut self) -> Result<(), JsonError> {
        self.pos += 1; // the opening bracket
        let mut open = 1_usize;
        loop {
            match self.peek().ok_or(JsonError::Syntax)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'[' | b'{' => open += 1,
                b']' | b'}' => {
                    open -= 1; // `open >= 1` here: it starts at 1 and we return on reaching 0
                    if open == 0 {
                        self.pos += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Scans a string at the cursor (on its opening quote), validating escapes and refusing
    /// unescaped control characters.
    // Inlined: returning the `RawStr` through memory measurably slowed every member.
    #[inline]
    fn string(&mut self) -> Result<RawStr<'a>, JsonError> {
        let start = self.pos + 1;
        let mut end = start;
        let mut has_escapes = false;
        loop {
            let rest = self.bytes().get(end..).unwrap_or_default();
            // Skip ordinary characters in one tight loop; stop at anything needing a look.
            let plain = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or(JsonError::Syntax)?;
            end += plain;
            let rest = rest.get(plain..).unwrap_or_default();
            match rest.first() {
                Some(b'"') => break,
                Some(b'\\') => {
                    let (_, len) = decode_escape(rest).ok_or(JsonError::Syntax)?;
                    end += len;
                    has_escapes = true;
                }
                // An unescaped control character (or, impossibly, the end).
                _ => return Err(JsonError::Syntax),
            }
        }
        // Both ends are at ASCII quotes, hence char boundaries.
        let raw = self.text.get(start..end).ok_or(JsonError::Syntax)?;
        self.pos = end + 1;
        Ok(RawStr { raw, has_escapes })
    }

    /// Scans a number at the cursor: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    ///
    /// A leading zero followed by more digits stops after the zero, and the caller then
    /// refuses the unexpected digit.
    fn number(&mut self) -> Result<&'a str, JsonError> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits()?,
            _ => return Err(JsonError::Syntax),
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        let text = self.text.get(start..self.pos).ok_or(JsonError::Syntax)?;
        // Only an exponent or over 300 digits can overflow a double; skip the parse otherwise.
        let may_overflow = text.len() > 300 || text.bytes().any(|b| b == b'e' || b == b'E');
        if may_overflow && !text.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(JsonError::NumberOutOfRange);
        }
        Ok(text)
    }

    /// Consumes one or more ASCII digits.
    fn digits(&mut self) -> Result<(), JsonError> {
        let count = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.pos += count;
        if count == 0 {
            Err(JsonError::Syntax)
        } else {
            Ok(())
        }
    }

    /// Consumes the literal `word` (`true`, `false` or `null`), yielding `value`.
    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(JsonError::Syntax)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Generous depth for tests not about depth.
    const DEPTH: usize = 32;

    /// Runs `parse_object`, collecting the top-level members as (unescaped name, value).
    fn members(input: &[u8]) -> Result<Vec<(String, Value<'_>)>, JsonError> {
        members_depth(input, DEPTH)
    }

    /// Like [`members`], with an explicit depth limit.
    fn members_depth(
        input: &[u8],
        max_depth: usize,
    ) -> Result<Vec<(String, Value<'_>)>, JsonError> {
        let mut out = Vec::new();
        parse_object(input, max_depth, |name, value| {
            out.push((name.to_cow().into_owned(), value));
            Ok::<_, JsonError>(())
        })?;
        Ok(out)
    }

    /// Asserts that `input` is refused with `expected`.
    #[track_caller]
    fn refused(input: impl AsRef<[u8]>, expected: JsonError) {
        let input = input.as_ref();
        assert_eq!(
            members(input).map(|m| m.len()),
            Err(expected),
            "input: {:?}",
            String::from_utf8_lossy(input)
        );
    }

    /// Asserts that `input` is accepted.
    #[track_caller]
    fn accepted(input: impl AsRef<[u8]>) {
        let input = input.as_ref();
        if let Err(e) = members(input) {
            panic!("refused with {e:?}: {:?}", String::from_utf8_lossy(input));
        }
    }

    /// Scans `json_string`, a whole JSON string literal with its quotes.
    fn raw_str(json_string: &str) -> RawStr<'_> {
        let mut parser = Parser {
            text: json_string,
            pos: 0,
            max_depth: 0,
        };
        let s = parser.string().expect("valid string");
        assert_eq!(parser.pos, json_string.len(), "trailing text");
        s
    }

    #[test]
    fn accepts_typical_header() {
        let m = members(br#"{"alg":"RS256","typ":"JWT","kid":"key-1"}"#).unwrap();
        let names: Vec<_> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["alg", "typ", "kid"]);
        assert!(matches!(m[0].1, Value::String(s) if s.eq_str("RS256") && !s.has_escapes()));
        assert!(matches!(m[2].1, Value::String(s) if s.raw() == b"key-1"));
    }

    #[test]
    fn accepts_typical_claims_with_every_value_kind() {
        let input = br#" {
            "iss": "https:\/\/issuer.example",
            "sub": "user-1",
            "aud": ["api", "web"],
            "exp": 1700000000,
            "nbf": 1.7e9,
            "neg": -0.25,
            "admin": true,
            "guest": false,
            "nick": null,
            "ctx": {"a": {"b": [1, {}, []]}}
        } "#;
        let m = members(input).unwrap();
        let names: Vec<_> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "iss", "sub", "aud", "exp", "nbf", "neg", "admin", "guest", "nick", "ctx"
            ]
        );
        assert!(
            matches!(m[0].1, Value::String(s) if s.has_escapes() && s.eq_str("https://issuer.example"))
        );
        assert!(matches!(m[2].1, Value::Array(a) if a == br#"["api", "web"]"#));
        assert!(matches!(m[3].1, Value::Number("1700000000")));
        assert_eq!(m[3].1.as_f64(), Some(1_700_000_000.0));
        assert_eq!(m[4].1.as_f64(), Some(1.7e9));
        assert_eq!(m[5].1.as_f64(), Some(-0.25));
        assert!(matches!(m[6].1, Value::Bool(true)));
        assert!(matches!(m[7].1, Value::Bool(false)));
        assert!(matches!(m[8].1, Value::Null));
        assert!(matches!(m[9].1, Value::Object(o) if o == br#"{"a": {"b": [1, {}, []]}}"#));
    }

    #[test]
    fn accepts_empty_object_and_surrounding_whitespace() {
        accepted("{}");
        accepted(" \t\r\n{ \t\r\n} \t\r\n");
        assert!(members(b"{}").unwrap().is_empty());
    }

    #[test]
    fn as_f64_only_for_finite_numbers() {
        assert_eq!(Value::Number("-0").as_f64(), Some(0.0));
        assert_eq!(Value::Number("1E+2").as_f64(), Some(100.0));
        assert_eq!(Value::Number("1e999").as_f64(), None);
        for huge in ["1e999", "-1e400", "1E+309"] {
            let input = format!(r#"{{"a":{huge}}}"#);
            assert_eq!(
                members(input.as_bytes()).unwrap_err(),
                JsonError::NumberOutOfRange,
                "{huge}"
            );
        }
        assert_eq!(Value::Bool(true).as_f64(), None);
        assert_eq!(Value::Null.as_f64(), None);
    }

    #[test]
    fn refuses_duplicates_at_top_level() {
        refused(r#"{"exp":1,"exp":2}"#, JsonError::DuplicateMember);
        refused(r#"{"exp":1,"iat":0,"exp":1}"#, JsonError::DuplicateMember);
        refused(r#"{"":1,"":2}"#, JsonError::DuplicateMember);
        accepted(r#"{"exp":1,"Exp":2,"exp ":3,"ex":4}"#);
    }

    #[test]
    fn refuses_duplicates_nested() {
        refused(r#"{"a":{"b":1,"b":2}}"#, JsonError::DuplicateMember);
        refused(
            r#"{"a":[1,{"x":{"b":1,"c":2,"b":3}}]}"#,
            JsonError::DuplicateMember,
        );
        // The same name in different objects is fine.
        accepted(r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#);
    }

    #[test]
    fn refuses_duplicates_via_escapes() {
        refused(r#"{"exp":1,"\u0065xp":2}"#, JsonError::DuplicateMember);
        refused(
            r#"{"\u0065\u0078\u0070":1,"exp":2}"#,
            JsonError::DuplicateMember,
        );
        refused(r#"{"\u0065xp":1,"e\u0078p":2}"#, JsonError::DuplicateMember);
        refused(r#"{"a/b":1,"a\/b":2}"#, JsonError::DuplicateMember);
        refused(r#"{"😀":1,"\ud83d\ude00":2}"#, JsonError::DuplicateMember);
        refused(
            r#"{"\uD83D\uDE00":1,"\ud83d\ude00":2}"#,
            JsonError::DuplicateMember,
        );
        refused(r#"{"x":{"é":1,"\u00e9":2}}"#, JsonError::DuplicateMember);
        accepted(r#"{"exp":1,"\u0065xq":2,"\u0045xp":3}"#);
    }

    /// `{"k0":0,"k1":1,...}` with `n` members, plus `extra` before the closing brace.
    fn many_members(n: usize, extra: &str) -> String {
        let body: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
        format!("{{{}{extra}}}", body.join(","))
    }

    #[test]
    fn refuses_duplicates_past_the_inline_names() {
        accepted(many_members(INLINE_NAMES, ""));
        accepted(many_members(INLINE_NAMES + 1, ""));
        accepted(many_members(2000, ""));
        // Duplicate of an inline name, found by the spilled set.
        refused(many_members(40, r#","k3":0"#), JsonError::DuplicateMember);
        // Duplicate of a spilled name, and via an escape.
        refused(many_members(40, r#","k35":0"#), JsonError::DuplicateMember);
        refused(
            many_members(40, r#","\u006b36":0"#),
            JsonError::DuplicateMember,
        );
        // The member that triggers the spill is itself a duplicate.
        refused(
            many_members(INLINE_NAMES, r#","\u006b0":0"#),
            JsonError::DuplicateMember,
        );
        refused(
            many_members(2000, r#","k1999":0"#),
            JsonError::DuplicateMember,
        );
    }

    #[test]
    fn refuses_trailing_garbage_and_multiple_values() {
        refused("{}x", JsonError::Syntax);
        refused("{}{}", JsonError::Syntax);
        refused("{} {}", JsonError::Syntax);
        refused("{},", JsonError::Syntax);
        refused("{}]", JsonError::Syntax);
        refused("{}\0", JsonError::Syntax);
        refused("{}\u{a0}", JsonError::Syntax); // non-breaking space is not JSON whitespace
        refused("{}\x0c", JsonError::Syntax); // nor is form feed
    }

    #[test]
    fn refuses_empty_and_truncated_input() {
        refused("", JsonError::Syntax);
        refused("  ", JsonError::Syntax);
        refused("{", JsonError::Syntax);
        refused(r#"{"a""#, JsonError::Syntax);
        refused(r#"{"a":"#, JsonError::Syntax);
        refused(r#"{"a":1"#, JsonError::Syntax);
        refused(r#"{"a":"b"#, JsonError::Syntax);
        refused(r#"{"a":[1"#, JsonError::Syntax);
        refused(r#"{"a":tru"#, JsonError::Syntax);
    }

    #[test]
    fn refuses_bom() {
        let result = members(b"\xEF\xBB\xBF{}");
        assert!(
            matches!(result, Err(JsonError::Syntax | JsonError::InvalidUtf8)),
            "{result:?}"
        );
    }

    #[test]
    fn refuses_invalid_utf8() {
        refused(b"{\"a\":\"\xff\"}", JsonError::InvalidUtf8);
        refused(b"{\"\xc3\":1}", JsonError::InvalidUtf8); // truncated sequence
        refused(b"{\"a\":\"\xc0\x80\"}", JsonError::InvalidUtf8); // overlong NUL
        refused(b"{\"a\":\"\xed\xa0\x80\"}", JsonError::InvalidUtf8); // encoded surrogate
        refused(b"{\"a\":1}\xff", JsonError::InvalidUtf8);
        accepted("{\"a\":\"é😀\u{7f}\"}");
    }

    #[test]
    fn refuses_unescaped_control_characters() {
        for c in (0u8..0x20).map(char::from) {
            refused(format!("{{\"a\":\"x{c}y\"}}"), JsonError::Syntax);
            refused(format!("{{\"a{c}\":1}}"), JsonError::Syntax);
        }
        accepted(r#"{"a":"\u0000\u001f\t\n"}"#);
    }

    #[test]
    fn refuses_bad_escapes() {
        for bad in [
            r#"\x41"#,
            r#"\'"#,
            r#"\0"#,
            r#"\a"#,
            r#"\U0041"#,
            r#"\u"#,
            r#"\u12"#,
            r#"\u12G4"#,
            r#"\u+123"#,
            r#"\u 123"#,
            "\\\u{e9}",
        ] {
            refused(format!(r#"{{"a":"{bad}"}}"#), JsonError::Syntax);
            refused(format!(r#"{{"{bad}":1}}"#), JsonError::Syntax);
        }
        refused(r#"{"a":"\"}"#, JsonError::Syntax); // the escaped quote leaves it unterminated
        accepted(r#"{"a":"\"\\\/\b\f\n\r\t\u00E9\u00e9"}"#);
    }

    #[test]
    fn refuses_lone_surrogates() {
        for bad in [
            r#"\ud800"#,
            r#"\udbff"#,
            r#"\udc00"#,
            r#"\udfff"#,
            r#"\ud800x"#,
            r#"\ud800\u0041"#,
            r#"\ud800\ud800"#,
            r#"\ude00\ud83d"#,
            r#"\ud83d\n"#,
            r#"\ud83d\ude0"#,
            r#"\ud83d\\ude00"#,
        ] {
            refused(format!(r#"{{"a":"{bad}"}}"#), JsonError::Syntax);
        }
        accepted(r#"{"a":"\ud83d\ude00","b":"\uD83D\uDE00","c":"\udbff\udfff"}"#);
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for bad in [
            "01",
            "-01",
            "00",
            "+1",
            "NaN",
            "Infinity",
            "-Infinity",
            "0x10",
            ".5",
            "1.",
            "1.e5",
            "1e",
            "1e+",
            "1E-",
            "-",
            "--1",
            "- 1",
            "1_000",
            "1e5.0",
            "0.",
            "-.5",
            "nan",
        ] {
            refused(format!(r#"{{"a":{bad}}}"#), JsonError::Syntax);
            refused(format!(r#"{{"a":[{bad}]}}"#), JsonError::Syntax);
        }
        for good in [
            "0",
            "-0",
            "0.5",
            "-0.0",
            "10",
            "1e5",
            "1E+5",
            "1e-5",
            "-1.25e-3",
            "0e0",
            "123456789012345678901234567890",
        ] {
            let input = format!(r#"{{"a":{good}}}"#);
            let m = members(input.as_bytes()).unwrap();
            assert!(matches!(m[0].1, Value::Number(n) if n == good), "{good}");
        }
    }

    #[test]
    fn refuses_non_json_syntax() {
        for bad in [
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{,}"#,
            r#"{,"a":1}"#,
            r#"{"a":1,,"b":2}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a" 1}"#,
            r#"{"a"::1}"#,
            r#"{"a":}"#,
            r#"{'a':1}"#,
            r#"{"a":'b'}"#,
            r#"{a:1}"#,
            r#"{1:1}"#,
            r#"{/*c*/}"#,
            r#"{"a":1/*c*/}"#,
            r#"{"a":1}//c"#,
            "{\"a\":1}#c",
            r#"{"a":True}"#,
            r#"{"a":nul}"#,
            r#"{"a":truex}"#,
            r#"{"a":undefined}"#,
            r#"{"a":[1}"#,
            r#"{"a":{]}"#,
            r#"{"a":1]"#,
        ] {
            refused(bad, JsonError::Syntax);
        }
    }

    #[test]
    fn enforces_max_depth() {
        // Depth 3: the object, `a`'s object and `b`'s array.
        let three = br#"{"a":{"b":[]}}"#;
        assert!(members_depth(three, 3).is_ok());
        assert_eq!(members_depth(three, 2).map(|_| ()), Err(JsonError::TooDeep));
        assert!(members_depth(b"{}", 1).is_ok());
        assert!(members_depth(br#"{"a":1}"#, 1).is_ok());
        assert_eq!(
            members_depth(br#"{"a":[]}"#, 1).map(|_| ()),
            Err(JsonError::TooDeep)
        );
        assert_eq!(members_depth(b"{}", 0).map(|_| ()), Err(JsonError::TooDeep));
    }

    #[test]
    fn deep_nesting_is_too_deep_not_a_stack_overflow() {
        let n = 10_000;
        let arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
        refused(&arrays, JsonError::TooDeep);
        refused(format!(r#"{{"a":{arrays}}}"#), JsonError::TooDeep);
        refused("[".repeat(n), JsonError::TooDeep);
        let objects = format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        refused(&objects, JsonError::TooDeep);
    }

    #[test]
    fn refuses_valid_non_objects() {
        for input in [
            "[]", "[1,{}]", r#""s""#, "1", "-0.5", "true", "false", "null", " [ ] ",
        ] {
            refused(input, JsonError::NotAnObject);
        }
        // Invalid non-objects are syntax errors.
        refused("[1,]", JsonError::Syntax);
        refused("[", JsonError::Syntax);
        refused("01", JsonError::Syntax);
        refused("nope", JsonError::Syntax);
        refused("[] []", JsonError::Syntax);
    }

    #[test]
    fn callback_error_aborts_and_is_returned() {
        #[derive(Debug, PartialEq)]
        enum MyError {
            Json(JsonError),
            Rejected(String),
        }
        impl From<JsonError> for MyError {
            fn from(e: JsonError) -> Self {
                Self::Json(e)
            }
        }
        let mut calls = 0;
        let result = parse_object(br#"{"a":1,"b":2,"c":3}"#, DEPTH, |name, _| {
            calls += 1;
            if name.eq_str("b") {
                Err(MyError::Rejected(name.to_cow().into_owned()))
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err(MyError::Rejected("b".into())));
        assert_eq!(calls, 2);
        let result = parse_object(br#"{"a":1,"a":2}"#, DEPTH, |_, _| Ok::<_, MyError>(()));
        assert_eq!(result, Err(MyError::Json(JsonError::DuplicateMember)));
    }

    #[test]
    fn raw_str_without_escapes_borrows() {
        let s = raw_str(r#""plain é""#);
        assert!(!s.has_escapes());
        assert_eq!(s.raw(), "plain é".as_bytes());
        assert!(s.eq_str("plain é"));
        assert!(!s.eq_str("plain e"));
        assert!(matches!(s.to_cow(), Cow::Borrowed("plain é")));
    }

    #[test]
    fn raw_str_unescapes() {
        let s = raw_str(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\u4E2D\ud83d\ude00!""#);
        let expected = "a\"b\\c/d\u{8}\u{c}\n\r\té中😀!";
        assert!(s.has_escapes());
        assert_eq!(s.raw(), br#"a\"b\\c\/d\b\f\n\r\t\u00e9\u4E2D\ud83d\ude00!"#);
        assert!(s.eq_str(expected));
        assert!(!s.eq_str(&expected[..expected.len() - 1]));
        assert!(!s.eq_str("a\"b\\c/d\u{8}\u{c}\n\r\té中😀?"));
        assert!(matches!(s.to_cow(), Cow::Owned(ref o) if o == expected));

        let name = members(br#"{"\u0065xp":1}"#).unwrap();
        assert_eq!(name[0].0, "exp");
        let emoji = raw_str(r#""\ud83d\ude00""#);
        assert_eq!(emoji.raw(), br"\ud83d\ude00");
        assert!(emoji.eq_str("😀"));
        assert_eq!(emoji.to_cow(), "😀");
        assert!(raw_str(r#""\u0000""#).eq_str("\0"));
        assert!(raw_str(r#""\u0000""#).to_cow() == "\0");
    }

    #[test]
    fn raw_str_unescaped_eq() {
        let plain = raw_str(r#""😀é""#);
        let pair = raw_str(r#""\ud83d\ude00\u00e9""#);
        let upper = raw_str(r#""\uD83D\uDE00\u00E9""#);
        let mixed = raw_str(r#""😀\u00e9""#);
        for (a, b) in [(plain, pair), (pair, upper), (upper, mixed), (mixed, plain)] {
            assert!(a.unescaped_eq(&b) && b.unescaped_eq(&a));
        }
        let other = raw_str(r#""\ud83d\ude01\u00e9""#);
        let shorter = raw_str(r#""\ud83d\ude00""#);
        for x in [plain, pair, upper, mixed] {
            assert!(!x.unescaped_eq(&other) && !other.unescaped_eq(&x));
            assert!(!x.unescaped_eq(&shorter) && !shorter.unescaped_eq(&x));
        }
        assert!(raw_str(r#""""#).unescaped_eq(&raw_str(r#""""#)));
    }

    #[test]
    fn array_elements_yields_top_level_elements() {
        let input = br#"{"a": [ 1, "x\u0079", [2, [3]], {"k": []}, true, false, null, -0.5e1 ]}"#;
        let m = members(input).unwrap();
        let Value::Array(array) = m[0].1 else {
            panic!("not an array")
        };
        let items: Vec<_> = array_elements(array).collect();
        assert_eq!(items.len(), 8);
        assert!(matches!(items[0], Value::Number("1")));
        assert!(matches!(items[1], Value::String(s) if s.eq_str("xy")));
        assert!(matches!(items[2], Value::Array(b"[2, [3]]")));
        assert!(matches!(items[3], Value::Object(br#"{"k": []}"#)));
        assert!(matches!(items[4], Value::Bool(true)));
        assert!(matches!(items[5], Value::Bool(false)));
        assert!(matches!(items[6], Value::Null));
        assert_eq!(items[7].as_f64(), Some(-5.0));
        let Value::Array(inner) = items[2] else {
            unreachable!()
        };
        assert_eq!(array_elements(inner).count(), 2);
        assert_eq!(array_elements(b"[]").count(), 0);
        assert_eq!(array_elements(b" [ \n ] ").count(), 0);
        assert_eq!(array_elements(br#"["]","[",{"a":"}"}]"#).count(), 3);
    }

    #[test]
    fn array_elements_stops_early_on_malformed_input() {
        let count = |input: &[u8]| array_elements(input).count();
        assert_eq!(count(b""), 0);
        assert_eq!(count(b"x"), 0);
        assert_eq!(count(b"{}"), 0);
        assert_eq!(count(b"["), 0);
        assert_eq!(count(b"[,1]"), 0);
        assert_eq!(count(b"[1,"), 1);
        assert_eq!(count(b"[1 2]"), 1);
        assert_eq!(count(b"[1,]"), 1);
        assert_eq!(count(b"[1,01]"), 2); // `0`, then `1` is not a separator
        assert_eq!(count(b"[\"a\",\"\\x\"]"), 1);
        assert_eq!(count(b"[\"\xff\"]"), 0);
        assert_eq!(count(b"[1,[2,"), 1);
        // Deep nesting is skipped without recursion.
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(count(deep.as_bytes()), 1);
        assert_eq!(count("[".repeat(100_000).as_bytes()), 0);
    }

    /// Strategy for JSON values of small nesting, including odd strings and numbers.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as J;
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            any::<f64>()
                .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(J::Number)),
            ".*".prop_map(J::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
                prop::collection::hash_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Strategy for JSON objects, sometimes with more members than fit inline.
    fn json_object() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
        prop::collection::hash_map(".{0,8}", json_value(), 0..40)
            .prop_map(|m| m.into_iter().collect())
    }

    /// Asserts that a scanned value matches what serde_json produced, recursing into containers.
    fn assert_same(value: Value<'_>, expected: &serde_json::Value) {
        use serde_json::Value as J;
        match (value, expected) {
            (Value::Null, J::Null) => {}
            (Value::Bool(b), J::Bool(e)) => assert_eq!(b, *e),
            (Value::Number(_), J::Number(e)) => assert_eq!(value.as_f64(), e.as_f64()),
            (Value::String(s), J::String(e)) => {
                assert!(s.eq_str(e));
                assert_eq!(s.to_cow(), e.as_str());
            }
            (Value::Array(a), J::Array(e)) => {
                let items: Vec<_> = array_elements(a).collect();
                assert_eq!(items.len(), e.len());
                items
                    .into_iter()
                    .zip(e)
                    .for_each(|(v, e)| assert_same(v, e));
            }
            (Value::Object(o), J::Object(e)) => assert_same_object(o, e),
            _ => panic!("{value:?} is not {expected}"),
        }
    }

    /// Asserts that `input` scans as exactly the members of `expected`, in order.
    fn assert_same_object(input: &[u8], expected: &serde_json::Map<String, serde_json::Value>) {
        let mut expected_members = expected.iter();
        parse_object(input, DEPTH, |name, value| {
            let (key, expected_value) = expected_members.next().expect("extra member");
            assert!(name.eq_str(key), "{name:?} != {key:?}");
            assert_same(value, expected_value);
            Ok::<_, JsonError>(())
        })
        .expect("accepted");
        assert!(expected_members.next().is_none(), "missing members");
    }

    /// Writes `s` as a JSON string, escaping where required and wherever `escape` says so,
    /// in assorted styles (short escapes, `\u` in either case, surrogate pairs).
    fn escaped_json_string(s: &str, escape: &[u8]) -> String {
        let mut out = String::from("\"");
        for (i, c) in s.chars().enumerate() {
            let choice = escape.get(i).copied().unwrap_or(0);
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '/' => Some("\\/"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                _ => None,
            };
            let must = c < ' ' || c == '"' || c == '\\';
            match (must || choice % 3 != 0, short) {
                (false, _) => out.push(c),
                (true, Some(esc)) if choice % 2 == 0 => out.push_str(esc),
                (true, _) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if choice % 4 < 2 {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
            }
        }
        out.push('"');
        out
    }

    /// Strategy for short strings built from JSON-ish tokens: mostly invalid, sometimes not.
    fn json_ish() -> impl Strategy<Value = Vec<u8>> {
        let token = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\n",
            "\"",
            "\"a\"",
            "\"b\"",
            "\"\\u0061\"",
            "\\",
            "\\u",
            "d83d",
            "\\ude00",
            "\\n",
            "0",
            "1",
            "9",
            "-",
            "+",
            ".",
            "e",
            "E",
            "true",
            "false",
            "null",
            "nul",
            "\u{1}",
            "é",
            "\u{feff}",
            "NaN",
            "'",
            "/",
            "x",
            "{\"a\":",
            "\"a\":1",
            "[1,2]",
            "{}",
        ]);
        prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat().into_bytes())
    }

    /// Strategy for valid JSON objects with a few random byte edits.
    fn mutated_json() -> impl Strategy<Value = Vec<u8>> {
        let edit = (
            any::<prop::sample::Index>(),
            0..3_u8,
            prop::sample::select(b"{}[]:,\"\\ 0-1e.aunt\xff".to_vec()),
        );
        (json_object(), prop::collection::vec(edit, 1..4)).prop_map(|(map, edits)| {
            let mut bytes = serde_json::to_vec(&map).unwrap();
            for (index, op, b) in edits {
                let i = index.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => drop(bytes.remove(i)),
                    1 if i < bytes.len() => bytes[i] = b,
                    _ => bytes.insert(i, b),
                }
            }
            bytes
        })
    }

    /// Exercises every accessor on `value`, recursing into containers, to catch panics.
    fn exercise(value: Value<'_>) {
        match value {
            Value::String(s) => {
                let _ = (s.to_cow(), s.eq_str("exp"), s.unescaped_eq(&s));
            }
            Value::Array(a) => array_elements(a).for_each(exercise),
            Value::Object(o) => {
                let _ = scan_everything(o);
            }
            v => {
                let _ = v.as_f64();
            }
        }
    }

    /// Runs `parse_object` and exercises whatever it reports, to catch panics.
    fn scan_everything(input: &[u8]) -> Result<(), JsonError> {
        parse_object(input, 8, |name, value| {
            exercise(Value::String(name));
            exercise(value);
            Ok(())
        })
    }

    /// Checks `parse_object` against serde_json on one input.
    fn differential(input: &[u8]) -> Result<(), TestCaseError> {
        let ours = members_depth(input, 64);
        let theirs = serde_json::from_slice::<serde_json::Value>(input);
        match (&ours, &theirs) {
            (Ok(members), Ok(serde_json::Value::Object(map))) => {
                // We refused duplicates, so serde_json lost no members.
                prop_assert_eq!(members.len(), map.len());
            }
            (Ok(_), Ok(_)) => prop_assert!(false, "accepted a non-object"),
            (Ok(_), Err(e)) => prop_assert!(false, "accepted what serde_json refuses: {}", e),
            (Err(JsonError::NotAnObject), Ok(v)) => prop_assert!(!v.is_object()),
            (Err(JsonError::DuplicateMember), Ok(v)) => prop_assert!(v.is_object()),
            (Err(e), Ok(_)) => prop_assert!(false, "refused valid JSON: {:?}", e),
            (Err(_), Err(_)) => {}
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = scan_everything(&input);
            array_elements(&input).for_each(exercise);
        }

        #[test]
        fn never_panics_on_json_ish_input(input in json_ish()) {
            let _ = scan_everything(&input);
            array_elements(&input).for_each(exercise);
        }

        #[test]
        fn accepts_what_serde_json_writes(map in json_object()) {
            let bytes = serde_json::to_vec(&map).unwrap();
            let mut names = Vec::new();
            parse_object(&bytes, DEPTH, |name, _| {
                names.push(name.to_cow().into_owned());
                Ok::<_, JsonError>(())
            })
            .unwrap();
            let keys: Vec<_> = map.keys().cloned().collect();
            prop_assert_eq!(names, keys);
            assert_same_object(&bytes, &map);
            let pretty = serde_json::to_vec_pretty(&map).unwrap();
            assert_same_object(&pretty, &map);
        }

        #[test]
        fn escaped_strings_compare_by_value(s in ".{0,12}", escape in prop::collection::vec(any::<u8>(), 12)) {
            let escaped = escaped_json_string(&s, &escape);
            let plain = serde_json::to_string(&s).unwrap();
            let name = raw_str(&escaped);
            let value = raw_str(&plain);
            prop_assert!(name.eq_str(&s) && value.eq_str(&s));
            prop_assert_eq!(name.to_cow(), s.as_str());
            prop_assert!(name.unescaped_eq(&value) && value.unescaped_eq(&name));
            // The same name twice, however spelled, is a duplicate.
            let twice = format!("{{{escaped}:1,{plain}:2}}");
            prop_assert_eq!(members(twice.as_bytes()).map(|_| ()), Err(JsonError::DuplicateMember));
        }

        #[test]
        fn agrees_with_serde_json_on_json_ish_input(input in json_ish()) {
            differential(&input)?;
        }

        #[test]
        fn agrees_with_serde_json_on_mutated_json(input in mutated_json()) {
            differential(&input)?;
        }
    }
}
