// The GraphQL-over-HTTP conformance audits of the npm package graphql-http
// (`serverAudits`), against the real binary on a fresh SQLite file.
//
// With an admin key: no audit may end in `error`, and an audit may end in `warn` only if
// the README's "GraphQL over HTTP" section lists its id as a deliberate departure.
// With a storefront key, for which introspection is off: exactly the audits that
// introspect (28B9, 2EA1) fail, and nothing else does.
//
// Usage: node graphql-http.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { auditServer } = require("graphql-http");
const { binary, startServer, assert } = require("./common");

// The audit ids the README's "GraphQL over HTTP" section names as deliberate warnings.
function deliberateWarnings() {
  const readme = fs.readFileSync(path.join(__dirname, "../../README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("GraphQL over HTTP"));
  assert(section, "README.md has no \"GraphQL over HTTP\" section");
  const deliberate = section.split(/^### /m).find((s) => s.startsWith("Deliberate departures")) || "";
  return new Set([...deliberate.matchAll(/^- `([0-9A-Z]{4})`/gm)].map((m) => m[1]));
}

// fetch with the key added to every request the audits send.
function withKey(key) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };
}

async function audit(base, key, label) {
  const results = await auditServer({ url: `${base}/graphql`, fetchFn: withKey(key) });
  const counts = {};
  for (const r of results) {
    counts[r.status] = (counts[r.status] || 0) + 1;
    if (r.status !== "ok") console.log(`  ${label}: ${r.status} ${r.id} ${r.name}: ${r.reason}`);
  }
  console.log(`${label}: ${JSON.stringify(counts)}`);
  return results;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-graphql-http-"));
  const db = path.join(dir, "coupons.db");
  const { child, base, key } = await startServer(db);
  try {
    assert(key, "no admin key printed on first start");
    const allowed = deliberateWarnings();
    const admin = await audit(base, key, "admin key");
    const errors = admin.filter((r) => r.status === "error");
    assert(errors.length === 0, `audits in error: ${errors.map((r) => r.id).join(", ")}`);
    const unexplained = admin.filter((r) => r.status === "warn" && !allowed.has(r.id));
    assert(unexplained.length === 0,
      `warnings the README does not list as deliberate: ${unexplained.map((r) => r.id).join(", ")}`);
    const stale = [...allowed].filter((id) => !admin.some((r) => r.id === id && r.status === "warn"));
    assert(stale.length === 0, `the README lists warnings that no longer occur: ${stale.join(", ")}`);

    const created = execFileSync(binary, ["api-key", "create", "--role", "storefront", "--name", "audit"], {
      env: { ...process.env, DATABASE_URL: `sqlite://${db}` },
    }).toString();
    const storefront = created.match(/^(cpn_\S+)$/m)[1];
    const limited = await audit(base, storefront, "storefront key");
    const failed = limited.filter((r) => r.status === "error" || r.status === "warn").map((r) => r.id).sort();
    assert(JSON.stringify(failed) === JSON.stringify(["28B9", "2EA1"]),
      `with introspection off, only the introspecting audits may fail; failed: ${failed.join(", ")}`);
    console.log("graphql-http audits: passed");
  } finally {
    child.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
