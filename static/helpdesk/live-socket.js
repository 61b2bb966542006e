// A JSON WebSocket that comes back after a drop (capped exponential backoff with jitter) and
// stops for good on the close codes that mean "do not retry" (FINAL_CLOSE_CODES: forbidden, ended).
// Used by the queue, whose frames are whole states: nothing needs resuming, only reconnecting.

import { FINAL_CLOSE_CODES } from "../cobrowse/protocol.js";

export class LiveSocket {
  #url;
  #onFrame;
  #onStatus;
  #ws = null;
  #attempt = 0;
  #timer = null;
  #stopped = false;

  /** url: ws(s) URL; onFrame(frame); onStatus(status) with connecting, open, reconnecting, forbidden, ended. */
  constructor({ url, onFrame, onStatus = () => {} }) {
    this.#url = url;
    this.#onFrame = onFrame;
    this.#onStatus = onStatus;
  }

  connect() {
    if (this.#ws || this.#stopped) return;
    this.#onStatus("connecting");
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#attempt = 0;
      this.#onStatus("open");
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.#onFrame(frame);
    };
    ws.onclose = (event) => this.#closed(ws, event.code);
  }

  send(frame) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  close() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000);
  }

  #closed(ws, code) {
    if (ws !== this.#ws) return;
    this.#ws = null;
    if (this.#stopped) return;
    if (Object.hasOwn(FINAL_CLOSE_CODES, code)) {
      this.#stopped = true;
      this.#onStatus(FINAL_CLOSE_CODES[code]);
      return;
    }
    const capped = Math.min(15_000, 500 * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#onStatus("reconnecting");
    this.#timer = setTimeout(() => this.connect(), capped / 2 + (Math.random() * capped) / 2);
  }
}

/** ws(s)://<this host><path> */
export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
