//! Every supported key format, verified end to end through the layer with tokens signed by the matching
//! private key, and the checks that refuse unusable keys when they are loaded (never per request).
//!
//! Only `building_a_layer_never_panics` is compiled without a crypto backend: everything else signs tokens
//! (and `tests/common` needs a backend to do so).

#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod common;

use tower_jwt_auth::{ConfigError, JwtAuthLayer, Key, RegisteredClaims};

/// Whatever the features, `build()` answers `Ok` or `NoCryptoBackend`, and never panics.
#[test]
fn building_a_layer_never_panics() {
    let built = std::panic::catch_unwind(|| {
        JwtAuthLayer::<RegisteredClaims>::builder()
            .key(Key::hs256([7u8; 32]).expect("a 32-byte secret"))
            .build()
            .map(|_| ())
    })
    .expect("build() must not panic, whatever the features");
    let has_backend = cfg!(any(feature = "aws-lc-rs", feature = "rust-crypto"));
    match built {
        Ok(()) => assert!(has_backend, "built without any crypto backend"),
        Err(ConfigError::NoCryptoBackend) => {
            assert!(
                !has_backend,
                "NoCryptoBackend although a backend is enabled"
            );
            let message = ConfigError::NoCryptoBackend.to_string();
            assert!(
                message.contains("aws-lc-rs") && message.contains("rust-crypto"),
                "{message}"
            );
        }
        Err(other) => panic!("expected Ok or NoCryptoBackend, got {other:?}"),
    }
}

/// Helpers shared by the modules below.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod support {
    pub use super::common::*;
    pub use base64::Engine;
    pub use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    pub use jsonwebtoken::{Algorithm, EncodingKey};
    pub use serde_json::{Value, json};
    pub use tower_jwt_auth::{
        ConfigError, JwkOptions, JwtAuthLayer, Key, KeySet, RegisteredClaims,
    };

    pub const RSA_ALGS: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// The default policy, plus the audience the test tokens carry (a token naming an audience the layer
    /// is not configured with is refused, RFC 7519 §4.1.3).
    pub fn builder() -> tower_jwt_auth::JwtAuthBuilder<RegisteredClaims> {
        JwtAuthLayer::<RegisteredClaims>::builder().audience(AUDIENCE)
    }

    /// A layer over exactly these keys.
    pub fn layer(keys: impl IntoIterator<Item = Key>) -> JwtAuthLayer<RegisteredClaims> {
        builder().keys(keys).build().expect("layer")
    }

    /// One request with `token` through a layer holding only `key`.
    pub async fn verify(key: &Key, token: &str) -> Outcome {
        run(&layer([key.clone()]), bearer(token)).await
    }

    /// `key` is bound to `alg` and verifies a token signed by the tests' private key for `alg`.
    #[track_caller]
    pub fn assert_verifies(key: &Key, alg: Algorithm) -> impl Future<Output = ()> + '_ {
        let location = std::panic::Location::caller();
        async move {
            assert_eq!(key.algorithm(), alg, "key algorithm ({location})");
            let outcome = verify(key, &token(alg, &claims(), None)).await;
            assert_eq!(
                outcome.status.as_u16(),
                200,
                "{alg:?} token refused by {key:?} ({location}): {} {}",
                outcome.www_authenticate(),
                outcome.body
            );
            outcome.assert_ok();
            assert!(outcome.body.contains("\"user-1\""), "{}", outcome.body);
        }
    }

    /// `key` refuses a well-formed `alg` token signed by `signer` (another key): 401 invalid_token.
    pub async fn assert_refuses(key: &Key, alg: Algorithm, signer: &EncodingKey) {
        let outcome = verify(key, &token_signed(alg, signer, None)).await;
        outcome.assert_invalid_token();
        assert!(
            outcome.www_authenticate().contains("signature is invalid"),
            "{alg:?} by another key: {}",
            outcome.www_authenticate()
        );
    }

    /// A token for `alg` with the default test claims, signed by `key`.
    pub fn token_signed(alg: Algorithm, key: &EncodingKey, kid: Option<&str>) -> String {
        let mut header = json!({"alg": alg_name(alg), "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        sign_raw(&header.to_string(), &claims().to_string(), alg, key)
    }

    pub fn rsa_signer(file: &str) -> EncodingKey {
        EncodingKey::from_rsa_pem(&key_file(file)).expect("RSA private key")
    }

    /// The DER inside a PEM file.
    pub fn pem_der(file: &str) -> Vec<u8> {
        let body: String = key_text(file)
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).expect("PEM body")
    }

    pub fn to_pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    pub fn b64d(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    }

    /// The error message of a refused key, after checking the variant and that it names `words`.
    #[track_caller]
    pub fn invalid_key(result: Result<Key, ConfigError>, words: &[&str]) -> String {
        let message = match result {
            Err(ConfigError::InvalidKey(message)) => message,
            Err(other) => panic!("expected ConfigError::InvalidKey, got {other:?}"),
            Ok(key) => panic!("expected ConfigError::InvalidKey, got {key:?}"),
        };
        assert_useful(&message, words);
        message
    }

    #[track_caller]
    pub fn invalid_jwk(result: Result<Key, ConfigError>, words: &[&str]) -> String {
        let message = match result {
            Err(ConfigError::InvalidJwk(message)) => message,
            Err(other) => panic!("expected ConfigError::InvalidJwk, got {other:?}"),
            Ok(key) => panic!("expected ConfigError::InvalidJwk, got {key:?}"),
        };
        assert_useful(&message, words);
        message
    }

    /// One line, non-empty, naming every one of `words` (case-insensitively).
    #[track_caller]
    pub fn assert_useful(message: &str, words: &[&str]) {
        assert!(!message.trim().is_empty(), "empty error message");
        assert!(!message.contains('\n'), "multi-line message {message:?}");
        let lower = message.to_lowercase();
        for word in words {
            assert!(
                lower.contains(&word.to_lowercase()),
                "error message {message:?} should mention {word:?}"
            );
        }
    }
}

