// Ordering buffer for incoming frames: hands `op` frames to apply() strictly in seq order,
// each at most once, and asks for a resume when a seq is missing.
//
// Guarantees:
//   - apply(op) sees seq last_seen+1, +2, ... with no gap and no repeat; a frame whose seq is
//     already seen is dropped, a frame beyond a gap waits in the buffer until the gap fills.
//   - requestResume(lastSeen) fires once when a gap opens, and again only if the gap is still
//     open after resumeTimeoutMs without progress.
//   - `ack` frames advance last_seen like ops (own ops of delivery "others" only come back as
//     acks). An ack flagged {echo: true} by the Transport (delivery "all") does not: its op
//     frame with the same seq follows and is applied as any other.
//   - Per element, an op whose element_seq is not newer than the last one seen for that
//     element is not applied (its seq still counts as seen).
//   - `welcome` moves last_seen up to the connection's position; `synced` closes the part of
//     a gap up to head_seq, because after a resume nothing at or below head_seq is still to
//     come on this connection (those seqs are own ops sent on another connection).
//
// Timers are injected ({setTimeout, clearTimeout}) so tests drive time by hand.

export class Inbox {
  #apply;
  #requestResume;
  #onAdvance;
  #onError;
  #timers;
  #resumeTimeoutMs;
  #lastSeen;
  #buffer = new Map(); // seq -> {frame, meta} waiting for the gap before it to fill
  #elementSeqs = new Map(); // element -> newest element_seq seen
  #gapTimer = null;

  /**
   * @param {object} options
   * @param {(op: object) => void} options.apply called with each op frame, in seq order
   * @param {(lastSeen: number) => void} options.requestResume ask the server to resume after lastSeen
   * @param {(lastSeen: number) => void} [options.onAdvance] last_seen moved (persist it)
   * @param {(error: Error, op: object) => void} [options.onError] apply() threw
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {number} [options.resumeTimeoutMs] re-ask after this long without progress
   * @param {number} [options.lastSeen] the seq already applied (from storage after a reload)
   */
  constructor({
    apply,
    requestResume,
    onAdvance = () => {},
    onError = (error) => console.error(error),
    timers = globalThis,
    resumeTimeoutMs = 5000,
    lastSeen = 0,
  }) {
    this.#apply = apply;
    this.#requestResume = requestResume;
    this.#onAdvance = onAdvance;
    this.#onError = onError;
    this.#timers = timers;
    this.#resumeTimeoutMs = resumeTimeoutMs;
    this.#lastSeen = lastSeen;
  }

  /** The highest seq applied or acknowledged with nothing missing below it. */
  get lastSeen() {
    return this.#lastSeen;
  }

  /** Whether seqs are missing (frames are waiting in the buffer). */
  get hasGap() {
    return this.#buffer.size > 0;
  }

  /**
   * Take one server frame. `meta.echo` (ack only): an op frame with the same seq follows.
   * `meta.element` (ack only): the element of the acknowledged op. Other types are ignored.
   */
  receive(frame, meta = {}) {
    switch (frame.type) {
      case "op":
        this.#accept(frame.seq, { frame, meta });
        return;
      case "ack":
        if (meta.echo) return;
        this.#accept(frame.seq, { frame, meta });
        return;
      case "welcome":
        this.#skipTo(frame.position);
        this.#armGapTimer();
        return;
      case "synced":
        this.#closeGapUpTo(frame.head_seq);
        return;
      default:
    }
  }

  /** Start over after `lastSeen` (e.g. a late joiner replaying from a snapshot). */
  reset(lastSeen) {
    this.#buffer.clear();
    this.#elementSeqs.clear();
    this.#clearGapTimer();
    this.#lastSeen = lastSeen;
    this.#onAdvance(lastSeen);
  }

  /** Stop the gap timer (page teardown). */
  dispose() {
    this.#clearGapTimer();
  }

  // --- ordering ---------------------------------------------------------------------------

  #accept(seq, entry) {
    if (!Number.isInteger(seq) || seq <= this.#lastSeen) return; // duplicate
    if (seq > this.#lastSeen + 1) {
      const gapWasOpen = this.hasGap;
      if (!this.#buffer.has(seq)) this.#buffer.set(seq, entry);
      if (!gapWasOpen) this.#askForResume();
      return;
    }
    this.#process(entry);
    this.#lastSeen = seq;
    this.#drain();
  }

  /** Process buffered frames that now follow last_seen, then report the progress. */
  #drain() {
    while (this.#buffer.has(this.#lastSeen + 1)) {
      const next = this.#lastSeen + 1;
      const entry = this.#buffer.get(next);
      this.#buffer.delete(next);
      this.#process(entry);
      this.#lastSeen = next;
    }
    if (this.hasGap) this.#armGapTimer();
    else this.#clearGapTimer();
    this.#onAdvance(this.#lastSeen);
  }

  #process({ frame, meta }) {
    const element = frame.type === "op" ? frame.element : meta.element;
    const elementSeq = frame.element_seq;
    if (element != null && Number.isInteger(elementSeq)) {
      const newest = this.#elementSeqs.get(element) ?? 0;
      if (elementSeq <= newest) return; // stale for this element
      this.#elementSeqs.set(element, elementSeq);
    }
    if (frame.type !== "op") return;
    try {
      this.#apply(frame);
    } catch (error) {
      this.#onError(error, frame);
    }
  }

  #skipTo(seq) {
    if (!Number.isInteger(seq) || seq <= this.#lastSeen) return;
    // Frames already buffered below the new start are still newer than what was applied.
    const below = [...this.#buffer.keys()].filter((buffered) => buffered <= seq);
    for (const buffered of below.sort((a, b) => a - b)) {
      this.#process(this.#buffer.get(buffered));
      this.#buffer.delete(buffered);
    }
    this.#lastSeen = seq;
    this.#drain();
  }

  #closeGapUpTo(headSeq) {
    if (!Number.isInteger(headSeq) || headSeq <= this.#lastSeen) return;
    // Seqs at or below head_seq that have not come by now never will on this connection.
    const firstBuffered = this.hasGap ? Math.min(...this.#buffer.keys()) : Infinity;
    const skipTo = Math.min(headSeq, firstBuffered - 1);
    if (skipTo > this.#lastSeen) this.#skipTo(skipTo);
  }

  // --- gaps -------------------------------------------------------------------------------

  #askForResume() {
    this.#requestResume(this.#lastSeen);
    this.#armGapTimer();
  }

  /** (Re)start the resume timeout while a gap is open; progress restarts it. */
  #armGapTimer() {
    this.#clearGapTimer();
    if (!this.hasGap) return;
    this.#gapTimer = this.#timers.setTimeout(() => {
      this.#gapTimer = null;
      if (this.hasGap) this.#askForResume();
    }, this.#resumeTimeoutMs);
  }

  #clearGapTimer() {
    if (this.#gapTimer !== null) this.#timers.clearTimeout(this.#gapTimer);
    this.#gapTimer = null;
  }
}
