// Where the widget sits on the customer's page: one box (the dock) holding the handle (the
// "Get help" / "Help session" button), the panel next to it and the control notice, anchored to
// a corner of the viewport.
//
// Guarantees:
//   - The dock stays inside the viewport, at its place's distance from the edges of its corner
//     (less when the viewport is too small); the panel opens towards the middle of the screen.
//   - The customer moves it by dragging the handle (a press that moves less than DRAG_PX stays
//     a click), or to the next corner with moveOn() (the panel's "move" button, for the
//     keyboard). Every move is reported to onMove(place), which keeps it for the next page.
//   - onBox({x, y, w, h}) hears the dock's box (viewport CSS px, rounded) whenever it changes,
//     so the operator can be shown where the page is covered.
//   - avoid(rect): when the dock covers rect (something the operator highlights), it moves to
//     the first corner where it does not; when no corner is free, onCrowded() may make it
//     smaller (collapse the panel) and it tries again.
// The geometry (placeAt, placeOf, asideFrom) has no DOM, so node --test covers it.

export const MARGIN = 20; // px from the viewport's edges at a corner
export const DRAG_PX = 5; // a press that moves further is a drag, not a click
const CLICK_AFTER_DRAG_MS = 400;
export const DEFAULT_PLACE = Object.freeze({ h: "right", v: "bottom", dx: MARGIN, dy: MARGIN });

/** A place as it may be kept: {h: "left"|"right", v: "top"|"bottom", dx, dy}, or null. */
export function validPlace(place) {
  if (!place || typeof place !== "object") return null;
  const { h, v, dx, dy } = place;
  if (!["left", "right"].includes(h) || !["top", "bottom"].includes(v)) return null;
  if (!Number.isFinite(dx) || !Number.isFinite(dy)) return null;
  return { h, v, dx: Math.max(0, dx), dy: Math.max(0, dy) };
}

/** The top-left corner of a box of `size` at `place` in `view` ({width, height}), inside it. */
export function placeAt(place, size, view) {
  const dx = clamp(place.dx, 0, Math.max(0, view.width - size.width));
  const dy = clamp(place.dy, 0, Math.max(0, view.height - size.height));
  return {
    left: place.h === "right" ? view.width - size.width - dx : dx,
    top: place.v === "bottom" ? view.height - size.height - dy : dy,
  };
}

/** The place of a box whose top-left corner is at (left, top): anchored to the nearest corner. */
export function placeOf(left, top, size, view) {
  const right = left + size.width / 2 > view.width / 2;
  const bottom = top + size.height / 2 > view.height / 2;
  return {
    h: right ? "right" : "left",
    v: bottom ? "bottom" : "top",
    dx: Math.round(Math.max(0, right ? view.width - left - size.width : left)),
    dy: Math.round(Math.max(0, bottom ? view.height - top - size.height : top)),
  };
}

/** The corner after `place`'s, going round the screen: bottom-right, bottom-left, top-left, top-right. */
export function nextCorner(place) {
  const order = ["right bottom", "left bottom", "left top", "right top"];
  const [h, v] = order[(order.indexOf(`${place.h} ${place.v}`) + 1) % order.length].split(" ");
  return { h, v, dx: MARGIN, dy: MARGIN };
}

/**
 * Where a box of `size` at `place` should go so that it does not cover `target` (a viewport
 * rect {left, top, right, bottom}): `place` itself when it does not, else the first free corner
 * (across, then up or down, then diagonally), or null when every corner covers it.
 */
export function asideFrom(target, place, size, view) {
  if (!covers(place, size, view, target)) return place;
  const flip = { left: "right", right: "left", top: "bottom", bottom: "top" };
  const candidates = [
    { h: flip[place.h], v: place.v },
    { h: place.h, v: flip[place.v] },
    { h: flip[place.h], v: flip[place.v] },
  ].map((corner) => ({ ...corner, dx: MARGIN, dy: MARGIN }));
  return candidates.find((candidate) => !covers(candidate, size, view, target)) ?? null;
}

