//! Minimal, strict reader for public verification keys in PEM or DER form.
//!
//! Understands exactly what a JWT verifier needs: SubjectPublicKeyInfo (RFC 5280)
//! for RSA, EC P-256/P-384/P-521 and Ed25519, PKCS#1 `RSAPublicKey`, and the
//! SubjectPublicKeyInfo inside a PEM `CERTIFICATE`. Everything is checked with
//! bounds-checked slicing so that arbitrary input yields an error, never a panic.
//! Private keys are recognised and refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DerError {
    /// The PEM or DER structure is invalid (bad base64, truncated, non-DER encoding, wrong shape).
    Malformed,
    /// The SubjectPublicKeyInfo names an algorithm we do not support (dotted OID).
    UnsupportedKeyType(String),
    /// An EC key on a curve we do not support (dotted OID, or a description).
    UnsupportedCurve(String),
    /// The input is a private key; only public keys are accepted for verification.
    PrivateKey,
    /// No `-----BEGIN ...-----` line was found.
    NotPem,
    /// The PEM block has a label we do not accept.
    PemLabel(String),
    /// No private key block: no `-----BEGIN … PRIVATE KEY-----` line, or another (printable, short) label.
    NotPrivateKeyPem(Option<String>),
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed key material (invalid PEM or DER encoding)"),
            Self::UnsupportedKeyType(oid) => write!(f, "unsupported key algorithm (OID {oid})"),
            Self::UnsupportedCurve(curve) => write!(f, "unsupported elliptic curve ({curve})"),
            Self::PrivateKey => {
                f.write_str("private key material is not accepted; supply the public key")
            }
            Self::NotPem => f.write_str("no PEM block found (expected -----BEGIN PUBLIC KEY-----)"),
            Self::PemLabel(label) => write!(
                f,
                "unsupported PEM label \"{label}\" (expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)"
            ),
            Self::NotPrivateKeyPem(label) => {
                if let Some(label) = label {
                    write!(f, "unsupported PEM label \"{label}\"; ")?;
                }
                f.write_str("expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY")
            }
        }
    }
}

impl std::error::Error for DerError {}

/// Named elliptic curves accepted for EC keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-256 (prime256v1, secp256r1), used by ES256.
    P256,
    /// NIST P-384 (secp384r1), used by ES384.
    P384,
    /// NIST P-521 (secp521r1), used by ES512.
    P521,
}

/// A public key read from DER, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicKeyDer<'a> {
    /// RSA modulus and public exponent as big-endian unsigned integers without leading
    /// zero bytes; both are non-zero (so never empty).
    Rsa {
        /// Modulus.
        n: &'a [u8],
        /// Public exponent.
        e: &'a [u8],
    },
    /// EC public key: the SEC1 point exactly as stored in the BIT STRING
    /// (normally `0x04 || x || y`); the caller checks its length and form.
    Ec {
        /// The named curve from the algorithm parameters.
        curve: Curve,
        /// The encoded point.
        point: &'a [u8],
    },
    /// Ed25519 public key bytes as stored in the BIT STRING (normally 32; caller checks).
    Ed25519 {
        /// The raw public key.
        x: &'a [u8],
    },
}

/// A public key with owned components, as returned by [`parse_public_key_pem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedPublicKey {
    /// See [`PublicKeyDer::Rsa`].
    Rsa {
        /// Modulus, big-endian, no leading zeros.
        n: Vec<u8>,
        /// Public exponent, big-endian, no leading zeros.
        e: Vec<u8>,
    },
    /// See [`PublicKeyDer::Ec`].
    Ec {
        /// The named curve.
        curve: Curve,
        /// The SEC1-encoded point.
        point: Vec<u8>,
    },
    /// See [`PublicKeyDer::Ed25519`].
    Ed25519 {
        /// The raw public key.
        x: Vec<u8>,
    },
}

impl From<PublicKeyDer<'_>> for OwnedPublicKey {
    fn from(key: PublicKeyDer<'_>) -> Self {
        match key {
            PublicKeyDer::Rsa { n, e } => Self::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            },
            PublicKeyDer::Ec { curve, point } => Self::Ec {
                curve,
                point: point.to_vec(),
            },
            PublicKeyDer::Ed25519 { x } => Self::Ed25519 { x: x.to_vec() },
        }
    }
}

/// DER tag of INTEGER.
const TAG_INTEGER: u8 = 0x02;
/// DER tag of BIT STRING (primitive).
const TAG_BIT_STRING: u8 = 0x03;
/// DER tag of OCTET STRING (primitive).
const TAG_OCTET_STRING: u8 = 0x04;
/// DER tag of NULL.
const TAG_NULL: u8 = 0x05;
/// DER tag of OBJECT IDENTIFIER.
const TAG_OID: u8 = 0x06;
/// DER tag of SEQUENCE (constructed).
const TAG_SEQUENCE: u8 = 0x30;
/// DER tag of `[0] EXPLICIT` (context-specific, constructed), the X.509 version field.
const TAG_CONTEXT_0: u8 = 0xa0;

/// rsaEncryption, 1.2.840.113549.1.1.1 (content octets).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35.
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// One DER element: tag, content octets, and the whole encoding (header and content).
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    /// The identifier octet.
    tag: u8,
    /// The content octets.
    content: &'a [u8],
    /// The complete encoding of the element.
    raw: &'a [u8],
}

/// Cursor over a sequence of DER elements.
struct Reader<'a> {
    /// Bytes not yet consumed.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `data`.
    fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// True once every byte has been consumed.
    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails unless every byte has been consumed.
    fn finish(&self) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::Malformed)
        }
    }

    /// Reads the next element. Only low tag numbers and definite, minimally encoded
    /// lengths of at most four octets are accepted.
    fn read_any(&mut self) -> Result<Tlv<'a>, DerError> {
        let start = self.rest;
        let (&tag, after_tag) = start.split_first().ok_or(DerError::Malformed)?;
        if tag & 0x1f == 0x1f {
            // High tag number form: never used by the structures we read.
            return Err(DerError::Malformed);
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is the indefinite form (BER only); more than four octets is absurd for keys.
            if count == 0 || count > 4 {
                return Err(DerError::Malformed);
            }
            let (octets, rest) = after_len
                .split_at_checked(count)
                .ok_or(DerError::Malformed)?;
            if octets.first() == Some(&0) {
                return Err(DerError::Malformed);
            }
            let mut value: usize = 0;
            for &octet in octets {
                value = value
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(usize::from(octet)))
                    .ok_or(DerError::Malformed)?;
            }
            if value < 0x80 {
                // Should have used the short form.
                return Err(DerError::Malformed);
            }
            after_len = rest;
            value
        };
        let (content, rest) = after_len.split_at_checked(len).ok_or(DerError::Malformed)?;
        let consumed = start
            .len()
            .checked_sub(rest.len())
            .ok_or(DerError::Malformed)?;
        let raw = start.get(..consumed).ok_or(DerError::Malformed)?;
        self.rest = rest;
        Ok(Tlv { tag, content, raw })
    }

    /// Reads the next element and returns its content, failing unless its tag is `tag`.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let tlv = self.read_any()?;
        if tlv.tag == tag {
            Ok(tlv.content)
        } else {
            Err(DerError::Malformed)
        }
    }
}

/// Reads one element with tag `tag` that must span all of `der`; returns its content.
fn read_whole(der: &[u8], tag: u8) -> Result<&[u8], DerError> {
    let mut reader = Reader::new(der);
    let content = reader.read(tag)?;
    reader.finish()?;
    Ok(content)
}