/// Positive cases: each format, each algorithm, a real token signed by the matching private key.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod formats {
    use super::support::*;

    #[tokio::test]
    async fn spki_pem_every_algorithm() {
        for alg in RSA_ALGS {
            let key = Key::from_pem(alg, key_file("rsa_public.pem")).unwrap();
            assert_verifies(&key, alg).await;
            // The key in the file is the one used: another RSA key's signature is refused.
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
        for (alg, file) in [
            (Algorithm::ES256, "ec256_public.pem"),
            (Algorithm::ES384, "ec384_public.pem"),
            (Algorithm::EdDSA, "ed25519_public.pem"),
        ] {
            let key = Key::from_pem(alg, key_file(file)).unwrap();
            assert_verifies(&key, alg).await;
            assert_eq!(key.kid(), None);
        }
        // PEM given as text works as well as bytes.
        let key = Key::from_pem(Algorithm::EdDSA, key_text("ed25519_public.pem")).unwrap();
        assert_verifies(&key, Algorithm::EdDSA).await;
    }

    #[tokio::test]
    async fn pkcs1_pem() {
        for alg in RSA_ALGS {
            let key = Key::from_pem(alg, key_file("rsa_public_pkcs1.pem")).unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
    }

    #[tokio::test]
    async fn spki_der() {
        for alg in RSA_ALGS {
            let key = Key::from_der(alg, key_file("rsa_public.der")).unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
        for (alg, file) in [
            (Algorithm::ES256, "ec256_public.der"),
            (Algorithm::ES384, "ec384_public.der"),
            (Algorithm::EdDSA, "ed25519_public.der"),
        ] {
            let key = Key::from_der(alg, key_file(file)).unwrap();
            assert_verifies(&key, alg).await;
        }
    }

    #[tokio::test]
    async fn pkcs1_der() {
        let der = key_file("rsa_public_pkcs1.der");
        assert_eq!(der.first(), Some(&0x30));
        assert_eq!(pem_der("rsa_public_pkcs1.pem"), der, "openssl's PKCS#1 DER");
        for alg in RSA_ALGS {
            let key = Key::from_der(alg, &der).unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
    }

    #[tokio::test]
    async fn x509_certificate_pem() {
        for alg in RSA_ALGS {
            let key = Key::from_pem(alg, key_file("rsa_cert.pem")).unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
        for (alg, file) in [
            (Algorithm::ES256, "ec256_cert.pem"),
            (Algorithm::ES384, "ec384_cert.pem"),
            (Algorithm::EdDSA, "ed25519_cert.pem"),
        ] {
            let key = Key::from_pem(alg, key_file(file)).unwrap();
            assert_verifies(&key, alg).await;
        }
    }

    /// A certificate for `rsa2` issued (signed) by `rsa`: the subject's public key is used, not the
    /// issuer's.
    #[tokio::test]
    async fn x509_certificate_uses_the_subject_public_key() {
        for alg in [Algorithm::RS256, Algorithm::PS512] {
            let key = Key::from_pem(alg, key_file("rsa2_cert_by_rsa.pem")).unwrap();
            let outcome = verify(
                &key,
                &token_signed(alg, &rsa_signer("rsa2_private.pem"), None),
            )
            .await;
            outcome.assert_ok();
            // The issuer's key (rsa) signed the certificate, but does not verify tokens.
            assert_refuses(&key, alg, &rsa_signer("rsa_private.pem")).await;
        }
        // Same key as the PEM public key of rsa2.
        let from_cert = Key::from_pem(Algorithm::RS256, key_file("rsa2_cert_by_rsa.pem")).unwrap();
        let from_spki = Key::from_pem(Algorithm::RS256, key_file("rsa2_public.pem")).unwrap();
        let token = token_signed(Algorithm::RS256, &rsa_signer("rsa2_private.pem"), None);
        verify(&from_cert, &token).await.assert_ok();
        verify(&from_spki, &token).await.assert_ok();
    }

    /// A certificate is PEM-only (the documented contract of `from_der`): its DER is refused, cleanly.
    #[test]
    fn x509_certificate_der_is_refused_cleanly() {
        let der = pem_der("rsa_cert.pem");
        invalid_key(Key::from_der(Algorithm::RS256, der), &["malformed"]);
    }

    #[tokio::test]
    async fn rsa_4096_bits() {
        let signer = rsa_signer("rsa4096_private.pem");
        for alg in RSA_ALGS {
            let key = Key::from_pem(alg, key_file("rsa4096_public.pem")).unwrap();
            verify(&key, &token_signed(alg, &signer, None))
                .await
                .assert_ok();
            assert_refuses(&key, alg, &rsa_signer("rsa_private.pem")).await;
        }
    }

    /// "A key that exists can verify" (src/key/mod.rs), and RSA keys of "2048 to 8192" bits are
    /// accepted. The tokens were signed by openssl (see tests/keys/README.md), so the test does not depend
    /// on the backend's signing.
    ///
    /// With aws-lc-rs, an 8192-bit key must load and verify. A backend that cannot verify such keys (the
    /// `rsa` crate behind jsonwebtoken's rust-crypto backend stops at 4096 bits) is acceptable only if the
    /// key is then refused at load, saying why: never accepted at start-up and refused on every request.
    #[tokio::test]
    async fn rsa_8192_bits_verifies_or_is_refused_at_load() {
        for (alg, file) in [
            (Algorithm::RS256, "rsa8192_rs256.jwt"),
            (Algorithm::PS256, "rsa8192_ps256.jwt"),
        ] {
            let key = match Key::from_pem(alg, key_file("rsa8192_public.pem")) {
                Ok(key) => key,
                Err(error) if !cfg!(feature = "aws-lc-rs") => {
                    // The message names the limit.
                    invalid_key(Err(error), &["4096"]);
                    continue;
                }
                Err(error) => panic!("8192-bit key refused with aws-lc-rs: {error}"),
            };
            let token = key_text(file).trim().to_owned();
            let outcome = verify(&key, &token).await;
            assert_eq!(
                outcome.status.as_u16(),
                200,
                "{alg:?}: an 8192-bit key accepted at load does not verify a valid token: {}",
                outcome.www_authenticate()
            );
            outcome.assert_ok();
            assert!(outcome.body.contains("user-8192"), "{}", outcome.body);
            // And the signature is checked.
            let other = Key::from_pem(alg, key_file("rsa_public.pem")).unwrap();
            verify(&other, &token).await.assert_invalid_token();
        }
    }

    /// The exponent bounds `Key` documents ("odd and between 3 and 2^32-1"): a key at either bound that
    /// loads must verify a valid token, or be refused at load. Tokens signed by openssl.
    #[tokio::test]
    async fn rsa_exponent_bounds_verify_or_are_refused_at_load() {
        for (public, token, e) in [
            ("rsa_e3_public.pem", "rsa_e3_rs256.jwt", "3"),
            ("rsa_e32_public.pem", "rsa_e32_rs256.jwt", "4294967295"),
        ] {
            let key = match Key::from_pem(Algorithm::RS256, key_file(public)) {
                Ok(key) => key,
                Err(error) => {
                    invalid_key(Err(error), &["exponent"]);
                    continue;
                }
            };
            let outcome = verify(&key, key_text(token).trim()).await;
            assert_eq!(
                outcome.status.as_u16(),
                200,
                "RSA exponent {e}: accepted at load but does not verify a valid token: {}",
                outcome.www_authenticate()
            );
            outcome.assert_ok();
        }
    }

    #[tokio::test]
    async fn raw_components() {
        let rsa = jwk("rsa-1");
        let (n, e) = (
            b64d(rsa["n"].as_str().unwrap()),
            b64d(rsa["e"].as_str().unwrap()),
        );
        for alg in RSA_ALGS {
            let key = Key::rsa_components(alg, &n, &e).unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &rsa_signer("rsa2_private.pem")).await;
        }
        // Leading zero bytes (a sign byte, a fixed-width encoding) change nothing.
        let mut padded_n = vec![0, 0];
        padded_n.extend_from_slice(&n);
        let key = Key::rsa_components(Algorithm::RS256, &padded_n, &[0, 1, 0, 1]).unwrap();
        assert_verifies(&key, Algorithm::RS256).await;

        for (alg, kid) in [(Algorithm::ES256, "ec-256"), (Algorithm::ES384, "ec-384")] {
            let ec = jwk(kid);
            let key = Key::ec_components(
                alg,
                &b64d(ec["x"].as_str().unwrap()),
                &b64d(ec["y"].as_str().unwrap()),
            )
            .unwrap();
            assert_verifies(&key, alg).await;
        }

        let x = b64d(jwk("ed-1")["x"].as_str().unwrap());
        let key = Key::ed25519(&x).unwrap();
        assert_verifies(&key, Algorithm::EdDSA).await;
        // The raw key is the one in the PEM file.
        assert_eq!(pem_der("ed25519_public.pem")[12..], x[..]);
    }

    #[tokio::test]
    async fn single_jwk_json() {
        // With `alg` in the JWK; the kid comes from the JWK.
        for (kid, alg) in [
            ("rsa-1", Algorithm::RS256),
            ("ec-256", Algorithm::ES256), // no `alg`: inferred from the curve
            ("ec-384", Algorithm::ES384),
            ("ed-1", Algorithm::EdDSA),
        ] {
            let key = Key::from_jwk_json(&jwk(kid).to_string(), None).unwrap();
            assert_eq!(key.kid(), Some(kid));
            assert_verifies(&key, alg).await;
            // The configured algorithm may repeat the JWK's.
            let key = Key::from_jwk_json(&jwk(kid).to_string(), Some(alg)).unwrap();
            assert_verifies(&key, alg).await;
        }
        let rsa2 = Key::from_jwk_json(&jwk("rsa-2").to_string(), None).unwrap();
        assert_eq!(rsa2.algorithm(), Algorithm::PS256);
        verify(
            &rsa2,
            &token_signed(Algorithm::PS256, &rsa_signer("rsa2_private.pem"), None),
        )
        .await
        .assert_ok();

        // Without `alg` in the JWK, the configured algorithm decides.
        let bare = patched(jwk("rsa-1"), json!({"alg": null}));
        for alg in RSA_ALGS {
            let key = Key::from_jwk_json(&bare.to_string(), Some(alg)).unwrap();
            assert_verifies(&key, alg).await;
        }
        let bare_ed = patched(jwk("ed-1"), json!({"alg": null}));
        let key = Key::from_jwk_json(&bare_ed.to_string(), None).unwrap();
        assert_verifies(&key, Algorithm::EdDSA).await;

        // Padding in base64url members is tolerated.
        let x = jwk("ed-1")["x"].as_str().unwrap().to_owned() + "=";
        let padded = patched(jwk("ed-1"), json!({ "x": x }));
        let key = Key::from_jwk_json(&padded.to_string(), None).unwrap();
        assert_verifies(&key, Algorithm::EdDSA).await;
    }

    #[tokio::test]
    async fn single_jwk_type() {
        use jsonwebtoken::jwk::Jwk;
        for (kid, alg) in [
            ("rsa-1", Algorithm::RS256),
            ("ec-256", Algorithm::ES256),
            ("ec-384", Algorithm::ES384),
            ("ed-1", Algorithm::EdDSA),
        ] {
            let jwk: Jwk = serde_json::from_value(jwk(kid)).unwrap();
            let key = Key::from_jwk(&jwk, None).unwrap();
            assert_eq!(key.kid(), Some(kid));
            assert_verifies(&key, alg).await;
        }
        let rsa2: Jwk = serde_json::from_value(jwk("rsa-2")).unwrap();
        let key = Key::from_jwk(&rsa2, None).unwrap();
        verify(
            &key,
            &token_signed(Algorithm::PS256, &rsa_signer("rsa2_private.pem"), None),
        )
        .await
        .assert_ok();
        // Without alg, with the configured one.
        let bare: Jwk =
            serde_json::from_value(patched(jwk("rsa-1"), json!({"alg": null}))).unwrap();
        let key = Key::from_jwk(&bare, Some(Algorithm::PS384)).unwrap();
        assert_verifies(&key, Algorithm::PS384).await;
    }

    /// Every key of tests/keys/jwks.json, each named by its kid.
    #[tokio::test]
    async fn jwk_set_every_kid() {
        let set = KeySet::from_jwks_json(&key_text("jwks.json")).unwrap();
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        let loaded: Vec<_> = set
            .keys()
            .iter()
            .map(|k| (k.kid().unwrap().to_owned(), k.algorithm()))
            .collect();
        assert_eq!(
            loaded,
            [
                ("rsa-1".to_owned(), Algorithm::RS256),
                ("rsa-2".to_owned(), Algorithm::PS256),
                ("ec-256".to_owned(), Algorithm::ES256),
                ("ec-384".to_owned(), Algorithm::ES384),
                ("ed-1".to_owned(), Algorithm::EdDSA),
            ]
        );
        let layer = builder().key_set(set).build().unwrap();
        let rsa2 = rsa_signer("rsa2_private.pem");
        let cases = [
            ("rsa-1", token(Algorithm::RS256, &claims(), Some("rsa-1"))),
            (
                "rsa-2",
                token_signed(Algorithm::PS256, &rsa2, Some("rsa-2")),
            ),
            ("ec-256", token(Algorithm::ES256, &claims(), Some("ec-256"))),
            ("ec-384", token(Algorithm::ES384, &claims(), Some("ec-384"))),
            ("ed-1", token(Algorithm::EdDSA, &claims(), Some("ed-1"))),
        ];
        for (kid, token) in &cases {
            let outcome = run(&layer, bearer(token)).await;
            assert_eq!(
                outcome.status.as_u16(),
                200,
                "kid {kid}: {}",
                outcome.www_authenticate()
            );
            outcome.assert_ok();
        }
        // The kid selects the key: a token naming another key of the same type is refused.
        run(
            &layer,
            bearer(&token(Algorithm::PS256, &claims(), Some("rsa-2"))),
        )
        .await
        .assert_invalid_token();
        run(
            &layer,
            bearer(&token(Algorithm::RS256, &claims(), Some("rsa-2"))),
        )
        .await
        .assert_invalid_token();
        // Several keys: a token must name one.
        run(&layer, bearer(&token(Algorithm::RS256, &claims(), None)))
            .await
            .assert_invalid_token();
    }

    #[tokio::test]
    async fn jwk_set_from_jsonwebtoken_type() {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_slice(&key_file("jwks.json")).unwrap();
        let set = KeySet::from_jwk_set(&set, &JwkOptions::default()).unwrap();
        assert_eq!(set.keys().len(), 5, "{:?}", set.skipped());
        let layer = builder().key_set(set).build().unwrap();
        run(
            &layer,
            bearer(&token(Algorithm::ES384, &claims(), Some("ec-384"))),
        )
        .await
        .assert_ok();
    }

    #[tokio::test]
    async fn hmac_raw() {
        for (alg, key) in [
            (Algorithm::HS256, Key::hs256(SECRET)),
            (Algorithm::HS384, Key::hs384([7u8; 48])),
            (Algorithm::HS512, Key::hs512([7u8; 64])),
            (Algorithm::HS256, Key::hmac(Algorithm::HS256, SECRET)),
            (Algorithm::HS384, Key::hmac(Algorithm::HS384, [7u8; 48])),
            (Algorithm::HS512, Key::hmac(Algorithm::HS512, [7u8; 64])),
        ] {
            let key = key.unwrap();
            assert_verifies(&key, alg).await;
            assert_refuses(&key, alg, &EncodingKey::from_secret(&[8u8; 64])).await;
        }
    }

    /// Secrets pasted as base64 in any of its common spellings.
    #[tokio::test]
    async fn hmac_base64_every_spelling() {
        // Bytes whose standard encoding has `+`, `/` and padding, so each spelling differs.
        let pattern = [0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff];
        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 49),
            (Algorithm::HS512, 65),
        ] {
            let secret: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
            let standard = STANDARD.encode(&secret);
            assert!(standard.contains('+') && standard.contains('/') && standard.ends_with('='));
            let url_safe = standard.replace('+', "-").replace('/', "_");
            let spellings = [
                standard.clone(),
                standard.trim_end_matches('=').to_owned(),
                url_safe.clone(),
                url_safe.trim_end_matches('=').to_owned(),
                format!("  {standard}\n"),
            ];
            let signer = EncodingKey::from_secret(&secret);
            for spelling in &spellings {
                let key = Key::hmac_base64(alg, spelling)
                    .unwrap_or_else(|e| panic!("{alg:?} {spelling:?}: {e}"));
                assert_eq!(key.algorithm(), alg);
                verify(&key, &token_signed(alg, &signer, None))
                    .await
                    .assert_ok();
                // The decoded bytes are the secret, not the text.
                assert_refuses(&key, alg, &EncodingKey::from_secret(spelling.as_bytes())).await;
            }
        }
    }
}

/// Negative cases, at load time: the variant and a message that says what is wrong.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod load_checks {
    use super::support::*;

    /// A modulus of exactly `bits` bits (top bit set, odd).
    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        let top = bits % 8;
        if top != 0 {
            n[0] = (1u8 << top) - 1;
        }
        n
    }

    #[test]
    fn rsa_1024_bits_is_refused() {
        for alg in RSA_ALGS {
            invalid_key(
                Key::from_pem(alg, key_file("rsa1024_public.pem")),
                &["1024", "2048"],
            );
        }
        let der = pem_der("rsa1024_public.pem");
        invalid_key(Key::from_der(Algorithm::RS256, der), &["1024 bits"]);
    }

    #[test]
    fn rsa_modulus_size_bounds() {
        let e = [1, 0, 1];
        invalid_key(
            Key::rsa_components(Algorithm::RS256, &modulus(2047), &e),
            &["2047 bits", "2048"],
        );
        Key::rsa_components(Algorithm::RS256, &modulus(2048), &e).expect("2048 bits");
        // The documented maximum: 8192 bits, or 4096 when rust-crypto is the only backend.
        let max = if cfg!(feature = "aws-lc-rs") {
            8192
        } else {
            4096
        };
        Key::rsa_components(Algorithm::PS512, &modulus(max), &e).expect("the maximum size");
        invalid_key(
            Key::rsa_components(Algorithm::RS256, &modulus(max + 1), &e),
            &[&format!("{} bits", max + 1), &max.to_string()],
        );
        invalid_key(
            Key::rsa_components(Algorithm::PS256, &modulus(16384), &e),
            &["16384 bits", &max.to_string()],
        );
    }

    /// An empty or all-zero modulus is nonsense: refused like any other bad size, never a panic.
    #[test]
    fn rsa_empty_or_zero_modulus_is_refused_not_a_panic() {
        for n in [&[][..], &[0u8][..], &[0u8; 256][..]] {
            let result =
                std::panic::catch_unwind(|| Key::rsa_components(Algorithm::RS256, n, &[1, 0, 1]));
            match result {
                Ok(result) => {
                    invalid_key(result, &["modulus"]);
                }
                Err(_) => panic!(
                    "Key::rsa_components panicked on a {}-byte zero modulus instead of refusing it",
                    n.len()
                ),
            }
        }
    }

    /// The same through a JWK set: one bad entry must be skipped, not take the whole load down.
    #[test]
    fn jwk_set_with_empty_modulus_is_skipped_not_a_panic() {
        let document = json!({"keys": [
            patched(jwk("rsa-1"), json!({"kid": "empty-n", "n": ""})),
            patched(jwk("rsa-1"), json!({"kid": "zero-n", "n": "AA"})),
            jwk("ed-1"),
        ]});
        let result = std::panic::catch_unwind(|| KeySet::from_jwks_json(&document.to_string()));
        let set = result
            .expect("KeySet::from_jwks_json panicked on an RSA JWK with an empty/zero `n`")
            .unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(set.skipped().len(), 2);
    }

    #[test]
    fn rsa_exponent_checks() {
        let n = b64d(jwk("rsa-1")["n"].as_str().unwrap());
        let cases: [(&[u8], &str); 7] = [
            (&[1, 0, 0], "even 65536"),
            (&[4], "even 4"),
            (&[1], "exponent 1"),
            (&[0], "exponent 0"),
            (&[], "empty exponent"),
            (&[1, 0, 0, 0, 1], "2^32 + 1"),
            (&[1, 0, 0, 0, 0, 0, 0, 0, 1], "2^64 + 1"),
        ];
        for (e, what) in cases {
            let message = invalid_key(Key::rsa_components(Algorithm::RS256, &n, e), &["exponent"]);
            assert!(
                message.contains("odd") && message.contains("3"),
                "{what}: {message}"
            );
        }
        // The bounds themselves, and leading zeros, are fine.
        for e in [&[3][..], &[0xff, 0xff, 0xff, 0xff], &[0, 0, 0, 0, 1, 0, 1]] {
            Key::rsa_components(Algorithm::RS256, &n, e)
                .unwrap_or_else(|err| panic!("{e:?}: {err}"));
        }
    }

    /// The exponent checks apply to every container, not just raw components.
    #[test]
    fn rsa_exponent_checks_in_pkcs1_der_and_jwk() {
        let n = b64d(jwk("rsa-1")["n"].as_str().unwrap());
        // PKCS#1 RSAPublicKey: SEQUENCE { INTEGER n (with sign byte), INTEGER e }.
        let pkcs1 = |e: &[u8]| {
            let mut n_int = vec![0u8];
            n_int.extend_from_slice(&n);
            let mut body = vec![0x02, 0x82, (n_int.len() >> 8) as u8, n_int.len() as u8];
            body.extend_from_slice(&n_int);
            body.extend_from_slice(&[0x02, e.len() as u8]);
            body.extend_from_slice(e);
            let mut der = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
            der.extend_from_slice(&body);
            der
        };
        assert_eq!(pkcs1(&[1, 0, 1]), key_file("rsa_public_pkcs1.der"));
        invalid_key(Key::from_der(Algorithm::RS256, pkcs1(&[4])), &["exponent"]);
        invalid_key(
            Key::from_pem(Algorithm::RS256, to_pem("RSA PUBLIC KEY", &pkcs1(&[1]))),
            &["exponent"],
        );
        invalid_jwk(
            Key::from_jwk_json(
                &patched(jwk("rsa-1"), json!({"e": "AQAAAAE"})).to_string(),
                None,
            ),
            &["exponent"],
        );
    }

    #[test]
    fn ec_coordinates_of_the_wrong_length() {
        let ec = jwk("ec-256");
        let (x, y) = (
            b64d(ec["x"].as_str().unwrap()),
            b64d(ec["y"].as_str().unwrap()),
        );
        invalid_key(
            Key::ec_components(Algorithm::ES256, &x[1..], &y),
            &["32", "31"],
        );
        let mut long = vec![0];
        long.extend_from_slice(&x);
        invalid_key(
            Key::ec_components(Algorithm::ES256, &long, &y),
            &["32", "33"],
        );
        invalid_key(Key::ec_components(Algorithm::ES256, &x, &[]), &["32"]);
        // P-256 coordinates for ES384, and P-384 ones for ES256.
        invalid_key(
            Key::ec_components(Algorithm::ES384, &x, &y),
            &["ES384", "48"],
        );
        let ec384 = jwk("ec-384");
        let (x384, y384) = (
            b64d(ec384["x"].as_str().unwrap()),
            b64d(ec384["y"].as_str().unwrap()),
        );
        invalid_key(
            Key::ec_components(Algorithm::ES256, &x384, &y384),
            &["ES256", "32"],
        );
        // Not an EC algorithm at all.
        invalid_key(Key::ec_components(Algorithm::RS256, &x, &y), &["RS256"]);
        // In a JWK.
        let short = patched(ec.clone(), json!({"x": b64(&x[1..])}));
        invalid_jwk(Key::from_jwk_json(&short.to_string(), None), &["32", "31"]);
    }

    #[test]
    fn ec_curve_must_match_the_algorithm() {
        invalid_key(
            Key::from_pem(Algorithm::ES384, key_file("ec256_public.pem")),
            &["ES256", "ES384"],
        );
        invalid_key(
            Key::from_pem(Algorithm::ES256, key_file("ec384_public.pem")),
            &["ES384", "ES256"],
        );
        invalid_key(
            Key::from_der(Algorithm::ES384, key_file("ec256_public.der")),
            &["ES256", "ES384"],
        );
        invalid_key(
            Key::from_pem(Algorithm::ES256, key_file("ec384_cert.pem")),
            &["ES384"],
        );
        // JWK: a P-256 key declared (or configured) for ES384, and the reverse.
        invalid_jwk(
            Key::from_jwk_json(
                &patched(jwk("ec-256"), json!({"alg": "ES384"})).to_string(),
                None,
            ),
            &["P-256", "ES384"],
        );
        invalid_jwk(
            Key::from_jwk_json(&jwk("ec-256").to_string(), Some(Algorithm::ES384)),
            &["ES384"],
        );
        invalid_jwk(
            Key::from_jwk_json(&jwk("ec-384").to_string(), Some(Algorithm::ES256)),
            &["ES384", "ES256"],
        );
    }

    #[test]
    fn p521_is_refused_naming_es512() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::EdDSA,
        ] {
            invalid_key(
                Key::from_pem(alg, key_file("ec521_public.pem")),
                &["P-521", "ES512"],
            );
        }
        invalid_key(
            Key::from_der(Algorithm::ES256, pem_der("ec521_public.pem")),
            &["P-521", "ES512"],
        );
    }

    /// The coordinates of tests/keys/ec521_public.pem as a JWK (66 bytes each).
    fn p521_jwk() -> Value {
        let der = pem_der("ec521_public.pem");
        let point = &der[der.len() - 133..];
        assert_eq!(point[0], 0x04);
        json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&point[1..67]), "y": b64(&point[67..])})
    }

    #[test]
    fn p521_jwk_with_alg_es512_is_refused_naming_es512() {
        let with_alg = patched(p521_jwk(), json!({"alg": "ES512"}));
        invalid_jwk(Key::from_jwk_json(&with_alg.to_string(), None), &["ES512"]);
        invalid_jwk(
            Key::from_jwk_json(&p521_jwk().to_string(), Some(Algorithm::ES256)),
            &["P-521"],
        );
    }

    /// Most P-521 JWKs in the wild carry no `alg`: the refusal must still say P-521/ES512 is the
    /// problem, not that an `alg` is missing.
    #[test]
    fn p521_jwk_without_alg_is_refused_naming_p521() {
        invalid_jwk(
            Key::from_jwk_json(&p521_jwk().to_string(), None),
            &["P-521"],
        );
        let set = KeySet::from_jwks_json(&json!({ "keys": [p521_jwk()] }).to_string()).unwrap();
        let reason = &set.skipped()[0].reason;
        assert!(
            reason.contains("P-521") || reason.contains("ES512"),
            "skipped P-521 JWK, reason {reason:?} should name P-521/ES512"
        );
    }

    /// Ed25519 keys are 32 bytes. (jsonwebtoken's rust-crypto backend would panic at request time on a
    /// short one, so this must be refused at load.)
    #[test]
    fn ed25519_of_31_and_33_bytes() {
        let x = b64d(jwk("ed-1")["x"].as_str().unwrap());
        let mut long = x.clone();
        long.push(0);
        for bad in [&x[..31], &long[..], &[][..]] {
            let len = bad.len().to_string();
            invalid_key(Key::ed25519(bad), &["32", &len]);
            // SubjectPublicKeyInfo with a BIT STRING of that size, in DER and in PEM.
            let mut inner = vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03];
            inner.push(bad.len() as u8 + 1);
            inner.push(0);
            inner.extend_from_slice(bad);
            let mut spki = vec![0x30, inner.len() as u8];
            spki.extend_from_slice(&inner);
            invalid_key(Key::from_der(Algorithm::EdDSA, &spki), &["32", &len]);
            invalid_key(
                Key::from_pem(Algorithm::EdDSA, to_pem("PUBLIC KEY", &spki)),
                &["32", &len],
            );
            // And as a JWK.
            let jwk = patched(jwk("ed-1"), json!({ "x": b64(bad) }));
            invalid_jwk(Key::from_jwk_json(&jwk.to_string(), None), &["32", &len]);
        }
        // The well-formed SPKI built the same way is the fixture.
        let mut inner = vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 33, 0];
        inner.extend_from_slice(&x);
        let mut spki = vec![0x30, inner.len() as u8];
        spki.extend_from_slice(&inner);
        assert_eq!(spki, key_file("ed25519_public.der"));
    }

    #[test]
    fn key_type_must_match_the_algorithm() {
        invalid_key(
            Key::from_pem(Algorithm::EdDSA, key_file("ec256_public.pem")),
            &["ES256", "EdDSA"],
        );
        invalid_key(
            Key::from_pem(Algorithm::ES256, key_file("ed25519_public.pem")),
            &["EdDSA", "ES256"],
        );
        invalid_key(
            Key::from_pem(Algorithm::RS256, key_file("ed25519_public.pem")),
            &["RS256"],
        );
        invalid_key(
            Key::from_pem(Algorithm::ES256, key_file("rsa_public.pem")),
            &["ES256", "RSA"],
        );
    }

    #[test]
    fn private_key_pem_is_refused() {
        for file in [
            "rsa_private.pem",
            "rsa_private_pkcs1.pem",
            "ec256_private.pem",
            "ec256_private_sec1.pem",
            "ed25519_private.pem",
        ] {
            let alg = match file {
                f if f.starts_with("rsa") => Algorithm::RS256,
                f if f.starts_with("ec") => Algorithm::ES256,
                _ => Algorithm::EdDSA,
            };
            let message = invalid_key(Key::from_pem(alg, key_file(file)), &["private", "public"]);
            assert!(
                !message.contains("MII"),
                "{file}: key material in {message:?}"
            );
            // The same DER, unlabelled.
            invalid_key(Key::from_der(alg, pem_der(file)), &["private"]);
            // A private key relabelled as public is still recognised by its structure.
            invalid_key(
                Key::from_pem(alg, to_pem("PUBLIC KEY", &pem_der(file))),
                &["private"],
            );
        }
    }

    #[test]
    fn not_a_key_is_refused() {
        invalid_key(Key::from_pem(Algorithm::RS256, "hello"), &["PEM"]);
        invalid_key(Key::from_pem(Algorithm::RS256, [0xffu8, 0xfe]), &["text"]);
        invalid_key(
            Key::from_pem(Algorithm::RS256, to_pem("X509 CRL", &[0x30, 0x00])),
            &["X509 CRL"],
        );
        invalid_key(
            Key::from_der(Algorithm::RS256, [0x30, 0x00]),
            &["malformed"],
        );
        invalid_key(Key::from_der(Algorithm::RS256, []), &["malformed"]);
    }

    #[test]
    fn jwk_with_private_members_is_refused() {
        let cases = [
            patched(jwk("rsa-1"), json!({"d": "AQAB"})),
            patched(jwk("rsa-1"), json!({"p": "AQAB", "q": "AQAB"})),
            patched(jwk("rsa-1"), json!({"dp": "AQAB"})),
            patched(jwk("rsa-1"), json!({"qi": "AQAB"})),
            patched(jwk("rsa-1"), json!({"oth": []})),
            patched(jwk("ec-256"), json!({"d": "AQAB"})),
            patched(jwk("ed-1"), json!({"d": "AQAB"})),
        ];
        for jwk in &cases {
            let message = invalid_jwk(Key::from_jwk_json(&jwk.to_string(), None), &["private"]);
            assert!(!message.contains("AQAB"), "{message}");
            // In a set: skipped with the same reason.
            let set = KeySet::from_jwks_json(&json!({ "keys": [jwk] }).to_string()).unwrap();
            assert!(set.keys().is_empty());
            assert!(
                set.skipped()[0].reason.contains("private"),
                "{:?}",
                set.skipped()
            );
        }
    }

    #[test]
    fn hmac_secret_one_byte_too_short() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let short = vec![7u8; min - 1];
            let results = [
                Key::hmac(alg, &short),
                Key::hmac_base64(alg, &STANDARD.encode(&short)),
                match alg {
                    Algorithm::HS256 => Key::hs256(&short),
                    Algorithm::HS384 => Key::hs384(&short),
                    _ => Key::hs512(&short),
                },
            ];
            for result in results {
                let error = result.expect_err("one byte short");
                assert_eq!(
                    error,
                    ConfigError::SecretTooShort {
                        alg,
                        min,
                        got: min - 1
                    }
                );
                assert_useful(
                    &error.to_string(),
                    &[
                        &format!("{alg:?}"),
                        &min.to_string(),
                        &(min - 1).to_string(),
                    ],
                );
            }
            Key::hmac(alg, vec![7u8; min]).expect("exactly the minimum");
        }
        // Empty.
        assert!(matches!(
            Key::hs256(""),
            Err(ConfigError::SecretTooShort { got: 0, .. })
        ));
    }

    #[test]
    fn hmac_base64_that_is_not_base64() {
        invalid_key(
            Key::hmac_base64(Algorithm::HS256, "not base64 at all!"),
            &["base64"],
        );
        invalid_key(Key::hmac_base64(Algorithm::HS256, "a+b_c==="), &["base64"]);
    }

    #[test]
    fn asymmetric_key_configured_for_hmac() {
        invalid_key(
            Key::from_pem(Algorithm::HS256, key_file("rsa_public.pem")),
            &["HS256", "RSA"],
        );
        invalid_key(
            Key::from_der(Algorithm::HS384, key_file("rsa_public.der")),
            &["HS384"],
        );
        let rsa = jwk("rsa-1");
        invalid_key(
            Key::rsa_components(
                Algorithm::HS256,
                &b64d(rsa["n"].as_str().unwrap()),
                &b64d(rsa["e"].as_str().unwrap()),
            ),
            &["HS256", "RSA"],
        );
        invalid_key(
            Key::from_pem(Algorithm::HS256, key_file("ec256_public.pem")),
            &["HS256"],
        );
        invalid_key(
            Key::from_pem(Algorithm::HS256, key_file("ed25519_public.pem")),
            &["HS256"],
        );
        invalid_jwk(
            Key::from_jwk_json(&jwk("rsa-1").to_string(), Some(Algorithm::HS256)),
            &["HS256"],
        );
        let bare = patched(jwk("rsa-1"), json!({"alg": null}));
        invalid_jwk(
            Key::from_jwk_json(&bare.to_string(), Some(Algorithm::HS256)),
            &["RSA", "HS256"],
        );
    }

    #[test]
    fn hmac_secret_configured_for_asymmetric_algorithms() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let name = format!("{alg:?}");
            invalid_key(Key::hmac(alg, [7u8; 64]), &[&name, "HMAC"]);
            invalid_key(Key::hmac_base64(alg, &STANDARD.encode([7u8; 64])), &[&name]);
        }
    }

    #[test]
    fn jwk_alg_contradicting_the_configured_one() {
        invalid_jwk(
            Key::from_jwk_json(&jwk("rsa-1").to_string(), Some(Algorithm::PS256)),
            &["RS256", "PS256"],
        );
        // An RSA JWK needs an algorithm from somewhere.
        let bare = patched(jwk("rsa-1"), json!({"alg": null}));
        invalid_jwk(Key::from_jwk_json(&bare.to_string(), None), &["alg"]);
        invalid_jwk(Key::from_jwk_json("not json", None), &["JSON"]);
    }
}

