// The help request over HTTP and what the tab remembers of it.
import { test } from "node:test";
import assert from "node:assert/strict";

import { HelpApi, cookie, socketUrl } from "../../static/cobrowse/api.js";

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

const body = { id: "s1", code: "123456", site: "shop", status: "waiting", ws_url: "/ws/cobrowse/s1/", head_seq: 0 };

function fakeFetch(status, json = body) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init });
    return { status, ok: status >= 200 && status < 300, json: async () => json };
  };
  return { fetch, calls };
}

test("Get help posts the site with the CSRF token from the cookie", async () => {
  const { fetch, calls } = fakeFetch(201);
  const api = new HelpApi({ fetch, storage: new MemoryStorage(), cookies: () => "a=b; csrftoken=tok%2F1; c=d" });
  assert.deepEqual(await api.create("bank"), body);
  assert.equal(calls[0].url, "/api/sessions/");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers["X-CSRFToken"], "tok/1");
  assert.deepEqual(JSON.parse(calls[0].init.body), { site: "bank" });
});

test("the open session comes back with 200 and is taken as is", async () => {
  const { fetch } = fakeFetch(200);
  assert.equal((await new HelpApi({ fetch, storage: new MemoryStorage(), cookies: () => "" }).create("shop")).id, "s1");
});

test("a refused help request throws", async () => {
  const { fetch } = fakeFetch(403);
  await assert.rejects(new HelpApi({ fetch, storage: new MemoryStorage(), cookies: () => "" }).create("shop"), /403/);
});

test("current() is null when the browser has no open session", async () => {
  const { fetch, calls } = fakeFetch(404);
  assert.equal(await new HelpApi({ fetch, storage: new MemoryStorage() }).current("shop"), null);
  assert.equal(calls[0].url, "/api/sessions/current/?site=shop");
});

test("the session is remembered per site and forgotten with every key it had", () => {
  const storage = new MemoryStorage();
  const api = new HelpApi({ fetch: fakeFetch(200).fetch, storage });
  api.remember(body);
  storage.setItem("cobrowse:s1:outbox", "{}");
  storage.setItem("cobrowse:s1:last_seq", "4");
  api.save("s1", "ui", { open: true });
  storage.setItem("cobrowse:s2:last_seq", "9");
  assert.equal(api.remembered("shop").id, "s1");
  assert.equal(api.remembered("bank"), null);
  assert.deepEqual(api.load("s1", "ui"), { open: true });
  api.forget("shop", "s1");
  assert.equal(api.remembered("shop"), null);
  assert.deepEqual([...storage.items.keys()], ["cobrowse:s2:last_seq"]);
});

test("broken storage entries read as nothing", () => {
  const storage = new MemoryStorage();
  storage.setItem("cobrowse:site:shop", "{not json");
  assert.equal(new HelpApi({ fetch: fakeFetch(200).fetch, storage }).remembered("shop"), null);
});

test("the socket URL follows the page's scheme and host", () => {
  assert.equal(socketUrl("/ws/cobrowse/s1/", { protocol: "https:", host: "shop.example" }), "wss://shop.example/ws/cobrowse/s1/");
  assert.equal(socketUrl("/ws/cobrowse/s1/", { protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/cobrowse/s1/");
});

test("cookie() finds one cookie by name", () => {
  assert.equal(cookie("csrftoken=abc; sessionid=x", "sessionid"), "x");
  assert.equal(cookie("", "csrftoken"), "");
});
