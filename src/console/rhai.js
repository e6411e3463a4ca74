// Rhai syntax highlighting for the rule editor: a small tokenizer (`tokenize`) that
// splits a script into keywords, strings (with `${}` interpolation in backtick
// strings), numbers, comments, operators, punctuation and names, keeping every
// character, so the tokens' texts joined give the source back exactly.
// `highlight` turns the tokens into <span class="tok-…"> nodes; `parseRuleError`
// reads the "name:line:column: message" text the server gives for compile errors.
// Pure: nothing here touches the DOM at import time.

/** Rhai's keywords (and the reserved words a script may not use as names). */
export const KEYWORDS = new Set([
  "let", "const", "fn", "if", "else", "switch", "do", "while", "until", "loop", "for",
  "in", "continue", "break", "return", "throw", "try", "catch", "private", "import",
  "export", "as", "global", "this", "true", "false", "is", "Fn", "call", "curry",
  "type_of", "print", "debug", "eval", "is_def_fn", "is_def_var", "is_shared",
]);

// Longest first, so "..=" wins over ".." and "." (a punctuation mark).
const OPERATORS = [
  "..=", "**=", "<<=", ">>=", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=",
  "/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", "..", "=>", "::", "?.", "??",
  "!", "+", "-", "*", "/", "%", "=", "<", ">", "&", "|", "^", "?",
];
const PUNCTUATION = ["#{", "{", "}", "(", ")", "[", "]", ",", ";", ".", ":"];

const NUMBER = /0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const SPACE = /\s+/y;
const CHAR = /'(?:\\u\{[0-9a-fA-F]{1,6}\}|\\x[0-9a-fA-F]{2}|\\.|[^'\\\n])'/y;

function match(re, src, at) {
  re.lastIndex = at;
  const m = re.exec(src);
  return m ? m[0] : null;
}

/**
 * Splits Rhai source into tokens `{type, text, start}`; `type` is one of "comment",
 * "string", "interpolation", "number", "keyword", "function", "name", "operator",
 * "punctuation", "space" and "text" (anything else).
 */
export function tokenize(src) {
  const lexer = { src, at: 0, tokens: [] };
  while (lexer.at < src.length) readToken(lexer, null);
  return lexer.tokens;
}

function push(lexer, type, end) {
  lexer.tokens.push({ type, text: lexer.src.slice(lexer.at, end), start: lexer.at });
  lexer.at = end;
}

// Reads one token at `lexer.at`. Inside an interpolation, `braces` counts the open
// braces of its expression; the "}" that closes it is left for the template string.
function readToken(lexer, braces) {
  const { src, at } = lexer;
  const c = src[at];
  const next = src[at + 1];
  if (c === "/" && next === "/") return push(lexer, "comment", lineEnd(src, at));
  if (c === "/" && next === "*") return push(lexer, "comment", blockCommentEnd(src, at));
  if (c === '"') return push(lexer, "string", quotedEnd(src, at));
  if (c === "`") return readTemplate(lexer);
  const space = match(SPACE, src, at);
  if (space) return push(lexer, "space", at + space.length);
  const ch = match(CHAR, src, at);
  if (ch) return push(lexer, "string", at + ch.length);
  const number = match(NUMBER, src, at);
  if (number) return push(lexer, "number", at + number.length);
  const name = match(NAME, src, at);
  if (name) return push(lexer, nameType(src, at, name), at + name.length);
  const punct = PUNCTUATION.find((p) => src.startsWith(p, at));
  const op = OPERATORS.find((o) => src.startsWith(o, at));
  if (punct && (!op || punct.length >= op.length)) {
    if (braces && punct.endsWith("{")) braces.depth += 1;
    if (braces && punct === "}") braces.depth -= 1;
    return push(lexer, "punctuation", at + punct.length);
  }
  if (op) return push(lexer, "operator", at + op.length);
  return push(lexer, "text", at + 1);
}

function nameType(src, at, name) {
  if (KEYWORDS.has(name)) return "keyword";
  let i = at + name.length;
  while (src[i] === " " || src[i] === "\t") i += 1;
  return src[i] === "(" || (src[i] === "!" && src[i + 1] === "(") ? "function" : "name";
}

