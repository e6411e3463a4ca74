// Rules: the list of rules in force, and a rule's editor: the Rhai source in a
// <textarea> laid over a highlighted <pre> with line numbers, checked as you type
// (`checkRuleSource`, 300 ms after the last key) with each error shown at its line and
// in #rule-errors; "Simulate" runs the draft against a sample order; "Publish" stores
// a new version; the version history compares any two versions (or the editor) line
// by line and rolls back to one.

import { gql } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, showErrors, clearErrors, table, time,
  humanize, badge, section, uid,
} from "./dom.js";
import { highlight, lineCount, parseRuleError, offsetOf } from "./rhai.js";
import { diffLines, hunks, summarize } from "./diff.js";
import { href } from "./router.js";

const RULE_FIELDS = `name description sourceKind version source parameters { name kind optional }
  versions { version author createdAt source }`;
const LIST = `query Rules { rules { name description sourceKind version parameters { name kind optional } } }`;
const ONE = `query Rule($name: String!) { rule(name: $name) { ${RULE_FIELDS} } }`;
const CHECK = `query CheckRuleSource($source: String!) { checkRuleSource(source: $source) { ok errors { line column message } } }`;
const SIMULATE = `mutation SimulateRules($input: SimulateRulesInput!) { simulateRules(input: $input) {
  discount { amount currency } reasons { code rule ruleCode message }
  results { rule verdict code message capMinor micros } userErrors { field code message } } }`;
const PUBLISH = `mutation PublishRule($input: PublishRuleInput!) { publishRule(input: $input) {
  rule { ${RULE_FIELDS} } userErrors { field code message } } }`;
const ROLLBACK = `mutation RollbackRule($input: RollbackRuleInput!) { rollbackRule(input: $input) {
  rule { ${RULE_FIELDS} } userErrors { field code message } } }`;

const CHECK_DELAY_MS = 300;
const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

const TEMPLATE = `// What this rule does, for the people who bind it to coupons.

fn check(ctx, params) {
    if ctx.order.item_count < 2 {
        return reject("TOO_FEW_ITEMS", "this coupon needs at least 2 items");
    }
    pass()
}
`;

/** A valid OrderInput to simulate with (the facts the rule examples use). */
export const SAMPLE_ORDER = {
  id: "simulated-order-1",
  currency: "USD",
  subtotal: "100.00",
  shipping: "5.00",
  channel: "web",
  customer: { id: "cust-1", email: "ann@example.com", tags: ["vip"] },
  items: [
    { sku: "SKU-1", categories: ["shoes"], quantity: 2, unitPrice: "30.00" },
    { sku: "SKU-2", categories: ["socks"], quantity: 4, unitPrice: "10.00" },
  ],
};

const SAMPLE_PARAM = { string: "example", int: 1, bool: true, strings: ["example.com"], money: "50.00", map: {} };

/** Parameters to try a rule with: a sample value for each required one. */
export function sampleParams(parameters) {
  const out = {};
  for (const p of parameters || []) {
    if (!p.optional) out[p.name] = SAMPLE_PARAM[p.kind.replace(/\?$/, "")] ?? "";
  }
  return out;
}

/** Routes #/rules and #/rules/<name>. */
export function render(page, route, ctx) {
  return route.parts[1] ? renderEditor(page, route.parts[1], ctx) : renderList(page, ctx);
}

function sourceText(rule) {
  if (!rule) return "new, not yet published";
  return rule.sourceKind === "PUBLISHED" ? `published version ${rule.version}` : humanize(rule.sourceKind).toLowerCase();
}

// ---- List ------------------------------------------------------------------------------

async function renderList(page, ctx) {
  page.append(h("h1", {}, "Rules"));
  const results = h("div", { class: "results" }, h("p", {}, "Loading…"));
  page.append(section("Rules in force", results));
  if (ctx.canWrite) page.append(section("New rule", newRuleForm()));
  try {
    const { rules } = await gql(LIST);
    replace(results, table({
      caption: "Rules in force",
      empty: "No rules are in force.",
      rows: rules,
      columns: [
        { label: "Name", cell: (r) => h("a", { href: href("rules", r.name) }, h("code", {}, r.name)) },
        { label: "What it does", cell: (r) => r.description || "—" },
        { label: "Parameters", cell: (r) => (r.parameters.length ? r.parameters.map((p) => `${p.name}${p.optional ? "?" : ""}: ${p.kind}`).join(", ") : "none") },
        { label: "Source", cell: (r) => sourceText(r) },
      ],
    }));
  } catch (e) {
    showFailure(e, results);
  }
}

