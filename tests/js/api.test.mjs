// The help request over the desk's embed API and what the tab remembers of it.
import { test } from "node:test";
import assert from "node:assert/strict";

import { deskBase, deskOf, EmbedError, HelpApi } from "../../static/cobrowse/api.js";

class MemoryStorage {
  items = new Map();
  get length() {
    return this.items.size;
  }
  key(i) {
    return [...this.items.keys()][i] ?? null;
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

const DESK = "https://desk.example/";
const body = {
  id: "s1",
  code: "123456",
  site: "pk_demo_shop",
  status: "waiting",
  ws_url: "wss://desk.example/ws/cobrowse/s1/",
  head_seq: 0,
  token: "tok_1",
  expires_at: "2030-01-01T00:00:00Z",
  identity: { verified: false },
};

function fakeFetch(status, json = body) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init });
    if (json instanceof Error) throw json;
    return {
      status,
      ok: status >= 200 && status < 300,
      json: async () => {
        if (typeof json === "string") throw new SyntaxError("not JSON");
        return json;
      },
    };
  };
  return { fetch, calls };
}

function api(fetch, options = {}) {
  return new HelpApi({ desk: DESK, fetch, storage: new MemoryStorage(), ...options });
}

test("Get help posts the site, the identity and the page to the desk, without cookies", async () => {
  const { fetch, calls } = fakeFetch(201);
  const page = { url: "https://shop.example/cart/", title: "Cart" };
  assert.deepEqual(await api(fetch).create("pk_demo_bank", { identity: "jwt.a.b", page }), body);
  assert.equal(calls[0].url, "https://desk.example/api/embed/v1/sessions/");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.credentials, "omit");
  assert.equal(calls[0].init.headers["X-CSRFToken"], undefined);
  assert.deepEqual(JSON.parse(calls[0].init.body), { site: "pk_demo_bank", identity: "jwt.a.b", page });
});

test("without an identity the body has none", async () => {
  const { fetch, calls } = fakeFetch(201);
  await api(fetch).create("pk_demo_shop");
  assert.deepEqual(JSON.parse(calls[0].init.body), { site: "pk_demo_shop" });
});

test("a desk under a path prefix gets its requests under it", async () => {
  const { fetch, calls } = fakeFetch(201);
  await new HelpApi({ desk: "https://example.com/desk", fetch, storage: new MemoryStorage() }).create("pk");
  assert.equal(calls[0].url, "https://example.com/desk/api/embed/v1/sessions/");
});

test("a refusal throws the desk's own code and message", async () => {
  const refused = { error: { code: "origin_not_allowed", message: "https://evil.example is not an allowed origin of this site" } };
  const { fetch } = fakeFetch(403, refused);
  await assert.rejects(api(fetch).create("pk_demo_shop"), (error) => {
    assert.ok(error instanceof EmbedError);
    assert.equal(error.code, "origin_not_allowed");
    assert.equal(error.status, 403);
    assert.match(error.message, /evil\.example is not an allowed origin/);
    return true;
  });
});

test("a refusal without a JSON body still says the status", async () => {
  const { fetch } = fakeFetch(502, "<html>");
  await assert.rejects(api(fetch).create("pk"), { name: "EmbedError", code: "http_502", message: /HTTP 502/ });
});

test("an unreachable desk (or a CORS refusal) is a network error naming the desk", async () => {
  const { fetch } = fakeFetch(0, new TypeError("Failed to fetch"));
  await assert.rejects(api(fetch).create("pk"), { code: "network", message: /desk\.example.*Failed to fetch/ });
});

test("read() asks for one session with its token and keeps the token", async () => {
  const { token, ...open } = body;
  const { fetch, calls } = fakeFetch(200, open);
  const session = await api(fetch).read({ id: "s1", token: "tok_1" });
  assert.equal(calls[0].url, "https://desk.example/api/embed/v1/sessions/s1/");
  assert.equal(calls[0].init.headers.Authorization, "Bearer tok_1");
  assert.equal(calls[0].init.credentials, "omit");
  assert.equal(session.token, "tok_1");
  assert.equal(token, "tok_1");
});

