// Inbox: incoming frames applied in seq order, once, with resume requests for gaps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Inbox } from "../../static/cobrowse/inbox.js";
import { FakeTimers } from "./fake-timers.mjs";

function setup(options = {}) {
  const timers = new FakeTimers();
  const applied = [];
  const resumes = [];
  const advances = [];
  const errors = [];
  const inbox = new Inbox({
    apply: (op) => applied.push(op.seq),
    requestResume: (lastSeen) => resumes.push([lastSeen, timers.now]),
    onAdvance: (lastSeen) => advances.push(lastSeen),
    onError: (error, op) => errors.push([error.message, op.seq]),
    timers,
    resumeTimeoutMs: 1000,
    ...options,
  });
  return { timers, applied, resumes, advances, errors, inbox };
}

const op = (seq, extra = {}) => ({
  type: "op", seq, kind: "pointer", element: null, element_seq: null, delivery: "others",
  sender: { role: "operator", participant: 2 }, payload: { x: seq, y: 0 }, ts: 1_795_000_000_000 + seq, ...extra,
});
const ack = (seq, extra = {}) => ({ type: "ack", client_op_id: `t-${seq}`, seq, element_seq: null, ...extra });

test("ops in seq order are applied in order", () => {
  const { applied, resumes, inbox } = setup();
  for (const seq of [1, 2, 3]) inbox.receive(op(seq));
  assert.deepEqual(applied, [1, 2, 3]);
  assert.equal(inbox.lastSeen, 3);
  assert.deepEqual(resumes, []);
});

test("an op with a seq already seen is dropped as duplicate", () => {
  const { applied, resumes, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(2));
  inbox.receive(op(2));
  inbox.receive(op(1));
  assert.deepEqual(applied, [1, 2]);
  assert.equal(inbox.lastSeen, 2);
  assert.deepEqual(resumes, []);
});

test("an op after a gap is held until the gap is filled", () => {
  const { applied, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(4));
  inbox.receive(op(3));
  assert.deepEqual(applied, [1]);
  assert.equal(inbox.lastSeen, 1);
  assert.equal(inbox.hasGap, true);
  inbox.receive(op(2));
  assert.deepEqual(applied, [1, 2, 3, 4]);
  assert.equal(inbox.lastSeen, 4);
  assert.equal(inbox.hasGap, false);
});

test("a gap asks for a resume once, not once per frame", () => {
  const { resumes, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(3));
  inbox.receive(op(4));
  inbox.receive(op(5));
  assert.deepEqual(resumes, [[1, 0]]);
});

test("a gap still open after the timeout asks for a resume again", () => {
  const { timers, resumes, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(3));
  timers.advance(999);
  assert.deepEqual(resumes, [[1, 0]]);
  timers.advance(1);
  assert.deepEqual(resumes, [[1, 0], [1, 1000]]);
  timers.advance(1000);
  assert.deepEqual(resumes, [[1, 0], [1, 1000], [1, 2000]]);
});

test("a filled gap asks for nothing more", () => {
  const { timers, resumes, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(3));
  inbox.receive(op(2));
  timers.advance(10_000);
  assert.deepEqual(resumes, [[1, 0]]);
  assert.equal(timers.scheduled, 0);
});

test("progress inside a gap restarts the resume timeout and resumes from the new last seen", () => {
  const { timers, resumes, applied, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(3));
  inbox.receive(op(5));
  timers.advance(800);
  inbox.receive(op(2)); // replay under way: 2 and 3 apply, 4 still missing
  timers.advance(800);
  assert.deepEqual(resumes, [[1, 0]], "no second resume while the replay makes progress");
  timers.advance(200);
  assert.deepEqual(resumes, [[1, 0], [3, 1800]]);
  assert.deepEqual(applied, [1, 2, 3]);
});

