// One help session on the current page, from the customer's side: the recorder feeds the
// scheduler, the scheduler feeds the transport; the transport feeds the inbox, which applies
// the operator's ops in seq order to the panel, the overlays and (with control) the page.
//
// Guarantees:
//   - On every page load: `navigate` {url, title} first, then rrweb recording (Meta +
//     FullSnapshot first); the ack of that navigate marks where this page's ops begin.
//   - Pending ops are flushed before the page goes away (link click, form submit, pagehide,
//     beforeunload, hidden tab); the transport keeps unacked ops in sessionStorage, and the
//     next page re-sends them with the same client_op_ids, so nothing typed is lost.
//   - Operator actions run only through actions.js's verdict (control granted, current page).
//   - The panel collapses to its handle when an operator joins (unless the customer is writing
//     in it); a control request or the end opens it, a message from support badges the handle.
//   - The operator learns where the widget covers the page (a `panel` op with the dock's box)
//     whenever it changes, and again after every full snapshot (a late joiner starts there).
//   - One tab at a time shows its page: tabs of this browser in the same session tell each
//     other (BroadcastChannel) when they start recording, and the one that started last
//     records; the others stop recording and wait until the customer uses them again (a
//     click, a key, the tab coming to the front), then record afresh (navigate, full snapshot).
//     When the recording tab goes away (closed, or gone to another site) and no page of the
//     session started recording within HAND_BACK_MS, a waiting tab records. Chat works from
//     every tab.
//   - When the session ends (either side, or a final close code: ENDED, FORBIDDEN,
//     INVALID_TOKEN) recording stops, nothing more is sent, and everything kept for the session
//     in sessionStorage is removed.

import { actionVerdict, Actions, isForCurrentPage, WIDGET_HOST } from "./actions.js";
import { Inbox } from "./inbox.js";
import { MAX_TEXT, MAX_TITLE, MAX_URL } from "./protocol.js";
import { Recorder } from "./recorder.js";
import { Scheduler } from "./scheduler.js";
import * as S from "./session-state.js";
import { Transport } from "./transport.js";

// How long a waiting tab gives the page after the recording one (same tab, next page) to
// start recording before it records itself.
export const HAND_BACK_MS = 2000;

export class CustomerSession {
  #session;
  #api;
  #panel;
  #overlays;
  #dock;
  #place; // where the customer put the dock (dock.js), kept for the next page
  #window;
  #onOver;
  #state;
  #open;
  #transport = null;
  #inbox = null;
  #scheduler = null;
  #recorder = null;
  #actions = null;
  #pageCid = null; // client_op_id of this page's navigate op
  #pageSeq = null; // its seq, from its ack
  #listeners = [];
  #over = false;
  #endCid = null; // client_op_id of the customer's own "end", kept until acknowledged
  #lingerTimer = null;
  #tabs = null; // BroadcastChannel to this browser's other tabs in the session
  #since = null; // [time, client_op_id of its navigate]: when this tab began recording
  #recordsElsewhere = null; // the same for the tab that took over, while this one waits
  #handBackTimer = null;

  /**
   * @param {object} options
   * @param {object} options.session the API's session body {id, code, site, ws_url, status, head_seq, token}
   * @param {import("./api.js").HelpApi} options.api
   * @param {import("./panel.js").Panel} options.panel
   * @param {import("./overlays.js").Overlays} options.overlays
   * @param {import("./dock.js").Dock} [options.dock]
   * @param {(status: string) => void} [options.onOver] the session ended or was refused
   * @param {boolean} [options.open] show the panel (default: as it was on the previous page)
   * @param {Window} [options.window]
   */
  constructor({ session, api, panel, overlays, dock = null, onOver = () => {}, open, window: win = globalThis.window }) {
    this.#session = session;
    this.#api = api;
    this.#panel = panel;
    this.#overlays = overlays;
    this.#dock = dock;
    this.#onOver = onOver;
    this.#window = win;
    const saved = api.load(session.id, "ui") ?? {};
    this.#state = S.initialState(session, saved);
    this.#open = open ?? saved.open ?? true;
    this.#place = saved.place ?? null;
  }

  get over() {
    return this.#over;
  }

