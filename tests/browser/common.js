// What the browser tests share: the real binary started on a fresh SQLite file, and
// headless Chromium.
"use strict";
const { spawn } = require("node:child_process");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const binary = path.resolve(process.argv[2] || path.join(__dirname, "../../target/debug/coupons"));
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

// Starts `coupons` on `dbFile` with `env` added; resolves once it serves, with its base
// URL and the admin key its first start printed.
function startServer(dbFile, env = {}) {
  const child = spawn(binary, [], {
    env: { ...process.env, DATABASE_URL: `sqlite://${dbFile}`, COUPONS_BIND: "127.0.0.1:0",
      RUST_LOG: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const lines = [];
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join("\n")}`)), 30000);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      if (line.startsWith("Press Ctrl-C")) {
        clearTimeout(timer);
        const base = lines.find((l) => l.startsWith("Listening on ")).slice("Listening on ".length).trim();
        const key = lines.map((l) => l.trim()).find((l) => l.startsWith("cpn_"));
        resolve({ child, base, key });
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${lines.join("\n")}`)));
  });
}

// Headless Chromium, with nothing of its own going to the network.
function launch() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// A shop's page on a port of its own (another origin): `html()` is served for every path.
function serveShop(html) {
  return new Promise((resolve) => {
    const server = http.createServer((_, res) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(html());
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// A GraphQL call with `key`: the answer's JSON.
async function graphql(base, key, query) {
  const r = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  return r.json();
}

// A TCP port on 127.0.0.1 that was free a moment ago, for a server whose address must be
// known before it starts (e.g. to register a redirect URI elsewhere first).
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = { binary, startServer, launch, assert, serveShop, graphql, freePort };
