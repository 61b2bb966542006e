// The co-browse page: wires the Transport (one resilient socket, `?from=snapshot` so a late
// joiner sees the current page at once), the Inbox (ops applied in seq order, exactly once),
// the Scheduler (pacing of what the operator sends), the mirror, the tools, the chat and the
// session facts.
//
// Guarantees:
//   - Every op after the desk's first position is applied once, in seq order, across drops
//     and reconnects (Transport resumes with ?last_seq=, Inbox fills gaps); `window.cobrowseDesk`
//     exposes what was applied so a test can hold it against the journal.
//   - Only the customer's ops reach the mirror; the operators' own marks are drawn on top.
//   - An observer's desk sends chat only (the server refuses anything else anyway).
//   - The last seen seq lives in memory, not in storage: a reloaded desk starts again from the
//     newest snapshot (its mirror is empty), while unacked ops still survive in sessionStorage.

import { Transport } from "../cobrowse/transport.js";
import { Inbox } from "../cobrowse/inbox.js";
import { Scheduler } from "../cobrowse/scheduler.js";
import { Mirror } from "./mirror.js";
import { Tools } from "./tools.js";
import { Overlay } from "./overlay.js";
import { Chat } from "./chat.js";
import { wsUrl } from "./live-socket.js";
import { ago, h } from "./format.js";
import { showPageUrl } from "./page-url.js";
import * as S from "./desk-state.js";

const config = JSON.parse(document.getElementById("desk-config").textContent);
const $ = (id) => document.getElementById(id);

let state = S.initialState(config);
let historyLoaded = false;
let firstPosition = null; // where this desk's delivery started (its first welcome)
let customerWasGone = false; // as the last render saw it: a change is announced once
const applied = []; // seqs of the op frames applied, in order (for tests and diagnostics)
const pages = []; // {seq, url} of the customer's navigate ops applied
const errors = []; // error frames received

// --- connection ------------------------------------------------------------------------------

const CONNECTION_TEXT = {
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  ended: "Session ended",
  forbidden: "Not allowed",
  closed: "Closed",
};

/** sessionStorage for the unacked ops; the last seen seq only in memory (see above). */
function deskStorage() {
  const memory = new Map();
  const session = (() => {
    try {
      return globalThis.sessionStorage;
    } catch {
      return null;
    }
  })();
  const inMemory = (key) => key.endsWith(":last_seq") || !session;
  return {
    getItem: (key) => (inMemory(key) ? (memory.get(key) ?? null) : session.getItem(key)),
    setItem: (key, value) => (inMemory(key) ? memory.set(key, value) : session.setItem(key, value)),
  };
}

const sockets = new Set(); // open sockets, so a test (or the console) can drop one
class TrackedWebSocket extends WebSocket {
  constructor(url) {
    super(url);
    sockets.add(this);
    this.addEventListener("close", () => sockets.delete(this));
  }
}

const transport = new Transport({
  url: wsUrl(`${config.ws_url}?from=snapshot${config.watch ? "&watch=1" : ""}`),
  WebSocketImpl: TrackedWebSocket,
  storage: deskStorage(),
  onFrame: (frame, meta) => received(frame, meta),
  onStatus: (status, info) => connectionChanged(status, info),
});

const inbox = new Inbox({
  apply: (op) => apply(op),
  requestResume: (lastSeen) => transport.resume(lastSeen),
  onAdvance: (lastSeen) => transport.markSeen(lastSeen),
});

const scheduler = new Scheduler({ send: (op) => transport.send(op) });

// --- the page's parts ------------------------------------------------------------------------

