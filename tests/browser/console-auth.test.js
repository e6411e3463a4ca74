// The admin console's sign-in, end to end, against a real OpenID provider (oidc/provider.js,
// panva's oidc-provider) and the real binary, in headless Chromium: /admin/login sends the
// browser to the provider (code flow with PKCE, state and nonce); ann (coupons-admin) and
// bob (coupons-analyst) sign in on its login page and land on /admin with an HttpOnly,
// Secure, SameSite=Lax session cookie whose /admin/session names their role; /graphql takes
// the cookie only with the session's X-CSRF-Token; the provider's answer cannot be replayed;
// sign-out needs the CSRF token and ends the session for good; eve, whose groups name no
// role, gets a 403 page and no cookie. Then the APIs' bearer access tokens (JWTs): a valid
// one works as its person and the audit log names them; expired, not yet valid, tampered,
// wrongly addressed, wrongly issued or wrongly signed ones are refused with 401, and an
// analyst's is refused an admin mutation (FORBIDDEN); after a key rotation new tokens are
// taken, and once the old key is withdrawn its tokens are refused. Last, a session left
// unused for COUPONS_SESSION_IDLE_MINUTES ends while one in use lives on (this makes the
// run last a little over a minute). Screenshots go to target/browser/console-auth-*.png.
//
// Usage: node console-auth.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert, freePort } = require("./common");
const { startProvider } = require("./oidc/provider");

const shots = path.join(__dirname, "../../target/browser");

const CLIENT_ID = "coupons-console";
const CLIENT_SECRET = "console-secret-for-tests";
const AUDIENCE = "coupons-api";
const SKEW_SECONDS = 5;
const IDLE_MINUTES = 1;
const USERS = [
  { sub: "ann", email: "ann@example.com", name: "Ann Admin", groups: ["coupons-admin"] },
  { sub: "bob", email: "bob@example.com", name: "Bob Analyst", groups: ["coupons-analyst"] },
  { sub: "eve", email: "eve@example.com", name: "Eve", groups: ["other"] },
];
const CSRF_MESSAGE = "a console request must carry its session's X-CSRF-Token header";

// Where a page is, without the #fragment its own scripts may set.
const landedOn = (page) => { const u = new URL(page.url()); return `${u.origin}${u.pathname}`; };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const b64url = (value) => Buffer.from(value).toString("base64url");
const decodePart = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

// A POST /graphql from Node with the credentials given: `token` as a bearer, or a session
// `cookie` (and its `csrf` token). The status and the parsed answer.
async function gql(base, { token, cookie, csrf } = {}, query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (cookie) headers.Cookie = `coupons_session=${cookie}`;
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(`${base}/graphql`, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { unparsed: text }; }
  return { status: r.status, body };
}

const messages = (body) => (body.errors || []).map((e) => e.message).join(" | ");
const codes = (body) => (body.errors || []).map((e) => e.extensions && e.extensions.code);

// The session (cookie value, CSRF token, /admin/session answer) a browser context holds.
async function sessionOf(context, page, base) {
  const cookie = (await context.cookies(base)).find((c) => c.name === "coupons_session");
  const answer = await page.evaluate(async () => {
    const r = await fetch("/admin/session", { credentials: "same-origin" });
    return { status: r.status, body: await r.json().catch(() => null) };
  });
  return { cookie, answer };
}

// From the page, a POST /graphql with its cookie, with or without the CSRF token.
const pageGraphql = (page, query, csrf) => page.evaluate(async ({ q, token }) => {
  const headers = { "Content-Type": "application/json" };
  if (token) headers["X-CSRF-Token"] = token;
  const r = await fetch("/graphql", { method: "POST", credentials: "same-origin", headers, body: JSON.stringify({ query: q }) });
  return { status: r.status, body: await r.json().catch(() => null) };
}, { q: query, token: csrf });

