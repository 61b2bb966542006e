// Transport: one WebSocket with persisted client_op_ids, re-sends, backoff, ping and resume.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Transport } from "../../static/cobrowse/transport.js";
import { Inbox } from "../../static/cobrowse/inbox.js";
import { CloseCode, FINAL_CLOSE_CODES, MAX_FRAME_BYTES, MAX_OPS_PER_FRAME } from "../../static/cobrowse/protocol.js";
import { FakeTimers } from "./fake-timers.mjs";

const SESSION = "9a1c1f9e-5b7e-4a53-9d2c-0f1e2d3c4b5a";
const URL_ = `ws://testserver/ws/cobrowse/${SESSION}/`;

/** sessionStorage stand-in. */
class MemoryStorage {
  items = new Map();

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

/** A WebSocket class whose instances the test plays the server for. */
function fakeWebSocketClass() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closedWith = undefined;
      sockets.push(this);
    }

    send(text) {
      this.sent.push(JSON.parse(text));
    }

    close(code) {
      this.closedWith = code ?? 1005;
    }

    // --- the server's side ---
    serverSends(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }

    welcome(position = 0) {
      this.serverSends({
        type: "welcome", session: SESSION, role: "customer", participant: 17,
        head_seq: position, position, snapshot_seq: 0, status: "active",
      });
    }

    serverCloses(code, reason = "") {
      this.onclose?.({ code, reason });
    }
  }
  return { FakeSocket, sockets };
}

function setup(options = {}) {
  const timers = options.timers ?? new FakeTimers();
  const storage = options.storage ?? new MemoryStorage();
  const { FakeSocket, sockets } = fakeWebSocketClass();
  const frames = [];
  const statuses = [];
  const transport = new Transport({
    url: URL_,
    WebSocketImpl: FakeSocket,
    storage,
    timers,
    random: () => 0.5,
    onFrame: (frame, meta) => frames.push(meta ? [frame, meta] : [frame]),
    onStatus: (status, info) => statuses.push([status, info]),
    ...options,
  });
  return { timers, storage, sockets, frames, statuses, transport, last: () => sockets.at(-1) };
}

// Every op sent, also those inside `ops` frames, as `op` frames.
const opsSent = (socket) =>
  socket.sent.flatMap((frame) => {
    if (frame.type === "op") return [frame];
    return frame.type === "ops" ? frame.ops.map((op) => ({ type: "op", ...op })) : [];
  });
const storedPending = (storage, session = SESSION) => JSON.parse(storage.getItem(`cobrowse:${session}:outbox`)).pending;

test("connects without last_seq the first time and with the stored last seq after a reload", () => {
  const first = setup();
  first.transport.connect();
  assert.equal(first.last().url, `${URL_}?batch=1`);
  first.transport.markSeen(7);
  const reloaded = setup({ storage: first.storage });
  assert.equal(reloaded.transport.lastSeen, 7);
  reloaded.transport.connect();
  assert.equal(reloaded.last().url, `${URL_}?batch=1&last_seq=7`);
});

test("client_op_ids are a random prefix per page load and a counter, never reused", () => {
  const first = setup();
  const a = first.transport.send({ kind: "chat", payload: { text: "a" } });
  const b = first.transport.send({ kind: "chat", payload: { text: "b" } });
  const [prefix, counter] = a.split("-");
  assert.match(prefix, /^[0-9a-f]{12}$/);
  assert.equal(counter, "1");
  assert.equal(b, `${prefix}-2`);
  // The next page: a storage that missed the last writes of the page before (its pagehide ran
  // beside this page's start) must not make it use one of that page's ids again.
  const stale = new MemoryStorage();
  stale.setItem(`cobrowse:${SESSION}:outbox`, first.storage.getItem(`cobrowse:${SESSION}:outbox`));
  first.transport.send({ kind: "chat", payload: { text: "c" } });
  const next = setup({ storage: stale });
  const d = next.transport.send({ kind: "chat", payload: { text: "d" } });
  assert.notEqual(d.split("-")[0], prefix);
  assert.equal(d.split("-")[1], "1");
  // What the page before left unacked goes again with its own ids, before the new op.
  next.transport.connect();
  next.last().welcome();
  assert.deepEqual(opsSent(next.last()).map((frame) => frame.client_op_id), [a, b, d]);
});

