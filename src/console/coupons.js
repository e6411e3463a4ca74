// Coupons: the list (search, status filter, paging), the create form, and a coupon's
// page: its terms, status changes, campaign, the edit form, its codes with CSV export
// and import, and "Generate codes", which follows the bulk job (polling `bulkJob`
// every 500 ms) with a <progress id="job-progress"> and "N of M" until it ends.
// Forms show each of the API's `userErrors` next to the field its path names.

import { gql, canWrite, importCodes, exportUrl } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, button, showErrors, clearErrors,
  confirmButton, table, pager, time, money, moneyList, toLocalInput, fromLocalInput, humanize,
  badge, section, intOrNull, list, uid,
} from "./dom.js";
import { href } from "./router.js";

const STATUSES = ["DRAFT", "ACTIVE", "PAUSED", "ARCHIVED", "SCHEDULED", "EXPIRED", "EXHAUSTED"];
const CLASSES = ["LINE", "ORDER", "SHIPPING"];
const JOB_DONE = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const POLL_MS = 500;

const COUPON_FIELDS = `id name description code status lifecycleStatus automatic
  discount { type percentage amount { amount currency } amounts { amount currency } maxDiscount { amount currency } }
  currencies startsAt expiresAt timeZone maxRedemptions perCustomerLimit channels
  rules { name params } metadata redemptionCount reservedCount totalDiscount { amount currency }
  validationAttempts minSubtotal { amount currency } minItems combinesWith priority reversalPolicy
  campaign { id name } createdAt updatedAt`;

const LIST = `query CouponList($first: Int, $after: String, $filter: CouponFilter) {
  coupons(first: $first, after: $after, filter: $filter) {
    nodes { id name code status automatic redemptionCount maxRedemptions expiresAt
      discount { type percentage amount { amount currency } amounts { amount currency } maxDiscount { amount currency } } }
    pageInfo { hasNextPage endCursor } } }`;
const CAMPAIGN_NAME = `query CampaignName($id: ID!) { campaign(id: $id) { id name } }`;
const ONE = `query Coupon($id: ID!) { coupon(id: $id) { ${COUPON_FIELDS} } }`;
const CODES = `query CouponCodes($id: ID!, $after: String) { coupon(id: $id) { id
  codes(first: 25, after: $after) { nodes { id code usageLimit redemptionCount active batchId createdAt }
    pageInfo { hasNextPage endCursor } } } }`;
const JOBS = `query CouponJobs($id: ID!) { bulkJobs(couponId: $id, first: 5) { nodes {
  id status total done error createdAt finishedAt pattern { prefix suffix length } } } }`;
const JOB = `query BulkJob($id: ID!) { bulkJob(id: $id) { id status total done error cancelRequested } }`;
const CAMPAIGNS = `query CampaignChoices { campaigns(first: 100) { nodes { id name } } }`;
const CREATE = `mutation CreateCoupon($input: CreateCouponInput!) { createCoupon(input: $input) {
  coupon { id name } userErrors { field code message } warnings { code message } } }`;
const UPDATE = `mutation UpdateCoupon($input: UpdateCouponInput!) { updateCoupon(input: $input) {
  coupon { ${COUPON_FIELDS} } userErrors { field code message } warnings { code message } } }`;
const SET_STATUS = `mutation SetCouponStatus($input: SetCouponStatusInput!) { setCouponStatus(input: $input) {
  coupon { ${COUPON_FIELDS} } userErrors { field code message } } }`;
const SET_CAMPAIGN = `mutation SetCouponCampaign($input: SetCouponCampaignInput!) { setCouponCampaign(input: $input) {
  coupon { ${COUPON_FIELDS} } userErrors { field code message } } }`;
const DELETE = `mutation DeleteCoupon($input: DeleteCouponInput!) { deleteCoupon(input: $input) {
  deletedCouponId userErrors { field code message } } }`;
const GENERATE = `mutation GenerateCodes($input: GenerateCodesInput!) { generateCodes(input: $input) {
  job { id status total done error cancelRequested } userErrors { field code message } } }`;
const CANCEL = `mutation CancelBulkJob($input: CancelBulkJobInput!) { cancelBulkJob(input: $input) {
  job { id status total done error cancelRequested } userErrors { field code message } } }`;

/** Routes #/coupons, #/coupons/new and #/coupons/<id>. */
export function render(page, route, ctx) {
  const sub = route.parts[1];
  if (!sub) return renderList(page, route, ctx);
  if (sub === "new") return renderNew(page, ctx);
  return renderCoupon(page, sub, ctx);
}

