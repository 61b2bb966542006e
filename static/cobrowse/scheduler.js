// Paces outgoing ops by the policy of their kind (kinds.js) before they reach the Transport.
//
// Guarantees:
//   - An op of an "immediate" kind (click, navigate, chat, ...) and flush() send everything
//     pushed before them first, so a click on "submit" never overtakes the typing before it.
//   - Pending dom events always leave before any other op, so a node id named by a pointer,
//     scroll, input or click op is already known to the receiver's replayer.
//   - Other pending ops leave in the order they were first pushed. Kinds paced by time
//     (pointer, scroll, input) carry a latest value, not a delta, so when their own timers
//     fire they may pass each other within one window without losing anything.
//   - dom events keep their order: one batch at a time, split at maxEvents or maxBytes, except
//     between events pushed together (pushTogether), which always share one op.
//
// Timers are injected ({setTimeout, clearTimeout}) so tests drive time by hand.

import { KINDS, Policy } from "./kinds.js";

const utf8 = new TextEncoder();
const jsonBytes = (value) => utf8.encode(JSON.stringify(value)).length;

export class Scheduler {
  #send;
  #timers;
  #kinds;
  #sizeOf;
  #slots = new Map(); // key -> slot: what is pending (or rate-limited) for a kind/element
  #order = 0; // push counter: the order slots were first filled in

  /**
   * @param {object} options
   * @param {(op: {kind: string, payload: object, element?: string}) => void} options.send
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {object} [options.kinds] the kinds table, KINDS by default
   * @param {(event: object) => number} [options.sizeOf] bytes of one dom event on the wire
   */
  constructor({ send, timers = globalThis, kinds = KINDS, sizeOf = jsonBytes }) {
    this.#send = send;
    this.#timers = timers;
    this.#kinds = kinds;
    this.#sizeOf = sizeOf;
  }

  /**
   * Queue one op. For "dom", `payload` is one rrweb event or an array of them; every other
   * kind takes its protocol payload. `element` is the op's element key ("node:88", "field:email").
   */
  push(kind, payload, element) {
    const spec = Object.hasOwn(this.#kinds, kind) ? this.#kinds[kind] : undefined;
    if (!spec) throw new Error(`unknown kind: ${kind}`);
    switch (spec.policy) {
      case Policy.IMMEDIATE:
        this.flush();
        this.#emit(kind, payload, element);
        return;
      case Policy.COALESCE:
      case Policy.THROTTLE:
        this.#pushLatest(kind, spec, payload, element);
        return;
      case Policy.DEBOUNCE:
        this.#pushDebounced(kind, spec, payload, element);
        return;
      case Policy.BATCH:
        this.#pushBatch(kind, spec, payload);
        return;
      default:
        throw new Error(`kind ${kind} has unknown policy ${spec.policy}`);
    }
  }

  /**
   * Queue events of a batch kind that must travel in one op (rrweb's Meta and the FullSnapshot
   * after it: the receiver rebuilds the page from the pair). They join the pending batch when
   * they fit in it, otherwise that batch goes first; the group itself is never split, even when
   * it alone exceeds maxEvents or maxBytes. A group over the kind's maxGroupBytes (what the
   * server would refuse) is not queued: returns false (true otherwise).
   */
  pushTogether(kind, events) {
    const spec = Object.hasOwn(this.#kinds, kind) ? this.#kinds[kind] : undefined;
    if (!spec || spec.policy !== Policy.BATCH) throw new Error(`pushTogether needs a batch kind, not ${kind}`);
    if (!events.length) return true;
    const size = events.reduce((total, event) => total + this.#sizeOf(event), 0);
    if (size > (spec.maxGroupBytes ?? Infinity)) return false;
    let slot = this.#slots.get(kind);
    if (slot && (slot.events.length + events.length > spec.maxEvents || slot.bytes + size > spec.maxBytes)) {
      this.#sendSlot(slot);
      slot = undefined;
    }
    if (!slot) slot = this.#openBatch(kind, spec);
    slot.events.push(...events);
    slot.bytes += size;
    if (slot.events.length >= spec.maxEvents || slot.bytes >= spec.maxBytes) this.#sendSlot(slot);
    return true;
  }

  /** Send the debounced value of `element` now (the field lost focus). */
  flushField(element) {
    for (const slot of [...this.#slots.values()]) {
      if (slot.policy === Policy.DEBOUNCE && slot.element === element) this.#sendSlot(slot);
    }
  }

  /** Send everything pending now (before navigation, submit or unload). */
  flush() {
    const pending = [...this.#slots.values()].filter(hasPending);
    const batches = pending.filter((slot) => slot.policy === Policy.BATCH);
    const others = pending.filter((slot) => slot.policy !== Policy.BATCH);
    others.sort((a, b) => a.order - b.order);
    for (const slot of [...batches, ...others]) this.#sendSlot(slot);
  }

  // --- pointer and scroll: at most one op per window, the latest value wins -------------

  #pushLatest(kind, spec, payload, element) {
    const key = spec.policy === Policy.COALESCE ? kind : slotKey(kind, element);
    let slot = this.#slots.get(key);
    if (slot) {
      if (!slot.value) slot.order = ++this.#order;
      slot.value = { payload, element };
      return;
    }
    // No window open: this value goes at once and opens one.
    slot = { key, kind, policy: spec.policy, element, value: null, order: 0, timer: null };
    this.#slots.set(key, slot);
    this.#flushBatches();
    this.#emit(kind, payload, element);
    this.#openWindow(slot, spec.intervalMs);
  }

  #openWindow(slot, intervalMs) {
    slot.timer = this.#timers.setTimeout(() => {
      slot.timer = null;
      if (!slot.value) {
        this.#slots.delete(slot.key);
        return;
      }
      this.#sendSlot(slot);
      this.#openWindow(slot, intervalMs);
    }, intervalMs);
  }

  // --- input: latest value per element, after a quiet period ------------------------------

  #pushDebounced(kind, spec, payload, element) {
    const key = slotKey(kind, element);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { key, kind, policy: spec.policy, element, value: null, order: ++this.#order, timer: null };
      this.#slots.set(key, slot);
    }
    slot.value = { payload, element };
    if (slot.timer !== null) this.#timers.clearTimeout(slot.timer);
    slot.timer = this.#timers.setTimeout(() => this.#sendSlot(slot), spec.delayMs);
  }

