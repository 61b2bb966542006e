// The tabs of one site find each other's help session (BroadcastChannel, as in the browser).
import { test } from "node:test";
import assert from "node:assert/strict";

import { SiteTabs } from "../../static/cobrowse/site-tabs.js";

const session = { id: "s1", token: "tok", ws_url: "wss://desk.example/ws/cobrowse/s1/" };

test("a tab without a session gets the session of another tab of the same site", async () => {
  const inSession = new SiteTabs("pk_shop", () => session);
  const newTab = new SiteTabs("pk_shop", () => null);
  try {
    assert.deepEqual(await newTab.ask(), session);
  } finally {
    inSession.close();
    newTab.close();
  }
});

test("tabs of another site, or not in a session, do not answer: null after the wait", async () => {
  const otherSite = new SiteTabs("pk_bank", () => session);
  const idle = new SiteTabs("pk_shop", () => null);
  const newTab = new SiteTabs("pk_shop", () => null, { waitMs: 30 });
  try {
    const started = Date.now();
    assert.equal(await newTab.ask(), null);
    assert.ok(Date.now() - started >= 25);
  } finally {
    for (const tabs of [otherSite, idle, newTab]) tabs.close();
  }
});

test("without BroadcastChannel there is nobody to ask", async () => {
  const alone = new SiteTabs("pk_shop", () => session, { Channel: null });
  assert.equal(await alone.ask(), null);
});