/** "25% off (up to 50 USD)", or "10 EUR off" (with its other currencies). */
export function discountText(d) {
  if (!d) return "—";
  if (d.type === "PERCENTAGE") {
    const cap = d.maxDiscount ? ` (up to ${money(d.maxDiscount)})` : "";
    return `${d.percentage}% off${cap}`;
  }
  const amounts = d.amounts && d.amounts.length ? d.amounts : [d.amount];
  return `${moneyList(amounts)} off`;
}

// ---- List ----------------------------------------------------------------------------

function renderList(page, route, ctx) {
  page.append(h("h1", {}, "Coupons"));
  const campaignId = route.query.get("campaign");
  const search = field({ label: "Search names and codes", name: "query", type: "search", value: route.query.get("query") || "" });
  const status = field({ label: "Status", name: "status", type: "select", value: route.query.get("status") || "",
    options: [["", "Any status"], ...STATUSES.map((s) => [s, humanize(s)])] });
  const results = h("div", { class: "results" });
  let searched = false;
  const paging = pager("Coupon pages", async (after) => {
    const filter = { query: search.control.value.trim() || null, status: status.control.value || null, campaignId };
    try {
      const data = await gql(LIST, { first: 20, after, filter });
      const { nodes, pageInfo } = data.coupons;
      replace(results, couponTable(nodes));
      if (searched) announce(`${nodes.length}${pageInfo.hasNextPage ? "+" : ""} coupons found.`);
      return pageInfo;
    } catch (e) {
      showFailure(e, results);
      return null;
    }
  });
  const filters = form("coupon-filter", () => { searched = true; return paging.reset(); }, search, status, submit("Search"));
  filters.classList.add("inline-form");
  status.control.addEventListener("change", () => { searched = true; paging.reset(); });
  const campaignNote = h("p", { class: "note", hidden: !campaignId });
  page.append(
    ctx.canWrite ? h("p", { class: "actions" }, h("a", { class: "button", href: href("coupons", "new") }, "New coupon")) : null,
    filters, campaignNote, results, paging.controls);
  if (campaignId) {
    gql(CAMPAIGN_NAME, { id: campaignId }).then((d) => {
      replace(campaignNote, `In campaign ${d.campaign ? d.campaign.name : campaignId}. `, h("a", { href: href("coupons") }, "Show all coupons"));
    }).catch(() => {});
  }
  return paging.reset();
}

function couponTable(nodes) {
  return table({
    caption: "Coupons",
    empty: "No coupons match.",
    rows: nodes,
    columns: [
      { label: "Name", cell: (c) => h("a", { href: href("coupons", c.id) }, c.name) },
      { label: "Code", cell: (c) => (c.automatic ? "Automatic" : c.code ? h("code", {}, c.code) : "—") },
      { label: "Status", cell: (c) => badge(c.status) },
      { label: "Discount", cell: (c) => discountText(c.discount) },
      { label: "Redemptions", class: "num", cell: (c) => (c.maxRedemptions ? `${c.redemptionCount} of ${c.maxRedemptions}` : String(c.redemptionCount)) },
      { label: "Expires", cell: (c) => (c.expiresAt ? time(c.expiresAt) : "Never") },
    ],
  });
}

// ---- The coupon form -------------------------------------------------------------------

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";

