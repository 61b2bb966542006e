// rrweb recording of the customer's page, turned into ops for the Scheduler.
//
// Guarantees:
//   - Masking follows masking.js in both places rrweb leaves a value: rrweb's own options
//     (RECORD_OPTIONS) and redactEvent() over every event before it is queued.
//   - The widget's own UI and overlays (#cobrowse-root) are never recorded.
//   - A Meta event and the FullSnapshot after it are queued together (Scheduler.pushTogether),
//     so they always travel in one dom op; a new full snapshot is taken every
//     checkoutEveryNms, so a late joiner replays a short tail only.
//   - Pointer, scroll, input and click events become their own kinds (rrweb-ops.js) and take
//     the pacing of those kinds; everything else is a dom event.
//   - An input op's value never exceeds the protocol's 10,000 characters.

import { record } from "../vendor/rrweb/rrweb.js";
import { describeElement, maskDecision, maskText, maskValue, redactEvent } from "./masking.js";
import { EventType, eventToOp } from "./rrweb-ops.js";

const MAX_VALUE = 10_000;

/** rrweb's maskAllInputs list, plus hidden inputs (CSRF tokens) and file inputs. */
export const MASK_INPUT_OPTIONS = Object.freeze({
  color: true,
  date: true,
  "datetime-local": true,
  email: true,
  month: true,
  number: true,
  range: true,
  search: true,
  tel: true,
  text: true,
  time: true,
  url: true,
  week: true,
  textarea: true,
  select: true,
  password: true,
  hidden: true,
  file: true,
});

export const RECORD_OPTIONS = Object.freeze({
  maskInputOptions: MASK_INPUT_OPTIONS,
  maskInputFn: (text, element) => maskValue(text, maskDecision(describeElement(element) ?? {})),
  maskTextSelector: "[data-cobrowse-mask]",
  maskTextFn: (text) => maskText(text),
  blockSelector: "#cobrowse-root",
  // The operator follows the pointer live: rrweb's default hands over positions every 500 ms.
  sampling: { mousemove: 50, mousemoveCallback: 50, scroll: 100 },
  recordCanvas: false,
  collectFonts: false,
  inlineImages: false,
});

export class Recorder {
  #scheduler;
  #checkoutEveryNms;
  #stop = null;
  #meta = null; // a Meta event waiting for its FullSnapshot
  #onBlur = (event) => this.#flushField(event.target);

  /**
   * @param {object} options
   * @param {{push: Function, pushTogether: Function, flushField: Function}} options.scheduler
   * @param {number} [options.checkoutEveryNms] period of fresh full snapshots
   */
  constructor({ scheduler, checkoutEveryNms = 60_000 }) {
    this.#scheduler = scheduler;
    this.#checkoutEveryNms = checkoutEveryNms;
  }

  get recording() {
    return this.#stop !== null;
  }

  start() {
    if (this.#stop) return;
    this.#stop =
      record({ ...RECORD_OPTIONS, checkoutEveryNms: this.#checkoutEveryNms, emit: (event) => this.#emit(event) }) ??
      (() => {});
    document.addEventListener("focusout", this.#onBlur, true);
  }

  stop() {
    if (!this.#stop) return;
    document.removeEventListener("focusout", this.#onBlur, true);
    this.#stop();
    this.#stop = null;
    this.#meta = null;
  }

  /** The live node with rrweb id `id` (null when unknown). */
  nodeOf(id) {
    return record.mirror.getNode(id);
  }

  /** The rrweb id of a live node (-1 when not recorded). */
  idOf(node) {
    return record.mirror.getId(node);
  }

  #lookup = (id) => describeElement(record.mirror.getNode(id));

  #emit(event) {
    redactEvent(event, this.#lookup);
    if (event.type === EventType.Meta) {
      if (this.#meta) this.#scheduler.push("dom", this.#meta);
      this.#meta = event;
      return;
    }
    if (event.type === EventType.FullSnapshot) {
      this.#scheduler.pushTogether("dom", this.#meta ? [this.#meta, event] : [event]);
      this.#meta = null;
      return;
    }
    if (this.#meta) {
      this.#scheduler.push("dom", this.#meta);
      this.#meta = null;
    }
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

  #flushField(target) {
    const id = this.#stop ? record.mirror.getId(target) : -1;
    if (id > 0) this.#scheduler.flushField(`node:${id}`);
  }
}
