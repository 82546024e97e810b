// A real Better Auth server for tests/interop_better_auth.rs.
//
// Listens on 127.0.0.1 on an ephemeral port and prints one line on stdout once it accepts requests:
//   {"listening":"http://127.0.0.1:PORT"}
// The base URL is that origin, so `iss` = `aud` = it in JWT-plugin tokens.
//
// Configuration (environment):
//   BETTER_AUTH_SECRET      required: the secret (also the HS256 key of the `jwt` cookie-cache strategy)
//   BA_ALG                  JWT-plugin key: EdDSA (Ed25519), ES256, RS256 or PS256 (unset: Better Auth's
//                           default, which is EdDSA)
//   BA_ROTATION_INTERVAL    jwks.rotationInterval in seconds (unset: keys never rotate)
//   BA_GRACE_PERIOD         jwks.gracePeriod in seconds (unset: Better Auth's default, 30 days)
//   BA_COOKIE_CACHE=jwt     session.cookieCache { enabled, strategy: "jwt" } (cookie better-auth.session_data)
//
// Test-only endpoint (not Better Auth's): GET /__test/jwks-requests -> {"count": N}, the number of
// requests for /api/auth/jwks served so far.
//
// Stops on SIGTERM / SIGINT, or when stdin closes (the test's process guard kills it anyway).

import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const env = process.env;

function fail(message) {
  process.stderr.write(`server.mjs: ${message}\n`);
  process.exit(2);
}

const secret = env.BETTER_AUTH_SECRET;
if (!secret || secret.length < 32) fail("BETTER_AUTH_SECRET must be set (32 characters or more)");

const keyPairConfigs = {
  EdDSA: { alg: "EdDSA", crv: "Ed25519" },
  ES256: { alg: "ES256" },
  RS256: { alg: "RS256", modulusLength: 2048 },
  PS256: { alg: "PS256", modulusLength: 2048 },
};
const alg = env.BA_ALG || undefined;
const keyPairConfig = alg === undefined ? undefined : keyPairConfigs[alg];
if (alg !== undefined && !keyPairConfig) fail(`BA_ALG=${alg}: use one of ${Object.keys(keyPairConfigs).join(", ")}`);

function seconds(name) {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) fail(`${name}=${value}: a positive number of seconds`);
  return number;
}
const rotationInterval = seconds("BA_ROTATION_INTERVAL");
const gracePeriod = seconds("BA_GRACE_PERIOD");

const cookieCache = env.BA_COOKIE_CACHE || "";
if (cookieCache !== "" && cookieCache !== "jwt") fail(`BA_COOKIE_CACHE=${cookieCache}: only "jwt" is supported`);

// The memory adapter needs every table to exist up front.
const db = { user: [], session: [], account: [], verification: [], jwks: [] };

let jwksRequests = 0;

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const baseURL = `http://127.0.0.1:${port}`;
  const auth = betterAuth({
    baseURL,
    secret,
    database: memoryAdapter(db),
    emailAndPassword: { enabled: true, autoSignIn: true },
    telemetry: { enabled: false },
    rateLimit: { enabled: false },
    session: cookieCache === "jwt" ? { cookieCache: { enabled: true, strategy: "jwt", maxAge: 300 } } : undefined,
    plugins: [
      jwt({
        jwks: {
          ...(keyPairConfig !== undefined ? { keyPairConfig } : {}),
          ...(rotationInterval !== undefined ? { rotationInterval } : {}),
          ...(gracePeriod !== undefined ? { gracePeriod } : {}),
        },
      }),
      bearer(),
    ],
  });
  const handler = toNodeHandler(auth);
  server.on("request", (req, res) => {
    const path = (req.url || "").split("?")[0];
    if (path === "/__test/jwks-requests") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ count: jwksRequests }));
      return;
    }
    if (path === "/api/auth/jwks") jwksRequests += 1;
    Promise.resolve(handler(req, res)).catch((error) => {
      process.stderr.write(`server.mjs: handler error: ${error?.stack || error}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  process.stdout.write(`${JSON.stringify({ listening: baseURL, alg, rotationInterval, gracePeriod, cookieCache })}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
