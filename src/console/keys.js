// API keys: the list (active ones, or all), the create form (the secret is shown once),
// and per key "Rotate" (a new secret; the old one works for the grace period) and
// "Revoke", each asked again in place before it runs.

import { gql } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, showErrors, clearErrors, confirmButton, table,
  pager, time, humanize, badge, section, list,
} from "./dom.js";
import { secretNotice } from "./webhooks.js";

const ROLES = ["ADMIN", "STOREFRONT", "ANALYST", "PUBLIC"];
const GRACE_MINUTES = 60;
const KEY_FIELDS = "id name role prefix createdAt lastUsedAt channels revokedAt expiresAt active replacedById";
const LIST = `query ApiKeys($after: String, $filter: ApiKeyFilter) { apiKeys(first: 50, after: $after, filter: $filter) {
  nodes { ${KEY_FIELDS} } pageInfo { hasNextPage endCursor } } }`;
const CREATE = `mutation CreateApiKey($input: CreateApiKeyInput!) { createApiKey(input: $input) {
  apiKey { ${KEY_FIELDS} } secret userErrors { field code message } } }`;
const ROTATE = `mutation RotateApiKey($input: RotateApiKeyInput!) { rotateApiKey(input: $input) {
  apiKey { ${KEY_FIELDS} } secret previousApiKey { id expiresAt } userErrors { field code message } } }`;
const REVOKE = `mutation RevokeApiKey($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) {
  apiKey { ${KEY_FIELDS} } userErrors { field code message } } }`;

/** Routes #/keys (admins only). */
export function render(page) {
  page.append(h("h1", {}, "API keys"));
  const results = h("div", { class: "results" });
  const secretBox = h("div", { id: "key-secret" });
  const inactive = field({ label: "Also show revoked and expired keys", name: "includeInactive", type: "checkbox" });
  const showSecret = (title, secret) => {
    replace(secretBox, secretNotice(title, secret));
    secretBox.scrollIntoView({ block: "nearest" });
  };
  const paging = pager("Key pages", async (after) => {
    try {
      const { apiKeys } = await gql(LIST, { after, filter: { includeInactive: inactive.control.checked } });
      replace(results, keyTable(apiKeys.nodes, showSecret, () => paging.reload()));
      return apiKeys.pageInfo;
    } catch (e) {
      showFailure(e, results);
      return null;
    }
  });
  inactive.control.addEventListener("change", () => paging.reset());
  page.append(
    section("New key", createForm(showSecret, () => paging.reset()), secretBox),
    section("Keys", inactive, results, paging.controls));
  return paging.reset();
}

function keyState(k) {
  if (k.revokedAt) return [badge("REVOKED"), " ", time(k.revokedAt)];
  if (k.expiresAt) return [badge(k.active ? "EXPIRING" : "EXPIRED"), " ", time(k.expiresAt)];
  return badge("ACTIVE");
}

function keyTable(nodes, showSecret, reload) {
  const rotate = async (k) => {
    try {
      const { rotateApiKey: r } = await gql(ROTATE, { input: { id: k.id, graceMinutes: GRACE_MINUTES } });
      if (r.userErrors.length) { announce(r.userErrors.map((e) => e.message).join(" "), { error: true }); return; }
      showSecret(`New secret of ${k.name}`, r.secret);
      announce(`Key ${k.name} rotated; the old secret works for ${GRACE_MINUTES} more minutes. The new secret is shown once, above the list.`);
      reload();
    } catch (e) {
      showFailure(e);
    }
  };
  const revoke = async (k) => {
    try {
      const { revokeApiKey: r } = await gql(REVOKE, { input: { id: k.id } });
      if (r.userErrors.length) { announce(r.userErrors.map((e) => e.message).join(" "), { error: true }); return; }
      announce(`Key ${k.name} revoked.`);
      reload();
    } catch (e) {
      showFailure(e);
    }
  };
  return table({
    caption: "API keys",
    empty: "No keys.",
    rows: nodes,
    columns: [
      { label: "Name", cell: (k) => k.name },
      { label: "Role", cell: (k) => humanize(k.role) },
      { label: "Starts with", cell: (k) => h("code", {}, k.prefix) },
      { label: "Channels", cell: (k) => (k.channels.length ? k.channels.join(", ") : "all") },
      { label: "Created", cell: (k) => time(k.createdAt) },
      { label: "Last used", cell: (k) => time(k.lastUsedAt) },
      { label: "State", cell: keyState },
      { label: "Actions", cell: (k) => (k.active && !k.revokedAt ? h("span", { class: "row-actions" },
        confirmButton("Rotate", `Replace it? The old secret works ${GRACE_MINUTES} more minutes.`, () => rotate(k), { attrs: { "aria-label": `Rotate ${k.name} (${k.prefix}…)` } }),
        " ",
        confirmButton("Revoke", "Revoke it now?", () => revoke(k), { attrs: { "aria-label": `Revoke ${k.name} (${k.prefix}…)` }, class: "danger" })) : "—") },
    ],
  });
}

function createForm(showSecret, onCreated) {
  const name = field({ label: "Name", name: "name", path: "name", required: true, hint: "Who or what the key is for." });
  const role = field({ label: "Role", name: "role", type: "select", path: "role", value: "STOREFRONT",
    options: ROLES.map((r) => [r, humanize(r)]) });
  const channels = field({ label: "Channels", name: "channels", path: "channels", hint: "Comma-separated; empty for every channel." });
  const node = form("key-form", async () => {
    try {
      const input = { name: name.control.value.trim(), role: role.control.value, channels: list(channels.control.value) };
      const { createApiKey: r } = await gql(CREATE, { input });
      if (r.userErrors.length) { showErrors(node, r.userErrors); return; }
      clearErrors(node);
      node.reset();
      showSecret(`Secret of the new key ${r.apiKey.name}`, r.secret);
      announce(`Key ${r.apiKey.name} created. Its secret is shown once, below the form.`);
      onCreated();
    } catch (e) {
      showFailure(e);
    }
  }, h("div", { class: "grid" }, name, role, channels), h("p", { class: "actions" }, submit("Create key")));
  return node;
}
