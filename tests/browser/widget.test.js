// The <coupon-input> widget on a shop's page of another origin, in headless Chromium,
// against the real binary: a code that applies shows its discount and fires
// `coupon-applied`; in a German browser an expired code is refused in German; an unknown
// code and a draft code read exactly alike; after too many wrong codes the box locks and
// counts down, then opens again; the page passes axe-core; the keyboard alone reaches the
// field and the button, with a visible focus ring. Then the service's own /demo page: it
// passes axe-core and its total drops by the discount of the code it suggests. Screenshots
// of each state go to target/browser/widget-*.png.
//
// Usage: node widget.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert, serveShop, graphql } = require("./common");

const shots = path.join(__dirname, "../../target/browser");
const widgetSource = path.join(__dirname, "../../src/widget/coupon-input.js");

// Failed checks a client address may make before it is locked out, and for how long.
const GUESS_BUDGET = { COUPONS_PUBLIC_ATTEMPT_LIMITS: "key=0,ip=5,customer=0", COUPONS_LOCKOUT_SECONDS: "5" };

const order = {
  id: "cart-1",
  currency: "EUR",
  subtotal: "40.00",
  items: [{ sku: "tea-1", quantity: 2, unitPrice: "20.00", categories: [] }],
  shipping: "4.90",
  channel: "web",
};

