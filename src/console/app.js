// The console's shell: loads the session (a 401 goes to the sign-in page), shows who
// is signed in with the Sign out button, and routes the location hash to the page
// module of its area. Each page module exports `render(page, route, ctx)`: it puts an
// <h1> into `page` at once, then loads what it shows; `ctx.signal` aborts when the
// person leaves the page (pollers stop then).

import { loadSession, logout, canWrite } from "./api.js";
import { h, replace, announce, errorText, clearStaleStatus } from "./dom.js";
import { parseHash, ADMIN_ONLY } from "./router.js";

const PAGES = {
  coupons: () => import("./coupons.js"),
  campaigns: () => import("./campaigns.js"),
  rules: () => import("./rules.js"),
  reports: () => import("./reports.js"),
  webhooks: () => import("./webhooks.js"),
  keys: () => import("./keys.js"),
  audit: () => import("./audit.js"),
};

let session = null;
let leaving = null;

function showAccount() {
  document.getElementById("account-name").textContent = session.email ? `${session.name} (${session.email})` : session.name;
  document.getElementById("account-role").textContent = session.role;
  document.getElementById("account").hidden = false;
  document.getElementById("sign-out").addEventListener("click", (event) => {
    event.currentTarget.disabled = true;
    logout();
  });
  if (!canWrite()) for (const item of document.querySelectorAll("[data-admin-only]")) item.hidden = true;
}

function markNav(area) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === area) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function notFound(page) {
  page.append(h("h1", { tabIndex: -1 }, "Page not found"),
    h("p", {}, "There is no such page. ", h("a", { href: "#/coupons" }, "Go to the coupons"), "."));
}

function adminOnly(page, area) {
  const title = { webhooks: "Webhooks", keys: "API keys", audit: "Audit log" }[area];
  page.append(h("h1", { tabIndex: -1 }, title), h("p", {}, "Only admins can see this page."));
}

// The first heading of the page: focused after a navigation, and the tab's title.
function settle(page, moveFocus) {
  const heading = page.querySelector("h1");
  if (!heading) return;
  heading.tabIndex = -1;
  document.title = `${heading.textContent} · Coupons admin`;
  if (moveFocus) heading.focus();
}

async function show(moveFocus) {
  const route = parseHash(location.hash);
  if (!route.area && !location.hash.startsWith("#/")) {
    location.replace("#/coupons");
    return;
  }
  if (leaving) leaving.abort();
  const controller = new AbortController();
  leaving = controller;
  markNav(route.area);
  clearStaleStatus();
  const page = h("div", { class: "page" });
  replace(document.getElementById("view"), page);
  const ctx = { session, signal: controller.signal, canWrite: canWrite(), retitle: () => settle(page, false) };
  if (!route.area || (ADMIN_ONLY.has(route.area) && !ctx.canWrite)) {
    if (route.area) adminOnly(page, route.area);
    else notFound(page);
    settle(page, moveFocus);
    return;
  }
  try {
    const module = await PAGES[route.area]();
    if (controller.signal.aborted) return;
    const done = module.render(page, route, ctx);
    settle(page, moveFocus);
    await done;
    if (!controller.signal.aborted) settle(page, false);
  } catch (e) {
    if (controller.signal.aborted || e.code === "UNAUTHENTICATED") return;
    if (!page.querySelector("h1")) page.append(h("h1", {}, "Something went wrong"));
    page.append(h("p", { class: "error-text" }, errorText(e)));
    announce(errorText(e), { error: true });
    settle(page, moveFocus);
  }
}

async function start() {
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  try {
    session = await loadSession();
  } catch (e) {
    if (e.code === "UNAUTHENTICATED") return;
    replace(document.getElementById("view"), h("h1", {}, "The console could not start"), h("p", { class: "error-text" }, errorText(e)));
    return;
  }
  showAccount();
  window.addEventListener("hashchange", () => show(true));
  show(false);
}

start();