  // --- dom: events concatenated, one batch at a time --------------------------------------

  #pushBatch(kind, spec, payload) {
    const events = Array.isArray(payload) ? payload : [payload];
    let slot = this.#slots.get(kind);
    for (const event of events) {
      const size = this.#sizeOf(event);
      if (slot && (slot.events.length >= spec.maxEvents || slot.bytes + size > spec.maxBytes)) {
        this.#sendSlot(slot);
        slot = undefined;
      }
      if (!slot) slot = this.#openBatch(kind, spec);
      slot.events.push(event);
      slot.bytes += size;
    }
    if (slot && slot.events.length >= spec.maxEvents) this.#sendSlot(slot);
  }

  #openBatch(kind, spec) {
    const slot = { key: kind, kind, policy: spec.policy, events: [], bytes: 0, order: ++this.#order };
    slot.timer = this.#timers.setTimeout(() => this.#sendSlot(slot), spec.maxDelayMs);
    this.#slots.set(kind, slot);
    return slot;
  }

  #flushBatches() {
    for (const slot of [...this.#slots.values()]) {
      if (slot.policy === Policy.BATCH && hasPending(slot)) this.#sendSlot(slot);
    }
  }

  // --- sending ----------------------------------------------------------------------------

  /** Send what `slot` holds; a rate-limited slot keeps its window open, others are removed. */
  #sendSlot(slot) {
    if (!hasPending(slot)) return;
    if (slot.policy === Policy.BATCH) {
      this.#closeSlot(slot);
      this.#emit(slot.kind, { events: slot.events });
      return;
    }
    this.#flushBatches();
    const { payload, element } = slot.value;
    slot.value = null;
    if (slot.policy === Policy.DEBOUNCE) this.#closeSlot(slot);
    this.#emit(slot.kind, payload, element);
  }

  #closeSlot(slot) {
    if (slot.timer !== null) this.#timers.clearTimeout(slot.timer);
    slot.timer = null;
    if (this.#slots.get(slot.key) === slot) this.#slots.delete(slot.key);
  }

  #emit(kind, payload, element) {
    const op = { kind, payload };
    if (element !== undefined && element !== null) op.element = element;
    this.#send(op);
  }
}

function slotKey(kind, element) {
  return `${kind}\u0000${element ?? ""}`;
}

function hasPending(slot) {
  return slot.policy === Policy.BATCH ? slot.events.length > 0 : slot.value !== null;
}