/// Interprets INTEGER content as a non-negative number and strips the sign pad byte.
/// Rejects empty, negative and non-minimal encodings. Zero yields an empty slice.
fn unsigned_integer(content: &[u8]) -> Result<&[u8], DerError> {
    match content {
        [] => Err(DerError::Malformed),
        [first, ..] if first & 0x80 != 0 => Err(DerError::Malformed),
        [0, second, ..] if second & 0x80 == 0 => Err(DerError::Malformed),
        [0, rest @ ..] => Ok(rest),
        _ => Ok(content),
    }
}

/// Checks that INTEGER content is a small version number (0 or 1), as at the start of
/// PKCS#8, PKCS#1 `RSAPrivateKey` and SEC1 `ECPrivateKey`.
fn is_version(content: &[u8]) -> bool {
    matches!(content, [0 | 1])
}

/// Returns the content of a BIT STRING that must have zero unused bits.
fn bit_string_bytes(content: &[u8]) -> Result<&[u8], DerError> {
    match content.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(DerError::Malformed),
    }
}

/// Renders OBJECT IDENTIFIER content octets in dotted form, validating the encoding
/// (non-empty, minimal sub-identifiers, no truncated final sub-identifier).
fn oid_to_dotted(oid: &[u8]) -> Result<String, DerError> {
    if oid.last().is_none_or(|last| last & 0x80 != 0) {
        return Err(DerError::Malformed);
    }
    let mut out = String::new();
    let mut value: u128 = 0;
    let mut at_start = true;
    for &octet in oid {
        if at_start && octet == 0x80 {
            return Err(DerError::Malformed);
        }
        value = value
            .checked_mul(128)
            .and_then(|v| v.checked_add(u128::from(octet & 0x7f)))
            .ok_or(DerError::Malformed)?;
        at_start = octet & 0x80 == 0;
        if at_start {
            if out.is_empty() {
                let (first, second) = match value {
                    0..40 => (0, value),
                    40..80 => (1, value.saturating_sub(40)),
                    _ => (2, value.saturating_sub(80)),
                };
                out.push_str(&first.to_string());
                out.push('.');
                out.push_str(&second.to_string());
            } else {
                out.push('.');
                out.push_str(&value.to_string());
            }
            value = 0;
        }
    }
    Ok(out)
}

/// Which container a key came in, so PEM labels can be checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// SubjectPublicKeyInfo (`PUBLIC KEY`).
    Spki,
    /// PKCS#1 `RSAPublicKey` (`RSA PUBLIC KEY`).
    Pkcs1,
}

/// Builds an RSA key from the content of the two INTEGERs of an `RSAPublicKey`.
fn rsa_from_integers<'a>(n: &'a [u8], e: &'a [u8]) -> Result<PublicKeyDer<'a>, DerError> {
    let n = unsigned_integer(n)?;
    let e = unsigned_integer(e)?;
    if n.is_empty() || e.is_empty() {
        return Err(DerError::Malformed);
    }
    Ok(PublicKeyDer::Rsa { n, e })
}

/// Parses a complete PKCS#1 `RSAPublicKey` (SEQUENCE { INTEGER n, INTEGER e }).
fn parse_rsa_public_key(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    let mut reader = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    let n = reader.read(TAG_INTEGER)?;
    let e = reader.read(TAG_INTEGER)?;
    reader.finish()?;
    rsa_from_integers(n, e)
}

/// Interprets the AlgorithmIdentifier content and BIT STRING content of a
/// SubjectPublicKeyInfo.
fn parse_spki<'a>(algorithm: &'a [u8], bits: &'a [u8]) -> Result<PublicKeyDer<'a>, DerError> {
    let mut reader = Reader::new(algorithm);
    let oid = reader.read(TAG_OID)?;
    let params = if reader.is_empty() {
        None
    } else {
        Some(reader.read_any()?)
    };
    reader.finish()?;
    match oid {
        OID_RSA_ENCRYPTION => {
            // RFC 3279: parameters MUST be NULL; absent is tolerated (seen in the wild).
            match params {
                None => {}
                Some(p) if p.tag == TAG_NULL && p.content.is_empty() => {}
                Some(_) => return Err(DerError::Malformed),
            }
            parse_rsa_public_key(bit_string_bytes(bits)?)
        }
        OID_EC_PUBLIC_KEY => {
            let params = params.ok_or(DerError::Malformed)?;
            let curve = match params.tag {
                TAG_OID => match params.content {
                    OID_P256 => Curve::P256,
                    OID_P384 => Curve::P384,
                    OID_P521 => Curve::P521,
                    other => return Err(DerError::UnsupportedCurve(oid_to_dotted(other)?)),
                },
                TAG_SEQUENCE => {
                    return Err(DerError::UnsupportedCurve(
                        "explicit curve parameters".to_owned(),
                    ));
                }
                _ => return Err(DerError::Malformed),
            };
            Ok(PublicKeyDer::Ec {
                curve,
                point: bit_string_bytes(bits)?,
            })
        }
        OID_ED25519 => {
            // RFC 8410: parameters MUST be absent.
            if params.is_some() {
                return Err(DerError::Malformed);
            }
            Ok(PublicKeyDer::Ed25519 {
                x: bit_string_bytes(bits)?,
            })
        }
        other => Err(DerError::UnsupportedKeyType(oid_to_dotted(other)?)),
    }
}

/// Parses a key and reports which container it came in.
fn parse_with_form(der: &[u8]) -> Result<(Form, PublicKeyDer<'_>), DerError> {
    let mut reader = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    let first = reader.read_any()?;
    let second = reader.read_any()?;
    let only_two = reader.is_empty();
    match (first.tag, second.tag) {
        (TAG_SEQUENCE, TAG_BIT_STRING) if only_two => {
            Ok((Form::Spki, parse_spki(first.content, second.content)?))
        }
        (TAG_INTEGER, TAG_INTEGER) if only_two => Ok((
            Form::Pkcs1,
            rsa_from_integers(first.content, second.content)?,
        )),
        // EncryptedPrivateKeyInfo: SEQUENCE { AlgorithmIdentifier, OCTET STRING }.
        (TAG_SEQUENCE, TAG_OCTET_STRING) => Err(DerError::PrivateKey),
        // PKCS#8 PrivateKeyInfo / OneAsymmetricKey (version, AlgorithmIdentifier, ...),
        // SEC1 ECPrivateKey (1, OCTET STRING, ...), PKCS#1 RSAPrivateKey and
        // OpenSSL DSA keys (0, INTEGER, INTEGER, ...).
        (TAG_INTEGER, TAG_SEQUENCE | TAG_OCTET_STRING | TAG_INTEGER)
            if is_version(first.content) =>
        {
            Err(DerError::PrivateKey)
        }
        _ => Err(DerError::Malformed),
    }
}

/// Parses DER that is either a SubjectPublicKeyInfo (RFC 5280:
/// `SEQUENCE { SEQUENCE { OID, params }, BIT STRING }`) or a PKCS#1 `RSAPublicKey`
/// (`SEQUENCE { INTEGER n, INTEGER e }`).
///
/// Recognised algorithms: rsaEncryption (params NULL or absent), id-ecPublicKey with
/// named curve P-256, P-384 or P-521, and Ed25519 (params absent). Other algorithms and
/// curves give [`DerError::UnsupportedKeyType`] / [`DerError::UnsupportedCurve`] with the
/// dotted OID. Encoding is strict DER (definite minimal lengths, no trailing bytes, BIT
/// STRING with zero unused bits, minimal non-negative INTEGERs). PKCS#8, encrypted
/// PKCS#8, PKCS#1 and SEC1 private keys give [`DerError::PrivateKey`]. A DER X.509
/// certificate is not accepted here (see [`pem_to_der`]).
pub(crate) fn parse_public_key_der(der: &[u8]) -> Result<PublicKeyDer<'_>, DerError> {
    parse_with_form(der).map(|(_, key)| key)
}

