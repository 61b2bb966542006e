// The customer's "Get help" widget on a merchant's page (embed.mjs starts it). Wiring only: a
// host element appended to the page with its own shadow root, holding the dock (the "Get help"
// button, the panel and the control notice, dock.js) and the overlays; one CustomerSession
// while a help session is open.
//
// Guarantees:
//   - The page's CSS does not reach the widget (its markup is in a shadow root, its host resets
//     every property with `all: initial !important`, which beats the page's rules even when
//     they are !important), and the widget's CSS does not reach the page (it is the shadow
//     root's own stylesheet). The host takes no room in the page's layout (display: contents;
//     everything in it is position: fixed).
//   - "Get help" asks the desk for a session (api.js); a session this tab already takes part in
//     (the merchant origin's sessionStorage) continues on every page of the site once the desk
//     confirms it is still open. A tab without one first asks this browser's other tabs of the
//     site (BroadcastChannel) and joins their session instead of opening a second one.
//   - Whatever the desk refuses (unknown key, origin not allowed, bad identity, token no longer
//     good) is written to the console with the desk's own message; the page goes on as before.

import { EmbedError, HelpApi } from "./api.js";
import { CustomerSession } from "./customer-session.js";
import { Dock } from "./dock.js";
import { Overlays } from "./overlays.js";
import { Panel } from "./panel.js";
import { MAX_TITLE, MAX_URL } from "./protocol.js";
import { SiteTabs } from "./site-tabs.js";
import { initialState } from "./session-state.js";

const HOST_TAG = "cobrowse-widget";

/**
 * Put the widget on this page.
 * @param {object} options
 * @param {string} options.site the site's public key
 * @param {string} options.desk the desk's base URL
 * @param {() => Promise<string | null>} [options.identity] the signed identity (JWT), asked for
 *   when the customer asks for help
 * @returns {{host: HTMLElement, ready: Promise<void>}}
 */
export function mountWidget({ site, desk, identity = async () => null, session: handed = null, document: doc = globalThis.document }) {
  const api = new HelpApi({
    desk,
    onExpired: ({ id, expires_at: at }) =>
      console.error(`[cobrowse] the token of help session ${id} expired at ${at}: it is forgotten, "Get help" starts afresh`),
  });
  const host = doc.createElement(HOST_TAG);
  host.setAttribute("data-cobrowse-widget", "");
  host.setAttribute("data-site", site);
  const shadow = host.attachShadow({ mode: "open" });

  const stylesheet = doc.createElement("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = new URL("./widget.css", import.meta.url).href;
  const root = doc.createElement("div");
  root.id = "cobrowse-root";
  root.hidden = true; // until its stylesheet is there: no unstyled flash
  const button = doc.createElement("button");
  button.type = "button";
  button.id = "cobrowse-help";
  button.className = "cb-launcher";
  button.textContent = "Get help";
  const dockElement = doc.createElement("div");
  dockElement.className = "cb-dock";
  dockElement.id = "cobrowse-dock";
  root.append(dockElement);
  shadow.append(stylesheet, root);
  const styled = new Promise((resolve) => {
    stylesheet.addEventListener("load", resolve);
    stylesheet.addEventListener("error", () => {
      console.error(`[cobrowse] the widget's stylesheet did not load: ${stylesheet.href}`);
      resolve();
    });
  }).then(() => {
    root.hidden = false;
  });
  doc.body.append(host);

  let live = null;
  const panel = new Panel(root, button, {
    onAllow: () => live?.allow(),
    onDeny: () => live?.deny(),
    onGrant: () => live?.grant(),
    onRevoke: () => live?.revoke(),
    onEnd: () => live?.end(),
    onChat: (text) => live?.chat(text),
    onHide: () => live?.showPanel(false),
    onMove: () => dock.moveOn(),
    onClose: () => {
      live = null;
      panel.reset();
      button.focus();
    },
  });
  const overlays = new Overlays(root, {
    onStopControl: () => live?.revoke(),
    onHighlight: (rect) => dock.avoid(rect),
  });
  // The panel above the handle at the bottom of the screen (below it at the top: CSS).
  dockElement.append(panel.element, overlays.banner, button);
  const dock = new Dock({
    element: dockElement,
    handle: button,
    onMove: (place) => live?.keepPlace(place),
    onBox: (box) => live?.panelBox(box),
    // No corner is free of what the operator highlights: the panel collapses to its handle,
    // unless it asks the customer something.
    onCrowded: () => {
      if (!panel.open || panel.element.dataset.state === "request") return false;
      panel.hide();
      live?.showPanel(false);
      return true;
    },
  });
  const kept = api.remembered(site);
  if (kept) dock.place = api.load(kept.id, "ui")?.place;
  const tabs = new SiteTabs(site, () => (live && !live.over ? api.remembered(site) : null));

  const join = (session, open) => {
    api.remember(session);
    live = new CustomerSession({ session, api, panel, overlays, dock, open });
    live.start();
  };

  // A session the site's backend opened through the REST API: this tab takes part in it from
  // now on, as in one it opened itself (the desk checks the token when it is read).
  if (handed && api.remembered(site)?.id !== handed.id) {
    api.remember({ ...handed, site, ws_url: handed.ws_url ?? `/ws/cobrowse/${handed.id}/` });
  }
  const resumed = resume(api, site, join, panel).then(() => styled);
  button.addEventListener("click", async () => {
    await resumed;
    if (live && !live.over) {
      const open = !panel.open;
      if (open) panel.show({ focus: true });
      else panel.hide();
      live.showPanel(open);
      return;
    }
    panel.busy(true);
    try {
      const other = await tabs.ask();
      const session = other ? await api.read(other).catch(() => null) : null;
      if (session && session.status !== "ended") {
        join(session, true);
      } else {
        const page = { url: doc.location.href.slice(0, MAX_URL), title: doc.title.slice(0, MAX_TITLE) };
        join(await api.create(site, { identity: await identityOf(identity), page }), true);
      }
      panel.show({ focus: true });
    } catch (error) {
      report(site, error);
      panel.failed("Help is not available right now. Please try again in a moment.");
    } finally {
      panel.busy(false);
    }
  });
  return { host, ready: resumed };
}

/** Continue the session this tab takes part in, if the desk still has it open. */
async function resume(api, site, join, panel) {
  const remembered = api.remembered(site);
  if (!remembered) return;
  let current;
  try {
    current = await api.read(remembered);
  } catch (error) {
    if (error instanceof EmbedError && error.code !== "network") {
      report(site, error); // the token is no good any more: this tab starts afresh
      api.forget(site, remembered.id);
      return;
    }
    current = remembered; // the desk is unreachable: the socket will say how things stand
  }
  if (current.status !== "ended") {
    join(current, undefined);
    return;
  }
  // It ended while this tab was away.
  api.forget(site, remembered.id);
  panel.render({ ...initialState(remembered), status: "ended" });
  panel.show();
}

async function identityOf(identity) {
  try {
    const token = await identity();
    return typeof token === "string" && token ? token : null;
  } catch (error) {
    console.error("[cobrowse] the identity could not be read; asking for help without it:", error);
    return null;
  }
}

function report(site, error) {
  if (error instanceof EmbedError) {
    console.error(`[cobrowse] the desk refused the help request for site ${site}: ${error.code}: ${error.message}`);
  } else {
    console.error("[cobrowse] the help request failed:", error);
  }
}
