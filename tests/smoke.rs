mod common;
use common::*;
use jsonwebtoken::Algorithm;
use tower_jwt_auth::{JwtAuthLayer, Key, RegisteredClaims};

#[tokio::test]
async fn smoke() {
    let layer = JwtAuthLayer::<RegisteredClaims>::builder()
        .key(Key::hs256(SECRET).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let ok = run(&layer, bearer(&hs256(&claims()))).await;
    ok.assert_ok();
    println!("{}", ok.body);
    let missing = run(&layer, http::Request::get("/").body(String::new()).unwrap()).await;
    missing.assert_refused(401, None);
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let pem = match alg {
            Algorithm::ES256 => "ec256_public.pem",
            Algorithm::ES384 => "ec384_public.pem",
            Algorithm::EdDSA => "ed25519_public.pem",
            _ => "rsa_public.pem",
        };
        let layer = JwtAuthLayer::<RegisteredClaims>::builder()
            .key(Key::from_pem(alg, key_file(pem)).unwrap())
            .audience(AUDIENCE)
            .build()
            .unwrap();
        run(&layer, bearer(&token(alg, &claims(), None)))
            .await
            .assert_ok();
    }
}