// Calls `attempt` until it returns something truthy or `ms` have passed; the last result.
async function until(attempt, ms, gap = 250) {
  const end = Date.now() + ms;
  for (;;) {
    const result = await attempt();
    if (result || Date.now() >= end) return result;
    await sleep(gap);
  }
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-console-auth-"));
  let passed = 0;
  let failed = 0;
  const check = async (name, body) => {
    try {
      await body();
      passed += 1;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
    }
  };
  let op;
  let server;
  let browser;
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    op = await startProvider({
      clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/admin/callback`], users: USERS, audience: AUDIENCE,
    });
    server = await startServer(path.join(dir, "coupons.db"), {
      COUPONS_BIND: `127.0.0.1:${port}`,
      COUPONS_PUBLIC_URL: base,
      COUPONS_OIDC_ISSUER: op.issuer,
      COUPONS_OIDC_CLIENT_ID: CLIENT_ID,
      COUPONS_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      COUPONS_OIDC_AUDIENCE: AUDIENCE,
      COUPONS_OIDC_CLOCK_SKEW_SECONDS: String(SKEW_SECONDS),
      COUPONS_SESSION_IDLE_MINUTES: String(IDLE_MINUTES),
    });
    assert(server.base.replace(/\/$/, "") === base, `the server listens on ${server.base}, not ${base}`);
    browser = await launch();

    // Signs `sub` in through the provider's login page in a fresh context; what happened.
    // `shoot` names screenshots of the login page and of where the browser lands.
    const signIn = async (sub, { shoot, expectLanding = true } = {}) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const callbacks = [];
      page.on("response", (r) => {
        if (r.url().startsWith(`${base}/admin/callback`)) {
          callbacks.push({ url: r.url(), status: r.status(), headers: r.headers() });
        }
      });
      await page.goto(`${base}/admin/login`);
      await page.waitForSelector("form#login", { timeout: 15000 });
      assert(page.url().startsWith(`${op.issuer}/interaction/`), `the login page is the provider's: ${page.url()}`);
      if (shoot) await page.screenshot({ path: path.join(shots, `console-auth-${shoot}-provider-login.png`) });
      await page.fill('input[name="login"]', sub);
      const landed = page.waitForURL((url) => url.origin === base && !url.pathname.startsWith("/admin/login"), { timeout: 20000 });
      await page.getByRole("button", { name: "Sign in" }).click();
      await landed;
      // The console's own client router may add a #fragment once it runs.
      if (expectLanding) await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${base}/admin`, { timeout: 20000 });
      else await page.waitForLoadState("load");
      if (shoot) await page.screenshot({ path: path.join(shots, `console-auth-${shoot}-landed.png`) });
      return { context, page, callback: callbacks[0] };
    };

    // ---- the browser's sign-in --------------------------------------------------------

    await check("GET /admin/login sends the browser to the provider: code flow, PKCE (S256), state, nonce", async () => {
      const r = await fetch(`${base}/admin/login`, { redirect: "manual" });
      assert(r.status === 303, `status ${r.status}`);
      const to = new URL(r.headers.get("location"));
      const discovery = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
      assert(`${to.origin}${to.pathname}` === discovery.authorization_endpoint, `redirects to ${to.href}`);
      const q = to.searchParams;
      assert(q.get("response_type") === "code", `response_type ${q.get("response_type")}`);
      assert(q.get("client_id") === CLIENT_ID, `client_id ${q.get("client_id")}`);
      assert(q.get("redirect_uri") === `${base}/admin/callback`, `redirect_uri ${q.get("redirect_uri")}`);
      assert(q.get("code_challenge_method") === "S256" && /^[\w-]{43}$/.test(q.get("code_challenge") || ""), `PKCE ${q}`);
      assert((q.get("state") || "").length >= 20 && (q.get("nonce") || "").length >= 20, `state/nonce ${q}`);
      const scopes = (q.get("scope") || "").split(" ");
      assert(scopes.includes("openid") && scopes.includes("groups"), `scope ${q.get("scope")}`);
      const again = new URL((await fetch(`${base}/admin/login`, { redirect: "manual" })).headers.get("location")).searchParams;
      assert(again.get("state") !== q.get("state") && again.get("nonce") !== q.get("nonce")
        && again.get("code_challenge") !== q.get("code_challenge"), "state, nonce and PKCE differ per sign-in");
    });

    // Sessions left alone until the end, for the idle timeout: one never used again, one used once midway.
    let idle;
    let busy;
    const signedInAt = Date.now();
    await check("two more sessions are started for the idle-timeout check at the end", async () => {
      for (const which of ["idle", "busy"]) {
        const s = await signIn("ann");
        const { cookie, answer } = await sessionOf(s.context, s.page, base);
        assert(cookie && answer.status === 200, `${which}: ${JSON.stringify(answer)}`);
        await s.context.close();
        if (which === "idle") idle = { cookie: cookie.value, csrf: answer.body.csrfToken };
        else busy = { cookie: cookie.value, csrf: answer.body.csrfToken };
      }
    });

    let ann;
    await check("ann signs in on the provider's login page and lands on /admin", async () => {
      ann = await signIn("ann", { shoot: "ann" });
      assert(landedOn(ann.page) === `${base}/admin`, `landed on ${ann.page.url()}`);
      assert(ann.callback && ann.callback.status === 303, `the callback answered ${ann.callback && ann.callback.status}`);
      assert(ann.callback.headers.location === "/admin", `the callback sent to ${ann.callback.headers.location}`);
    });

    let annSession;
    await check("the session cookie is HttpOnly, Secure and SameSite=Lax, scoped to the service", async () => {
      const { cookie, answer } = await sessionOf(ann.context, ann.page, base);
      assert(cookie, `no coupons_session cookie: ${JSON.stringify(await ann.context.cookies())}`);
      assert(cookie.httpOnly && cookie.secure && cookie.sameSite === "Lax", `cookie ${JSON.stringify(cookie)}`);
      assert(cookie.domain === "127.0.0.1" && cookie.path === "/", `cookie ${JSON.stringify(cookie)}`);
      assert(cookie.value.length >= 32, "a short cookie value");
      assert(!(await ann.page.evaluate(() => document.cookie)).includes("coupons_session"), "the page's scripts can read the cookie");
      annSession = { cookie: cookie.value, answer };
    });

    await check("GET /admin/session names ann, as admin, with a CSRF token and an end", async () => {
      const { status, body } = annSession.answer;
      assert(status === 200, `status ${status}`);
      assert(body.role === "admin", `role ${body.role}`);
      assert(body.email === "ann@example.com", `email ${body.email}`);
      assert(body.name === "Ann Admin", `name ${body.name} (the ID token's name claim)`);
      assert(typeof body.csrfToken === "string" && body.csrfToken.length >= 32, `csrfToken ${body.csrfToken}`);
      const ends = Date.parse(body.expiresAt);
      assert(ends > Date.now() + 3600e3 && ends <= Date.now() + 12 * 3600e3 + 60e3, `expiresAt ${body.expiresAt}`);
      const anonymous = await fetch(`${base}/admin/session`);
      assert(anonymous.status === 401, `without the cookie: ${anonymous.status}`);
    });

    await check("POST /graphql with the cookie but no X-CSRF-Token is refused with 401", async () => {
      const r = await pageGraphql(ann.page, "{ viewer { role } }");
      assert(r.status === 401, `status ${r.status}: ${JSON.stringify(r.body)}`);
      assert(messages(r.body).includes(CSRF_MESSAGE), `message: ${messages(r.body)}`);
      const wrong = await pageGraphql(ann.page, "{ viewer { role } }", "not-the-token");
      assert(wrong.status === 401, `with a wrong token: ${wrong.status}`);
    });

    await check("POST /graphql with the session's X-CSRF-Token answers as ann, an admin", async () => {
      const r = await pageGraphql(ann.page, "{ viewer { role name } }", annSession.answer.body.csrfToken);
      assert(r.status === 200 && r.body.data, `status ${r.status}: ${JSON.stringify(r.body)}`);
      assert(r.body.data.viewer.role === "ADMIN", `viewer ${JSON.stringify(r.body.data.viewer)}`);
      assert(r.body.data.viewer.name.includes("ann"), `viewer ${JSON.stringify(r.body.data.viewer)}`);
    });

    await check("a change made in ann's session is audited under her name", async () => {
      const made = await pageGraphql(ann.page,
        'mutation { createCoupon(input: {name: "Console", code: "CONSOLE10", discount: {percentage: "10"}}) { coupon { id } userErrors { code message } } }',
        annSession.answer.body.csrfToken);
      assert(made.status === 200 && made.body.data && made.body.data.createCoupon.coupon, `create: ${JSON.stringify(made.body)}`);
      const id = made.body.data.createCoupon.coupon.id;
      const log = await pageGraphql(ann.page,
        `{ auditLog(first: 5, filter: {entityType: COUPON, entityId: "${id}"}) { edges { node { action actorName actorRole actorKeyId } } } }`,
        annSession.answer.body.csrfToken);
      const nodes = log.body.data.auditLog.edges.map((e) => e.node);
      assert(nodes.length === 1 && nodes[0].action === "COUPON_CREATED", `audit: ${JSON.stringify(log.body)}`);
      assert(nodes[0].actorName === "ann@example.com (ann)" && nodes[0].actorRole === "ADMIN" && nodes[0].actorKeyId === null,
        `audit: ${JSON.stringify(nodes[0])}`);
    });

    await check("each sign-in is in the audit log, naming the person and their role", async () => {
      const log = await pageGraphql(ann.page,
        "{ auditLog(first: 20, filter: {action: CONSOLE_SIGNED_IN}) { edges { node { action entityType entityId actorName actorRole actorKeyId clientIp } } } }",
        annSession.answer.body.csrfToken);
      assert(log.status === 200 && log.body.data, `audit: ${log.status} ${JSON.stringify(log.body)}`);
      const nodes = log.body.data.auditLog.edges.map((e) => e.node);
      // ann three times so far: the idle and busy sessions, and this one.
      assert(nodes.length === 3, `${nodes.length} sign-ins: ${JSON.stringify(nodes)}`);
      for (const n of nodes) {
        assert(n.entityType === "CONSOLE_SESSION" && n.entityId === "ann" && n.actorName === "ann@example.com (ann)"
          && n.actorRole === "ADMIN" && n.actorKeyId === null && n.clientIp === "127.0.0.1", `entry ${JSON.stringify(n)}`);
      }
    });

    await check("the provider's answer cannot be used twice (state and code are single-use)", async () => {
      const replay = await fetch(ann.callback.url, { redirect: "manual" });
      assert(replay.status === 400, `a replayed callback answered ${replay.status}`);
      assert(!replay.headers.get("set-cookie"), `a replayed callback set ${replay.headers.get("set-cookie")}`);
      const madeUp = await fetch(`${base}/admin/callback?code=abc&state=made-up`, { redirect: "manual" });
      assert(madeUp.status === 400 && !madeUp.headers.get("set-cookie"), `a made-up state answered ${madeUp.status}`);
      const denied = await fetch(`${base}/admin/callback?error=access_denied&state=x`, { redirect: "manual" });
      assert(denied.status === 401 && !denied.headers.get("set-cookie"), `an error answer gave ${denied.status}`);
    });

    let bob;
    let bobSession;
    await check("bob signs in and his session is an analyst's", async () => {
      bob = await signIn("bob", { shoot: "bob" });
      assert(landedOn(bob.page) === `${base}/admin`, `landed on ${bob.page.url()}`);
      const { cookie, answer } = await sessionOf(bob.context, bob.page, base);
      assert(cookie && answer.status === 200, `session ${JSON.stringify(answer)}`);
      assert(answer.body.role === "analyst" && answer.body.email === "bob@example.com", `session ${JSON.stringify(answer.body)}`);
      assert(cookie.value !== annSession.cookie && answer.body.csrfToken !== annSession.answer.body.csrfToken, "sessions share secrets");
      bobSession = { cookie: cookie.value, csrf: answer.body.csrfToken };
      const r = await pageGraphql(bob.page, "{ viewer { role } }", bobSession.csrf);
      assert(r.status === 200 && r.body.data.viewer.role === "ANALYST", `viewer ${JSON.stringify(r.body)}`);
      const write = await pageGraphql(bob.page,
        'mutation { createCoupon(input: {name: "Nope", code: "NOPE10", discount: {percentage: "10"}}) { coupon { id } } }', bobSession.csrf);
      assert(write.status === 200 && codes(write.body).includes("FORBIDDEN"), `an analyst's mutation: ${JSON.stringify(write.body)}`);
    });

    await check("one session's CSRF token does not do for another session", async () => {
      const r = await gql(base, { cookie: annSession.cookie, csrf: bobSession.csrf }, "{ viewer { role } }");
      assert(r.status === 401 && messages(r.body).includes(CSRF_MESSAGE), `status ${r.status}: ${JSON.stringify(r.body)}`);
    });

    await check("POST /admin/logout without X-CSRF-Token is refused with 403 and the session lives on", async () => {
      const r = await fetch(`${base}/admin/logout`, { method: "POST", redirect: "manual", headers: { Cookie: `coupons_session=${annSession.cookie}` } });
      assert(r.status === 403, `status ${r.status}`);
      assert(!r.headers.get("set-cookie"), `it set ${r.headers.get("set-cookie")}`);
      const wrong = await fetch(`${base}/admin/logout`, {
        method: "POST", redirect: "manual", headers: { Cookie: `coupons_session=${annSession.cookie}`, "X-CSRF-Token": bobSession.csrf },
      });
      assert(wrong.status === 403, `with another session's token: ${wrong.status}`);
      const still = await sessionOf(ann.context, ann.page, base);
      assert(still.answer.status === 200, `the session after a refused sign-out: ${still.answer.status}`);
    });

    await check("POST /admin/logout with X-CSRF-Token: 303 to /admin/login, cookie cleared, session over", async () => {
      const r = await fetch(`${base}/admin/logout`, {
        method: "POST", redirect: "manual",
        headers: { Cookie: `coupons_session=${annSession.cookie}`, "X-CSRF-Token": annSession.answer.body.csrfToken },
      });
      assert(r.status === 303 && r.headers.get("location") === "/admin/login?again=1", `status ${r.status}, location ${r.headers.get("location")}`);
      // Signing in again asks the provider for the person again (another account may be used).
      const again = await fetch(`${base}/admin/login?again=1`, { redirect: "manual" });
      const to = new URL(again.headers.get("location"));
      assert(again.status === 303 && to.searchParams.get("prompt") === "login", `login again: ${again.status} ${to}`);
      const cleared = r.headers.get("set-cookie") || "";
      assert(/^coupons_session=;/.test(cleared) && /Max-Age=0/i.test(cleared), `set-cookie ${cleared}`);
      // The browser still holds the old value: the service must refuse it.
      const after = await sessionOf(ann.context, ann.page, base);
      assert(after.cookie && after.cookie.value === annSession.cookie, "the browser's cookie changed");
      assert(after.answer.status === 401, `/admin/session after sign-out: ${after.answer.status}`);
      const old = await gql(base, { cookie: annSession.cookie, csrf: annSession.answer.body.csrfToken }, "{ viewer { role } }");
      assert(old.status === 401, `the old cookie on /graphql: ${old.status} ${JSON.stringify(old.body)}`);
      const read = await fetch(`${base}/admin/session`, { headers: { Cookie: `coupons_session=${annSession.cookie}` } });
      assert(read.status === 401, `the old cookie on /admin/session: ${read.status}`);
    });

    await check("signing out from the console page clears the browser's cookie", async () => {
      const kind = await bob.page.evaluate(async (csrf) => {
        const r = await fetch("/admin/logout", { method: "POST", credentials: "same-origin", redirect: "manual", headers: { "X-CSRF-Token": csrf } });
        return r.type;
      }, bobSession.csrf);
      assert(kind === "opaqueredirect", `the sign-out answered ${kind}`);
      const { cookie, answer } = await sessionOf(bob.context, bob.page, base);
      assert(!cookie, `the cookie is still there: ${JSON.stringify(cookie)}`);
      assert(answer.status === 401, `/admin/session: ${answer.status}`);
      const old = await gql(base, { cookie: bobSession.cookie, csrf: bobSession.csrf }, "{ viewer { role } }");
      assert(old.status === 401, `the old cookie on /graphql: ${old.status}`);
    });

    await check("eve, whose groups name no role, gets a 403 page and no session", async () => {
      const eve = await signIn("eve", { shoot: "eve-no-role", expectLanding: false });
      try {
        assert(eve.callback && eve.callback.status === 403, `the callback answered ${eve.callback && eve.callback.status}`);
        assert(!eve.callback.headers["set-cookie"], `it set ${eve.callback.headers["set-cookie"]}`);
        const text = await eve.page.locator("[role=alert]").innerText();
        assert(text.includes("Your account has no role"), `the page says: ${text}`);
        const cookies = await eve.context.cookies(base);
        assert(!cookies.some((c) => c.name === "coupons_session"), `cookies: ${JSON.stringify(cookies)}`);
      } finally {
        await eve.context.close();
      }
    });

    // ---- bearer access tokens ---------------------------------------------------------

    const viewer = (token) => gql(base, { token }, "{ viewer { role name } }");

    await check("ann's access token works as an admin and the audit log names her", async () => {
      const token = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      const who = await viewer(token);
      assert(who.status === 200 && who.body.data.viewer.role === "ADMIN", `viewer: ${who.status} ${JSON.stringify(who.body)}`);
      const made = await gql(base, { token },
        'mutation { createCoupon(input: {name: "Bearer", code: "BEARER10", discount: {percentage: "10"}}) { coupon { id } userErrors { code } } }');
      assert(made.status === 200 && made.body.data.createCoupon.coupon, `create: ${JSON.stringify(made.body)}`);
      const id = made.body.data.createCoupon.coupon.id;
      const log = await gql(base, { token }, `{ auditLog(first: 5, filter: {entityType: COUPON, entityId: "${id}"}) { edges { node { action actorName actorRole } } } }`);
      const nodes = log.body.data.auditLog.edges.map((e) => e.node);
      assert(nodes.length === 1 && nodes[0].action === "COUPON_CREATED", `audit: ${JSON.stringify(log.body)}`);
      assert(nodes[0].actorName === "ann@example.com (ann)" && nodes[0].actorRole === "ADMIN", `audit: ${JSON.stringify(nodes[0])}`);
    });

    const refused = async (token, what) => {
      const r = await viewer(token);
      assert(r.status === 401, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
      assert(!r.body.data, `${what}: data in a refusal`);
      return r;
    };

    await check("an expired access token (exp 60 s ago) is refused with 401", async () => {
      await refused(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, expiresIn: -60 }), "expired");
    });

    await check("an access token not valid yet (nbf in 120 s) is refused with 401", async () => {
      await refused(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, notBefore: 120 }), "not yet valid");
    });

    await check("within the clock skew (exp 2 s ago, nbf in 2 s) a token is still taken", async () => {
      const late = await viewer(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, expiresIn: -2 }));
      assert(late.status === 200, `exp 2 s ago: ${late.status} ${JSON.stringify(late.body)}`);
      const early = await viewer(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, notBefore: 2 }));
      assert(early.status === 200, `nbf in 2 s: ${early.status} ${JSON.stringify(early.body)}`);
    });

    await check("a tampered access token is refused with 401", async () => {
      const token = await op.issueAccessToken({ sub: "bob", audience: AUDIENCE });
      const [header, payload, signature] = token.split(".");
      // One character of the payload changed, at a place that alters its bytes.
      const at = Math.floor(payload.length / 2);
      const flipped = payload[at] === "A" ? "B" : "A";
      await refused(`${header}.${payload.slice(0, at)}${flipped}${payload.slice(at + 1)}.${signature}`, "one character changed");
      // The forger's real aim: bob made an admin, the signature kept.
      const claims = decodePart(payload);
      claims.groups = ["coupons-admin"];
      await refused(`${header}.${b64url(JSON.stringify(claims))}.${signature}`, "groups rewritten");
      // A signature that is not the provider's.
      const sig = Buffer.from(signature, "base64url");
      sig[10] ^= 1;
      await refused(`${header}.${payload}.${sig.toString("base64url")}`, "signature altered");
    });

    await check("an access token for another audience is refused with 401 (the console's ID-token audience too)", async () => {
      await refused(await op.issueAccessToken({ sub: "ann", audience: "someone-else" }), "aud someone-else");
      await refused(await op.issueAccessToken({ sub: "ann", audience: CLIENT_ID }), `aud ${CLIENT_ID}`);
    });

    await check("an access token from another issuer, unsigned, or HMAC-signed is refused with 401", async () => {
      await refused(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, claims: { iss: "http://127.0.0.1:1" } }), "another iss");
      const good = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      const [, payload] = good.split(".");
      await refused(`${b64url(JSON.stringify({ alg: "none", typ: "at+jwt", kid: op.kid }))}.${payload}.`, "alg none");
      const jose = await import("jose");
      const secret = new TextEncoder().encode(CLIENT_SECRET);
      const hmac = await new jose.SignJWT(decodePart(payload)).setProtectedHeader({ alg: "HS256", kid: op.kid }).sign(secret);
      await refused(hmac, "HS256 with the client secret");
    });

    await check("an access token whose groups name no role is refused with 401", async () => {
      await refused(await op.issueAccessToken({ sub: "eve", audience: AUDIENCE }), "eve's groups");
      await refused(await op.issueAccessToken({ sub: "ann", audience: AUDIENCE, groups: [] }), "no groups");
    });

    await check("an analyst's access token reads, and is refused an admin-only mutation (FORBIDDEN)", async () => {
      const token = await op.issueAccessToken({ sub: "bob", audience: AUDIENCE });
      const who = await viewer(token);
      assert(who.status === 200 && who.body.data.viewer.role === "ANALYST", `viewer: ${JSON.stringify(who.body)}`);
      const write = await gql(base, { token },
        'mutation { createCoupon(input: {name: "Nope", code: "NOPE20", discount: {percentage: "10"}}) { coupon { id } } }');
      assert(write.status !== 401, `an analyst's mutation was refused as unauthenticated: ${JSON.stringify(write.body)}`);
      assert(codes(write.body).includes("FORBIDDEN"), `an analyst's mutation: ${write.status} ${JSON.stringify(write.body)}`);
      assert(!write.body.data || !write.body.data.createCoupon, `it made something: ${JSON.stringify(write.body)}`);
    });

    // ---- key rotation -----------------------------------------------------------------

    await check("after the provider rotates its keys, a token with the new kid is taken (within ~6 s), the old one still", async () => {
      const old = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      const { kid, previousKid } = await op.rotateKeys();
      assert(kid !== previousKid && op.kid === kid, "the provider did not rotate");
      const fresh = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      assert(decodePart(fresh.split(".")[0]).kid === kid, "the new token does not name the new kid");
      const started = Date.now();
      const accepted = await until(async () => (await viewer(fresh)).status === 200, 7000);
      assert(accepted, "the new-kid token was still refused 7 s after the rotation");
      console.log(`  (the new kid was taken after ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      const again = await viewer(old);
      assert(again.status === 200, `the old-kid token, still published: ${again.status} ${JSON.stringify(again.body)}`);
    });

    await check("once the old key is withdrawn, tokens it signed are refused after the server's refresh", async () => {
      const signedByOld = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      const oldKid = op.kid;
      const { kid } = await op.rotateKeys({ dropOld: true });
      assert(!op.jwks().keys.some((k) => k.kid === oldKid), "the old key is still published");
      const fresh = await op.issueAccessToken({ sub: "ann", audience: AUDIENCE });
      assert(decodePart(fresh.split(".")[0]).kid === kid, "the new token does not name the new kid");
      const started = Date.now();
      const taken = await until(async () => (await viewer(fresh)).status === 200, 7000);
      assert(taken, "the new-kid token was still refused 7 s after the rotation");
      console.log(`  (the new kid was taken after ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      await refused(signedByOld, "signed by the withdrawn key");
    });

    await check("after the rotations a person still signs in (ID token signed by the newest key)", async () => {
      const s = await signIn("bob");
      try {
        const { answer } = await sessionOf(s.context, s.page, base);
        assert(answer.status === 200 && answer.body.role === "analyst", `session ${JSON.stringify(answer)}`);
      } finally {
        await s.context.close();
      }
    });

    // ---- idle timeout -----------------------------------------------------------------

    await check(`a session unused for ${IDLE_MINUTES} min ends; one used meanwhile lives on`, async () => {
      assert(idle && busy, "the sessions were not started");
      const idleMs = IDLE_MINUTES * 60e3;
      // A use more than 30 s after the last one is recorded (the service's granularity).
      await sleep(Math.max(0, signedInAt + 35e3 - Date.now()));
      const midway = await gql(base, { cookie: busy.cookie, csrf: busy.csrf }, "{ viewer { role } }");
      assert(midway.status === 200, `the busy session midway: ${midway.status}`);
      await sleep(Math.max(0, signedInAt + idleMs + 5e3 - Date.now()));
      const gone = await fetch(`${base}/admin/session`, { headers: { Cookie: `coupons_session=${idle.cookie}` } });
      assert(gone.status === 401, `the idle session: ${gone.status}`);
      const stale = await gql(base, { cookie: idle.cookie, csrf: idle.csrf }, "{ viewer { role } }");
      assert(stale.status === 401, `the idle cookie on /graphql: ${stale.status}`);
      const alive = await fetch(`${base}/admin/session`, { headers: { Cookie: `coupons_session=${busy.cookie}` } });
      assert(alive.status === 200, `the busy session: ${alive.status}`);
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server) server.child.kill("SIGTERM");
    if (op) await op.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
