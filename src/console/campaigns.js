// Campaigns: the list with each campaign's window and usage (uses against its cap,
// discount against its budget), links to its coupons and report, and the create form
// (name, description, window, use cap, budget).

import { gql } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, showErrors, clearErrors, table, pager,
  time, money, section, intOrNull, fromLocalInput,
} from "./dom.js";
import { href } from "./router.js";

const LIST = `query CampaignList($after: String) { campaigns(first: 20, after: $after) {
  nodes { id name description startsAt endsAt maxUses budget { amount currency } usedCount
    discountUsed { amount currency } createdAt }
  pageInfo { hasNextPage endCursor } } }`;
const CREATE = `mutation CreateCampaign($input: CreateCampaignInput!) { createCampaign(input: $input) {
  campaign { id name } userErrors { field code message } } }`;

/** Routes #/campaigns. */
export function render(page, route, ctx) {
  page.append(h("h1", {}, "Campaigns"));
  const results = h("div", { class: "results" });
  const paging = pager("Campaign pages", async (after) => {
    try {
      const { campaigns } = await gql(LIST, { after });
      replace(results, campaignTable(campaigns.nodes));
      return campaigns.pageInfo;
    } catch (e) {
      showFailure(e, results);
      return null;
    }
  });
  page.append(section("All campaigns", results, paging.controls));
  if (ctx.canWrite) page.append(section("New campaign", createForm(() => paging.reset())));
  return paging.reset();
}

// "12 of 100" with a meter, or just the count when there is no cap.
function usage(used, cap, label) {
  if (!cap) return `${used} (no cap)`;
  return h("span", { class: "usage" },
    h("meter", { min: 0, max: cap, value: Math.min(used, cap), attrs: { "aria-label": label } }),
    ` ${used} of ${cap}`);
}

function budgetCell(k) {
  if (!k.budget) return "No budget";
  const cap = Number(k.budget.amount);
  const used = k.discountUsed ? Number(k.discountUsed.amount) : 0;
  return h("span", { class: "usage" },
    h("meter", { min: 0, max: cap || 1, value: Math.min(used, cap), attrs: { "aria-label": `Budget used of ${k.name}` } }),
    ` ${k.discountUsed ? k.discountUsed.amount : "0"} of ${money(k.budget)}`);
}

function campaignTable(nodes) {
  return table({
    caption: "Campaigns",
    empty: "No campaigns yet.",
    rows: nodes,
    columns: [
      { label: "Name", cell: (k) => [h("strong", {}, k.name), k.description ? h("div", { class: "muted" }, k.description) : null] },
      { label: "Window", cell: (k) => [k.startsAt ? time(k.startsAt) : "any time", " – ", k.endsAt ? time(k.endsAt) : "no end"] },
      { label: "Uses", cell: (k) => usage(k.usedCount, k.maxUses, `Uses of ${k.name}`) },
      { label: "Budget", cell: budgetCell },
      { label: "Coupons", cell: (k) => [
        h("a", { href: href("coupons", { campaign: k.id }) }, "Coupons", h("span", { class: "vh" }, ` of ${k.name}`)), " · ",
        h("a", { href: href("reports", { campaign: k.id }) }, "Report", h("span", { class: "vh" }, ` on ${k.name}`))] },
    ],
  });
}

function createForm(onCreated) {
  const name = field({ label: "Name", name: "name", path: "name", required: true });
  const description = field({ label: "Description", name: "description", type: "textarea", rows: 2, path: "description" });
  const startsAt = field({ label: "Starts", name: "startsAt", type: "datetime-local", path: "startsAt", hint: "Empty: no start." });
  const endsAt = field({ label: "Ends", name: "endsAt", type: "datetime-local", path: "endsAt", hint: "Empty: no end." });
  const maxUses = field({ label: "Most uses over all its coupons", name: "maxUses", type: "number", path: "maxUses", attrs: { min: 1, step: 1 } });
  const budget = field({ label: "Budget", name: "budget", path: "budget.amount budget", attrs: { inputmode: "decimal" }, hint: "Total discount its coupons may give. Empty: no budget." });
  const currency = field({ label: "Budget currency", name: "currency", path: "budget.currency", attrs: { maxlength: 3, autocomplete: "off" } });
  const node = form("campaign-form", async () => {
    const uses = intOrNull(maxUses.control.value);
    if (Number.isNaN(uses)) { showErrors(node, [{ field: ["input", "maxUses"], message: "Enter a whole number." }]); return; }
    const input = {
      name: name.control.value.trim(),
      description: description.control.value.trim() || null,
      startsAt: fromLocalInput(startsAt.control.value),
      endsAt: fromLocalInput(endsAt.control.value),
      maxUses: uses,
      budget: budget.control.value.trim()
        ? { amount: budget.control.value.trim(), currency: currency.control.value.trim().toUpperCase() } : null,
    };
    try {
      const { createCampaign: r } = await gql(CREATE, { input: Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null)) });
      if (r.userErrors.length) { showErrors(node, r.userErrors); return; }
      clearErrors(node);
      node.reset();
      announce(`Campaign ${r.campaign.name} created.`);
      onCreated();
    } catch (e) {
      showFailure(e);
    }
  }, name, description, h("div", { class: "grid" }, startsAt, endsAt, maxUses, budget, currency),
  h("p", { class: "actions" }, submit("Create campaign")));
  return node;
}
