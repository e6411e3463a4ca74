// The REST API reference at /api/docs, as the binary serves it, in headless Chromium: the
// page renders the OpenAPI document (every operation listed by its summary) with nothing
// loaded from any other host, so it works without internet access: the page's policy
// stops the one outside request Redoc would make (its footer logo). Starts
// the real binary on a fresh SQLite file; the screenshot goes to target/browser/.
//
// Usage: node reference.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert } = require("./common");

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-reference-"));
  const { child, base } = await startServer(path.join(dir, "coupons.db"));
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const elsewhere = [];
    // A request to another host counts unless the page's policy stopped it before it
    // left the browser.
    const own = (url) => url.startsWith(base) || url.startsWith(`blob:${base}`);
    const blocked = new Set();
    context.on("request", (r) => { if (!own(r.url())) elsewhere.push(r.url()); });
    context.on("requestfailed", (r) => {
      if (/csp/i.test(r.failure()?.errorText || "")) blocked.add(r.url());
    });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/api/docs`);
    await page.getByRole("heading", { name: /Coupons REST API/ }).first().waitFor({ timeout: 30000 });
    const document = await (await fetch(`${base}/openapi.json`)).json();
    const text = await page.locator("body").innerText();
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const operation of Object.values(operations)) {
        assert(text.includes(operation.summary),
          `the reference does not show ${route}: ${operation.operationId}`);
      }
    }
    fs.mkdirSync(path.join(__dirname, "../../target/browser"), { recursive: true });
    await page.screenshot({ path: path.join(__dirname, "../../target/browser/reference.png") });
    assert(errors.length === 0, `page errors: ${errors.join("; ")}`);
    const sent = elsewhere.filter((url) => !blocked.has(url));
    assert(sent.length === 0, `requests to other hosts: ${sent.join(", ")}`);
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
