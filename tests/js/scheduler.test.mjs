// Scheduler: the transmission policy of kinds.js, driven by fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Scheduler } from "../../static/cobrowse/scheduler.js";
import { KINDS } from "../../static/cobrowse/kinds.js";
import { FakeTimers } from "./fake-timers.mjs";

function setup(options = {}) {
  const timers = new FakeTimers();
  const sent = [];
  const scheduler = new Scheduler({ send: (op) => sent.push({ ...op, at: timers.now }), timers, ...options });
  return { timers, sent, scheduler };
}

const shape = (sent) => sent.map(({ at, ...op }) => op);

test("click, navigate, control, chat, highlight and session are sent at once", () => {
  const { sent, scheduler } = setup();
  scheduler.push("click", { id: 4 }, "node:4");
  scheduler.push("navigate", { url: "/cart/" });
  scheduler.push("control", { action: "grant", participant: 2 });
  scheduler.push("chat", { text: "hi" });
  scheduler.push("highlight", { id: 9 });
  scheduler.push("session", { action: "end" });
  assert.deepEqual(shape(sent), [
    { kind: "click", payload: { id: 4 }, element: "node:4" },
    { kind: "navigate", payload: { url: "/cart/" } },
    { kind: "control", payload: { action: "grant", participant: 2 } },
    { kind: "chat", payload: { text: "hi" } },
    { kind: "highlight", payload: { id: 9 } },
    { kind: "session", payload: { action: "end" } },
  ]);
});

test("pointer moves within 50 ms are coalesced to the latest", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("pointer", { x: 1, y: 1 });
  timers.advance(10);
  scheduler.push("pointer", { x: 2, y: 2 });
  timers.advance(10);
  scheduler.push("pointer", { x: 3, y: 3 });
  assert.deepEqual(sent.map((op) => op.payload), [{ x: 1, y: 1 }]);
  timers.advance(30);
  assert.deepEqual(sent, [
    { kind: "pointer", payload: { x: 1, y: 1 }, at: 0 },
    { kind: "pointer", payload: { x: 3, y: 3 }, at: 50 },
  ]);
});

test("a moving pointer sends at most one op per 50 ms", () => {
  const { timers, sent, scheduler } = setup();
  for (let i = 0; i <= 300; i += 5) {
    scheduler.push("pointer", { x: i, y: 0 });
    timers.advance(5);
  }
  timers.advance(100);
  const times = sent.map((op) => op.at);
  for (let i = 1; i < times.length; i += 1) assert.ok(times[i] - times[i - 1] >= 50, `ops at ${times}`);
  assert.equal(sent.at(-1).payload.x, 300, "the last position is never lost");
});

test("a pointer that rests sends nothing more and its next move goes at once", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("pointer", { x: 1, y: 1 });
  timers.advance(200);
  assert.equal(sent.length, 1);
  assert.equal(timers.scheduled, 0, "the window closed");
  scheduler.push("pointer", { x: 5, y: 5 });
  assert.deepEqual(sent.at(-1), { kind: "pointer", payload: { x: 5, y: 5 }, at: 200 });
});

test("scroll is throttled to one op per 100 ms per element and the latest value wins", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("scroll", { x: 0, y: 1 }, "node:1");
  scheduler.push("scroll", { x: 0, y: 10 }, "node:2");
  timers.advance(20);
  scheduler.push("scroll", { x: 0, y: 2 }, "node:1");
  timers.advance(20);
  scheduler.push("scroll", { x: 0, y: 3 }, "node:1");
  timers.advance(59);
  assert.equal(sent.length, 2, "both elements' first scroll went at once, nothing else yet");
  timers.advance(1);
  assert.deepEqual(sent, [
    { kind: "scroll", payload: { x: 0, y: 1 }, element: "node:1", at: 0 },
    { kind: "scroll", payload: { x: 0, y: 10 }, element: "node:2", at: 0 },
    { kind: "scroll", payload: { x: 0, y: 3 }, element: "node:1", at: 100 },
  ]);
});

test("input is debounced per field for 300 ms and sends the latest value", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("input", { value: "M" }, "field:street");
  timers.advance(100);
  scheduler.push("input", { value: "Ma" }, "field:street");
  timers.advance(100);
  scheduler.push("input", { value: "Main" }, "field:street");
  timers.advance(299);
  assert.deepEqual(sent, []);
  timers.advance(1);
  assert.deepEqual(sent, [{ kind: "input", payload: { value: "Main" }, element: "field:street", at: 500 }]);
  timers.advance(1000);
  assert.equal(sent.length, 1);
});

