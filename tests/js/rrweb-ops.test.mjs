import assert from "node:assert/strict";
import { test } from "node:test";

import {
  carriesFullSnapshot,
  eventToOp,
  opToEvents,
  saysTooLarge,
  tooLargeEvent,
} from "../../static/cobrowse/rrweb-ops.js";

const inc = (data) => ({ type: 3, data, timestamp: 1000 });

test("a mouse move becomes a pointer op with the latest position", () => {
  const op = eventToOp(inc({ source: 1, positions: [{ x: 1, y: 2, id: 5, timeOffset: -40 }, { x: 30, y: 40, id: 6, timeOffset: 0 }] }));
  assert.deepEqual(op, { kind: "pointer", payload: { x: 30, y: 40, id: 6 } });
});

test("input and scroll name their element by rrweb node id", () => {
  assert.deepEqual(eventToOp(inc({ source: 5, id: 12, text: "Main st", isChecked: false })), {
    kind: "input", element: "node:12", payload: { id: 12, value: "Main st", checked: false },
  });
  assert.deepEqual(eventToOp(inc({ source: 3, id: 1, x: 0, y: 300 })), {
    kind: "scroll", element: "node:1", payload: { id: 1, x: 0, y: 300 },
  });
});

test("a click becomes a click op; other mouse interactions stay dom events", () => {
  assert.deepEqual(eventToOp(inc({ source: 2, type: 2, id: 9, x: 4, y: 5 })), { kind: "click", payload: { id: 9, x: 4, y: 5 } });
  const focus = inc({ source: 2, type: 5, id: 9 });
  assert.deepEqual(eventToOp(focus), { kind: "dom", payload: focus });
});

test("snapshots, meta and mutations are dom ops", () => {
  for (const event of [{ type: 4, data: { href: "x", width: 1, height: 1 }, timestamp: 1 }, { type: 2, data: { node: {} }, timestamp: 1 }, inc({ source: 0, adds: [] })]) {
    assert.equal(eventToOp(event).kind, "dom");
  }
});

test("ops map back to replayable events with the receiver's timestamp", () => {
  for (const event of [
    inc({ source: 1, positions: [{ x: 30, y: 40, id: 6, timeOffset: 0 }] }),
    inc({ source: 5, id: 12, text: "Main st", isChecked: true }),
    inc({ source: 3, id: 1, x: 0, y: 300 }),
    inc({ source: 2, type: 2, id: 9, x: 4, y: 5 }),
  ]) {
    const op = eventToOp(event);
    const [back] = opToEvents(op, 5000);
    assert.deepEqual(back, { ...event, timestamp: 5000 });
  }
});

test("dom ops give back all their events, restamped", () => {
  const op = { kind: "dom", payload: { events: [{ type: 4, data: {}, timestamp: 1 }, { type: 2, data: {}, timestamp: 2 }] } };
  assert.deepEqual(opToEvents(op, 7).map((e) => [e.type, e.timestamp]), [[4, 7], [2, 7]]);
  assert.equal(carriesFullSnapshot(op), true);
  assert.equal(carriesFullSnapshot({ kind: "dom", payload: { events: [{ type: 3, data: {} }] } }), false);
});

test("kinds that are not page events give no replay events", () => {
  assert.deepEqual(opToEvents({ kind: "chat", payload: { text: "hi" } }, 1), []);
  assert.deepEqual(opToEvents({ kind: "highlight", payload: { id: 3 } }, 1), []);
});

test("the page-too-large marker is a custom rrweb event that only it matches", () => {
  const marker = tooLargeEvent(7);
  assert.deepEqual(marker, { type: 5, timestamp: 7, data: { tag: "cobrowse:page-too-large", payload: {} } });
  assert.equal(saysTooLarge({ kind: "dom", payload: { events: [marker] } }), true);
  const other = { type: 5, timestamp: 7, data: { tag: "something-else", payload: {} } };
  assert.equal(saysTooLarge({ kind: "dom", payload: { events: [other] } }), false);
  assert.equal(saysTooLarge({ kind: "chat", payload: { text: "cobrowse:page-too-large" } }), false);
  assert.equal(carriesFullSnapshot({ kind: "dom", payload: { events: [marker] } }), false);
});
