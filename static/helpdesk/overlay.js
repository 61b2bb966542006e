// Marks drawn over the mirror, in the mirror's own scale: highlight outlines (mine, the other
// operators', the customer's), the pointers of the other operators, and a dashed outline where
// the customer's help panel covers their page (rrweb does not record it, so the mirror cannot
// show it; the widget's `panel` ops say where it is).

import { h } from "./format.js";

const HIGHLIGHT_MS = 3000;

export class Overlay {
  #layer;
  #mirror;
  #pointers = new Map(); // participant -> element
  #panel = null; // {mark, box}

  constructor({ layer, mirror }) {
    this.#layer = layer;
    this.#mirror = mirror;
    // The mirror's scale changes with the desk's window: the panel's outline follows.
    new ResizeObserver(() => this.#placePanel()).observe(layer);
  }

  /** The customer's help panel covers their viewport's box {x, y, w, h} (nothing when empty). */
  panel(box) {
    if (!this.#panel) {
      const mark = h("div", { class: "mark mark--panel", id: "customer-panel" }, h("span", { class: "mark__label" }, "Customer's help panel"));
      this.#panel = { mark, box };
    }
    this.#panel.box = box;
    if (!this.#panel.mark.isConnected) this.#layer.append(this.#panel.mark);
    this.#placePanel();
  }

  #placePanel() {
    if (!this.#panel) return;
    const { mark, box } = this.#panel;
    mark.hidden = !(box.w > 0 && box.h > 0);
    const rect = this.#mirror.toFrame({ left: box.x, top: box.y, width: box.w, height: box.h });
    Object.assign(mark.style, {
      left: `${rect.left}px`,
      top: `${rect.top}px`,
      width: `${rect.width}px`,
      height: `${rect.height}px`,
    });
  }

  /** Outline rrweb node `id` (or the rect {x, y, w, h}) for a few seconds. */
  highlight(payload, { label = "", tone = "operator" } = {}) {
    let rect = null;
    if (Number.isInteger(payload.id)) {
      const node = this.#mirror.nodeOf(payload.id);
      if (node && node.nodeType === 1) rect = node.getBoundingClientRect();
    } else if (["x", "y", "w", "h"].every((key) => typeof payload[key] === "number")) {
      rect = { left: payload.x, top: payload.y, width: payload.w, height: payload.h };
    }
    if (!rect) return null;
    const box = this.#mirror.toFrame(rect);
    const mark = h(
      "div",
      { class: `mark mark--highlight mark--${tone}`, dataset: { node: payload.id ?? "" } },
      label ? h("span", { class: "mark__label" }, label) : null,
    );
    Object.assign(mark.style, {
      left: `${box.left - 4}px`,
      top: `${box.top - 4}px`,
      width: `${box.width + 8}px`,
      height: `${box.height + 8}px`,
    });
    this.#layer.append(mark);
    setTimeout(() => mark.remove(), HIGHLIGHT_MS);
    return mark;
  }

  /** Another operator's pointer at customer-viewport (x, y). */
  pointer(participant, { x, y }, name) {
    let mark = this.#pointers.get(participant);
    if (!mark) {
      mark = h("div", { class: "mark mark--pointer" }, h("span", { class: "mark__label" }, name));
      this.#pointers.set(participant, mark);
      this.#layer.append(mark);
    }
    const scale = this.#mirror.scale;
    mark.style.transform = `translate(${x * scale}px, ${y * scale}px)`;
  }

  /** Remove every mark (a new page): the customer's widget says again where its panel is. */
  clear() {
    this.#layer.replaceChildren();
    this.#pointers.clear();
  }
}
