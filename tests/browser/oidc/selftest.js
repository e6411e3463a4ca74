// Self-test of oidc/provider.js without a browser: `node oidc/selftest.js` from tests/browser.
// Discovery and JWKS, the authorization-code + PKCE flow through the login page (fetch, manual redirects and a
// cookie jar), the ID token and userinfo, client_credentials, issueAccessToken and rotateKeys.
"use strict";
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { startProvider } = require("./provider");

const REDIRECT_URI = "http://127.0.0.1:8080/admin/callback";
const b64url = (buf) => Buffer.from(buf).toString("base64url");
const ok = (what) => console.log(`ok - ${what}`);

// A cookie jar that honours Path, enough for the provider's cookies.
function cookieJar() {
  const cookies = new Map();
  return {
    store(res) {
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(";").map((s) => s.trim());
        const i = pair.indexOf("=");
        const name = pair.slice(0, i);
        const value = pair.slice(i + 1);
        const pathAttr = attrs.find((a) => /^path=/i.test(a));
        const path = pathAttr ? pathAttr.slice(5) : "/";
        const expired = attrs.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now())
          || attrs.some((a) => /^max-age=/i.test(a) && Number(a.slice(8)) <= 0);
        if (expired || value === "") cookies.delete(`${path} ${name}`);
        else cookies.set(`${path} ${name}`, { name, value, path });
      }
    },
    header(url) {
      const { pathname } = new URL(url);
      return [...cookies.values()]
        .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
        .map((c) => `${c.name}=${c.value}`).join("; ");
    },
  };
}

// Follows redirects by hand; stops at the redirect_uri (never fetched) or at a page.
async function browse(jar, url, init = {}) {
  for (let hops = 0; hops < 20; hops += 1) {
    if (url.startsWith(REDIRECT_URI)) return { redirectedTo: new URL(url) };
    const res = await fetch(url, {
      ...init, redirect: "manual", headers: { ...init.headers, cookie: jar.header(url) },
    });
    jar.store(res);
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).href;
      init = {};
    } else {
      return { url, status: res.status, html: await res.text() };
    }
  }
  throw new Error("too many redirects");
}

function loginForm(page) {
  assert.equal(page.status, 200, `login page status (${page.html})`);
  const action = /<form id="login" method="post" action="([^"]+)"/.exec(page.html)?.[1];
  assert.ok(action, "form#login with an action");
  assert.match(page.html, /<input name="login"/, "input[name=login]");
  assert.match(page.html, /<button type="submit">Sign in<\/button>/, 'button "Sign in"');
  return new URL(action.replace(/&#38;/g, "&"), page.url).href;
}

// The front channel: authorization request, login form (if the jar has no session), redirect with the code.
async function authorize(op, discovery, jar, login) {
  const verifier = b64url(crypto.randomBytes(32));
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const auth = new URL(discovery.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: op.clientId,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: "openid email profile groups",
    state,
    nonce,
    code_challenge: b64url(crypto.createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  });

  let done = await browse(jar, auth.href);
  if (login) {
    const post = (action, user) => browse(jar, action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ login: user }),
    });
    const page = await post(loginForm(done), "mallory");
    assert.match(page.html, /<p role="alert">Unknown user<\/p>/);
    done = await post(loginForm(page), login);
  }
  assert.ok(done.redirectedTo, `redirected to the redirect_uri (got ${done.status} ${done.html})`);
  const params = done.redirectedTo.searchParams;
  assert.equal(params.get("state"), state, "state round-trips");
  assert.ok(params.get("code"), "a code");
  assert.equal(params.get("iss"), op.issuer, "iss in the authorization response");
  return { code: params.get("code"), verifier, nonce };
}