/// JWK sets: unusable entries are skipped with a reason, not fatal.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod jwk_sets {
    use super::support::*;

    fn p521_es512() -> Value {
        let der = pem_der("ec521_public.pem");
        let point = &der[der.len() - 133..];
        json!({"kty": "EC", "kid": "es512", "alg": "ES512", "crv": "P-521",
               "x": b64(&point[1..67]), "y": b64(&point[67..])})
    }

    /// The five good keys of jwks.json followed by entries a verifier cannot use.
    fn mixed_document() -> Value {
        let mut keys = jwks()["keys"].as_array().unwrap().clone();
        keys.extend([
            patched(jwk("rsa-1"), json!({"kid": "enc", "use": "enc"})),
            patched(
                jwk("rsa-1"),
                json!({"kid": "wrap", "key_ops": ["wrapKey", "encrypt"]}),
            ),
            json!({"kty": "XYZ", "kid": "unknown-kty", "alg": "RS256"}),
            json!({"kty": "oct", "kid": "oct", "alg": "HS256", "k": b64(SECRET)}),
            patched(jwk("rsa-1"), json!({"kid": "unknown-alg", "alg": "RS1"})),
            p521_es512(),
            patched(jwk("rsa-1"), json!({"kid": "no-alg", "alg": null})),
            patched(
                jwk("ec-256"),
                json!({"kid": "verify-op", "key_ops": ["sign", "verify"]}),
            ),
        ]);
        json!({ "keys": keys })
    }

    #[tokio::test]
    async fn unusable_entries_are_skipped_with_a_reason() {
        let set = KeySet::from_jwks_json(&mixed_document().to_string()).unwrap();
        let kids: Vec<_> = set.keys().iter().map(|k| k.kid().unwrap()).collect();
        assert_eq!(
            kids,
            ["rsa-1", "rsa-2", "ec-256", "ec-384", "ed-1", "verify-op"]
        );
        let skipped: Vec<_> = set
            .skipped()
            .iter()
            .map(|s| (s.index, s.kid.as_deref().unwrap()))
            .collect();
        assert_eq!(
            skipped,
            [
                (5, "enc"),
                (6, "wrap"),
                (7, "unknown-kty"),
                (8, "oct"),
                (9, "unknown-alg"),
                (10, "es512"),
                (11, "no-alg"),
            ]
        );
        let expectations: [&[&str]; 7] = [
            &["use", "sig"],
            &["key_ops", "verify"],
            &["key type", "XYZ"],
            &["symmetric"],
            &["alg", "RS1"],
            &["ES512"],
            &["alg"],
        ];
        for (skipped, words) in set.skipped().iter().zip(expectations) {
            assert_useful(&skipped.reason, words);
            let shown = skipped.to_string();
            assert!(
                shown.contains(&format!("#{}", skipped.index))
                    && shown.contains(skipped.kid.as_deref().unwrap()),
                "{shown}"
            );
        }

        // Skipping is not fatal: the usable keys work, the skipped ones are unknown kids.
        let layer = builder().key_set(set).build().unwrap();
        run(
            &layer,
            bearer(&token(Algorithm::RS256, &claims(), Some("rsa-1"))),
        )
        .await
        .assert_ok();
        run(
            &layer,
            bearer(&token(Algorithm::ES256, &claims(), Some("verify-op"))),
        )
        .await
        .assert_ok();
        for kid in ["enc", "no-alg", "unknown-alg"] {
            let outcome = run(
                &layer,
                bearer(&token(Algorithm::RS256, &claims(), Some(kid))),
            )
            .await;
            outcome.assert_invalid_token();
            assert!(outcome.www_authenticate().contains("unknown key"), "{kid}");
        }
        run(
            &layer,
            bearer(&token(Algorithm::HS256, &claims(), Some("oct"))),
        )
        .await
        .assert_invalid_token();
    }

    #[tokio::test]
    async fn rsa_without_alg_is_accepted_with_a_default_algorithm() {
        let document =
            json!({"keys": [patched(jwk("rsa-1"), json!({"kid": "no-alg", "alg": null}))]});
        let set = KeySet::from_jwks_json(&document.to_string()).unwrap();
        assert!(set.keys().is_empty());
        assert_useful(&set.skipped()[0].reason, &["alg"]);

        for alg in [Algorithm::RS256, Algorithm::PS512] {
            let options = JwkOptions::default().default_algorithm(alg);
            let set = KeySet::from_jwks_json_with(&document.to_string(), &options).unwrap();
            assert!(set.skipped().is_empty(), "{:?}", set.skipped());
            assert_eq!(set.keys()[0].algorithm(), alg);
            let layer = builder().key_set(set).build().unwrap();
            run(&layer, bearer(&token(alg, &claims(), Some("no-alg"))))
                .await
                .assert_ok();
        }
        // A declared `alg` wins over the default; an EC key keeps its curve's algorithm.
        let options = JwkOptions::default().default_algorithm(Algorithm::PS256);
        let set = KeySet::from_jwks_json_with(&key_text("jwks.json"), &options).unwrap();
        let algs: Vec<_> = set.keys().iter().map(|k| k.algorithm()).collect();
        assert_eq!(
            algs,
            [
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA
            ]
        );
    }

    #[tokio::test]
    async fn oct_only_when_symmetric_keys_are_allowed() {
        let document = json!({"keys": [
            {"kty": "oct", "kid": "hs", "alg": "HS256", "k": b64(SECRET)},
            {"kty": "oct", "kid": "hs-no-alg", "k": b64(SECRET)},
            {"kty": "oct", "kid": "hs-short", "alg": "HS256", "k": b64(&SECRET[1..])},
        ]})
        .to_string();
        let set = KeySet::from_jwks_json(&document).unwrap();
        assert!(set.keys().is_empty());
        // Refused whatever else is wrong with them; the reason names the policy when the entry is
        // otherwise usable.
        assert_eq!(set.skipped().len(), 3);
        assert_useful(&set.skipped()[0].reason, &["symmetric"]);
        assert_useful(&set.skipped()[2].reason, &["symmetric"]);

        let options = JwkOptions::default().allow_symmetric(true);
        let set = KeySet::from_jwks_json_with(&document, &options).unwrap();
        let kids: Vec<_> = set.keys().iter().map(|k| k.kid().unwrap()).collect();
        assert_eq!(kids, ["hs"]);
        let reasons: Vec<_> = set.skipped().iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(set.skipped().len(), 2, "{reasons:?}");
        assert_useful(reasons[0], &["alg"]);
        assert_useful(reasons[1], &["too short", "32", "31"]);
        let layer = builder().key_set(set).build().unwrap();
        run(
            &layer,
            bearer(&token(Algorithm::HS256, &claims(), Some("hs"))),
        )
        .await
        .assert_ok();

        let options = JwkOptions::default()
            .allow_symmetric(true)
            .default_algorithm(Algorithm::HS256);
        let set = KeySet::from_jwks_json_with(&document, &options).unwrap();
        assert_eq!(set.keys().len(), 2, "{:?}", set.skipped());

        // A single oct JWK configured explicitly is the user's own choice of a symmetric key: it loads,
        // verifies, and still gets the HMAC length check.
        let single = json!({"kty": "oct", "alg": "HS256", "k": b64(SECRET)}).to_string();
        let key = Key::from_jwk_json(&single, None).expect("an explicit oct JWK");
        run(
            &super::support::layer([key]),
            bearer(&token(Algorithm::HS256, &claims(), None)),
        )
        .await
        .assert_ok();
        let short = json!({"kty": "oct", "alg": "HS256", "k": b64(&SECRET[1..])}).to_string();
        invalid_jwk(Key::from_jwk_json(&short, None), &["too short"]);
    }

    #[test]
    fn a_document_that_is_not_a_jwk_set_is_an_error() {
        for document in [
            json!({"kty": "RSA"}).to_string(),
            json!({"keys": {}}).to_string(),
            json!({"keys": null}).to_string(),
            json!([jwk("ed-1")]).to_string(),
        ] {
            match KeySet::from_jwks_json(&document) {
                Err(ConfigError::InvalidJwk(message)) => assert_useful(&message, &["keys"]),
                other => panic!("{document}: expected InvalidJwk, got {other:?}"),
            }
        }
        match KeySet::from_jwks_json("{not json") {
            Err(ConfigError::InvalidJwk(message)) => assert_useful(&message, &["JSON"]),
            other => panic!("expected InvalidJwk, got {other:?}"),
        }
    }

    #[test]
    fn a_set_without_usable_keys_cannot_build_a_layer() {
        let empty = KeySet::from_jwks_json(r#"{"keys": []}"#).unwrap();
        assert!(empty.keys().is_empty() && empty.skipped().is_empty());
        let all_skipped =
            KeySet::from_jwks_json(&json!({"keys": [p521_es512()]}).to_string()).unwrap();
        for set in [empty, all_skipped] {
            let result = builder().key_set(set).build();
            assert!(matches!(result, Err(ConfigError::NoKeys)));
        }
    }

    /// Non-object entries and entries with odd member types are skipped, not fatal.
    #[test]
    fn malformed_entries_are_skipped() {
        let document = json!({"keys": [
            "a string",
            {"kid": "no-kty"},
            patched(jwk("ed-1"), json!({"kid": 7})),
            patched(jwk("ed-1"), json!({"kid": "alg-number", "alg": 1})),
            patched(jwk("ed-1"), json!({"kid": "bad-x", "x": "***"})),
            patched(jwk("ed-1"), json!({"kid": "ed448", "crv": "Ed448"})),
            jwk("ed-1"),
        ]});
        let set = KeySet::from_jwks_json(&document.to_string()).unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(set.skipped().len(), 6, "{:?}", set.skipped());
        for skipped in set.skipped() {
            assert_useful(&skipped.reason, &[]);
        }
    }
}

