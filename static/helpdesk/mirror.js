// The operator's mirror of the customer's page: rrweb's Replayer in live mode, fed with the
// customer's ops (opToEvents), scaled to fit the stage.
//
// Guarantees:
//   - A dom op carrying a full snapshot starts a fresh Replayer (a new page, or the periodic
//     checkout); ops that come before the first snapshot have nothing to apply to and are
//     dropped (a late joiner starts just before a snapshot, see docs/protocol.md).
//   - Coordinates: toViewport/toClient convert between the operator's window and the
//     customer's viewport (CSS px of the customer's page), whatever the mirror's scale.
//   - Node ids are rrweb's, valid for the current Replayer only (one page's snapshot).
//   - The page fits the stage's width and the window's height below the stage's top, keeping
//     its aspect ratio (never enlarged).
//   - One pointer of the customer's: rrweb's own mouse cursor, shown once a pointer op placed
//     it (data-pointer="seen" on the root; before that it would sit at the page's corner).
//   - A page the customer's browser found too large to send (rrweb-ops.js saysTooLarge) ends
//     the current Replayer: onTooLarge() says so; the next full snapshot starts a new one.

import { Replayer } from "../vendor/rrweb/rrweb.js";
import { carriesFullSnapshot, opToEvents, saysTooLarge } from "../cobrowse/rrweb-ops.js";

export class Mirror {
  #root;
  #frame;
  #onPage;
  #onReady;
  #onRebuilt;
  #onTooLarge;
  #editing;
  #replayer = null;
  #size = { width: 0, height: 0 };
  #scale = 1;
  #interactive = false;