/// Extracts the complete SubjectPublicKeyInfo element from a DER X.509 certificate.
/// The certificate is only used as a container: its signature, validity period and
/// extensions are not checked.
fn spki_from_certificate(der: &[u8]) -> Result<&[u8], DerError> {
    let mut cert = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    let tbs = cert.read(TAG_SEQUENCE)?;
    cert.read(TAG_SEQUENCE)?; // signatureAlgorithm
    cert.read(TAG_BIT_STRING)?; // signatureValue
    cert.finish()?;

    let mut tbs = Reader::new(tbs);
    let mut element = tbs.read_any()?;
    if element.tag == TAG_CONTEXT_0 {
        // Optional explicit version; skip to the serial number.
        element = tbs.read_any()?;
    }
    if element.tag != TAG_INTEGER {
        return Err(DerError::Malformed);
    }
    tbs.read(TAG_SEQUENCE)?; // signature
    tbs.read(TAG_SEQUENCE)?; // issuer
    tbs.read(TAG_SEQUENCE)?; // validity
    tbs.read(TAG_SEQUENCE)?; // subject
    let spki = tbs.read_any()?;
    if spki.tag != TAG_SEQUENCE {
        return Err(DerError::Malformed);
    }
    // Optional unique identifiers and extensions: only check that they are well framed.
    while !tbs.is_empty() {
        tbs.read_any()?;
    }
    Ok(spki.raw)
}

/// Start of a PEM encapsulation boundary.
const PEM_BEGIN: &str = "-----BEGIN ";
/// Start of a PEM end boundary.
const PEM_END: &str = "-----END ";
/// End of either boundary.
const PEM_DASHES: &str = "-----";
/// Label of a SubjectPublicKeyInfo.
const LABEL_PUBLIC_KEY: &str = "PUBLIC KEY";
/// Label of a PKCS#1 `RSAPublicKey`.
const LABEL_RSA_PUBLIC_KEY: &str = "RSA PUBLIC KEY";
/// Label of an X.509 certificate.
const LABEL_CERTIFICATE: &str = "CERTIFICATE";

/// Decodes the first PEM block (RFC 7468) in `pem` and returns `(label, der)`.
///
/// Text around the block is ignored; whitespace (including CRLF) inside the body is
/// allowed; the END label must match the BEGIN label. Labels containing `PRIVATE` give
/// [`DerError::PrivateKey`]. `PUBLIC KEY` and `RSA PUBLIC KEY` return the body as is.
/// For `CERTIFICATE` the SubjectPublicKeyInfo is extracted from the certificate and
/// returned as the DER (the certificate itself is not validated). Any other label gives
/// [`DerError::PemLabel`]; no BEGIN line gives [`DerError::NotPem`].
pub(crate) fn pem_to_der(pem: &str) -> Result<(String, Vec<u8>), DerError> {
    let (_, after_begin) = pem.split_once(PEM_BEGIN).ok_or(DerError::NotPem)?;
    let (label, rest) = after_begin
        .split_once(PEM_DASHES)
        .ok_or(DerError::Malformed)?;
    // RFC 7468 labels are printable ASCII; this also rejects a BEGIN line without its
    // closing dashes (the label would run into the next line).
    if !label.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(DerError::Malformed);
    }
    if label.contains("PRIVATE") {
        return Err(DerError::PrivateKey);
    }
    if !matches!(
        label,
        LABEL_PUBLIC_KEY | LABEL_RSA_PUBLIC_KEY | LABEL_CERTIFICATE
    ) {
        return Err(DerError::PemLabel(label.to_owned()));
    }
    let (body, after_end) = rest.split_once(PEM_END).ok_or(DerError::Malformed)?;
    let end_ok = after_end
        .strip_prefix(label)
        .is_some_and(|s| s.starts_with(PEM_DASHES));
    if !end_ok {
        return Err(DerError::Malformed);
    }
    let compact: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(DerError::Malformed);
    }
    let der = STANDARD.decode(&compact).map_err(|_| DerError::Malformed)?;
    let der = if label == LABEL_CERTIFICATE {
        spki_from_certificate(&der)?.to_vec()
    } else {
        der
    };
    Ok((label.to_owned(), der))
}

