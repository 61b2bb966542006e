// The co-browsing widget on any page of any origin, as an ES module:
//
//   <script type="module">
//     import { start } from "https://DESK/static/cobrowse/embed.mjs";
//     start({ site: "pk_live_...", identity: async () => (await fetch("/my/cobrowse-jwt")).text() });
//   </script>
//
// embed.js (the one-tag install) loads this module and calls start() with its data-* options.
//
// Guarantees:
//   - The desk's base URL is where this module was loaded from (…/static/cobrowse/embed.mjs
//     → …/), unless `desk` says otherwise (static files on a CDN of their own).
//   - start() puts one widget per site on the page; calling it again for the same site returns
//     the same widget.
//   - Bad options throw a TypeError that says which; everything the desk refuses later goes to
//     the console (widget.js), never as an exception into the page's code.

import { deskOf } from "./api.js";
import { mountWidget } from "./widget.js";

const started = new Map(); // site -> Promise of the mounted widget

/**
 * Start the widget on this page.
 * @param {object} options
 * @param {string} options.site the site's public key (the desk's admin shows it)
 * @param {string | (() => string | null | Promise<string | null>)} [options.identity] the
 *   customer's identity signed by the site's backend (a JWT, docs/install.md), or a function
 *   that returns one when the customer asks for help; by default window.CobrowseIdentity
 * @param {string} [options.desk] the desk's base URL; by default where this module came from
 * @param {{id: string, token: string, ws_url?: string}} [options.session] a session the site's
 *   backend opened for this customer through the desk's REST API (`POST /api/v1/sessions`,
 *   docs/integrations.md): its id and `embed.token`. The widget joins it at once, as it would
 *   continue a session of its own, instead of waiting for "Get help".
 * @returns {Promise<{host: HTMLElement}>} once the widget is on the page
 */
export function start({ site, identity, desk, session } = {}) {
  if (typeof site !== "string" || !site.trim()) {
    throw new TypeError("cobrowse start(): `site` must be the site's public key, e.g. start({site: \"pk_live_…\"})");
  }
  if (identity !== undefined && identity !== null && typeof identity !== "string" && typeof identity !== "function") {
    throw new TypeError("cobrowse start(): `identity` must be a signed token (string) or a function returning one");
  }
  if (session !== undefined && session !== null && !isHandedSession(session)) {
    throw new TypeError("cobrowse start(): `session` must be {id, token} of a session the desk's API opened");
  }
  const key = site.trim();
  if (!started.has(key)) {
    const base = desk ? new URL(desk, location.href).href : deskOf(import.meta.url);
    started.set(
      key,
      bodyReady().then(() => {
        const widget = mountWidget({ site: key, desk: base, identity: identityGetter(identity), session: session ?? null });
        return { host: widget.host };
      }),
    );
  }
  return started.get(key);
}

function isHandedSession(session) {
  return typeof session === "object" && typeof session.id === "string" && typeof session.token === "string";
}

function identityGetter(identity) {
  if (typeof identity === "function") return async () => identity();
  if (typeof identity === "string") return async () => identity;
  return async () => (typeof globalThis.CobrowseIdentity === "function" ? globalThis.CobrowseIdentity() : null);
}

function bodyReady() {
  if (document.body) return Promise.resolve();
  return new Promise((resolve) => document.addEventListener("DOMContentLoaded", () => resolve(), { once: true }));
}
