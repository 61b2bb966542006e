// This browser's tabs of one site, on the merchant's origin: a tab in a help session tells the
// others about it when they ask (a BroadcastChannel; nothing leaves the browser), so that "Get
// help" in a second tab joins the session of the first instead of opening another.
//
// Guarantees:
//   - ask() resolves to the session a tab answered with (the first answer), or to null after
//     ASK_TABS_MS, or at once where BroadcastChannel does not exist.
//   - A tab answers only while it is in a session (current() is not null), only on its site's
//     channel (cobrowse:site:<public key>).

// How long "Get help" waits for another tab of the site to offer its open session.
export const ASK_TABS_MS = 250;

export class SiteTabs {
  #channel = null;
  #current;
  #waiting = new Map(); // question id -> resolve
  #waitMs;

  /**
   * @param {string} site the site's public key
   * @param {() => object | null} current the session this tab is in (with its token), or null
   * @param {object} [options]
   * @param {typeof BroadcastChannel | null} [options.Channel] null: no other tabs to ask
   * @param {number} [options.waitMs]
   */
  constructor(site, current, { Channel = globalThis.BroadcastChannel, waitMs = ASK_TABS_MS } = {}) {
    this.#current = current;
    this.#waitMs = waitMs;
    if (typeof Channel !== "function") return;
    this.#channel = new Channel(`cobrowse:site:${site}`);
    this.#channel.onmessage = ({ data }) => {
      if (typeof data?.ask === "string") {
        const session = this.#current();
        if (session) this.#channel.postMessage({ answer: data.ask, session });
      } else if (typeof data?.answer === "string" && data.session) {
        this.#waiting.get(data.answer)?.(data.session);
      }
    };
  }

  /** The session another tab of the site is in, or null. */
  ask() {
    if (!this.#channel) return Promise.resolve(null);
    const id = Math.random().toString(36).slice(2);
    return new Promise((resolve) => {
      const done = (session) => {
        this.#waiting.delete(id);
        clearTimeout(timer);
        resolve(session);
      };
      const timer = setTimeout(() => done(null), this.#waitMs);
      this.#waiting.set(id, done);
      this.#channel.postMessage({ ask: id });
    });
  }

  close() {
    this.#channel?.close();
    this.#channel = null;
  }
}
