// One WebSocket to the synchronization server that survives drops, navigation and reload
// without losing or doubling an op.
//
// Guarantees:
//   - Every op gets a client_op_id (a random prefix per page load + a counter) and stays in
//     storage, in order, until acked; after every welcome the unacked ops go again with the SAME ids in
//     their original order (the server acks a repeated id with its first seq, never twice).
//     Ops the page before stored after this page read storage (its pagehide can run beside
//     this page's start) are taken in at the first welcome, ahead of this page's own.
//   - One frame in flight: what is sent while the server has not answered every op of the
//     frame in flight piles up and goes as the next frame, all of it (an `ops` frame, each op
//     with its own client_op_id; a single op goes as an `op` frame), as ShareDB's client does
//     with one op in flight per document. The scheduler (scheduler.js) still decides when an op
//     may leave; this only decides how ops that may leave share frames.
//   - It connects with ?last_seq=N, N the last seen seq kept in storage (markSeen), and
//     batch=1: a catch-up comes in batch frames, unpacked here frame by frame.
//   - Closes other than the final ones (ENDED, FORBIDDEN) reconnect after a capped exponential
//     backoff with jitter; a socket silent for one ping interval after a ping is replaced.
//   - With `heartbeat`, it connects with heartbeat=1 and answers the server's `heartbeat` frames
//     at once (the server asks a quiet connection for one, and takes one that stays silent for
//     gone: docs/protocol.md), so it needs no timer of its own to be heard, which matters in a
//     background tab whose timers the browser slows to one a minute. It drops a socket on
//     which nothing came for three checks in a row (a check every silenceMs / 3), from the
//     connect on: a network gone without a close, or a handshake that never ends.
//   - A pong whose head_seq is beyond last seen means missed ops: it sends a resume.
//   - Storage keys are namespaced by session: cobrowse:<session>:last_seq and :outbox.
// WebSocketImpl, storage, timers and random are injected so tests drive them by hand.

import { echoesToSender } from "./kinds.js";
import { CloseCode, FINAL_CLOSE_CODES, MAX_FRAME_BYTES, MAX_OPS_PER_FRAME } from "./protocol.js";

const DEFAULTS = {
  WebSocketImpl: globalThis.WebSocket,
  storage: attempt(() => globalThis.sessionStorage), // reading it throws where storage is blocked
  timers: globalThis, // called as methods of the object, so window works as is
  onFrame: () => {},
  onStatus: () => {},
  random: Math.random,
  pingIntervalMs: 20_000,
  heartbeat: false,
  silenceMs: 9_000,
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  retryDelayMs: 1_000,
};

// Not a code of the server: the one this file closes with when no pong (or nothing at all) came.
const NO_PONG = 4000;
const SILENT_CHECKS = 3; // checks in a row without a frame after which a socket is dropped
const RETRYABLE_ERRORS = new Set(["rate_limited", "unavailable"]); // not journaled yet, may be later

export class Transport {
  #o; // options merged with DEFAULTS
  #keys;
  #store; // JSON over the injected storage
  #ws = null;
  #ready = false; // welcome received on the current socket
  #stopped = false;
  #attempt = 0;
  #awaitingPong = false;
  #heard = false; // a frame came since the last silence check
  #quietChecks = 0; // silence checks in a row that found nothing heard
  #timer = { reconnect: null, ping: null, retry: null, silence: null };
  #lastSeen;
  #outbox; // {pending: [op, ...]}, persisted as one item
  // New ids never depend on what storage says: the page before this one may still have written
  // to it after this page read it (its pagehide may run beside this page's start), and an id
  // used twice would make the server take the second op for a resend of the first.
  #prefix = randomId();
  #counter = 0;
  #adopted = false; // the late writes of the page before were looked for
  #sent = new Set(); // ids sent on the current socket (again after a rate limit's delay)
  #inFlight = new Set(); // ids sent on the current socket and not answered yet
  #limited = new Set(); // ids refused as rate limited, for the retry

