// The desk's view of whether the customer is connected (static/helpdesk/desk-state.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import * as S from "../../static/helpdesk/desk-state.js";

const joined = (state) => ({ ...state, customer: { ...state.customer, joined: true } });
const base = () => joined(S.initialState({ session: "s", code: "123456", site: "shop", status: "active", me: "Olga" }));

test("a customer without a connection for longer than a page change takes is gone", () => {
  const since = "2026-11-22T10:00:00.000Z";
  const at = Date.parse(since);
  const state = S.onPresence(base(), { connected: false, since });
  assert.deepEqual(state.presence, { connected: false, since: at });
  assert.equal(S.customerGone(state, at + S.PRESENCE_GRACE_MS - 1), false); // changing pages
  assert.equal(S.customerGone(state, at + S.PRESENCE_GRACE_MS + 1), true);
});

test("connected, never heard of, not yet joined or an ended session is not gone", () => {
  const later = Date.parse("2026-11-22T11:00:00.000Z");
  assert.equal(S.customerGone(S.onPresence(base(), { connected: true, since: "2026-11-22T10:00:00Z" }), later), false);
  assert.equal(S.customerGone(base(), later), false);
  const away = { connected: false, since: "2026-11-22T10:00:00Z" };
  const notJoined = S.onPresence(S.initialState({ session: "s", code: "1", site: "shop", status: "waiting", me: "O" }), away);
  assert.equal(S.customerGone(notJoined, later), false);
  assert.equal(S.customerGone({ ...S.onPresence(base(), away), status: "ended" }, later), false);
  assert.equal(S.customerGone(S.onPresence(base(), { connected: false, since: null }), later), false);
});