test("an ack advances last seen like an op", () => {
  const { applied, resumes, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(ack(2));
  inbox.receive(op(3));
  assert.deepEqual(applied, [1, 3], "an ack is never applied");
  assert.equal(inbox.lastSeen, 3);
  assert.deepEqual(resumes, []);
});

test("an ack after a gap is held and fills its place when the gap closes", () => {
  const { applied, resumes, inbox } = setup();
  inbox.receive(ack(3));
  inbox.receive(op(4));
  assert.deepEqual(resumes, [[0, 0]]);
  inbox.receive(op(1));
  inbox.receive(op(2));
  assert.deepEqual(applied, [1, 2, 4]);
  assert.equal(inbox.lastSeen, 4);
});

test("an ack flagged echo does not advance: its op frame follows and is applied", () => {
  const { applied, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(ack(2), { echo: true });
  assert.equal(inbox.lastSeen, 1);
  inbox.receive(op(2, { kind: "chat", payload: { text: "hi" }, delivery: "all" }));
  assert.deepEqual(applied, [1, 2]);
  assert.equal(inbox.lastSeen, 2);
});

test("element op with an old element_seq is ignored", () => {
  const { applied, inbox } = setup();
  inbox.receive(op(1, { kind: "input", element: "node:88", element_seq: 2 }));
  inbox.receive(op(2, { kind: "input", element: "node:88", element_seq: 2 }));
  inbox.receive(op(3, { kind: "input", element: "node:88", element_seq: 1 }));
  inbox.receive(op(4, { kind: "input", element: "node:99", element_seq: 1 }));
  inbox.receive(op(5, { kind: "input", element: "node:88", element_seq: 3 }));
  assert.deepEqual(applied, [1, 4, 5]);
  assert.equal(inbox.lastSeen, 5, "ignored ops still count as seen");
});

test("an own ack's element_seq counts for its element", () => {
  const { applied, inbox } = setup();
  inbox.receive(ack(1, { element_seq: 3 }), { echo: false, element: "field:email" });
  inbox.receive(op(2, { kind: "input", element: "field:email", element_seq: 3 }));
  inbox.receive(op(3, { kind: "input", element: "field:email", element_seq: 4 }));
  assert.deepEqual(applied, [3]);
});

test("welcome moves last seen up to the connection's position", () => {
  const { applied, advances, inbox } = setup();
  inbox.receive({ type: "welcome", head_seq: 42, position: 42, snapshot_seq: 12 });
  assert.equal(inbox.lastSeen, 42);
  assert.deepEqual(advances, [42]);
  inbox.receive(op(42));
  inbox.receive(op(43));
  assert.deepEqual(applied, [43]);
});

test("welcome at an older position keeps what was already seen", () => {
  const { inbox } = setup({ lastSeen: 50 });
  inbox.receive({ type: "welcome", head_seq: 60, position: 40, snapshot_seq: 0 });
  assert.equal(inbox.lastSeen, 50);
});

test("synced closes a gap of seqs that will never come on this connection", () => {
  const { applied, resumes, timers, inbox } = setup({ lastSeen: 5 });
  inbox.receive(op(8));
  assert.deepEqual(resumes, [[5, 0]]);
  inbox.receive({ type: "synced", head_seq: 8 });
  assert.deepEqual(applied, [8]);
  assert.equal(inbox.lastSeen, 8);
  timers.advance(5000);
  assert.deepEqual(resumes, [[5, 0]]);
});

test("synced does not skip seqs above its head_seq", () => {
  const { applied, inbox } = setup({ lastSeen: 5 });
  inbox.receive(op(9));
  inbox.receive({ type: "synced", head_seq: 7 });
  assert.equal(inbox.lastSeen, 7);
  assert.deepEqual(applied, []);
  inbox.receive(op(8));
  assert.deepEqual(applied, [8, 9]);
});

test("synced without a gap moves last seen to head_seq", () => {
  const { inbox, advances } = setup({ lastSeen: 5 });
  inbox.receive({ type: "synced", head_seq: 7 });
  assert.equal(inbox.lastSeen, 7);
  assert.deepEqual(advances, [7]);
});

test("every new last seen is reported once per frame, for persistence", () => {
  const { advances, inbox } = setup();
  inbox.receive(op(1));
  inbox.receive(op(3));
  inbox.receive(op(2));
  inbox.receive(op(2));
  assert.deepEqual(advances, [1, 3]);
});

test("an apply that throws is reported and ordering goes on", () => {
  const applied = [];
  const { errors, inbox } = setup({
    apply: (frame) => {
      if (frame.seq === 2) throw new Error("replayer broke");
      applied.push(frame.seq);
    },
  });
  inbox.receive(op(1));
  inbox.receive(op(3));
  inbox.receive(op(2));
  assert.deepEqual(applied, [1, 3]);
  assert.deepEqual(errors, [["replayer broke", 2]]);
  assert.equal(inbox.lastSeen, 3);
});

test("reset starts over after the given seq", () => {
  const { applied, inbox } = setup();
  inbox.receive(op(1, { element: "node:1", element_seq: 5 }));
  inbox.receive(op(2));
  inbox.reset(0);
  inbox.receive(op(1, { element: "node:1", element_seq: 5 }));
  assert.deepEqual(applied, [1, 2, 1]);
  assert.equal(inbox.lastSeen, 1);
});

test("frames other than op, ack, welcome and synced are ignored", () => {
  const { applied, inbox } = setup();
  inbox.receive({ type: "pong", head_seq: 9 });
  inbox.receive({ type: "error", code: "bad_frame", message: "x" });
  assert.deepEqual(applied, []);
  assert.equal(inbox.lastSeen, 0);
});
