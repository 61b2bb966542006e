// The co-browsing widget in one script tag, on any page of any origin:
//
//   <script src="https://DESK/static/cobrowse/embed.js" data-site="pk_live_..." async></script>
//
// Options (data-* attributes of the tag): data-site (required: the site's public key),
// data-identity (the customer's identity signed by the site's backend, a JWT; or define
// window.CobrowseIdentity = async () => "<JWT>" to fetch it when the customer asks for help),
// data-desk (the desk's base URL, when the static files are served from elsewhere),
// data-session and data-session-token (a session the site's backend opened through the desk's
// REST API, joined at once: docs/integrations.md).
//
// A classic script (so that it works in an async tag and tells its own src); it imports
// embed.mjs from the same place, which needs the static files served with
// Access-Control-Allow-Origin (docs/install.md). Problems go to the console, never to the page.
(() => {
  const script = document.currentScript;
  if (!script || !script.src) {
    console.error("[cobrowse] embed.js must be loaded by a <script src=...> tag (not inlined, not as a module: use embed.mjs)");
    return;
  }
  const { site, identity, desk, session: sessionId, sessionToken } = script.dataset;
  if (!site) {
    console.error(`[cobrowse] the script tag of ${script.src} has no data-site="<public key>": the widget is not started`);
    return;
  }
  import(new URL("./embed.mjs", script.src).href)
    .then((embed) =>
      embed.start({
        site,
        identity: identity || undefined,
        desk: desk || undefined,
        session: sessionId && sessionToken ? { id: sessionId, token: sessionToken } : undefined,
      }),
    )
    .catch((error) => console.error(`[cobrowse] the widget could not start from ${script.src}:`, error));
})();
