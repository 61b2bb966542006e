// One WebSocket to the synchronization server that survives drops, page navigation and
// reload without losing or doubling an op.
//
// Guarantees:
//   - Every op gets a client_op_id (a per-tab random prefix and a counter, both persisted) and
//     stays in storage, in order, until its ack comes; after every welcome the unacked ops are
//     sent again with the SAME ids in their original order (the server acks a repeated id
//     with its first seq and never journals it twice).
//   - It connects with ?last_seq=N, N being the last seen seq kept in storage (markSeen), so
//     a reload resumes exactly where the page left off.
//   - A close other than 4410 (session ended) or 4403 (forbidden) reconnects after a capped
//     exponential backoff with jitter; a socket that stays silent for a whole ping interval
//     after a ping is dropped and reconnected.
//   - It pings every pingIntervalMs; a pong whose head_seq is beyond last seen means missed
//     ops, and a resume is sent.
//   - Storage keys are namespaced by session id: cobrowse:<session>:<name>.
//
// WebSocketImpl, storage ({getItem, setItem, removeItem?}), timers and random are injected so
// tests drive the socket, the clock and the jitter by hand.

import { echoesToSender } from "./kinds.js";

const realTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id),
};

const FINAL_CLOSE_CODES = new Map([
  [4410, "ended"],
  [4403, "forbidden"],
]);
// Error codes after which the op was not journaled but may be accepted later: keep it pending.
const RETRYABLE_ERRORS = new Set(["rate_limited", "unavailable"]);
const NO_PONG_CLOSE_CODE = 4000; // our own reason for dropping a silent socket

const DEFAULTS = {
  WebSocketImpl: globalThis.WebSocket,
  storage: globalThis.sessionStorage,
  timers: realTimers,
  onFrame: () => {},
  onStatus: () => {},
  random: Math.random,
  pingIntervalMs: 20_000,
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  retryDelayMs: 1_000,
};

export class Transport {
  #o; // options with defaults
  #keys;
  #ws = null;
  #ready = false; // welcome received on the current socket
  #stopped = false;
  #attempt = 0;
  #awaitingPong = false;
  #reconnectTimer = null;
  #pingTimer = null;
  #retryTimer = null;
  #lastSeen;
  #pending;
  #tabId;
  #counter;

  /**
   * @param {object} options
   * @param {string} options.url ws(s)://HOST/ws/cobrowse/<session-id>/
   * @param {Function} [options.WebSocketImpl] the WebSocket class
   * @param {{getItem: Function, setItem: Function}} [options.storage] sessionStorage by default
   * @param {object} [options.timers] {setTimeout, clearTimeout, setInterval, clearInterval}
   * @param {(frame: object, meta?: {echo: boolean, element?: string}) => void} [options.onFrame]
   *   every server frame; an ack comes with meta (echo: an op frame with its seq follows)
   * @param {(status: string, info?: object) => void} [options.onStatus] connecting, open,
   *   reconnecting {code, delay, attempt}, ended, forbidden, closed
   * @param {string} [options.sessionId] taken from the url by default
   * @param {() => number} [options.random] jitter source in [0, 1)
   * Also pingIntervalMs (20 s), backoffBaseMs (0.5 s), backoffCapMs (30 s), retryDelayMs (1 s).
   */
  constructor(options) {
    this.#o = { ...DEFAULTS, ...options };
    const sessionId = this.#o.sessionId ?? sessionIdFrom(this.#o.url);
    const key = (name) => `cobrowse:${sessionId}:${name}`;
    this.#keys = { lastSeq: key("last_seq"), pending: key("pending"), tab: key("tab"), counter: key("counter") };
    const lastSeq = this.#load(this.#keys.lastSeq);
    this.#lastSeen = Number.isInteger(lastSeq) ? lastSeq : null;
    const pending = this.#load(this.#keys.pending);
    this.#pending = Array.isArray(pending) ? pending : [];
    this.#tabId = this.#load(this.#keys.tab) ?? randomTabId();
    this.#counter = this.#load(this.#keys.counter) ?? 0;
    this.#save(this.#keys.tab, this.#tabId);
  }

  /** The last seen seq kept in storage, or null before the first welcome. */
  get lastSeen() {
    return this.#lastSeen;
  }

  /** The unacked ops, oldest first, as they go on the wire (without "type"). */
  get pending() {
    return this.#pending.map((op) => ({ ...op }));
  }

  /** True between a welcome and the socket's close. */
  get connected() {
    return this.#ready;
  }

