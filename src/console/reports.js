// Reports: pick a coupon or a campaign and a range of days (default: the last 30,
// by day) and see its figures and SVG charts: redemptions and discount over time,
// validation outcomes over time, the funnel from validation to redemption, rejections
// by reason and redemptions by channel. The schema has validation outcomes for the
// whole range only, so the per-bucket ones are asked for bucket by bucket (aliases,
// 15 to a request) when the range has at most 62 buckets.

import { gql } from "./api.js";
import {
  h, replace, announce, showFailure, field, form, submit, showErrors, clearErrors, section, moneyList, humanize, uid,
} from "./dom.js";
import { barChart, lineChart, hBarChart, bucketStarts, formatNumber } from "./chart.js";

const CHOICES = `query ReportChoices { coupons(first: 100) { nodes { id name code } } campaigns(first: 100) { nodes { id name } } }`;
const FIGURES = "redemptions reversals totalDiscount { amount currency } totalOrderValue { amount currency }";
const REPORT_FIELDS = `from to codesIssued validationAttempts validationOutcomes { outcome attempts } reservations
  uniqueCustomers codesRedeemed redemptionRate totals { ${FIGURES} }
  series { start figures { ${FIGURES} } } channels { channel figures { ${FIGURES} } }`;
const REPORTS = {
  coupon: `query CouponReport($id: ID!, $from: DateTime!, $to: DateTime!, $bucket: ReportBucket!) {
    report: couponReport(couponId: $id, from: $from, to: $to, bucket: $bucket) { ${REPORT_FIELDS} } }`,
  campaign: `query CampaignReport($id: ID!, $from: DateTime!, $to: DateTime!, $bucket: ReportBucket!) {
    report: campaignReport(campaignId: $id, from: $from, to: $to, bucket: $bucket) { ${REPORT_FIELDS} } }`,
};
const CHUNK = 15;
const MAX_OUTCOME_BUCKETS = 62;
const DAY_MS = 86_400_000;
const TOP_OUTCOMES = 5;

/** The query for validation outcomes of `count` buckets of a coupon or campaign: aliases b0, b1, …. */
export function outcomesQuery(kind, count) {
  const call = kind === "campaign" ? "campaignReport(campaignId: $id" : "couponReport(couponId: $id";
  const vars = ["$id: ID!"];
  const parts = [];
  for (let i = 0; i < count; i += 1) {
    vars.push(`$f${i}: DateTime!`, `$t${i}: DateTime!`);
    parts.push(`b${i}: ${call}, from: $f${i}, to: $t${i}) { validationOutcomes { outcome attempts } }`);
  }
  return `query ValidationOutcomesByBucket(${vars.join(", ")}) { ${parts.join(" ")} }`;
}

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/** Routes #/reports (?coupon=<id> or ?campaign=<id> preselects one). */
export async function render(page, route, ctx) {
  page.append(h("h1", {}, "Reports"));
  const output = h("div", { id: "report-output" });
  let choices;
  try {
    choices = await gql(CHOICES);
  } catch (e) {
    showFailure(e, page.appendChild(h("div")));
    return;
  }
  const wanted = { coupon: route.query.get("coupon"), campaign: route.query.get("campaign") };
  const kindName = uid("kind");
  const kinds = ["coupon", "campaign"].map((k) => h("input", { type: "radio", name: kindName, id: `${kindName}-${k}`, value: k,
    checked: k === (wanted.campaign ? "campaign" : "coupon") }));
  const coupon = field({ label: "Coupon", name: "coupon", type: "select", path: "couponId",
    options: choices.coupons.nodes.map((c) => [c.id, c.code ? `${c.name} (${c.code})` : c.name]) });
  const campaign = field({ label: "Campaign", name: "campaign", type: "select", path: "campaignId",
    options: choices.campaigns.nodes.map((c) => [c.id, c.name]) });
  await preselect(coupon.control, wanted.coupon, "coupon");
  await preselect(campaign.control, wanted.campaign, "campaign");
  const today = Date.now();
  const first = field({ label: "First day", name: "from", type: "date", path: "from", value: isoDay(today - 29 * DAY_MS) });
  const last = field({ label: "Last day", name: "to", type: "date", path: "to", value: isoDay(today), hint: "Days are UTC days." });
  const bucket = field({ label: "Bucket", name: "bucket", type: "select", path: "bucket", options: [["DAY", "Day"], ["HOUR", "Hour (at most 31 days)"]] });
  const kind = () => kinds.find((k) => k.checked).value;
  const showKind = () => { coupon.hidden = kind() !== "coupon"; campaign.hidden = kind() !== "campaign"; };
  kinds.forEach((k) => k.addEventListener("change", showKind));
  showKind();

  const node = form("report-form", async () => {
    clearErrors(node);
    const subject = kind() === "coupon" ? coupon : campaign;
    const request = {
      kind: kind(), id: subject.control.value, bucket: bucket.control.value,
      from: `${first.control.value}T00:00:00Z`,
      to: last.control.value ? new Date(Date.parse(`${last.control.value}T00:00:00Z`) + DAY_MS).toISOString() : "",
    };
    const problems = [];
    if (!request.id) problems.push({ field: ["input", `${request.kind}Id`], message: `Choose a ${request.kind}.` });
    if (!first.control.value) problems.push({ field: ["input", "from"], message: "Enter the first day." });
    if (!last.control.value) problems.push({ field: ["input", "to"], message: "Enter the last day." });
    else if (first.control.value && last.control.value < first.control.value) problems.push({ field: ["input", "to"], message: "The last day comes before the first." });
    if (problems.length) { showErrors(node, problems); return; }
    await showReport(output, request, ctx);
  },
  h("fieldset", {}, h("legend", {}, "Report on"), h("div", { class: "choices" },
    kinds.map((k) => h("span", { class: "choice" }, k, " ", h("label", { htmlFor: k.id }, k.value === "coupon" ? "A coupon" : "A campaign"))))),
  h("div", { class: "grid" }, coupon, campaign, first, last, bucket),
  h("p", { class: "actions" }, submit("Show report")));
  page.append(node, output);
  const subject = kind() === "coupon" ? coupon : campaign;
  if (subject.control.value) node.requestSubmit();
  else replace(output, h("p", {}, `There is no ${kind()} to report on yet.`));
}

