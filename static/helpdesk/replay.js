// The admin's Replay page: a session played back from its journal with rrweb's Replayer (not
// live mode), the operators' pointer and highlights drawn over it and the chat, control and
// session events listed alongside, each at the moment the server received it.
//
// Guarantees:
//   - The customer's ops become rrweb events with opToEvents(op, op.ts) (ts: the server's time of
//     receipt), so the playback keeps the journal's timing; everything else becomes an rrweb
//     Custom event at its own ts, cast by the Replayer in time with the page.
//   - Events are ordered by ts, ties by seq: the journal's order.
//   - Everything follows the session's time (op ts), at any speed and after a seek: highlights
//     are drawn from the journal for the current session time (replay-events.js highlightsAt).

import { Replayer } from "../vendor/rrweb/rrweb.js";
import { TAG, buildEvents, describe, highlightsAt, pageChanges } from "./replay-events.js";

const META = 4;

function who(op, names) {
  const sender = op.sender ?? {};
  if (sender.role === "customer") return "Customer";
  return names.get(sender.participant) || sender.name || sender.role;
}

function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

// --- the page --------------------------------------------------------------------------------

async function main() {
  const config = JSON.parse(document.getElementById("replay-config").textContent);
  const $ = (id) => document.getElementById(id);
  const root = $("replay");
  const message = $("replay-message");

  const response = await fetch(config.export_url, { credentials: "same-origin" });
  if (!response.ok) {
    message.textContent = `The journal could not be loaded (${response.status}).`;
    return;
  }
  const journal = await response.json();
  const names = new Map(journal.participants.map((p) => [p.participant, p.role === "customer" ? "Customer" : p.name]));
  const { events, timeline } = buildEvents(journal.operations);
  const start = events.length ? events[0].timestamp : 0;

  // Timeline.
  const items = timeline.map((op) => {
    const li = document.createElement("li");
    li.className = `kind-${op.kind} role-${op.sender?.role}`;
    li.dataset.seq = op.seq;
    li.dataset.ts = op.ts;
    const when = Object.assign(document.createElement("span"), { className: "when", textContent: clock(op.ts - start) });
    const name = Object.assign(document.createElement("span"), { className: "who", textContent: who(op, names) });
    const text = Object.assign(document.createElement("span"), { className: "text", textContent: describe(op) });
    // A button, so that jumping there works from the keyboard too (its click reaches the item).
    const jump = Object.assign(document.createElement("button"), { type: "button", className: "replay__jump" });
    jump.append(when, name, text);
    li.append(jump);
    return li;
  });
  $("replay-timeline").replaceChildren(...items);

  const hasPage = events.some((event) => event.type === 2);
  if (!hasPage || events.length < 2) {
    message.textContent = "Nothing to play: the customer's page was never recorded in this session.";
    root.dataset.state = "empty";
    return;
  }

  const replayer = new Replayer(events, {
    root: $("replay-root"),
    mouseTail: false,
    skipInactive: false,
    showWarning: false,
  });
  replayer.iframe.title = "The customer's page, replayed"; // its name for screen readers
  const total = replayer.getMetaData().totalTime;
  const overlay = $("replay-overlay");
  const frame = $("replay-frame");
  const pointers = new Map();
  let size = { width: 0, height: 0 };
  let scale = 1;
  let playing = false;

  function fit() {
    if (!size.width) return;
    const stage = $("replay-stage");
    const style = getComputedStyle(stage);
    const inner = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    scale = Math.min(1, inner / size.width);
    const wrapper = $("replay-root").querySelector(".replayer-wrapper");
    if (wrapper) Object.assign(wrapper.style, { transform: `scale(${scale})`, transformOrigin: "0 0" });
    frame.style.width = `${size.width * scale}px`;
    frame.style.height = `${size.height * scale}px`;
  }
  replayer.on("resize", (dimension) => {
    size = { width: dimension.width, height: dimension.height };
    fit();
  });
  new ResizeObserver(fit).observe($("replay-stage"));

  replayer.on("event-cast", (event) => {
    if (event.type === META && event.data?.href) $("replay-url").textContent = event.data.href;
  });
  replayer.on("custom-event", (event) => {
    if (event.data?.tag !== TAG) return;
    const op = event.data.payload;
    if (op.kind === "pointer") movePointer(op);
  });
  replayer.on("finish", () => {
    playing = false;
    $("replay-play").textContent = "Play again";
  });

  function movePointer(op) {
    let mark = pointers.get(op.sender.participant);
    if (!mark) {
      mark = Object.assign(document.createElement("div"), { className: "replay-mark replay-mark--pointer" });
      mark.append(Object.assign(document.createElement("span"), { className: "replay-mark__label", textContent: who(op, names) }));
      pointers.set(op.sender.participant, mark);
      overlay.append(mark);
    }
    mark.style.transform = `translate(${op.payload.x * scale}px, ${op.payload.y * scale}px)`;
  }

  // Highlights follow the session's time, not the wall clock: redrawn from the journal at each
  // tick, so playing at 4x, pausing or seeking shows those of that moment of the session.
  const highlightOps = journal.operations.filter((op) => op.kind === "highlight");
  const changes = pageChanges(journal.operations);
  const shown = new Map(); // seq -> mark
  function showHighlights(now) {
    const due = new Set(highlightsAt(highlightOps, changes, now));
    for (const [seq, mark] of shown) {
      if (![...due].some((op) => op.seq === seq)) {
        mark.remove();
        shown.delete(seq);
      }
    }
    for (const op of due) {
      if (shown.has(op.seq)) continue;
      const mark = highlight(op);
      if (mark) shown.set(op.seq, mark);
    }
  }

  function highlight(op) {
    const p = op.payload;
    let rect = null;
    if (Number.isInteger(p.id)) {
      const node = replayer.getMirror().getNode(p.id);
      if (node && node.nodeType === 1) rect = node.getBoundingClientRect();
    } else {
      rect = { left: p.x, top: p.y, width: p.w, height: p.h };
    }
    if (!rect) return null;
    const mark = Object.assign(document.createElement("div"), { className: "replay-mark replay-mark--highlight" });
    mark.dataset.node = p.id ?? "";
    Object.assign(mark.style, {
      left: `${rect.left * scale - 4}px`,
      top: `${rect.top * scale - 4}px`,
      width: `${rect.width * scale + 8}px`,
      height: `${rect.height * scale + 8}px`,
    });
    mark.dataset.seq = op.seq;
    overlay.append(mark);
    return mark;
  }

  // Controls.
  const play = $("replay-play");
  const progress = $("replay-progress");
  progress.max = String(total);
  function seek(offset) {
    overlay.replaceChildren();
    pointers.clear();
    shown.clear();
    if (playing) replayer.play(offset);
    else replayer.pause(offset);
    tick();
  }
  play.addEventListener("click", () => {
    if (playing) {
      replayer.pause();
      playing = false;
    } else {
      const at = replayer.getCurrentTime();
      replayer.play(at >= total ? 0 : at);
      playing = true;
    }
    play.textContent = playing ? "Pause" : "Play";
  });
  progress.addEventListener("input", () => seek(Number(progress.value)));
  $("replay-speed").addEventListener("change", (event) => replayer.setConfig({ speed: Number(event.target.value) }));
  for (const li of items) li.addEventListener("click", () => seek(Math.max(0, Number(li.dataset.ts) - start)));

  function tick() {
    const offset = Math.min(total, replayer.getCurrentTime());
    const now = start + offset;
    progress.value = String(offset);
    $("replay-time").textContent = `${clock(offset)} / ${clock(total)}`;
    showHighlights(now);
    let current = null;
    for (const li of items) {
      const past = Number(li.dataset.ts) <= now;
      li.classList.toggle("is-past", past);
      li.classList.remove("is-current");
      if (past) current = li;
    }
    current?.classList.add("is-current");
  }
  setInterval(tick, 200);

  replayer.pause(0);
  play.disabled = false;
  progress.disabled = false;
  root.dataset.state = "ready";
  tick();

  window.cobrowseReplay = {
    replayer,
    events,
    timeline,
    total,
    get playing() {
      return playing;
    },
    get currentTime() {
      return replayer.getCurrentTime();
    },
  };
}

main();
