// Line diff for comparing rule versions: the longest common subsequence of two texts'
// lines (dynamic programming, after the common head and tail are set aside), as a
// list of kept, removed and added lines with their line numbers, and `hunks` to show
// only the changes with a few lines of context. Pure: no DOM.

/** Most cells the LCS table may have; beyond it the middle is shown as replaced whole. */
export const MAX_CELLS = 4_000_000;

/** The lines of `text` (CRLF and CR read as LF; a final line break adds no line). */
export function splitLines(text) {
  if (text === "") return [];
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * The edit script from `before` to `after` (arrays of strings): entries
 * `{type: "same"|"del"|"add", text, oldLine, newLine}`, with 1-based line numbers
 * (null on the side a line is not on). Removals come before additions at a change.
 */
export function diffSequences(before, after) {
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head += 1;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head
    && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail += 1;
  const a = before.slice(head, before.length - tail);
  const b = after.slice(head, after.length - tail);
  const ops = [];
  for (let i = 0; i < head; i += 1) ops.push(["same", i, i]);
  for (const [type, i, j] of middle(a, b)) ops.push([type, i === null ? null : i + head, j === null ? null : j + head]);
  for (let k = tail; k > 0; k -= 1) ops.push(["same", before.length - k, after.length - k]);
  return ops.map(([type, i, j]) => ({
    type,
    text: type === "add" ? after[j] : before[i],
    oldLine: type === "add" ? null : i + 1,
    newLine: type === "del" ? null : j + 1,
  }));
}

// The changed middle: [type, index in a, index in b] triples.
function middle(a, b) {
  const n = a.length;
  const m = b.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    return [...a.map((_, i) => ["del", i, null]), ...b.map((_, j) => ["add", null, j])];
  }
  const table = lcsTable(a, b);
  const at = (i, j) => table[i * (m + 1) + j];
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push(["same", i, j]); i += 1; j += 1; }
    else if (j >= m || (i < n && at(i + 1, j) >= at(i, j + 1))) { out.push(["del", i, null]); i += 1; }
    else { out.push(["add", null, j]); j += 1; }
  }
  return out;
}

// table[i][j]: length of the LCS of a[i..] and b[j..], flattened row by row.
function lcsTable(a, b) {
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  const table = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i * width + j] = a[i] === b[j]
        ? table[(i + 1) * width + j + 1] + 1
        : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  return table;
}

/** The line diff of two texts (see `diffSequences`). */
export function diffLines(before, after) {
  return diffSequences(splitLines(before), splitLines(after));
}

/** How many lines a diff adds, removes and keeps. */
export function summarize(ops) {
  const count = { added: 0, removed: 0, unchanged: 0 };
  for (const op of ops) {
    if (op.type === "add") count.added += 1;
    else if (op.type === "del") count.removed += 1;
    else count.unchanged += 1;
  }
  return count;
}

/**
 * The changes with `context` kept lines around each: a list of entries, each an op
 * as above or `{type: "skip", count}` standing for that many unchanged lines left out.
 */
export function hunks(ops, context = 3) {
  const keep = ops.map(() => false);
  ops.forEach((op, k) => {
    if (op.type === "same") return;
    for (let d = Math.max(0, k - context); d <= Math.min(ops.length - 1, k + context); d += 1) keep[d] = true;
  });
  const out = [];
  let skipped = 0;
  ops.forEach((op, k) => {
    if (keep[k]) {
      if (skipped) out.push({ type: "skip", count: skipped });
      skipped = 0;
      out.push(op);
    } else {
      skipped += 1;
    }
  });
  if (skipped) out.push({ type: "skip", count: skipped });
  return out;
}