const attribute = (value) => value.replace(/&/g, "&amp;").replace(/'/g, "&#39;").replace(/"/g, "&quot;");

// The shop's checkout: the widget from the service, and every event it fires kept.
const shopPage = (service, key) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout · Tea shop</title>
<style>
  body { margin: 0; padding: 2rem; font: 16px/1.5 system-ui, sans-serif; color: #1f2933; background: #f7f4ef; }
  main { max-width: 30rem; background: #fff; border: 1px solid #ddd5c8; border-radius: 0.75rem; padding: 1.25rem 1.5rem; }
  h1 { margin: 0 0 0.5rem; font-size: 1.5rem; }
</style>
<script src="${service}/widget.js"></script></head>
<body><main><h1>Checkout</h1><p>2 × Sencha Kagoshima, €20.00 each</p>
<coupon-input public-key="${attribute(key)}" order='${attribute(JSON.stringify(order))}'></coupon-input>
</main>
<script>
  window.couponEvents = [];
  for (const type of ["coupon-applied", "coupon-rejected", "coupon-loading"]) {
    document.addEventListener(type, (event) => window.couponEvents.push({ type, detail: event.detail }));
  }
</script></body></html>`;


async function createCoupon(base, key, fields) {
  const made = await graphql(base, key, `mutation { createCoupon(input: {${fields}}) { coupon { code } userErrors { code message } } }`);
  assert(made.data && made.data.createCoupon.userErrors.length === 0, `createCoupon(${fields}): ${JSON.stringify(made)}`);
}

// A coupon whose window is over: one in the past if the service takes it, else one that
// ends two seconds from now (and the wait for it).
async function createExpired(base, key, code) {
  const past = await graphql(base, key, `mutation { createCoupon(input: {name: "Spring", code: "${code}", discount: {percentage: "10"}, startsAt: "2020-03-01T00:00:00Z", expiresAt: "2020-06-01T00:00:00Z"}) { userErrors { code } } }`);
  if (past.data && past.data.createCoupon.userErrors.length === 0) return;
  const now = Date.now();
  await createCoupon(base, key, `name: "Spring", code: "${code}", discount: {percentage: "10"}, startsAt: "${new Date(now - 3600e3).toISOString()}", expiresAt: "${new Date(now + 2000).toISOString()}"`);
  await new Promise((resolve) => setTimeout(resolve, 2500));
}

// The widget's parts; Playwright's CSS selectors go through open shadow roots.
const parts = (page) => ({
  label: page.locator("coupon-input [part=label]"),
  input: page.locator("coupon-input [part=input]"),
  button: page.locator("coupon-input [part=button]"),
  message: page.locator("coupon-input [part=message]"),
});

// Types `code`, presses Enter, and waits for the widget's verdict event.
async function submit(page, code, how = "Enter") {
  const before = await page.evaluate(() => window.couponEvents.filter((e) => e.type !== "coupon-loading").length);
  const { input, button } = parts(page);
  await input.fill(code);
  if (how === "Enter") await input.press("Enter");
  else await button.click();
  await page.waitForFunction((n) => window.couponEvents.filter((e) => e.type !== "coupon-loading").length > n,
    before, { timeout: 15000 });
  return page.evaluate(() => window.couponEvents.filter((e) => e.type !== "coupon-loading").at(-1));
}

async function axe(page) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result.violations.filter((x) => !serious.includes(x))) {
    console.log(`  NOTICE: axe (${v.impact}): ${v.id}: ${v.help}`);
  }
  return serious.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

// What has the keyboard focus, through the widget's shadow root.
const focused = (page) => page.evaluate(() => {
  const host = document.activeElement;
  const inner = host && host.shadowRoot && host.shadowRoot.activeElement;
  return inner ? `${host.localName}/${inner.getAttribute("part")}` : host && host.localName;
});

const ring = (locator) => locator.evaluate((node) => {
  const s = getComputedStyle(node);
  return { outline: `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`, shadow: s.boxShadow, width: parseFloat(s.outlineWidth) || 0, style: s.outlineStyle };
});

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-widget-"));
  let html = () => "";
  const shop = await serveShop(() => html());
  const shopOrigin = `http://127.0.0.1:${shop.address().port}`;
  const servers = [];
  const browser = await launch();
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
  try {
    const service = await startServer(path.join(dir, "coupons.db"), { COUPONS_CORS_ORIGINS: shopOrigin, ...GUESS_BUDGET });
    servers.push(service.child);
    const { base, key } = service;
    assert(key, "no admin key printed on first start");
    const minted = await graphql(base, key, 'mutation { createApiKey(input: {name: "tea shop widget", role: PUBLIC}) { secret } }');
    const publicKey = minted.data.createApiKey.secret;
    await createCoupon(base, key, 'name: "Save 10", code: "SAVE10", discount: {percentage: "10"}');
    await createCoupon(base, key, 'name: "Coming soon", code: "DRAFT10", status: DRAFT, discount: {percentage: "10"}');
    await createExpired(base, key, "SPRING10");
    html = () => shopPage(base, publicKey);

    const english = await browser.newContext({ locale: "en-GB", viewport: { width: 640, height: 340 } });
    const german = await browser.newContext({ locale: "de-DE", viewport: { width: 640, height: 340 } });
    const requests = [];
    for (const context of [english, german]) context.on("request", (r) => requests.push(r.url()));
    const open = async (context) => {
      const page = await context.newPage();
      await page.goto(`${shopOrigin}/`);
      await page.waitForFunction(() => customElements.get("coupon-input"));
      return page;
    };

    await check("/widget.js and /widget/v1.js are the widget's source, byte for byte", async () => {
      const source = fs.readFileSync(widgetSource);
      for (const route of ["/widget.js", "/widget/v1.js"]) {
        const r = await fetch(`${base}${route}`);
        assert(r.status === 200, `${route}: ${r.status}`);
        assert(/javascript/.test(r.headers.get("content-type") || ""), `${route} content-type: ${r.headers.get("content-type")}`);
        assert(Buffer.from(await r.arrayBuffer()).equals(source), `${route} differs from src/widget/coupon-input.js`);
      }
      const v1 = await fetch(`${base}/widget/v1.js`);
      assert(/immutable/.test(v1.headers.get("cache-control") || ""), `/widget/v1.js cache-control: ${v1.headers.get("cache-control")}`);
    });

    let applied;
    await check("a code that applies shows its discount and fires coupon-applied", async () => {
      applied = await open(english);
      const { message, label } = parts(applied);
      await applied.waitForFunction(() => document.querySelector("coupon-input").shadowRoot.querySelector("label").textContent === "Coupon code");
      const event = await submit(applied, "save10");
      assert(event.type === "coupon-applied", `event: ${JSON.stringify(event)}`);
      assert(event.detail.code === "save10" && event.detail.discount.amount === "4.00"
        && event.detail.discount.currency === "EUR" && Array.isArray(event.detail.lines), `detail: ${JSON.stringify(event.detail)}`);
      const text = await message.textContent();
      assert(text.includes("€4.00"), `the live region says: ${text}`);
      assert(await message.getAttribute("role") === "status" && await message.getAttribute("aria-live") === "polite", "the message is not a polite status region");
      const loading = await applied.evaluate(() => window.couponEvents.filter((e) => e.type === "coupon-loading").map((e) => e.detail.loading));
      assert(JSON.stringify(loading) === "[true,false]", `coupon-loading: ${JSON.stringify(loading)}`);
      assert(await label.textContent() === "Coupon code", "English label");
      await applied.screenshot({ path: path.join(shots, "widget-applied.png") });
    });

    let expired;
    await check("in a German browser an expired code is refused in German", async () => {
      expired = await open(german);
      const { label, button, message, input } = parts(expired);
      await expired.waitForFunction(() => document.querySelector("coupon-input").shadowRoot.querySelector("label").textContent === "Gutscheincode", null, { timeout: 10000 });
      assert(await button.textContent() === "Einlösen", `button: ${await button.textContent()}`);
      const event = await submit(expired, "SPRING10", "click");
      assert(event.type === "coupon-rejected" && event.detail.reasons[0].code === "EXPIRED", `event: ${JSON.stringify(event)}`);
      const text = await message.textContent();
      assert(text === "Dieser Gutschein ist abgelaufen", `the live region says: ${text}`);
      assert(await input.getAttribute("aria-invalid") === "true", "aria-invalid is not set");
      const describedBy = await input.getAttribute("aria-describedby");
      assert(describedBy && describedBy === await message.getAttribute("id"), `aria-describedby: ${describedBy}`);
      assert(await label.textContent() === "Gutscheincode", "label");
      await expired.screenshot({ path: path.join(shots, "widget-expired-de.png") });
    });

    await check("an unknown code and a draft code read exactly alike", async () => {
      const page = await open(english);
      const { message } = parts(page);
      const unknown = await submit(page, "NOSUCH42");
      const unknownText = await message.textContent();
      await page.screenshot({ path: path.join(shots, "widget-unknown.png") });
      const draft = await submit(page, "DRAFT10");
      const draftText = await message.textContent();
      await page.screenshot({ path: path.join(shots, "widget-draft.png") });
      assert(unknown.type === "coupon-rejected" && draft.type === "coupon-rejected", `events: ${unknown.type}, ${draft.type}`);
      assert(unknownText && unknownText === draftText, `unknown: "${unknownText}", draft: "${draftText}"`);
      assert(JSON.stringify(unknown.detail.reasons) === JSON.stringify(draft.detail.reasons),
        `reasons: ${JSON.stringify(unknown.detail.reasons)} vs ${JSON.stringify(draft.detail.reasons)}`);
      await page.close();
    });

    await check("the lang attribute chooses the language over the browser's", async () => {
      const page = await open(english);
      await page.evaluate(() => document.querySelector("coupon-input").setAttribute("lang", "fr"));
      await page.waitForFunction(() => document.querySelector("coupon-input").shadowRoot.querySelector("label").textContent === "Code promo", null, { timeout: 10000 });
      await page.close();
    });

    await check("axe-core: no serious or critical violation on the shop page (applied and refused)", async () => {
      const found = [...await axe(applied), ...await axe(expired)];
      assert(found.length === 0, `axe: ${found.join("; ")}`);
    });

    await check("keyboard only: Tab reaches the field, then the button, with a visible focus ring; Enter applies", async () => {
      const page = await open(english);
      const { input, button, message } = parts(page);
      const inputAtRest = await ring(input);
      const buttonAtRest = await ring(button);
      await page.keyboard.press("Tab");
      assert(await focused(page) === "coupon-input/input", `first Tab: ${await focused(page)}`);
      const inputFocused = await ring(input);
      assert(inputFocused.style !== "none" && inputFocused.width >= 2 && JSON.stringify(inputFocused) !== JSON.stringify(inputAtRest),
        `the field's focus is not visible: ${JSON.stringify(inputAtRest)} → ${JSON.stringify(inputFocused)}`);
      await page.screenshot({ path: path.join(shots, "widget-focus-input.png") });
      await page.keyboard.press("Tab");
      assert(await focused(page) === "coupon-input/button", `second Tab: ${await focused(page)}`);
      const buttonFocused = await ring(button);
      assert(buttonFocused.style !== "none" && buttonFocused.width >= 2 && JSON.stringify(buttonFocused) !== JSON.stringify(buttonAtRest),
        `the button's focus is not visible: ${JSON.stringify(buttonAtRest)} → ${JSON.stringify(buttonFocused)}`);
      await page.screenshot({ path: path.join(shots, "widget-focus-button.png") });
      await page.keyboard.press("Shift+Tab");
      await page.keyboard.type("SAVE10");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => window.couponEvents.some((e) => e.type === "coupon-applied"), null, { timeout: 15000 });
      assert((await message.textContent()).includes("€4.00"), `after Enter: ${await message.textContent()}`);
      await page.close();
    });

    await check("after too many wrong codes the box locks, counts down, and opens again", async () => {
      const page = await open(english);
      const { input, button, message } = parts(page);
      let event;
      for (let i = 1; i <= 12; i += 1) {
        event = await submit(page, `WRONG${i}`);
        if (event.detail.reasons[0].code === "THROTTLED") break;
      }
      assert(event.detail.reasons[0].code === "THROTTLED", `never throttled: ${JSON.stringify(event)}`);
      assert(await input.isDisabled() && await button.isDisabled(), "the field and the button stay enabled");
      const seconds = async () => Number((await message.textContent()).match(/\d+/)[0]);
      const first = await seconds();
      assert((await message.textContent()).startsWith("Too many attempts"), `the live region says: ${await message.textContent()}`);
      await page.screenshot({ path: path.join(shots, "widget-throttled.png") });
      await page.waitForTimeout(2200);
      const later = await seconds();
      assert(later <= first - 2 && later >= 1, `the countdown went from ${first} to ${later} in 2.2 s`);
      await page.waitForFunction(() => !document.querySelector("coupon-input").shadowRoot.querySelector("input").disabled, null, { timeout: (later + 3) * 1000 });
      assert(!(await button.isDisabled()) && (await message.textContent()) === "", "the box did not open again");
      await page.close();
    });

    await check("the widget asks only the service, for its texts and the codes", async () => {
      const other = requests.filter((url) => !url.startsWith(`${shopOrigin}/`)
        && !["/widget.js", "/api/widget/texts", "/api/coupon/validate"].some((route) => url === `${base}${route}`));
      assert(other.length === 0, `other requests: ${[...new Set(other)].join(", ")}`);
    });
    await english.close();
    await german.close();

    const demo = await startServer(path.join(dir, "demo.db"), { COUPONS_DEMO: "true" });
    servers.push(demo.child);
    await check("/demo: a tidy basket whose total drops by the suggested code's discount; axe-core finds nothing serious", async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
      const response = await page.goto(`${demo.base}/demo`);
      assert(response.status() === 200, `/demo: ${response.status()}`);
      const source = await response.text();
      assert(!source.includes("{{"), "a placeholder is left in the page");
      await page.waitForFunction(() => customElements.get("coupon-input"));
      const code = (await page.textContent("#demo-code")).trim();
      assert(/^[A-Z0-9_-]{3,}$/.test(code), `the suggested code: ${code}`);
      const before = await page.textContent("#total");
      assert(before === "€52.40", `total before: ${before}`);
      const found = await axe(page);
      await page.screenshot({ path: path.join(shots, "widget-demo.png"), fullPage: true });
      await parts(page).input.fill(code);
      await parts(page).input.press("Enter");
      await page.waitForSelector("#discount:not([hidden])", { timeout: 15000 });
      const discount = await page.textContent("#discount");
      const after = await page.textContent("#total");
      const euros = (text) => Number(text.replace(/[^0-9.]/g, ""));
      assert(Math.abs(euros(before) - euros(discount) - euros(after)) < 0.005 && euros(discount) > 0,
        `total ${before} − discount ${discount} ≠ ${after}`);
      found.push(...await axe(page));
      await page.screenshot({ path: path.join(shots, "widget-demo-applied.png"), fullPage: true });
      assert(found.length === 0, `axe: ${found.join("; ")}`);
      await page.close();
    });
  } finally {
    await browser.close();
    for (const child of servers) child.kill("SIGTERM");
    shop.close();
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