// The back channel: the code and the code_verifier for tokens, the client authenticated by authMethod.
async function exchange(op, discovery, { code, verifier, nonce }, authMethod) {
  const body = new URLSearchParams({
    grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  });
  const headers = { "content-type": "application/x-www-form-urlencoded" };
  if (authMethod === "client_secret_basic") {
    const credentials = `${encodeURIComponent(op.clientId)}:${encodeURIComponent(op.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  } else {
    body.set("client_id", op.clientId);
    body.set("client_secret", op.clientSecret);
  }
  const res = await fetch(discovery.token_endpoint, { method: "POST", headers, body });
  const tokens = await res.json();
  assert.equal(res.status, 200, `token endpoint: ${JSON.stringify(tokens)}`);
  return { tokens, nonce };
}

async function main() {
  const { createLocalJWKSet, decodeProtectedHeader, jwtVerify } = await import("jose");
  const op = await startProvider({
    clientId: "coupons-console",
    clientSecret: "console-secret",
    redirectUris: [REDIRECT_URI],
    users: [
      { sub: "ann", email: "ann@example.com", name: "Ann Admin", groups: ["coupons-admin"] },
      { sub: "bob", email: "bob@example.com", name: "Bob Analyst", groups: ["coupons-analyst"] },
    ],
    audience: "coupons-api",
  });
  try {
    console.log(`provider at ${op.issuer}`);
    const discovery = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(discovery.issuer, op.issuer);
    assert.equal(discovery.jwks_uri, op.jwksUri);
    assert.deepEqual(discovery.code_challenge_methods_supported, ["S256"]);
    for (const scope of ["openid", "email", "profile", "groups"]) assert.ok(discovery.scopes_supported.includes(scope));
    for (const claim of ["email", "name", "groups"]) assert.ok(discovery.claims_supported.includes(claim));
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes("client_secret_basic"));
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes("client_secret_post"));
    ok(`discovery: issuer, jwks_uri ${discovery.jwks_uri}, S256, scopes and claims incl. groups`);

    const fetchJwks = async () => (await fetch(discovery.jwks_uri)).json();
    let jwks = await fetchJwks();
    const firstKid = op.kid;
    assert.deepEqual(jwks.keys.map((k) => k.kid), [firstKid]);
    assert.ok(jwks.keys.every((k) => k.kty === "RSA" && k.alg === "RS256" && !k.d), "public RSA keys only");
    ok(`JWKS publishes kid ${firstKid}, public parts only`);

    // PKCE is required.
    const noPkce = new URL(discovery.authorization_endpoint);
    noPkce.search = new URLSearchParams({
      client_id: op.clientId, response_type: "code", redirect_uri: REDIRECT_URI, scope: "openid", state: "s",
    });
    const refused = await browse(cookieJar(), noPkce.href);
    assert.equal(refused.redirectedTo?.searchParams.get("error"), "invalid_request");
    assert.match(refused.redirectedTo.searchParams.get("error_description"), /PKCE/);
    ok("an authorization request without code_challenge is refused (invalid_request)");

    const checkIdToken = async ({ tokens, nonce }, user) => {
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token, createLocalJWKSet(await fetchJwks()), {
        issuer: op.issuer, audience: op.clientId, algorithms: ["RS256"],
      });
      assert.equal(payload.sub, user.sub);
      assert.equal(payload.nonce, nonce);
      assert.equal(payload.email, user.email);
      assert.equal(payload.name, user.name);
      assert.deepEqual(payload.groups, user.groups);
      const userinfo = await (await fetch(discovery.userinfo_endpoint, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })).json();
      assert.deepEqual(
        { sub: userinfo.sub, email: userinfo.email, name: userinfo.name, groups: userinfo.groups },
        { sub: user.sub, email: user.email, name: user.name, groups: user.groups },
      );
      return protectedHeader.kid;
    };

    const ann = op.users[0];
    const annJar = cookieJar();
    const annCode = await authorize(op, discovery, annJar, "ann");
    assert.equal(await checkIdToken(await exchange(op, discovery, annCode, "client_secret_basic"), ann), firstKid);
    ok(`code flow + PKCE as ann (login form, unknown user refused, auto consent, client_secret_basic): id_token `
      + `signed by ${firstKid} verifies against the JWKS; sub, nonce, email, name, groups=${JSON.stringify(ann.groups)}`
      + " in the id_token and in userinfo");

    const cc = await fetch(discovery.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials", client_id: op.clientId, client_secret: op.clientSecret,
      }),
    });
    const ccBody = await cc.json();
    assert.equal(cc.status, 200, JSON.stringify(ccBody));
    const ccToken = await jwtVerify(ccBody.access_token, createLocalJWKSet(jwks), {
      issuer: op.issuer, audience: op.audience, typ: "at+jwt",
    });
    assert.equal(ccToken.payload.client_id, op.clientId);
    assert.equal(ccToken.protectedHeader.kid, firstKid);
    ok(`client_credentials (client_secret_post): RS256 JWT access token, aud ${op.audience}, `
      + `kid ${ccToken.protectedHeader.kid}`);

    const minted = await op.issueAccessToken({ sub: "ann" });
    const verified = await jwtVerify(minted, createLocalJWKSet(jwks), {
      issuer: op.issuer, audience: "coupons-api", algorithms: ["RS256"], typ: "at+jwt",
    });
    assert.equal(verified.protectedHeader.kid, firstKid);
    assert.equal(verified.payload.sub, "ann");
    assert.equal(verified.payload.email, "ann@example.com");
    assert.deepEqual(verified.payload.groups, ["coupons-admin"]);
    assert.equal(verified.payload.exp - verified.payload.iat, 300);
    assert.equal(verified.payload.nbf, verified.payload.iat);
    ok(`issueAccessToken({ sub: "ann" }) verifies against the JWKS: kid ${firstKid}, iss, aud, sub, email, `
      + "groups, iat/nbf/exp");

    const expired = await op.issueAccessToken({ sub: "bob", expiresIn: -60, audience: "other" });
    await assert.rejects(jwtVerify(expired, createLocalJWKSet(jwks)), { code: "ERR_JWT_EXPIRED" });
    const early = await op.issueAccessToken({ sub: "bob", notBefore: 120 });
    await assert.rejects(jwtVerify(early, createLocalJWKSet(jwks)), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
    ok("issueAccessToken with expiresIn < 0 gives an expired token, with notBefore > 0 one not yet valid");

    const { kid: secondKid, previousKid } = await op.rotateKeys();
    assert.equal(previousKid, firstKid);
    assert.notEqual(secondKid, firstKid);
    jwks = await fetchJwks();
    assert.deepEqual(jwks.keys.map((k) => k.kid), [secondKid, firstKid]);
    const rotated = await op.issueAccessToken({ sub: "bob" });
    assert.equal(decodeProtectedHeader(rotated).kid, secondKid);
    await jwtVerify(rotated, createLocalJWKSet(jwks), { issuer: op.issuer, audience: "coupons-api" });
    await jwtVerify(minted, createLocalJWKSet(jwks), { issuer: op.issuer, audience: "coupons-api" });
    ok(`rotateKeys(): JWKS at ${discovery.jwks_uri} is now [${secondKid}, ${firstKid}]; a new token carries `
      + `${secondKid} and verifies, the old one still verifies`);

    const annAgain = await authorize(op, discovery, annJar, null);
    assert.equal(await checkIdToken(await exchange(op, discovery, annAgain, "client_secret_post"), ann), secondKid);
    ok(`after the rotation ann's session still holds (no login form) and her new id_token (client_secret_post) `
      + `is signed by ${secondKid}`);

    const bob = op.users[1];
    const bobCode = await authorize(op, discovery, cookieJar(), "bob");
    const { kid: thirdKid } = await op.rotateKeys({ dropOld: true });
    jwks = await fetchJwks();
    assert.deepEqual(jwks.keys.map((k) => k.kid), [thirdKid]);
    assert.equal(await checkIdToken(await exchange(op, discovery, bobCode, "client_secret_post"), bob), thirdKid);
    await assert.rejects(jwtVerify(minted, createLocalJWKSet(jwks)), { code: "ERR_JWKS_NO_MATCHING_KEY" });
    await assert.rejects(jwtVerify(rotated, createLocalJWKSet(jwks)), { code: "ERR_JWKS_NO_MATCHING_KEY" });
    assert.equal(decodeProtectedHeader(await op.issueAccessToken({ sub: "ann" })).kid, thirdKid);
    ok(`rotateKeys({ dropOld: true }) between bob's login and his code exchange: JWKS is only [${thirdKid}], `
      + `his id_token (groups=${JSON.stringify(bob.groups)}) and new access tokens carry it, tokens of the dropped `
      + "keys no longer verify");
  } finally {
    await op.close();
  }
  console.log("oidc provider selftest passed");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
