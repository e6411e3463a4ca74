// CouponInput rendered by React into jsdom, against the real coupon service: the binary
// is started on a fresh SQLite file (COUPONS_BIN, default ../../target/debug/coupons), a
// `public` key and coupons are made through its GraphQL API with the admin key it prints,
// and the widget calls it with Node's fetch. A code is typed, Apply is pressed, and the
// callbacks must receive the service's answers. Without the binary those tests are skipped.
//
// Usage: COUPONS_BIN=path/to/coupons npm test
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { JSDOM } from "jsdom";
import { copy, source } from "../scripts/copy-widget.js";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const binary = path.resolve(packageDir, process.env.COUPONS_BIN || "../../target/debug/coupons");
const missing = existsSync(binary) ? false : `the coupon service binary is missing (${binary}); build it or set COUPONS_BIN`;
if (missing) console.log(`NOTICE: skipping the tests against the service: ${missing}`);

// A browser page for React and the widget: jsdom's window, Node's fetch.
const dom = new JSDOM('<!doctype html><html lang="en"><head></head><body></body></html>', {
  url: "http://shop.test/checkout",
  pretendToBeVisual: true,
});
for (const name of ["window", "document", "navigator", "HTMLElement", "customElements", "CustomEvent",
  "Event", "Node", "Element", "MutationObserver", "getComputedStyle", "requestAnimationFrame",
  "cancelAnimationFrame"]) {
  Object.defineProperty(globalThis, name, {
    value: name === "window" ? dom.window : dom.window[name],
    configurable: true,
    writable: true,
  });
}
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
// The widget's warnings (texts or codes that could not be fetched), kept for the tests.
const warnings = [];
console.warn = (...args) => warnings.push(args.map(String).join(" "));
const { act, createElement } = await import("react");
const { createRoot } = await import("react-dom/client");
const { CouponInput } = await import("../index.js");

const order = {
  id: "cart-1",
  currency: "EUR",
  subtotal: "40.00",
  items: [{ sku: "tea-1", quantity: 2, unitPrice: "20.00", categories: [] }],
  shipping: "4.90",
  channel: "web",
};

