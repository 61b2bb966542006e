// rrweb recording of the customer's page, turned into ops for the Scheduler (page-events.js).
//
// Guarantees:
//   - Masking follows masking.js in both places rrweb leaves a value: rrweb's own options
//     (RECORD_OPTIONS) and redactEvent() over every event before it is queued.
//   - The widget's own UI and overlays (#cobrowse-root) are never recorded.
//   - A new full snapshot is taken every checkoutEveryNms, so a late joiner replays a short
//     tail only; each one travels in one dom op with its Meta event.
//   - Typing in a field is sent when the field loses focus, not only after the debounce.

import { record } from "../vendor/rrweb/rrweb.js";
import { describeElement, maskDecision, maskText, maskValue } from "./masking.js";
import { PageEvents } from "./page-events.js";

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
  #events;
  #stop = null;
  #onBlur = (event) => this.#flushField(event.target);

  /**
   * @param {object} options
   * @param {{push: Function, pushTogether: Function, flushField: Function}} options.scheduler
   * @param {number} [options.checkoutEveryNms] period of fresh full snapshots
   */
  constructor({ scheduler, checkoutEveryNms = 60_000 }) {
    this.#scheduler = scheduler;
    this.#checkoutEveryNms = checkoutEveryNms;
    this.#events = new PageEvents({ scheduler, lookup: (id) => describeElement(record.mirror.getNode(id)) });
  }

  get recording() {
    return this.#stop !== null;
  }

  start() {
    if (this.#stop) return;
    const emit = (event) => this.#events.take(event);
    this.#stop = record({ ...RECORD_OPTIONS, checkoutEveryNms: this.#checkoutEveryNms, emit }) ?? (() => {});
    document.addEventListener("focusout", this.#onBlur, true);
  }

  stop() {
    if (!this.#stop) return;
    document.removeEventListener("focusout", this.#onBlur, true);
    this.#stop();
    this.#stop = null;
    this.#events.reset();
  }

  /** The live node with rrweb id `id` (null when unknown). */
  nodeOf(id) {
    return record.mirror.getNode(id);
  }

  #flushField(target) {
    const id = this.#stop ? record.mirror.getId(target) : -1;
    if (id > 0) this.#scheduler.flushField(`node:${id}`);
  }
}