/// Decodes a PEM public key and returns its owned components.
///
/// `PUBLIC KEY` and `CERTIFICATE` blocks must hold a SubjectPublicKeyInfo and
/// `RSA PUBLIC KEY` blocks a PKCS#1 `RSAPublicKey`; a mismatch is
/// [`DerError::Malformed`]. See [`pem_to_der`] and [`parse_public_key_der`].
pub(crate) fn parse_public_key_pem(pem: &str) -> Result<OwnedPublicKey, DerError> {
    let (label, der) = pem_to_der(pem)?;
    let (form, key) = parse_with_form(&der)?;
    let expected = if label == LABEL_RSA_PUBLIC_KEY {
        Form::Pkcs1
    } else {
        Form::Spki
    };
    if form != expected {
        return Err(DerError::Malformed);
    }
    Ok(key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RSA 2048 SubjectPublicKeyInfo (`openssl pkey -pubout`).
    const RSA_SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1eMqN2KrEKFZZl93k+ax
woAezkx7rh6B3tTn3jzoItJTA67EQGr6F8VQEnUNyXHvg6PRguViQHhycdmtfEP3
kJyjin+IfWVzudGyP08G18egB4xLAAzEJb+Drze3zdTwsv+mzinHGC/14wOwy9mS
tRrZ4YZ5BD6DoB641siETU5a8A/07BZKwLIhw6cbsXGI5GRAOm6fODGNJTymt/n2
v76NTX2MWjzQ/zfaPkxEB0gpsNjQcqrU1CyVqW936QnRgx+ItE35fNRAw8yC9epD
BHjoYNTRvlH5myFDmjkcY+Nq4s2LQ01AazcTb9NtJlNgA7qT1AlTuuwUKvkkWlN1
dwIDAQAB
-----END PUBLIC KEY-----
";

    /// The same key as PKCS#1 (`openssl rsa -pubout -RSAPublicKey_out`).
    const RSA_PKCS1_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEA1eMqN2KrEKFZZl93k+axwoAezkx7rh6B3tTn3jzoItJTA67EQGr6
F8VQEnUNyXHvg6PRguViQHhycdmtfEP3kJyjin+IfWVzudGyP08G18egB4xLAAzE
Jb+Drze3zdTwsv+mzinHGC/14wOwy9mStRrZ4YZ5BD6DoB641siETU5a8A/07BZK
wLIhw6cbsXGI5GRAOm6fODGNJTymt/n2v76NTX2MWjzQ/zfaPkxEB0gpsNjQcqrU
1CyVqW936QnRgx+ItE35fNRAw8yC9epDBHjoYNTRvlH5myFDmjkcY+Nq4s2LQ01A
azcTb9NtJlNgA7qT1AlTuuwUKvkkWlN1dwIDAQAB
-----END RSA PUBLIC KEY-----
";

    /// The same key's SPKI DER (`openssl pkey -pubout -outform DER | base64 -w0`).
    const RSA_SPKI_DER_B64: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1eMqN2KrEKFZZl93k+axwoAezkx7rh6B3tTn3jzoItJTA67EQGr6F8VQEnUNyXHvg6PRguViQHhycdmtfEP3kJyjin+IfWVzudGyP08G18egB4xLAAzEJb+Drze3zdTwsv+mzinHGC/14wOwy9mStRrZ4YZ5BD6DoB641siETU5a8A/07BZKwLIhw6cbsXGI5GRAOm6fODGNJTymt/n2v76NTX2MWjzQ/zfaPkxEB0gpsNjQcqrU1CyVqW936QnRgx+ItE35fNRAw8yC9epDBHjoYNTRvlH5myFDmjkcY+Nq4s2LQ01AazcTb9NtJlNgA7qT1AlTuuwUKvkkWlN1dwIDAQAB";

    /// EC P-256 SubjectPublicKeyInfo.
    const EC_P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESThnmGUX+NcAOYbuZEqVOK1y58PC
yM7pKC/v9EBntXzx3iVbYIj9IxFq1BDgP8F+8FF2YGf4tcAJotEFoacV/A==
-----END PUBLIC KEY-----
";

    /// EC P-384 SubjectPublicKeyInfo.
    const EC_P384_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEMeuBEX4V1Q9pwNaDV+YKrrFlOwzX6hXr
W805SDzF8jYtsBHYjJp90oNpkLz+nS/aoaiQ0+NelbYo7v+LUcf48jiLoiQQ5L7g
1SyPc8UBh+rD7HKjqbvQIHp9wpAFbOoR
-----END PUBLIC KEY-----
";

    /// EC P-521 SubjectPublicKeyInfo.
    const EC_P521_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQACYSgZ4EU7JZmvUUlLYuExmE4o1eO
ULarFUZq66PUVMQBZPlvyx1eJ03oSlvRNRBGZl3HFrOfs0evZDnazvxss6IAFLv4
TjrCW/MahGTs8oJm4x6eIVV8a6jStLE/XTeYSwr/IKgAbpIOa28+Jw/0ddICU8x5
EgK0a8Fu39AJ6+9bqWA=
-----END PUBLIC KEY-----
";

    /// Ed25519 SubjectPublicKeyInfo.
    const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA8fFlH3i3Z1S/oikTklYw3OoyX3gpFUnNGpSTZ2FKPFQ=
-----END PUBLIC KEY-----
";

    /// Ed448 SubjectPublicKeyInfo (unsupported algorithm 1.3.101.113).
    const ED448_PEM: &str = "-----BEGIN PUBLIC KEY-----
MEMwBQYDK2VxAzoA0nd4s8sESeXJjqR77NWnpscC/pPryG1K3krAhgAgaRvDw7pW
u3S+vAlEdNrLHTrfIPbYhpE/VhYA
-----END PUBLIC KEY-----
";

    /// secp256k1 SubjectPublicKeyInfo (unsupported curve 1.3.132.0.10).
    const SECP256K1_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEg15ZkiEGGmesrrPyd6Sesie6DGpaFqs8
5awYkIFF1Czg8MTAOrhnTBJn+OqnTpupgMRU3NdDb3woaaZSLoDhkA==
-----END PUBLIC KEY-----
";

    /// Self-signed certificate for the key in [`EC_P256_PEM`].
    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUFxk/3KS3C9bXxzq0QDgwoskpz3IwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEdGVzdDAeFw0yNjExMjQwNTI3MDFaFw0zNjExMjEwNTI3MDFa
MA8xDTALBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARJOGeY
ZRf41wA5hu5kSpU4rXLnw8LIzukoL+/0QGe1fPHeJVtgiP0jEWrUEOA/wX7wUXZg
Z/i1wAmi0QWhpxX8o1MwUTAdBgNVHQ4EFgQUko1N/095A3fDLf/q6Rn5ggB4g6kw
HwYDVR0jBBgwFoAUko1N/095A3fDLf/q6Rn5ggB4g6kwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEA1E1v/MragCG7lxetZ++F3hoX+zHg3AjJnJcO
NZuMdNgCIDzYThZ1h871YE7l3ltPgPh/xejqavx7syclGRswCZoX
-----END CERTIFICATE-----
";

    /// Throwaway Ed25519 PKCS#8 private key generated for this test only.
    const ED25519_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBtU1Gl1tYrOTVB9E+slYQNkjT0W3Y9pCOuRj+LX6GMo
-----END PRIVATE KEY-----
";

    /// All valid public-key fixtures.
    const VALID_PEMS: [&str; 6] = [
        RSA_SPKI_PEM,
        RSA_PKCS1_PEM,
        EC_P256_PEM,
        EC_P384_PEM,
        EC_P521_PEM,
        ED25519_PEM,
    ];

    /// DER of a PEM fixture.
    fn der_of(pem: &str) -> Vec<u8> {
        pem_to_der(pem).expect("fixture decodes").1
    }

    /// Replaces the label on both boundary lines of a PEM fixture.
    fn relabel(pem: &str, from: &str, to: &str) -> String {
        pem.replace(
            &format!("-----BEGIN {from}-----"),
            &format!("-----BEGIN {to}-----"),
        )
        .replace(
            &format!("-----END {from}-----"),
            &format!("-----END {to}-----"),
        )
    }

    /// Encodes DER as a PEM block with the given label.
    fn to_pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    /// Encodes a DER element with a short- or long-form minimal length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap());
        } else if len < 0x100 {
            out.extend([0x81, u8::try_from(len).unwrap()]);
        } else {
            out.extend([0x82, u8::try_from(len >> 8).unwrap(), (len & 0xff) as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    /// Concatenates DER elements.
    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    /// Tiny deterministic PRNG (xorshift64).
    struct XorShift(u64);

    impl XorShift {
        /// Next pseudo-random value.
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// Pseudo-random value below `bound` (which must be non-zero).
        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    #[test]
    fn rsa_spki_pem() {
        let (label, _) = pem_to_der(RSA_SPKI_PEM).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        let OwnedPublicKey::Rsa { n, e } = parse_public_key_pem(RSA_SPKI_PEM).unwrap() else {
            panic!("expected RSA");
        };
        assert_eq!(n.len(), 256);
        assert_eq!(n.first(), Some(&0xd5));
        assert_eq!(e, [1, 0, 1]);
    }

    #[test]
    fn rsa_pkcs1_pem_matches_spki() {
        let (label, _) = pem_to_der(RSA_PKCS1_PEM).unwrap();
        assert_eq!(label, "RSA PUBLIC KEY");
        let pkcs1 = parse_public_key_pem(RSA_PKCS1_PEM).unwrap();
        assert_eq!(pkcs1, parse_public_key_pem(RSA_SPKI_PEM).unwrap());
        let OwnedPublicKey::Rsa { n, e } = pkcs1 else {
            panic!("expected RSA");
        };
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);
    }

    #[test]
    fn rsa_spki_der() {
        let der = STANDARD.decode(RSA_SPKI_DER_B64).unwrap();
        assert_eq!(der, der_of(RSA_SPKI_PEM));
        let PublicKeyDer::Rsa { n, e } = parse_public_key_der(&der).unwrap() else {
            panic!("expected RSA");
        };
        assert_eq!(n.len(), 256);
        assert_eq!(e, [1, 0, 1]);
        // PKCS#1 DER is accepted directly, too.
        let pkcs1 = der_of(RSA_PKCS1_PEM);
        assert_eq!(
            parse_public_key_der(&pkcs1).unwrap(),
            PublicKeyDer::Rsa { n, e }
        );
    }

    #[test]
    fn pem_label_must_match_form() {
        let spki_as_pkcs1 = relabel(RSA_SPKI_PEM, "PUBLIC KEY", "RSA PUBLIC KEY");
        assert_eq!(
            parse_public_key_pem(&spki_as_pkcs1),
            Err(DerError::Malformed)
        );
        let pkcs1_as_spki = relabel(RSA_PKCS1_PEM, "RSA PUBLIC KEY", "PUBLIC KEY");
        assert_eq!(
            parse_public_key_pem(&pkcs1_as_spki),
            Err(DerError::Malformed)
        );
    }

    #[test]
    fn ec_keys() {
        for (pem, curve, len) in [
            (EC_P256_PEM, Curve::P256, 65),
            (EC_P384_PEM, Curve::P384, 97),
            (EC_P521_PEM, Curve::P521, 133),
        ] {
            let key = parse_public_key_pem(pem).unwrap();
            let OwnedPublicKey::Ec { curve: c, point } = key else {
                panic!("expected EC");
            };
            assert_eq!(c, curve);
            assert_eq!(point.len(), len);
            assert_eq!(point.first(), Some(&4));
        }
    }

    #[test]
    fn ed25519_key() {
        let key = parse_public_key_pem(ED25519_PEM).unwrap();
        let OwnedPublicKey::Ed25519 { x } = key else {
            panic!("expected Ed25519");
        };
        assert_eq!(x.len(), 32);
        assert_eq!(x.first(), Some(&0xf1));
    }

    #[test]
    fn borrowed_matches_owned() {
        for pem in VALID_PEMS {
            let der = der_of(pem);
            let borrowed = parse_public_key_der(&der).unwrap();
            assert_eq!(
                OwnedPublicKey::from(borrowed),
                parse_public_key_pem(pem).unwrap()
            );
        }
    }

    #[test]
    fn certificate_yields_spki() {
        let (label, der) = pem_to_der(CERT_PEM).unwrap();
        assert_eq!(label, "CERTIFICATE");
        assert_eq!(der, der_of(EC_P256_PEM));
        assert_eq!(
            parse_public_key_pem(CERT_PEM).unwrap(),
            parse_public_key_pem(EC_P256_PEM).unwrap()
        );
        // A public key wrapped in a CERTIFICATE label is not a certificate.
        let fake = relabel(EC_P256_PEM, "PUBLIC KEY", "CERTIFICATE");
        assert_eq!(pem_to_der(&fake), Err(DerError::Malformed));
        // Certificate DER is not accepted by the DER entry point.
        let cert_der = STANDARD
            .decode(
                CERT_PEM
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        assert_eq!(parse_public_key_der(&cert_der), Err(DerError::Malformed));
        // Truncated certificates never panic.
        for len in 0..cert_der.len() {
            let pem = to_pem("CERTIFICATE", cert_der.get(..len).unwrap());
            assert!(pem_to_der(&pem).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn unsupported_algorithm_and_curve() {
        assert_eq!(
            parse_public_key_pem(ED448_PEM),
            Err(DerError::UnsupportedKeyType("1.3.101.113".to_owned()))
        );
        assert_eq!(
            parse_public_key_pem(SECP256K1_PEM),
            Err(DerError::UnsupportedCurve("1.3.132.0.10".to_owned()))
        );
        // id-ecPublicKey with explicit (specified) curve parameters.
        let alg = tlv(
            TAG_SEQUENCE,
            &cat(&[tlv(TAG_OID, OID_EC_PUBLIC_KEY), tlv(TAG_SEQUENCE, &[])]),
        );
        let spki = tlv(
            TAG_SEQUENCE,
            &cat(&[alg, tlv(TAG_BIT_STRING, &[0, 4, 1, 2])]),
        );
        assert!(matches!(
            parse_public_key_der(&spki),
            Err(DerError::UnsupportedCurve(_))
        ));
        // RSASSA-PSS keys (1.2.840.113549.1.1.10) are a different algorithm.
        let pss = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(
                    TAG_SEQUENCE,
                    &tlv(
                        TAG_OID,
                        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
                    ),
                ),
                tlv(TAG_BIT_STRING, &[0, 0x30, 0]),
            ]),
        );
        assert_eq!(
            parse_public_key_der(&pss),
            Err(DerError::UnsupportedKeyType(
                "1.2.840.113549.1.1.10".to_owned()
            ))
        );
    }

    #[test]
    fn oid_constants_and_rendering() {
        assert_eq!(
            oid_to_dotted(OID_RSA_ENCRYPTION).unwrap(),
            "1.2.840.113549.1.1.1"
        );
        assert_eq!(
            oid_to_dotted(OID_EC_PUBLIC_KEY).unwrap(),
            "1.2.840.10045.2.1"
        );
        assert_eq!(oid_to_dotted(OID_P256).unwrap(), "1.2.840.10045.3.1.7");
        assert_eq!(oid_to_dotted(OID_P384).unwrap(), "1.3.132.0.34");
        assert_eq!(oid_to_dotted(OID_P521).unwrap(), "1.3.132.0.35");
        assert_eq!(oid_to_dotted(OID_ED25519).unwrap(), "1.3.101.112");
        assert_eq!(oid_to_dotted(&[0x00]).unwrap(), "0.0");
        assert_eq!(oid_to_dotted(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
        // Empty, truncated, non-minimal and overflowing encodings.
        assert_eq!(oid_to_dotted(&[]), Err(DerError::Malformed));
        assert_eq!(oid_to_dotted(&[0x2a, 0x86]), Err(DerError::Malformed));
        assert_eq!(oid_to_dotted(&[0x2a, 0x80, 0x01]), Err(DerError::Malformed));
        let mut huge = vec![0xff; 20];
        huge.push(0x7f);
        assert_eq!(oid_to_dotted(&huge), Err(DerError::Malformed));
    }

    #[test]
    fn private_keys_refused() {
        assert_eq!(pem_to_der(ED25519_PRIVATE_PEM), Err(DerError::PrivateKey));
        assert_eq!(
            parse_public_key_pem(ED25519_PRIVATE_PEM),
            Err(DerError::PrivateKey)
        );
        for label in ["RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"] {
            let pem = relabel(ED25519_PRIVATE_PEM, "PRIVATE KEY", label);
            assert_eq!(pem_to_der(&pem), Err(DerError::PrivateKey), "{label}");
        }
        // Private key DER is recognised even when mislabelled or passed as DER.
        let pem = relabel(ED25519_PRIVATE_PEM, "PRIVATE KEY", "PUBLIC KEY");
        assert_eq!(parse_public_key_pem(&pem), Err(DerError::PrivateKey));
        let pkcs8 = der_of(&pem);
        assert_eq!(parse_public_key_der(&pkcs8), Err(DerError::PrivateKey));

        // PKCS#1 RSAPrivateKey shape: version 0 followed by eight INTEGERs.
        let mut parts = vec![tlv(TAG_INTEGER, &[0])];
        parts.extend((1u8..9).map(|i| tlv(TAG_INTEGER, &[i])));
        let rsa_private = tlv(TAG_SEQUENCE, &cat(&parts));
        assert_eq!(
            parse_public_key_der(&rsa_private),
            Err(DerError::PrivateKey)
        );
        // SEC1 ECPrivateKey: version 1, OCTET STRING private key.
        let sec1 = tlv(
            TAG_SEQUENCE,
            &cat(&[tlv(TAG_INTEGER, &[1]), tlv(TAG_OCTET_STRING, &[7; 32])]),
        );
        assert_eq!(parse_public_key_der(&sec1), Err(DerError::PrivateKey));
        // EncryptedPrivateKeyInfo: AlgorithmIdentifier, OCTET STRING.
        let encrypted = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(TAG_SEQUENCE, &tlv(TAG_OID, OID_RSA_ENCRYPTION)),
                tlv(TAG_OCTET_STRING, &[1, 2, 3]),
            ]),
        );
        assert_eq!(parse_public_key_der(&encrypted), Err(DerError::PrivateKey));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut ders: Vec<Vec<u8>> = VALID_PEMS.iter().map(|p| der_of(p)).collect();
        ders.push(der_of(
            ED25519_PRIVATE_PEM.replace("PRIVATE", "PUBLIC").as_str(),
        ));
        for der in &ders {
            for len in 0..der.len() {
                let prefix = der.get(..len).unwrap();
                assert!(parse_public_key_der(prefix).is_err(), "prefix {len}");
            }
        }
    }

    #[test]
    fn trailing_bytes_are_errors() {
        for pem in VALID_PEMS {
            let mut der = der_of(pem);
            assert!(parse_public_key_der(&der).is_ok());
            der.push(0);
            assert_eq!(parse_public_key_der(&der), Err(DerError::Malformed));
        }
        // Trailing bytes inside the BIT STRING's RSAPublicKey.
        let pkcs1 = der_of(RSA_PKCS1_PEM);
        let mut inner = pkcs1.clone();
        inner.push(0);
        let spki = |key: &[u8]| {
            let alg = tlv(
                TAG_SEQUENCE,
                &cat(&[tlv(TAG_OID, OID_RSA_ENCRYPTION), tlv(TAG_NULL, &[])]),
            );
            let mut bits = vec![0];
            bits.extend_from_slice(key);
            tlv(TAG_SEQUENCE, &cat(&[alg, tlv(TAG_BIT_STRING, &bits)]))
        };
        assert_eq!(spki(&pkcs1), der_of(RSA_SPKI_PEM));
        assert_eq!(
            parse_public_key_der(&spki(&inner)),
            Err(DerError::Malformed)
        );
    }

    #[test]
    fn strict_der_lengths() {
        // Ed25519 SPKI: 30 2a 30 05 06 03 2b 65 70 03 21 00 <32 bytes>.
        let ed = der_of(ED25519_PEM);
        assert_eq!(ed.get(..2), Some(&[0x30, 0x2a][..]));
        // Long form for a length below 128.
        let mut long = vec![0x30, 0x81, 0x2a];
        long.extend_from_slice(ed.get(2..).unwrap());
        assert_eq!(parse_public_key_der(&long), Err(DerError::Malformed));
        // Indefinite length with end-of-contents.
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend_from_slice(ed.get(2..).unwrap());
        indefinite.extend([0, 0]);
        assert_eq!(parse_public_key_der(&indefinite), Err(DerError::Malformed));
        // Leading zero length octet: 30 82 01 22 -> 30 83 00 01 22.
        let rsa = der_of(RSA_SPKI_PEM);
        assert_eq!(rsa.get(..4), Some(&[0x30, 0x82, 0x01, 0x22][..]));
        let mut padded = vec![0x30, 0x83, 0x00, 0x01, 0x22];
        padded.extend_from_slice(rsa.get(4..).unwrap());
        assert_eq!(parse_public_key_der(&padded), Err(DerError::Malformed));
        // Reserved / oversized length forms.
        for bad in [
            &[0x30, 0xff][..],
            &[0x30, 0x85, 1, 0, 0, 0, 0],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(parse_public_key_der(bad), Err(DerError::Malformed));
        }
        // High tag number form.
        assert_eq!(
            parse_public_key_der(&[0x3f, 0x01, 0x00]),
            Err(DerError::Malformed)
        );
    }

    #[test]
    fn bit_string_and_params_checks() {
        let ed = der_of(ED25519_PEM);
        // Unused-bits octet at offset 11.
        assert_eq!(ed.get(9..12), Some(&[0x03, 0x21, 0x00][..]));
        let mut unused = ed.clone();
        *unused.get_mut(11).unwrap() = 1;
        assert_eq!(parse_public_key_der(&unused), Err(DerError::Malformed));
        // Constructed BIT STRING.
        let mut constructed = ed.clone();
        *constructed.get_mut(9).unwrap() = 0x23;
        assert_eq!(parse_public_key_der(&constructed), Err(DerError::Malformed));

        let key = || tlv(TAG_BIT_STRING, &[0; 33]);
        // Ed25519 with NULL parameters is invalid (RFC 8410).
        let ed_null = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(
                    TAG_SEQUENCE,
                    &cat(&[tlv(TAG_OID, OID_ED25519), tlv(TAG_NULL, &[])]),
                ),
                key(),
            ]),
        );
        assert_eq!(parse_public_key_der(&ed_null), Err(DerError::Malformed));
        // EC without parameters.
        let ec_none = tlv(
            TAG_SEQUENCE,
            &cat(&[tlv(TAG_SEQUENCE, &tlv(TAG_OID, OID_EC_PUBLIC_KEY)), key()]),
        );
        assert_eq!(parse_public_key_der(&ec_none), Err(DerError::Malformed));

        // RSA with absent parameters is tolerated; other parameters are not.
        let pkcs1 = der_of(RSA_PKCS1_PEM);
        let mut bits = vec![0];
        bits.extend_from_slice(&pkcs1);
        let rsa_with = |params: &[u8]| {
            let alg = tlv(
                TAG_SEQUENCE,
                &cat(&[tlv(TAG_OID, OID_RSA_ENCRYPTION), params.to_vec()]),
            );
            tlv(TAG_SEQUENCE, &cat(&[alg, tlv(TAG_BIT_STRING, &bits)]))
        };
        assert_eq!(
            parse_public_key_der(&rsa_with(&[])).unwrap(),
            parse_public_key_der(&pkcs1).unwrap()
        );
        assert_eq!(
            parse_public_key_der(&rsa_with(&[TAG_NULL, 1, 0])),
            Err(DerError::Malformed)
        );
        assert_eq!(
            parse_public_key_der(&rsa_with(&tlv(TAG_OID, OID_P256))),
            Err(DerError::Malformed)
        );
        // Extra element in the AlgorithmIdentifier.
        let extra = cat(&[tlv(TAG_NULL, &[]), tlv(TAG_NULL, &[])]);
        assert_eq!(
            parse_public_key_der(&rsa_with(&extra)),
            Err(DerError::Malformed)
        );
    }

    #[test]
    fn integer_rules() {
        let pkcs1 = |n: &[u8], e: &[u8]| {
            tlv(
                TAG_SEQUENCE,
                &cat(&[tlv(TAG_INTEGER, n), tlv(TAG_INTEGER, e)]),
            )
        };
        // Sign pad stripped.
        assert_eq!(
            parse_public_key_der(&pkcs1(&[0x00, 0x80, 0x01], &[0x03])),
            Ok(PublicKeyDer::Rsa {
                n: &[0x80, 0x01],
                e: &[0x03]
            })
        );
        // Negative modulus.
        assert_eq!(
            parse_public_key_der(&pkcs1(&[0x80, 0x01], &[0x03])),
            Err(DerError::Malformed)
        );
        // Non-minimal encodings.
        assert_eq!(
            parse_public_key_der(&pkcs1(&[0x00, 0x7f], &[0x03])),
            Err(DerError::Malformed)
        );
        assert_eq!(
            parse_public_key_der(&pkcs1(&[0x00, 0x00, 0x80], &[0x03])),
            Err(DerError::Malformed)
        );
        // Empty and zero values.
        assert_eq!(
            parse_public_key_der(&pkcs1(&[], &[0x03])),
            Err(DerError::Malformed)
        );
        assert_eq!(
            parse_public_key_der(&pkcs1(&[0x05], &[0x00])),
            Err(DerError::Malformed)
        );
        // Three INTEGERs with a non-version first value: neither public nor private.
        let three = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(TAG_INTEGER, &[5]),
                tlv(TAG_INTEGER, &[3]),
                tlv(TAG_INTEGER, &[3]),
            ]),
        );
        assert_eq!(parse_public_key_der(&three), Err(DerError::Malformed));
    }

    #[test]
    fn pem_framing() {
        // CRLF line endings, surrounding text and indentation.
        let crlf = format!(
            "# key for issuer X\r\n{}\r\ntrailing comment\r\n",
            RSA_SPKI_PEM.replace('\n', "\r\n    ")
        );
        assert_eq!(
            parse_public_key_pem(&crlf).unwrap(),
            parse_public_key_pem(RSA_SPKI_PEM).unwrap()
        );
        // Body on a single line.
        let one_line = format!(
            "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----",
            STANDARD.encode(der_of(ED25519_PEM))
        );
        assert_eq!(
            parse_public_key_pem(&one_line).unwrap(),
            parse_public_key_pem(ED25519_PEM).unwrap()
        );
        // Several blocks: the first wins.
        let two = format!("{EC_P384_PEM}\n{ED25519_PEM}");
        assert!(matches!(
            parse_public_key_pem(&two),
            Ok(OwnedPublicKey::Ec {
                curve: Curve::P384,
                ..
            })
        ));
        let private_first = format!("{ED25519_PRIVATE_PEM}{ED25519_PEM}");
        assert_eq!(
            parse_public_key_pem(&private_first),
            Err(DerError::PrivateKey)
        );
    }

    #[test]
    fn pem_errors() {
        assert_eq!(pem_to_der(""), Err(DerError::NotPem));
        assert_eq!(pem_to_der("MCowBQYDK2VwAyEA"), Err(DerError::NotPem));
        assert_eq!(
            pem_to_der(&relabel(ED25519_PEM, "PUBLIC KEY", "X509 CRL")),
            Err(DerError::PemLabel("X509 CRL".to_owned()))
        );
        assert_eq!(
            pem_to_der(&relabel(ED25519_PEM, "PUBLIC KEY", "CERTIFICATE REQUEST")),
            Err(DerError::PemLabel("CERTIFICATE REQUEST".to_owned()))
        );
        // END label differs.
        let mismatched = ED25519_PEM.replace("-----END PUBLIC KEY", "-----END RSA PUBLIC KEY");
        assert_eq!(pem_to_der(&mismatched), Err(DerError::Malformed));
        // Missing END line.
        let (head, _) = ED25519_PEM.split_once("-----END").unwrap();
        assert_eq!(pem_to_der(head), Err(DerError::Malformed));
        // BEGIN line without closing dashes.
        let open = ED25519_PEM.replacen("PUBLIC KEY-----", "PUBLIC KEY", 1);
        assert_eq!(pem_to_der(&open), Err(DerError::Malformed));
        // Invalid base64, bad padding, empty body.
        let bad = ED25519_PEM.replace("MCow", "MC*w");
        assert_eq!(pem_to_der(&bad), Err(DerError::Malformed));
        let unpadded = ED25519_PEM.replace("PFQ=", "PFQ");
        assert_eq!(pem_to_der(&unpadded), Err(DerError::Malformed));
        assert_eq!(
            pem_to_der("-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----\n"),
            Err(DerError::Malformed)
        );
        // Non-ASCII in label and body.
        assert_eq!(
            pem_to_der("-----BEGIN PUBLIC KÉY-----\nAA==\n-----END PUBLIC KÉY-----"),
            Err(DerError::Malformed)
        );
        let unicode = ED25519_PEM.replace("MCow", "MCow\u{00e9}");
        assert_eq!(pem_to_der(&unicode), Err(DerError::Malformed));
    }

    #[test]
    fn display_is_informative() {
        let all = [
            DerError::Malformed,
            DerError::UnsupportedKeyType("1.3.101.113".to_owned()),
            DerError::UnsupportedCurve("1.3.132.0.10".to_owned()),
            DerError::PrivateKey,
            DerError::NotPem,
            DerError::PemLabel("X509 CRL".to_owned()),
        ];
        for err in all {
            let text = err.to_string();
            assert!(!text.is_empty());
            assert!(!text.contains('\n'));
        }
        assert!(
            DerError::UnsupportedKeyType("1.3.101.113".to_owned())
                .to_string()
                .contains("1.3.101.113")
        );
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let seeds: Vec<Vec<u8>> = VALID_PEMS
            .iter()
            .map(|p| der_of(p))
            .chain([der_of(&CERT_PEM.replace("CERTIFICATE", "PUBLIC KEY"))])
            .collect();
        let cert_der = STANDARD
            .decode(
                CERT_PEM
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let pieces = [
            "-----BEGIN ",
            "-----END ",
            "-----",
            "PUBLIC KEY",
            "RSA PUBLIC KEY",
            "CERTIFICATE",
            "PRIVATE",
            "\n",
            "\r\n",
            " ",
            "MIIB",
            "=",
            "A",
            "é",
        ];
        for round in 0..10_000 {
            // Purely random bytes, biased towards short DER-looking inputs.
            let len = rng.below(80);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let (Some(first), 0) = (bytes.first_mut(), round % 2) {
                *first = 0x30;
            }
            let _ = parse_public_key_der(&bytes);

            // Mutations of valid keys: byte changes, truncation, insertion.
            let seed = seeds.get(rng.below(seeds.len())).unwrap();
            let mut mutated = seed.clone();
            for _ in 0..=rng.below(4) {
                match rng.below(3) {
                    0 => {
                        let i = rng.below(mutated.len().max(1));
                        if let Some(b) = mutated.get_mut(i) {
                            *b = rng.next() as u8;
                        }
                    }
                    1 => mutated.truncate(rng.below(mutated.len().max(1))),
                    _ => {
                        let i = rng.below(mutated.len() + 1);
                        mutated.insert(i, rng.next() as u8);
                    }
                }
            }
            if let Ok(key) = parse_public_key_der(&mutated) {
                let _ = OwnedPublicKey::from(key);
            }
            let _ = parse_public_key_pem(&to_pem("PUBLIC KEY", &mutated));
            let _ = parse_public_key_pem(&to_pem("RSA PUBLIC KEY", &mutated));

            // Mutated certificates.
            let mut cert = cert_der.clone();
            let i = rng.below(cert.len());
            if let Some(b) = cert.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
            let _ = pem_to_der(&to_pem("CERTIFICATE", &cert));

            // Random text assembled from PEM-ish pieces.
            let text: String = (0..rng.below(12))
                .map(|_| *pieces.get(rng.below(pieces.len())).unwrap())
                .collect();
            let _ = parse_public_key_pem(&text);
            // Random bytes as (lossy) text.
            let _ = pem_to_der(&String::from_utf8_lossy(&bytes));
        }
    }
}

