// GraphiQL, as served by the coupon service, in headless Chromium: the page loads with no
// network access beyond the service, the schema loads once the key is typed, the key is
// kept out of storage unless asked, the first query runs as shown, a coupon is created,
// and it is found again by its code typed in another letter case. Starts the real binary on a fresh SQLite file.
//
// Usage: node graphiql.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert } = require("./common");




async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-browser-"));
  const { child, base, key } = await startServer(path.join(dir, "coupons.db"));
  const browser = await launch();
  try {
    assert(key, "no admin key printed on first start");
    const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
    const elsewhere = [];
    context.on("request", (r) => { if (!r.url().startsWith(base)) elsewhere.push(r.url()); });

    // A person opens GraphiQL, pastes the key into the key box and runs the query shown.
    // The schema loads with the key (no re-fetch button), the key is not written to the
    // browser's storage unless "Remember on this device" is ticked, and the first query
    // runs as it is.
    const first = await context.newPage();
    const schemaLoaded = first.waitForResponse((r) => r.url().endsWith("/graphql")
      && (r.request().postData() || "").includes("__schema") && r.status() === 200, { timeout: 20000 });
    await first.goto(`${base}/graphql`);
    await first.fill("#key", key);
    await first.press("#key", "Enter");
    await schemaLoaded;
    await first.click(".graphiql-execute-button", { timeout: 20000 });
    await first.waitForFunction(() => {
      const r = document.querySelector(".graphiql-response .CodeMirror");
      return r && r.CodeMirror.getValue().includes('"data"');
    }, null, { timeout: 20000 });
    const shown = JSON.parse(await first.evaluate(() =>
      document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue()));
    assert(shown.data.viewer.role === "ADMIN" && Array.isArray(shown.data.coupons.nodes),
      `the first query: ${JSON.stringify(shown)}`);
    const stored = await first.evaluate(() => JSON.stringify(Object.assign({}, localStorage)));
    assert(!stored.includes(key), "the key was stored without being asked to");
    await first.check("#remember");
    const remembered = await first.evaluate(() => localStorage.getItem("coupons:api-key"));
    assert(remembered === key, "ticking the box stores the key");
    await first.uncheck("#remember");
    assert(await first.evaluate(() => localStorage.getItem("coupons:api-key")) === null, "unticking removes it");
    await first.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
    const axe = await first.evaluate(() => window.axe.run("#keybar"));
    assert(axe.violations.length === 0, `axe on the key bar: ${JSON.stringify(axe.violations.map((v) => v.id))}`);
    fs.mkdirSync(path.join(__dirname, "../../target/browser"), { recursive: true });
    await first.screenshot({ path: path.join(__dirname, "../../target/browser/graphiql.png") });
    await first.close();

    // Each further run opens GraphiQL in a fresh page whose query editor is seeded before
    // GraphiQL's own scripts run; the key is typed into the key box; then Run is pressed.
    const run = async (query) => {
      const page = await context.newPage();
      await page.addInitScript((q) => {
        localStorage.setItem("graphiql:query", q);
        localStorage.removeItem("graphiql:tabState");
      }, query);
      await page.goto(`${base}/graphql`);
      await page.fill("#key", key);
      await page.press("#key", "Enter");
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
