// The audit log: who changed what, when and from where, newest first, filtered by
// action, kind of entity, entity and time, 25 to a page; each entry's before and
// after are shown as JSON on demand.

import { gql } from "./api.js";
import { h, replace, showFailure, field, form, submit, button, table, pager, time, humanize, fromLocalInput, announce } from "./dom.js";

const ACTIONS = ["COUPON_CREATED", "COUPON_UPDATED", "COUPON_STATUS_CHANGED", "COUPON_DELETED", "CODES_ADDED",
  "COUPON_RESERVED", "COUPON_REDEEMED", "RESERVATION_RELEASED", "REDEMPTION_REVERSED", "RULE_PUBLISHED",
  "RULE_ROLLED_BACK", "RULES_SIMULATED", "API_KEY_CREATED", "API_KEY_REVOKED", "API_KEY_ROTATED",
  "WEBHOOK_ENDPOINT_CREATED", "WEBHOOK_ENDPOINT_UPDATED", "WEBHOOK_ENDPOINT_DELETED", "WEBHOOK_REDELIVERED",
  "CAMPAIGN_CREATED", "CAMPAIGN_UPDATED", "BULK_JOB_CREATED", "BULK_JOB_CANCELLED", "CODES_IMPORTED", "PAYMENT_RECEIVED"];
const ENTITY_TYPES = ["COUPON", "REDEMPTION", "RULE", "API_KEY", "WEBHOOK_ENDPOINT", "WEBHOOK_DELIVERY", "CAMPAIGN", "BULK_JOB", "PAYMENT"];

const LOG = `query AuditLog($after: String, $filter: AuditLogFilter) { auditLog(first: 25, after: $after, filter: $filter) {
  nodes { id at action actorKeyId actorRole actorName clientIp entityType entityId before after }
  pageInfo { hasNextPage endCursor } } }`;

/** Routes #/audit (admins only). */
export function render(page) {
  page.append(h("h1", {}, "Audit log"));
  const action = field({ label: "Action", name: "action", type: "select", options: [["", "Any action"], ...ACTIONS.map((a) => [a, humanize(a)])] });
  const entityType = field({ label: "Kind of entity", name: "entityType", type: "select", options: [["", "Any kind"], ...ENTITY_TYPES.map((t) => [t, humanize(t)])] });
  const entityId = field({ label: "Entity ID or rule name", name: "entityId", attrs: { autocomplete: "off" } });
  const since = field({ label: "From", name: "since", type: "datetime-local" });
  const until = field({ label: "Before", name: "until", type: "datetime-local" });
  const results = h("div", { class: "results" });
  let filtered = false;
  const paging = pager("Audit log pages", async (after) => {
    const filter = {
      action: action.control.value || null,
      entityType: entityType.control.value || null,
      entityId: entityId.control.value.trim() || null,
      since: fromLocalInput(since.control.value),
      until: fromLocalInput(until.control.value),
    };
    try {
      const { auditLog } = await gql(LOG, { after, filter });
      replace(results, auditTable(auditLog.nodes));
      if (filtered) announce(`${auditLog.nodes.length}${auditLog.pageInfo.hasNextPage ? "+" : ""} entries found.`);
      return auditLog.pageInfo;
    } catch (e) {
      showFailure(e, results);
      return null;
    }
  });
  const filters = form("audit-filter", () => { filtered = true; return paging.reset(); },
    h("div", { class: "grid" }, action, entityType, entityId, since, until),
    h("p", { class: "actions" }, submit("Filter"), " ", button("Reset", () => {
      filters.reset();
      filtered = true;
      paging.reset();
    })));
  page.append(filters, results, paging.controls);
  return paging.reset();
}

function json(value) {
  return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2);
}

function auditTable(nodes) {
  return table({
    caption: "Audit entries, newest first",
    empty: "No entries match.",
    rows: nodes,
    columns: [
      { label: "When", cell: (e) => time(e.at) },
      { label: "Action", cell: (e) => humanize(e.action) },
      { label: "Entity", cell: (e) => [humanize(e.entityType), h("div", {}, h("code", { class: "wrap" }, e.entityId))] },
      { label: "By", cell: (e) => [e.actorName, e.actorRole ? h("div", { class: "muted" }, humanize(e.actorRole)) : null] },
      { label: "From", cell: (e) => e.clientIp || "—" },
      { label: "Change", cell: (e) => h("details", {},
        h("summary", {}, "Before and after", h("span", { class: "vh" }, ` of ${humanize(e.action)} at ${e.at}`)),
        h("div", { class: "before-after" },
          h("div", {}, h("p", { class: "muted" }, "Before"), h("pre", {}, json(e.before))),
          h("div", {}, h("p", { class: "muted" }, "After"), h("pre", {}, json(e.after))))) },
    ],
  });
}
