// Verifies tokens with Node `jose` and `jsonwebtoken`, for tests/interop_issuers.rs (tokens issued by the
// crate's Issuer).
//
//   node verify.mjs < {"iss", "aud", "cases": [{id, alg, token, kid, jwks, pem, secret}]}
//
// For each case, every way these libraries can take the key that the case carries:
//   jwks   (the issuer's published JWK set, text):  jose-jwks (createLocalJWKSet + jwtVerify),
//          jsonwebtoken-jwk (node:crypto createPublicKey of the JWK named by the token's kid + jwt.verify);
//   pem    (SPKI):                                  jose-spki (importSPKI + jwtVerify), jsonwebtoken-pem;
//   secret (base64url):                             jose-secret, jsonwebtoken-secret.
// Each verification requires the algorithm, issuer and audience. jsonwebtoken 9 has no EdDSA: it is not
// asked to verify EdDSA. Prints {"versions", "results": [{id, method, ok, header?, payload?, thumbprint?,
// error?}]}.
import crypto from 'node:crypto';
import fs from 'node:fs';

import * as jose from 'jose';
import jwt from 'jsonwebtoken';

const JSONWEBTOKEN_ALGS = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384']);

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const version = (name) => JSON.parse(fs.readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
const results = [];

async function attempt(c, method, verify) {
  try {
    results.push({ id: c.id, method, ok: true, ...(await verify()) });
  } catch (error) {
    results.push({ id: c.id, method, ok: false, error: `${error.name}: ${error.message}` });
  }
}

const joseOptions = (alg) => ({ algorithms: [alg], issuer: input.iss, audience: input.aud });
const jsonwebtokenVerify = (c, key) => {
  const { header, payload } = jwt.verify(c.token, key, {
    algorithms: [c.alg],
    issuer: input.iss,
    audience: input.aud,
    complete: true,
  });
  return { header, payload };
};

for (const c of input.cases) {
  if (c.jwks) {
    const set = JSON.parse(c.jwks);
    await attempt(c, 'jose-jwks', async () => {
      const { protectedHeader, payload, key } = await jose.jwtVerify(c.token, jose.createLocalJWKSet(set), joseOptions(c.alg));
      // The RFC 7638 thumbprint of the JWK that jose picked for the token, by jose's own computation.
      const picked = set.keys.filter((k) => k.kid === protectedHeader.kid);
      if (picked.length !== 1) throw new Error(`${picked.length} JWKs carry kid ${protectedHeader.kid}`);
      const thumbprint = await jose.calculateJwkThumbprint(picked[0], 'sha256');
      if (!key) throw new Error('no key resolved');
      return { header: protectedHeader, payload, thumbprint };
    });
    if (JSONWEBTOKEN_ALGS.has(c.alg)) {
      await attempt(c, 'jsonwebtoken-jwk', async () => {
        const { kid } = jwt.decode(c.token, { complete: true }).header;
        const jwk = set.keys.find((k) => k.kid === kid);
        if (!jwk) throw new Error(`no JWK with kid ${kid}`);
        return jsonwebtokenVerify(c, crypto.createPublicKey({ key: jwk, format: 'jwk' }));
      });
    }
  }
  if (c.pem) {
    await attempt(c, 'jose-spki', async () => {
      const { protectedHeader, payload } = await jose.jwtVerify(c.token, await jose.importSPKI(c.pem, c.alg), joseOptions(c.alg));
      return { header: protectedHeader, payload };
    });
    if (JSONWEBTOKEN_ALGS.has(c.alg)) {
      await attempt(c, 'jsonwebtoken-pem', async () => jsonwebtokenVerify(c, c.pem));
    }
  }
  if (c.secret) {
    const secret = Buffer.from(c.secret, 'base64url');
    await attempt(c, 'jose-secret', async () => {
      const { protectedHeader, payload } = await jose.jwtVerify(c.token, new Uint8Array(secret), joseOptions(c.alg));
      return { header: protectedHeader, payload };
    });
    await attempt(c, 'jsonwebtoken-secret', async () => jsonwebtokenVerify(c, secret));
  }
}

process.stdout.write(JSON.stringify({ versions: { jose: version('jose'), jsonwebtoken: version('jsonwebtoken') }, results }) + '\n');
