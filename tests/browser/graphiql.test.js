// GraphiQL, as served by the coupon service, in headless Chromium: the page loads with no
// network access beyond the service, a coupon is created, and it is found again by its
// code typed in another letter case. Starts the real binary on a fresh SQLite file.
//
// Usage: node graphiql.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const binary = path.resolve(process.argv[2] || path.join(__dirname, "../../target/debug/coupons"));
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

function startServer(dbFile) {
  const child = spawn(binary, [], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${dbFile}`,
      COUPONS_BIND: "127.0.0.1:0",
      COUPONS_RULES_DIR: path.join(__dirname, "../../rules"),
      RUST_LOG: "warn",
    },
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

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-browser-"));
  const { child, base, key } = await startServer(path.join(dir, "coupons.db"));
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    assert(key, "no admin key printed on first start");
    const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
    const elsewhere = [];
    context.on("request", (r) => { if (!r.url().startsWith(base)) elsewhere.push(r.url()); });

    // Each run opens GraphiQL in a fresh page whose storage is seeded before GraphiQL's
    // own scripts run (a page that unloads writes its state back, so seeding an open page
    // and reloading would race with it). This is what a person typing the query and the
    // Authorization header into GraphiQL sets up; then Run is pressed.
    const run = async (query) => {
      const page = await context.newPage();
      await page.addInitScript(([q, k]) => {
        localStorage.setItem("graphiql:query", q);
        localStorage.setItem("graphiql:headers", JSON.stringify({ Authorization: `Bearer ${k}` }));
        localStorage.removeItem("graphiql:tabState");
      }, [query, key]);
      await page.goto(`${base}/graphql`);
      await page.click(".graphiql-execute-button", { timeout: 20000 });
      await page.waitForFunction(() => {
        const r = document.querySelector(".graphiql-response .CodeMirror");
        return r && r.CodeMirror.getValue().includes('"data"');
      }, null, { timeout: 20000 });
      const text = await page.evaluate(() =>
        document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue());
      await page.close();
      return JSON.parse(text);
    };

    const created = await run('mutation { createCoupon(input: {name: "Browser", code: "Browser10", discount: {percentage: "10"}}) { coupon { id code } userErrors { code } } }');
    assert(created.data.createCoupon.coupon.code === "BROWSER10", `create: ${JSON.stringify(created)}`);
    const found = await run('{ coupon(code: "bRoWsEr10") { id name code } }');
    assert(found.data.coupon.name === "Browser", `lookup: ${JSON.stringify(found)}`);
    assert(found.data.coupon.id === created.data.createCoupon.coupon.id, "a different coupon was found");
    assert(elsewhere.length === 0, `requests to other hosts: ${elsewhere.join(", ")}`);
    console.log("1 passed, 0 failed");
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
