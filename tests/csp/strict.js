// The customer side under the strict policy: rrweb's recorder, the widget's transport module,
// a WebSocket to this host, and an overlay styled through the CSSOM.
import { record } from "/static/vendor/rrweb/rrweb.js";
import { Transport } from "/static/cobrowse/transport.js";

const events = [];
const stop = record({ emit: (event) => events.push(event), maskAllInputs: true });
// A style property set and later removed through the CSSOM: rrweb sends either the whole
// attribute or a diff against the old value, which it computes by setting that value on an
// element of a detached document, where this policy blocks it.
const toggled = document.getElementById("toggled");
setTimeout(() => {
  toggled.style.display = "none";
  toggled.style.color = "blue";
}, 50);
setTimeout(() => toggled.style.removeProperty("display"), 150);
const overlay = document.createElement("div");
overlay.style.position = "fixed";
overlay.style.left = "12px";
document.body.appendChild(overlay);
let socketError = null;
try {
  const socket = new WebSocket(`ws://${location.host}/ws/cobrowse/00000000-0000-0000-0000-000000000000/`);
  socket.onerror = () => {};
} catch (error) {
  socketError = String(error);
}
setTimeout(() => {
  stop();
  const snapshot = events.find((event) => event.type === 2);
  const idOf = (node, id) => {
    if (node.attributes?.id === id) return node.id;
    for (const child of node.childNodes ?? []) {
      const found = idOf(child, id);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const toggledId = snapshot ? idOf(snapshot.data.node, "toggled") : undefined;
  window.__result = {
    toggledStyles: events
      .filter((event) => event.type === 3 && event.data.source === 0)
      .flatMap((event) => event.data.attributes)
      .filter((change) => change.id === toggledId && "style" in change.attributes)
      .map((change) => change.attributes.style),
    events: events.length,
    fullSnapshot: events.some((event) => event.type === 2),
    socketError,
    transport: typeof Transport,
    overlayLeft: getComputedStyle(overlay).left,
    probeColor: getComputedStyle(document.getElementById("probe")).color,
  };
}, 400);
