/*
 * <coupon-input>: a coupon code box for any shop page. One file, no dependencies, no
 * build step. The coupon service serves it at /widget.js (and, never changing, at
 * /widget/v1.js); it asks that service whether a code applies to the shopper's order.
 *
 *   <script src="https://coupons.example.com/widget.js"></script>
 *   <coupon-input public-key="cpn_…" order='{"id":"cart-1","currency":"EUR",
 *     "subtotal":"40.00","items":[{"sku":"tea-1","quantity":2,"unitPrice":"20.00"}]}'>
 *   </coupon-input>
 *
 * Attributes
 *   endpoint      The service's base URL. Default: the origin this script was loaded from.
 *   public-key    An API key with the `public` role (it is visible to every shopper).
 *   order         The order as JSON, in the service's order shape (money as decimal
 *                 strings). Also settable as the `order` property, as an object.
 *   validate-on   `apply` (default): checks when the shopper presses Enter or the button.
 *                 `typing`: also checks 600 ms after the shopper stops typing.
 *   lang          Sent as Accept-Language, so texts and reasons come in that language.
 *                 Without it the browser's own Accept-Language applies.
 * The properties `endpoint`, `publicKey` and `validateOn` mirror their attributes.
 *
 * Events (bubbling, and crossing shadow roots)
 *   coupon-applied   detail: {code, discount: {amount, currency}, lines}
 *   coupon-rejected  detail: {code, reasons: [{code, message}]}. Besides the service's
 *                    rejection codes, `THROTTLED` (too many attempts; detail.retryAfter
 *                    holds the seconds) and `UNAVAILABLE` (the check itself failed).
 *   coupon-loading   detail: {loading}: true when a check starts, false when it ends.
 *
 * Styling: CSS custom properties (defaults meet WCAG AA contrast on a light page)
 *   --coupon-input-font         font shorthand (default: inherited from the page)
 *   --coupon-input-text         text colour of the field (#111827)
 *   --coupon-input-background   background of the field (#ffffff)
 *   --coupon-input-accent       button background (#1d4ed8)
 *   --coupon-input-accent-text  button text (#ffffff)
 *   --coupon-input-radius       corner radius of field and button (0.375rem)
 *   --coupon-input-border       border shorthand of the field (1px solid #6b7280)
 *   --coupon-input-error        rejection and error text (#b91c1c)
 *   --coupon-input-success      text when a coupon applies (#166534)
 *   --coupon-input-focus        focus ring colour (#1d4ed8)
 * and the parts `form`, `label`, `input`, `button` and `message` (::part(input) …).
 */