test("ops the page before stored after this page read storage are sent first, at the welcome", () => {
  const before = setup();
  const a = before.transport.send({ kind: "chat", payload: { text: "a" } });
  const storage = new MemoryStorage();
  storage.setItem(`cobrowse:${SESSION}:outbox`, before.storage.getItem(`cobrowse:${SESSION}:outbox`));
  const next = setup({ storage }); // reads storage now, with `a` only
  const own = next.transport.send({ kind: "navigate", payload: { url: "http://shop/b", title: "B" } });
  // Then the page before, going away, flushes one more op: its write replaces this page's.
  const late = { client_op_id: `${a.split("-")[0]}-2`, kind: "dom", payload: { events: [{ type: 3 }] } };
  storage.setItem(`cobrowse:${SESSION}:outbox`, JSON.stringify({ pending: [{ client_op_id: a, kind: "chat", payload: { text: "a" } }, late] }));
  next.transport.connect();
  next.last().welcome();
  assert.deepEqual(opsSent(next.last()).map((frame) => frame.client_op_id), [a, late.client_op_id, own]);
  assert.deepEqual(storedPending(storage).map((op) => op.client_op_id), [a, late.client_op_id, own]);
  // Only once: a later welcome (a reconnect) sends what is pending, nothing is taken in again.
  next.last().serverSends({ type: "ack", client_op_id: a, seq: 1, element_seq: null });
  next.last().close(1006);
  next.timers.advance(60_000);
  next.last().welcome();
  assert.deepEqual(opsSent(next.last()).map((frame) => frame.client_op_id), [late.client_op_id, own]);
});

test("ops sent before the welcome wait and go after it, in order", () => {
  const { transport, last } = setup();
  transport.connect();
  const a = transport.send({ kind: "input", payload: { value: "x" }, element: "field:q" });
  const b = transport.send({ kind: "click", payload: { id: 3 } });
  assert.deepEqual(last().sent, []);
  last().welcome();
  assert.deepEqual(last().sent, [
    {
      type: "ops",
      ops: [
        { client_op_id: a, kind: "input", payload: { value: "x" }, element: "field:q" },
        { client_op_id: b, kind: "click", payload: { id: 3 } },
      ],
    },
  ]);
});

test("one frame in flight: what is sent meanwhile piles up and goes as one ops frame", () => {
  const { transport, storage, last } = setup();
  transport.connect();
  last().welcome();
  const a = transport.send({ kind: "pointer", payload: { x: 1, y: 1 } });
  const b = transport.send({ kind: "pointer", payload: { x: 2, y: 2 } });
  const c = transport.send({ kind: "input", payload: { value: "q" }, element: "field:q" });
  assert.deepEqual(last().sent, [{ type: "op", client_op_id: a, kind: "pointer", payload: { x: 1, y: 1 } }]);
  assert.deepEqual(storedPending(storage).map((op) => op.client_op_id), [a, b, c]);
  last().serverSends({ type: "ack", client_op_id: a, seq: 5, element_seq: null });
  assert.deepEqual(last().sent.at(-1), {
    type: "ops",
    ops: [
      { client_op_id: b, kind: "pointer", payload: { x: 2, y: 2 } },
      { client_op_id: c, kind: "input", payload: { value: "q" }, element: "field:q" },
    ],
  });
  const d = transport.send({ kind: "pointer", payload: { x: 4, y: 4 } });
  assert.equal(last().sent.length, 2, "d waits until both b and c are answered");
  last().serverSends({ type: "ack", client_op_id: b, seq: 6, element_seq: null });
  assert.equal(last().sent.length, 2);
  last().serverSends({ type: "ack", client_op_id: c, seq: 7, element_seq: 1 });
  assert.deepEqual(opsSent(last()).map((frame) => frame.client_op_id), [a, b, c, d]);
});

test("an acks frame acks each op of its run, with consecutive seqs, and frees the next frame", () => {
  const { transport, storage, frames, last } = setup();
  transport.connect();
  last().welcome();
  const a = transport.send({ kind: "pointer", payload: { x: 1, y: 1 } });
  const b = transport.send({ kind: "input", payload: { value: "1" }, element: "field:a" });
  last().serverSends({ type: "ack", client_op_id: a, seq: 3, element_seq: null });
  const c = transport.send({ kind: "pointer", payload: { x: 3, y: 3 } });
  const d = transport.send({ kind: "pointer", payload: { x: 4, y: 4 } });
  last().serverSends({ type: "ack", client_op_id: b, seq: 4, element_seq: 1 });
  last().serverSends({ type: "acks", seq: 5, client_op_ids: [c, d], element_seqs: [null, null] });
  assert.deepEqual(storedPending(storage), []);
  assert.deepEqual(frames.slice(-2), [
    [{ type: "ack", client_op_id: c, seq: 5, element_seq: null }, { echo: false, element: undefined }],
    [{ type: "ack", client_op_id: d, seq: 6, element_seq: null }, { echo: false, element: undefined }],
  ]);
  const e = transport.send({ kind: "chat", payload: { text: "next" } });
  assert.deepEqual(last().sent.at(-1).client_op_id, e, "nothing is in flight any more");
});