test("read() of a token the desk no longer takes throws invalid_token", async () => {
  const { fetch } = fakeFetch(401, { error: { code: "invalid_token", message: "the token has expired" } });
  await assert.rejects(api(fetch).read({ id: "s1", token: "old" }), { code: "invalid_token", message: "the token has expired" });
});

test("the socket URL is the session's ws_url with its token", () => {
  const a = api(fakeFetch(200).fetch);
  assert.equal(a.socketUrl(body), "wss://desk.example/ws/cobrowse/s1/?token=tok_1");
  assert.equal(a.socketUrl({ ...body, ws_url: "/ws/cobrowse/s1/", token: "a+b" }), "wss://desk.example/ws/cobrowse/s1/?token=a%2Bb");
  const plain = new HelpApi({ desk: "http://127.0.0.1:8000", fetch: fakeFetch(200).fetch, storage: new MemoryStorage() });
  assert.equal(plain.socketUrl({ ...body, ws_url: "/ws/cobrowse/s1/" }), "ws://127.0.0.1:8000/ws/cobrowse/s1/?token=tok_1");
});

test("the session is remembered per site with its token and forgotten with every key it had", () => {
  const storage = new MemoryStorage();
  const a = new HelpApi({ desk: DESK, fetch: fakeFetch(200).fetch, storage, now: () => Date.parse("2029-01-01") });
  a.remember(body);
  storage.setItem("cobrowse:s1:outbox", "{}");
  storage.setItem("cobrowse:s1:last_seq", "4");
  a.save("s1", "ui", { open: true });
  storage.setItem("cobrowse:s2:last_seq", "9");
  assert.equal(a.remembered("pk_demo_shop").id, "s1");
  assert.equal(a.remembered("pk_demo_shop").token, "tok_1");
  assert.equal(a.remembered("pk_demo_bank"), null);
  assert.deepEqual(a.load("s1", "ui"), { open: true });
  a.forget("pk_demo_shop", "s1");
  assert.equal(a.remembered("pk_demo_shop"), null);
  assert.deepEqual([...storage.items.keys()], ["cobrowse:s2:last_seq"]);
});

test("a remembered session whose token has expired is forgotten", () => {
  const storage = new MemoryStorage();
  let now = Date.parse("2029-12-31T23:59:59Z");
  const expired = [];
  const onExpired = (session) => expired.push(session.id);
  const a = new HelpApi({ desk: DESK, fetch: fakeFetch(200).fetch, storage, now: () => now, onExpired });
  a.remember(body);
  a.save("s1", "ui", { open: true });
  assert.equal(a.remembered("pk_demo_shop").id, "s1");
  assert.deepEqual(expired, []);
  now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(a.remembered("pk_demo_shop"), null);
  assert.equal(storage.length, 0);
  assert.deepEqual(expired, ["s1"], "the widget is told, to say so in the console");
});

test("broken storage entries, or ones without a token, read as nothing", () => {
  const storage = new MemoryStorage();
  storage.setItem("cobrowse:site:shop", "{not json");
  const { token, ...tokenless } = body;
  storage.setItem("cobrowse:site:pk_demo_shop", JSON.stringify(tokenless));
  const a = new HelpApi({ desk: DESK, fetch: fakeFetch(200).fetch, storage });
  assert.equal(a.remembered("shop"), null);
  assert.equal(a.remembered("pk_demo_shop"), null);
  assert.ok(token);
});

test("the desk's base URL is absolute and ends in a slash; it is required", () => {
  assert.equal(deskBase("https://desk.example"), "https://desk.example/");
  assert.equal(deskBase("https://desk.example/help?x=1"), "https://desk.example/help/");
  assert.throws(() => new HelpApi({}), TypeError);
});

test("the embed finds the desk's base URL from its own URL", () => {
  assert.equal(deskOf("https://desk.example/static/cobrowse/embed.mjs"), "https://desk.example/");
  assert.equal(deskOf("http://127.0.0.1:8000/static/cobrowse/embed.mjs?v=2"), "http://127.0.0.1:8000/");
  assert.equal(deskOf("https://example.com/desk/static/cobrowse/embed.mjs"), "https://example.com/desk/");
});
