"""Verifies tokens with PyJWT, for tests/interop_issuers.rs (tokens issued by the crate's Issuer).

    .venv/bin/python verify.py < {"iss", "aud", "cases": [{id, alg, token, kid, jwks, pem, secret}]}

For each case, every way PyJWT can take the key the case carries:
  jwks   (the issuer's published JWK set, text): pyjwt-jwks, jwt.PyJWKSet.from_json, then the key named by
         the token's kid, then jwt.decode (no PyJWKClient: no HTTP);
  pem    (SPKI): pyjwt-pem;
  secret (base64url): pyjwt-secret.
Each verification requires the algorithm, issuer and audience (and exp, iat, sub present).
Prints {"versions", "results": [{id, method, ok, header?, payload?, jwk?, error?}]}.
"""

import base64
import json
import sys

import cryptography
import jwt


def main():
    document = json.load(sys.stdin)
    results = []

    def attempt(case, method, verify):
        try:
            results.append({"id": case["id"], "method": method, "ok": True, **verify()})
        except Exception as error:  # noqa: BLE001 - every failure is a result to report
            results.append({"id": case["id"], "method": method, "ok": False,
                            "error": f"{type(error).__name__}: {error}"})

    def decode(case, key):
        decoded = jwt.api_jwt.decode_complete(
            case["token"],
            key,
            algorithms=[case["alg"]],
            issuer=document["iss"],
            audience=document["aud"],
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return {"header": decoded["header"], "payload": decoded["payload"]}

    for case in document["cases"]:
        if case.get("jwks"):
            def with_jwks(case=case):
                key_set = jwt.PyJWKSet.from_json(case["jwks"])
                kid = jwt.get_unverified_header(case["token"])["kid"]
                key = key_set[kid]
                result = decode(case, key)
                result["jwk"] = {"set_size": len(key_set.keys), "kid": key.key_id,
                                 "alg": key.algorithm_name}
                return result
            attempt(case, "pyjwt-jwks", with_jwks)
        if case.get("pem"):
            attempt(case, "pyjwt-pem", lambda case=case: decode(case, case["pem"]))
        if case.get("secret"):
            secret = base64.urlsafe_b64decode(case["secret"] + "=" * (-len(case["secret"]) % 4))
            attempt(case, "pyjwt-secret", lambda case=case, secret=secret: decode(case, secret))

    print(json.dumps({"versions": {"PyJWT": jwt.__version__, "cryptography": cryptography.__version__},
                      "results": results}))


if __name__ == "__main__":
    main()
