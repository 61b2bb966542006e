// What the operator does, drawn over the customer's page: the operator's cursor, highlight
// outlines, a flash where the operator clicked or typed, and, while the operator has control, a
// thin frame along the viewport's edge and the "operator is controlling" notice with its button
// to take control back (the widget places the notice in its dock, next to the handle).
//
// Guarantees:
//   - Everything is drawn inside the widget's root (#cobrowse-root), which the recorder never
//     records, so overlays never travel back to the operator as page content.
//   - Overlays never catch the customer's clicks, except the banner's own button. When the
//     banner goes while its button has focus, focus goes to the help panel (or its handle).
//   - Nothing here covers the page's content: the frame is 3 px along the viewport's edge.
//   - A highlight follows its element while the page scrolls or reflows, for durationMs; each
//     frame, onHighlight(rect) hears where it is (with its label), so the widget can make room.

const HIGHLIGHT_MS = 4000;
const CURSOR_IDLE_MS = 5000;
const FLASH_MS = 900;

const CURSOR_SVG =
  '<svg viewBox="0 0 20 24" width="20" height="24" aria-hidden="true" focusable="false">' +
  '<path d="M2 2l15 11-6.5 1.2L14 21l-3.2 1.4-3.4-6.6L2 20z"/></svg>';

export class Overlays {
  #layer;
  #cursor;
  #cursorName;
  #highlight;
  #highlightLabel;
  #banner;
  #bannerText;
  #frame;
  #onHighlight;
  #highlightFrame = null;
  #highlightTimer = null;
  #cursorTimer = null;