// The controls of the create/edit form, filled from `c` (null for a new coupon).
function couponControls(c) {
  const d = c ? c.discount : null;
  const fixed = d && d.type === "FIXED_AMOUNT";
  const currency = (d && ((d.amount && d.amount.currency) || (d.maxDiscount && d.maxDiscount.currency)))
    || (c && c.minSubtotal && c.minSubtotal.currency) || "";
  const kind = uid("kind");
  const f = {
    name: field({ label: "Name", name: "name", path: "name", value: c && c.name, required: true }),
    description: field({ label: "Description", name: "description", type: "textarea", rows: 2, path: "description", value: c && c.description }),
    code: c ? null : field({ label: "Code", name: "code", path: "code", attrs: { autocomplete: "off", autocapitalize: "characters" },
      hint: "3 to 64 characters: A–Z, 0–9, - and _ (stored in upper case). Leave empty to add codes later." }),
    status: c ? null : field({ label: "Initial status", name: "status", type: "select", path: "status", options: [["ACTIVE", "Active"], ["DRAFT", "Draft"]] }),
    percent: h("input", { type: "radio", name: kind, id: `${kind}-percent`, value: "PERCENTAGE", checked: !fixed }),
    fixed: h("input", { type: "radio", name: kind, id: `${kind}-fixed`, value: "FIXED_AMOUNT", checked: Boolean(fixed) }),
    percentage: field({ label: "Percentage off", name: "percentage", path: "discount.percentage", value: d && d.percentage,
      attrs: { inputmode: "decimal" }, hint: "More than 0 and at most 100, up to 4 decimal places." }),
    maxDiscount: field({ label: "Largest discount (optional)", name: "maxDiscount", value: d && d.maxDiscount && d.maxDiscount.amount,
      path: "discount.maxDiscount.amount discount.maxDiscount discount.maxDiscounts", attrs: { inputmode: "decimal" } }),
    amount: field({ label: "Amount off", name: "amount", value: fixed && d.amount ? d.amount.amount : "",
      path: "discount.amount.amount discount.amount discount.amounts discount.value", attrs: { inputmode: "decimal" } }),
    currency: field({ label: "Currency", name: "currency", value: currency, hint: "ISO 4217 code such as USD or EUR, for every amount of this coupon.",
      path: "discount.amount.currency discount.maxDiscount.currency minSubtotal.currency", attrs: { autocomplete: "off", maxlength: 3, autocapitalize: "characters" } }),
    startsAt: field({ label: "Starts", name: "startsAt", type: "datetime-local", path: "startsAt startsOn", value: c && toLocalInput(c.startsAt), hint: `In ${ZONE}. Empty: now.` }),
    expiresAt: field({ label: "Expires", name: "expiresAt", type: "datetime-local", path: "expiresAt endsOn", value: c && toLocalInput(c.expiresAt), hint: `In ${ZONE}. Empty: never (or the server's default).` }),
    maxRedemptions: field({ label: "Most redemptions in all", name: "maxRedemptions", type: "number", path: "maxRedemptions", value: c && c.maxRedemptions, attrs: { min: 1, step: 1 } }),
    perCustomerLimit: field({ label: "Most redemptions per customer", name: "perCustomerLimit", type: "number", path: "perCustomerLimit", value: c && c.perCustomerLimit, attrs: { min: 1, step: 1 } }),
    minSubtotal: field({ label: "Minimum subtotal", name: "minSubtotal", path: "minSubtotal.amount minSubtotal minSubtotals", value: c && c.minSubtotal && c.minSubtotal.amount, attrs: { inputmode: "decimal" } }),
    minItems: field({ label: "Minimum items", name: "minItems", type: "number", path: "minItems", value: c && c.minItems, attrs: { min: 1, step: 1 } }),
    channels: field({ label: "Channels", name: "channels", path: "channels", value: c ? c.channels.join(", ") : "", hint: "Comma-separated, e.g. web, app. Empty: every channel." }),
    combines: CLASSES.map((cls) => field({ label: humanize(cls), name: `combines-${cls}`, type: "checkbox", value: c && c.combinesWith.includes(cls), path: cls === "LINE" ? "combinesWith" : null })),
    priority: field({ label: "Priority", name: "priority", type: "number", path: "priority", value: c ? c.priority : 0, hint: "Higher applies first in a cart." }),
    reversal: field({ label: "On reversal", name: "reversalPolicy", type: "select", path: "reversalPolicy", value: c ? c.reversalPolicy : "RESTORE_USAGE",
      options: [["RESTORE_USAGE", "Give the use back"], ["KEEP_USAGE", "Keep the use counted"]] }),
    rules: field({ label: "Rule bindings (JSON)", name: "rules", type: "textarea", rows: 3, path: "rules", class: "mono",
      value: c && c.rules.length ? JSON.stringify(c.rules, null, 2) : "", hint: 'A list such as [{"name": "per_customer_limit", "params": {"limit": 1}}].' }),
    metadata: field({ label: "Metadata (JSON object)", name: "metadata", type: "textarea", rows: 2, path: "metadata", class: "mono",
      value: c && c.metadata && Object.keys(c.metadata).length ? JSON.stringify(c.metadata, null, 2) : "" }),
  };
  const showKind = () => {
    const isFixed = f.fixed.checked;
    f.percentage.hidden = isFixed;
    f.maxDiscount.hidden = isFixed;
    f.amount.hidden = !isFixed;
    // Errors about the discount as a whole go to the field in use.
    f.percentage.control.dataset.path = isFixed ? "discount.percentage" : "discount.percentage discount";
    f.amount.control.dataset.path = `discount.amount.amount discount.amount discount.amounts discount.value${isFixed ? " discount" : ""}`;
  };
  f.percent.addEventListener("change", showKind);
  f.fixed.addEventListener("change", showKind);
  showKind();
  return f;
}