test("inputs of different fields are debounced independently", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("input", { value: "a" }, "field:name");
  timers.advance(200);
  scheduler.push("input", { value: "b" }, "field:email");
  timers.advance(100);
  assert.deepEqual(shape(sent), [{ kind: "input", payload: { value: "a" }, element: "field:name" }]);
  timers.advance(200);
  assert.deepEqual(sent.map((op) => [op.element, op.at]), [["field:name", 300], ["field:email", 500]]);
});

test("blur flushes the pending input of that field only", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("input", { value: "a" }, "field:name");
  scheduler.push("input", { value: "b" }, "field:email");
  scheduler.flushField("field:name");
  assert.deepEqual(shape(sent), [{ kind: "input", payload: { value: "a" }, element: "field:name" }]);
  timers.advance(300);
  assert.deepEqual(sent.map((op) => op.element), ["field:name", "field:email"], "no second send of the blurred field");
});

test("flush sends everything pending at once, dom first, then in push order", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("scroll", { x: 0, y: 1 }, "node:1"); // leading edge, sent
  scheduler.push("input", { value: "a" }, "field:name");
  scheduler.push("scroll", { x: 0, y: 2 }, "node:1");
  scheduler.push("input", { value: "b" }, "field:email");
  scheduler.push("dom", { type: 3, data: { source: 0 } });
  scheduler.flush();
  assert.deepEqual(
    sent.map((op) => `${op.kind}:${JSON.stringify(op.payload)}`),
    [
      'scroll:{"x":0,"y":1}',
      'dom:{"events":[{"type":3,"data":{"source":0}}]}',
      'input:{"value":"a"}',
      'scroll:{"x":0,"y":2}',
      'input:{"value":"b"}',
    ],
  );
  timers.advance(1000);
  assert.equal(sent.length, 5, "nothing is sent twice after a flush");
});

test("a click flushes the pending input of the field first", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("input", { value: "Main street 1" }, "field:street");
  timers.advance(50);
  scheduler.push("click", { id: 12 }, "node:12");
  assert.deepEqual(shape(sent), [
    { kind: "input", payload: { value: "Main street 1" }, element: "field:street" },
    { kind: "click", payload: { id: 12 }, element: "node:12" },
  ]);
  timers.advance(1000);
  assert.equal(sent.length, 2);
});

test("navigate sends the dom batch and debounced input pushed before it first", () => {
  const { sent, scheduler } = setup();
  scheduler.push("dom", { type: 3, n: 1 });
  scheduler.push("input", { value: "x" }, "field:q");
  scheduler.push("navigate", { url: "/search/?q=x" });
  assert.deepEqual(sent.map((op) => op.kind), ["dom", "input", "navigate"]);
});

test("dom events within 100 ms are batched into one op", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("dom", { type: 3, n: 1 });
  timers.advance(50);
  scheduler.push("dom", [{ type: 3, n: 2 }, { type: 3, n: 3 }]);
  timers.advance(49);
  assert.deepEqual(sent, []);
  timers.advance(1);
  assert.deepEqual(sent, [
    { kind: "dom", payload: { events: [{ type: 3, n: 1 }, { type: 3, n: 2 }, { type: 3, n: 3 }] }, at: 100 },
  ]);
  scheduler.push("dom", { type: 3, n: 4 });
  timers.advance(100);
  assert.deepEqual(sent.map((op) => [op.at, op.payload.events.map((event) => event.n)]), [[100, [1, 2, 3]], [200, [4]]]);
});

test("a dom batch is split at 500 events per op", () => {
  const { timers, sent, scheduler } = setup();
  const events = Array.from({ length: 1200 }, (_, n) => ({ type: 3, n }));
  scheduler.push("dom", events);
  assert.deepEqual(sent.map((op) => op.payload.events.length), [500, 500], "full ops leave at once");
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.length), [500, 500, 200]);
  assert.deepEqual(sent.flatMap((op) => op.payload.events.map((event) => event.n)), events.map((event) => event.n));
});

