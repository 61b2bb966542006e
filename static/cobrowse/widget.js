// The customer's "Get help" widget: the entry point every demo page loads. Wiring only: the
// page's #cobrowse-help button and #cobrowse-root, the panel and overlays drawn in that root,
// and one CustomerSession while a help session is open.
//
// "Get help" asks the server for a session (the open one if there is one); a session this tab
// already takes part in (sessionStorage) continues on every page of the site once the server
// confirms it is still open.

import { HelpApi } from "./api.js";
import { CustomerSession } from "./customer-session.js";
import { Overlays } from "./overlays.js";
import { Panel } from "./panel.js";
import { initialState } from "./session-state.js";

const button = document.getElementById("cobrowse-help");
const root = document.getElementById("cobrowse-root");
if (button && root && button.dataset.site) boot(button, root, button.dataset.site);

function boot(button, root, site) {
  const stylesheet = document.createElement("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = new URL("./widget.css", import.meta.url).href;
  const styled = new Promise((resolve) => {
    stylesheet.addEventListener("load", resolve);
    stylesheet.addEventListener("error", resolve);
  });
  root.append(stylesheet);

  const api = new HelpApi();
  let live = null;
  const panel = new Panel(root, button, {
    onAllow: () => live?.allow(),
    onDeny: () => live?.deny(),
    onGrant: () => live?.grant(),
    onRevoke: () => live?.revoke(),
    onEnd: () => live?.end(),
    onChat: (text) => live?.chat(text),
    onHide: () => live?.showPanel(false),
    onClose: () => {
      live = null;
      panel.reset();
      button.focus();
    },
  });
  const overlays = new Overlays(root, { onStopControl: () => live?.revoke() });

  const join = (session, open) => {
    api.remember(session);
    live = new CustomerSession({ session, api, panel, overlays, open });
    live.start();
  };

  const resumed = resume(api, site, join, panel, styled);
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
      join(await api.create(site), true);
      panel.show({ focus: true });
    } catch (error) {
      console.error(error);
      panel.failed("Help is not available right now. Please try again in a moment.");
    } finally {
      panel.busy(false);
    }
  });
}

/** Continue the session this tab takes part in, if the server still has it open. */
async function resume(api, site, join, panel, styled) {
  const remembered = api.remembered(site);
  if (!remembered) return;
  let current;
  try {
    [current] = await Promise.all([api.current(site), styled]);
  } catch {
    current = remembered; // the server is unreachable: the socket will say how things stand
  }
  if (current && current.id === remembered.id) {
    join(current, undefined);
    return;
  }
  // It ended while this tab was away (or belongs to another browser session now).
  api.forget(site, remembered.id);
  if (!current) {
    panel.render({ ...initialState(remembered), status: "ended" });
    panel.show();
  }
}