function couponFormBody(f) {
  const radio = (input, text) => h("span", { class: "choice" }, input, " ", h("label", { htmlFor: input.id }, text));
  return [
    f.name, f.description, f.code, f.status,
    h("fieldset", {}, h("legend", {}, "Discount"),
      h("div", { class: "choices", attrs: { role: "radiogroup", "aria-label": "Kind of discount" } },
        radio(f.percent, "A percentage"), radio(f.fixed, "A fixed amount")),
      h("div", { class: "grid" }, f.percentage, f.maxDiscount, f.amount, f.currency)),
    h("fieldset", {}, h("legend", {}, "When"), h("div", { class: "grid" }, f.startsAt, f.expiresAt)),
    h("fieldset", {}, h("legend", {}, "Limits"),
      h("div", { class: "grid" }, f.maxRedemptions, f.perCustomerLimit, f.minSubtotal, f.minItems)),
    h("fieldset", {}, h("legend", {}, "Where and with what"),
      f.channels,
      h("fieldset", { class: "inner" }, h("legend", {}, "May share an order with"), h("div", { class: "choices" }, f.combines)),
      h("div", { class: "grid" }, f.priority, f.reversal)),
    h("fieldset", {}, h("legend", {}, "Rules and metadata"), f.rules, f.metadata),
  ];
}

/**
 * The API input the form describes, and local problems (JSON that does not parse,
 * numbers that are not whole) in the `userErrors` shape.
 */
function readCoupon(f, creating) {
  const problems = [];
  const v = (w) => w.control.value.trim();
  const int = (w, path) => {
    const n = intOrNull(v(w));
    if (Number.isNaN(n)) problems.push({ field: ["input", path], message: "Enter a whole number." });
    return Number.isNaN(n) ? null : n;
  };
  const json = (w, path, empty) => {
    if (!v(w)) return empty;
    try { return JSON.parse(v(w)); } catch (e) {
      problems.push({ field: ["input", path], message: `This is not valid JSON (${e.message}).` });
      return empty;
    }
  };
  const currency = v(f.currency).toUpperCase();
  const moneyOf = (amount) => (amount ? { amount, currency } : null);
  const discount = f.fixed.checked
    ? { amount: { amount: v(f.amount), currency } }
    : { percentage: v(f.percentage), ...(v(f.maxDiscount) ? { maxDiscount: moneyOf(v(f.maxDiscount)) } : {}) };
  const input = {
    name: v(f.name),
    description: v(f.description) || null,
    discount,
    startsAt: fromLocalInput(f.startsAt.control.value),
    expiresAt: fromLocalInput(f.expiresAt.control.value),
    maxRedemptions: int(f.maxRedemptions, "maxRedemptions"),
    perCustomerLimit: int(f.perCustomerLimit, "perCustomerLimit"),
    minSubtotal: moneyOf(v(f.minSubtotal)),
    minItems: int(f.minItems, "minItems"),
    channels: list(v(f.channels)),
    combinesWith: CLASSES.filter((_, i) => f.combines[i].control.checked),
    priority: int(f.priority, "priority") ?? 0,
    reversalPolicy: f.reversal.control.value,
    rules: json(f.rules, "rules", []),
    metadata: json(f.metadata, "metadata", {}),
  };
  if (creating) {
    input.code = v(f.code) || null;
    input.status = f.status.control.value;
  }
  return { input, problems };
}

/** The keys of `after` whose values differ from `before` (an update sends only those). */
export function changedFields(before, after) {
  const out = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = after[key];
  }
  return out;
}

function withoutNulls(input) {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null));
}

function warningsText(warnings) {
  return warnings && warnings.length ? ` Note: ${warnings.map((w) => w.message).join(" ")}` : "";
}

