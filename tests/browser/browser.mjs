// Drives examples/auth_server's page in headless Chromium, then lets a page from another origin attack it.
//
//   node browser.mjs <victim origin> <attacker origin>
//
// Prints one line `RESULT {json}` with what it saw; tests/browser_auth_server.rs judges it. Exits non-zero
// on any failure of its own (a timeout, a missing element), and within 90 s whatever happens.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [victim, attacker] = process.argv.slice(2);
if (!victim || !attacker) {
  console.error("usage: node browser.mjs <victim origin> <attacker origin>");
  process.exit(2);
}

// Bounded whatever the browser does.
const watchdog = setTimeout(() => {
  console.error("browser.mjs: gave up after 90 s");
  process.exit(3);
}, 90_000);

const profile = mkdtempSync(join(tmpdir(), "auth-server-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  timeout: 30_000,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const result = { victim, attacker, signoutRequests: [] };
try {
  context.setDefaultTimeout(10_000);

  // Every request to the victim's sign-out, as the browser's network layer saw it: who sent it, whether
  // the cookie went with it, and the status the server answered (visible here even when the page's own
  // view of the response is opaque).
  // Which part of the script a request belongs to: "victim" (the page itself) or "attack".
  let phase = "victim";
  const phases = new Map();
  context.on("request", (request) => phases.set(request, phase));
  const pending = [];
  const record = async (request) => {
    if (!request.url().startsWith(victim + "/api/auth/signout")) return;
    const headers = await request.allHeaders();
    const response = await request.response();
    // The browser keeps the body of an opaque (no-cors) response too; the page cannot read it.
    const body = response ? await response.text().catch(() => null) : null;
    result.signoutRequests.push({
      phase: phases.get(request),
      body,
      method: request.method(),
      origin: headers["origin"] ?? null,
      secFetchSite: headers["sec-fetch-site"] ?? null,
      resourceType: request.resourceType(),
      // null when the browser does not report the request's cookies (it does not for some no-cors fetches).
      sentCookie: headers["cookie"] === undefined ? null : /(^|;\s*)auth_token=[^;]+/.test(headers["cookie"]),
      status: response ? response.status() : null,
    });
  };
  context.on("requestfinished", (request) => pending.push(record(request)));
  context.on("requestfailed", (request) => pending.push(record(request)));

  const page = await context.newPage();
  await page.goto(victim + "/");

  // Clicks `selector` and waits for the page to show the answer of the call it makes.
  async function act(selector) {
    const before = Number(await page.getAttribute("#status", "data-seq"));
    await page.click(selector);
    await page.waitForSelector(`#status[data-seq="${before + 1}"]`);
    const status = Number(await page.getAttribute("#status", "data-code"));
    const text = await page.textContent("#result");
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status, body };
  }

  const email = "browser@example.com";
  const password = "a long enough password";
  await page.fill("#signup-email", email);
  await page.fill("#signup-password", password);
  await page.fill("#signup-name", "Browser User");
  result.signup = await act("#signup-submit");

  await page.fill("#signin-email", email);
  await page.fill("#signin-password", password);
  result.signin = await act("#signin-submit");

  result.me = await act("#me");

  // The cookie exists, but scripts cannot see it.
  result.documentCookie = await page.evaluate(() => document.cookie);
  const cookies = await context.cookies(victim);
  result.cookies = cookies.map((c) => ({
    name: c.name,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
    path: c.path,
    secure: c.secure,
    looksLikeJwt: c.value.split(".").length === 3,
  }));
  const token = cookies.find((c) => c.name === "auth_token")?.value ?? "";
  result.tokenInPage = token !== "" && (await page.content()).includes(token);

  // Another origin (same host, another port: same site, so SameSite=Lax does not stop the cookie).
  phase = "attack";
  const evil = await context.newPage();
  await evil.goto(attacker + "/");
  await evil.waitForSelector("body[data-done='1']");
  result.attackScript = JSON.parse(await evil.textContent("#result"));
  // The classic form: a top-level POST navigation to the victim.
  const [formResponse] = await Promise.all([
    evil.waitForResponse(
      (r) => r.url() === victim + "/api/auth/signout" && r.request().resourceType() === "document",
    ),
    evil.click("#go"),
  ]);
  result.formPost = { status: formResponse.status(), body: await formResponse.text() };
  await evil.close();
  phase = "victim";

  // The victim's session survived.
  result.meAfterAttack = await act("#me");

  result.signout = await act("#signout");
  result.cookiesAfterSignout = (await context.cookies(victim)).map((c) => c.name);
  result.meAfterSignout = await act("#me");

  await Promise.all(pending);
  console.log("RESULT " + JSON.stringify(result));
} catch (error) {
  console.error("browser.mjs: " + (error?.stack ?? error));
  console.log("PARTIAL " + JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