/// How the static key provider picks the key, seen through the layer.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod provider {
    use super::support::*;

    fn rsa(file: &str, kid: &str) -> Key {
        Key::from_pem(Algorithm::RS256, key_file(file))
            .unwrap()
            .with_kid(kid)
    }

    #[tokio::test]
    async fn ambiguous_kid_is_refused_while_other_kids_work() {
        let layer = layer([
            rsa("rsa_public.pem", "dup"),
            rsa("rsa2_public.pem", "dup"),
            Key::from_pem(Algorithm::ES256, key_file("ec256_public.pem"))
                .unwrap()
                .with_kid("other"),
        ]);
        // Even though one of the two would verify it.
        for signer in ["rsa_private.pem", "rsa2_private.pem"] {
            let token = token_signed(Algorithm::RS256, &rsa_signer(signer), Some("dup"));
            let outcome = run(&layer, bearer(&token)).await;
            outcome.assert_invalid_token();
            assert!(
                outcome.www_authenticate().contains("ambiguous"),
                "{}",
                outcome.www_authenticate()
            );
        }
        run(
            &layer,
            bearer(&token(Algorithm::ES256, &claims(), Some("other"))),
        )
        .await
        .assert_ok();
    }

    #[tokio::test]
    async fn ambiguous_kid_in_a_jwk_set() {
        let document = json!({"keys": [
            jwk("rsa-1"),
            patched(jwk("rsa-2"), json!({"kid": "rsa-1", "alg": "RS256"})),
            jwk("ed-1"),
        ]});
        let set = KeySet::from_jwks_json(&document.to_string()).unwrap();
        assert_eq!(set.keys().len(), 3);
        let layer = builder().key_set(set).build().unwrap();
        run(
            &layer,
            bearer(&token(Algorithm::RS256, &claims(), Some("rsa-1"))),
        )
        .await
        .assert_invalid_token();
        run(
            &layer,
            bearer(&token(Algorithm::EdDSA, &claims(), Some("ed-1"))),
        )
        .await
        .assert_ok();
    }

    #[tokio::test]
    async fn unknown_kid_is_refused() {
        let layer = layer([rsa("rsa_public.pem", "a"), rsa("rsa2_public.pem", "b")]);
        run(
            &layer,
            bearer(&token(Algorithm::RS256, &claims(), Some("a"))),
        )
        .await
        .assert_ok();
        for kid in ["c", "A", "a ", ""] {
            let outcome = run(
                &layer,
                bearer(&token(Algorithm::RS256, &claims(), Some(kid))),
            )
            .await;
            outcome.assert_invalid_token();
            assert!(
                outcome.www_authenticate().contains("unknown key"),
                "{kid:?}"
            );
        }
    }

    #[tokio::test]
    async fn several_keys_and_no_kid_is_refused() {
        let layer = layer([rsa("rsa_public.pem", "a"), rsa("rsa2_public.pem", "b")]);
        let outcome = run(&layer, bearer(&token(Algorithm::RS256, &claims(), None))).await;
        outcome.assert_invalid_token();
        assert!(
            outcome.www_authenticate().contains("kid"),
            "{}",
            outcome.www_authenticate()
        );
        // Several keys without kids could never be chosen: refused when the layer is built.
        let error = super::support::builder()
            .key(Key::from_pem(Algorithm::RS256, key_file("rsa_public.pem")).unwrap())
            .key(Key::from_pem(Algorithm::ES256, key_file("ec256_public.pem")).unwrap())
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, ConfigError::InvalidOption(m) if m.contains("kid")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn single_key_without_kid_refuses_a_token_with_a_kid() {
        let key = Key::from_pem(Algorithm::RS256, key_file("rsa_public.pem")).unwrap();
        verify(&key, &token(Algorithm::RS256, &claims(), None))
            .await
            .assert_ok();
        let outcome = verify(&key, &token(Algorithm::RS256, &claims(), Some("anything"))).await;
        outcome.assert_invalid_token();
        assert!(
            outcome.www_authenticate().contains("unknown key"),
            "{}",
            outcome.www_authenticate()
        );
    }

    #[tokio::test]
    async fn single_key_with_kid_accepts_a_token_without_kid() {
        let key = rsa("rsa_public.pem", "k1");
        verify(&key, &token(Algorithm::RS256, &claims(), None))
            .await
            .assert_ok();
        verify(&key, &token(Algorithm::RS256, &claims(), Some("k1")))
            .await
            .assert_ok();
        verify(&key, &token(Algorithm::RS256, &claims(), Some("k2")))
            .await
            .assert_invalid_token();
    }

    /// The algorithm comes from the key: a JWK declared RS256 refuses a PS256 token from the same private
    /// key, and a PEM key bound to one algorithm refuses its siblings.
    #[tokio::test]
    async fn algorithm_is_bound_to_the_key() {
        let key = Key::from_jwk_json(&jwk("rsa-1").to_string(), None).unwrap();
        assert_eq!(key.algorithm(), Algorithm::RS256);
        verify(&key, &token(Algorithm::RS256, &claims(), Some("rsa-1")))
            .await
            .assert_ok();
        let outcome = verify(&key, &token(Algorithm::PS256, &claims(), Some("rsa-1"))).await;
        outcome.assert_invalid_token();
        assert!(
            outcome
                .www_authenticate()
                .contains("not allowed for this key"),
            "{}",
            outcome.www_authenticate()
        );
        for alg in RSA_ALGS {
            let key = Key::from_pem(alg, key_file("rsa_public.pem")).unwrap();
            for other in RSA_ALGS.into_iter().filter(|a| *a != alg) {
                verify(&key, &token(other, &claims(), None))
                    .await
                    .assert_invalid_token();
            }
        }
        // The classic confusion: HS256 "signed" with the public key's bytes.
        let key = Key::from_pem(Algorithm::RS256, key_file("rsa_public.pem")).unwrap();
        let forged = token_signed(
            Algorithm::HS256,
            &EncodingKey::from_secret(&key_file("rsa_public.pem")),
            None,
        );
        verify(&key, &forged).await.assert_invalid_token();
    }
}

