// The help request over the desk's embed API (docs/install.md, docs/protocol.md "Creating a
// session") and where this tab remembers it.
//
// Guarantees:
//   - Every request goes to the desk's absolute base URL, without cookies (credentials
//     "omit"): the merchant's page and the desk are different origins, and the desk answers
//     CORS to the site's allowed origins only.
//   - A refusal throws an EmbedError with the server's code and message ({"error": {"code",
//     "message"}}), which the widget writes to the console as it is.
//   - The session this tab takes part in, with its token, is remembered in the merchant
//     origin's sessionStorage under cobrowse:site:<site> until the session ends or the token
//     expires, so it continues across the site's page loads; forget() removes that and every
//     key of the session (cobrowse:<id>:*, Transport's included).
// fetch, storage and the clock are injected so node --test drives them by hand.

export const EMBED_API = "api/embed/v1/sessions/";

/** A refusal of the desk: `code` is the server's error code (or "network", "http_<status>"). */
export class EmbedError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "EmbedError";
    this.code = code;
    this.status = status;
  }
}

export class HelpApi {
  #desk;
  #fetch;
  #storage;
  #now;
  #onExpired;

  /**
   * @param {object} options
   * @param {string} options.desk the desk's base URL, e.g. "https://desk.example/" (absolute)
   * @param {typeof fetch} [options.fetch]
   * @param {Storage} [options.storage] sessionStorage by default
   * @param {() => number} [options.now] Date.now by default
   * @param {(session: object) => void} [options.onExpired] a remembered session's token had
   *   expired (it is forgotten)
   */
  constructor({ desk, fetch: fetchImpl, storage, now, onExpired = () => {} } = {}) {
    this.#desk = deskBase(desk);
    this.#fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.#storage = storage ?? attempt(() => globalThis.sessionStorage) ?? memoryStorage();
    this.#now = now ?? Date.now;
    this.#onExpired = onExpired;
  }

  get desk() {
    return this.#desk;
  }

  /**
   * Open a help session for `site` (its public key). Resolves to the session body, token
   * included. `identity` is the merchant's signed JWT (optional), `page` {url, title}.
   */
  async create(site, { identity = null, page = null } = {}) {
    const body = { site };
    if (identity) body.identity = identity;
    if (page) body.page = page;
    const response = await this.#request(new URL(EMBED_API, this.#desk), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status !== 201 && response.status !== 200) throw await refusal(response);
    return response.json();
  }

  /** The desk's view of a remembered session (open or ended). Throws EmbedError: invalid_token
   * when the token is no longer good, network when the desk cannot be reached. */
  async read({ id, token }) {
    const response = await this.#request(new URL(`${EMBED_API}${encodeURIComponent(id)}/`, this.#desk), {
      headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw await refusal(response);
    return { ...(await response.json()), token };
  }

  /** The WebSocket URL of a session body: its ws_url (absolute, or a path on the desk) with
   * the token. */
  socketUrl({ ws_url: wsUrl, token }) {
    const url = new URL(wsUrl, this.#desk);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    url.searchParams.set("token", token ?? "");
    return url.href;
  }

  /** The session this tab remembers for `site`, or null (none, broken, or its token expired). */
  remembered(site) {
    const value = attempt(() => JSON.parse(this.#storage.getItem(siteKey(site)) ?? "null"));
    if (!value || typeof value.id !== "string" || typeof value.ws_url !== "string" || typeof value.token !== "string") {
      return null;
    }
    const expires = Date.parse(value.expires_at ?? "");
    if (Number.isFinite(expires) && expires <= this.#now()) {
      this.forget(site, value.id);
      this.#onExpired(value);
      return null;
    }
    return value;
  }

  remember(session) {
    const { id, code, site, ws_url: wsUrl, status, token, expires_at: expiresAt, identity } = session;
    const kept = { id, code, site, ws_url: wsUrl, status, token, expires_at: expiresAt, identity };
    attempt(() => this.#storage.setItem(siteKey(site), JSON.stringify(kept)));
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

  async #request(url, init) {
    try {
      return await this.#fetch(url.href, { ...init, credentials: "omit", mode: "cors", cache: "no-store" });
    } catch (error) {
      // A CORS refusal looks exactly like an unreachable desk from here: say both.
      throw new EmbedError(
        "network",
        `the desk at ${this.#desk} could not be reached, or refused this origin (${error?.message ?? error})`,
      );
    }
  }
}

/** The desk's base URL as an absolute URL ending in "/". */
export function deskBase(desk) {
  if (!desk) throw new TypeError("the desk's base URL is required");
  const url = new URL(desk);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.search = url.hash = "";
  return url.href;
}

/** The desk's base URL from the URL of one of its widget modules: everything before
 * static/cobrowse/ (the desk's root when the module is elsewhere). */
export function deskOf(moduleUrl) {
  const url = new URL(moduleUrl);
  const at = url.pathname.lastIndexOf("/static/cobrowse/");
  url.pathname = at === -1 ? "/" : url.pathname.slice(0, at + 1);
  url.search = url.hash = "";
  return url.href;
}

async function refusal(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  const error = body?.error;
  if (error && typeof error.code === "string") {
    return new EmbedError(error.code, String(error.message ?? error.code), response.status);
  }
  return new EmbedError(`http_${response.status}`, `the desk answered HTTP ${response.status}`, response.status);
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
