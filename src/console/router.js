// Hash routes of the console: "#/coupons/<id>?status=ACTIVE" reads as
// {area: "coupons", parts: ["coupons", "<id>"], query: URLSearchParams}, and `href`
// builds such a link. Pure: no DOM.

/** The areas the console has, in the order of the navigation. */
export const AREAS = ["coupons", "campaigns", "rules", "reports", "webhooks", "keys", "audit"];

/** Areas only the admin role may see (their API fields are admin only). */
export const ADMIN_ONLY = new Set(["webhooks", "keys", "audit"]);

/** Reads a location hash; `area` is null for a hash that names no area. */
export function parseHash(hash) {
  const raw = String(hash || "").replace(/^#/, "");
  const [path, search = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  const area = parts.length && AREAS.includes(parts[0]) && path.startsWith("/") ? parts[0] : null;
  return { area, parts, query: new URLSearchParams(search) };
}

/** A hash link: href("coupons", id) → "#/coupons/<id escaped>", with an optional query object. */
export function href(...segments) {
  let query = null;
  if (segments.length && typeof segments[segments.length - 1] === "object") query = segments.pop();
  const path = `#/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== null && v !== undefined && v !== "")).toString() : "";
  return search ? `${path}?${search}` : path;
}
