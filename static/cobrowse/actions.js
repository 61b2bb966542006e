// The operator's hands on the customer's page: click, input and navigate ops applied to the
// real page by rrweb node id, once the customer has granted control.
//
// Guarantees:
//   - actionVerdict() is the one rule: an op is applied only if an operator sent it, that
//     operator holds control now, and its seq is after the first op of the current page (node
//     ids belong to one page's snapshot; anything aimed at an earlier page is dropped, and so
//     is everything before the page's first op is acknowledged).
//   - Nothing is typed into a field whose value the operator cannot see (anything but a
//     CLEAR field of masking.js), nothing is clicked on the widget itself (its host,
//     [data-cobrowse-widget]: the operator never answers the customer's control prompt), and navigation stays on the
//     page's origin.
//   - A typed value goes through the field's own value setter and `input`/`change` events, so
//     the page's scripts and the recorder see it as if the customer had typed it.

import { Decision, describeElement, maskDecision } from "./masking.js";

export const ACTION_KINDS = Object.freeze(["click", "input", "navigate"]);
// The widget's host element on the page (its UI is in the host's shadow root).
export const WIDGET_HOST = "[data-cobrowse-widget]";

/**
 * Whether `op` may act on this page: "apply", or the reason it may not.
 * @param {object} op an op frame
 * @param {{control: number|null, pageSeq: number|null}} state who holds control; the seq of
 *   the current page's first op (null until its ack came)
 */
export function actionVerdict(op, { control, pageSeq }) {
  if (!ACTION_KINDS.includes(op.kind)) return "not-an-action";
  if (op.sender?.role !== "operator") return "not-from-operator";
  if (control === null || control === undefined || op.sender.participant !== control) return "no-control";
  if (!isForCurrentPage(op, pageSeq)) return "other-page";
  return "apply";
}

/**
 * Whether `op` was sent after the current page's first op (seq `pageSeq`, null while its ack
 * has not come: frames arrive in seq order, so everything before that ack is older). Pointer
 * and highlight ops follow the same rule: their node ids and positions belong to one page.
 */
export function isForCurrentPage(op, pageSeq) {
  return Number.isInteger(pageSeq) && Number.isInteger(op.seq) && op.seq > pageSeq;
}

/** The same-origin URL to go to, or null. */
export function navigationTarget(url, here) {
  let target;
  try {
    target = new URL(url, here);
  } catch {
    return null;
  }
  const base = new URL(here);
  if (target.origin !== base.origin || !/^https?:$/.test(target.protocol)) return null;
  return target.href;
}

export class Actions {
  #nodeOf;
  #overlays;
  #window;

  /**
   * @param {object} options
   * @param {(id: number) => Node | null} options.nodeOf the live node with rrweb id `id`
   * @param {object} [options.overlays] shows where the operator acted (Overlays)
   * @param {Window} [options.window]
   */
  constructor({ nodeOf, overlays = null, window: win = globalThis.window }) {
    this.#nodeOf = nodeOf;
    this.#overlays = overlays;
    this.#window = win;
  }

  /** Apply one op that actionVerdict() allowed. Returns what was done, or why not. */
  apply(op) {
    const p = op.payload ?? {};
    switch (op.kind) {
      case "click":
        return this.#click(p);
      case "input":
        return this.#input(p, op.element);
      case "navigate":
        return this.#navigate(p);
      default:
        return "not-an-action";
    }
  }

  #target(id) {
    const node = Number.isInteger(id) ? this.#nodeOf(id) : null;
    if (!node || node.nodeType !== 1 || !node.isConnected) return null;
    if (node.closest(WIDGET_HOST)) return null;
    return node;
  }

  #click({ id }) {
    const element = this.#target(id);
    if (!element) return "no-element";
    if (maskDecision(describeElement(element)) === Decision.SECRET) return "masked";
    this.#overlays?.clicked(element);
    if (typeof element.focus === "function") element.focus({ preventScroll: true });
    element.click();
    return "clicked";
  }

  #input({ id, value, checked }, element) {
    const field = this.#target(Number.isInteger(id) ? id : idFromElementKey(element));
    if (!field || !["INPUT", "TEXTAREA", "SELECT"].includes(field.tagName)) return "no-field";
    if (maskDecision(describeElement(field)) !== Decision.CLEAR) return "masked";
    if (field.disabled || field.readOnly) return "read-only";
    const toggle = field.type === "checkbox" || field.type === "radio";
    if (toggle) {
      if (typeof checked !== "boolean") return "no-value";
      field.checked = checked;
    } else {
      if (typeof value !== "string") return "no-value";
      field.value = value;
    }
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
    this.#overlays?.typed(field);
    return "typed";
  }

  #navigate({ url }) {
    const href = navigationTarget(url, this.#window.location.href);
    if (!href) return "foreign-url";
    this.#window.location.assign(href);
    return "navigated";
  }
}

function idFromElementKey(element) {
  const match = /^node:(\d+)$/.exec(element ?? "");
  return match ? Number(match[1]) : null;
}
