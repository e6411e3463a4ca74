// The console's calls to the server: the signed-in session (`loadSession`), GraphQL
// (`gql`) with the session's CSRF token, the CSV import, and signing out. A 401 from
// any of them sends the browser to the sign-in page. No DOM here.

const LOGIN = "/admin/login";
let session = null;

/** A failed call: `code` is the GraphQL `extensions.code` (or "HTTP_<status>"). */
export class ApiError extends Error {
  constructor(message, code, details = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    Object.assign(this, details);
  }
}

/** Leaves for the sign-in page. */
export function toLogin() {
  location.assign(LOGIN);
}

function signedOut() {
  toLogin();
  return new ApiError("Your session has ended; signing in again.", "UNAUTHENTICATED");
}

/** The session: `{csrfToken, name, email, role}`; a 401 goes to the sign-in page. */
export async function loadSession() {
  const r = await fetch("/admin/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) throw signedOut();
  if (!r.ok) throw new ApiError(`The session could not be read (HTTP ${r.status}).`, `HTTP_${r.status}`);
  session = await r.json();
  return session;
}

/** The session loaded by `loadSession` (null before). */
export function currentSession() {
  return session;
}

/** Whether the signed-in person may change things (the admin role). */
export function canWrite() {
  return Boolean(session && session.role === "admin");
}

function headers(extra = {}) {
  return { "X-CSRF-Token": session ? session.csrfToken : "", ...extra };
}

async function readJson(r) {
  const text = await r.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/**
 * Runs a GraphQL operation and resolves with its `data`. Errors (top-level, or field
 * errors beside data) reject with an ApiError carrying the first error's code and the
 * whole list (`errors`).
 */
export async function gql(query, variables = {}) {
  let r;
  try {
    r = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError(`The server could not be reached (${e.message}).`, "NETWORK");
  }
  if (r.status === 401) throw signedOut();
  const body = await readJson(r);
  if (!body) throw new ApiError(`The server answered HTTP ${r.status} without JSON.`, `HTTP_${r.status}`);
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = (first.extensions && first.extensions.code) || `HTTP_${r.status}`;
    throw new ApiError(first.message, code, { errors: body.errors, data: body.data || null });
  }
  return body.data;
}

/**
 * Imports a coupon's codes from CSV text or a File: resolves with `{imported}` on
 * success, or `{imported: 0, errors: [{line, column, code, message}]}` when rows are
 * refused (nothing was written then); other failures reject.
 */
export async function importCodes(couponId, csv) {
  const r = await fetch(`/import/codes.csv?coupon=${encodeURIComponent(couponId)}`, {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ "Content-Type": "text/csv", Accept: "application/json" }),
    body: csv,
  });
  if (r.status === 401) throw signedOut();
  const body = await readJson(r);
  if (r.ok || r.status === 422) return body || { imported: 0, errors: [] };
  const first = body && body.errors && body.errors[0];
  throw new ApiError(first ? first.message : `The import failed (HTTP ${r.status}).`,
    (first && first.extensions && first.extensions.code) || `HTTP_${r.status}`);
}

/** The address of a CSV export: `kind` is "codes" or "redemptions"; `params` its query. */
export function exportUrl(kind, params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  return `/export/${kind}.csv?${query}`;
}

/** Signs out (whatever the answer) and goes to the sign-in page. */
export async function logout() {
  try {
    await fetch("/admin/logout", { method: "POST", credentials: "same-origin", headers: headers() });
  } finally {
    toLogin();
  }
}