// Makes sure `id` is a choice of `select` (it may be older than the first 100), and picks it.
async function preselect(select, id, kind) {
  if (!id) return;
  if (![...select.options].some((o) => o.value === id)) {
    try {
      const q = kind === "coupon" ? `query($id: ID!) { item: coupon(id: $id) { id name } }` : `query($id: ID!) { item: campaign(id: $id) { id name } }`;
      const { item } = await gql(q, { id });
      if (item) select.prepend(h("option", { value: item.id }, item.name));
    } catch { /* the report call will say what is wrong */ }
  }
  select.value = id;
}

async function showReport(output, request, ctx) {
  replace(output, h("p", {}, "Loading the report…"));
  output.setAttribute("aria-busy", "true");
  try {
    const { report } = await gql(REPORTS[request.kind], { id: request.id, from: request.from, to: request.to, bucket: request.bucket });
    if (!report) { replace(output, h("p", {}, `That ${request.kind} does not exist.`)); return; }
    const width = Math.max(320, Math.min(900, output.clientWidth || 640));
    const outcomesSlot = h("div", { class: "chart-slot" }, h("p", {}, "Loading validation outcomes…"));
    replace(output,
      section("Summary", summary(report)),
      section("Over time", ...timeCharts(report, request, width), outcomesSlot),
      section("Breakdowns", ...breakdownCharts(report, width)));
    announce(`Report ready: ${report.totals.redemptions} redemptions.`);
    await outcomesOverTime(outcomesSlot, report, request, width, ctx);
  } catch (e) {
    showFailure(e, output);
  } finally {
    output.removeAttribute("aria-busy");
  }
}

function summary(r) {
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  const rate = r.redemptionRate === null || r.redemptionRate === undefined ? "—" : `${(r.redemptionRate * 100).toFixed(1)}%`;
  return h("dl", { class: "details stats" },
    row("Redemptions", String(r.totals.redemptions)),
    row("Reversals", String(r.totals.reversals)),
    row("Discount given", moneyList(r.totals.totalDiscount)),
    row("Order value", moneyList(r.totals.totalOrderValue)),
    row("Reservations", String(r.reservations)),
    row("Unique customers", String(r.uniqueCustomers)),
    row("Codes issued", String(r.codesIssued)),
    row("Codes redeemed", String(r.codesRedeemed)),
    row("Redemption rate", rate),
    row("Validation attempts", String(r.validationAttempts)));
}

// Labels of the buckets: long ones for the data tables, short ones for the x axis.
function bucketLabels(starts, bucket) {
  const hour = bucket === "HOUR";
  const short = new Intl.DateTimeFormat(undefined, hour
    ? { hour: "2-digit", minute: "2-digit", timeZone: "UTC" } : { month: "short", day: "numeric", timeZone: "UTC" });
  return {
    labels: starts.map((t) => (hour ? `${new Date(t).toISOString().slice(0, 13).replace("T", " ")}:00 UTC` : isoDay(t))),
    axisLabels: starts.map((t) => short.format(new Date(t))),
  };
}

