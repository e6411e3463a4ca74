// The admin console end to end: a marketer's day in ONE Chromium page, as ann (an admin)
// signed in through the real OpenID provider (oidc/provider.js): she lands on the coupon
// list, creates a campaign, creates a coupon in it through the console's form (a value
// out of range first, shown next to its field), generates 10,000 codes while
// <progress id="job-progress"> follows the job, writes a rule in the editor (an error at
// its line, fixed, simulated, published twice, compared, rolled back), sees the report on
// redemptions made outside the console (GraphQL with the admin key), and visits the
// webhooks, API keys and audit log pages. On every page: axe-core finds nothing serious
// or critical, the keyboard alone (Tab from the top) reaches the navigation, the page's
// main form control and every other control, and at 360 px wide nothing overflows. The
// console's own files weigh less than 500 kB. Last, bob (an analyst) sees no write
// controls, and a write with his session is FORBIDDEN.
// Screenshots go to target/browser/console-*.png.
//
// Usage: node console.test.js [path/to/coupons]   (default: ../../target/debug/coupons)
//
// The console's files are compiled into the binary. COUPONS_CONSOLE_FROM_SOURCE=1 serves
// src/console/* to the browser instead of the binary's copies (Playwright routes), to
// try changes to those files before the binary is rebuilt.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launch, assert, freePort } = require("./common");
const { startProvider } = require("./oidc/provider");

const shots = path.join(__dirname, "../../target/browser");
const consoleDir = path.join(__dirname, "../../src/console");
const FROM_SOURCE = process.env.COUPONS_CONSOLE_FROM_SOURCE === "1";

const CLIENT_ID = "coupons-console";
const CLIENT_SECRET = "console-secret-for-tests";
const AUDIENCE = "coupons-api";
const USERS = [
  { sub: "ann", email: "ann@example.com", name: "Ann Admin", groups: ["coupons-admin"] },
  { sub: "bob", email: "bob@example.com", name: "Bob Analyst", groups: ["coupons-analyst"] },
];
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 360, height: 740 };
const ASSET_BUDGET = 500 * 1024;
const CODES = 10000;

const CAMPAIGN = "Spring 2026";
const COUPON = "Spring sale";
const CODE = "SPRING10";
const RULE = "two_items";
// A rule with a typo on line 3 ("+;"), the same fixed, and a second version.
const RULE_TYPO = `// Needs two items or more.
fn check(ctx, params) {
    let n = ctx.order.item_count +;
    if n < 2 {
        return reject("TOO_FEW_ITEMS", "this coupon needs at least 2 items");
    }
    pass()
}
`;
const RULE_V1 = RULE_TYPO.replace("item_count +;", "item_count;");
const RULE_V2 = RULE_V1.replace("if n < 2 {", "if n < 3 {");

const shot = (page, name, options = {}) => page.screenshot({ path: path.join(shots, name), ...options });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A GraphQL call from Node with the admin API key: the answer's `data` (errors throw).
async function api(base, key, query, variables = {}) {
  const r = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors && body.errors.length) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}

// A GraphQL call from the page with its session cookie and CSRF token: status and answer.
const sessionGraphql = (page, query, variables = {}) => page.evaluate(async ({ q, v }) => {
  const s = await (await fetch("/admin/session", { credentials: "same-origin" })).json();
  const r = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrfToken },
    body: JSON.stringify({ query: q, variables: v }),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}, { q: query, v: variables });

// axe-core on the page: the serious and critical violations (others are printed). The
// console's CSP (script-src 'self') refuses page.addScriptTag's inline <script>, so the
// source is evaluated through the DevTools protocol, which the CSP does not govern.
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
async function axe(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(`${axeSource}\n;void 0`);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result.violations.filter((x) => !serious.includes(x))) {
    console.log(`  NOTICE: axe (${v.impact}): ${v.id}: ${v.help}`);
  }
  return serious.map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

