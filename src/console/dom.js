// DOM helpers every page shares: `h` builds elements (text always goes in as text,
// never as HTML), form fields with their labels, hints and error slots, tables in
// scrollable regions, the polite status line, user errors shown next to their fields,
// paging over Relay connections, and formatting of dates and money.

let lastId = 0;
/** A fresh element id with `prefix`. */
export function uid(prefix = "id") {
  lastId += 1;
  return `${prefix}-${lastId}`;
}

/**
 * Creates `<tag>` with `props` and `children`. Props: `class`, `text`, `on` (event →
 * handler), `attrs` (attributes), `dataset`, and any other key is set as a property
 * (`id`, `type`, `value`, `checked`, `disabled`, `hidden`, `htmlFor`…). Children are
 * nodes or strings (as text); null, false and undefined are skipped; arrays flatten.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) { if (v !== null && v !== undefined && v !== false) node.setAttribute(a, v === true ? "" : String(v)); }
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Replaces the children of `node`. When that takes away the element with the keyboard
 * focus and nothing else takes it, the focus goes to its like in the new content (same
 * id, or same kind and name), else to `node` itself, never back to the page's start.
 */
export function replace(node, ...children) {
  const active = document.activeElement;
  const lost = active && active !== document.body && node.contains(active)
    ? { id: active.id, tag: active.tagName, name: active.getAttribute("aria-label") ?? active.textContent } : null;
  node.replaceChildren();
  append(node, children);
  if (lost) queueMicrotask(() => refocus(node, lost));
  return node;
}

function refocus(node, lost) {
  const now = document.activeElement;
  if (!node.isConnected || (now && now !== document.body)) return;
  const like = [...node.querySelectorAll("a[href], button, input, select, textarea, summary")].find((c) => (lost.id && c.id === lost.id)
    || (c.tagName === lost.tag && (c.getAttribute("aria-label") ?? c.textContent) === lost.name));
  if (like && !like.disabled) { like.focus(); return; }
  if (!node.hasAttribute("tabindex")) node.tabIndex = -1;
  node.focus();
}

// ---- Status line -------------------------------------------------------------------

let announcedAt = 0;
let fading = null;
const SHOWN_MS = 10_000;

/**
 * Says `message` in the page's polite live region (errors are marked as such). The
 * line is cleared after 10 s, errors excepted, so it does not cover the page for long.
 */
export function announce(message, { error = false } = {}) {
  const region = document.getElementById("status");
  if (!region) return;
  announcedAt = Date.now();
  clearTimeout(fading);
  region.classList.toggle("is-error", error);
  region.textContent = "";
  // A change after a tick is announced even when the text is the same as before.
  setTimeout(() => { region.textContent = message; }, 30);
  if (!error) fading = setTimeout(() => { region.textContent = ""; }, SHOWN_MS);
}

/** Empties the status line unless it was set in the last `ms` (it outlives one page change). */
export function clearStaleStatus(ms = 2000) {
  const region = document.getElementById("status");
  if (region && Date.now() - announcedAt > ms) region.textContent = "";
}

/** A short text for a failed call. */
export function errorText(e) {
  if (e && e.code === "FORBIDDEN") return `Not allowed: ${e.message}`;
  return e && e.message ? e.message : String(e);
}

/** Announces a failed call, and shows it in `where` (an element) if given. */
export function showFailure(e, where) {
  const text = errorText(e);
  announce(text, { error: true });
  if (where) replace(where, h("p", { class: "error-text" }, text));
}

// ---- Forms -------------------------------------------------------------------------

/**
 * A labelled form control in a `div.field`: `{label, name, type, value, path, hint,
 * options, rows, required, attrs, id}`. `type` is an input type, or "select"
 * (options: [value, text] pairs), "textarea" or "checkbox". `path` names the API input
 * field(s) whose errors go next to it (space-separated, dotted, without "input").
 * Returns the wrapper; the control is `wrapper.control`.
 */
export function field(spec) {
  const id = spec.id || uid(spec.name || "field");
  const control = makeControl(spec, id);
  const hintId = spec.hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  if (spec.path) control.dataset.path = spec.path;
  control.dataset.errorId = errorId;
  const label = h("label", { htmlFor: id }, spec.label);
  const parts = spec.type === "checkbox" ? [control, " ", label] : [label, control];
  const wrapper = h("div", { class: `field${spec.type === "checkbox" ? " field-check" : ""}${spec.class ? ` ${spec.class}` : ""}` },
    ...parts,
    spec.hint ? h("p", { class: "hint", id: hintId }, spec.hint) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }));
  wrapper.control = control;
  return wrapper;
}

