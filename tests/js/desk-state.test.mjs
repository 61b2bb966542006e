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

const handover = (from, to, name = "Sam") => ({
  type: "op",
  seq: 9,
  kind: "session",
  payload: { action: "handover", from, to, name },
  sender: { role: "operator", participant: from },
});

test("a hand-over makes its `to` the operator and its `from` an observer, my role included", () => {
  let state = S.onWelcome(base(), {
    participant: 2,
    role: "operator",
    status: "active",
    participants: [
      { participant: 1, role: "customer", name: "Customer" },
      { participant: 2, role: "operator", name: "Olga" },
      { participant: 3, role: "observer", name: "Sam" },
    ],
  });
  assert.equal(S.handsOverMe(state, handover(2, 3)), true);
  state = S.onOp(state, handover(2, 3));
  assert.equal(state.role, "observer");
  assert.equal(S.isObserver(state), true);
  assert.deepEqual(S.operatorOf(state), { id: 3, role: "operator", name: "Sam" });
  assert.equal(state.participants.get(2).role, "observer");
  state = S.onOp(state, handover(3, 2, "Olga"));
  assert.equal(state.role, "operator");
});

test("a supervisor watches: an observer's desk without chat", () => {
  const state = S.onWelcome(base(), { participant: 5, role: "supervisor", status: "active", participants: [] });
  assert.equal(S.isObserver(state), true);
  assert.equal(S.isSupervisor(state), true);
});

test("the customer's link reads connected, reconnecting for a page change's time, then lost", () => {
  const since = "2026-11-22T10:00:00.000Z";
  const at = Date.parse(since);
  assert.equal(S.customerLink(S.onPresence(base(), { connected: true, since }), at + 60_000), "connected");
  const away = S.onPresence(base(), { connected: false, since });
  assert.equal(S.customerLink(away, at + 1000), "reconnecting");
  assert.equal(S.customerLink(away, at + S.PRESENCE_GRACE_MS + 1), "lost");
  assert.equal(S.customerLink(base(), at), null); // the server has not said yet
  assert.equal(S.customerLink({ ...away, status: "ended" }, at + 1000), null);
});
