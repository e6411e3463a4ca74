// A shop's page on another origin calls the coupon service from headless Chromium with a
// `public` key: from an origin listed in COUPONS_CORS_ORIGINS it validates a code; from
// one that is not listed the browser blocks the call. The service's own front page passes
// axe-core. Starts the real binary on a fresh SQLite file; screenshots go to
// target/browser/ for a person to look at.
//
// Usage: node cors.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert, serveShop, graphql } = require("./common");

const shots = path.join(__dirname, "../../target/browser");

// The shop's page: it asks the service whether a code applies and shows the answer.
const shopPage = (service, key) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><main><h1>Checkout</h1><p id="answer">asking…</p></main>
<script>
fetch(${JSON.stringify(service + "/graphql")}, {
  method: "POST",
  headers: { "Content-Type": "application/json", "Authorization": "Bearer ${key}" },
  body: JSON.stringify({ query: '{ validateCoupon(input: { code: "shop10", order: { id: "o1", currency: "USD", subtotal: "40" } }) { valid discount { amount currency } } }' }),
}).then((r) => r.json())
  .then((r) => { document.getElementById("answer").textContent = "valid: " + r.data.validateCoupon.valid + ", discount " + r.data.validateCoupon.discount.amount; })
  .catch((e) => { document.getElementById("answer").textContent = "blocked: " + e.message; });
</script></body></html>`;




async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-cors-"));
  let html = () => "";
  const listed = await serveShop(() => html());
  const unlisted = await serveShop(() => html());
  const listedOrigin = `http://127.0.0.1:${listed.address().port}`;
  // Another port is another origin.
  const unlistedOrigin = `http://127.0.0.1:${unlisted.address().port}`;
  const { child, base, key } = await startServer(path.join(dir, "coupons.db"), { COUPONS_CORS_ORIGINS: listedOrigin });
  const browser = await launch();
  try {
    assert(key, "no admin key printed on first start");
    const made = await graphql(base, key, 'mutation { createCoupon(input: {name: "Shop", code: "SHOP10", discount: {percentage: "10"}}) { userErrors { code } } }');
    assert(made.data.createCoupon.userErrors.length === 0, JSON.stringify(made));
    const minted = await graphql(base, key, 'mutation { createApiKey(input: {name: "widget", role: PUBLIC}) { secret } }');
    const publicKey = minted.data.createApiKey.secret;
    html = () => shopPage(base, publicKey);

    const answer = async (origin, shot) => {
      const page = await browser.newPage({ viewport: { width: 800, height: 300 } });
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => !document.getElementById("answer").textContent.includes("asking"), null, { timeout: 20000 });
      const text = await page.textContent("#answer");
      await page.screenshot({ path: path.join(shots, shot) });
      await page.close();
      return text;
    };
    const allowed = await answer(listedOrigin, "cors-allowed.png");
    assert(allowed === "valid: true, discount 4.00", `from the listed origin: ${allowed}`);
    const refused = await answer(unlistedOrigin, "cors-refused.png");
    assert(refused.startsWith("blocked:"), `from an origin not listed: ${refused}`);

    // The front page is accessible.
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
    const result = await page.evaluate(() => window.axe.run());
    await page.screenshot({ path: path.join(shots, "home.png") });
    assert(result.violations.length === 0, `axe: ${JSON.stringify(result.violations.map((v) => v.id))}`);
    console.log("3 passed, 0 failed");
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    listed.close();
    unlisted.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