  /**
   * Options: url (ws(s)://HOST/ws/cobrowse/<session-id>/), WebSocketImpl, storage
   * ({getItem, setItem}, sessionStorage by default), timers ({set,clear}{Timeout,Interval}),
   * onFrame(frame, meta?) (every server frame; acks come with meta {echo, element}: echo means
   * an op frame with the same seq follows), onStatus(status, info?) (connecting, open,
   * reconnecting {code, delay, attempt}, a final close's status {code, reason?}: ended,
   * forbidden, invalid_token; closed), sessionId (from the url by default), random (jitter),
   * pingIntervalMs, heartbeat (connect with heartbeat=1 and answer the server's heartbeats),
   * silenceMs (with heartbeat: drop a socket on which nothing came for that long), backoffBaseMs,
   * backoffCapMs, retryDelayMs.
   */
  constructor(options) {
    this.#o = { ...DEFAULTS, ...options };
    this.#store = jsonStore(this.#o.storage);
    const sessionId = this.#o.sessionId ?? sessionIdFrom(this.#o.url);
    this.#keys = { lastSeq: `cobrowse:${sessionId}:last_seq`, outbox: `cobrowse:${sessionId}:outbox` };
    const lastSeq = this.#store.load(this.#keys.lastSeq);
    this.#lastSeen = Number.isInteger(lastSeq) ? lastSeq : null;
    const outbox = this.#store.load(this.#keys.outbox);
    this.#outbox = { pending: Array.isArray(outbox?.pending) ? outbox.pending : [] };
    this.#store.save(this.#keys.outbox, this.#outbox);
  }

  /** The last seen seq kept in storage, or null before anything was seen. */
  get lastSeen() {
    return this.#lastSeen;
  }

  connect() {
    if (this.#ws || this.#stopped) return;
    const { url } = this.#o;
    // batch=1: ops that are ready together (a resume, a late join) come as batch frames.
    const resume = this.#lastSeen === null ? "" : `&last_seq=${this.#lastSeen}`;
    const heartbeat = this.#o.heartbeat ? "&heartbeat=1" : "";
    const query = `${url.includes("?") ? "&" : "?"}batch=1${heartbeat}${resume}`;
    this.#o.onStatus("connecting", { attempt: this.#attempt });
    const ws = new this.#o.WebSocketImpl(url + query);
    this.#ws = ws;
    ws.onmessage = (event) => this.#receive(ws, event.data);
    ws.onclose = (event) => this.#closed(ws, event.code, event.reason);
    ws.onerror = () => {}; // a close event always follows
    if (this.#o.heartbeat) {
      this.#heard = false;
      this.#quietChecks = 0;
      const every = this.#o.silenceMs / SILENT_CHECKS;
      this.#timer.silence = this.#o.timers.setInterval(() => this.#checkSilence(ws), every);
    }
  }

  /** Queue one op ({kind, payload, element?}); it goes at once when connected. Returns its id. */
  send({ kind, payload, element }) {
    const outbox = this.#outbox;
    this.#counter += 1;
    const op = { client_op_id: `${this.#prefix}-${this.#counter}`, kind, payload };
    if (element !== undefined && element !== null) op.element = element;
    outbox.pending.push(op);
    this.#store.save(this.#keys.outbox, outbox);
    this.#flush();
    return op.client_op_id;
  }

  /** Ask the server to deliver everything after lastSeq again. */
  resume(lastSeq) {
    if (this.#ready) this.#write({ type: "resume", last_seq: lastSeq });
  }

  /** Remember the last seen seq for the next connection (wire Inbox onAdvance here). */
  markSeen(seq) {
    if (!Number.isInteger(seq)) return;
    this.#lastSeen = seq;
    this.#store.save(this.#keys.lastSeq, seq);
  }

  /** Close for good, no reconnect. Unacked ops stay in storage for the next page. */
  close() {
    this.#stopped = true;
    const ws = this.#ws;
    this.#detach();
    if (ws) ws.close(1000);
    this.#o.onStatus("closed");
  }

  // --- incoming ---------------------------------------------------------------------------

  #receive(ws, data) {
    const frame = attempt(() => JSON.parse(data));
    if (!frame) return;
    this.#awaitingPong = false;
    this.#heard = true;
    if (frame.type === "batch") {
      // Several ack and op frames in one: each is handled as if it had come alone.
      for (const inner of Array.isArray(frame.frames) ? frame.frames : []) this.#handle(ws, inner);
    } else {
      this.#handle(ws, frame);
    }
  }

  #handle(ws, frame) {
    if (frame.type === "heartbeat") {
      this.#write({ type: "heartbeat" }); // still here: nothing else to do
    } else if (frame.type === "welcome") {
      this.#ready = true;
      this.#attempt = 0;
      this.#o.timers.clearInterval(this.#timer.ping);
      this.#timer.ping = this.#o.timers.setInterval(() => this.#ping(ws), this.#o.pingIntervalMs);
      this.#o.onFrame(frame);
      this.#o.onStatus("open");
      this.#sent.clear();
      this.#inFlight.clear();
      this.#limited.clear();
      this.#adoptLateOps();
      this.#flush();
    } else if (frame.type === "ack") {
      this.#acked(frame);
      this.#flush();
    } else if (frame.type === "acks") {
      // The acks of a run of own ops with consecutive seqs: each as if it had come alone.
      const ids = Array.isArray(frame.client_op_ids) ? frame.client_op_ids : [];
      ids.forEach((id, i) => {
        const elementSeq = frame.element_seqs?.[i] ?? null;
        this.#acked({ type: "ack", client_op_id: id, seq: frame.seq + i, element_seq: elementSeq });
      });
      this.#flush();
    } else if (frame.type === "pong") {
      this.#o.onFrame(frame);
      if (this.#lastSeen !== null && frame.head_seq > this.#lastSeen) this.resume(this.#lastSeen);
    } else {
      if (frame.type === "error") this.#failed(frame);
      this.#o.onFrame(frame);
      if (frame.type === "error") this.#flush();
    }
  }

  #acked(frame) {
    this.#inFlight.delete(frame.client_op_id);
    const op = this.#takePending(frame.client_op_id);
    this.#o.onFrame(frame, { echo: op ? echoesToSender(op.kind) : false, element: op?.element });
  }

