// The help request over HTTP (docs/protocol.md, "Creating a session") and where this tab
// remembers it.
//
// Guarantees:
//   - One help session per site and browser: "Get help" asks the server, which answers with
//     the open session if there is one (200) instead of making a second one (201).
//   - The session this tab takes part in is remembered in sessionStorage under
//     cobrowse:site:<site>, so it continues across navigation and reload; forgetSession()
//     removes that and every key of the session (cobrowse:<id>:*, Transport's included).
// fetch, storage and cookies are injected so node --test drives them by hand.

export class HelpApi {
  #fetch;
  #storage;
  #cookies;

  /**
   * @param {object} [options]
   * @param {typeof fetch} [options.fetch]
   * @param {Storage} [options.storage] sessionStorage by default
   * @param {() => string} [options.cookies] document.cookie by default
   */
  constructor({ fetch: fetchImpl, storage, cookies } = {}) {
    this.#fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.#storage = storage ?? attempt(() => globalThis.sessionStorage) ?? memoryStorage();
    this.#cookies = cookies ?? (() => globalThis.document?.cookie ?? "");
  }

  /** Open a help session for `site`, or get the open one. Resolves to the session body. */
  async create(site) {
    const response = await this.#fetch("/api/sessions/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie(this.#cookies(), "csrftoken") },
      body: JSON.stringify({ site }),
    });
    if (response.status !== 200 && response.status !== 201) {
      throw new Error(`the help request failed (HTTP ${response.status})`);
    }
    return response.json();
  }

  /** This browser's open session for `site`, or null (404). Throws when the server is unreachable. */
  async current(site) {
    const response = await this.#fetch(`/api/sessions/current/?site=${encodeURIComponent(site)}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`the help session could not be read (HTTP ${response.status})`);
    return response.json();
  }

  /** The session this tab remembers for `site`, or null. */
  remembered(site) {
    const value = attempt(() => JSON.parse(this.#storage.getItem(siteKey(site)) ?? "null"));
    return value && typeof value.id === "string" && typeof value.ws_url === "string" ? value : null;
  }

  remember(session) {
    const { id, code, site, ws_url: wsUrl, status } = session;
    attempt(() => this.#storage.setItem(siteKey(site), JSON.stringify({ id, code, site, ws_url: wsUrl, status })));
  }

  /** Forget the session of `site` and everything kept for it. */
  forget(site, id) {
    attempt(() => {
      this.#storage.removeItem(siteKey(site));
      const prefix = `cobrowse:${id}:`;
      const keys = [];
      for (let i = 0; i < this.#storage.length; i += 1) keys.push(this.#storage.key(i));
      for (const key of keys) if (key && key.startsWith(prefix)) this.#storage.removeItem(key);
    });
  }

  /** A JSON value kept for session `id` under cobrowse:<id>:<name>. */
  load(id, name) {
    return attempt(() => JSON.parse(this.#storage.getItem(`cobrowse:${id}:${name}`) ?? "null")) ?? null;
  }

  save(id, name, value) {
    attempt(() => this.#storage.setItem(`cobrowse:${id}:${name}`, JSON.stringify(value)));
  }
}

/** The WebSocket URL of a session body's ws_url on this page's host. */
export function socketUrl(wsUrl, location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${wsUrl}`;
}

export function cookie(cookies, name) {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

function siteKey(site) {
  return `cobrowse:site:${site}`;
}

function attempt(fn) {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function memoryStorage() {
  const items = new Map();
  return {
    get length() {
      return items.size;
    },
    key: (i) => [...items.keys()][i] ?? null,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}