// Starts the binary on `dbFile`; resolves with its base URL and the admin key printed at
// its first start (as tests/browser/common.js does).
function startServer(dbFile, env = {}) {
  const child = spawn(binary, [], {
    env: { ...process.env, DATABASE_URL: `sqlite://${dbFile}`, COUPONS_BIND: "127.0.0.1:0",
      RUST_LOG: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const lines = [];
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join("\n")}`)), 30000);
    createInterface({ input: child.stdout }).on("line", (line) => {
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

async function graphql(base, key, query) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  const body = await response.json();
  assert.ok(body.data, `${query}: ${JSON.stringify(body)}`);
  return body.data;
}

async function createCoupon(base, key, fields) {
  const made = await graphql(base, key, `mutation { createCoupon(input: {${fields}}) { userErrors { code message } } }`);
  return made.createCoupon.userErrors;
}

const service = {};
let dir;

before(async () => {
  if (missing) return;
  dir = mkdtempSync(path.join(tmpdir(), "coupons-react-"));
  // A small guess budget, so that the last test reaches the throttle quickly.
  Object.assign(service, await startServer(path.join(dir, "coupons.db"), {
    COUPONS_PUBLIC_ATTEMPT_LIMITS: "key=0,ip=4,customer=0",
    COUPONS_LOCKOUT_SECONDS: "3",
  }));
  const { base, key } = service;
  assert.ok(key, "no admin key printed on first start");
  service.publicKey = (await graphql(base, key,
    'mutation { createApiKey(input: {name: "react shop", role: PUBLIC}) { secret } }')).createApiKey.secret;
  assert.deepEqual(await createCoupon(base, key, 'name: "Save 10", code: "SAVE10", discount: {percentage: "10"}'), []);
  // An expired coupon: a window in the past, or else one that ends in two seconds.
  const past = await createCoupon(base, key, 'name: "Spring", code: "SPRING10", discount: {percentage: "10"}, '
    + 'startsAt: "2020-03-01T00:00:00Z", expiresAt: "2020-06-01T00:00:00Z"');
  if (past.length > 0) {
    const now = Date.now();
    assert.deepEqual(await createCoupon(base, key, 'name: "Spring", code: "SPRING10", discount: {percentage: "10"}, '
      + `startsAt: "${new Date(now - 3600e3).toISOString()}", expiresAt: "${new Date(now + 2000).toISOString()}"`), []);
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
});

after(() => {
  if (service.child) service.child.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Renders CouponInput with `props`; returns the element and a way to unmount it.
function render(props) {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  act(() => root.render(createElement(CouponInput, props)));
  const element = container.querySelector("coupon-input");
  return {
    element,
    rerender: (next) => act(() => root.render(createElement(CouponInput, next))),
    unmount: () => {
      act(() => root.unmount());
      container.remove();
    },
  };
}

function typeCode(element, code) {
  const input = element.shadowRoot.querySelector("input");
  input.value = code;
  input.dispatchEvent(new dom.window.Event("input", { bubbles: true }));
}

const pressApply = (element) => element.shadowRoot.querySelector("button").click();
const message = (element) => element.shadowRoot.querySelector("[role=status]").textContent;

// Callbacks that record their calls, and a promise for the first answer of either kind.
function answers() {
  const loading = [];
  let settle;
  const answer = new Promise((resolve, reject) => {
    settle = resolve;
    setTimeout(() => reject(new Error("no answer within 15 s")), 15000).unref();
  });
  return {
    loading,
    answer,
    props: {
      onSuccess: (discount, detail) => settle({ success: discount, detail }),
      onError: (reason, detail) => settle({ error: reason, detail }),
      onLoadingChange: (value) => loading.push(value),
    },
  };
}

async function waitFor(condition, what) {
  for (let i = 0; i < 100 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

test("the package's widget.js is the service's widget, byte for byte", () => {
  assert.ok(readFileSync(copy).equals(readFileSync(source)),
    "widget.js differs from src/widget/coupon-input.js: run `node scripts/copy-widget.js`");
});

test("renders <coupon-input> with its attributes, and the order as a property", () => {
  const { element, rerender, unmount } = render({
    endpoint: "http://127.0.0.1:9", publicKey: "cpn_public", order, validateOn: "typing",
    lang: "de", className: "checkout-coupon",
  });
  assert.equal(element.getAttribute("endpoint"), "http://127.0.0.1:9");
  assert.equal(element.getAttribute("public-key"), "cpn_public");
  assert.equal(element.getAttribute("validate-on"), "typing");
  assert.equal(element.getAttribute("lang"), "de");
  assert.equal(element.getAttribute("class"), "checkout-coupon");
  assert.equal(element.hasAttribute("order"), false, "the order went out as an attribute");
  assert.deepEqual(element.order, order);
  const root = element.shadowRoot;
  assert.ok(root, "the widget is not defined: no shadow root");
  const input = root.querySelector("input");
  assert.equal(root.querySelector("label").getAttribute("for"), input.id);
  assert.equal(input.getAttribute("autocomplete"), "off");
  assert.equal(root.querySelector("button").getAttribute("type"), "submit");
  const bigger = { ...order, subtotal: "60.00" };
  rerender({ endpoint: "http://127.0.0.1:9", publicKey: "cpn_public", order: bigger });
  assert.equal(element.order, bigger);
  assert.equal(element.getAttribute("validate-on"), "apply");
  unmount();
});

test("a service that cannot be reached: onError gets UNAVAILABLE", async () => {
  const { props, answer, loading } = answers();
  const { element, unmount } = render({ endpoint: "http://127.0.0.1:9", publicKey: "cpn_public", order, ...props });
  typeCode(element, "SAVE10");
  pressApply(element);
  const { error } = await answer;
  assert.equal(error.code, "UNAVAILABLE");
  assert.equal(error.message, message(element));
  assert.equal(error.message, "The code could not be checked. Please try again.");
  assert.deepEqual(loading, [true, false]);
  assert.ok(warnings.some((w) => w.startsWith("coupon-input: the code could not be checked")), warnings.join("\n"));
  unmount();
});

test("a code that applies: onSuccess gets the service's discount", { skip: missing }, async () => {
  const { props, answer, loading } = answers();
  const { element, unmount } = render({ endpoint: service.base, publicKey: service.publicKey, order, lang: "en", ...props });
  typeCode(element, "save10");
  pressApply(element);
  const { success, detail, error } = await answer;
  assert.equal(error, undefined, `onError: ${JSON.stringify(error)}`);
  assert.deepEqual(success, { amount: "4.00", currency: "EUR" });
  assert.equal(detail.code, "save10");
  assert.ok(Array.isArray(detail.lines));
  assert.deepEqual(loading, [true, false]);
  assert.match(message(element), /€4\.00/);
  unmount();
});

test("an expired code, in German: onError gets the service's reason in German", { skip: missing }, async () => {
  const { props, answer } = answers();
  const { element, unmount } = render({ endpoint: service.base, publicKey: service.publicKey, order, lang: "de", ...props });
  await waitFor(() => element.shadowRoot.querySelector("label").textContent === "Gutscheincode", "the German texts");
  assert.equal(element.shadowRoot.querySelector("button").textContent, "Einlösen");
  typeCode(element, "SPRING10");
  pressApply(element);
  const { error, success } = await answer;
  assert.equal(success, undefined, `onSuccess: ${JSON.stringify(success)}`);
  assert.deepEqual(error, { code: "EXPIRED", message: "dieser Gutschein ist abgelaufen" });
  assert.equal(message(element), "Dieser Gutschein ist abgelaufen");
  assert.equal(element.shadowRoot.querySelector("input").getAttribute("aria-invalid"), "true");
  unmount();
});

test("an unknown code: onError gets NOT_FOUND", { skip: missing }, async () => {
  const { props, answer } = answers();
  const { element, unmount } = render({ endpoint: service.base, publicKey: service.publicKey, order, lang: "en", ...props });
  typeCode(element, "NOSUCH42");
  pressApply(element);
  const { error } = await answer;
  assert.equal(error.code, "NOT_FOUND");
  assert.equal(message(element), error.message.charAt(0).toUpperCase() + error.message.slice(1));
  unmount();
});

test("validateOn typing: the code is checked once the shopper stops typing", { skip: missing }, async () => {
  const { props, answer } = answers();
  const { element, unmount } = render({
    endpoint: service.base, publicKey: service.publicKey, order, lang: "en", validateOn: "typing", ...props,
  });
  typeCode(element, "SAVE");
  typeCode(element, "SAVE10");
  const { success } = await answer;
  assert.deepEqual(success, { amount: "4.00", currency: "EUR" });
  unmount();
});

test("too many wrong codes: onError gets THROTTLED, and the box is locked", { skip: missing }, async () => {
  let last;
  const onError = (reason, detail) => { last = { reason, detail }; };
  const { element, unmount } = render({ endpoint: service.base, publicKey: service.publicKey, order, lang: "en", onError });
  for (let i = 1; i <= 10 && last?.reason.code !== "THROTTLED"; i += 1) {
    last = undefined;
    typeCode(element, `WRONG${i}`);
    pressApply(element);
    await waitFor(() => last !== undefined, `an answer to WRONG${i}`);
  }
  assert.equal(last.reason.code, "THROTTLED", JSON.stringify(last));
  assert.ok(last.detail.retryAfter >= 1, `retryAfter: ${last.detail.retryAfter}`);
  assert.match(last.reason.message, new RegExp(`${last.detail.retryAfter}`));
  assert.equal(last.reason.message, message(element));
  assert.equal(element.shadowRoot.querySelector("input").disabled, true);
  assert.equal(element.shadowRoot.querySelector("button").disabled, true);
  unmount();
});