/// The crypto backend the crate is compiled with verifies every algorithm.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
mod backend {
    use super::support::*;

    #[tokio::test]
    async fn verifies_with_the_compiled_backend() {
        let backend = if cfg!(feature = "aws-lc-rs") {
            "aws-lc-rs"
        } else {
            "rust-crypto"
        };
        println!("crypto backend: {backend}");
        let keys = [
            Key::hs256(SECRET).unwrap(),
            Key::hs384([7u8; 48]).unwrap(),
            Key::hs512([7u8; 64]).unwrap(),
            Key::from_pem(Algorithm::ES256, key_file("ec256_public.pem")).unwrap(),
            Key::from_pem(Algorithm::ES384, key_file("ec384_public.pem")).unwrap(),
            Key::from_pem(Algorithm::EdDSA, key_file("ed25519_public.pem")).unwrap(),
        ]
        .into_iter()
        .chain(RSA_ALGS.map(|alg| Key::from_pem(alg, key_file("rsa_public.pem")).unwrap()));
        for key in keys {
            let alg = key.algorithm();
            let outcome = verify(&key, &token(alg, &claims(), None)).await;
            assert_eq!(outcome.status.as_u16(), 200, "{alg:?} with {backend}");
            outcome.assert_ok();
            // A flipped signature bit is caught by the backend.
            let mut token = token(alg, &claims(), None).into_bytes();
            let at = token.len() - 10;
            token[at] = if token[at] == b'A' { b'B' } else { b'A' };
            let token = String::from_utf8(token).unwrap();
            let outcome = verify(&key, &token).await;
            outcome.assert_invalid_token();
            assert!(
                outcome.www_authenticate().contains("signature is invalid"),
                "{alg:?}: {}",
                outcome.www_authenticate()
            );
        }
    }
}

/// With aws-lc-rs the key is parsed when it is loaded: a point that is not on the curve never gets as far
/// as a request.
#[cfg(feature = "aws-lc-rs")]
#[test]
fn ec_points_off_the_curve_are_refused_at_load() {
    let jwk = common::jwk("ec-256");
    let decode = |field: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[field].as_str().unwrap())
            .unwrap()
    };
    let (x, mut y) = (decode("x"), decode("y"));
    Key::ec_components(jsonwebtoken::Algorithm::ES256, &x, &y).expect("the fixture point");
    y[31] ^= 1;
    let err = Key::ec_components(jsonwebtoken::Algorithm::ES256, &x, &y).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidKey(_)), "{err}");
}