function timeCharts(r, request, width) {
  const starts = bucketStarts(request.from, request.to, request.bucket);
  const byStart = new Map(r.series.map((p) => [Date.parse(p.start), p.figures]));
  const { labels, axisLabels } = bucketLabels(starts, request.bucket);
  const per = request.bucket === "HOUR" ? "hour" : "day";
  const redemptions = starts.map((t) => (byStart.get(t) ? byStart.get(t).redemptions : 0));
  const currencies = [...new Set(r.series.flatMap((p) => p.figures.totalDiscount.map((m) => m.currency)))];
  const discount = currencies.map((cur) => ({
    name: cur,
    values: starts.map((t) => {
      const m = byStart.get(t) && byStart.get(t).totalDiscount.find((x) => x.currency === cur);
      return m ? Number(m.amount) : 0;
    }),
  }));
  return [
    barChart({ title: `Redemptions per ${per}`, description: r.totals.redemptions ? "" : "No redemptions in this range.",
      labels, axisLabels, series: [{ name: "Redemptions", values: redemptions }], width, integer: true, format: String }),
    lineChart({ title: `Discount given per ${per}`, description: currencies.length ? "Net of refunds, per currency." : "No discount given in this range.",
      labels, axisLabels, series: discount.length ? discount : [{ name: "Discount", values: starts.map(() => 0) }], width,
      format: (v) => String(Number(v.toFixed(4))) }),
  ];
}

function breakdownCharts(r, width) {
  const valid = r.validationOutcomes.find((o) => o.outcome === "VALID");
  const rejections = r.validationOutcomes.filter((o) => o.outcome !== "VALID").sort((a, b) => b.attempts - a.attempts);
  const channels = [...r.channels].sort((a, b) => b.figures.redemptions - a.figures.redemptions);
  return [
    hBarChart({ title: "From validation to redemption", labelHeading: "Step", valueName: "Count", width, integer: true, format: String,
      labels: ["Validation attempts", "Valid", "Reservations", "Redemptions"],
      values: [r.validationAttempts, valid ? valid.attempts : 0, r.reservations, r.totals.redemptions] }),
    hBarChart({ title: "Rejections by reason", labelHeading: "Reason", valueName: "Attempts", width, integer: true, format: String,
      description: rejections.length ? "Validation attempts refused, by the first reason." : "No validation was refused in this range.",
      labels: rejections.map((o) => humanize(o.outcome)), values: rejections.map((o) => o.attempts) }),
    hBarChart({ title: "Redemptions by channel", labelHeading: "Channel", valueName: "Redemptions", width, integer: true, format: String,
      description: channels.length ? "" : "No redemptions in this range.",
      labels: channels.map((c) => c.channel || "No channel"), values: channels.map((c) => c.figures.redemptions) }),
  ];
}

// Validation outcomes per bucket, asked for bucket by bucket; the top outcomes stacked.
async function outcomesOverTime(slot, r, request, width, ctx) {
  const starts = bucketStarts(request.from, request.to, request.bucket);
  const per = request.bucket === "HOUR" ? "hour" : "day";
  const title = `Validation outcomes per ${per}`;
  if (!r.validationAttempts) { replace(slot, h("p", { class: "note" }, `${title}: no validation attempts in this range.`)); return; }
  if (starts.length > MAX_OUTCOME_BUCKETS) {
    replace(slot, h("p", { class: "note" }, `${title}: pick at most ${MAX_OUTCOME_BUCKETS} ${per}s to see them over time.`));
    return;
  }
  const width_ = request.bucket === "HOUR" ? 3_600_000 : DAY_MS;
  const end = Date.parse(request.to);
  const perBucket = [];
  for (let i = 0; i < starts.length; i += CHUNK) {
    const chunk = starts.slice(i, i + CHUNK);
    const vars = { id: request.id };
    chunk.forEach((t, k) => {
      vars[`f${k}`] = new Date(Math.max(t, Date.parse(request.from))).toISOString();
      vars[`t${k}`] = new Date(Math.min(t + width_, end)).toISOString();
    });
    try {
      const data = await gql(outcomesQuery(request.kind, chunk.length), vars);
      chunk.forEach((_, k) => perBucket.push(data[`b${k}`] ? data[`b${k}`].validationOutcomes : []));
    } catch (e) {
      replace(slot, h("p", { class: "note" }, `${title}: could not be loaded (${e.message}).`));
      return;
    }
    if (ctx.signal.aborted || !slot.isConnected) return;
  }
  const ranked = [...r.validationOutcomes].sort((a, b) => b.attempts - a.attempts).map((o) => o.outcome);
  const top = ranked.slice(0, TOP_OUTCOMES);
  const series = top.map((outcome) => ({
    name: humanize(outcome),
    values: perBucket.map((list) => (list.find((o) => o.outcome === outcome) || { attempts: 0 }).attempts),
  }));
  if (ranked.length > TOP_OUTCOMES) {
    series.push({ name: "Other", values: perBucket.map((list) => list.filter((o) => !top.includes(o.outcome)).reduce((n, o) => n + o.attempts, 0)) });
  }
  const { labels, axisLabels } = bucketLabels(starts, request.bucket);
  replace(slot, barChart({ title, description: "Stacked by outcome.", labels, axisLabels, series, width, integer: true, format: (v) => formatNumber(v) }));
}
