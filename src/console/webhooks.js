// Webhooks: the endpoints (pause, resume, delete), the form to add one (its signing
// secret is shown once), and the delivery log with filters, paging and "Redeliver".

import { gql } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, button, showErrors, clearErrors,
  confirmButton, table, pager, time, humanize, badge, section,
} from "./dom.js";

const EVENT_TYPES = ["COUPON_CREATED", "COUPON_UPDATED", "COUPON_STATUS_CHANGED", "COUPON_DELETED", "CODES_ADDED",
  "COUPON_RESERVED", "COUPON_REDEEMED", "RESERVATION_RELEASED", "RESERVATION_EXPIRED", "REDEMPTION_REVERSED",
  "RULE_PUBLISHED", "USAGE_THRESHOLD_REACHED", "COUPON_EXHAUSTED", "PAYMENT_RECEIVED"];
const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"];

const ENDPOINT_FIELDS = "id url description eventTypes couponId active consecutiveFailures breakerOpenUntil createdAt updatedAt";
const ENDPOINTS = `query WebhookEndpoints { webhookEndpoints(first: 100) { nodes { ${ENDPOINT_FIELDS} } } }`;
const DELIVERIES = `query WebhookDeliveries($after: String, $filter: WebhookDeliveryFilter) {
  webhookDeliveries(first: 20, after: $after, filter: $filter) {
    nodes { id endpointId status attempts nextAttemptAt lastAttemptAt lastStatusCode lastError deliveredAt createdAt
      event { id type couponId occurredAt } }
    pageInfo { hasNextPage endCursor } } }`;
const CREATE = `mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  webhookEndpoint { ${ENDPOINT_FIELDS} } secret userErrors { field code message } } }`;
const UPDATE = `mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  webhookEndpoint { ${ENDPOINT_FIELDS} } userErrors { field code message } } }`;
const DELETE = `mutation DeleteWebhookEndpoint($input: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $input) {
  deletedId userErrors { field code message } } }`;
const REDELIVER = `mutation RedeliverWebhook($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) {
  webhookDelivery { id status } userErrors { field code message } } }`;

/** Routes #/webhooks (admins only). */
export async function render(page) {
  page.append(h("h1", {}, "Webhooks"));
  const endpointsBox = h("div", { class: "results" });
  const secretBox = h("div", { id: "webhook-secret" });
  const deliveriesBox = h("div", { class: "results" });
  const endpointFilter = field({ label: "Endpoint", name: "endpointId", type: "select", options: [["", "All endpoints"]] });
  const statusFilter = field({ label: "Status", name: "status", type: "select", options: [["", "Any status"], ...DELIVERY_STATUSES.map((s) => [s, humanize(s)])] });
  let endpoints = [];
  const urlOf = (id) => (endpoints.find((e) => e.id === id) || { url: id }).url;

  const paging = pager("Delivery pages", async (after) => {
    const filter = { endpointId: endpointFilter.control.value || null, status: statusFilter.control.value || null };
    try {
      const { webhookDeliveries: d } = await gql(DELIVERIES, { after, filter });
      replace(deliveriesBox, deliveryTable(d.nodes, urlOf, () => paging.reload()));
      return d.pageInfo;
    } catch (e) {
      showFailure(e, deliveriesBox);
      return null;
    }
  });
  async function loadEndpoints() {
    try {
      endpoints = (await gql(ENDPOINTS)).webhookEndpoints.nodes;
      replace(endpointsBox, endpointTable(endpoints, loadEndpoints));
      const chosen = endpointFilter.control.value;
      replace(endpointFilter.control, h("option", { value: "" }, "All endpoints"), endpoints.map((e) => h("option", { value: e.id }, e.url)));
      endpointFilter.control.value = endpoints.some((e) => e.id === chosen) ? chosen : "";
    } catch (e) {
      showFailure(e, endpointsBox);
    }
  }
  const filters = form("delivery-filter", () => paging.reset(), endpointFilter, statusFilter, submit("Filter"));
  filters.classList.add("inline-form");
  page.append(
    section("Endpoints", endpointsBox),
    section("Add an endpoint", createForm(secretBox, loadEndpoints), secretBox),
    section("Delivery log", filters, deliveriesBox, paging.controls));
  await loadEndpoints();
  await paging.reset();
}

function endpointState(e) {
  if (!e.active) return badge("PAUSED");
  if (e.breakerOpenUntil && Date.parse(e.breakerOpenUntil) > Date.now()) return [badge("FAILING"), " until ", time(e.breakerOpenUntil)];
  return badge("ACTIVE");
}

