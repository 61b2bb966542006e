// The dashboard's live queue: the list of waiting customers (and sessions in progress) kept
// current over the queue WebSocket, without reloading the page. Every frame carries the whole
// queue, so a render replaces the lists; after a drop the socket reconnects and the first frame
// brings everything back.
//
// Each entry says who is waiting (their name when the merchant's server signed it, else
// "anonymous"), where they are (the page's title and path), on what (device and browser) and
// for how long, oldest first. A new arrival is announced: the count in the document's title, a
// short sound when the operator turned it on (off by default, remembered in this browser), and
// a browser notification when the operator allowed them.

import { LiveSocket, wsUrl } from "./live-socket.js";
import { h, clock, since } from "./format.js";

const STATUS_TEXT = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  forbidden: "Not allowed",
  ended: "Closed",
};

const queueList = document.getElementById("queue");
const activeList = document.getElementById("active");
const status = document.getElementById("queue-status");
let latest = null; // the last queue received; the page starts with the server-rendered one
const known = new Set([...document.querySelectorAll("[data-session]")].map((node) => node.dataset.session));

const SOUND_KEY = "helpdesk.queue.sound";
const soundToggle = document.getElementById("queue-sound");
const notifyButton = document.getElementById("queue-notify");
const notifyState = document.getElementById("queue-notify-state");
const announced = []; // what was announced, for tests: {session, sound, notified}

function who(session) {
  const identity = h(
    "span",
    { class: "identity", dataset: { verified: String(session.customer.verified) } },
    session.customer.verified ? `${session.customer.name} · ${session.customer.label}` : session.customer.label,
  );
  if (session.customer.verified) return h("span", { class: "queue-item__who" }, identity);
  return h("span", { class: "queue-item__who" }, h("span", { class: "queue-item__anonymous" }, "anonymous"), " ", identity);
}

function page(session) {
  const { title, path } = session.page ?? {};
  if (!path) return h("span", { class: "queue-item__page" }, "page not known yet");
  return h("span", { class: "queue-item__page", title: path }, title || "Untitled page", " ", h("span", { class: "queue-item__path" }, path));
}

function item(session) {
  const start = Date.parse(session.started_at ?? session.created_at);
  const meta = session.operator ? `with ${session.operator}` : "waiting";
  const details = [page(session)];
  if (session.device) details.push(h("span", { class: "queue-item__device" }, session.device));
  return h(
    "li",
    { class: known.has(session.id) ? "queue-item" : "queue-item queue-item--new", dataset: { session: session.id, code: session.code } },
    h(
      "a",
      { class: "queue-item__link", href: session.url },
      h("span", { class: "queue-item__code" }, session.code),
      h("span", { class: "site-badge", dataset: { site: session.site } }, session.site_label),
      who(session),
      h("span", { class: "queue-item__action" }, session.operator ? "Observe" : "Join"),
      h(
        "span",
        { class: "queue-item__details" },
        ...details,
        h(
          "span",
          { class: "queue-item__meta" },
          `${meta} · `,
          h("time", { datetime: session.started_at ?? session.created_at, title: clock(start) }, since(start)),
        ),
      ),
    ),
  );
}

// A colleague's invitation into their session: one click joins it (as an observer who chats).
function invitation(session) {
  return h(
    "li",
    { class: "queue-item", dataset: { session: session.id, code: session.code } },
    h(
      "a",
      { class: "queue-item__link", href: session.url },
      h("span", { class: "queue-item__code" }, session.code),
      h("span", { class: "site-badge", dataset: { site: session.site } }, session.site_label),
      h("span", { class: "queue-item__meta" }, `${session.invited_by} invites you`),
      h("span", { class: "queue-item__action" }, "Join"),
    ),
  );
}

function render(queue) {
  for (const session of queue.waiting) if (!known.has(session.id)) announce(session);
  latest = queue;
  const invited = queue.invited ?? [];
  document.getElementById("invited").replaceChildren(...invited.map(invitation));
  document.getElementById("invited-card").hidden = invited.length === 0;
  queueList.replaceChildren(...queue.waiting.map(item));
  activeList.replaceChildren(...queue.active.map(item));
  known.clear();
  for (const session of [...queue.waiting, ...queue.active]) known.add(session.id);
  document.getElementById("queue-empty").hidden = queue.waiting.length > 0;
  document.getElementById("active-empty").hidden = queue.active.length > 0;
  document.getElementById("queue-count").textContent = String(queue.waiting.length);
  document.title = queue.waiting.length ? `(${queue.waiting.length}) Queue · Help desk` : "Queue · Help desk";
}

// --- a new arrival ---------------------------------------------------------------------------

function announce(session) {
  const sound = soundToggle.checked;
  if (sound) beep();
  let notified = false;
  if ("Notification" in window && Notification.permission === "granted") {
    const where = session.page?.title || session.page?.path || session.site_label;
    try {
      new Notification("A customer is waiting", { body: `${session.customer.name} · ${where}`, tag: session.id });
      notified = true;
    } catch {
      // Some browsers allow notifications from a service worker only.
    }
  }
  announced.push({ session: session.id, sound, notified });
}

let audio = null;
function beep() {
  try {
    audio ??= new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch {
    // No audio here: the title and the list still say it.
  }
}

soundToggle.checked = localStorage.getItem(SOUND_KEY) === "1";
soundToggle.addEventListener("change", () => {
  localStorage.setItem(SOUND_KEY, soundToggle.checked ? "1" : "0");
  if (soundToggle.checked) beep(); // the click lets the page play sound, and the operator hears it
});

function showNotifyState() {
  const permission = "Notification" in window ? Notification.permission : "unsupported";
  notifyButton.hidden = permission !== "default";
  notifyState.textContent = { granted: "Notifications on.", denied: "Notifications blocked in this browser." }[permission] ?? "";
}
notifyButton.addEventListener("click", async () => {
  await Notification.requestPermission();
  showNotifyState();
});
showNotifyState();

window.cobrowseQueue = { announced };

const socket = new LiveSocket({
  url: wsUrl("/ws/helpdesk/queue/"),
  onFrame: (frame) => {
    if (frame.type === "queue") render(frame);
  },
  onStatus: (state) => {
    status.dataset.state = state;
    status.textContent = STATUS_TEXT[state] ?? state;
  },
});
socket.connect();

// Waiting times tick without any message from the server.
setInterval(() => latest && render(latest), 15_000);

// The server accepts "123 456" as read out on a phone call; clear the error while typing.
document.getElementById("join-code").addEventListener("input", (event) => {
  event.target.removeAttribute("aria-invalid");
});
