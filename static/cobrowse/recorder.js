// rrweb recording of the customer's page, turned into ops for the Scheduler (page-events.js).
//
// Guarantees:
//   - Masking follows masking.js in both places rrweb leaves a value: rrweb's own options
//     (RECORD_OPTIONS) and redactEvent() over every event before it is queued.
//   - The widget's own UI and overlays (the shadow root of [data-cobrowse-widget]) are never
//     recorded.
//   - A new full snapshot is taken every checkoutEveryNms, so a late joiner replays a short
//     tail only; each one travels in one dom op with its Meta event.
//   - Typing in a field is sent when the field loses focus, not only after the debounce.
//   - A page whose full snapshot is too large to send (over 4 MiB, mostly inlined CSS) is
//     recorded again with its stylesheets linked instead of inlined (the operator's browser
//     loads them); still too large, it is not recorded, and a custom event says so to the
//     operator (rrweb-ops.js tooLargeEvent) at every start.

import { record } from "../vendor/rrweb/rrweb.js";
import { describeElement, maskDecision, maskText, maskValue } from "./masking.js";
import { PageEvents } from "./page-events.js";
import { tooLargeEvent } from "./rrweb-ops.js";

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
  // The widget's host: rrweb records neither it nor its shadow root (panel, overlays).
  blockSelector: "[data-cobrowse-widget]",
  // The operator follows the pointer live: rrweb's default hands over positions every 500 ms.
  // Sampled every 25 ms, with the last sample of a stroke kept (patches/rrweb+2.2.2.patch), and
  // handed over at once: with the scheduler's 50 ms window the place where the pointer stopped
  // leaves within 75 ms.
  sampling: { mousemove: 25, mousemoveCallback: 0, scroll: 100 },
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
  #inlineStylesheet = true;
  #tooLarge = false; // even without inlined stylesheets: this page is not recorded

  /**
   * @param {object} options
   * @param {{push: Function, pushTogether: Function, flushField: Function}} options.scheduler
   * @param {number} [options.checkoutEveryNms] period of fresh full snapshots
   * @param {() => void} [options.onSnapshot] a full snapshot was queued
   */
  constructor({ scheduler, checkoutEveryNms = 60_000, onSnapshot = () => {} }) {
    this.#scheduler = scheduler;
    this.#checkoutEveryNms = checkoutEveryNms;
    this.#events = new PageEvents({
      scheduler,
      lookup: (id) => describeElement(record.mirror.getNode(id)),
      onTooLarge: () => this.#snapshotTooLarge(),
      onSnapshot,
    });
  }

  get recording() {
    return this.#stop !== null;
  }

  start() {
    if (this.#stop) return;
    if (this.#tooLarge) {
      this.#scheduler.push("dom", tooLargeEvent());
      return;
    }
    const emit = (event) => this.#events.take(event);
    const options = { ...RECORD_OPTIONS, inlineStylesheet: this.#inlineStylesheet };
    this.#stop = record({ ...options, checkoutEveryNms: this.#checkoutEveryNms, emit }) ?? (() => {});
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

  /** Called while rrweb emits (inside record() or a checkout): start again once it returns. */
  #snapshotTooLarge() {
    setTimeout(() => {
      if (!this.#stop) return; // stopped meanwhile
      this.stop();
      if (this.#inlineStylesheet) {
        this.#inlineStylesheet = false;
      } else {
        this.#tooLarge = true;
      }
      this.start();
    }, 0);
  }

  #flushField(target) {
    const id = this.#stop ? record.mirror.getId(target) : -1;
    if (id > 0) this.#scheduler.flushField(`node:${id}`);
  }
}
