// The customer's page address as the desk shows it. The address comes from the customer's
// browser (a navigate op, an rrweb Meta event), so it is untrusted: only an absolute http(s)
// URL becomes a link; anything else (javascript:, data:, a relative or broken URL) is text.

const WEB_PROTOCOLS = new Set(["http:", "https:"]);

/** The href for `url`, or null when it may not be a link. */
export function pageHref(url) {
  if (typeof url !== "string" || url === "") return null;
  let parsed;
  try {
    parsed = new URL(url); // no base: a relative URL is no link
  } catch {
    return null;
  }
  return WEB_PROTOCOLS.has(parsed.protocol) ? parsed.href : null;
}

/** The short form shown: path and query of a web URL, the text itself otherwise. */
export function displayUrl(url) {
  const href = pageHref(url);
  if (!href) return String(url ?? "");
  const parsed = new URL(href);
  return parsed.pathname + parsed.search;
}

/** Show `url` in the <a> `anchor`: a link for a web URL, plain text (no href) for anything else. */
export function showPageUrl(anchor, url, title = "") {
  const href = pageHref(url);
  anchor.textContent = url ? displayUrl(url) : "—";
  anchor.title = title || url || "";
  if (href) anchor.href = href;
  else anchor.removeAttribute("href");
}
