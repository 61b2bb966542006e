// The one table of op kinds for the browser: how the server delivers each kind (from the
// generated protocol.js, so from cobrowse/protocol.py) and how the Scheduler may pace it on the
// way out (this file's own business).
//
// Guarantees: every kind of the protocol is listed exactly once, and nothing else is (a kind
// paced here that the protocol does not know, or one it knows without pacing, fails at load);
// the table is frozen, so the Scheduler, Transport and Inbox all read the same numbers.
//
// Policies:
//   immediate  sent at once, after everything pushed before it (causality).
//   coalesce   latest value only, at most one op per intervalMs (one slot for the page).
//   throttle   latest value only, at most one op per intervalMs per element.
//   debounce   latest value per element, sent delayMs after the last change, or on
//              blur (flushField), submit and navigation (flush).
//   batch      events concatenated into one payload {"events": [...]}, sent at most
//              maxDelayMs after the first one; split at maxEvents events or maxBytes.

import { DELIVERY, Delivery, KINDS as PROTOCOL_KINDS, MAX_DOM_EVENTS, MAX_DOM_FRAME_BYTES } from "./protocol.js";

export const Policy = Object.freeze({
  IMMEDIATE: "immediate",
  COALESCE: "coalesce",
  THROTTLE: "throttle",
  DEBOUNCE: "debounce",
  BATCH: "batch",
});

const immediate = { policy: Policy.IMMEDIATE };

const PACING = {
  click: immediate,
  navigate: immediate,
  control: immediate,
  chat: immediate,
  highlight: immediate,
  session: immediate,
  pointer: { policy: Policy.COALESCE, intervalMs: 50 },
  scroll: { policy: Policy.THROTTLE, intervalMs: 100 },
  input: { policy: Policy.DEBOUNCE, delayMs: 300 },
  // The widget's box settles after a drag or while it opens: only where it came to rest.
  panel: { policy: Policy.DEBOUNCE, delayMs: 200 },
  // maxBytes keeps one dom op under the server's 4 MiB limit for dom frames (rrweb snapshots of
  // real pages with their inlined CSS), with room for the envelope. Every other kind stays under
  // the 256 KiB limit of all other frames by its payload shape.
  dom: {
    policy: Policy.BATCH,
    maxDelayMs: 100,
    maxEvents: MAX_DOM_EVENTS,
    maxBytes: 4_000_000,
    // A group of events that must travel together (Meta + FullSnapshot) larger than this could
    // not be sent at all: the server refuses dom frames over 4 MiB (64 KiB left for the rest).
    maxGroupBytes: MAX_DOM_FRAME_BYTES - 64 * 1024,
  },
};

for (const kind of Object.keys(PACING)) {
  if (!PROTOCOL_KINDS.includes(kind)) throw new Error(`kinds.js paces ${kind}, not a kind of the protocol`);
}

export const KINDS = Object.freeze(
  Object.fromEntries(
    PROTOCOL_KINDS.map((kind) => {
      if (!Object.hasOwn(PACING, kind)) throw new Error(`kinds.js has no pacing for kind ${kind}`);
      return [kind, Object.freeze({ delivery: DELIVERY[kind], ...PACING[kind] })];
    }),
  ),
);

/** The table row of `kind`; throws on a kind the protocol does not know. */
export function kindSpec(kind) {
  const spec = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (!spec) throw new Error(`unknown kind: ${kind}`);
  return spec;
}

/** True when the server sends the sender's own op back as an `op` frame after its `ack`. */
export function echoesToSender(kind) {
  return Object.hasOwn(KINDS, kind) && KINDS[kind].delivery === Delivery.ALL;
}
