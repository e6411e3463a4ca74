// SVG charts for the reports page: bar (stacked when given several series), line and
// horizontal bar charts, each a <figure> with a <figcaption>, a legend and a visually
// hidden data table for screen readers (the SVG itself is hidden from them).
// The scale helpers at the top (`niceTicks`, `linearScale`, `bandScale`,
// `bucketStarts`, …) are pure; the chart builders use `document` only when called.

const SVG = "http://www.w3.org/2000/svg";
/** How many series colours the stylesheet defines (classes c0 … c5). */
export const PALETTE_SIZE = 6;

/** A "nice" number near `x` (1, 2 or 5 times a power of ten); `round` picks the nearest, else the next up. */
export function niceNumber(x, round) {
  if (x <= 0 || !Number.isFinite(x)) return 1;
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  let nice;
  if (round) nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * 10 ** exp;
}

/**
 * Axis ticks covering [min, max] with about `count` nice steps: `{min, max, step,
 * ticks}`. With `integer`, steps are whole numbers (for counts). An empty range is
 * widened so the axis still has a height.
 */
export function niceTicks(min, max, count = 5, { integer = false } = {}) {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 0;
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    if (lo === 0) hi = 1;
    else if (lo > 0) lo = 0;
    else hi = 0;
  }
  let step = niceNumber(niceNumber(hi - lo, false) / Math.max(1, count - 1), true);
  if (integer) step = Math.max(1, Math.round(step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const round = (v) => Number(v.toFixed(decimals));
  const start = round(Math.floor(lo / step) * step);
  const end = round(Math.ceil(hi / step) * step);
  const ticks = [];
  for (let v = start; v <= end + step / 2; v = round(v + step)) ticks.push(v);
  return { min: start, max: end, step, ticks };
}

/** Maps [d0, d1] onto [r0, r1] linearly (a zero-width domain maps to r0). */
export function linearScale([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  return (v) => (span === 0 ? r0 : r0 + ((v - d0) / span) * (r1 - r0));
}

/** `count` equal bands over [r0, r1] with `padding` (0–1) of each step between them. */
export function bandScale(count, [r0, r1], padding = 0.2) {
  const step = count > 0 ? (r1 - r0) / count : 0;
  const bandwidth = step * (1 - padding);
  return {
    step,
    bandwidth,
    x: (i) => r0 + i * step + (step - bandwidth) / 2,
    center: (i) => r0 + i * step + step / 2,
  };
}

/** A short label for a number: 1234 → "1.2k", 2500000 → "2.5M", 0.5 → "0.5". */
export function formatNumber(v) {
  const abs = Math.abs(v);
  const trim = (x, d) => String(Number(x.toFixed(d)));
  if (abs >= 1e9) return `${trim(v / 1e9, 1)}G`;
  if (abs >= 1e6) return `${trim(v / 1e6, 1)}M`;
  if (abs >= 1e4) return `${trim(v / 1e3, 0)}k`;
  if (abs >= 1e3) return `${trim(v / 1e3, 1)}k`;
  return trim(v, 2);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The UTC bucket starts (epoch milliseconds) from the bucket holding `from` up to, not
 * including, `to`: `bucket` is "HOUR" or "DAY". At most `limit` of them.
 */
export function bucketStarts(from, to, bucket, limit = 5000) {
  const width = bucket === "HOUR" ? HOUR : DAY;
  const first = Math.floor(new Date(from).getTime() / width) * width;
  const end = new Date(to).getTime();
  const out = [];
  for (let t = first; t < end && out.length < limit; t += width) out.push(t);
  return out;
}

/** Which of `count` x-axis labels to draw so that at most `max` show, evenly spaced. */
export function labelIndices(count, max) {
  if (count <= 0) return [];
  if (count <= max) return [...Array(count).keys()];
  const every = Math.ceil(count / Math.max(1, max));
  const out = [];
  for (let i = 0; i < count; i += every) out.push(i);
  return out;
}

/** Sums series values index by index (the heights of stacked bars). */
export function stackTotals(series, length) {
  const totals = new Array(length).fill(0);
  for (const s of series) s.values.forEach((v, i) => { totals[i] += v || 0; });
  return totals;
}

// ---- DOM ---------------------------------------------------------------------------

function svgEl(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function el(name, className, text) {
  const node = document.createElement(name);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The figure around a chart: caption, the SVG (hidden from screen readers), legend and
// the visually hidden table with the same numbers.
function figure({ title, description, series, table }, svg) {
  const fig = el("figure", "chart");
  const caption = el("figcaption");
  caption.append(el("strong", "", title));
  if (description) caption.append(" ", el("span", "chart-note", description));
  fig.append(caption, svg);
  if (series && series.length > 1) fig.append(legend(series));
  fig.append(table);
  return fig;
}

function legend(series) {
  const list = el("ul", "legend");
  series.forEach((s, k) => {
    const item = el("li");
    item.append(el("span", `swatch c${k % PALETTE_SIZE}`), s.name);
    list.append(item);
  });
  return list;
}

// The data table: one row per label, a column per series (in a visually hidden box:
// a table itself cannot be shrunk to nothing).
function dataTable(title, labelHeading, labels, series, format) {
  const table = el("table");
  table.append(el("caption", "", `${title}: data`));
  const head = el("tr");
  head.append(el("th", "", labelHeading));
  for (const s of series) head.append(el("th", "", s.name));
  for (const th of head.children) th.setAttribute("scope", "col");
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  labels.forEach((label, i) => {
    const row = el("tr");
    const th = el("th", "", label);
    th.setAttribute("scope", "row");
    row.append(th);
    for (const s of series) row.append(el("td", "", format(s.values[i] || 0)));
    tbody.append(row);
  });
  table.append(thead, tbody);
  const box = el("div", "vh");
  box.append(table);
  return box;
}

function canvas(width, height) {
  return svgEl("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart-svg", "aria-hidden": "true",
    focusable: "false", preserveAspectRatio: "xMidYMid meet",
  });
}

// Horizontal grid lines with their labels, and the x labels under the plot.
function axes(svg, box, ticks, y, labels, band) {
  for (const t of ticks.ticks) {
    svg.append(svgEl("line", { x1: box.left, x2: box.right, y1: y(t), y2: y(t), class: t === 0 ? "axis" : "gridline" }));
    svg.append(svgEl("text", { x: box.left - 6, y: y(t) + 4, "text-anchor": "end" }, formatNumber(t)));
  }
  const room = Math.max(1, Math.floor((box.right - box.left) / 64));
  for (const i of labelIndices(labels.length, room)) {
    svg.append(svgEl("text", { x: band.center(i), y: box.bottom + 16, "text-anchor": "middle" }, labels[i]));
  }
}

function plotBox(width, height) {
  return { left: 48, right: width - 12, top: 12, bottom: height - 28 };
}

/**
 * A bar chart over `labels` (x axis); several `series` ({name, values}) are stacked.
 * Options: title, description, width, height, format (for values), axisLabels
 * (shorter x labels), labelHeading (the data table's first column).
 */
export function barChart(options) {
  const { labels, series, width = 640, height = 240, format = formatNumber } = options;
  const svg = canvas(width, height);
  const box = plotBox(width, height);
  const totals = stackTotals(series, labels.length);
  const ticks = niceTicks(0, Math.max(0, ...totals), 5, { integer: options.integer });
  const y = linearScale([ticks.min, ticks.max], [box.bottom, box.top]);
  const band = bandScale(labels.length, [box.left, box.right], 0.25);
  axes(svg, box, ticks, y, options.axisLabels || labels, band);
  const base = new Array(labels.length).fill(0);
  series.forEach((s, k) => {
    s.values.forEach((v, i) => {
      if (!v) return;
      const top = y(base[i] + v);
      const rect = svgEl("rect", {
        x: band.x(i), y: top, width: Math.max(1, band.bandwidth), height: Math.max(0, y(base[i]) - top),
        class: `bar c${k % PALETTE_SIZE}`,
      });
      rect.append(svgEl("title", {}, `${labels[i]}: ${series.length > 1 ? `${s.name} ` : ""}${format(v)}`));
      svg.append(rect);
      base[i] += v;
    });
  });
  return figure({ ...options, table: dataTable(options.title, options.labelHeading || "Period", labels, series, format) }, svg);
}

/** A line chart: one line per series, with dots when there are few points. Options as `barChart`. */
export function lineChart(options) {
  const { labels, series, width = 640, height = 240, format = formatNumber } = options;
  const svg = canvas(width, height);
  const box = plotBox(width, height);
  const all = series.flatMap((s) => s.values.map((v) => v || 0));
  const ticks = niceTicks(Math.min(0, ...all), Math.max(0, ...all), 5, { integer: options.integer });
  const y = linearScale([ticks.min, ticks.max], [box.bottom, box.top]);
  const band = bandScale(labels.length, [box.left, box.right], 0);
  axes(svg, box, ticks, y, options.axisLabels || labels, band);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => [band.center(i), y(v || 0)]);
    const d = points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)} ${py.toFixed(1)}`).join(" ");
    svg.append(svgEl("path", { d, class: `line c${k % PALETTE_SIZE}` }));
    if (points.length > 60) return;
    points.forEach(([px, py], i) => {
      const dot = svgEl("circle", { cx: px, cy: py, r: 3, class: `dot c${k % PALETTE_SIZE}` });
      dot.append(svgEl("title", {}, `${labels[i]}: ${series.length > 1 ? `${s.name} ` : ""}${format(s.values[i] || 0)}`));
      svg.append(dot);
    });
  });
  return figure({ ...options, table: dataTable(options.title, options.labelHeading || "Period", labels, series, format) }, svg);
}

/**
 * Horizontal bars, one per label, longest first as given (`values` a list of numbers).
 * Options: title, description, labels, values, valueName (the data table's column),
 * labelHeading, width, format.
 */
export function hBarChart(options) {
  const { labels, values, width = 640, format = formatNumber } = options;
  const row = 28;
  const height = Math.max(1, labels.length) * row + 24;
  const svg = canvas(width, height);
  const labelRoom = Math.min(width * 0.45, 16 + 7 * Math.max(4, ...labels.map((l) => l.length)));
  const box = { left: labelRoom, right: width - 56, top: 4, bottom: height - 20 };
  const ticks = niceTicks(0, Math.max(0, ...values), 4, { integer: options.integer });
  const x = linearScale([0, ticks.max], [box.left, box.right]);
  for (const t of ticks.ticks) {
    svg.append(svgEl("line", { x1: x(t), x2: x(t), y1: box.top, y2: box.bottom, class: t === 0 ? "axis" : "gridline" }));
    svg.append(svgEl("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, formatNumber(t)));
  }
  labels.forEach((label, i) => {
    const top = box.top + i * row + 4;
    svg.append(svgEl("text", { x: box.left - 8, y: top + 14, "text-anchor": "end" }, label));
    const rect = svgEl("rect", { x: box.left, y: top, width: Math.max(0, x(values[i]) - box.left), height: row - 10, class: "bar c0" });
    rect.append(svgEl("title", {}, `${label}: ${format(values[i])}`));
    svg.append(rect, svgEl("text", { x: x(values[i]) + 4, y: top + 14 }, format(values[i])));
  });
  const series = [{ name: options.valueName || "Value", values }];
  return figure({ ...options, series, table: dataTable(options.title, options.labelHeading || "Item", labels, series, format) }, svg);
}
