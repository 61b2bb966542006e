// What the admin's Replay shows at a moment of the session, from the journal alone (no DOM):
// the rrweb events for the Replayer, the timeline's lines, and which operator highlights are on
// the page at a given session time.
//
// Guarantees:
//   - Time is the session's own: an op's `ts` (the server's time of receipt). Playing at 2x or 4x,
//     pausing or seeking changes nothing of what is shown at a session time.
//   - A highlight shows from its ts for HIGHLIGHT_MS of session time, and ends earlier when the
//     customer's page changes (a navigate or a new full snapshot: its node ids mean another page).
//   - Events are ordered by ts, ties by seq: the journal's order.

import { opToEvents, saysTooLarge, carriesFullSnapshot } from "../cobrowse/rrweb-ops.js";

export const CUSTOM = 5; // rrweb EventType.Custom
export const TAG = "cobrowse";
export const HIGHLIGHT_MS = 3000;
const MIRRORED = new Set(["dom", "pointer", "scroll", "input", "click"]);

/** rrweb events for the Replayer from journal rows, and the rows for the timeline. */
export function buildEvents(operations) {
  const events = [];
  const timeline = [];
  for (const op of operations) {
    const role = op.sender?.role;
    if (role === "customer" && MIRRORED.has(op.kind)) {
      for (const event of opToEvents(op, op.ts)) events.push({ event, seq: op.seq });
    } else {
      events.push({ event: { type: CUSTOM, timestamp: op.ts, data: { tag: TAG, payload: op } }, seq: op.seq });
    }
    if (describe(op)) timeline.push(op);
  }
  events.sort((a, b) => a.event.timestamp - b.event.timestamp || a.seq - b.seq);
  return { events: events.map((item) => item.event), timeline };
}

/** The session times (ms) at which the customer's page changed. */
export function pageChanges(operations) {
  return operations
    .filter((op) => op.sender?.role === "customer" && (op.kind === "navigate" || carriesFullSnapshot(op)))
    .map((op) => op.ts);
}

/**
 * The highlight ops on the page at session time `now`: those at or before it, less than
 * HIGHLIGHT_MS of session time old, with no page change after them up to `now`.
 */
export function highlightsAt(operations, changes, now) {
  return operations.filter(
    (op) =>
      op.kind === "highlight" &&
      op.ts <= now &&
      now - op.ts < HIGHLIGHT_MS &&
      !changes.some((at) => at > op.ts && at <= now),
  );
}

/** The timeline's line for one op, or null when it has none. */
export function describe(op) {
  const p = op.payload ?? {};
  const role = op.sender?.role;
  switch (op.kind) {
    case "chat":
      return p.text;
    case "navigate":
      return role === "customer" ? `went to ${p.url}` : `navigated the page to ${p.url}`;
    case "highlight":
      return Number.isInteger(p.id) ? `highlighted node ${p.id}` : "highlighted an area";
    case "control":
      return controlLine(p);
    case "session":
      if (p.action === "end" && p.reason === "idle") return "the session ended after a long time without activity";
      if (p.action === "end" && p.reason === "abandoned") return "the customer left: the session ended as abandoned";
      return { joined: `joined as ${p.role}`, end: "ended the session" }[p.action] ?? null;
    case "click":
    case "input":
      return role === "operator" ? (op.kind === "click" ? `clicked node ${p.id}` : `typed into node ${p.id}`) : null;
    case "dom":
      return saysTooLarge(op) ? "was on a page too large to record" : null;
    default:
      return null;
  }
}

// A `revoke` names whom control was taken from; when it names nobody (`participant: null`),
// nobody held control: it is the customer's "no" to a request.
function controlLine(p) {
  switch (p.action) {
    case "request":
      return "asked for control";
    case "grant":
      return "granted control";
    case "revoke":
      return p.participant === null || p.participant === undefined ? "denied the request for control" : "took control back";
    case "release":
      return "gave control back";
    default:
      return null;
  }
}