const mirror = new Mirror({
  root: $("mirror"),
  frame: $("mirror-frame"),
  onPage: (page) => update(S.onPage(state, page)),
  onReady: () => {
    $("mirror-placeholder").hidden = true;
    $("stage").classList.add("stage--live");
    overlay.clear();
  },
  onTooLarge: () => {
    const placeholder = $("mirror-placeholder");
    placeholder.textContent = "This page is too large to show here. Chat with the customer, or ask them to go to another page.";
    placeholder.hidden = false;
    $("stage").classList.remove("stage--live");
    overlay.clear();
  },
  onRebuilt: (doc) => tools.attach(doc),
  editing: () => tools.editingId(),
});

const overlay = new Overlay({ layer: $("overlay"), mirror });

const tools = new Tools({
  stage: $("stage"),
  mirror,
  send: (kind, payload, element) => scheduler.push(kind, payload, element),
  flushField: (element) => scheduler.flushField(element),
  notice: (text) => toast(text),
  buttons: { point: $("tool-point"), highlight: $("tool-highlight"), control: $("tool-control") },
});

const chat = new Chat({
  log: $("chat-log"),
  form: $("chat-form"),
  input: $("chat-input"),
  send: (text) => scheduler.push("chat", { text }),
});

$("request-control").addEventListener("click", () => {
  scheduler.push("control", { action: "request" });
  $("request-control").disabled = true;
});
$("release-control").addEventListener("click", () => scheduler.push("control", { action: "release" }));
$("end-session").addEventListener("click", () => {
  scheduler.push("session", { action: "end" });
  $("end-session").disabled = true;
});

// --- several operators: invite, hand over ----------------------------------------------------

async function post(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-CSRFToken": config.csrf },
    body: new URLSearchParams(fields),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  return answer;
}

const inviteSelect = $("invite-user");
for (const operator of config.invitable ?? []) {
  inviteSelect.append(h("option", { value: operator.id }, operator.name));
}
$("invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const option = inviteSelect.selectedOptions[0];
  if (!option) return;
  try {
    await post(config.invite_url, { user: option.value });
    toast(`${option.textContent} is invited: the session shows in their queue.`);
    option.remove();
    render();
  } catch (error) {
    toast(`Could not invite: ${error.message}`, "error");
  }
});

$("participants").addEventListener("click", async (event) => {
  const button = event.target.closest("[data-handover]");
  if (!button) return;
  button.disabled = true;
  try {
    await post(config.handover_url, { participant: button.dataset.handover });
  } catch (error) {
    button.disabled = false;
    toast(`Could not hand over: ${error.message}`, "error");
  }
});

// --- incoming --------------------------------------------------------------------------------

function received(frame, meta) {
  if (frame.type === "welcome") {
    update(S.onWelcome(state, frame));
    if (firstPosition === null) firstPosition = frame.position;
    if (!historyLoaded) loadHistory(frame.position);
  } else if (frame.type === "error") {
    errors.push(frame);
    toast(errorText(frame), "error");
  }
  inbox.receive(frame, meta);
}

function apply(op) {
  applied.push(op.seq);
  const before = state;
  update(S.onOp(state, op));
  if (S.handsOverMe(before, op)) {
    // The server holds a connection to the role it joined with: join again in the new one.
    for (const socket of sockets) socket.close(4000, "role changed");
  }
  const sender = op.sender ?? {};
  const mine = sender.participant === state.me;
  if (sender.role === "customer") {
    if (op.kind === "navigate") pages.push({ seq: op.seq, url: op.payload.url });
    mirror.apply(op);
  } else if (op.kind === "pointer" && !mine) {
    overlay.pointer(sender.participant, op.payload, S.nameOf(state, sender.participant));
  }
  switch (op.kind) {
    case "chat":
      chat.add(op, { who: S.nameOf(state, sender.participant), role: sender.role, mine });
      break;
    case "panel":
      if (sender.role === "customer") overlay.panel(op.payload);
      break;
    case "highlight":
      overlay.highlight(op.payload, {
        tone: sender.role === "customer" ? "customer" : "operator",
        label: mine ? "" : S.nameOf(state, sender.participant),
      });
      break;
    case "control":
    case "session":
      noteOf(op, before);
      break;
    default:
  }
}