test("a dom batch is split before it would exceed maxBytes", () => {
  const kinds = { ...KINDS, dom: { ...KINDS.dom, maxBytes: 100 } };
  const { timers, sent, scheduler } = setup({ kinds, sizeOf: () => 40 });
  scheduler.push("dom", [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }]);
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1, 2], [3, 4], [5]]);
});

test("the default dom size guard counts UTF-8 bytes of each event", () => {
  const { timers, sent, scheduler } = setup();
  const big = (n) => ({ type: 2, n, text: "\u00e9".repeat(750_000) }); // about 1.5 MB each in UTF-8
  scheduler.push("dom", [big(1), big(2), big(3), big(4)]);
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1, 2], [3, 4]]);
});

test("a dom op stays under the server's 4 MiB dom frame limit with room for the envelope", () => {
  assert.ok(KINDS.dom.maxBytes <= 4 * 1024 * 1024 - 64 * 1024);
  assert.ok(KINDS.dom.maxBytes >= 3 * 1024 * 1024, "full snapshots of real pages fit in one op");
});

test("events pushed together share one op with the pending batch when they fit", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("dom", { type: 3, n: 1 });
  scheduler.pushTogether("dom", [{ type: 4, n: 2 }, { type: 2, n: 3 }]);
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1, 2, 3]]);
});

test("events pushed together are never split: the pending batch goes first", () => {
  const kinds = { ...KINDS, dom: { ...KINDS.dom, maxBytes: 100 } };
  const { timers, sent, scheduler } = setup({ kinds, sizeOf: (event) => event.size });
  scheduler.push("dom", { n: 1, size: 40 });
  scheduler.pushTogether("dom", [{ n: 2, size: 10 }, { n: 3, size: 80 }]);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1]]);
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1], [2, 3]]);
});

test("a group larger than maxBytes travels alone in one op, at once", () => {
  const kinds = { ...KINDS, dom: { ...KINDS.dom, maxBytes: 100 } };
  const { sent, scheduler } = setup({ kinds, sizeOf: (event) => event.size });
  scheduler.pushTogether("dom", [{ n: 1, size: 10 }, { n: 2, size: 500 }]);
  scheduler.push("dom", { n: 3, size: 10 });
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[1, 2]]);
});

test("a group the server would refuse is not queued at all, and the caller is told", () => {
  const kinds = { ...KINDS, dom: { ...KINDS.dom, maxBytes: 100, maxGroupBytes: 300 } };
  const { timers, sent, scheduler } = setup({ kinds, sizeOf: (event) => event.size });
  assert.equal(scheduler.pushTogether("dom", [{ n: 1, size: 10 }, { n: 2, size: 300 }]), false);
  assert.equal(scheduler.pushTogether("dom", [{ n: 3, size: 10 }, { n: 4, size: 200 }]), true);
  timers.advance(100);
  assert.deepEqual(sent.map((op) => op.payload.events.map((event) => event.n)), [[3, 4]]);
  assert.ok(KINDS.dom.maxGroupBytes <= 4 * 1024 * 1024 - 64 * 1024 && KINDS.dom.maxGroupBytes >= KINDS.dom.maxBytes);
});

test("pushTogether refuses kinds that are not batched", () => {
  const { scheduler } = setup();
  assert.throws(() => scheduler.pushTogether("input", [{ value: "a" }]), /batch kind/);
});

test("pending dom events are sent before a pointer move", () => {
  const { sent, scheduler } = setup();
  scheduler.push("dom", { type: 3, n: 1 });
  scheduler.push("pointer", { x: 1, y: 1, id: 7 });
  assert.deepEqual(sent.map((op) => op.kind), ["dom", "pointer"]);
});

test("a debounced input sent by its timer sends the pending dom events first", () => {
  const { timers, sent, scheduler } = setup();
  scheduler.push("input", { value: "a" }, "field:name");
  timers.advance(250);
  scheduler.push("dom", { type: 3, n: 1 });
  timers.advance(50);
  assert.deepEqual(sent.map((op) => [op.kind, op.at]), [["dom", 300], ["input", 300]]);
  timers.advance(100);
  assert.equal(sent.length, 2, "the dom batch timer sends nothing twice");
});

test("an unknown kind is refused", () => {
  const { sent, scheduler } = setup();
  assert.throws(() => scheduler.push("teleport", {}), /unknown kind: teleport/);
  assert.throws(() => scheduler.push("toString", {}), /unknown kind/);
  assert.deepEqual(sent, []);
});
