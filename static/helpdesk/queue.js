// The dashboard's live queue: the list of waiting customers (and sessions in progress) kept
// current over the queue WebSocket, without reloading the page. Every frame carries the whole
// queue, so a render replaces the lists; after a drop the socket reconnects and the first frame
// brings everything back.

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

function item(session) {
  const start = Date.parse(session.started_at ?? session.created_at);
  const meta = session.operator ? `with ${session.operator}` : "waiting";
  return h(
    "li",
    { class: known.has(session.id) ? "queue-item" : "queue-item queue-item--new", dataset: { session: session.id, code: session.code } },
    h(
      "a",
      { class: "queue-item__link", href: session.url },
      h("span", { class: "queue-item__code" }, session.code),
      h("span", { class: "site-badge", dataset: { site: session.site } }, session.site_label),
      h(
        "span",
        { class: "identity", dataset: { verified: String(session.customer.verified) } },
        session.customer.verified ? `${session.customer.name} · ${session.customer.label}` : session.customer.label,
      ),
      h(
        "span",
        { class: "queue-item__meta" },
        `${meta} · `,
        h("time", { datetime: session.started_at ?? session.created_at, title: clock(start) }, since(start)),
      ),
      h("span", { class: "queue-item__action" }, session.operator ? "Observe" : "Join"),
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