function makeControl(spec, id) {
  const common = { id, name: spec.name || id };
  let control;
  // Initial values are the defaults too, so that form.reset() comes back to them.
  if (spec.type === "select") {
    control = h("select", common, (spec.options || []).map(([value, text]) =>
      h("option", { value, defaultSelected: value === spec.value }, text)));
  } else if (spec.type === "textarea") {
    control = h("textarea", { ...common, rows: spec.rows || 4, defaultValue: spec.value ?? "" });
  } else if (spec.type === "checkbox") {
    control = h("input", { ...common, type: "checkbox", defaultChecked: Boolean(spec.value) });
  } else {
    control = h("input", { ...common, type: spec.type || "text" });
    if (spec.type !== "file") control.defaultValue = spec.value ?? "";
  }
  if (spec.required) control.required = true;
  for (const [a, v] of Object.entries(spec.attrs || {})) if (v !== null && v !== undefined) control.setAttribute(a, String(v));
  return control;
}

/** A `<form>` with `id`, no native validation bubbles (the API's answers are shown instead), and an error summary. */
export function form(id, onSubmit, ...children) {
  const summary = h("div", { class: "error-summary", attrs: { role: "alert" }, hidden: true });
  const node = h("form", { id, noValidate: true }, summary, ...children);
  node.summary = summary;
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || node.querySelector("[type=submit]");
    if (button) button.disabled = true;
    node.setAttribute("aria-busy", "true");
    try { await onSubmit(event); } finally {
      if (button) button.disabled = false;
      node.removeAttribute("aria-busy");
    }
  });
  return node;
}

/** A submit button. */
export function submit(text, props = {}) {
  return h("button", { type: "submit", ...props }, text);
}

/** A plain button that runs `onClick`. */
export function button(text, onClick, props = {}) {
  return h("button", { type: "button", ...props, on: { click: onClick } }, text);
}

/** Clears the errors `showErrors` put on `formNode`. */
export function clearErrors(formNode) {
  for (const control of formNode.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const errorId = control.dataset.errorId;
    const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== errorId);
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
  }
  for (const slot of formNode.querySelectorAll(".field-error")) { slot.textContent = ""; slot.hidden = true; }
  if (formNode.summary) { formNode.summary.hidden = true; replace(formNode.summary); }
}

/**
 * The control of `formNode` that an error's `field` path (["input", "discount",
 * "percentage"]) belongs to: the one whose `data-path` lists the longest leading part
 * of the path (list positions included: "codes.2", else "codes").
 */
export function controlFor(formNode, fieldPath) {
  const parts = (fieldPath || []).slice(fieldPath && fieldPath[0] === "input" ? 1 : 0);
  const controls = [...formNode.querySelectorAll("[data-path]")];
  for (let n = parts.length; n > 0; n -= 1) {
    const key = parts.slice(0, n).join(".");
    const found = controls.find((c) => c.dataset.path.split(" ").includes(key));
    if (found) return found;
  }
  return null;
}

/**
 * Shows `errors` ({field, code, message}) on `formNode`: each next to its control
 * (aria-invalid, aria-describedby), and the ones without a control in the summary,
 * which also counts them. Focuses the first control in error.
 */
export function showErrors(formNode, errors) {
  clearErrors(formNode);
  if (!errors.length) return;
  const unplaced = [];
  let first = null;
  for (const error of errors) {
    const control = controlFor(formNode, error.field);
    if (!control) { unplaced.push(error); continue; }
    markInvalid(control, error.message);
    first = first || control;
  }
  const summary = formNode.summary;
  if (summary) {
    const count = errors.length === 1 ? "1 problem" : `${errors.length} problems`;
    replace(summary, h("p", {}, `Please fix ${count}.`),
      unplaced.length ? h("ul", {}, unplaced.map((e) => h("li", {}, e.message))) : null);
    summary.hidden = false;
  }
  if (first) first.focus();
}

