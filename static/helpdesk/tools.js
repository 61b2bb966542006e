// The operator's hands on the mirror: the pointer (always shown to the customer), the
// highlight tool, and, while the customer grants control, clicks and typing that act on the
// customer's real page (by rrweb node id).
//
// Guarantees:
//   - Positions sent are in the customer's viewport (CSS px), whatever the mirror's scale.
//   - Every tool works from the keyboard too: the highlight outlines the mirror's element that
//     has focus when Enter or Space is pressed.
//   - Nothing but `pointer`, `highlight`, `click` and `input` leaves here, and `click`/`input`
//     only in control mode, which needs granted control; typing goes only into fields whose
//     value the operator can see (the widget's own rule: masking.js CLEAR), and is debounced
//     per field by the Scheduler (flushed when the field loses focus).
//   - The mirror never navigates or submits by itself: clicks on links and form submits inside
//     it are cancelled and become `click` ops for the customer's page instead.

import { Decision, describeElement, maskDecision } from "../cobrowse/masking.js";
import { MAX_VALUE } from "../cobrowse/protocol.js";

const TEXT_TYPES = new Set(["text", "email", "number", "tel", "search", "url", "password", "date", "time", "month", "week", "datetime-local"]);

export function isTextField(element) {
  if (!element || element.nodeType !== 1) return false;
  if (element.tagName === "TEXTAREA") return true;
  return element.tagName === "INPUT" && TEXT_TYPES.has((element.getAttribute("type") || "text").toLowerCase());
}