// Tabs through the page from its start: what the focus reached, and the controls it
// should have reached (visible, enabled, not tabindex=-1; a radio group counts once).
async function tabWalk(page) {
  const expected = await page.evaluate(() => {
    const describe = (el) => `${el.localName}${el.id ? `#${el.id}` : ""}${el.name ? `[name=${el.name}]` : ""}`
      + ` "${(el.getAttribute("aria-label") || el.textContent || el.value || "").trim().replace(/\s+/g, " ").slice(0, 40)}"`;
    const out = [];
    const groups = new Set();
    let n = 0;
    for (const el of document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]")) {
      delete el.dataset.kbd;
      if (el.tabIndex < 0 || el.disabled || el.type === "hidden") continue;
      if (el.closest("[hidden], [inert]")) continue;
      if (!el.checkVisibility({ checkVisibilityCSS: true })) continue;
      if (el.localName === "summary" && el.parentElement.localName !== "details") continue;
      let key;
      if (el.type === "radio") {
        key = `radio:${el.name}`;
        el.dataset.kbd = key;
        if (groups.has(key)) continue;
        groups.add(key);
      } else {
        n += 1;
        key = `k${n}`;
        el.dataset.kbd = key;
      }
      out.push({ key, what: describe(el) });
    }
    return out;
  });
  const reached = [];
  let first = null;
  let outside = 0;
  for (let i = 0; i < expected.length + 40; i += 1) {
    await page.keyboard.press("Tab");
    const now = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      return { key: el.dataset.kbd || null, id: el.id, nav: Boolean(el.closest("nav[aria-label=Sections]")),
        what: `${el.localName}${el.id ? `#${el.id}` : ""}${el.name ? `[name=${el.name}]` : ""}` };
    });
    if (!now) { outside += 1; if (outside > 1 || reached.length) break; continue; }
    if (first && now.key && now.key === first.key) break;
    if (!first) first = now;
    reached.push(now);
  }
  const keys = new Set(reached.map((r) => r.key));
  return { first, reached, missing: expected.filter((e) => !keys.has(e.key)), expected };
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coupons-console-"));
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
  let op;
  let server;
  let browser;
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    op = await startProvider({
      clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/admin/callback`], users: USERS, audience: AUDIENCE,
    });
    server = await startServer(path.join(dir, "coupons.db"), {
      COUPONS_BIND: `127.0.0.1:${port}`,
      COUPONS_PUBLIC_URL: base,
      COUPONS_OIDC_ISSUER: op.issuer,
      COUPONS_OIDC_CLIENT_ID: CLIENT_ID,
      COUPONS_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      COUPONS_OIDC_AUDIENCE: AUDIENCE,
      // Validation attempts are written at each sweep: soon, for the report.
      COUPONS_SWEEP_SECONDS: "1",
    });
    assert(server.key, "the first start printed no admin key");
    browser = await launch();
    if (FROM_SOURCE) console.log("# serving the console's files from src/console, not from the binary");

    // The console's own files as the browser got them: URL → bytes (the last answer).
    const assets = new Map();
    // Errors the console's pages threw or logged (CSP violations included).
    const scriptErrors = [];
    // Signs `sub` in through the provider's login page in a fresh context.
    const signIn = async (sub) => {
      const context = await browser.newContext({ viewport: WIDE });
      if (FROM_SOURCE) {
        await context.route((url) => url.origin === base && (url.pathname === "/admin" || url.pathname.startsWith("/admin/assets/")), async (route) => {
          const url = new URL(route.request().url());
          const file = url.pathname === "/admin" ? "index.html" : path.basename(url.pathname);
          const response = await route.fetch();
          if (!response.ok() || !fs.existsSync(path.join(consoleDir, file))) { await route.fulfill({ response }); return; }
          await route.fulfill({ response, body: fs.readFileSync(path.join(consoleDir, file)) });
        });
      }
      const page = await context.newPage();
      page.on("pageerror", (e) => scriptErrors.push(`${sub}: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() !== "error") return;
        // Chromium's own probe for /favicon.ico (the page names a data: icon) is not the console's.
        if ((m.location().url || "").endsWith("/favicon.ico")) { console.log(`  NOTICE: ${sub}: ${m.text()} (${m.location().url})`); return; }
        scriptErrors.push(`${sub}: ${m.text()} (${m.location().url || "?"}, on ${new URL(page.url()).hash})`);
      });
      page.on("response", (r) => { if (r.status() >= 400) scriptErrors.push(`${sub}: HTTP ${r.status()} for ${r.request().method()} ${r.url()} (on ${new URL(page.url()).hash})`); });
      page.on("response", async (r) => {
        const url = new URL(r.url());
        if (url.origin !== base || !(url.pathname === "/admin" || url.pathname.startsWith("/admin/assets/"))) return;
        if (r.status() !== 200) return;
        try { assets.set(`${url.pathname}`, await r.body()); } catch { /* the page moved on */ }
      });
      await page.goto(`${base}/admin/login`);
      await page.waitForSelector("form#login", { timeout: 15000 });
      assert(page.url().startsWith(`${op.issuer}/interaction/`), `the login page is the provider's: ${page.url()}`);
      await page.fill('input[name="login"]', sub);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${base}/admin`, { timeout: 20000 });
      return { context, page };
    };

    // Goes to a console route (a hash) in the same page and waits for `ready`.
    const go = async (page, hash, ready) => {
      await page.evaluate((h) => { location.hash = h; }, hash);
      await ready(page);
    };
    const heading = (page, text) => page.waitForFunction((t) => {
      const h1 = document.querySelector("#view h1");
      return h1 && h1.textContent === t;
    }, text, { timeout: 15000 });

    // Step 9 on one page: axe-core, the narrow screen, then the keyboard from the top
    // (after a reload, so that the focus starts at the page's start).
    const auditPage = async (page, name, { ready, control, controlName }) => {
      await check(`${name}: axe-core finds no serious or critical violation`, async () => {
        const found = await axe(page);
        assert(found.length === 0, `axe:\n    ${found.join("\n    ")}`);
      });
      await check(`${name}: nothing overflows a 360 px wide screen`, async () => {
        await page.setViewportSize(NARROW);
        try {
          await sleep(300);
          const { width, culprits } = await page.evaluate(() => {
            const limit = 361;
            const culprits = [];
            for (const el of document.querySelectorAll("body *")) {
              const r = el.getBoundingClientRect();
              if (r.right <= limit || !r.width) continue;
              // Inside a box that scrolls on its own (a table region): that is fine.
              let up = el.parentElement;
              let contained = false;
              while (up && up !== document.body) {
                const s = getComputedStyle(up);
                if (["auto", "scroll", "hidden", "clip"].includes(s.overflowX) && up.getBoundingClientRect().right <= limit) { contained = true; break; }
                up = up.parentElement;
              }
              if (!contained) culprits.push(`${el.localName}${el.id ? `#${el.id}` : ""}${el.className && typeof el.className === "string" ? `.${el.className.split(" ").join(".")}` : ""} (right ${Math.round(r.right)})`);
            }
            return { width: document.documentElement.scrollWidth, culprits: culprits.slice(0, 8) };
          });
          await shot(page, `console-${name}-360.png`, { fullPage: true });
          assert(width <= 361, `scrollWidth ${width} at 360 px; wider than the screen: ${culprits.join(", ")}`);
        } finally {
          await page.setViewportSize(WIDE);
        }
      });
      await check(`${name}: Tab from the top reaches the navigation, ${controlName} and every control`, async () => {
        await page.reload();
        await ready(page);
        await sleep(200);
        const walk = await tabWalk(page);
        assert(walk.first && walk.first.id === "skip-link", `the first Tab went to ${walk.first && walk.first.what}, not the skip link`);
        assert(walk.reached.some((r) => r.nav), "Tab never reached the navigation");
        const target = await page.evaluate((sel) => {
          const el = document.querySelector(sel);
          return el ? el.dataset.kbd || "(not tabbable)" : null;
        }, control);
        assert(target, `no ${control} on the page`);
        assert(walk.reached.some((r) => r.key === target), `Tab never reached ${controlName} (${control})`);
        assert(walk.missing.length === 0, `${walk.missing.length} of ${walk.expected.length} controls never got the focus: ${walk.missing.map((m) => m.what).join(", ")}`);
      });
    };

    // ---- 1. ann lands on /admin ---------------------------------------------------------

    let ann;
    let page;
    const listReady = async (p) => {
      await heading(p, "Coupons");
      await p.waitForSelector("#view .results table, #view .results .empty", { timeout: 15000 });
    };
    await check("ann (coupons-admin) signs in on the provider's page and lands on the coupon list", async () => {
      ann = await signIn("ann");
      page = ann.page;
      await listReady(page);
      assert(new URL(page.url()).hash === "#/coupons", `landed on ${page.url()}`);
      assert((await page.textContent("#account-role")) === "admin", `role shown: ${await page.textContent("#account-role")}`);
      await shot(page, "console-coupons.png");
    });
    if (!page) throw new Error("ann could not sign in; nothing else can run");
    await auditPage(page, "coupons", { ready: listReady, control: "input[name=query]", controlName: "the search field" });

    // ---- 2. a campaign --------------------------------------------------------------------

    const campaignsReady = async (p) => {
      await heading(p, "Campaigns");
      await p.waitForSelector("#campaign-form");
      await p.waitForSelector("#view .results table, #view .results .empty", { timeout: 15000 });
    };
    let campaignId;
    await check("a campaign is created on the Campaigns page and listed", async () => {
      await page.click('nav a[data-nav="campaigns"]');
      await campaignsReady(page);
      await page.fill("#campaign-form input[name=name]", CAMPAIGN);
      await page.fill("#campaign-form textarea[name=description]", "Ten percent off for spring");
      await page.fill("#campaign-form input[name=maxUses]", "5000");
      await page.click('#campaign-form button[type="submit"]');
      await page.waitForFunction((n) => [...document.querySelectorAll("#view .results table tbody strong")].some((s) => s.textContent === n),
        CAMPAIGN, { timeout: 15000 });
      await page.waitForFunction(() => document.getElementById("status").textContent.includes("created"));
      const { campaigns } = await api(base, server.key, "{ campaigns(first: 10) { nodes { id name description maxUses } } }");
      const made = campaigns.nodes.find((k) => k.name === CAMPAIGN);
      assert(made && made.description === "Ten percent off for spring" && made.maxUses === 5000, `campaigns: ${JSON.stringify(campaigns)}`);
      campaignId = made.id;
      await shot(page, "console-campaigns.png", { fullPage: true });
    });
    await auditPage(page, "campaigns", { ready: campaignsReady, control: "#campaign-form input[name=name]", controlName: "the campaign's name" });

    // ---- 3. a coupon, with an invalid value first ----------------------------------------------

    const newReady = async (p) => {
      await heading(p, "New coupon");
      await p.waitForSelector("#coupon-form input[name=percentage]");
    };
    await check("the coupon form shows an out-of-range percentage next to its field (aria-invalid)", async () => {
      await page.click('nav a[data-nav="coupons"]');
      await listReady(page);
      await page.getByRole("link", { name: "New coupon" }).click();
      await newReady(page);
      await page.fill("#coupon-form input[name=name]", COUPON);
      await page.fill("#coupon-form input[name=code]", CODE);
      await page.fill("#coupon-form input[name=percentage]", "150");
      await page.click('#coupon-form button[type="submit"]');
      const field = page.locator("#coupon-form input[name=percentage]");
      await page.waitForFunction(() => document.querySelector("#coupon-form input[name=percentage]").getAttribute("aria-invalid") === "true",
        null, { timeout: 15000 });
      const shown = await field.evaluate((input) => {
        const slot = document.getElementById(input.dataset.errorId);
        return {
          slotText: slot && slot.textContent, slotHidden: slot && slot.hidden,
          sameField: Boolean(slot && input.closest(".field") && input.closest(".field").contains(slot)),
          describedBy: (input.getAttribute("aria-describedby") || "").split(" "), slotId: slot && slot.id,
          focused: document.activeElement === input,
          summary: document.querySelector("#coupon-form .error-summary").textContent,
          others: [...document.querySelectorAll("#coupon-form [aria-invalid=true]")].map((c) => c.name),
        };
      });
      assert(shown.slotText && /percentage/i.test(shown.slotText) && !shown.slotHidden, `the message next to the field: ${JSON.stringify(shown)}`);
      assert(shown.sameField, "the message is not in the field's own box");
      assert(shown.describedBy.includes(shown.slotId), `aria-describedby ${shown.describedBy} does not name the message`);
      assert(shown.focused, "the field in error does not have the focus");
      assert(JSON.stringify(shown.others) === '["percentage"]', `fields marked invalid: ${shown.others}`);
      assert(shown.summary.includes("1 problem"), `summary: ${shown.summary}`);
      assert(new URL(page.url()).hash === "#/coupons/new", "the form was left");
      await shot(page, "console-coupon-invalid.png", { fullPage: true });
    });
    await auditPage(page, "coupon-new", { ready: newReady, control: "#coupon-form input[name=name]", controlName: "the coupon's name" });

    let couponId;
    const couponReady = async (p) => {
      await heading(p, COUPON);
      await p.waitForSelector("#generate-form");
      await p.waitForSelector("#codes-table, #view .empty", { timeout: 15000 });
      await p.waitForFunction(() => document.querySelector("#coupon-campaign-form select").options.length > 1);
    };
    await check("fixed to 10 %, the coupon is created and its page opens; it is put in the campaign", async () => {
      // The reload of the keyboard check emptied the form: fill it again, wrong first.
      await page.fill("#coupon-form input[name=name]", COUPON);
      await page.fill("#coupon-form input[name=code]", CODE);
      await page.fill("#coupon-form input[name=percentage]", "150");
      await page.click('#coupon-form button[type="submit"]');
      await page.waitForSelector("#coupon-form input[name=percentage][aria-invalid=true]", { timeout: 15000 });
      await page.fill("#coupon-form input[name=percentage]", "10");
      await page.click('#coupon-form button[type="submit"]');
      await page.waitForURL((url) => /^#\/coupons\/[^/]+$/.test(url.hash) && url.hash !== "#/coupons/new", { timeout: 15000 });
      couponId = decodeURIComponent(new URL(page.url()).hash.slice("#/coupons/".length));
      await couponReady(page);
      await page.selectOption("#coupon-campaign-form select", { label: CAMPAIGN });
      await page.click('#coupon-campaign-form button[type="submit"]');
      await page.waitForFunction((n) => [...document.querySelectorAll("dl.details dt")].some((dt) => dt.textContent === "Campaign"
        && dt.nextElementSibling.textContent === n), CAMPAIGN, { timeout: 15000 });
      const { coupon } = await api(base, server.key, `query($id: ID!) { coupon(id: $id) { code status discount { type percentage } campaign { id } } }`, { id: couponId });
      assert(coupon.code === CODE && coupon.status === "ACTIVE" && coupon.discount.type === "PERCENTAGE" && Number(coupon.discount.percentage) === 10,
        `coupon: ${JSON.stringify(coupon)}`);
      assert(coupon.campaign && coupon.campaign.id === campaignId, `campaign: ${JSON.stringify(coupon.campaign)}`);
      await shot(page, "console-coupon.png", { fullPage: true });
    });

    // ---- 4. 10,000 codes -----------------------------------------------------------------

    await check(`"Generate codes" makes ${CODES} codes; <progress id="job-progress"> follows the job to its end`, async () => {
      assert(couponId, "no coupon");
      await page.evaluate(() => {
        window.seenProgress = [];
        window.progressSampler = setInterval(() => {
          const p = document.getElementById("job-progress");
          if (!p) return;
          const v = `${p.value}/${p.max}`;
          if (window.seenProgress[window.seenProgress.length - 1] !== v) window.seenProgress.push(v);
        }, 5);
      });
      await page.fill("#generate-form input[name=count]", String(CODES));
      await page.fill("#generate-form input[name=prefix]", "SPR-");
      await page.click('#generate-form button[type="submit"]');
      await page.waitForSelector("#job-progress", { timeout: 15000 });
      await page.waitForFunction((n) => {
        const p = document.getElementById("job-progress");
        return p && p.max === n && p.value === p.max && document.getElementById("job-text").textContent === `${n} of ${n}`;
      }, CODES, { timeout: 120000 });
      const seen = await page.evaluate(() => { clearInterval(window.progressSampler); return window.seenProgress; });
      console.log(`  progress values seen: ${seen.join(", ")}`);
      const intermediate = seen.filter((v) => { const [a, b] = v.split("/").map(Number); return a > 0 && a < b; });
      if (!intermediate.length) console.log("  NOTICE: no value between 0 and the max was seen (the job ran faster than the 500 ms poll)");
      const state = await page.textContent("#job-panel .job-state");
      assert(state === "Succeeded", `the job's state reads ${state}`);
      assert(await page.locator("#job-progress").getAttribute("aria-labelledby") === "job-label", "the progress bar has no label");
      await page.waitForFunction((n) => [...document.querySelectorAll("#view table tbody td")].some((td) => td.textContent === `${n} of ${n}`),
        CODES, { timeout: 15000 });
      await page.waitForFunction(() => document.querySelectorAll("#codes-table tbody tr").length >= 25, null, { timeout: 15000 });
      const { coupon } = await api(base, server.key, `query($id: ID!) { coupon(id: $id) { codes(first: 1) { totalCount } } }`, { id: couponId })
        .catch(() => ({ coupon: null }));
      if (coupon && coupon.codes && typeof coupon.codes.totalCount === "number") {
        assert(coupon.codes.totalCount === CODES + 1, `the coupon has ${coupon.codes.totalCount} codes`);
      }
      await shot(page, "console-generate.png", { fullPage: true });
    });
    await auditPage(page, "coupon", { ready: couponReady, control: "#generate-form input[name=count]", controlName: `"How many codes"` });

    // ---- 5. a rule: error at its line, simulate, publish twice, diff, roll back ---------------------

    const rulesReady = async (p) => {
      await heading(p, "Rules");
      await p.waitForSelector("#new-rule-form");
      await p.waitForSelector("#view .results table, #view .results .empty", { timeout: 15000 });
    };
    await check("the Rules page lists the rules in force and opens the editor for a new rule", async () => {
      await page.click('nav a[data-nav="rules"]');
      await rulesReady(page);
      const listed = await page.locator("#view .results table tbody tr").count();
      assert(listed >= 10, `${listed} rules listed (the shipped library has 14)`);
      await shot(page, "console-rules.png", { fullPage: true });
    });
    await auditPage(page, "rules", { ready: rulesReady, control: "#new-rule-form input[name=name]", controlName: "the rule's name" });

    const editorReady = async (p) => {
      await heading(p, `Rule ${RULE}`);
      await p.waitForSelector("#rule-source");
      await p.waitForFunction(() => /No problems|problem\(s\) found/.test(document.getElementById("rule-check").textContent), null, { timeout: 15000 });
    };
    await check("a typo on line 3 is shown in #rule-errors as \"line 3\" and its line number is marked", async () => {
      await page.fill("#new-rule-form input[name=name]", RULE);
      await page.click('#new-rule-form button[type="submit"]');
      await editorReady(page);
      await page.fill("#rule-source", RULE_TYPO);
      await page.waitForFunction(() => document.getElementById("rule-errors").textContent.includes("line 3"), null, { timeout: 15000 });
      const shown = await page.evaluate(() => ({
        errors: document.getElementById("rule-errors").textContent,
        marked: [...document.querySelectorAll(".gutter .line-number")].map((d, i) => (d.classList.contains("has-error") ? i + 1 : 0)).filter(Boolean),
        invalid: document.getElementById("rule-source").getAttribute("aria-invalid"),
        state: document.getElementById("rule-check").textContent,
      }));
      assert(/line 3, column \d+/.test(shown.errors), `#rule-errors: ${shown.errors}`);
      assert(JSON.stringify(shown.marked) === "[3]", `line numbers marked: ${shown.marked}`);
      assert(shown.invalid === "true", "the editor is not aria-invalid");
      assert(shown.state === "1 problem(s) found.", `check state: ${shown.state}`);
      // The error is a button that puts the caret on its line.
      await page.click("#rule-errors button");
      const caret = await page.evaluate(() => {
        const t = document.getElementById("rule-source");
        return { focused: document.activeElement === t, line: t.value.slice(0, t.selectionStart).split("\n").length };
      });
      assert(caret.focused && caret.line === 3, `after clicking the error: ${JSON.stringify(caret)}`);
      await shot(page, "console-rule-error.png", { fullPage: true });
    });

    await check("fixed, the error goes; Simulate with the sample order shows a verdict", async () => {
      await page.fill("#rule-source", RULE_V1);
      await page.waitForFunction(() => document.getElementById("rule-check").textContent === "No problems found.", null, { timeout: 15000 });
      const left = await page.evaluate(() => ({
        errors: document.getElementById("rule-errors").textContent,
        marked: document.querySelectorAll(".gutter .has-error").length,
        invalid: document.getElementById("rule-source").hasAttribute("aria-invalid"),
      }));
      assert(left.errors === "" && left.marked === 0 && !left.invalid, `after the fix: ${JSON.stringify(left)}`);
      await page.click('#simulate-form button[type="submit"]');
      await page.waitForSelector("#simulation-verdicts tbody tr", { timeout: 15000 });
      const verdict = await page.textContent("#simulation-verdicts tbody tr td:nth-child(2)");
      assert(verdict === "Pass", `the sample order's verdict: ${verdict}`);
      await shot(page, "console-rule-simulation.png", { fullPage: true });
    });

    const history = (p) => p.evaluate(() => {
      const section = [...document.querySelectorAll("#view section")].find((s) => s.querySelector("h2").textContent === "Version history");
      return [...section.querySelectorAll("table tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent));
    });
    await check("Publish stores version 1, then a second Publish version 2; the history lists them", async () => {
      await page.click('#rule-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById("status").textContent.includes("Published version 1"), null, { timeout: 15000 });
      await page.fill("#rule-source", RULE_V2);
      await page.waitForFunction(() => document.getElementById("rule-check").textContent === "No problems found.", null, { timeout: 15000 });
      await page.click('#rule-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById("status").textContent.includes("Published version 2"), null, { timeout: 15000 });
      const rows = await history(page);
      assert(rows.length === 2, `history rows: ${JSON.stringify(rows)}`);
      const about = await page.textContent("#view .muted");
      assert(about.includes("published version 2"), `about: ${about}`);
      const r = await sessionGraphql(page, `{ rule(name: "${RULE}") { version source versions { version author } } }`);
      assert(r.body.data.rule.version === 2 && r.body.data.rule.source === RULE_V2, `rule: ${JSON.stringify(r.body)}`);
      assert(r.body.data.rule.versions.every((v) => v.author.includes("ann")), `authors: ${JSON.stringify(r.body.data.rule.versions)}`);
    });

    await check("the history lists the newest version first, and offers to compare and roll back to the one before", async () => {
      const rows = await history(page);
      assert(rows[0][0] === "2" && rows[1][0] === "1", `history rows (newest first expected): ${JSON.stringify(rows)}`);
      assert(rows[0][3] === "Yes" && rows[1][3] === "", `"In force" column: ${JSON.stringify(rows)}`);
      const chosen = await page.evaluate(() => ({
        from: document.querySelector("#diff-form select[name=from]").value,
        to: document.querySelector("#diff-form select[name=to]").value,
        back: document.querySelector("#rollback-form select[name=version]").value,
      }));
      assert(chosen.from === "v1" && chosen.to === "v2", `the diff preselects ${chosen.from} → ${chosen.to}, not v1 → v2`);
      assert(chosen.back === "1", `the rollback preselects version ${chosen.back} (the one in force), not 1`);
    });

    await check("the diff of version 1 and version 2 shows the changed line", async () => {
      await page.selectOption("#diff-form select[name=from]", "v1");
      await page.selectOption("#diff-form select[name=to]", "v2");
      await page.click('#diff-form button[type="submit"]');
      await page.waitForSelector("#rule-diff .diff-summary", { timeout: 15000 });
      const diff = await page.evaluate(() => ({
        summary: document.querySelector("#rule-diff .diff-summary").textContent,
        added: [...document.querySelectorAll("#rule-diff tr.diff-add td.code")].map((td) => td.textContent),
        removed: [...document.querySelectorAll("#rule-diff tr.diff-del td.code")].map((td) => td.textContent),
        addedAt: [...document.querySelectorAll("#rule-diff tr.diff-add td.ln")].map((td) => td.textContent).filter(Boolean),
      }));
      assert(diff.summary === "Version 1 → Version 2: 1 line(s) added, 1 removed.", `summary: ${diff.summary}`);
      assert(JSON.stringify(diff.removed) === JSON.stringify(["    if n < 2 {"]) && JSON.stringify(diff.added) === JSON.stringify(["    if n < 3 {"]),
        `diff: ${JSON.stringify(diff)}`);
      assert(JSON.stringify(diff.addedAt) === '["4"]', `the added line's number: ${diff.addedAt}`);
      await page.locator("#rule-diff").scrollIntoViewIfNeeded();
      await shot(page, "console-rule-diff.png", { fullPage: true });
    });

    await check("Roll back to version 1: version 1 is in force again (page and API)", async () => {
      await page.selectOption("#rollback-form select[name=version]", "1");
      await page.click('#rollback-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById("status").textContent.includes("Rolled back"), null, { timeout: 15000 });
      const about = await page.textContent("#view .muted");
      assert(about.includes("published version 1"), `about: ${about}`);
      assert(await page.inputValue("#rule-source") === RULE_V1, "the editor does not show version 1");
      const rows = await history(page);
      const inForce = rows.filter((row) => row[3] === "Yes").map((row) => row[0]);
      assert(JSON.stringify(inForce) === '["1"]', `"In force" marks ${JSON.stringify(inForce)}`);
      const r = await sessionGraphql(page, `{ rule(name: "${RULE}") { version sourceKind source } }`);
      const rule = r.body.data.rule;
      assert(rule.version === 1 && rule.sourceKind === "PUBLISHED" && rule.source === RULE_V1, `rule: ${JSON.stringify(rule)}`);
    });
    await auditPage(page, "rule-editor", { ready: editorReady, control: "#rule-source", controlName: "the source editor" });

    // ---- 6. redemptions and validations outside the console ---------------------------------------

    const redeemed = [];
    await check("redemptions and failed validations are made with the admin API key", async () => {
      const { coupon } = await api(base, server.key, `query($id: ID!) { coupon(id: $id) { codes(first: 10) { nodes { code batchId } } } }`, { id: couponId });
      const generated = coupon.codes.nodes.filter((c) => c.code !== CODE).map((c) => c.code);
      assert(generated.length >= 5 && generated.every((c) => c.startsWith("SPR-")), `codes: ${JSON.stringify(coupon.codes.nodes)}`);
      const order = (n) => ({ id: `order-${n}`, currency: "USD", subtotal: "80.00", channel: n % 2 ? "web" : "app",
        customer: { id: `cust-${n}`, email: `c${n}@example.com` }, items: [{ sku: "SKU-1", quantity: 2, unitPrice: "40.00", categories: [] }] });
      const REDEEM = `mutation($i: RedeemCouponInput!) { redeemCoupon(input: $i) { redemption { id code redeemedAt discount { amount currency } } userErrors { code message } } }`;
      const uses = [...generated.slice(0, 5), CODE, CODE.toLowerCase()];
      for (const [n, code] of uses.entries()) {
        const r = (await api(base, server.key, REDEEM, { i: { code, order: order(n), idempotencyKey: `redeem-${n}` } })).redeemCoupon;
        assert(r.redemption && !r.userErrors.length, `redeeming ${code}: ${JSON.stringify(r)}`);
        assert(r.redemption.discount.amount === "8.00", `discount: ${JSON.stringify(r.redemption.discount)}`);
        redeemed.push(r.redemption);
      }
      const VALIDATE = `query($i: ValidateCouponInput!) { validateCoupon(input: $i) { valid reasons { code } } }`;
      for (const [n, code] of [generated[0], generated[1], "NOSUCH99", "SPRING11"].entries()) {
        const r = (await api(base, server.key, VALIDATE, { i: { code, order: order(100 + n) } })).validateCoupon;
        assert(!r.valid && r.reasons.length, `validating ${code}: ${JSON.stringify(r)}`);
      }
      const ok = (await api(base, server.key, VALIDATE, { i: { code: generated[5], order: order(200) } })).validateCoupon;
      assert(ok.valid, `a fresh code: ${JSON.stringify(ok)}`);
      // Three of the five found the coupon; they are written at the next sweep.
      const end = Date.now() + 15000;
      let attempts = 0;
      while (Date.now() < end) {
        attempts = (await api(base, server.key, `query($id: ID!) { coupon(id: $id) { validationAttempts } }`, { id: couponId })).coupon.validationAttempts;
        if (attempts >= 3) break;
        await sleep(250);
      }
      assert(attempts === 3, `the coupon counts ${attempts} validation attempts`);
    });

    // ---- 7. the report -----------------------------------------------------------------------

    const reportReady = async (p) => {
      await heading(p, "Reports");
      await p.waitForSelector("#report-form");
      await p.waitForFunction(() => {
        const out = document.getElementById("report-output");
        return out && !out.hasAttribute("aria-busy") && (out.querySelector("figure") || out.textContent.includes("no coupon"))
          && !out.textContent.includes("Loading");
      }, null, { timeout: 30000 });
    };
    await check("the report on the coupon for today draws the redemptions made", async () => {
      assert(redeemed.length === 7, "the redemptions were not made");
      await page.click('nav a[data-nav="reports"]');
      await reportReady(page);
      const days = [...new Set(redeemed.map((r) => r.redeemedAt.slice(0, 10)))].sort();
      const hours = new Map();
      for (const r of redeemed) hours.set(r.redeemedAt.slice(0, 13), (hours.get(r.redeemedAt.slice(0, 13)) || 0) + 1);
      await page.selectOption("#report-form select[name=coupon]", couponId);
      await page.fill("#report-form input[name=from]", days[0]);
      await page.fill("#report-form input[name=to]", days[days.length - 1]);
      await page.selectOption("#report-form select[name=bucket]", "HOUR");
      await page.click('#report-form button[type="submit"]');
      await page.waitForFunction(() => [...document.querySelectorAll("#report-output figcaption strong")].some((s) => s.textContent === "Redemptions per hour")
        && !document.getElementById("report-output").hasAttribute("aria-busy"), null, { timeout: 30000 });
      const seen = await page.evaluate(() => {
        const dl = document.querySelector("#report-output dl.stats");
        const stat = (term) => [...dl.querySelectorAll("dt")].find((dt) => dt.textContent === term).nextElementSibling.textContent;
        const fig = [...document.querySelectorAll("#report-output figure")].find((f) => f.querySelector("figcaption strong").textContent === "Redemptions per hour");
        const bars = [...fig.querySelectorAll("svg rect.bar")].map((r) => r.querySelector("title").textContent);
        const rows = [...fig.querySelectorAll("table tbody tr")].map((tr) => [tr.querySelector("th").textContent, Number(tr.querySelector("td").textContent)]);
        const channels = [...document.querySelectorAll("#report-output figure")].find((f) => f.querySelector("figcaption strong").textContent === "Redemptions by channel");
        const rejections = [...document.querySelectorAll("#report-output figure")].find((f) => f.querySelector("figcaption strong").textContent === "Rejections by reason");
        return {
          rejections: [...rejections.querySelectorAll("table tbody tr")].map((tr) => `${tr.querySelector("th").textContent}=${tr.querySelector("td").textContent}`),
          redemptions: stat("Redemptions"), attempts: stat("Validation attempts"), discount: stat("Discount given"), codes: stat("Codes redeemed"),
          bars, rows, channelRows: [...channels.querySelectorAll("table tbody tr")].map((tr) => `${tr.querySelector("th").textContent}=${tr.querySelector("td").textContent}`),
        };
      });
      assert(seen.redemptions === "7", `summary redemptions: ${seen.redemptions}`);
      assert(seen.discount === "56.00 USD", `summary discount: ${seen.discount}`);
      assert(seen.codes === "6", `codes redeemed: ${seen.codes} (5 generated codes and ${CODE})`);
      assert(seen.attempts === "3", `validation attempts: ${seen.attempts}`);
      assert(seen.rejections.length === 1 && /=2$/.test(seen.rejections[0]), `rejections by reason: ${seen.rejections}`);
      assert(seen.bars.length === hours.size, `${seen.bars.length} bars drawn for ${hours.size} hour(s) with redemptions: ${seen.bars}`);
      const barTotal = seen.bars.reduce((n, t) => n + Number(t.split(": ").pop()), 0);
      assert(barTotal === 7, `the bars add up to ${barTotal}: ${seen.bars}`);
      const tableTotal = seen.rows.reduce((n, [, v]) => n + v, 0);
      const nonZero = seen.rows.filter(([, v]) => v > 0);
      assert(tableTotal === 7 && nonZero.length === hours.size, `data table: ${JSON.stringify(nonZero)} of ${seen.rows.length} rows`);
      for (const [hour, count] of hours) {
        const row = seen.rows.find(([label]) => label.startsWith(hour.replace("T", " ")));
        assert(row && row[1] === count, `hour ${hour}: ${JSON.stringify(row)}, expected ${count}`);
      }
      assert(JSON.stringify(seen.channelRows.sort()) === JSON.stringify(["app=4", "web=3"]), `by channel: ${seen.channelRows}`);
      await page.waitForFunction(() => !document.querySelector("#report-output .chart-slot p")
        || !document.querySelector("#report-output .chart-slot p").textContent.startsWith("Loading"), null, { timeout: 30000 });
      await shot(page, "console-report.png", { fullPage: true });
    });
    await auditPage(page, "reports", { ready: reportReady, control: "#report-form select[name=coupon]", controlName: "the coupon choice" });

    // ---- 8. webhooks, API keys, audit log ---------------------------------------------------------

    const webhooksReady = async (p) => {
      await heading(p, "Webhooks");
      await p.waitForSelector("#webhook-form");
      await p.waitForFunction(() => document.querySelectorAll("#view .results table, #view .results .empty").length === 2, null, { timeout: 15000 });
    };
    await check("the Webhooks page shows its endpoints, the form to add one and the delivery log", async () => {
      await page.click('nav a[data-nav="webhooks"]');
      await webhooksReady(page);
      await shot(page, "console-webhooks.png", { fullPage: true });
    });
    await auditPage(page, "webhooks", { ready: webhooksReady, control: "#webhook-form input[name=url]", controlName: "the endpoint's URL" });

    const keysReady = async (p) => {
      await heading(p, "API keys");
      await p.waitForSelector("#key-form");
      await p.waitForSelector("#view .results table, #view .results .empty", { timeout: 15000 });
    };
    await check("the API keys page lists the admin key made at first start", async () => {
      await page.click('nav a[data-nav="keys"]');
      await keysReady(page);
      const prefixes = await page.$$eval("#view .results table tbody td code", (cs) => cs.map((c) => c.textContent));
      assert(prefixes.some((p) => server.key.startsWith(p)), `prefixes listed: ${prefixes}`);
      await shot(page, "console-keys.png", { fullPage: true });
    });
    await auditPage(page, "keys", { ready: keysReady, control: "#key-form input[name=name]", controlName: "the key's name" });

    const auditReady = async (p) => {
      await heading(p, "Audit log");
      await p.waitForSelector("#audit-filter");
      await p.waitForSelector("#view .results table, #view .results .empty", { timeout: 15000 });
    };
    await check("the audit log names ann for the campaign, the coupon and the rule", async () => {
      await page.click('nav a[data-nav="audit"]');
      await auditReady(page);
      const rows = await page.$$eval("#view .results table tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      for (const action of ["Campaign created", "Coupon created", "Rule published", "Rule rolled back", "Bulk job created"]) {
        const row = rows.find((r) => r[1] === action);
        assert(row && row[3].includes("ann"), `${action}: ${JSON.stringify(row)}`);
      }
      await shot(page, "console-audit.png", { fullPage: true });
    });
    await auditPage(page, "audit", { ready: auditReady, control: "#audit-filter select[name=action]", controlName: "the action filter" });

    // ---- 10. the console's weight ---------------------------------------------------------------

    await check("the console's own files (/admin and /admin/assets/*) weigh less than 500 kB", async () => {
      const files = [...assets.entries()];
      const total = files.reduce((n, [, body]) => n + body.length, 0);
      console.log(`  ${files.length} files, ${total} bytes: ${files.map(([u, b]) => `${u.replace("/admin/assets/", "")} ${b.length}`).join(", ")}`);
      for (const name of ["/admin", "/admin/assets/app.js", "/admin/assets/console.css", "/admin/assets/coupons.js", "/admin/assets/rules.js", "/admin/assets/reports.js", "/admin/assets/chart.js"]) {
        assert(assets.has(name), `${name} was not loaded`);
      }
      assert(total < ASSET_BUDGET, `${total} bytes`);
      if (!FROM_SOURCE) {
        for (const [url, body] of files) {
          const file = path.join(consoleDir, url === "/admin" ? "index.html" : path.basename(url));
          if (fs.existsSync(file) && !fs.readFileSync(file).equals(body)) {
            console.log(`  NOTICE: the binary serves another ${path.basename(file)} than src/console has (rebuild to pick up the change)`);
          }
        }
      }
    });

    // ---- 11. bob, an analyst --------------------------------------------------------------------

    await check("bob (coupons-analyst) sees no write controls, and a write with his session is FORBIDDEN", async () => {
      const bob = await signIn("bob");
      try {
        const p = bob.page;
        await listReady(p);
        assert((await p.textContent("#account-role")) === "analyst", `role shown: ${await p.textContent("#account-role")}`);
        const nav = await p.$$eval("nav[aria-label=Sections] a", (as) => as.filter((a) => a.checkVisibility()).map((a) => a.textContent));
        assert(JSON.stringify(nav) === JSON.stringify(["Coupons", "Campaigns", "Rules", "Reports"]), `bob's navigation: ${nav}`);
        assert(await p.getByRole("link", { name: "New coupon" }).count() === 0, "the New coupon link is shown");
        await go(p, `#/coupons/${encodeURIComponent(couponId)}`, async (x) => {
          await heading(x, COUPON);
          await x.waitForSelector("#codes-table", { timeout: 15000 });
        });
        for (const sel of ["#generate-form", "#import-form", "#coupon-form", "#coupon-campaign-form"]) {
          assert(await p.locator(sel).count() === 0, `${sel} is shown to bob`);
        }
        const buttons = await p.$$eval("#view button", (bs) => bs.filter((b) => !b.disabled && b.checkVisibility()).map((b) => b.textContent));
        assert(buttons.every((t) => /page/.test(t)), `bob's coupon page has the buttons ${buttons}`);
        await shot(p, "console-bob-coupon.png", { fullPage: true });
        await go(p, "#/campaigns", async (x) => { await heading(x, "Campaigns"); await x.waitForSelector("#view .results table", { timeout: 15000 }); });
        assert(await p.locator("#campaign-form").count() === 0, "the campaign form is shown to bob");
        await go(p, `#/rules/${RULE}`, async (x) => { await heading(x, `Rule ${RULE}`); await x.waitForSelector("#rule-source"); });
        assert(await p.$eval("#rule-source", (t) => t.readOnly), "bob's rule editor is not read-only");
        for (const sel of ["#simulate-form", "#rule-form button[type=submit]"]) assert(await p.locator(sel).count() === 0, `${sel} is shown to bob`);
        assert(await p.locator("#rollback-form").isHidden(), "the rollback form is shown to bob");
        await go(p, "#/keys", (x) => heading(x, "API keys"));
        assert((await p.textContent("#view")).includes("Only admins can see this page."), "the keys page opened for bob");
        const write = await sessionGraphql(p, `mutation { createCoupon(input: {name: "Bob's", code: "BOB50", discount: {percentage: "50"}}) { coupon { id } userErrors { code message } } }`);
        const codes = ((write.body && write.body.errors) || []).map((e) => e.extensions && e.extensions.code);
        assert(codes.includes("FORBIDDEN") && !(write.body.data && write.body.data.createCoupon), `bob's createCoupon: ${write.status} ${JSON.stringify(write.body)}`);
        const still = await api(base, server.key, `{ coupon(code: "BOB50") { id } }`);
        assert(still.coupon === null, "bob's coupon was written");
        const read = await sessionGraphql(p, `query($id: ID!) { coupon(id: $id) { code } }`, { id: couponId });
        assert(read.body.data && read.body.data.coupon.code === CODE, `bob's read: ${JSON.stringify(read.body)}`);
      } finally {
        await bob.context.close();
      }
    });
    await check("the console's pages threw no script error and broke no CSP rule", async () => {
      assert(scriptErrors.length === 0, `errors:\n    ${scriptErrors.join("\n    ")}`);
    });
  } finally {
    if (browser) await browser.close();
    if (server) server.child.kill("SIGTERM");
    if (op) await op.close();
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
