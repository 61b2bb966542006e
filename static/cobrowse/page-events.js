// The customer's rrweb events on their way to the Scheduler: redacted, grouped, and split by
// kind. The DOM-free half of the recorder (recorder.js holds rrweb itself).
//
// Guarantees:
//   - Every event goes through masking.js's redactEvent() before it is queued.
//   - A Meta event and the FullSnapshot after it are queued together (Scheduler.pushTogether),
//     so they always travel in one dom op. A Meta that no FullSnapshot follows is queued as an
//     ordinary dom event when the next event comes.
//   - Pointer, scroll, input and click events become their own kinds (rrweb-ops.js) and take
//     the pacing of those kinds; everything else is a dom event, in order.
//   - An input op's value never exceeds the protocol's 10,000 characters.
//   - onSnapshot() hears of every FullSnapshot queued, after it is queued.
//   - A Meta + FullSnapshot too large to send (Scheduler.pushTogether says no) is dropped and
//     reported to onTooLarge(bytes) (the recorder tries again without inlined stylesheets).

import { redactEvent } from "./masking.js";
import { MAX_VALUE } from "./protocol.js";
import { EventType, eventToOp } from "./rrweb-ops.js";

export class PageEvents {
  #scheduler;
  #lookup;
  #meta = null; // a Meta event waiting for its FullSnapshot
  #onTooLarge;
  #onSnapshot;

  /**
   * @param {object} options
   * @param {{push: Function, pushTogether: Function}} options.scheduler
   * @param {(id: number) => object | null} [options.lookup] describes the live node with rrweb
   *   id `id` for masking (masking.js describeElement)
   * @param {() => void} [options.onTooLarge] a full snapshot was too large to send
   * @param {() => void} [options.onSnapshot] a full snapshot was queued
   */
  constructor({ scheduler, lookup = () => null, onTooLarge = () => {}, onSnapshot = () => {} }) {
    this.#scheduler = scheduler;
    this.#lookup = lookup;
    this.#onTooLarge = onTooLarge;
    this.#onSnapshot = onSnapshot;
  }

  /** Take one rrweb event, as rrweb emits them. */
  take(event) {
    redactEvent(event, this.#lookup);
    if (event.type === EventType.Meta) {
      this.#releaseMeta();
      this.#meta = event;
      return;
    }
    if (event.type === EventType.FullSnapshot) {
      const queued = this.#scheduler.pushTogether("dom", this.#meta ? [this.#meta, event] : [event]);
      this.#meta = null;
      if (queued === false) this.#onTooLarge();
      else this.#onSnapshot();
      return;
    }
    this.#releaseMeta();
    const op = eventToOp(event);
    if (op.kind === "dom") {
      this.#scheduler.push("dom", event);
      return;
    }
    if (op.kind === "input" && op.payload.value.length > MAX_VALUE) {
      op.payload.value = op.payload.value.slice(0, MAX_VALUE);
    }
    this.#scheduler.push(op.kind, op.payload, op.element);
  }

  /** Forget a Meta still waiting (recording stopped). */
  reset() {
    this.#meta = null;
  }

  #releaseMeta() {
    if (this.#meta) this.#scheduler.push("dom", this.#meta);
    this.#meta = null;
  }
}