test("an error for an op in flight answers it: the ops piled up behind it go", () => {
  const { transport, last } = setup();
  transport.connect();
  last().welcome();
  const a = transport.send({ kind: "chat", payload: { text: "" } });
  const b = transport.send({ kind: "chat", payload: { text: "b" } });
  last().serverSends({ type: "error", code: "invalid_payload", message: "chat.text", client_op_id: a });
  assert.deepEqual(opsSent(last()).map((frame) => frame.client_op_id), [a, b]);
});

test("a backlog goes in ops frames of at most MAX_OPS_PER_FRAME ops and below the byte limit", () => {
  const { transport, last } = setup();
  transport.connect();
  const ids = [];
  for (let i = 0; i < MAX_OPS_PER_FRAME + 5; i += 1) ids.push(transport.send({ kind: "pointer", payload: { x: i, y: i } }));
  const big = transport.send({ kind: "dom", payload: { events: [{ type: 2, data: "x".repeat(MAX_FRAME_BYTES) }] } });
  last().welcome();
  const sent = last().sent;
  assert.deepEqual(sent.map((frame) => frame.type), ["ops", "ops", "op"]);
  assert.equal(sent[0].ops.length, MAX_OPS_PER_FRAME);
  assert.equal(sent[1].ops.length, 5);
  assert.equal(sent[2].client_op_id, big, "an op over the byte limit goes alone");
  assert.deepEqual(opsSent(last()).map((frame) => frame.client_op_id), [...ids, big]);
});

test("an op sent while connected goes at once and stays in storage until its ack", () => {
  const { transport, storage, last } = setup();
  transport.connect();
  last().welcome();
  const id = transport.send({ kind: "chat", payload: { text: "hi" } });
  assert.deepEqual(opsSent(last()).map((frame) => frame.client_op_id), [id]);
  assert.deepEqual(storedPending(storage).map((op) => op.client_op_id), [id]);
  last().serverSends({ type: "ack", client_op_id: id, seq: 1, element_seq: null });
  assert.deepEqual(storedPending(storage), []);
});

test("unacked ops are re-sent with the same client_op_id after reconnect", () => {
  const { transport, timers, sockets, last } = setup();
  transport.connect();
  last().welcome();
  const a = transport.send({ kind: "input", payload: { value: "1" }, element: "field:a" });
  const b = transport.send({ kind: "input", payload: { value: "2" }, element: "field:b" });
  const c = transport.send({ kind: "click", payload: { id: 9 } });
  last().serverSends({ type: "ack", client_op_id: a, seq: 1, element_seq: 1 });
  last().serverCloses(1006);
  timers.advance(30_000);
  assert.equal(sockets.length, 2);
  assert.deepEqual(last().sent, [], "nothing goes before the welcome");
  last().welcome(1);
  assert.deepEqual(opsSent(last()).map((frame) => [frame.client_op_id, frame.payload]), [
    [b, { value: "2" }],
    [c, { id: 9 }],
  ]);
});

test("unacked ops survive a page reload and are re-sent after the next welcome", () => {
  const first = setup();
  first.transport.connect();
  first.last().welcome();
  const id = first.transport.send({ kind: "navigate", payload: { url: "/cart/" } });
  const reloaded = setup({ storage: first.storage });
  reloaded.transport.connect();
  reloaded.last().welcome();
  assert.deepEqual(opsSent(reloaded.last()), [{ type: "op", client_op_id: id, kind: "navigate", payload: { url: "/cart/" } }]);
});

test("reconnect delays grow exponentially with jitter up to the cap", () => {
  const { transport, timers, statuses, last } = setup();
  transport.connect();
  for (let i = 0; i < 9; i += 1) {
    last().serverCloses(1006);
    timers.advance(60_000);
  }
  const delays = statuses.filter(([status]) => status === "reconnecting").map(([, info]) => info.delay);
  // random() = 0.5 -> three quarters of min(cap, 500 * 2^attempt)
  assert.deepEqual(delays, [375, 750, 1500, 3000, 6000, 12000, 22500, 22500, 22500]);
});