function endpointTable(endpoints, reload) {
  const act = async (mutation, input, done) => {
    try {
      const data = await gql(mutation, { input });
      const r = Object.values(data)[0];
      if (r.userErrors.length) { announce(r.userErrors.map((e) => e.message).join(" "), { error: true }); return; }
      announce(done);
      reload();
    } catch (e) {
      showFailure(e);
    }
  };
  return table({
    caption: "Webhook endpoints",
    empty: "No endpoints yet.",
    rows: endpoints,
    columns: [
      { label: "URL", cell: (e) => [h("code", { class: "wrap" }, e.url), e.description ? h("div", { class: "muted" }, e.description) : null] },
      { label: "Events", cell: (e) => (e.eventTypes.length ? e.eventTypes.map(humanize).join(", ") : "All") },
      { label: "State", cell: endpointState },
      { label: "Failures in a row", class: "num", cell: (e) => String(e.consecutiveFailures) },
      { label: "Actions", cell: (e) => h("span", { class: "row-actions" },
        button(e.active ? "Pause" : "Resume", () => act(UPDATE, { id: e.id, active: !e.active }, e.active ? "Endpoint paused." : "Endpoint resumed."),
          { attrs: { "aria-label": `${e.active ? "Pause" : "Resume"} ${e.url}` } }),
        " ",
        confirmButton("Delete", "Delete it and its deliveries?", () => act(DELETE, { id: e.id }, "Endpoint deleted."),
          { attrs: { "aria-label": `Delete ${e.url}` } })) },
    ],
  });
}

function deliveryTable(nodes, urlOf, reload) {
  const redeliver = async (d) => {
    try {
      const { redeliverWebhook: r } = await gql(REDELIVER, { input: { deliveryId: d.id } });
      if (r.userErrors.length) { announce(r.userErrors.map((e) => e.message).join(" "), { error: true }); return; }
      announce("The delivery is queued again.");
      reload();
    } catch (e) {
      showFailure(e);
    }
  };
  return table({
    caption: "Deliveries",
    empty: "No deliveries match.",
    rows: nodes,
    columns: [
      { label: "Written", cell: (d) => time(d.createdAt) },
      { label: "Event", cell: (d) => [humanize(d.event.type), h("div", { class: "muted" }, h("code", {}, d.event.id))] },
      { label: "Endpoint", cell: (d) => h("code", { class: "wrap" }, urlOf(d.endpointId)) },
      { label: "Status", cell: (d) => badge(d.status) },
      { label: "Attempts", class: "num", cell: (d) => String(d.attempts) },
      { label: "Last answer", cell: (d) => (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : d.lastError || "—") },
      { label: "Delivered", cell: (d) => (d.deliveredAt ? time(d.deliveredAt) : d.nextAttemptAt ? ["next try ", time(d.nextAttemptAt)] : "—") },
      { label: "Actions", cell: (d) => button("Redeliver", () => redeliver(d), { attrs: { "aria-label": `Redeliver ${humanize(d.event.type)} event ${d.event.id}` } }) },
    ],
  });
}

function createForm(secretBox, onCreated) {
  const url = field({ label: "URL", name: "url", type: "url", path: "url", required: true, hint: "Where events are POSTed (https)." });
  const description = field({ label: "Description", name: "description", path: "description" });
  const coupon = field({ label: "Only this coupon's events (coupon ID, optional)", name: "couponId", path: "couponId", attrs: { autocomplete: "off" } });
  const types = EVENT_TYPES.map((t, i) => field({ label: humanize(t), name: `event-${t}`, type: "checkbox", path: i === 0 ? "eventTypes" : null }));
  const node = form("webhook-form", async () => {
    const chosen = EVENT_TYPES.filter((_, i) => types[i].control.checked);
    const input = { url: url.control.value.trim(), eventTypes: chosen };
    if (description.control.value.trim()) input.description = description.control.value.trim();
    if (coupon.control.value.trim()) input.couponId = coupon.control.value.trim();
    try {
      const { createWebhookEndpoint: r } = await gql(CREATE, { input });
      if (r.userErrors.length) { showErrors(node, r.userErrors); return; }
      clearErrors(node);
      node.reset();
      replace(secretBox, secretNotice("Signing secret of the new endpoint", r.secret));
      announce("Endpoint created. Its signing secret is shown once, below the form.");
      onCreated();
    } catch (e) {
      showFailure(e);
    }
  }, url, description, coupon,
  h("fieldset", {}, h("legend", {}, "Events to send (none checked: all)"), h("div", { class: "choices columns" }, types)),
  h("p", { class: "actions" }, submit("Create endpoint")));
  return node;
}

/** A secret shown once, with a button that copies it. */
export function secretNotice(title, secret) {
  const code = h("code", { class: "secret-value" }, secret || "");
  return h("div", { class: "secret", attrs: { role: "region", "aria-label": title } },
    h("p", {}, h("strong", {}, `${title}. `), "It is shown only this once: store it now."),
    h("p", {}, code, " ", button("Copy", async (event) => {
      try {
        await navigator.clipboard.writeText(secret);
        event.target.textContent = "Copied";
      } catch {
        announce("Copying is not allowed here; select the text and copy it.", { error: true });
      }
    })));
}
