// How rrweb's recording maps onto the protocol's op kinds, and back.
//
// The customer's page is recorded with rrweb. Its events are split by what they are, so each
// travels with the pacing of its kind (kinds.js) and per-element ordering where it has an
// element: pointer moves -> `pointer`, scrolls -> `scroll` (element node:<id>), input ->
// `input` (element node:<id>), clicks -> `click`, everything else (meta, full snapshots,
// mutations, resizes, focus, ...) -> `dom`. The operator's mirror and the admin replay turn the
// customer's ops back into rrweb events for rrweb's Replayer with `opToEvents`.
//
// Guarantee: for every event `eventToOp` maps to pointer/scroll/input/click, `opToEvents` gives
// back an event the Replayer applies the same way (positions, ids, values), stamped with the
// time the caller passes (the receiver's clock: sender and receiver clocks differ).

export const EventType = Object.freeze({ FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5 });
export const Source = Object.freeze({
  Mutation: 0,
  MouseMove: 1,
  MouseInteraction: 2,
  Scroll: 3,
  Input: 5,
  TouchMove: 6,
});
const CLICK = 2; // MouseInteractions.Click

const isInt = (value) => Number.isInteger(value);
const isNum = (value) => typeof value === "number" && Number.isFinite(value);

/** The op for one rrweb event: {kind, payload, element?}; `dom` ops carry the event itself. */
export function eventToOp(event) {
  const data = event && event.data;
  if (event && event.type === EventType.IncrementalSnapshot && data) {
    switch (data.source) {
      case Source.MouseMove:
      case Source.TouchMove: {
        const last = Array.isArray(data.positions) ? data.positions.at(-1) : null;
        if (last && isNum(last.x) && isNum(last.y)) {
          const payload = { x: last.x, y: last.y };
          if (isInt(last.id)) payload.id = last.id;
          return { kind: "pointer", payload };
        }
        break;
      }
      case Source.Scroll:
        if (isInt(data.id) && isNum(data.x) && isNum(data.y)) {
          return { kind: "scroll", element: `node:${data.id}`, payload: { id: data.id, x: data.x, y: data.y } };
        }
        break;
      case Source.Input:
        if (isInt(data.id) && typeof data.text === "string") {
          const payload = { id: data.id, value: data.text };
          if (typeof data.isChecked === "boolean") payload.checked = data.isChecked;
          return { kind: "input", element: `node:${data.id}`, payload };
        }
        break;
      case Source.MouseInteraction:
        if (data.type === CLICK && isInt(data.id)) {
          const payload = { id: data.id };
          if (isNum(data.x) && isNum(data.y)) Object.assign(payload, { x: data.x, y: data.y });
          return { kind: "click", payload };
        }
        break;
      default:
        break;
    }
  }
  return { kind: "dom", payload: event };
}

/** rrweb events for the Replayer from one op frame sent by the customer, stamped `timestamp`. */
export function opToEvents(op, timestamp) {
  const p = op.payload || {};
  const incremental = (data) => [{ type: EventType.IncrementalSnapshot, data, timestamp }];
  switch (op.kind) {
    case "dom":
      return (p.events || []).map((event) => ({ ...event, timestamp }));
    case "pointer":
      return incremental({
        source: Source.MouseMove,
        positions: [{ x: p.x, y: p.y, id: isInt(p.id) ? p.id : -1, timeOffset: 0 }],
      });
    case "scroll":
      return isInt(p.id) ? incremental({ source: Source.Scroll, id: p.id, x: p.x, y: p.y }) : [];
    case "input":
      return isInt(p.id)
        ? incremental({ source: Source.Input, id: p.id, text: p.value, isChecked: Boolean(p.checked) })
        : [];
    case "click":
      return incremental({ source: Source.MouseInteraction, type: CLICK, id: p.id, x: p.x ?? 0, y: p.y ?? 0 });
    default:
      return [];
  }
}

/** True when a `dom` op carries a full snapshot: the page was (re)built from scratch. */
export function carriesFullSnapshot(op) {
  return op.kind === "dom" && (op.payload?.events || []).some((e) => e.type === EventType.FullSnapshot);
}

/** The tag of the rrweb custom event that says: this page is too large to show (recorder.js). */
export const TOO_LARGE_TAG = "cobrowse:page-too-large";

/** A custom event telling the operator that the customer's page cannot be shown. */
export function tooLargeEvent(timestamp = Date.now()) {
  return { type: EventType.Custom, timestamp, data: { tag: TOO_LARGE_TAG, payload: {} } };
}

/** Whether a customer's op says that the page it is on is too large to show. */
export function saysTooLarge(op) {
  return (
    op.kind === "dom" &&
    (op.payload?.events || []).some((e) => e.type === EventType.Custom && e.data?.tag === TOO_LARGE_TAG)
  );
}