/** Marks one control as invalid with `message` next to it. */
export function markInvalid(control, message) {
  const slot = document.getElementById(control.dataset.errorId);
  control.setAttribute("aria-invalid", "true");
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (slot && !ids.includes(slot.id)) control.setAttribute("aria-describedby", [...ids, slot.id].join(" "));
  if (slot) {
    slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    slot.hidden = false;
  }
}

/** A button that asks again in place before running `action` ("Revoke" → "Really revoke? Yes / No"). */
export function confirmButton(text, question, action, props = {}) {
  const wrap = h("span", { class: "confirm" });
  const first = button(text, () => {
    const yes = button(`Yes, ${text.toLowerCase()}`, async () => { await action(); });
    const no = button("Cancel", () => { replace(wrap, first); first.focus(); });
    replace(wrap, h("span", { class: "confirm-question" }, question), " ", yes, " ", no);
    yes.focus();
  }, props);
  wrap.append(first);
  return wrap;
}

// ---- Tables and paging ---------------------------------------------------------------

/**
 * A table in a scrollable, focusable region: `columns` are `{label, cell(row) → node
 * or text, class}`; `empty` is the text when there are no rows.
 */
export function table({ caption, columns, rows, empty = "Nothing here yet.", id }) {
  if (!rows.length) return h("p", { class: "empty", id }, empty);
  const captionId = uid("caption");
  const head = h("tr", {}, columns.map((c) => h("th", { attrs: { scope: "col" }, class: c.class }, c.label)));
  const body = rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.cell(row)))));
  return h("div", { class: "table-wrap", id, attrs: { role: "region", tabindex: "0", "aria-labelledby": captionId } },
    h("table", {}, h("caption", { id: captionId }, caption), h("thead", {}, head), h("tbody", {}, body)));
}

/**
 * Forward paging over a Relay connection with a way back: `load(after)` fetches a page
 * and returns its `pageInfo`. `controls` is the nav with Previous/Next and the page
 * number; `reload()` shows the current page again, `reset()` the first.
 */
export function pager(label, load) {
  const cursors = [null];
  let index = 0;
  const prev = button("Previous page", () => go(index - 1));
  const next = button("Next page", () => go(index + 1));
  const where = h("span", { class: "page-number" });
  const controls = h("nav", { class: "pager", hidden: true, attrs: { "aria-label": label } }, prev, " ", where, " ", next);
  prev.disabled = true;
  next.disabled = true;
  let nextCursor = null;
  async function go(to) {
    const info = await load(cursors[to]);
    if (!info) return;
    index = to;
    nextCursor = info.endCursor;
    if (info.hasNextPage) cursors[index + 1] = nextCursor;
    prev.disabled = index === 0;
    next.disabled = !info.hasNextPage;
    where.textContent = `Page ${index + 1}`;
    controls.hidden = index === 0 && !info.hasNextPage;
  }
  return { controls, reload: () => go(index), reset: () => { cursors.length = 1; return go(0); } };
}

// ---- Formatting ------------------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A `<time>` for an instant, or a dash when there is none. */
export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return h("time", { attrs: { datetime: iso } }, Number.isNaN(d.getTime()) ? iso : dateTime.format(d));
}

/** "12.50 USD", or a dash. */
export function money(m) {
  return m ? `${m.amount} ${m.currency}` : "—";
}

/** A list of Money as "10 USD, 9 EUR", or a dash. */
export function moneyList(list) {
  return list && list.length ? list.map(money).join(", ") : "—";
}

/** An instant (ISO) as the value of a datetime-local input, in the browser's zone. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value (read in the browser's zone) as an RFC 3339 instant, or null. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

/** A value for an enum: "COUPON_CREATED" → "Coupon created". */
export function humanize(value) {
  if (!value) return "—";
  const text = String(value).toLowerCase().replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `badge badge-${String(status || "").toLowerCase()}` }, humanize(status));
}

/** A section with an h2 (not a landmark: the tables inside are the named regions). */
export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

/** Reads an optional whole number from a text; null for empty, NaN when not whole. */
export function intOrNull(text) {
  const t = String(text ?? "").trim();
  if (t === "") return null;
  return /^-?\d+$/.test(t) ? Number(t) : Number.NaN;
}

/** Comma- or line-separated text as a list of trimmed, non-empty items. */
export function list(text) {
  return String(text || "").split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
}