test("the jitter spreads reconnects between half and all of the capped delay", () => {
  const low = setup({ random: () => 0 });
  const high = setup({ random: () => 0.999 });
  for (const { transport, last } of [low, high]) {
    transport.connect();
    last().serverCloses(1006);
  }
  assert.equal(low.statuses.at(-1)[1].delay, 250);
  assert.equal(high.statuses.at(-1)[1].delay, 500);
});

test("a reconnect waits for its delay", () => {
  const { transport, timers, sockets, last } = setup();
  transport.connect();
  last().serverCloses(1006);
  timers.advance(374);
  assert.equal(sockets.length, 1);
  timers.advance(1);
  assert.equal(sockets.length, 2);
});

test("the backoff starts over after a welcome", () => {
  const { transport, timers, statuses, last } = setup();
  transport.connect();
  last().serverCloses(1006);
  timers.advance(60_000);
  last().serverCloses(1006);
  timers.advance(60_000);
  last().welcome();
  last().serverCloses(CloseCode.TOO_SLOW);
  const delays = statuses.filter(([status]) => status === "reconnecting").map(([, info]) => info.delay);
  assert.deepEqual(delays, [375, 750, 375]);
});

test("1006 and every close code of the server that is not final reconnect", () => {
  const retried = Object.values(CloseCode).filter((code) => !Object.hasOwn(FINAL_CLOSE_CODES, code));
  assert.ok(retried.includes(CloseCode.TRY_AGAIN) && retried.includes(CloseCode.TOO_SLOW));
  for (const code of [1006, ...retried]) {
    const { transport, timers, sockets, last } = setup();
    transport.connect();
    last().welcome();
    last().serverCloses(code);
    timers.advance(60_000);
    assert.equal(sockets.length, 2, `code ${code}`);
  }
});

test("close code ENDED ends the session: no reconnect and the unacked ops are dropped", () => {
  const { transport, timers, sockets, statuses, storage, last } = setup();
  transport.connect();
  last().welcome();
  transport.send({ kind: "chat", payload: { text: "bye" } });
  last().serverCloses(CloseCode.ENDED);
  timers.advance(600_000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(statuses.at(-1), ["ended", { code: CloseCode.ENDED }]);
  assert.deepEqual(storedPending(storage), []);
  transport.connect();
  assert.equal(sockets.length, 1, "connect() after the end does nothing");
});

test("close code FORBIDDEN stops reconnecting", () => {
  const { transport, timers, sockets, statuses, last } = setup();
  transport.connect();
  last().serverCloses(CloseCode.FORBIDDEN);
  timers.advance(600_000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(statuses.at(-1), ["forbidden", { code: CloseCode.FORBIDDEN }]);
});

test("every final close stops with the server's reason, when it sent one", () => {
  // An Origin not allowed for the site: 4403 "origin_not_allowed" (uvicorn sends the reason,
  // daphne does not); a bad embed token: 4401 "invalid_token", once the protocol lists it.
  for (const [code, status] of Object.entries(FINAL_CLOSE_CODES).map(([c, s]) => [Number(c), s])) {
    for (const reason of ["origin_not_allowed", ""]) {
      const { transport, timers, sockets, statuses, last } = setup();
      transport.connect();
      last().serverCloses(code, reason);
      timers.advance(600_000);
      assert.equal(sockets.length, 1, `code ${code} does not reconnect`);
      assert.deepEqual(statuses.at(-1), [status, reason ? { code, reason } : { code }]);
    }
  }
});

test("close() stops for good and keeps the unacked ops for the next page", () => {
  const { transport, timers, sockets, statuses, storage, last } = setup();
  transport.connect();
  last().welcome();
  transport.send({ kind: "chat", payload: { text: "later" } });
  transport.close();
  assert.equal(last().closedWith, 1000);
  timers.advance(600_000);
  assert.equal(sockets.length, 1);
  assert.equal(statuses.at(-1)[0], "closed");
  assert.equal(storedPending(storage).length, 1);
});

test("sends a ping every 20 s while connected", () => {
  const { transport, timers, last } = setup();
  transport.connect();
  last().welcome();
  timers.advance(19_999);
  assert.deepEqual(last().sent, []);
  timers.advance(1);
  assert.deepEqual(last().sent, [{ type: "ping" }]);
  last().serverSends({ type: "pong", head_seq: 0 });
  timers.advance(20_000);
  assert.deepEqual(last().sent, [{ type: "ping" }, { type: "ping" }]);
});

test("a pong whose head_seq is beyond last seen sends a resume", () => {
  const { transport, last } = setup();
  transport.markSeen(10);
  transport.connect();
  last().welcome(10);
  last().serverSends({ type: "pong", head_seq: 10 });
  assert.deepEqual(last().sent, [], "no gap, no resume");
  last().serverSends({ type: "pong", head_seq: 12 });
  assert.deepEqual(last().sent, [{ type: "resume", last_seq: 10 }]);
});

test("a socket silent for a ping interval after a ping is replaced", () => {
  const { transport, timers, sockets, statuses, last } = setup();
  transport.connect();
  last().welcome();
  timers.advance(20_000); // ping
  timers.advance(20_000); // still no answer
  assert.equal(sockets[0].closedWith, 1005);
  assert.equal(statuses.at(-1)[0], "reconnecting");
  timers.advance(1_000);
  assert.equal(sockets.length, 2);
});

test("with heartbeat it connects with heartbeat=1 and answers each heartbeat at once", () => {
  const { transport, frames, last } = setup({ heartbeat: true });
  transport.connect();
  assert.match(last().url, /[?&]heartbeat=1(&|$)/);
  last().welcome();
  last().serverSends({ type: "heartbeat" });
  assert.deepEqual(last().sent, [{ type: "heartbeat" }]);
  assert.ok(!frames.some(([frame]) => frame.type === "heartbeat"), "not handed on");
});

test("without heartbeat the url has no heartbeat and a quiet socket stays", () => {
  const { transport, timers, sockets, last } = setup();
  transport.connect();
  assert.doesNotMatch(last().url, /heartbeat/);
  last().welcome();
  timers.advance(19_000);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].closedWith, undefined);
});