function newRuleForm() {
  const name = field({ label: "Rule name", name: "name", path: "name", hint: "Lower-case snake_case, e.g. staff_only.", attrs: { autocomplete: "off" } });
  const node = form("new-rule-form", () => {
    const value = name.control.value.trim();
    if (!NAME_PATTERN.test(value)) {
      showErrors(node, [{ field: ["input", "name"], message: "Use lower-case letters, digits and _, starting with a letter." }]);
      return;
    }
    location.assign(href("rules", value));
  }, h("div", { class: "inline-form" }, name, submit("Open editor")));
  return node;
}

// ---- The code editor -----------------------------------------------------------------------

/**
 * A textarea over a highlighted <pre>, with a gutter of line numbers. Returns
 * `{node, textarea, setValue, markLines, goTo}`; `onChange` runs after each edit.
 */
function codeEditor(value, { readOnly, describedBy, onChange }) {
  const gutter = h("div", { class: "gutter", attrs: { "aria-hidden": "true" } });
  const code = h("code");
  const pre = h("pre", { class: "code-highlight", attrs: { "aria-hidden": "true" } }, code);
  const textarea = h("textarea", {
    id: "rule-source", class: "code-input", name: "source", spellcheck: false, readOnly,
    attrs: { wrap: "off", autocapitalize: "off", autocomplete: "off", autocorrect: "off", rows: 18, "aria-describedby": describedBy },
  });
  textarea.dataset.path = "source";
  textarea.value = value;
  let shownLines = 0;
  let marked = new Map();
  const sync = () => {
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
    gutter.scrollTop = textarea.scrollTop;
  };
  const paintGutter = () => {
    const n = lineCount(textarea.value);
    if (n === shownLines) return;
    shownLines = n;
    replace(gutter, Array.from({ length: n }, (_, i) => h("div", { class: "line-number" }, String(i + 1))));
    markLines(marked);
  };
  const paint = () => {
    replace(code, highlight(textarea.value));
    paintGutter();
    sync();
  };
  // Marks the line numbers of `lines` (line → message) as in error.
  function markLines(lines) {
    marked = lines;
    [...gutter.children].forEach((div, i) => {
      const message = lines.get(i + 1);
      div.classList.toggle("has-error", Boolean(message));
      div.title = message || "";
    });
  }
  function goTo(line, column) {
    const at = offsetOf(textarea.value, line, column || 1);
    textarea.focus();
    textarea.setSelectionRange(at, at);
    const height = parseFloat(getComputedStyle(textarea).lineHeight) || 21;
    textarea.scrollTop = Math.max(0, (line - 3) * height);
    sync();
  }
  textarea.addEventListener("input", () => { paint(); if (onChange) onChange(); });
  textarea.addEventListener("scroll", sync);
  paint();
  const node = h("div", { class: "code-editor" }, gutter, h("div", { class: "code-area" }, pre, textarea));
  return {
    node, textarea, markLines, goTo,
    setValue(text) { textarea.value = text; paint(); if (onChange) onChange(); },
  };
}

/** "line 3, column 7: message" (parts left out when unknown). */
export function errorLine({ line, column, message }) {
  if (!line) return message;
  return column ? `line ${line}, column ${column}: ${message}` : `line ${line}: ${message}`;
}

// ---- A rule's page ---------------------------------------------------------------------------