(() => {
  "use strict";
  // Loaded outside a browser (server-side rendering of a page that imports it): nothing to do.
  if (typeof window === "undefined" || typeof customElements === "undefined") return;
  if (customElements.get("coupon-input")) return;

  // Where this script came from: the default service. Imported as a module, the page's own.
  const loadedFrom = (() => {
    try {
      return new URL(document.currentScript.src).origin;
    } catch {
      return window.location.origin;
    }
  })();

  // Shown until the service's texts arrive, and if they never do.
  const DEFAULT_TEXTS = Object.freeze({
    language: "en",
    label: "Coupon code",
    apply: "Apply",
    checking: "Checking…",
    applied: "Coupon applied: {amount} off",
    throttled: "Too many attempts. Try again in {seconds} s.",
    unavailable: "The code could not be checked. Please try again.",
    empty: "Enter a code first.",
  });

  const TYPING_PAUSE_MS = 600;

  const CSS = `
:host {
  display: block;
  max-width: 28rem;
  font: var(--coupon-input-font, inherit);
}
:host([hidden]) { display: none; }
form { display: grid; gap: 0.375rem; margin: 0; }
label { font-weight: 600; }
.row { display: flex; gap: 0.5rem; }
input, button {
  font: inherit;
  line-height: 1.25;
  padding: 0.5rem 0.75rem;
  border-radius: var(--coupon-input-radius, 0.375rem);
  margin: 0;
}
input {
  flex: 1 1 auto;
  min-width: 0;
  border: var(--coupon-input-border, 1px solid #6b7280);
  background: var(--coupon-input-background, #ffffff);
  color: var(--coupon-input-text, #111827);
  letter-spacing: 0.04em;
}
input[aria-invalid="true"] { border-color: var(--coupon-input-error, #b91c1c); }
button {
  flex: none;
  font-weight: 600;
  padding-inline: 1rem;
  border: 1px solid transparent;
  background: var(--coupon-input-accent, #1d4ed8);
  color: var(--coupon-input-accent-text, #ffffff);
  cursor: pointer;
}
button:hover:not(:disabled) { filter: brightness(0.9); }
button[aria-disabled="true"] { cursor: progress; }
input:disabled, button:disabled { opacity: 0.6; cursor: not-allowed; }
input:focus { outline: none; }
button:focus { outline: none; }
input:focus-visible, button:focus-visible {
  outline: 3px solid var(--coupon-input-focus, #1d4ed8);
  outline-offset: 2px;
}
.message { margin: 0; min-height: 1.4em; font-size: 0.9375em; }
.message[data-state="checking"] { opacity: 0.85; }
.message[data-state="applied"] { color: var(--coupon-input-success, #166534); font-weight: 600; }
.message[data-state="rejected"],
.message[data-state="throttled"],
.message[data-state="error"] { color: var(--coupon-input-error, #b91c1c); }
@media (forced-colors: active) {
  input:focus-visible, button:focus-visible { outline-color: Highlight; }
}
`;

  // One style sheet for every instance, where the browser can share one.
  let sharedSheet = null;
  function adoptStyles(root) {
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
      try {
        if (!sharedSheet) {
          sharedSheet = new CSSStyleSheet();
          sharedSheet.replaceSync(CSS);
        }
        root.adoptedStyleSheets = [sharedSheet];
        return;
      } catch {
        // Fall back to a <style> element below.
      }
    }
    const style = document.createElement("style");
    style.textContent = CSS;
    root.append(style);
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  // The texts are asked for once per service and language, whatever the number of boxes.
  const textRequests = new Map();
  function loadTexts(endpoint, lang) {
    const key = `${endpoint}\n${lang || ""}`;
    if (!textRequests.has(key)) {
      const headers = { Accept: "application/json" };
      if (lang) headers["Accept-Language"] = lang;
      textRequests.set(key, fetch(`${endpoint}/api/widget/texts`, { headers })
        .then((response) => {
          if (!response.ok) throw new Error(`GET /api/widget/texts answered ${response.status}`);
          return response.json();
        })
        .then((texts) => {
          const merged = { ...DEFAULT_TEXTS };
          for (const name of Object.keys(DEFAULT_TEXTS)) {
            if (typeof texts[name] === "string" && texts[name]) merged[name] = texts[name];
          }
          return merged;
        })
        .catch((error) => {
          console.warn("coupon-input: texts not loaded, using English ones:", error);
          return null;
        }));
    }
    return textRequests.get(key);
  }

  function fill(template, name, value) {
    return template.split(`{${name}}`).join(String(value));
  }

  function capitalise(text, language) {
    const [first = "", ...rest] = text;
    try {
      return first.toLocaleUpperCase(language) + rest.join("");
    } catch {
      return first.toUpperCase() + rest.join("");
    }
  }

  function formatMoney(amount, currency, language) {
    try {
      return new Intl.NumberFormat(language, { style: "currency", currency }).format(Number(amount));
    } catch {
      return `${amount} ${currency}`;
    }
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  class CouponInput extends HTMLElement {
    static get observedAttributes() {
      return ["endpoint", "lang", "order"];
    }

    constructor() {
      super();
      this._texts = DEFAULT_TEXTS;
      this._order = null;
      this._orderFromProperty = false;
      this._request = null;
      this._typingTimer = null;
      this._countdown = null;
      this._lockedUntil = 0;
      this._lastChecked = null;
      this._loading = false;

      const root = this.attachShadow({ mode: "open" });
      adoptStyles(root);
      this._label = el("label", { part: "label", for: "code" }, DEFAULT_TEXTS.label);
      this._input = el("input", {
        part: "input",
        id: "code",
        name: "code",
        type: "text",
        autocomplete: "off",
        autocapitalize: "characters",
        spellcheck: "false",
        enterkeyhint: "go",
      });
      this._button = el("button", { part: "button", type: "submit" }, DEFAULT_TEXTS.apply);
      this._message = el("p", {
        part: "message",
        class: "message",
        id: "message",
        role: "status",
        "aria-live": "polite",
      });
      this._form = el("form", { part: "form", novalidate: "" },
        this._label, el("div", { class: "row" }, this._input, this._button), this._message);
      root.append(this._form);

      this._form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearTimeout(this._typingTimer);
        this._check(this._input.value.trim(), { quietWhenEmpty: false });
      });
      this._input.addEventListener("input", () => this._typed());
    }

    connectedCallback() {
      // A page or a framework may have set properties before this element was defined.
      for (const name of ["order", "endpoint", "publicKey", "validateOn"]) {
        if (Object.prototype.hasOwnProperty.call(this, name)) {
          const value = this[name];
          delete this[name];
          this[name] = value;
        }
      }
      this._refreshTexts();
      if (this._lockedUntil > Date.now()) this._startCountdown();
    }

    disconnectedCallback() {
      clearTimeout(this._typingTimer);
      clearInterval(this._countdown);
      this._countdown = null;
      if (this._request) {
        this._request.abort();
        this._request = null;
        this._setLoading(false);
      }
    }

    attributeChangedCallback(name, oldValue, newValue) {
      if (oldValue === newValue) return;
      if (name === "order") {
        this._orderFromProperty = false;
        this._order = null;
      } else if (this.isConnected) {
        this._refreshTexts();
      }
    }

    /** The order checked against, as an object (from the property or the attribute). */
    get order() {
      if (this._orderFromProperty) return this._order;
      const json = this.getAttribute("order");
      if (!json) return null;
      try {
        return JSON.parse(json);
      } catch {
        console.warn("coupon-input: the order attribute is not JSON");
        return null;
      }
    }

    set order(value) {
      this._orderFromProperty = true;
      this._order = value == null ? null : value;
    }

    /** The service's base URL: the `endpoint` attribute, else where this script came from. */
    get endpoint() {
      return (this.getAttribute("endpoint") || loadedFrom).replace(/\/+$/, "");
    }

    set endpoint(value) {
      this._reflect("endpoint", value);
    }

    /** The `public-key` attribute. */
    get publicKey() {
      return this.getAttribute("public-key");
    }

    set publicKey(value) {
      this._reflect("public-key", value);
    }

    /** The `validate-on` attribute: `apply` or `typing`. */
    get validateOn() {
      return this.getAttribute("validate-on") === "typing" ? "typing" : "apply";
    }

    set validateOn(value) {
      this._reflect("validate-on", value);
    }

    _reflect(name, value) {
      if (value == null) this.removeAttribute(name);
      else this.setAttribute(name, String(value));
    }

    // The language amounts are written in before the service names one.
    get _language() {
      if (this._texts !== DEFAULT_TEXTS) return this._texts.language;
      const tagged = this.closest("[lang]");
      return (tagged && tagged.lang) || navigator.language || "en";
    }

    async _refreshTexts() {
      const endpoint = this.endpoint;
      const lang = this.getAttribute("lang");
      const texts = await loadTexts(endpoint, lang);
      // Only the answer for the current endpoint and language counts.
      if (this.endpoint !== endpoint || this.getAttribute("lang") !== lang) return;
      this._texts = texts || DEFAULT_TEXTS;
      this._label.textContent = this._texts.label;
      this._button.textContent = this._texts.apply;
      if (this._lockedUntil > Date.now()) this._showCountdown();
    }

    _typed() {
      clearTimeout(this._typingTimer);
      const state = this._message.dataset.state;
      if (state === "rejected" || state === "empty") this._show("", "");
      if (this.validateOn !== "typing") return;
      this._typingTimer = setTimeout(() => {
        const code = this._input.value.trim();
        if (code && code !== this._lastChecked) this._check(code, { quietWhenEmpty: true });
      }, TYPING_PAUSE_MS);
    }

    _show(text, state) {
      this._message.textContent = text;
      if (state) this._message.dataset.state = state;
      else delete this._message.dataset.state;
      const invalid = state === "rejected" || state === "empty";
      if (invalid) {
        this._input.setAttribute("aria-invalid", "true");
        this._input.setAttribute("aria-describedby", "message");
      } else {
        this._input.removeAttribute("aria-invalid");
        this._input.removeAttribute("aria-describedby");
      }
    }

    _setLoading(loading) {
      if (this._loading === loading) return;
      this._loading = loading;
      if (loading) {
        this._form.setAttribute("aria-busy", "true");
        // Not `disabled`: that would take the keyboard focus away from the button.
        this._button.setAttribute("aria-disabled", "true");
      } else {
        this._form.removeAttribute("aria-busy");
        this._button.removeAttribute("aria-disabled");
      }
      this._emit("coupon-loading", { loading });
    }

    _emit(type, detail) {
      this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
    }

    async _check(code, { quietWhenEmpty }) {
      if (this._lockedUntil > Date.now()) return;
      if (!code) {
        if (!quietWhenEmpty) this._show(this._texts.empty, "empty");
        return;
      }
      const order = this.order;
      if (!order) {
        console.warn("coupon-input: no order to check the code against (set `order`)");
        this._show(this._texts.unavailable, "error");
        this._emit("coupon-rejected", { code, reasons: [{ code: "UNAVAILABLE", message: this._texts.unavailable }] });
        return;
      }
      // Enter pressed again while the same code is being checked.
      if (this._loading && code === this._lastChecked) return;
      if (this._request) this._request.abort();
      const request = new AbortController();
      this._request = request;
      this._lastChecked = code;
      this._setLoading(true);
      this._show(this._texts.checking, "checking");

      const headers = {
        Accept: "application/json",
        "Content-Type": "application/json",
        Authorization: `Bearer ${this.publicKey || ""}`,
      };
      const lang = this.getAttribute("lang");
      if (lang) headers["Accept-Language"] = lang;
      let response;
      let body;
      try {
        response = await fetch(`${this.endpoint}/api/coupon/validate`, {
          method: "POST",
          headers,
          body: JSON.stringify({ code, order }),
          signal: request.signal,
        });
        body = await readJson(response);
      } catch (error) {
        if (request.signal.aborted) return;
        this._finish(request);
        this._failed(code, error, null);
        return;
      }
      if (request.signal.aborted) return;
      this._finish(request);

      if (response.status === 429) {
        const fromBody = body && Number(body.retryAfter);
        const fromHeader = Number(response.headers.get("Retry-After"));
        const seconds = Math.max(1, Math.ceil(fromBody || fromHeader || 30));
        this._lockedUntil = Date.now() + seconds * 1000;
        this._startCountdown();
        this._emit("coupon-rejected", {
          code,
          reasons: [{ code: "THROTTLED", message: this._message.textContent }],
          retryAfter: seconds,
        });
      } else if (response.ok && body && body.valid === true && body.discount) {
        const { amount, currency } = body.discount;
        const shown = fill(this._texts.applied, "amount", formatMoney(amount, currency, this._language));
        this._show(shown, "applied");
        this._emit("coupon-applied", { code, discount: body.discount, lines: body.lines || [] });
      } else if (response.ok && body && body.valid === false && Array.isArray(body.reasons) && body.reasons.length) {
        this._show(capitalise(String(body.reasons[0].message), this._language), "rejected");
        this._emit("coupon-rejected", { code, reasons: body.reasons });
      } else {
        this._failed(code, new Error(`POST /api/coupon/validate answered ${response.status}`), body);
      }
    }

    _finish(request) {
      if (this._request === request) this._request = null;
      this._setLoading(false);
    }

    _failed(code, error, problem) {
      console.warn("coupon-input: the code could not be checked:", error, problem || "");
      this._lastChecked = null;
      this._show(this._texts.unavailable, "error");
      this._emit("coupon-rejected", {
        code,
        reasons: [{ code: "UNAVAILABLE", message: this._texts.unavailable }],
        problem,
      });
    }

    _startCountdown() {
      const hadFocus = this.shadowRoot.activeElement !== null;
      this._input.disabled = true;
      this._button.disabled = true;
      this._showCountdown();
      clearInterval(this._countdown);
      this._countdown = setInterval(() => {
        if (this._lockedUntil > Date.now()) {
          this._showCountdown();
          return;
        }
        clearInterval(this._countdown);
        this._countdown = null;
        this._lockedUntil = 0;
        this._lastChecked = null;
        this._input.disabled = false;
        this._button.disabled = false;
        this._show("", "");
        if (hadFocus) this._input.focus();
      }, 1000);
    }

    _showCountdown() {
      const seconds = Math.max(1, Math.ceil((this._lockedUntil - Date.now()) / 1000));
      this._show(fill(this._texts.throttled, "seconds", seconds), "throttled");
    }
  }

  customElements.define("coupon-input", CouponInput);
})();