test("with heartbeat a socket on which nothing came for silenceMs is replaced", () => {
  const { transport, timers, sockets, statuses, last } = setup({ heartbeat: true, silenceMs: 9_000 });
  transport.connect();
  last().welcome();
  timers.advance(3_000); // heard the welcome
  timers.advance(6_000); // two checks without a frame: not yet
  assert.equal(sockets[0].closedWith, undefined);
  timers.advance(3_000); // the third
  assert.equal(sockets[0].closedWith, 1005);
  assert.equal(statuses.at(-1)[0], "reconnecting");
  timers.advance(1_000);
  assert.equal(sockets.length, 2);
});

test("with heartbeat a socket that hears the server's heartbeats stays, however long", () => {
  const { transport, timers, sockets, last } = setup({ heartbeat: true, silenceMs: 9_000 });
  transport.connect();
  last().welcome();
  for (let i = 0; i < 40; i += 1) {
    timers.advance(2_900);
    last().serverSends(i % 7 === 6 ? { type: "pong", head_seq: 0 } : { type: "heartbeat" });
  }
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].closedWith, undefined);
});

test("with heartbeat a handshake that never ends is given up and tried again", () => {
  const { transport, timers, sockets, last } = setup({ heartbeat: true, silenceMs: 9_000 });
  transport.connect();
  timers.advance(9_000); // no welcome, nothing at all
  assert.equal(sockets[0].closedWith, 1005);
  timers.advance(1_000);
  assert.equal(sockets.length, 2);
  last().welcome();
  timers.advance(8_000);
  assert.equal(sockets.length, 2, "the new socket was heard");
});

test("an ack carries echo for kinds delivered to all, and the op's element", () => {
  const { transport, frames, last } = setup();
  transport.connect();
  last().welcome();
  const chat = transport.send({ kind: "chat", payload: { text: "hi" } });
  const input = transport.send({ kind: "input", payload: { value: "v" }, element: "field:v" });
  last().serverSends({ type: "ack", client_op_id: chat, seq: 1, element_seq: null });
  last().serverSends({ type: "ack", client_op_id: input, seq: 2, element_seq: 1 });
  last().serverSends({ type: "ack", client_op_id: "unknown-1", seq: 3, element_seq: null });
  const metas = frames.filter(([frame]) => frame.type === "ack").map(([, meta]) => meta);
  assert.deepEqual(metas, [
    { echo: true, element: undefined },
    { echo: false, element: "field:v" },
    { echo: false, element: undefined },
  ]);
});