function renderNew(page, ctx) {
  page.append(h("h1", {}, "New coupon"));
  if (!ctx.canWrite) {
    page.append(h("p", {}, "Only admins can create coupons."));
    return;
  }
  const f = couponControls(null);
  const node = form("coupon-form", async () => {
    const { input, problems } = readCoupon(f, true);
    if (problems.length) { showErrors(node, problems); return; }
    try {
      const { createCoupon: r } = await gql(CREATE, { input: withoutNulls(input) });
      if (r.userErrors.length) {
        showErrors(node, r.userErrors);
        announce(`The coupon was not created: ${r.userErrors.length} problem(s).`, { error: true });
        return;
      }
      announce(`Coupon ${r.coupon.name} created.${warningsText(r.warnings)}`);
      location.assign(href("coupons", r.coupon.id));
    } catch (e) {
      showFailure(e);
    }
  }, ...couponFormBody(f), h("p", { class: "actions" }, submit("Create coupon"), " ", h("a", { href: href("coupons") }, "Cancel")));
  page.append(node);
}

// ---- A coupon's page ---------------------------------------------------------------------

async function renderCoupon(page, id, ctx) {
  const heading = h("h1", {}, "Coupon");
  page.append(heading);
  let coupon;
  try {
    coupon = (await gql(ONE, { id })).coupon;
  } catch (e) {
    showFailure(e, page.appendChild(h("div")));
    return;
  }
  if (!coupon) {
    heading.textContent = "Coupon not found";
    page.append(h("p", {}, "There is no coupon with this ID. ", h("a", { href: href("coupons") }, "Back to the coupons"), "."));
    return;
  }
  heading.textContent = coupon.name;
  ctx.retitle();
  const overview = h("div");
  const statusBox = h("div");
  const refresh = (c) => {
    coupon = c;
    heading.textContent = c.name;
    replace(overview, details(c));
    if (ctx.canWrite) replace(statusBox, statusActions(c, refresh));
  };
  refresh(coupon);
  const codes = codesSection(coupon);
  page.append(
    h("p", { class: "breadcrumb" }, h("a", { href: href("coupons") }, "Coupons"), " / ", coupon.name),
    section("Overview", overview,
      h("p", { class: "actions" }, h("a", { href: href("reports", { coupon: coupon.id }) }, "Report"), " · ",
        h("a", { href: exportUrl("redemptions", { coupon: coupon.id }), download: "redemptions.csv" }, "Export redemptions (CSV)"))),
    ctx.canWrite ? section("Status", statusBox) : null,
    codes.node,
    ctx.canWrite ? section("Generate codes", generateForm(coupon, ctx, codes.reload)) : null,
    ctx.canWrite ? section("Import codes", importForm(coupon, codes.reload)) : null,
    ctx.canWrite ? section("Edit coupon", editForm(coupon, refresh)) : null,
    ctx.canWrite ? section("Campaign", campaignForm(coupon, refresh)) : null,
    ctx.canWrite ? section("Delete coupon", deleteBox(coupon)) : null,
  );
  await codes.reload();
}

function details(c) {
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  const window = [c.startsAt ? time(c.startsAt) : "now", " to ", c.expiresAt ? time(c.expiresAt) : "no end"];
  return h("dl", { class: "details" },
    row("Status", [badge(c.status), c.status !== c.lifecycleStatus ? ` (set to ${humanize(c.lifecycleStatus)})` : ""]),
    row("Code", c.automatic ? "Automatic discount (no code)" : c.code ? h("code", {}, c.code) : "—"),
    row("Discount", discountText(c.discount)),
    row("Valid", window),
    row("Redemptions", `${c.redemptionCount}${c.maxRedemptions ? ` of ${c.maxRedemptions}` : ""}, ${c.reservedCount} reserved`),
    row("Per customer", c.perCustomerLimit ? `at most ${c.perCustomerLimit}` : "no limit"),
    row("Minimum order", [c.minSubtotal ? money(c.minSubtotal) : "none", c.minItems ? `, ${c.minItems} items` : ""]),
    row("Discount given", moneyList(c.totalDiscount)),
    row("Validation attempts", String(c.validationAttempts)),
    row("Channels", c.channels.length ? c.channels.join(", ") : "all"),
    row("Rules", c.rules.length ? c.rules.map((r, i) => [i ? ", " : "", h("a", { href: href("rules", r.name) }, r.name)]) : "none"),
    row("Campaign", c.campaign ? h("a", { href: href("coupons", { campaign: c.campaign.id }) }, c.campaign.name) : "none"),
    row("Created", time(c.createdAt)),
    row("Updated", time(c.updatedAt)));
}

// The lifecycle moves an admin may make from the coupon's set status.
const MOVES = {
  DRAFT: [["ACTIVE", "Activate"]],
  ACTIVE: [["PAUSED", "Pause"]],
  PAUSED: [["ACTIVE", "Resume"]],
  ARCHIVED: [],
};