/// A private signing key, in the container each jsonwebtoken signer takes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PrivateKeyDer {
    /// PKCS#1 `RSAPrivateKey`.
    Rsa(Vec<u8>),
    /// PKCS#8 `PrivateKeyInfo` holding an EC key on `curve`.
    Ec {
        /// The named curve.
        curve: Curve,
        /// The whole PKCS#8 document.
        pkcs8: Vec<u8>,
    },
    /// PKCS#8 v1 `PrivateKeyInfo` holding an Ed25519 seed (always the 48-byte form).
    Ed25519(Vec<u8>),
}

impl fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str(match self {
            Self::Rsa(_) => "PrivateKeyDer::Rsa(..)",
            Self::Ec { .. } => "PrivateKeyDer::Ec(..)",
            Self::Ed25519(_) => "PrivateKeyDer::Ed25519(..)",
        })
    }
}

/// PEM label of a PKCS#8 private key.
const LABEL_PRIVATE_KEY: &str = "PRIVATE KEY";
/// PEM label of a PKCS#1 RSA private key.
const LABEL_RSA_PRIVATE_KEY: &str = "RSA PRIVATE KEY";
/// PEM label of a SEC1 EC private key.
const LABEL_EC_PRIVATE_KEY: &str = "EC PRIVATE KEY";
/// `[1] EXPLICIT` (context-specific, constructed): the public key in SEC1 and PKCS#8 v2.
const TAG_CONTEXT_1: u8 = 0xa1;
/// `[1] IMPLICIT` (context-specific, primitive): the public key of a PKCS#8 v2 document.
const TAG_CONTEXT_1_PRIMITIVE: u8 = 0x81;
/// The fixed PKCS#8 v1 prefix of an Ed25519 key (RFC 8410 §7), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Decodes a private key PEM block: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1)
/// or `EC PRIVATE KEY` (SEC1). Encrypted keys and other labels are refused.
pub(crate) fn parse_private_key_pem(pem: &str) -> Result<PrivateKeyDer, DerError> {
    let mut text = pem;
    let (label, rest) = loop {
        let (_, after_begin) = text
            .split_once(PEM_BEGIN)
            .ok_or(DerError::NotPrivateKeyPem(None))?;
        let (label, rest) = after_begin
            .split_once(PEM_DASHES)
            .ok_or(DerError::Malformed)?;
        // A damaged BEGIN line would make the "label" run into the key itself: never echo that.
        if label.len() > 64 || !label.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(DerError::Malformed);
        }
        // `openssl ecparam -genkey` writes the curve's parameters before the key.
        if label == "EC PARAMETERS" {
            let (_, after_end) = rest.split_once(PEM_END).ok_or(DerError::Malformed)?;
            text = after_end;
            continue;
        }
        break (label, rest);
    };
    if !matches!(
        label,
        LABEL_PRIVATE_KEY | LABEL_RSA_PRIVATE_KEY | LABEL_EC_PRIVATE_KEY
    ) {
        return Err(DerError::NotPrivateKeyPem(Some(label.to_owned())));
    }
    let (body, after_end) = rest.split_once(PEM_END).ok_or(DerError::Malformed)?;
    let end_ok = after_end
        .strip_prefix(label)
        .is_some_and(|s| s.starts_with(PEM_DASHES));
    // `Proc-Type: 4,ENCRYPTED` headers mark legacy encrypted PEM, which has a ':' in the body.
    if !end_ok || body.contains(':') {
        return Err(DerError::Malformed);
    }
    let compact: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(&compact).map_err(|_| DerError::Malformed)?;
    match label {
        LABEL_RSA_PRIVATE_KEY => rsa_private_key(&der).map(|()| PrivateKeyDer::Rsa(der)),
        LABEL_EC_PRIVATE_KEY => sec1_to_pkcs8(&der),
        _ => parse_pkcs8(&der),
    }
}