  connect() {
    if (this.#ws || this.#stopped) return;
    const url = this.#lastSeen === null ? this.#o.url : withLastSeq(this.#o.url, this.#lastSeen);
    this.#o.onStatus("connecting", { attempt: this.#attempt });
    const ws = new this.#o.WebSocketImpl(url);
    this.#ws = ws;
    ws.onmessage = (event) => this.#receive(ws, event.data);
    ws.onclose = (event) => this.#closed(ws, event.code);
    ws.onerror = () => {}; // a close event always follows
  }

  /** Queue one op ({kind, payload, element?}); it goes now when connected. Returns its id. */
  send({ kind, payload, element }) {
    this.#counter += 1;
    this.#save(this.#keys.counter, this.#counter);
    const op = { client_op_id: `${this.#tabId}-${this.#counter}`, kind, payload };
    if (element !== undefined && element !== null) op.element = element;
    this.#pending.push(op);
    this.#save(this.#keys.pending, this.#pending);
    if (this.#ready) this.#write({ type: "op", ...op });
    return op.client_op_id;
  }

  /** Ask the server to deliver everything after lastSeq again. */
  resume(lastSeq) {
    if (this.#ready) this.#write({ type: "resume", last_seq: lastSeq });
  }

  /** Remember the last seen seq for the next connection (wire it to Inbox onAdvance). */
  markSeen(seq) {
    if (!Number.isInteger(seq)) return;
    this.#lastSeen = seq;
    this.#save(this.#keys.lastSeq, seq);
  }

  /** Close for good: no reconnect. Unacked ops stay in storage for the next page. */
  close() {
    this.#stopped = true;
    this.#clearTimers();
    const ws = this.#ws;
    this.#detach();
    if (ws) ws.close(1000);
    this.#o.onStatus("closed");
  }

  // --- incoming ---------------------------------------------------------------------------

  #receive(ws, data) {
    if (ws !== this.#ws) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    this.#awaitingPong = false;
    switch (frame.type) {
      case "welcome":
        this.#ready = true;
        this.#attempt = 0;
        this.#pingTimer = this.#o.timers.setInterval(() => this.#ping(), this.#o.pingIntervalMs);
        this.#o.onFrame(frame);
        this.#o.onStatus("open");
        this.#sendPending();
        return;
      case "ack": {
        const op = this.#takePending(frame.client_op_id);
        this.#o.onFrame(frame, { echo: op ? echoesToSender(op.kind) : false, element: op?.element });
        return;
      }
      case "pong":
        this.#o.onFrame(frame);
        if (this.#lastSeen !== null && frame.head_seq > this.#lastSeen) this.resume(this.#lastSeen);
        return;
      case "error":
        this.#failed(frame);
        this.#o.onFrame(frame);
        return;
      default:
        this.#o.onFrame(frame);
    }
  }

  #failed({ code, client_op_id: id }) {
    if (!id || !this.#pending.some((op) => op.client_op_id === id)) return;
    if (!RETRYABLE_ERRORS.has(code)) {
      this.#takePending(id); // the server will never take this op
    } else if (code === "rate_limited" && this.#retryTimer === null) {
      this.#retryTimer = this.#o.timers.setTimeout(() => {
        this.#retryTimer = null;
        this.#sendPending();
      }, this.#o.retryDelayMs);
    }
  }

  // --- connection life --------------------------------------------------------------------

  #closed(ws, code) {
    if (ws !== this.#ws) return;
    this.#detach();
    if (this.#stopped) return;
    if (FINAL_CLOSE_CODES.has(code)) {
      this.#stopped = true;
      this.#clearTimers();
      if (code === 4410) this.#setPending([]); // nothing more is journaled
      this.#o.onStatus(FINAL_CLOSE_CODES.get(code), { code });
      return;
    }
    const capped = Math.min(this.#o.backoffCapMs, this.#o.backoffBaseMs * 2 ** this.#attempt);
    const delay = Math.round(capped / 2 + (this.#o.random() * capped) / 2);
    this.#attempt += 1;
    this.#o.onStatus("reconnecting", { code, delay, attempt: this.#attempt });
    this.#reconnectTimer = this.#o.timers.setTimeout(() => {
      this.#reconnectTimer = null;
      this.connect();
    }, delay);
  }

  #ping() {
    if (!this.#awaitingPong) {
      this.#awaitingPong = true;
      this.#write({ type: "ping" });
      return;
    }
    // Nothing came for a whole interval after a ping: the connection is dead but not closed.
    const ws = this.#ws;
    ws.onclose = null;
    ws.close();
    this.#closed(ws, NO_PONG_CLOSE_CODE);
  }

  #detach() {
    if (this.#ws) {
      this.#ws.onmessage = null;
      this.#ws.onclose = null;
    }
    this.#ws = null;
    this.#ready = false;
    this.#awaitingPong = false;
    if (this.#pingTimer !== null) this.#o.timers.clearInterval(this.#pingTimer);
    this.#pingTimer = null;
  }

  #clearTimers() {
    if (this.#reconnectTimer !== null) this.#o.timers.clearTimeout(this.#reconnectTimer);
    if (this.#retryTimer !== null) this.#o.timers.clearTimeout(this.#retryTimer);
    this.#reconnectTimer = null;
    this.#retryTimer = null;
  }

  // --- outgoing and storage ---------------------------------------------------------------

  #sendPending() {
    for (const op of this.#pending) {
      if (!this.#ready) return;
      this.#write({ type: "op", ...op });
    }
  }

  #write(frame) {
    try {
      this.#ws.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; what is unacked goes again after the next welcome.
    }
  }

  #takePending(id) {
    const op = this.#pending.find((candidate) => candidate.client_op_id === id);
    if (op) this.#setPending(this.#pending.filter((candidate) => candidate !== op));
    return op;
  }

  #setPending(ops) {
    this.#pending = ops;
    this.#save(this.#keys.pending, ops);
  }

  #load(key) {
    try {
      const text = this.#o.storage.getItem(key);
      return text === null || text === undefined ? null : JSON.parse(text);
    } catch {
      return null;
    }
  }

  #save(key, value) {
    try {
      this.#o.storage.setItem(key, JSON.stringify(value));
    } catch {
      // Quota or private mode: the in-memory copy still serves this page.
    }
  }
}

function sessionIdFrom(url) {
  const match = /\/ws\/cobrowse\/([^/?#]+)/.exec(url ?? "");
  if (!match) throw new Error(`no session id in ${url}; pass sessionId`);
  return match[1];
}

function withLastSeq(url, lastSeq) {
  return `${url}${url.includes("?") ? "&" : "?"}last_seq=${lastSeq}`;
}

function randomTabId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