function statusActions(c, refresh) {
  const result = h("div", { class: "form-result" });
  const setStatus = async (status) => {
    try {
      const { setCouponStatus: r } = await gql(SET_STATUS, { input: { id: c.id, status } });
      if (r.userErrors.length) { showFailure(new Error(r.userErrors.map((e) => e.message).join(" ")), result); return; }
      refresh(r.coupon);
      announce(`The coupon is now ${humanize(r.coupon.lifecycleStatus).toLowerCase()}.`);
    } catch (e) {
      showFailure(e, result);
    }
  };
  if (c.lifecycleStatus === "ARCHIVED") return h("p", {}, "This coupon is archived; that is final.");
  return h("div", {},
    h("p", { class: "actions" },
      MOVES[c.lifecycleStatus].map(([status, text]) => [button(text, () => setStatus(status)), " "]),
      confirmButton("Archive", "Archive it for good?", () => setStatus("ARCHIVED"))),
    result);
}

function campaignForm(c, refresh) {
  const choice = field({ label: "Campaign", name: "campaignId", type: "select", path: "campaignId", options: [["", "No campaign"]] });
  const node = form("coupon-campaign-form", async () => {
    clearErrors(node);
    try {
      const { setCouponCampaign: r } = await gql(SET_CAMPAIGN, { input: { couponId: c.id, campaignId: choice.control.value || null } });
      if (r.userErrors.length) { showErrors(node, r.userErrors); return; }
      refresh(r.coupon);
      announce(r.coupon.campaign ? `Moved to campaign ${r.coupon.campaign.name}.` : "Taken out of its campaign.");
    } catch (e) {
      showFailure(e);
    }
  }, h("div", { class: "inline-form" }, choice, submit("Save campaign")));
  gql(CAMPAIGNS).then((d) => {
    for (const k of d.campaigns.nodes) choice.control.append(h("option", { value: k.id }, k.name));
    choice.control.value = c.campaign ? c.campaign.id : "";
  }).catch(() => {});
  return node;
}

function editForm(c, refresh) {
  const f = couponControls(c);
  let before = readCoupon(f, false).input;
  const note = c.currencies.length > 1
    ? h("p", { class: "note" }, `This coupon has terms in ${c.currencies.join(", ")}; the form shows the first. Fields you leave alone stay as they are.`)
    : null;
  const node = form("coupon-form", async () => {
    const { input, problems } = readCoupon(f, false);
    if (problems.length) { showErrors(node, problems); return; }
    const changes = changedFields(before, input);
    if (!Object.keys(changes).length) { clearErrors(node); announce("Nothing has changed."); return; }
    try {
      const { updateCoupon: r } = await gql(UPDATE, { input: { id: c.id, ...changes } });
      if (r.userErrors.length) {
        showErrors(node, r.userErrors);
        announce(`The coupon was not saved: ${r.userErrors.length} problem(s).`, { error: true });
        return;
      }
      clearErrors(node);
      before = input;
      refresh(r.coupon);
      announce(`Coupon saved.${warningsText(r.warnings)}`);
    } catch (e) {
      showFailure(e);
    }
  }, note, ...couponFormBody(f), h("p", { class: "actions" }, submit("Save coupon")));
  return node;
}

function deleteBox(c) {
  const result = h("div", { class: "form-result" });
  return h("div", {},
    h("p", {}, "A coupon that was ever reserved or redeemed cannot be deleted; archive it instead."),
    h("p", { class: "actions" }, confirmButton("Delete coupon", "Delete this coupon and all its codes?", async () => {
      try {
        const { deleteCoupon: r } = await gql(DELETE, { input: { id: c.id } });
        if (r.userErrors.length) { showFailure(new Error(r.userErrors.map((e) => e.message).join(" ")), result); return; }
        announce(`Coupon ${c.name} deleted.`);
        location.assign(href("coupons"));
      } catch (e) {
        showFailure(e, result);
      }
    }, { class: "danger" })),
    result);
}

// ---- Codes, export, generation, import ------------------------------------------------------

