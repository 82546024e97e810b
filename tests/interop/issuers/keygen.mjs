// Generates keys with jose for the crate's Issuer to sign with, for tests/interop_issuers.rs.
//
//   node keygen.mjs
//
// Prints {"version", "keys": {ALG: {"private_pkcs8": PEM, "public_spki": PEM} | {"secret": base64url}}} for
// every algorithm the Issuer signs: jose's generateKeyPair (extractable) exported with exportPKCS8 and
// exportSPKI, and generateSecret for HMAC.
import fs from 'node:fs';

import * as jose from 'jose';

const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
const keys = {};
for (const alg of ALGS) {
  if (alg.startsWith('HS')) {
    keys[alg] = { secret: (await jose.exportJWK(await jose.generateSecret(alg, { extractable: true }))).k };
    continue;
  }
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  keys[alg] = { private_pkcs8: await jose.exportPKCS8(privateKey), public_spki: await jose.exportSPKI(publicKey) };
}
const version = JSON.parse(fs.readFileSync(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8')).version;
process.stdout.write(JSON.stringify({ version, keys }) + '\n');