async function renderEditor(page, name, ctx) {
  const heading = h("h1", {}, `Rule ${name}`);
  page.append(heading, h("p", { class: "breadcrumb" }, h("a", { href: href("rules") }, "Rules"), " / ", name));
  let rule;
  try {
    rule = (await gql(ONE, { name })).rule;
  } catch (e) {
    showFailure(e, page.appendChild(h("div")));
    return;
  }
  if (!rule && (!ctx.canWrite || !NAME_PATTERN.test(name))) {
    heading.textContent = "Rule not found";
    ctx.retitle();
    page.append(h("p", {}, `No rule named ${name} is in force.`));
    return;
  }
  const about = h("p", { class: "muted" });
  const showAbout = () => {
    replace(about, rule ? `${rule.description || "No description."} In force: ${sourceText(rule)}.` : "A new rule: it is in force once published.");
  };
  showAbout();

  const errorsBox = h("div", { id: "rule-errors", class: "rule-errors", attrs: { role: "alert" } });
  const checkState = h("p", { id: "rule-check", class: "check-state" });
  const hintId = uid("source-hint");
  const checker = ruleChecker(ctx, checkState, (errors) => showRuleErrors(errors));
  const editor = codeEditor(rule ? rule.source : TEMPLATE, {
    readOnly: !ctx.canWrite, describedBy: `${hintId} rule-errors`, onChange: () => checker.schedule(editor.textarea.value),
  });
  let shownErrors = "[]";
  function showRuleErrors(errors) {
    editor.markLines(new Map(errors.filter((e) => e.line).map((e) => [e.line, e.message])));
    if (errors.length) editor.textarea.setAttribute("aria-invalid", "true");
    else editor.textarea.removeAttribute("aria-invalid");
    // The same errors again are not announced again.
    const key = JSON.stringify(errors);
    if (key === shownErrors) return;
    shownErrors = key;
    replace(errorsBox, errors.length ? h("ul", {}, errors.map((e) => h("li", {},
      e.line ? h("button", { type: "button", class: "link-button", on: { click: () => editor.goTo(e.line, e.column) } }, errorLine(e)) : errorLine(e)))) : null);
  }

  const editorForm = form("rule-form", async () => {
    clearErrors(editorForm);
    try {
      const { publishRule: r } = await gql(PUBLISH, { input: { name, source: editor.textarea.value } });
      if (r.userErrors.length) { showPublishErrors(r.userErrors); return; }
      rule = r.rule;
      showRuleErrors([]);
      showAbout();
      historyView.update(rule);
      announce(`Published version ${rule.version} of ${name}.`);
    } catch (e) {
      showFailure(e);
    }
  },
  h("label", { htmlFor: "rule-source" }, "Rhai source"),
  h("p", { class: "hint", id: hintId }, ctx.canWrite
    ? "Checked as you type. Tab moves to the next control; indent with spaces."
    : "Read only: only admins may change rules."),
  editor.node, checkState, errorsBox,
  ctx.canWrite ? h("p", { class: "actions" }, submit("Publish")) : null);

  function showPublishErrors(errors) {
    const isSource = (e) => e.field && e.field[e.field.length - 1] === "source";
    showRuleErrors(errors.filter(isSource).map((e) => parseRuleError(e.message)));
    const others = errors.filter((e) => !isSource(e));
    if (others.length) showErrors(editorForm, others);
    announce(`Not published: ${errors.map((e) => e.message).join(" ")}`, { error: true });
    if (errors.some(isSource)) editor.textarea.focus();
  }

  const historyView = versionHistory(name, rule, editor, ctx, (r) => { rule = r; showAbout(); });
  page.append(about,
    section("Source", editorForm),
    ctx.canWrite ? section("Simulate", simulateForm(rule, editor)) : null,
    historyView.node);
  if (ctx.canWrite) checker.run(editor.textarea.value);
}

// Runs `checkRuleSource` 300 ms after the last change; answers to older sources are
// dropped. A server without the query (or a role without it) turns the check off.
function ruleChecker(ctx, state, show) {
  let timer = null;
  let seq = 0;
  let off = !ctx.canWrite;
  async function run(source) {
    if (off || ctx.signal.aborted) return;
    const mine = ++seq;
    state.textContent = "Checking…";
    try {
      const { checkRuleSource: r } = await gql(CHECK, { source });
      if (mine !== seq || ctx.signal.aborted) return;
      show(r.errors);
      state.textContent = r.ok ? "No problems found." : `${r.errors.length} problem(s) found.`;
    } catch (e) {
      if (mine !== seq) return;
      if (["GRAPHQL_VALIDATION_FAILED", "FORBIDDEN"].includes(e.code)) {
        off = true;
        state.textContent = "Checking as you type is not available here; Publish checks the source.";
      } else {
        state.textContent = `The check failed: ${e.message}`;
      }
    }
  }
  return {
    run,
    schedule(source) {
      if (off) return;
      clearTimeout(timer);
      timer = setTimeout(() => run(source), CHECK_DELAY_MS);
    },
  };
}