function covers(place, size, view, target) {
  const { left, top } = placeAt(place, size, view);
  return left < target.right && left + size.width > target.left && top < target.bottom && top + size.height > target.top;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

export class Dock {
  #element;
  #handle;
  #window;
  #onMove;
  #onBox;
  #onCrowded;
  #place = { ...DEFAULT_PLACE };
  #drag = null; // {id, x, y, left, top, moved}
  #draggedAt = -Infinity; // when the last drag ended: the click it brings is not a click
  #lastBox = "";

  /**
   * @param {object} options
   * @param {HTMLElement} options.element the dock (position: fixed; holds the handle and the panel)
   * @param {HTMLElement} options.handle the part the customer drags (the "Help session" button)
   * @param {(place: object) => void} [options.onMove] the customer (or avoid()) moved the dock
   * @param {(box: {x: number, y: number, w: number, h: number}) => void} [options.onBox]
   * @param {() => boolean} [options.onCrowded] no corner is free: make the dock smaller, and
   *   say whether it did
   */
  constructor({ element, handle, onMove = () => {}, onBox = () => {}, onCrowded = () => false, window: win = globalThis.window }) {
    this.#element = element;
    this.#handle = handle;
    this.#window = win;
    this.#onMove = onMove;
    this.#onBox = onBox;
    this.#onCrowded = onCrowded;
    handle.addEventListener("pointerdown", (event) => this.#pressed(event));
    handle.addEventListener("pointermove", (event) => this.#moved(event));
    handle.addEventListener("pointerup", (event) => this.#released(event));
    handle.addEventListener("pointercancel", () => this.#released(null));
    // The click that ends a drag is not a click on the handle (capture: before the handle's own).
    element.addEventListener(
      "click",
      (event) => {
        if (performance.now() - this.#draggedAt > CLICK_AFTER_DRAG_MS) return;
        this.#draggedAt = -Infinity;
        event.stopPropagation();
        event.preventDefault();
      },
      true,
    );
    new win.ResizeObserver(() => this.#apply()).observe(element);
    win.addEventListener("resize", () => this.#apply());
    this.#apply();
  }

  get place() {
    return { ...this.#place };
  }

  /** Put the dock at `place` (a kept one: ignored when it is not a place). */
  set place(place) {
    const valid = validPlace(place);
    if (!valid) return;
    this.#place = valid;
    this.#apply();
  }

  /** The dock's box in viewport CSS px. */
  box() {
    const rect = this.#element.getBoundingClientRect();
    return { x: Math.round(rect.left), y: Math.round(rect.top), w: Math.round(rect.width), h: Math.round(rect.height) };
  }

  /** Move to the next corner (the keyboard's way of moving the dock). */
  moveOn() {
    this.#moveTo(nextCorner(this.#place));
  }

  /** Step aside from `rect` (viewport {left, top, right, bottom}) if the dock covers it. */
  avoid(rect) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const aside = asideFrom(rect, this.#place, this.#size(), this.#view());
      if (aside === this.#place) return;
      if (aside) {
        this.#moveTo(aside);
        return;
      }
      if (!this.#onCrowded()) return;
    }
  }

  #moveTo(place) {
    this.#place = place;
    this.#apply();
    this.#onMove(this.place);
  }

  #size() {
    const rect = this.#element.getBoundingClientRect();
    return { width: rect.width, height: rect.height };
  }

  #view() {
    const root = this.#window.document.documentElement;
    return { width: root.clientWidth || this.#window.innerWidth, height: root.clientHeight || this.#window.innerHeight };
  }

  /** Lay the dock out at its place, clamped to the viewport, and report its box. */
  #apply() {
    if (this.#drag?.moved) return;
    const { h, v } = this.#place;
    const { left, top } = placeAt(this.#place, this.#size(), this.#view());
    const view = this.#view();
    const size = this.#size();
    Object.assign(this.#element.style, {
      left: h === "left" ? `${left}px` : "auto",
      right: h === "right" ? `${view.width - left - size.width}px` : "auto",
      top: v === "top" ? `${top}px` : "auto",
      bottom: v === "bottom" ? `${view.height - top - size.height}px` : "auto",
    });
    this.#element.dataset.h = h;
    this.#element.dataset.v = v;
    this.#report();
  }

  #report() {
    const box = this.box();
    const key = `${box.x},${box.y},${box.w},${box.h}`;
    if (key === this.#lastBox) return;
    this.#lastBox = key;
    this.#onBox(box);
  }

  // --- dragging the handle -------------------------------------------------------------------

  #pressed(event) {
    if (event.button !== 0 || !event.isPrimary) return;
    const rect = this.#element.getBoundingClientRect();
    this.#drag = { id: event.pointerId, x: event.clientX, y: event.clientY, left: rect.left, top: rect.top, moved: false };
    this.#draggedAt = -Infinity;
    // The pointer may leave the handle at its first move: the handle keeps hearing it.
    this.#handle.setPointerCapture?.(event.pointerId);
  }

  #moved(event) {
    const drag = this.#drag;
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_PX) return;
    if (!drag.moved) {
      drag.moved = true;
      this.#element.dataset.dragging = "";
    }
    const view = this.#view();
    const size = this.#size();
    Object.assign(this.#element.style, {
      left: `${clamp(drag.left + dx, 0, Math.max(0, view.width - size.width))}px`,
      top: `${clamp(drag.top + dy, 0, Math.max(0, view.height - size.height))}px`,
      right: "auto",
      bottom: "auto",
    });
    event.preventDefault();
  }

  #released(event) {
    const drag = this.#drag;
    if (!drag || (event && event.pointerId !== drag.id)) return;
    this.#drag = null;
    if (!drag.moved) return;
    delete this.#element.dataset.dragging;
    if (event !== null) this.#draggedAt = performance.now(); // a cancelled drag brings no click
    const rect = this.#element.getBoundingClientRect();
    this.#moveTo(placeOf(rect.left, rect.top, this.#size(), this.#view()));
  }
}