function lineEnd(src, at) {
  const nl = src.indexOf("\n", at);
  return nl === -1 ? src.length : nl;
}

// Block comments nest in Rhai; an unclosed one runs to the end.
function blockCommentEnd(src, at) {
  let depth = 0;
  let i = at;
  while (i < src.length) {
    if (src.startsWith("/*", i)) { depth += 1; i += 2; continue; }
    if (src.startsWith("*/", i)) { depth -= 1; i += 2; if (depth === 0) return i; continue; }
    i += 1;
  }
  return src.length;
}

// A "…" string: backslash escapes (and a backslash before a line break continues it);
// an unclosed one ends at the end of its line.
function quotedEnd(src, at) {
  let i = at + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === "\\") { i += 2; continue; }
    if (c === '"') return i + 1;
    if (c === "\n") return i;
    i += 1;
  }
  return src.length;
}

// A `…` string may span lines and holds `${expression}` parts, tokenized as code.
function readTemplate(lexer) {
  const { src } = lexer;
  let i = lexer.at + 1;
  while (i < src.length) {
    if (src[i] === "`") { push(lexer, "string", i + 1); return; }
    if (src.startsWith("${", i)) {
      if (i > lexer.at) push(lexer, "string", i);
      push(lexer, "interpolation", i + 2);
      readInterpolation(lexer);
      i = lexer.at;
      continue;
    }
    i += 1;
  }
  push(lexer, "string", src.length);
}

function readInterpolation(lexer) {
  const braces = { depth: 0 };
  while (lexer.at < lexer.src.length) {
    if (lexer.src[lexer.at] === "}" && braces.depth === 0) {
      push(lexer, "interpolation", lexer.at + 1);
      return;
    }
    readToken(lexer, braces);
  }
}

/** Number of lines of `src` as an editor shows them (an empty text has one). */
export function lineCount(src) {
  let n = 1;
  for (let i = src.indexOf("\n"); i !== -1; i = src.indexOf("\n", i + 1)) n += 1;
  return n;
}

/** The 1-based line and column of offset `at` in `src`. */
export function positionOf(src, at) {
  const before = src.slice(0, at);
  const line = lineCount(before);
  return { line, column: at - before.lastIndexOf("\n") };
}

/** The offset of 1-based `line` and `column` in `src` (clamped to the text). */
export function offsetOf(src, line, column) {
  let at = 0;
  for (let l = 1; l < line; l += 1) {
    const nl = src.indexOf("\n", at);
    if (nl === -1) return src.length;
    at = nl + 1;
  }
  const end = lineEnd(src, at);
  return Math.min(at + Math.max(column, 1) - 1, end);
}

/**
 * Reads a compile error as the server words it: "rule:12:5: message", "rule:12:
 * message" or just "message". Returns `{line, column, message}`; line and column are
 * null when the text names none.
 */
export function parseRuleError(text) {
  const m = /^[^\s:]*:(\d+)(?::(\d+))?: ([\s\S]*)$/.exec(text);
  if (!m) return { line: null, column: null, message: text };
  return { line: Number(m[1]), column: m[2] ? Number(m[2]) : null, message: m[3] };
}

/**
 * The highlighted source as a DocumentFragment of text and <span class="tok-TYPE">
 * nodes (for names and spaces, plain text). Call it with the page's `document`.
 */
export function highlight(src, doc = globalThis.document) {
  const fragment = doc.createDocumentFragment();
  for (const token of tokenize(src)) {
    if (token.type === "space" || token.type === "name") {
      fragment.append(doc.createTextNode(token.text));
    } else {
      const span = doc.createElement("span");
      span.className = `tok-${token.type}`;
      span.textContent = token.text;
      fragment.append(span);
    }
  }
  // A final line break would otherwise collapse, leaving the overlay a line short.
  if (src.endsWith("\n") || src === "") fragment.append(doc.createTextNode(" "));
  return fragment;
}