/** Ask the server whether the customer is connected (their page closed, their network gone). */
async function refreshPresence() {
  if (state.status === "ended" || !config.presence_url) return;
  try {
    const response = await fetch(config.presence_url, { credentials: "same-origin" });
    if (!response.ok) return;
    const presence = await response.json(); // before reading `state`: a frame may come meanwhile
    update(S.onPresence(state, presence));
  } catch {
    // The next tick asks again.
  }
}

/** Chat, session and control ops from before the desk's position (it joined from a snapshot). */
async function loadHistory(position) {
  historyLoaded = true;
  if (!position) return;
  try {
    const response = await fetch(`${config.history_url}?upto=${position}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const { ops } = await response.json();
    for (const op of ops) {
      const sender = op.sender ?? {};
      if (op.kind === "chat") {
        chat.add(op, { who: S.nameOf(state, sender.participant), role: sender.role, mine: sender.participant === state.me });
      } else {
        noteOf(op, state);
      }
      if (op.kind === "session" && op.payload.action === "joined") update(S.onOp(state, op));
    }
  } catch {
    // History is a courtesy; the live session goes on without it.
  }
}

function noteOf(op, before) {
  const text = S.noteText(before, op);
  if (text) chat.note(op, text);
}

function errorText(frame) {
  switch (frame.code) {
    case "control_required":
      return "The customer has not granted you control.";
    case "forbidden_kind":
      return S.isSupervisor(state) ? "A supervisor only watches." : "An observer can only chat.";
    case "session_ended":
      return "The session has ended.";
    case "rate_limited":
      return "Slow down a little; resending.";
    default:
      return frame.message || frame.code;
  }
}

// --- rendering -------------------------------------------------------------------------------

function connectionChanged(status, info) {
  const node = $("connection");
  node.dataset.state = status;
  node.textContent = CONNECTION_TEXT[status] ?? status;
  $("cobrowse").dataset.connection = status; // the mirror dims while it may be out of date
  if (status === "ended") update({ ...state, status: "ended" });
  if (status === "forbidden") toast("You may not join this session.", "error");
  void info;
}

function update(next) {
  state = next;
  render();
}

const STATUS_TEXT = { waiting: "Waiting", active: "Active", ended: "Ended" };

function render() {
  const ended = state.status === "ended";
  const observer = S.isObserver(state);
  const operator = S.operatorOf(state);
  const control = S.hasControl(state);
  const root = $("cobrowse");
  root.dataset.role = state.role ?? "";
  root.dataset.control = control ? "mine" : state.control ? "other" : "none";
  root.classList.toggle("cobrowse--ended", ended);

  const status = $("session-status");
  status.dataset.status = state.status;
  status.textContent = STATUS_TEXT[state.status] ?? state.status;

  tools.setCapabilities({ canAct: state.role === "operator" && !ended, hasControl: control && !ended });
  $("tools").hidden = observer;
  $("request-control").hidden = observer || control || ended;
  $("request-control").disabled = state.controlRequested;
  $("request-control").textContent = state.controlRequested ? "Waiting for the customer…" : "Request control";
  $("release-control").hidden = !control || ended;
  $("end-session").hidden = observer;
  $("end-session").disabled = ended;
  $("observer-banner").hidden = !observer || S.isSupervisor(state) || ended;
  $("supervisor-banner").hidden = !S.isSupervisor(state) || ended;
  if (S.isSupervisor(state)) chat.disable("Supervisors watch only");
  $("invite-form").hidden = ended || !(state.role === "operator" || state.role === "observer") || !inviteSelect.options.length;
  $("observer-operator").textContent = operator?.name || "the operator";
  $("ended-banner").hidden = !ended;
  if (ended) {
    chat.disable("The session has ended");
    $("mirror-placeholder").textContent = "The session has ended.";
  }

  // The customer's facts.
  const customer = state.customer;
  const activity = customer.lastActivity;
  const idle = activity === null || Date.now() - activity > 60_000;
  const stateNode = $("customer-state");
  // Whether the customer is connected comes from the server (`refreshPresence`); how active
  // they are, from their last op.
  const gone = S.customerGone(state);
  if (gone !== customerWasGone) {
    customerWasGone = gone;
    toast(gone ? "The customer has disconnected." : "The customer is back.", gone ? "warning" : "info");
  }
  const reconnecting = S.customerLink(state) === "reconnecting";
  stateNode.dataset.state = ended
    ? "left"
    : !customer.joined
      ? "waiting"
      : gone
        ? "gone"
        : reconnecting
          ? "reconnecting"
          : idle
            ? "idle"
            : "active";
  stateNode.textContent = ended
    ? "Session over"
    : !customer.joined
      ? "Not connected yet"
      : gone
        ? `Connection lost · ${ago(state.presence.since)}`
      : reconnecting
        ? "Reconnecting…"
      : activity === null
        ? "Connected · no activity yet"
        : idle
          ? `Idle · last activity ${ago(activity)}`
          : `Connected · active ${ago(activity)}`;
  showPageUrl($("customer-url"), customer.url, customer.title);
  const controlNode = $("control-state");
  controlNode.dataset.state = control ? "mine" : state.control ? "other" : state.controlRequested ? "requested" : "none";
  controlNode.textContent = control
    ? "Granted to you"
    : state.control
      ? `Granted to ${S.nameOf(state, state.control)}`
      : state.controlRequested
        ? "Requested, waiting for the customer"
        : "Not granted";

  // People.
  const people = [...state.participants.entries()].map(([id, p]) =>
    h(
      "li",
      { class: `participant participant--${p.role}`, dataset: { participant: id, role: p.role } },
      h("span", { class: "participant__avatar", "aria-hidden": "true" }, initials(p.role === "customer" ? "Customer" : p.name)),
      h("span", { class: "participant__name" }, p.role === "customer" ? "Customer" : p.name || "Operator", id === state.me ? " (you)" : ""),
      h("span", { class: "participant__role" }, p.role),
      state.role === "operator" && p.role === "observer" && id !== state.me && state.status !== "ended"
        ? h("button", { type: "button", class: "btn btn--small", dataset: { handover: id } }, "Hand over")
        : null,
    ),
  );
  $("participants").replaceChildren(...people);
}

function initials(name) {
  return (name || "?")
    .split(/\s+/)
    .map((part) => part[0] ?? "")
    .join("")
    .slice(0, 2)
    .toUpperCase();
}

function toast(text, tone = "info") {
  const item = h("p", { class: `toast toast--${tone}` }, text);
  $("toasts").append(item);
  setTimeout(() => item.remove(), 5000);
}

// --- start -----------------------------------------------------------------------------------

render();
transport.connect();
refreshPresence();
// Presence: one indexed read of the customer's participant row every 2 s, so a closed page or a
// dropped connection (once the server noticed it) shows within a few seconds.
setInterval(() => {
  render(); // "active 12 s ago" keeps ticking
  refreshPresence();
}, 2000);
addEventListener("pagehide", () => scheduler.flush());

// For tests and the console: what was applied, and a way to drop the connection.
window.cobrowseDesk = {
  get state() {
    return { ...state, participants: Object.fromEntries(state.participants) };
  },
  get applied() {
    return [...applied];
  },
  get errors() {
    return [...errors];
  },
  get lastSeen() {
    return inbox.lastSeen;
  },
  get pages() {
    return [...pages];
  },
  get firstPosition() {
    return firstPosition;
  },
  get mode() {
    return tools.mode;
  },
  send: (kind, payload, element) => transport.send({ kind, payload, element }),
  dropConnection: () => {
    for (const socket of sockets) socket.close(4000, "dropped on purpose");
  },
  mirror,
};
