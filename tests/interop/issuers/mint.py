"""Mints tokens with PyJWT, for tests/interop_issuers.rs.

    .venv/bin/python mint.py '{"iss": "...", "aud": "...", "ttl": 600, "email": "..."}'

Keys are generated with `cryptography` (PyJWT's crypto backend; PyJWT has no key generation of its own)
and their public halves exported as SPKI PEM by `cryptography` and as JWKs by PyJWT's own
`Algorithm.to_jwk`. For each algorithm one token is signed per key format, as in mint.mjs:
  "secret": HMAC, the secret as base64url, no kid;
  "pem":    the public key as SPKI PEM, no kid in the token;
  "jwks":   PyJWT's JWK set of all its public keys (kid, alg, use added), the token names its key by kid.
Claims: sub "pyjwt-<alg>-<key_format>", iss, aud, iat (now), exp (iat + ttl), email.
Prints {"lib", "version", "cases": [{lib, alg, key_format, kid, key, token}]} on stdout.
"""

import base64
import json
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
LIB = "pyjwt"


def generate(alg):
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key type for {alg}")


def main():
    if len(sys.argv) != 2:
        print("usage: mint.py <settings JSON>", file=sys.stderr)
        sys.exit(2)
    settings = json.loads(sys.argv[1])
    for field in ("iss", "aud", "ttl", "email"):
        if field not in settings:
            raise SystemExit(f"settings.{field} is missing")
    algorithms = jwt.algorithms.get_default_algorithms()

    def sign(alg, key_format, key, kid=None):
        now = int(time.time())
        claims = {
            "sub": f"{LIB}-{alg}-{key_format}",
            "iss": settings["iss"],
            "aud": settings["aud"],
            "iat": now,
            "exp": now + settings["ttl"],
            "email": settings["email"],
        }
        headers = {"kid": kid} if kid else None
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    cases, pending, jwks = [], [], {"keys": []}
    for alg in ALGS:
        if alg in HMAC_BYTES:
            secret = secrets.token_bytes(HMAC_BYTES[alg])
            key = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
            cases.append({"lib": LIB, "alg": alg, "key_format": "secret", "kid": None, "key": key,
                          "token": sign(alg, "secret", secret)})
            continue
        private = generate(alg)
        public = private.public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        jwk = algorithms[alg].to_jwk(public, as_dict=True)
        kid = f"pyjwt-{alg}"
        jwks["keys"].append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        cases.append({"lib": LIB, "alg": alg, "key_format": "pem", "kid": None, "key": pem.decode(),
                      "token": sign(alg, "pem", private)})
        pending.append({"lib": LIB, "alg": alg, "key_format": "jwks", "kid": kid,
                        "token": sign(alg, "jwks", private, kid)})
    jwks_text = json.dumps(jwks)
    cases.extend({**c, "key": jwks_text} for c in pending)
    print(json.dumps({"lib": LIB, "version": jwt.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