// ---- Simulation ----------------------------------------------------------------------------

function simulateForm(rule, editor) {
  const params = field({ label: "Parameters (JSON)", name: "params", type: "textarea", rows: 6, path: "params", class: "mono",
    value: JSON.stringify(sampleParams(rule && rule.parameters), null, 2) });
  const order = field({ label: "Sample order (JSON)", name: "order", type: "textarea", rows: 12, path: "order", class: "mono",
    value: JSON.stringify(SAMPLE_ORDER, null, 2), hint: "An OrderInput, as storefronts send it." });
  const output = h("div", { id: "simulation", class: "results" });
  const node = form("simulate-form", async () => {
    const parsed = {};
    const problems = [];
    for (const [key, w] of [["params", params], ["order", order]]) {
      try { parsed[key] = JSON.parse(w.control.value || (key === "params" ? "{}" : "")); } catch (e) {
        problems.push({ field: ["input", key], message: `This is not valid JSON (${e.message}).` });
      }
    }
    if (problems.length) { showErrors(node, problems); return; }
    clearErrors(node);
    try {
      const { simulateRules: r } = await gql(SIMULATE, { input: { source: editor.textarea.value, params: parsed.params, order: parsed.order } });
      if (r.userErrors.length) {
        showErrors(node, r.userErrors);
        replace(output);
        announce("The simulation did not run.", { error: true });
        return;
      }
      replace(output, simulationResult(r));
      announce(`Simulated: ${r.results.map((x) => `${x.rule} ${x.verdict.toLowerCase()}`).join(", ") || "no rules ran"}.`);
    } catch (e) {
      showFailure(e, output);
    }
  }, h("div", { class: "grid grid-wide" }, params, order), h("p", { class: "actions" }, submit("Simulate")));
  return h("div", {}, node, output);
}

function simulationResult(r) {
  return h("div", {},
    h("p", {}, r.discount ? `Discount before rules: ${r.discount.amount} ${r.discount.currency}.` : "No discount before rules."),
    r.reasons.length ? h("ul", { class: "reasons" }, r.reasons.map((x) => h("li", {}, `${humanize(x.code)}: ${x.message}`))) : null,
    table({
      caption: "Verdicts",
      id: "simulation-verdicts",
      empty: "No rule ran.",
      rows: r.results,
      columns: [
        { label: "Rule", cell: (x) => h("code", {}, x.rule) },
        { label: "Verdict", cell: (x) => badge(x.verdict) },
        { label: "Code", cell: (x) => x.code || "—" },
        { label: "Message", cell: (x) => x.message || "—" },
        { label: "Cap (minor units)", class: "num", cell: (x) => (x.capMinor === null || x.capMinor === undefined ? "—" : String(x.capMinor)) },
        { label: "Time (µs)", class: "num", cell: (x) => String(x.micros) },
      ],
    }));
}

// ---- Version history, diff and rollback ------------------------------------------------------