  /**
   * @param {HTMLElement} root the widget's root element
   * @param {object} [options]
   * @param {() => void} [options.onStopControl] the customer pressed the banner's button
   * @param {(rect: {left: number, top: number, right: number, bottom: number}) => void} [options.onHighlight]
   *   where the highlight is now (viewport px, its label included)
   */
  constructor(root, { onStopControl = () => {}, onHighlight = () => {} } = {}) {
    const doc = root.ownerDocument;
    this.#onHighlight = onHighlight;
    this.#layer = el(doc, "div", { class: "cb-layer", "aria-hidden": "true" });
    this.#cursor = el(doc, "div", { class: "cb-cursor", id: "cobrowse-operator-cursor", hidden: "" });
    this.#cursor.innerHTML = CURSOR_SVG;
    this.#cursorName = el(doc, "span", { class: "cb-cursor__name" });
    this.#cursor.append(this.#cursorName);
    this.#highlight = el(doc, "div", { class: "cb-highlight", id: "cobrowse-highlight", hidden: "" });
    this.#highlightLabel = el(doc, "span", { class: "cb-highlight__label" });
    this.#highlight.append(this.#highlightLabel);
    this.#frame = el(doc, "div", { class: "cb-frame", id: "cobrowse-control-frame", hidden: "" });
    this.#layer.append(this.#frame, this.#highlight, this.#cursor);

    this.#banner = el(doc, "div", { class: "cb-banner", id: "cobrowse-control-banner", role: "status", hidden: "" });
    this.#bannerText = el(doc, "span", { class: "cb-banner__text" });
    const stop = el(doc, "button", { type: "button", class: "cb-banner__stop", id: "cobrowse-stop-control" });
    stop.textContent = "Take back";
    stop.setAttribute("aria-label", "Take back control");
    stop.addEventListener("click", () => onStopControl());
    this.#banner.append(el(doc, "span", { class: "cb-banner__dot", "aria-hidden": "true" }), this.#bannerText, stop);
    root.append(this.#layer, this.#banner);
  }

  /** The "operator is controlling" notice, for the widget to place next to its handle. */
  get banner() {
    return this.#banner;
  }

  /** The operator's pointer at viewport (x, y) of this page. */
  pointer(x, y, name = "") {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    this.#cursor.hidden = false;
    this.#cursor.classList.remove("cb-cursor--idle");
    this.#cursor.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
    this.#cursorName.textContent = name || "Support";
    clearTimeout(this.#cursorTimer);
    this.#cursorTimer = setTimeout(() => this.#cursor.classList.add("cb-cursor--idle"), CURSOR_IDLE_MS);
  }

  /**
   * Outline an element (or a viewport rect {x, y, w, h}) for a few seconds, scrolled into view.
   * @param {Element | {x: number, y: number, w: number, h: number}} target
   */
  highlight(target, label = "", durationMs = HIGHLIGHT_MS) {
    const element = target && target.nodeType === 1 ? target : null;
    if (!element && !(target && ["x", "y", "w", "h"].every((k) => Number.isFinite(target[k])))) return;
    this.clearHighlight();
    if (element && !inViewport(element)) element.scrollIntoView({ block: "center", behavior: "smooth" });
    this.#highlightLabel.textContent = label;
    this.#highlightLabel.hidden = !label;
    this.#highlight.hidden = false;
    const place = () => {
      const rect = element
        ? element.getBoundingClientRect()
        : { left: target.x, top: target.y, width: target.w, height: target.h };
      const pad = 4;
      Object.assign(this.#highlight.style, {
        left: `${rect.left - pad}px`,
        top: `${rect.top - pad}px`,
        width: `${rect.width + 2 * pad}px`,
        height: `${rect.height + 2 * pad}px`,
      });
      // Room for the label above the outline as well.
      const above = label ? 32 : 8;
      this.#onHighlight({ left: rect.left - 8, top: rect.top - above, right: rect.right + 8, bottom: rect.bottom + 8 });
      this.#highlightFrame = requestAnimationFrame(place);
    };
    place();
    this.#highlightTimer = setTimeout(() => this.clearHighlight(), durationMs);
  }

  clearHighlight() {
    cancelAnimationFrame(this.#highlightFrame);
    clearTimeout(this.#highlightTimer);
    this.#highlightFrame = this.#highlightTimer = null;
    this.#highlight.hidden = true;
  }

  /** The operator clicked `element` (control granted). */
  clicked(element) {
    this.#flash(element, "cb-flash--click");
  }

  /** The operator typed into `field` (control granted). */
  typed(field) {
    this.#flash(field, "cb-flash--typed");
  }

  /** Show or hide the "operator is controlling" banner. */
  controlling(active, name = "") {
    const root = this.#banner.parentNode;
    const hadFocus = !active && this.#banner.contains(root.getRootNode().activeElement);
    this.#banner.hidden = !active;
    this.#frame.hidden = !active;
    if (hadFocus) {
      const panelOpen = !root.querySelector("#cobrowse-panel")?.hidden;
      root.querySelector(panelOpen ? "#cobrowse-panel-title" : "#cobrowse-help")?.focus();
    }
    this.#bannerText.textContent = active ? `${name || "Support"} is controlling this page` : "";
  }

  /** Remove every overlay (the session ended). */
  clear() {
    this.clearHighlight();
    clearTimeout(this.#cursorTimer);
    this.#cursor.hidden = true;
    this.controlling(false);
  }

  #flash(element, modifier) {
    const rect = element.getBoundingClientRect();
    const flash = el(element.ownerDocument, "div", { class: `cb-flash ${modifier}` });
    Object.assign(flash.style, {
      left: `${rect.left - 3}px`,
      top: `${rect.top - 3}px`,
      width: `${rect.width + 6}px`,
      height: `${rect.height + 6}px`,
    });
    this.#layer.append(flash);
    setTimeout(() => flash.remove(), FLASH_MS);
  }
}

function inViewport(element) {
  const rect = element.getBoundingClientRect();
  const view = element.ownerDocument.documentElement;
  return rect.bottom > 0 && rect.right > 0 && rect.top < view.clientHeight && rect.left < view.clientWidth;
}

function el(doc, tag, attributes = {}) {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}
