//! Signature verification with the key parsed once, when it is loaded.
//!
//! With the `aws-lc-rs` backend the HMAC key schedule and the parsed public key (`EVP_PKEY`) are built
//! once per [`Key`](super::Key), so a verification neither re-parses the key nor allocates. The
//! `rust-crypto` backend goes through jsonwebtoken's provider, which builds its verifier per call.

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::ConfigError;
use crate::verify::crypto_backend;

/// Ready-to-use verification state of one key.
// Large (an HMAC key schedule is ~1.2 KiB), but each lives once behind an `Arc` in its `Key`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum SignatureCheck {
    /// An HMAC key with its schedule computed.
    #[cfg(feature = "aws-lc-rs")]
    Hmac(aws_lc_rs::hmac::Key),
    /// A parsed and validated public key, bound to its algorithm.
    #[cfg(feature = "aws-lc-rs")]
    Public(aws_lc_rs::signature::ParsedPublicKey),
    /// jsonwebtoken's provider, with the key as it stores it.
    #[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
    Provider,
}

/// What the backend needs to build the check: the secret, or the public key in one of these forms.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) enum Material<'a> {
    Secret(&'a [u8]),
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    /// SEC1 uncompressed point.
    EcPoint(&'a [u8]),
    Ed25519(&'a [u8]),
}

impl SignatureCheck {
    /// Builds the check for `alg`, validating the public key (e.g. an EC point must be on its curve).
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn new(alg: Algorithm, material: Material<'_>) -> Result<Self, ConfigError> {
        {
            use aws_lc_rs::{hmac, signature};
            let rejected = |what: &str| {
                ConfigError::InvalidKey(format!("the backend rejected the {what} key"))
            };
            let public = |algorithm: &'static dyn signature::VerificationAlgorithm,
                          bytes: &[u8]| {
                signature::ParsedPublicKey::new(algorithm, bytes)
            };
            let rsa = |params: &'static signature::RsaParameters, n: &[u8], e: &[u8]| {
                signature::RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map(Self::Public)
                    .map_err(|_| rejected("RSA"))
            };
            match (alg, material) {
                (Algorithm::HS256, Material::Secret(s)) => {
                    Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA256, s)))
                }
                (Algorithm::HS384, Material::Secret(s)) => {
                    Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA384, s)))
                }
                (Algorithm::HS512, Material::Secret(s)) => {
                    Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA512, s)))
                }
                (Algorithm::RS256, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PKCS1_2048_8192_SHA256, n, e)
                }
                (Algorithm::RS384, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PKCS1_2048_8192_SHA384, n, e)
                }
                (Algorithm::RS512, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PKCS1_2048_8192_SHA512, n, e)
                }
                (Algorithm::PS256, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PSS_2048_8192_SHA256, n, e)
                }
                (Algorithm::PS384, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PSS_2048_8192_SHA384, n, e)
                }
                (Algorithm::PS512, Material::Rsa { n, e }) => {
                    rsa(&signature::RSA_PSS_2048_8192_SHA512, n, e)
                }
                (Algorithm::ES256, Material::EcPoint(point)) => {
                    public(&signature::ECDSA_P256_SHA256_FIXED, point)
                        .map(Self::Public)
                        .map_err(|_| rejected("EC (is the point on the curve?)"))
                }
                (Algorithm::ES384, Material::EcPoint(point)) => {
                    public(&signature::ECDSA_P384_SHA384_FIXED, point)
                        .map(Self::Public)
                        .map_err(|_| rejected("EC (is the point on the curve?)"))
                }
                (Algorithm::EdDSA, Material::Ed25519(x)) => public(&signature::ED25519, x)
                    .map(Self::Public)
                    .map_err(|_| rejected("Ed25519")),
                (alg, _) => Err(ConfigError::InvalidKey(format!(
                    "{alg:?} cannot be used with this key"
                ))),
            }
        }
    }

    /// Without `aws-lc-rs`, verification goes through jsonwebtoken's provider (without any backend the
    /// layer's `build()` reports it; keys still load).
    #[cfg(not(feature = "aws-lc-rs"))]
    pub(crate) fn new(_: Algorithm, _: Material<'_>) -> Result<Self, ConfigError> {
        Ok(Self::Provider)
    }

    /// Whether `signature` is valid for `message`. `decoding` is the same key as jsonwebtoken holds it.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        decoding: &DecodingKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        match self {
            #[cfg(feature = "aws-lc-rs")]
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
            #[cfg(feature = "aws-lc-rs")]
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            Self::Provider => {
                let Ok(provider) = crypto_backend() else {
                    return false;
                };
                (provider.verifier_factory)(&alg, decoding)
                    .is_ok_and(|verifier| verifier.verify(message, &signature.to_vec()).is_ok())
            }
        }
    }
}