  #failed({ code, client_op_id: id }) {
    if (id === undefined) {
      // Not about one op (a frame the server could not read at all): nothing in flight will be
      // answered, so the next frame need not wait; what was sent goes again after a reconnect.
      this.#inFlight.clear();
      return;
    }
    this.#inFlight.delete(id);
    if (!this.#outbox.pending.some((op) => op.client_op_id === id)) return;
    if (!RETRYABLE_ERRORS.has(code)) {
      this.#takePending(id); // the server will never take this op
    } else if (code === "rate_limited") {
      this.#limited.add(id);
      if (this.#timer.retry !== null) return;
      this.#timer.retry = this.#o.timers.setTimeout(() => {
        this.#timer.retry = null;
        for (const limited of this.#limited) this.#sent.delete(limited);
        this.#limited.clear();
        this.#flush();
      }, this.#o.retryDelayMs);
    }
  }

  // --- connection life --------------------------------------------------------------------

  #closed(ws, code, reason = "") {
    if (ws !== this.#ws) return;
    this.#detach();
    if (this.#stopped) return;
    if (Object.hasOwn(FINAL_CLOSE_CODES, code)) {
      this.#stopped = true;
      if (code === CloseCode.ENDED) this.#setPending([]); // nothing more is journaled
      this.#o.onStatus(FINAL_CLOSE_CODES[code], reason ? { code, reason } : { code });
      return;
    }
    const capped = Math.min(this.#o.backoffCapMs, this.#o.backoffBaseMs * 2 ** this.#attempt);
    const delay = Math.round(capped / 2 + (this.#o.random() * capped) / 2);
    this.#attempt += 1;
    this.#o.onStatus("reconnecting", { code, delay, attempt: this.#attempt });
    this.#timer.reconnect = this.#o.timers.setTimeout(() => {
      this.#timer.reconnect = null;
      this.connect();
    }, delay);
  }

  #ping(ws) {
    if (!this.#awaitingPong) {
      this.#awaitingPong = true;
      this.#write({ type: "ping" });
      return;
    }
    // Nothing came for a whole interval after a ping: the connection is dead but not closed.
    ws.close();
    this.#closed(ws, NO_PONG);
  }

  #checkSilence(ws) {
    if (this.#heard) {
      this.#heard = false;
      this.#quietChecks = 0;
      return;
    }
    this.#quietChecks += 1;
    if (this.#quietChecks < SILENT_CHECKS) return;
    // Nothing, not even the server's heartbeat, for silenceMs: the network is gone without a
    // close (or the handshake never ended). The server drops its end the same way.
    ws.close();
    this.#closed(ws, NO_PONG);
  }

  #detach() {
    if (this.#ws) this.#ws.onmessage = this.#ws.onclose = null;
    this.#ws = null;
    this.#ready = false;
    this.#awaitingPong = false;
    this.#o.timers.clearInterval(this.#timer.ping);
    this.#o.timers.clearInterval(this.#timer.silence);
    this.#o.timers.clearTimeout(this.#timer.reconnect);
    this.#o.timers.clearTimeout(this.#timer.retry); // the next welcome re-sends anyway
    this.#timer = { reconnect: null, ping: null, retry: null, silence: null };
    this.#sent.clear();
    this.#inFlight.clear();
    this.#limited.clear();
  }

  // --- outgoing and storage ---------------------------------------------------------------

  #adoptLateOps() {
    if (this.#adopted) return;
    this.#adopted = true;
    const stored = this.#store.load(this.#keys.outbox);
    if (!Array.isArray(stored?.pending)) return;
    const mine = (op) => String(op?.client_op_id).startsWith(`${this.#prefix}-`);
    const pending = this.#outbox.pending;
    const known = new Set(pending.map((op) => op.client_op_id));
    // Ops this page has had acked may come back with them: sent again, the server answers
    // them as the duplicates they are.
    const late = stored.pending.filter((op) => typeof op?.client_op_id === "string" && !known.has(op.client_op_id) && !mine(op));
    if (!late.length) return;
    const at = pending.findIndex(mine);
    const before = at === -1 ? pending : pending.slice(0, at);
    const after = at === -1 ? [] : pending.slice(at);
    this.#setPending([...before, ...late, ...after]);
  }

  /** Unless a frame is in flight: every pending op not sent on this socket yet, in order, as
   * few frames as the server's limits allow (MAX_OPS_PER_FRAME ops, MAX_FRAME_BYTES bytes; an
   * op larger than that, a dom snapshot, goes alone). Then they are in flight. */
  #flush() {
    if (!this.#ready || this.#inFlight.size > 0) return;
    const due = this.#outbox.pending.filter((op) => !this.#sent.has(op.client_op_id));
    let frame = [];
    let bytes = 0;
    for (const op of due) {
      const size = jsonBytes(op) + 1;
      if (frame.length && (frame.length === MAX_OPS_PER_FRAME || bytes + size > OPS_FRAME_BYTES)) {
        this.#writeOps(frame);
        frame = [];
        bytes = 0;
      }
      frame.push(op);
      bytes += size;
    }
    if (frame.length) this.#writeOps(frame);
  }

  #writeOps(ops) {
    for (const op of ops) {
      this.#sent.add(op.client_op_id);
      this.#inFlight.add(op.client_op_id);
    }
    this.#write(ops.length === 1 ? { type: "op", ...ops[0] } : { type: "ops", ops });
  }

  #write(frame) {
    // A closing socket may throw: what is unacked goes again after the next welcome.
    attempt(() => this.#ws.send(JSON.stringify(frame)));
  }

  #takePending(id) {
    const op = this.#outbox.pending.find((candidate) => candidate.client_op_id === id);
    if (op) this.#setPending(this.#outbox.pending.filter((candidate) => candidate !== op));
    return op;
  }

  #setPending(pending) {
    this.#outbox.pending = pending;
    this.#store.save(this.#keys.outbox, this.#outbox);
  }
}

// What an `ops` frame may hold in bytes, below the server's limit with room for its envelope.
const OPS_FRAME_BYTES = MAX_FRAME_BYTES - 1024;
const utf8 = new TextEncoder();

/** UTF-8 bytes of an op as JSON: 3 per character is a bound, measured only when it matters. */
function jsonBytes(op) {
  const text = JSON.stringify(op);
  return text.length * 3 <= OPS_FRAME_BYTES / 4 ? text.length * 3 : utf8.encode(text).length;
}

function sessionIdFrom(url) {
  const match = /\/ws\/cobrowse\/([^/?#]+)/.exec(url ?? "");
  if (!match) throw new Error(`no session id in ${url}; pass sessionId`);
  return match[1];
}

/** JSON values in a Storage; on failure (quota, private mode) the copy in memory serves. */
function jsonStore(storage) {
  return {
    load: (key) => attempt(() => JSON.parse(storage.getItem(key) ?? "null")) ?? null,
    save: (key, value) => attempt(() => storage.setItem(key, JSON.stringify(value))),
  };
}

function attempt(fn) {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function randomId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