export function mayType(element) {
  if (!element || !["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName)) return false;
  return maskDecision(describeElement(element) ?? {}) === Decision.CLEAR;
}

export class Tools {
  #stage;
  #mirror;
  #send; // (kind, payload, element?) -> void, through the Scheduler
  #flushField;
  #onHighlightPick;
  #notice;
  #buttons;
  #mode = "point";
  #canAct = false;
  #hasControl = false;
  #doc = null;
  #listening = null; // AbortController of the listeners on #doc

  /**
   * stage: the element around the mirror; mirror: Mirror; send(kind, payload, element): queue
   * an op; flushField(element): send a field's pending input now; notice(text): tell the
   * operator; buttons: {point, highlight, control} toggles.
   */
  constructor({ stage, mirror, send, flushField, notice, buttons }) {
    this.#stage = stage;
    this.#mirror = mirror;
    this.#send = send;
    this.#flushField = flushField;
    this.#notice = notice;
    this.#buttons = buttons;
    stage.addEventListener("mousemove", (event) => this.#moved(event.clientX, event.clientY, false));
    stage.addEventListener("click", (event) => this.#stageClick(event));
    buttons.point.addEventListener("click", () => this.setMode("point"));
    buttons.highlight.addEventListener("click", () => this.setMode(this.#mode === "highlight" ? "point" : "highlight"));
    buttons.control.addEventListener("click", () => this.setMode(this.#mode === "control" ? "point" : "control"));
  }

  get mode() {
    return this.#mode;
  }

  /** canAct: I am the session's operator and it is open; hasControl: the customer granted it to me. */
  setCapabilities({ canAct, hasControl }) {
    const gained = hasControl && !this.#hasControl;
    this.#canAct = canAct;
    this.#hasControl = canAct && hasControl;
    this.#buttons.control.disabled = !this.#hasControl;
    this.#buttons.point.disabled = !canAct;
    this.#buttons.highlight.disabled = !canAct;
    if (gained) this.setMode("control");
    else if (this.#mode === "control" && !this.#hasControl) this.setMode("point");
    else if (!canAct) this.setMode("point");
    else this.#refresh();
  }

  setMode(mode) {
    if (mode === "control" && !this.#hasControl) mode = "point";
    if (mode === "highlight" && !this.#canAct) mode = "point";
    if (this.#mode === "control" && mode !== "control") this.#blurMirror();
    this.#mode = mode;
    this.#refresh();
  }

  /** The rrweb id of the field the operator is typing into (its mirrored value is theirs). */
  editingId() {
    if (this.#mode !== "control") return null;
    const active = this.#doc?.activeElement;
    if (!active || !isTextField(active)) return null;
    const id = this.#mirror.idOf(active);
    return id > 0 ? id : null;
  }

  /** A page (re)built in the mirror: listen to its document (rebuilding drops listeners). */
  attach(doc) {
    if (!doc) return;
    this.#listening?.abort();
    this.#listening = new AbortController();
    this.#doc = doc;
    const { signal } = this.#listening;
    const on = (type, handler) => doc.addEventListener(type, handler, { capture: true, signal });
    on("mousemove", (event) => this.#moved(event.clientX, event.clientY, true));
    on("click", (event) => this.#mirrorClick(event));
    on("submit", (event) => event.preventDefault());
    on("focusin", (event) => this.#focused(event));
    on("input", (event) => this.#typed(event));
    on("change", (event) => this.#typed(event));
    on("focusout", (event) => {
      const id = this.#mirror.idOf(event.target);
      if (id > 0) this.#flushField(`node:${id}`);
    });
    on("keydown", (event) => {
      // Enter in a one-line field would submit the mirrored form; the customer's page decides.
      if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
      // The highlight tool without a mouse: Tab to an element of the mirror, Enter or Space.
      if (this.#mode === "highlight" && this.#canAct && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.#highlight(event.target);
      }
    });
    this.#refresh();
  }

  // --- pointer ----------------------------------------------------------------------------

  #moved(clientX, clientY, insideMirror) {
    if (!this.#canAct) return;
    const point = insideMirror ? { x: Math.round(clientX), y: Math.round(clientY) } : this.#mirror.toViewport(clientX, clientY);
    if (point) this.#send("pointer", point);
  }

  // --- highlight ----------------------------------------------------------------------------

  #stageClick(event) {
    if (!this.#canAct) return;
    const point = this.#mirror.toViewport(event.clientX, event.clientY);
    if (!point) return;
    if (this.#mode === "highlight") {
      this.#highlight(this.#mirror.elementAt(point.x, point.y), point);
    } else if (this.#mode === "point" && !this.#hasControl) {
      this.#notice("To click on the customer's page, request control first.");
    }
  }

  /** Outline `target` (an element of the mirror), or the spot around `point` if it has no id. */
  #highlight(target, point = null) {
    const id = target ? this.#mirror.idOf(target) : -1;
    if (id > 0) this.#send("highlight", { id });
    else if (point) this.#send("highlight", { x: point.x - 20, y: point.y - 20, w: 40, h: 40 });
    this.setMode(this.#hasControl ? "control" : "point");
  }

  // --- control ------------------------------------------------------------------------------

  #mirrorClick(event) {
    const target = event.target.nodeType === 1 ? event.target : event.target.parentElement;
    if (!target) return;
    if (!isTextField(target) && target.tagName !== "SELECT") event.preventDefault();
    if (this.#mode !== "control" || !this.#hasControl) return;
    if (isTextField(target)) return; // focusing a field is local; typing is what acts
    const id = this.#mirror.idOf(target);
    if (id > 0) this.#send("click", { id });
  }

  #focused(event) {
    if (this.#mode !== "control") return;
    const field = event.target;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(field.tagName) && !mayType(field)) {
      field.blur();
      this.#notice("This field is private to the customer: only they can fill it in.");
    }
  }

  #typed(event) {
    const field = event.target;
    if (this.#mode !== "control" || !this.#hasControl || !mayType(field)) return;
    if (field.type === "checkbox" || field.type === "radio") return; // the click carries it
    const id = this.#mirror.idOf(field);
    if (id <= 0) return;
    this.#send("input", { id, value: String(field.value).slice(0, MAX_VALUE) }, `node:${id}`);
  }

  #blurMirror() {
    const active = this.#doc?.activeElement;
    if (active && typeof active.blur === "function") active.blur();
  }

  #refresh() {
    this.#stage.dataset.mode = this.#mode;
    this.#mirror.setInteractive(this.#mode === "control" && this.#hasControl);
    for (const [name, button] of Object.entries(this.#buttons)) {
      button.setAttribute("aria-pressed", String(this.#mode === name));
    }
  }
}
