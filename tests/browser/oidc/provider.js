// A real OpenID Connect provider for the tests: panva's certified `oidc-provider` (ESM-only,
// loaded with import()) on 127.0.0.1 over plain http, with one confidential client and a few
// users. `node oidc/selftest.js` checks it without a browser.
//
//   const { startProvider } = require("./oidc/provider");
//   const op = await startProvider({
//     clientId: "coupons-console",                      // the default
//     clientSecret: "console-secret",                   // the default
//     redirectUris: ["http://127.0.0.1:8080/admin/callback"],
//     postLogoutRedirectUris: [],                       // for RP-initiated logout, if used
//     users: [{ sub: "ann", email: "ann@example.com", name: "Ann Admin", groups: ["coupons-admin"] },
//             { sub: "bob", email: "bob@example.com", name: "Bob Analyst", groups: ["coupons-analyst"] }],
//     audience: "coupons-console",                      // `aud` of API access tokens; default: clientId
//     port: 0,                                          // default: a free port
//   });
//
// It resolves to:
//   op.issuer       "http://127.0.0.1:PORT"; discovery at `${op.issuer}/.well-known/openid-configuration`
//   op.port, op.jwksUri (`${issuer}/jwks`), op.clientId, op.clientSecret, op.redirectUris, op.users, op.audience
//   op.kid          the kid that signs ID tokens and access tokens now
//   op.jwks()       the published JWKS (public parts), newest key first
//   op.issueAccessToken({ sub, groups, email, audience, expiresIn = 300, notBefore = 0, claims = {}, typ = "at+jwt" })
//       -> Promise<string>: a JWT signed RS256 by the current key (header kid, typ), with iss, aud, sub,
//       groups, email, iat, nbf, exp and jti. groups and email default to the user's; expiresIn and
//       notBefore are seconds from now (expiresIn < 0: already expired; notBefore > 0: not valid yet);
//       `claims` are added last (they can override any of these).
//   op.rotateKeys({ dropOld = false } = {}) -> Promise<{ kid, previousKid }>
//       A new RSA key signs ID tokens and access tokens from then on and is published first at jwks_uri;
//       the older keys stay published unless dropOld. Same issuer, port, client and users; sessions,
//       codes and grants in flight survive (the Provider instance behind the server is swapped).
//   op.close()      -> Promise<void>
//
// The client: token_endpoint_auth_method client_secret_basic (client_secret_post is accepted too),
// response_types ["code"], grant_types ["authorization_code", "client_credentials"], PKCE (S256)
// required. Scopes openid, email (email, email_verified), profile (name), groups (groups): the ID
// token carries the claims of the granted scopes, like userinfo. client_credentials gives an RS256
// JWT access token with aud = audience.
//
// Login page, GET `${issuer}/interaction/:uid` (the authorization endpoint redirects there):
//   form#login                       posts to /interaction/:uid/login
//   input[name="login"]              the user's sub, e.g. "ann"
//   button[type="submit"] "Sign in"  page.getByRole("button", { name: "Sign in" })
// An unknown user gets the form again with p[role="alert"] "Unknown user". Consent is granted
// without a page. The sign-in is kept in the browser's cookies (an SSO session): a new browser
// context, or prompt=login in the authorization request, shows the form again (signing in as
// someone else then ends the old session through a self-submitting page). The end_session page
// has a button "Yes, sign me out".
"use strict";
const crypto = require("node:crypto");
const http = require("node:http");

const DEFAULT_USERS = [
  { sub: "ann", email: "ann@example.com", name: "Ann Admin", groups: ["coupons-admin"] },
  { sub: "bob", email: "bob@example.com", name: "Bob Analyst", groups: ["coupons-analyst"] },
];
const API_RESOURCE = "urn:coupons:api"; // the resource indicator of client_credentials tokens

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>`
    + `</head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function loginPage(uid, clientId, error) {
  return page("Sign in", `<p>to ${escape(clientId)}</p>`
    + (error ? `<p role="alert">${escape(error)}</p>` : "")
    + `<form id="login" method="post" action="/interaction/${escape(uid)}/login">`
    + `<label>User <input name="login" autocomplete="username" autofocus required></label> `
    + `<button type="submit">Sign in</button></form>`);
}

async function newSigningKey(jose) {
  const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: await jose.calculateJwkThumbprint(jwk), alg: "RS256", use: "sig" };
}

const publicJwk = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

// The provider's state (sessions, interactions, codes, grants, tokens) in memory, one store for
// all the Provider instances that rotateKeys swaps in.
const GRANTABLE = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode",
  "BackchannelAuthenticationRequest", "PreAuthorizedCode"]);