  start() {
    const win = this.#window;
    const doc = win.document;
    this.#transport = new Transport({
      url: this.#api.socketUrl(this.#session),
      sessionId: this.#session.id,
      onFrame: (frame, meta) => this.#received(frame, meta),
      onStatus: (status, info) => this.#status(status, info),
      // The desk learns within seconds that a customer's network went without a close.
      heartbeat: true,
    });
    if (this.#transport.lastSeen === null && Number.isInteger(this.#session.head_seq)) {
      this.#transport.markSeen(this.#session.head_seq);
    }
    this.#inbox = new Inbox({
      lastSeen: this.#transport.lastSeen ?? 0,
      apply: (op) => this.#apply(op),
      requestResume: (lastSeen) => this.#transport.resume(lastSeen),
      onAdvance: (lastSeen) => this.#over || this.#transport.markSeen(lastSeen),
    });
    // Once the session is over nothing more leaves the page, not even a batch already queued.
    this.#scheduler = new Scheduler({ send: (op) => this.#over || this.#transport.send(op) });
    this.#recorder = new Recorder({ scheduler: this.#scheduler, onSnapshot: () => this.#sendBox() });
    this.#actions = new Actions({ nodeOf: (id) => this.#recorder.nodeOf(id), overlays: this.#overlays, window: win });

    this.#transport.connect();
    if (typeof win.BroadcastChannel === "function") {
      this.#tabs = new win.BroadcastChannel(`cobrowse:${this.#session.id}`);
      this.#tabs.onmessage = (event) => this.#heard(event.data);
    }
    // Every page load records, even in a tab that is not in front (a browser may call a page
    // hidden while it loads): the tab the customer uses takes it back at their first click.
    this.#record();

    const takeOver = () => this.#takeOver();
    this.#listen(win, "focus", takeOver);
    this.#listen(doc, "pointerdown", takeOver, true);
    this.#listen(doc, "keydown", takeOver, true);
    this.#listen(doc, "visibilitychange", () => doc.visibilityState === "visible" && takeOver());
    const flush = () => this.#scheduler?.flush();
    this.#listen(win, "pagehide", () => {
      flush();
      this.#goingAway();
    });
    this.#listen(win, "beforeunload", flush);
    this.#listen(doc, "submit", flush, true);
    this.#listen(doc, "click", (event) => event.target?.closest?.("a[href]") && flush(), true);
    this.#listen(doc, "visibilitychange", () => doc.visibilityState === "hidden" && flush());
    // A page restored from the back/forward cache lost its socket: start it again properly.
    this.#listen(win, "pageshow", (event) => event.persisted && win.location.reload());
    this.#render();
  }

  // --- what the customer asks for -----------------------------------------------------------

  allow() {
    const operator = this.#state.request ?? this.#state.operator;
    if (operator === null || this.#over) return;
    this.#sendNow("control", { action: "grant", participant: operator });
    this.#update({ ...this.#state, request: null });
  }

  /** Deny a control request: a `revoke` tells the operator the answer is no. */
  deny() {
    if (this.#over) return;
    this.#sendNow("control", { action: "revoke" });
    this.#update({ ...this.#state, request: null });
  }

  grant() {
    this.allow();
  }

  revoke() {
    if (this.#over || this.#state.control === null) return;
    this.#sendNow("control", { action: "revoke" });
  }

  chat(text) {
    if (this.#over) return;
    const cid = this.#sendNow("chat", { text: text.slice(0, MAX_TEXT) });
    this.#update(S.onChatSent(this.#state, cid, text.slice(0, MAX_TEXT)));
  }

  /** End the session: recording stops at once; the socket stays until the server has the end. */
  end() {
    if (this.#over) return;
    this.#endCid = this.#sendNow("session", { action: "end" });
    this.#finish("ended", { linger: true });
  }

  /** The customer opened or hid the panel; the next page shows it the same way. */
  showPanel(open) {
    this.#open = open;
    this.#save();
  }

  /** The dock moved (dock.js); the next page puts it there too. */
  keepPlace(place) {
    this.#place = place;
    this.#save();
  }

  /** The dock's box changed: tell the operator where the page is covered. */
  panelBox(box) {
    if (this.#over || this.#since === null) return; // another tab shows its page meanwhile
    this.#scheduler?.push("panel", box);
  }

  // --- incoming -----------------------------------------------------------------------------

  #received(frame, meta) {
    if (this.#over) {
      const endAcked = frame.type === "ack" && frame.client_op_id === this.#endCid;
      const endOp = frame.type === "op" && frame.kind === "session" && frame.payload?.action === "end";
      if (endAcked || endOp) this.#release();
      return;
    }
    switch (frame.type) {
      case "welcome":
        this.#update(S.onWelcome(this.#state, frame));
        this.#inbox.receive(frame);
        if (frame.status === "ended") this.#finish("ended");
        return;
      case "ack":
        if (frame.client_op_id === this.#pageCid) this.#pageSeq = frame.seq;
        this.#update(S.onAck(this.#state, frame));
        this.#inbox.receive(frame, meta);
        return;
      case "op":
      case "synced":
        this.#inbox.receive(frame);
        return;
      case "error":
        if (frame.code === "session_ended") this.#finish("ended");
        return;
      default:
    }
  }

  #apply(op) {
    if (this.#over) return;
    const before = S.phase(this.#state);
    this.#update(S.onOp(this.#state, op));
    const after = S.phase(this.#state);
    if (after !== before && after === "request") this.#reveal();
    if (op.kind === "chat" && op.sender?.role !== "customer" && op.seq > this.#state.welcomeSeq) this.#panel.noteMessage();
    if (this.#state.status === "ended") {
      this.#finish("ended");
      return;
    }
    if (op.sender?.role !== "operator") return;
    const p = op.payload ?? {};
    const name = S.nameOf(this.#state, op.sender.participant);
    if (op.kind === "pointer" && isForCurrentPage(op, this.#pageSeq)) {
      this.#overlays.pointer(p.x, p.y, name);
    } else if (op.kind === "highlight" && isForCurrentPage(op, this.#pageSeq)) {
      const target = Number.isInteger(p.id) ? this.#recorder.nodeOf(p.id) : p;
      if (target && !(target.nodeType === 1 && target.closest(WIDGET_HOST))) {
        this.#overlays.highlight(target.nodeType === 3 ? target.parentElement : target, p.label ?? "");
      }
    } else if (actionVerdict(op, { control: this.#state.control, pageSeq: this.#pageSeq }) === "apply") {
      this.#actions.apply(op);
    }
  }

  #status(status, info) {
    const final = status === "ended" || status === "forbidden" || status === "invalid_token";
    if (this.#over) {
      if (final) this.#release();
      return;
    }
    if (final) {
      if (status !== "ended") console.error(`[cobrowse] the desk refused this page's connection: ${refusal(info)}`);
      this.#finish(status === "ended" ? "ended" : "forbidden");
    } else if (status === "connecting" || status === "open" || status === "reconnecting") {
      // "connecting" right after a drop keeps showing the drop until the socket is back.
      const connection = status === "connecting" && this.#state.connection === "reconnecting" ? "reconnecting" : status;
      this.#update(S.onConnection(this.#state, connection));
    }
  }

  // --- one tab at a time ---------------------------------------------------------------------

  /** Show this page to the operator from now on: navigate, then a fresh full snapshot. */
  #record() {
    const win = this.#window;
    const page = { url: win.location.href.slice(0, MAX_URL), title: win.document.title.slice(0, MAX_TITLE) };
    this.#pageSeq = null;
    this.#pageCid = this.#sendNow("navigate", page);
    this.#recorder.start();
    this.#since = [Date.now(), this.#pageCid];
    this.#tabs?.postMessage({ recording: this.#since });
  }

  /** A message from another tab of the session: it began recording, or the recording one is
   * going away. */
  #heard(message) {
    if (this.#over) return;
    if (Array.isArray(message?.recording)) this.#otherRecords(message.recording);
    else if (Array.isArray(message?.leaving)) this.#otherLeaves(message.leaving);
  }

  /** Another tab began recording: the later of the two records. */
  #otherRecords(other) {
    if (this.#since !== null && isLater(this.#since, other)) return; // this tab is the later one
    if (this.#recordsElsewhere === null || isLater(other, this.#recordsElsewhere)) {
      this.#recordsElsewhere = other;
    }
    if (this.#since === null) return; // waiting already
    this.#scheduler.flush();
    this.#recorder.stop();
    this.#overlays.clear();
    this.#since = this.#pageCid = this.#pageSeq = null;
    this.#update(S.onElsewhere(this.#state, true));
  }

  /** The recording tab's page is going away: unless a page of the session starts recording
   * soon (the same tab's next page, usually), this waiting tab takes over. */
  #otherLeaves(leaving) {
    const elsewhere = this.#recordsElsewhere;
    if (this.#since !== null || elsewhere === null || !sameSince(leaving, elsewhere)) return;
    this.#window.clearTimeout(this.#handBackTimer);
    this.#handBackTimer = this.#window.setTimeout(() => {
      if (this.#recordsElsewhere === elsewhere) this.#takeOver();
    }, HAND_BACK_MS);
  }

  /** This page goes away (closed, reloaded, another page): the tabs waiting may take over. */
  #goingAway() {
    if (this.#over || this.#since === null) return;
    this.#tabs?.postMessage({ leaving: this.#since });
  }

  #takeOver() {
    if (this.#over || this.#since !== null) return;
    this.#window.clearTimeout(this.#handBackTimer);
    this.#recordsElsewhere = null;
    this.#record();
    this.#update(S.onElsewhere(this.#state, false));
  }

  // --- plumbing -----------------------------------------------------------------------------

  /** The dock's box, once more (this page was just recorded from a fresh snapshot). */
  #sendBox() {
    if (this.#dock) this.panelBox(this.#dock.box());
  }

  /** Send an immediate op after everything pending, and return its client_op_id. */
  #sendNow(kind, payload) {
    this.#scheduler.flush();
    return this.#transport.send({ kind, payload });
  }

  /**
   * The session is over for this page: stop recording and acting, show it. With `linger`, the
   * socket stays until the server acknowledges the customer's end (at most 10 s); otherwise
   * it closes now. Either way everything kept for the session is then removed.
   */
  #finish(status, { linger = false } = {}) {
    if (this.#over) return;
    this.#over = true;
    this.#recorder?.stop();
    this.#tabs?.close();
    this.#window.clearTimeout(this.#handBackTimer);
    this.#inbox?.dispose();
    for (const [target, type, handler, capture] of this.#listeners) target.removeEventListener(type, handler, capture);
    this.#listeners = [];
    this.#overlays.clear();
    this.#state = S.onConnection(this.#state, status);
    this.#panel.render(this.#state);
    this.#panel.show();
    if (linger) this.#lingerTimer = this.#window.setTimeout(() => this.#release(), 10_000);
    else this.#release();
    this.#onOver(status);
  }

  /** Close the socket for good and forget the session. */
  #release() {
    this.#window.clearTimeout(this.#lingerTimer);
    this.#transport?.close();
    this.#api.forget(this.#session.site, this.#session.id);
  }

  #reveal() {
    this.#open = true;
    this.#save();
    this.#panel.show();
  }

  #update(state) {
    if (state === this.#state) return;
    const joined = S.phase(this.#state) === "waiting" && S.phase(state) === "joined";
    this.#state = state;
    // The operator is here: the page is what matters now, the panel steps back to its handle.
    if (joined && !this.#over && !this.#panel.writing) {
      this.#open = false;
      this.#panel.hide();
    }
    if (this.#over) return;
    this.#save();
    this.#render();
  }

  #render() {
    this.#panel.render(this.#state);
    const controller = this.#state.control;
    this.#overlays.controlling(controller !== null, S.nameOf(this.#state, controller));
    if (this.#open && !this.#panel.open) this.#panel.show();
  }

  #save() {
    if (!this.#over) this.#api.save(this.#session.id, "ui", { ...S.savedPart(this.#state), open: this.#open, place: this.#place });
  }

  #listen(target, type, handler, capture = false) {
    target.addEventListener(type, handler, capture);
    this.#listeners.push([target, type, handler, capture]);
  }
}

// What a refusal means, for the merchant's developer reading the console: the desk's close code,
// its reason when the server could send one (daphne drops reasons), and what the code means.
const REFUSALS = {
  4401: "invalid_token: the session's token is missing, expired, or another session's",
  4403: "forbidden: this page's origin is not among the site's allowed origins, or the session is not this customer's",
};

function refusal({ code, reason } = {}) {
  const meaning = REFUSALS[code] ?? "refused";
  return reason ? `${code} ${reason} (${meaning})` : `${code} ${meaning}`;
}

/** Whether recording start `a` ([time, client_op_id]) is later than `b` (ties: by id). */
function isLater(a, b) {
  return a[0] > b[0] || (a[0] === b[0] && String(a[1]) > String(b[1]));
}

function sameSince(a, b) {
  return a[0] === b[0] && String(a[1]) === String(b[1]);
}