function versionHistory(name, initial, editor, ctx, onRule) {
  let rule = initial;
  const listBox = h("div");
  const from = field({ label: "From", name: "from", type: "select" });
  const to = field({ label: "To", name: "to", type: "select" });
  const diffBox = h("div", { id: "rule-diff", class: "results" });
  const target = field({ label: "Version to put back in force", name: "version", type: "select", path: "version" });

  // The API lists the versions newest first; here they are put oldest first.
  const versionsOf = (r) => (r ? [...r.versions].sort((a, b) => a.version - b.version) : []);
  const sources = () => {
    const out = [["editor", "Editor (unsaved)", editor.textarea.value]];
    if (rule) out.push(["live", `In force (${sourceText(rule)})`, rule.source]);
    for (const v of versionsOf(rule).reverse()) out.push([`v${v.version}`, `Version ${v.version}`, v.source]);
    return out;
  };
  const diffForm = form("diff-form", () => {
    const all = sources();
    const a = all.find(([key]) => key === from.control.value);
    const b = all.find(([key]) => key === to.control.value);
    if (!a || !b) return;
    replace(diffBox, diffView(a[1], a[2], b[1], b[2]));
    const s = summarize(diffLines(a[2], b[2]));
    announce(`${s.added} lines added, ${s.removed} removed.`);
  }, h("div", { class: "inline-form" }, from, to, submit("Show diff")));

  const rollbackForm = form("rollback-form", async () => {
    clearErrors(rollbackForm);
    const version = Number(target.control.value);
    try {
      const { rollbackRule: r } = await gql(ROLLBACK, { input: { name, version } });
      if (r.userErrors.length) { showErrors(rollbackForm, r.userErrors); return; }
      update(r.rule);
      onRule(r.rule);
      editor.setValue(r.rule.source);
      announce(`Rolled back ${name} to version ${version}.`);
    } catch (e) {
      showFailure(e);
    }
  }, h("div", { class: "inline-form" }, target, submit("Roll back")));

  function fill(select, options, chosen) {
    replace(select, options.map(([key, label]) => h("option", { value: key }, label)));
    if (options.some(([key]) => key === chosen)) select.value = chosen;
  }
  function update(next) {
    rule = next;
    const versions = versionsOf(rule);
    replace(listBox, table({
      caption: "Published versions",
      empty: "No published versions yet: publishing starts the history.",
      rows: [...versions].reverse(),
      columns: [
        { label: "Version", class: "num", cell: (v) => String(v.version) },
        { label: "Author", cell: (v) => v.author },
        { label: "Published", cell: (v) => time(v.createdAt) },
        { label: "In force", cell: (v) => (rule.sourceKind === "PUBLISHED" && rule.version === v.version ? "Yes" : "") },
      ],
    }));
    const options = sources().map(([key, label]) => [key, label]);
    const n = versions.length;
    fill(from.control, options, n >= 2 ? `v${versions[n - 2].version}` : "live");
    fill(to.control, options, n >= 2 ? `v${versions[n - 1].version}` : "editor");
    fill(target.control, [...versions].reverse().map((v) => [String(v.version), `Version ${v.version}`]),
      n >= 2 ? String(versions[n - 2].version) : null);
    rollbackForm.hidden = !ctx.canWrite || n === 0;
  }
  // The editor's option stays current: its text is read when the diff is asked for.
  update(rule);
  const node = section("Version history", listBox, h("h3", {}, "Compare versions"), diffForm, diffBox, rollbackForm);
  return { node, update };
}

/** The line diff of two texts as a table: old and new line numbers, a sign, the line. */
function diffView(fromLabel, before, toLabel, after) {
  const ops = diffLines(before, after);
  const s = summarize(ops);
  const summary = h("p", { class: "diff-summary" }, `${fromLabel} → ${toLabel}: ${s.added} line(s) added, ${s.removed} removed.`);
  if (!s.added && !s.removed) return h("div", {}, summary, h("p", {}, "The two are the same."));
  const rows = hunks(ops, 3).map((op) => {
    if (op.type === "skip") return h("tr", { class: "diff-skip" }, h("td", { colSpan: 4 }, `… ${op.count} unchanged line(s)`));
    const sign = { add: "+", del: "−", same: " " }[op.type];
    const said = { add: "added", del: "removed", same: "unchanged" }[op.type];
    return h("tr", { class: `diff-${op.type}` },
      h("td", { class: "ln" }, op.oldLine ? String(op.oldLine) : ""),
      h("td", { class: "ln" }, op.newLine ? String(op.newLine) : ""),
      h("td", { class: "sign" }, h("span", { attrs: { "aria-hidden": "true" } }, sign), h("span", { class: "vh" }, said)),
      h("td", { class: "code" }, h("code", {}, op.text)));
  });
  const captionId = uid("diff");
  return h("div", {}, summary,
    h("div", { class: "table-wrap", attrs: { role: "region", tabindex: "0", "aria-labelledby": captionId } },
      h("table", { class: "diff" },
        h("caption", { id: captionId, class: "vh" }, `Differences from ${fromLabel} to ${toLabel}`),
        h("thead", { class: "vh" }, h("tr", {}, ["Old line", "New line", "Change", "Text"].map((t) => h("th", { attrs: { scope: "col" } }, t)))),
        h("tbody", {}, rows))));
}