function memoryAdapter() {
  const store = new Map();
  const byGrant = new Map();
  const get = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt > Date.now()) return entry.value;
    store.delete(key);
    return undefined;
  };
  const set = (key, value, expiresIn) =>
    store.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  return (model) => ({
    async upsert(id, payload, expiresIn) {
      const key = `${model}:${id}`;
      set(key, payload, expiresIn);
      if (payload.uid) set(`${model}:uid:${payload.uid}`, id, expiresIn);
      if (payload.userCode) set(`${model}:userCode:${payload.userCode}`, id, expiresIn);
      if (GRANTABLE.has(model) && payload.grantId) {
        byGrant.set(payload.grantId, [...(byGrant.get(payload.grantId) ?? []), key]);
      }
    },
    async find(id) { return get(`${model}:${id}`); },
    async findByUid(uid) { return get(`${model}:${get(`${model}:uid:${uid}`)}`); },
    async findByUserCode(code) { return get(`${model}:${get(`${model}:userCode:${code}`)}`); },
    async consume(id) {
      const payload = get(`${model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id) { store.delete(`${model}:${id}`); },
    async revokeByGrantId(grantId) {
      for (const key of byGrant.get(grantId) ?? []) store.delete(key);
      byGrant.delete(grantId);
    },
  });
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

async function startProvider(options = {}) {
  const { default: Provider, errors } = await import("oidc-provider");
  const jose = await import("jose");

  const clientId = options.clientId ?? "coupons-console";
  const clientSecret = options.clientSecret ?? "console-secret";
  const redirectUris = options.redirectUris ?? ["http://127.0.0.1:8080/admin/callback"];
  const users = options.users ?? DEFAULT_USERS;
  const audience = options.audience ?? clientId;
  const userBySub = new Map(users.map((u) => [u.sub, u]));
  const cookieKeys = [crypto.randomBytes(32).toString("base64url")];
  const adapter = memoryAdapter();
  let keys = [await newSigningKey(jose)];
  let provider;
  let callback;

  // One server for the provider's whole life: rotateKeys swaps the Provider behind it.
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (res.headersSent) return res.destroy(err);
      res.writeHead(400, { "Content-Type": "text/html; charset=utf-8" });
      res.end(page("Error", `<p role="alert">${escape(err.message)}</p>`));
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  // The interaction routes are ours (the login form, consent without a page); the rest is the provider's.
  async function handle(req, res) {
    const match = /^\/interaction\/[^/?]+(\/login)?(\?|$)/.exec(req.url);
    if (!match) return callback(req, res);
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === "consent") {
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(" "));
      }
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
    }
    let error;
    if (match[1] && req.method === "POST") {
      const login = ((await readForm(req)).get("login") ?? "").trim();
      if (userBySub.has(login)) {
        const result = { login: { accountId: login } };
        return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      }
      error = "Unknown user";
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(loginPage(details.uid, details.params.client_id, error));
  }

  function build() {
    provider = new Provider(issuer, {
      adapter,
      clients: [{
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris ?? [],
        response_types: ["code"],
        grant_types: ["authorization_code", "client_credentials"],
        token_endpoint_auth_method: "client_secret_basic",
      }],
      jwks: { keys },
      cookies: { keys: cookieKeys },
      claims: {
        openid: ["sub"],
        email: ["email", "email_verified"],
        profile: ["name"],
        groups: ["groups"],
      },
      conformIdTokenClaims: false, // the ID token carries email, name and groups, not only userinfo
      pkce: { required: () => true },
      clientBasedCORS: () => true,
      ttl: {
        AccessToken: 600, AuthorizationCode: 60, ClientCredentials: 300, Grant: 3600,
        IdToken: 3600, Interaction: 600, Session: 3600,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // client_credentials gets an API token; the code flow keeps its userinfo access token.
          defaultResource: (ctx, _client, oneOf) => oneOf
            ?? (ctx.oidc.params?.grant_type === "client_credentials" ? API_RESOURCE : undefined),
          getResourceServerInfo: (_ctx, resource) => {
            if (resource !== API_RESOURCE) throw new errors.InvalidTarget();
            return {
              scope: "", audience, accessTokenFormat: "jwt", accessTokenTTL: 300, jwt: { sign: { alg: "RS256" } },
            };
          },
        },
        rpInitiatedLogout: {
          logoutSource: (ctx, form) => {
            ctx.type = "html";
            ctx.body = page("Sign out", `${form}<button type="submit" form="op.logoutForm" name="logout" `
              + `value="yes">Yes, sign me out</button>`);
          },
          postLogoutSuccessSource: (ctx) => {
            ctx.type = "html";
            ctx.body = page("Signed out", "<p>You are signed out.</p>");
          },
        },
      },
      findAccount: (_ctx, sub) => {
        const user = userBySub.get(sub);
        return user && {
          accountId: sub,
          claims: () => ({
            sub, email: user.email, email_verified: true, name: user.name, groups: user.groups,
          }),
        };
      },
      renderError: (ctx, out) => {
        ctx.type = "html";
        ctx.body = page("Error", `<p role="alert">${escape(out.error)}: ${escape(out.error_description ?? "")}</p>`);
      },
    });
    provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));
    callback = provider.callback();
  }
  build();

  async function issueAccessToken({
    sub, groups, email, audience: aud = audience, expiresIn = 300, notBefore = 0, claims = {}, typ = "at+jwt",
  } = {}) {
    if (!sub) throw new TypeError("issueAccessToken needs a sub");
    const user = userBySub.get(sub) ?? {};
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: issuer, aud, sub, groups: groups ?? user.groups ?? [], email: email ?? user.email,
      iat: now, nbf: now + notBefore, exp: now + expiresIn, jti: crypto.randomUUID(), ...claims,
    };
    const [key] = keys;
    return new jose.SignJWT(payload)
      .setProtectedHeader({ alg: "RS256", kid: key.kid, typ })
      .sign(await jose.importJWK(key, "RS256"));
  }

  async function rotateKeys({ dropOld = false } = {}) {
    const previousKid = keys[0].kid;
    const key = await newSigningKey(jose);
    keys = dropOld ? [key] : [key, ...keys];
    build();
    return { kid: key.kid, previousKid };
  }

  function close() {
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return {
    issuer,
    port,
    jwksUri: `${issuer}/jwks`,
    clientId,
    clientSecret,
    redirectUris,
    users,
    audience,
    get kid() { return keys[0].kid; },
    jwks: () => ({ keys: keys.map(publicJwk) }),
    issueAccessToken,
    rotateKeys,
    close,
  };
}

module.exports = { startProvider };