/// Decodes a DER private key: PKCS#8, or PKCS#1 `RSAPrivateKey`.
pub(crate) fn parse_private_key_der(der: &[u8]) -> Result<PrivateKeyDer, DerError> {
    match parse_pkcs8(der) {
        Ok(key) => Ok(key),
        Err(err) => match rsa_private_key(der) {
            Ok(()) => Ok(PrivateKeyDer::Rsa(der.to_vec())),
            Err(_) => Err(err),
        },
    }
}

/// Checks the outline of a PKCS#1 `RSAPrivateKey`: version 0 and nine integers.
fn rsa_private_key(der: &[u8]) -> Result<(), DerError> {
    let mut reader = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    if reader.read(TAG_INTEGER)? != [0] {
        // Version 1 is multi-prime RSA, which no JOSE signer takes.
        return Err(DerError::Malformed);
    }
    for _ in 0..8 {
        unsigned_integer(reader.read(TAG_INTEGER)?)?;
    }
    reader.finish()
}

/// Parses a PKCS#8 `PrivateKeyInfo` (v1 or v2, unencrypted).
fn parse_pkcs8(der: &[u8]) -> Result<PrivateKeyDer, DerError> {
    let mut reader = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    if !is_version(reader.read(TAG_INTEGER)?) {
        return Err(DerError::Malformed);
    }
    let mut algorithm = Reader::new(reader.read(TAG_SEQUENCE)?);
    let private_key = reader.read(TAG_OCTET_STRING)?;
    // Optional attributes [0] and public key [1] follow; neither is needed to sign.
    while !reader.is_empty() {
        let tlv = reader.read_any()?;
        if !matches!(
            tlv.tag,
            TAG_CONTEXT_0 | TAG_CONTEXT_1 | TAG_CONTEXT_1_PRIMITIVE
        ) {
            return Err(DerError::Malformed);
        }
    }
    let oid = algorithm.read(TAG_OID)?;
    let params = if algorithm.is_empty() {
        None
    } else {
        Some(algorithm.read_any()?)
    };
    algorithm.finish()?;
    match oid {
        OID_RSA_ENCRYPTION => {
            rsa_private_key(private_key)?;
            Ok(PrivateKeyDer::Rsa(private_key.to_vec()))
        }
        OID_EC_PUBLIC_KEY => {
            let params = params.ok_or(DerError::Malformed)?;
            if params.tag != TAG_OID {
                return Err(DerError::UnsupportedCurve(
                    "explicit curve parameters".to_owned(),
                ));
            }
            let curve = curve_from_oid(params.content)?;
            // The embedded SEC1 key must agree with the outer curve when it names one.
            let embedded = sec1_curve(private_key)?;
            if embedded.is_some_and(|c| c != curve) {
                return Err(DerError::Malformed);
            }
            Ok(PrivateKeyDer::Ec {
                curve,
                pkcs8: der.to_vec(),
            })
        }
        OID_ED25519 => {
            if params.is_some() {
                return Err(DerError::Malformed);
            }
            let seed = read_whole(private_key, TAG_OCTET_STRING)?;
            if seed.len() != 32 {
                return Err(DerError::Malformed);
            }
            let mut v1 = ED25519_PKCS8_PREFIX.to_vec();
            v1.extend_from_slice(seed);
            Ok(PrivateKeyDer::Ed25519(v1))
        }
        other => Err(DerError::UnsupportedKeyType(oid_to_dotted(other)?)),
    }
}

