// The customer side under the strict policy: rrweb's recorder, the widget's transport module,
// a WebSocket to this host, and an overlay styled through the CSSOM.
import { record } from "/static/vendor/rrweb/rrweb.js";
import { Transport } from "/static/cobrowse/transport.js";

const events = [];
const stop = record({ emit: (event) => events.push(event), maskAllInputs: true });
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
  window.__result = {
    events: events.length,
    fullSnapshot: events.some((event) => event.type === 2),
    socketError,
    transport: typeof Transport,
    overlayLeft: getComputedStyle(overlay).left,
    probeColor: getComputedStyle(document.getElementById("probe")).color,
  };
}, 300);