function codesSection(c) {
  const results = h("div", { class: "results" });
  const paging = pager("Code pages", async (after) => {
    try {
      const data = await gql(CODES, { id: c.id, after });
      const { nodes, pageInfo } = data.coupon.codes;
      replace(results, table({
        caption: "Codes",
        id: "codes-table",
        empty: "This coupon has no codes yet.",
        rows: nodes,
        columns: [
          { label: "Code", cell: (k) => h("code", {}, k.code) },
          { label: "Uses", class: "num", cell: (k) => (k.usageLimit ? `${k.redemptionCount} of ${k.usageLimit}` : String(k.redemptionCount)) },
          { label: "Active", cell: (k) => (k.active ? "Yes" : "No") },
          { label: "Created", cell: (k) => time(k.createdAt) },
        ],
      }));
      return pageInfo;
    } catch (e) {
      showFailure(e, results);
      return null;
    }
  });
  const node = section("Codes",
    h("p", { class: "actions" },
      h("a", { href: exportUrl("codes", { coupon: c.id }), download: "codes.csv" }, "Export codes (CSV)")),
    results, paging.controls);
  return { node, reload: () => paging.reload() };
}

function generateForm(c, ctx, reloadCodes) {
  const count = field({ label: "How many codes", name: "count", type: "number", path: "count", value: "100", attrs: { min: 1, step: 1 } });
  const prefix = field({ label: "Prefix", name: "prefix", path: "pattern.prefix", attrs: { autocomplete: "off", autocapitalize: "characters" } });
  const suffix = field({ label: "Suffix", name: "suffix", path: "pattern.suffix", attrs: { autocomplete: "off", autocapitalize: "characters" } });
  const length = field({ label: "Random characters", name: "length", type: "number", path: "pattern.length pattern", value: "10", attrs: { min: 4, max: 32, step: 1 }, hint: "4 to 32." });
  const charset = field({ label: "Characters to draw from (optional)", name: "charset", path: "pattern.charset", hint: "Default: A–Z and 2–9 without look-alikes." });
  const check = field({ label: "Add a check character (catches typos)", name: "checkCharacter", type: "checkbox", path: "pattern.checkCharacter" });
  const usage = field({ label: "Uses per code", name: "usageLimit", type: "number", path: "usageLimit", value: "1", attrs: { min: 1, step: 1 }, hint: "1 for single-use; empty for no limit of their own." });
  const panel = h("div", { class: "job-panel", id: "job-panel" });
  const jobs = h("div");
  const showJobs = () => gql(JOBS, { id: c.id }).then((d) => {
    replace(jobs, jobTable(d.bulkJobs.nodes));
    return d.bulkJobs.nodes;
  }).catch(() => []);
  const finished = () => { reloadCodes(); showJobs(); };
  const node = form("generate-form", async () => {
    const n = intOrNull(count.control.value);
    const len = intOrNull(length.control.value);
    const limit = intOrNull(usage.control.value);
    const problems = [];
    if (n === null || Number.isNaN(n)) problems.push({ field: ["input", "count"], message: "Enter a whole number." });
    if (len === null || Number.isNaN(len)) problems.push({ field: ["input", "pattern", "length"], message: "Enter a whole number." });
    if (Number.isNaN(limit)) problems.push({ field: ["input", "usageLimit"], message: "Enter a whole number, or leave it empty." });
    if (problems.length) { showErrors(node, problems); return; }
    const pattern = { prefix: prefix.control.value.trim(), suffix: suffix.control.value.trim(), length: len, checkCharacter: check.control.checked };
    if (charset.control.value.trim()) pattern.charset = charset.control.value.trim();
    try {
      const { generateCodes: r } = await gql(GENERATE, { input: { couponId: c.id, count: n, pattern, usageLimit: limit } });
      if (r.userErrors.length) { showErrors(node, r.userErrors); return; }
      clearErrors(node);
      announce(`Generating ${r.job.total} codes.`);
      followJob(panel, r.job, ctx, finished);
    } catch (e) {
      showFailure(e);
    }
  }, h("div", { class: "grid" }, count, usage, prefix, suffix, length, charset), check, h("p", { class: "actions" }, submit("Generate codes")));
  showJobs().then((nodes) => {
    const running = nodes.find((j) => !JOB_DONE.has(j.status));
    if (running && !ctx.signal.aborted) followJob(panel, running, ctx, finished);
  });
  return h("div", {}, node, panel, jobs);
}