test("an op refused for good is dropped from the unacked ops", () => {
  const { transport, storage, frames, last } = setup();
  transport.connect();
  last().welcome();
  const id = transport.send({ kind: "chat", payload: { text: "" } });
  last().serverSends({ type: "error", code: "invalid_payload", message: "chat.text", client_op_id: id });
  assert.deepEqual(storedPending(storage), []);
  assert.equal(frames.at(-1)[0].code, "invalid_payload", "the error still reaches onFrame");
});

test("a rate-limited op stays pending and is sent again after a delay", () => {
  const { transport, timers, storage, last } = setup();
  transport.connect();
  last().welcome();
  const id = transport.send({ kind: "chat", payload: { text: "x" } });
  last().serverSends({ type: "error", code: "rate_limited", message: "slow down", client_op_id: id });
  assert.equal(storedPending(storage).length, 1);
  timers.advance(999);
  assert.equal(opsSent(last()).length, 1);
  timers.advance(1);
  assert.deepEqual(opsSent(last()).map((frame) => frame.client_op_id), [id, id]);
});

test("storage keys are namespaced by session id", () => {
  const storage = new MemoryStorage();
  const other = "0f0f0f0f-0000-4000-8000-000000000000";
  const one = setup({ storage });
  const two = setup({ storage, url: `ws://testserver/ws/cobrowse/${other}/` });
  one.transport.markSeen(5);
  one.transport.send({ kind: "chat", payload: { text: "one" } });
  assert.equal(two.transport.lastSeen, null);
  assert.equal(storedPending(storage, other).length, 0);
  assert.equal(storedPending(storage).length, 1);
  for (const key of storage.items.keys()) assert.match(key, /^cobrowse:[0-9a-f-]{36}:(last_seq|outbox)$/);
});

test("a url without a session id needs an explicit sessionId", () => {
  assert.throws(() => setup({ url: "ws://testserver/elsewhere/" }), /no session id/);
  const { transport, last } = setup({ url: "ws://testserver/elsewhere/", sessionId: "s1" });
  transport.connect();
  assert.equal(last().url, "ws://testserver/elsewhere/?batch=1");
});

test("wired to an Inbox, a reload connects with the last seq the inbox reached", () => {
  const storage = new MemoryStorage();
  const applied = [];
  let inbox;
  const page = setup({ storage, onFrame: (frame, meta) => inbox.receive(frame, meta) });
  inbox = new Inbox({
    lastSeen: page.transport.lastSeen ?? 0,
    apply: (op) => applied.push(op.seq),
    requestResume: (seq) => page.transport.resume(seq),
    onAdvance: (seq) => page.transport.markSeen(seq),
    timers: page.timers,
  });
  page.transport.connect();
  page.last().welcome(3);
  const id = page.transport.send({ kind: "input", payload: { value: "a" }, element: "field:a" });
  page.last().serverSends({ type: "ack", client_op_id: id, seq: 4, element_seq: 1 });
  page.last().serverSends({ type: "op", seq: 6, kind: "pointer", element: null, element_seq: null, payload: { x: 1, y: 1 } });
  assert.deepEqual(page.last().sent.at(-1), { type: "resume", last_seq: 4 }, "the gap at 5 asks for a resume");
  page.last().serverSends({ type: "op", seq: 5, kind: "pointer", element: null, element_seq: null, payload: { x: 0, y: 0 } });
  assert.deepEqual(applied, [5, 6]);
  const reloaded = setup({ storage });
  reloaded.transport.connect();
  assert.equal(reloaded.last().url, `${URL_}?batch=1&last_seq=6`);
});

test("the frames of a batch are handled one by one, as if each had come alone", () => {
  const { transport, last, frames } = setup();
  transport.connect();
  last().welcome(0);
  const id = transport.send({ kind: "chat", payload: { text: "hi" } });
  const op = (seq) => ({ type: "op", seq, kind: "pointer", payload: { x: seq, y: 0 } });
  last().serverSends({
    type: "batch",
    frames: [op(1), { type: "ack", client_op_id: id, seq: 2, element_seq: null }, op(2), op(3)],
  });
  const after = frames.slice(1); // after the welcome
  assert.deepEqual(after.map(([f]) => [f.type, f.seq]), [["op", 1], ["ack", 2], ["op", 2], ["op", 3]]);
  // The ack inside the batch settled the pending op, with its echo meta.
  assert.deepEqual(after[1][1], { echo: true, element: undefined });
  last().serverSends({ type: "batch", frames: "not a list" }); // ignored, not thrown
  assert.equal(frames.length, 5);
});