  /**
   * root: the element the Replayer draws in; frame: its positioned container (sized here to the
   * scaled page); onPage({url, title}): the customer is on a new page; onReady(replayer): a fresh
   * Replayer is showing a page; onRebuilt(document): the page's document was (re)built, which
   * drops every listener on it (document.open()); editing(): the rrweb id of the field the
   * operator is typing into, whose value and focus the customer's echoes must not take away;
   * onTooLarge(): the customer's page is too large to be shown.
   */
  constructor({
    root,
    frame,
    onPage = () => {},
    onReady = () => {},
    onRebuilt = () => {},
    onTooLarge = () => {},
    editing = () => null,
  }) {
    this.#root = root;
    this.#frame = frame;
    this.#onPage = onPage;
    this.#onReady = onReady;
    this.#onRebuilt = onRebuilt;
    this.#onTooLarge = onTooLarge;
    this.#editing = editing;
    new ResizeObserver(() => this.#fit()).observe(frame.parentElement);
    addEventListener("resize", () => this.#fit()); // a lower window: the stage's width stays

  }

  get replayer() {
    return this.#replayer;
  }

  /** The iframe showing the page, or null before the first snapshot. */
  get iframe() {
    return this.#replayer?.iframe ?? null;
  }

  get document() {
    return this.iframe?.contentDocument ?? null;
  }

  get scale() {
    return this.#scale;
  }

  /** The customer's viewport size (CSS px). */
  get size() {
    return { ...this.#size };
  }

  /** Apply one op frame sent by the customer, in seq order. */
  apply(op) {
    if (op.kind === "navigate") {
      this.#onPage({ url: op.payload.url, title: op.payload.title ?? "" });
      return;
    }
    if (saysTooLarge(op)) {
      this.#destroy();
      this.#onTooLarge();
      return;
    }
    if (carriesFullSnapshot(op)) this.#fresh(op);
    if (!this.#replayer) return;
    if (op.kind === "pointer") this.#root.dataset.pointer = "seen";
    const editing = this.#editing();
    for (const event of opToEvents(op, Date.now())) {
      if (editing === null || !touchesField(event, editing)) this.#replayer.addEvent(event);
    }
  }

  /** rrweb node id of a node in the mirror (-1 if unknown). */
  idOf(node) {
    return this.#replayer ? this.#replayer.getMirror().getId(node) : -1;
  }

  /** The mirrored node with rrweb id `id`, or null. */
  nodeOf(id) {
    return this.#replayer?.getMirror().getNode(id) ?? null;
  }

  /** The element of the mirrored page under customer-viewport point (x, y). */
  elementAt(x, y) {
    return this.document?.elementFromPoint(x, y) ?? null;
  }

  /** Customer-viewport coordinates of an operator-window point, or null outside the page. */
  toViewport(clientX, clientY) {
    const iframe = this.iframe;
    if (!iframe) return null;
    const rect = iframe.getBoundingClientRect();
    const x = (clientX - rect.left) / this.#scale;
    const y = (clientY - rect.top) / this.#scale;
    if (x < 0 || y < 0 || x > this.#size.width || y > this.#size.height) return null;
    return { x: Math.round(x), y: Math.round(y) };
  }

  /** A rect in the customer's viewport, in coordinates of the mirror's frame element. */
  toFrame(rect) {
    return {
      left: rect.left * this.#scale,
      top: rect.top * this.#scale,
      width: rect.width * this.#scale,
      height: rect.height * this.#scale,
    };
  }

  /** Let the operator's pointer reach the mirrored page (control), or not. Touching the
   * iframe's attributes again while the operator types would cost the field its focus, so
   * only a change is applied. */
  setInteractive(on) {
    if (on === this.#interactive) return;
    this.#interactive = on;
    this.#applyInteractive();
  }

  #applyInteractive() {
    if (!this.#replayer) return;
    if (this.#interactive) this.#replayer.enableInteract();
    else this.#replayer.disableInteract();
  }

  #destroy() {
    if (!this.#replayer) return;
    try {
      this.#replayer.destroy();
    } catch {
      this.#root.replaceChildren(); // a half-built replayer: start from an empty root anyway
    }
    this.#replayer = null;
  }

  #fresh(op) {
    const meta = op.payload.events.find((event) => event.type === 4);
    this.#destroy();
    delete this.#root.dataset.pointer; // a new page: the cursor waits for the next pointer op
    this.#replayer = new Replayer([], {
      root: this.#root,
      liveMode: true,
      mouseTail: false,
      // The customer's focus moving must not pull the operator's caret out of a field.
      triggerFocus: false,
      insertStyleRules: ["html, body { cursor: default; }"],
    });
    const replayer = this.#replayer;
    replayer.iframe.title = "The customer's page"; // its name for screen readers
    replayer.on("fullsnapshot-rebuilded", () => {
      if (replayer === this.#replayer && replayer.iframe.contentDocument) this.#onRebuilt(replayer.iframe.contentDocument);
    });
    this.#replayer.on("resize", (size) => {
      this.#size = { width: size.width, height: size.height };
      this.#fit();
    });
    if (meta?.data?.width) this.#size = { width: meta.data.width, height: meta.data.height };
    this.#replayer.startLive();
    this.#applyInteractive();
    this.#fit();
    if (meta?.data?.href) this.#onPage({ url: meta.data.href, title: "" });
    this.#onReady(this.#replayer);
  }

  #fit() {
    const { width, height } = this.#size;
    if (!width || !height) return;
    const stage = this.#frame.parentElement;
    const style = getComputedStyle(stage);
    const inner = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const available = Math.max(200, inner);
    const top = stage.getBoundingClientRect().top + scrollY + parseFloat(style.paddingTop);
    const below = parseFloat(style.paddingBottom) + 12;
    const tall = Math.max(200, window.innerHeight - top - below);
    const scale = Math.min(1, available / width, tall / height);
    this.#scale = scale;
    const wrapper = this.#root.querySelector(".replayer-wrapper");
    if (wrapper) {
      wrapper.style.transform = `scale(${scale})`;
      wrapper.style.transformOrigin = "0 0";
    }
    this.#frame.style.width = `${width * scale}px`;
    this.#frame.style.height = `${height * scale}px`;
    this.#frame.dataset.scale = scale.toFixed(4);
  }
}

const INCREMENTAL = 3;
const SOURCE_MOUSE_INTERACTION = 2;
const SOURCE_INPUT = 5;
const BLUR = 6;

/** Whether an rrweb event sets the value of, or blurs, node `id`. */
function touchesField(event, id) {
  if (event.type !== INCREMENTAL || event.data?.id !== id) return false;
  const { source, type } = event.data;
  return source === SOURCE_INPUT || (source === SOURCE_MOUSE_INTERACTION && type === BLUR);
}