function jobTable(nodes) {
  return table({
    caption: "Recent generation jobs",
    empty: "No codes have been generated for this coupon yet.",
    rows: nodes,
    columns: [
      { label: "Asked for", cell: (j) => time(j.createdAt) },
      { label: "Pattern", cell: (j) => h("code", {}, `${j.pattern.prefix}${"#".repeat(j.pattern.length)}${j.pattern.suffix}`) },
      { label: "Status", cell: (j) => badge(j.status) },
      { label: "Codes", class: "num", cell: (j) => `${j.done} of ${j.total}` },
      { label: "Finished", cell: (j) => (j.error ? j.error : time(j.finishedAt)) },
    ],
  });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Shows a bulk job's progress in `panel` and polls it every 500 ms until it ends or
 * the page is left; then calls `onDone`.
 */
export async function followJob(panel, job, ctx, onDone) {
  const progress = h("progress", { id: "job-progress", max: Math.max(1, job.total), value: 0, attrs: { "aria-labelledby": "job-label" } });
  const counter = h("p", { id: "job-text", class: "job-text" });
  const state = h("p", { class: "job-state" });
  const cancel = button("Cancel job", async () => {
    cancel.disabled = true;
    try {
      const { cancelBulkJob: r } = await gql(CANCEL, { input: { id: job.id } });
      if (r.userErrors.length) announce(r.userErrors.map((e) => e.message).join(" "), { error: true });
      else announce("Asked the job to stop.");
    } catch (e) {
      showFailure(e);
    }
  });
  replace(panel, h("p", { id: "job-label", class: "job-label" }, "Generating codes"), progress, counter, state, cancel);
  let failures = 0;
  for (;;) {
    show(job);
    if (JOB_DONE.has(job.status) || ctx.signal.aborted) break;
    await sleep(POLL_MS);
    if (ctx.signal.aborted) return;
    try {
      job = (await gql(JOB, { id: job.id })).bulkJob || job;
      failures = 0;
    } catch (e) {
      failures += 1;
      if (failures >= 5) { showFailure(e, state); return; }
    }
  }
  if (ctx.signal.aborted) return;
  cancel.remove();
  if (job.status === "SUCCEEDED") announce(`Done: ${job.total} codes generated.`);
  else announce(`The job ${job.status === "FAILED" ? "failed" : "was cancelled"} after ${job.done} of ${job.total} codes.`, { error: job.status === "FAILED" });
  onDone();

  function show(j) {
    progress.max = Math.max(1, j.total);
    progress.value = j.status === "SUCCEEDED" ? progress.max : Math.min(j.done, j.total);
    counter.textContent = `${j.status === "SUCCEEDED" ? j.total : j.done} of ${j.total}`;
    state.textContent = `${humanize(j.status)}${j.cancelRequested && !JOB_DONE.has(j.status) ? " (stopping)" : ""}${j.error ? `: ${j.error}` : ""}`;
  }
}

function importForm(c, reloadCodes) {
  const file = field({ label: "CSV file", name: "file", type: "file", attrs: { accept: ".csv,text/csv" } });
  const pasted = field({ label: "Or paste the CSV", name: "csv", type: "textarea", rows: 4, class: "mono",
    hint: "A header line with code, and optionally usage_limit and active (true or false). All rows or none are imported." });
  const report = h("div", { id: "import-report" });
  const node = form("import-form", async () => {
    const chosen = file.control.files && file.control.files[0];
    const body = chosen || pasted.control.value;
    if (!chosen && !pasted.control.value.trim()) {
      showErrors(node, [{ field: ["file"], message: "Choose a CSV file or paste its text." }]);
      return;
    }
    clearErrors(node);
    try {
      const r = await importCodes(c.id, body);
      if (r.errors && r.errors.length) {
        replace(report, h("p", { class: "error-text" }, `Nothing was imported: ${r.errors.length} row(s) refused.`), rowErrors(r.errors));
        announce(`Nothing was imported: ${r.errors.length} row(s) refused.`, { error: true });
        return;
      }
      replace(report, h("p", {}, `Imported ${r.imported} codes.`));
      announce(`Imported ${r.imported} codes.`);
      node.reset();
      reloadCodes();
    } catch (e) {
      showFailure(e, report);
    }
  }, file, pasted, h("p", { class: "actions" }, submit("Import codes")));
  file.control.dataset.path = "file";
  return h("div", {}, node, report);
}

function rowErrors(errors) {
  return table({
    caption: "Rows refused",
    id: "import-errors",
    rows: errors,
    columns: [
      { label: "Line", class: "num", cell: (e) => String(e.line) },
      { label: "Column", cell: (e) => e.column || "—" },
      { label: "Problem", cell: (e) => humanize(e.code) },
      { label: "Message", cell: (e) => e.message },
    ],
  });
}