/// Maps a named-curve OID to a [`Curve`].
fn curve_from_oid(oid: &[u8]) -> Result<Curve, DerError> {
    match oid {
        OID_P256 => Ok(Curve::P256),
        OID_P384 => Ok(Curve::P384),
        OID_P521 => Ok(Curve::P521),
        other => Err(DerError::UnsupportedCurve(oid_to_dotted(other)?)),
    }
}

/// Reads a SEC1 `ECPrivateKey` and returns the curve it names, if any.
fn sec1_curve(der: &[u8]) -> Result<Option<Curve>, DerError> {
    let mut reader = Reader::new(read_whole(der, TAG_SEQUENCE)?);
    if reader.read(TAG_INTEGER)? != [1] {
        return Err(DerError::Malformed);
    }
    if reader.read(TAG_OCTET_STRING)?.is_empty() {
        return Err(DerError::Malformed);
    }
    let mut curve = None;
    while !reader.is_empty() {
        let tlv = reader.read_any()?;
        match tlv.tag {
            TAG_CONTEXT_0 => curve = Some(curve_from_oid(read_whole(tlv.content, TAG_OID)?)?),
            TAG_CONTEXT_1 => {}
            _ => return Err(DerError::Malformed),
        }
    }
    Ok(curve)
}

/// Wraps a SEC1 `ECPrivateKey` (which must name its curve) into PKCS#8 v1.
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<PrivateKeyDer, DerError> {
    let curve = sec1_curve(sec1)?.ok_or(DerError::UnsupportedCurve("no named curve".to_owned()))?;
    let curve_oid = match curve {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
        Curve::P521 => OID_P521,
    };
    let mut algorithm = der_element(TAG_OID, OID_EC_PUBLIC_KEY);
    algorithm.extend(der_element(TAG_OID, curve_oid));
    let mut body = der_element(TAG_INTEGER, &[0]);
    body.extend(der_element(TAG_SEQUENCE, &algorithm));
    body.extend(der_element(TAG_OCTET_STRING, sec1));
    Ok(PrivateKeyDer::Ec {
        curve,
        pkcs8: der_element(TAG_SEQUENCE, &body),
    })
}

/// Encodes one DER element with a definite, minimal length.
fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}
