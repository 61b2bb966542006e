// The widget's view of its help session: welcome frame + journal ops -> what the panel shows.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as S from "../../static/cobrowse/session-state.js";

const session = { id: "s1", code: "123456", site: "shop", status: "waiting", ws_url: "/ws/cobrowse/s1/" };
const customer = { role: "customer", participant: 1 };
const operator = { role: "operator", participant: 2 };

const welcome = (extra = {}) => ({
  type: "welcome",
  status: "waiting",
  head_seq: 3,
  control: null,
  participants: [{ participant: 1, role: "customer", name: "Customer" }],
  ...extra,
});
const op = (seq, kind, payload, sender = operator) => ({ type: "op", seq, kind, payload, sender, element: null, element_seq: null });
const joinedOp = (seq) => op(seq, "session", { action: "joined", participant: 2, role: "operator", name: "Sam" });

function live(...ops) {
  let state = S.onWelcome(S.initialState(session), welcome());
  for (const frame of ops) state = S.onOp(state, frame);
  return state;
}

test("a new session waits for an operator", () => {
  const state = S.onWelcome(S.initialState(session), welcome());
  assert.equal(S.phase(state), "waiting");
  assert.equal(state.code, "123456");
});

test("an operator joining shows their name", () => {
  const state = live(joinedOp(4));
  assert.equal(S.phase(state), "joined");
  assert.equal(S.nameOf(state, state.operator), "Sam");
});

test("the welcome frame of a session in progress gives operator and control", () => {
  const state = S.onWelcome(
    S.initialState(session),
    welcome({
      status: "active",
      control: 2,
      participants: [
        { participant: 1, role: "customer", name: "Customer" },
        { participant: 2, role: "operator", name: "Sam" },
      ],
    }),
  );
  assert.equal(S.phase(state), "control");
  assert.equal(state.operator, 2);
});

test("a control request asks the customer; the grant that answers it gives control", () => {
  let state = live(joinedOp(4), op(5, "control", { action: "request" }));
  assert.equal(S.phase(state), "request");
  assert.equal(state.request, 2);
  state = S.onOp(state, op(6, "control", { action: "grant", participant: 2 }, customer));
  assert.equal(S.phase(state), "control");
  assert.equal(state.control, 2);
  assert.equal(state.request, null);
});

test("revoke by the customer and release by the operator both end control", () => {
  const granted = live(joinedOp(4), op(5, "control", { action: "grant", participant: 2 }, customer));
  assert.equal(S.onOp(granted, op(6, "control", { action: "revoke", participant: 2 }, customer)).control, null);
  assert.equal(S.onOp(granted, op(6, "control", { action: "release", participant: 2 })).control, null);
});

test("catch-up ops older than the welcome never move control or status backwards", () => {
  // Reload: the welcome says control is with 2 now; the catch-up replays the older revoke.
  let state = S.onWelcome(
    S.initialState(session),
    welcome({ status: "active", head_seq: 10, control: 2, participants: [{ participant: 2, role: "operator", name: "Sam" }] }),
  );
  state = S.onOp(state, op(8, "control", { action: "revoke" }, customer));
  state = S.onOp(state, op(9, "control", { action: "grant", participant: 2 }, customer));
  assert.equal(state.control, 2);
  state = S.onOp(state, op(11, "control", { action: "revoke" }, customer));
  assert.equal(state.control, null, "ops after the welcome apply");
});

test("a pending request survives a reload and is dropped when control already went to it", () => {
  const before = live(joinedOp(4), op(5, "control", { action: "request" }));
  const saved = JSON.parse(JSON.stringify(S.savedPart(before)));
  const reloaded = S.initialState(session, saved);
  const participants = [{ participant: 2, role: "operator", name: "Sam" }];
  assert.equal(S.phase(S.onWelcome(reloaded, welcome({ status: "active", participants }))), "request");
  assert.equal(S.onWelcome(reloaded, welcome({ status: "active", control: 2, participants })).request, null);
});

test("chat lines appear once per seq, in order", () => {
  let state = live(joinedOp(4), op(5, "chat", { text: "Hello" }), op(6, "chat", { text: "Hi" }, customer));
  state = S.onOp(state, op(5, "chat", { text: "Hello" }));
  assert.deepEqual(state.chat.map((line) => [line.seq, line.role, line.text]), [[5, "operator", "Hello"], [6, "customer", "Hi"]]);
});

test("the customer's own line is pending until its op comes back", () => {
  let state = live(joinedOp(4));
  state = S.onChatSent(state, "t-9", "Where is my order?");
  assert.deepEqual(state.pending.map((line) => line.text), ["Where is my order?"]);
  state = S.onAck(state, { type: "ack", client_op_id: "t-9", seq: 7 });
  assert.equal(state.pending[0].seq, 7);
  state = S.onOp(state, op(7, "chat", { text: "Where is my order?" }, customer));
  assert.deepEqual(state.pending, []);
  assert.deepEqual(state.chat.map((line) => line.text), ["Where is my order?"]);
});

test("a pending line whose ack was lost (reload) is matched by its text", () => {
  let state = S.onChatSent(live(joinedOp(4)), "t-1", "same");
  state = S.onChatSent(state, "t-2", "same");
  state = S.onOp(state, op(8, "chat", { text: "same" }, customer));
  assert.deepEqual(state.pending.map((line) => line.cid), ["t-2"]);
});

test("the chat keeps the last 100 lines", () => {
  const ops = Array.from({ length: 120 }, (_, i) => op(10 + i, "chat", { text: `line ${i}` }));
  const state = live(...ops);
  assert.equal(state.chat.length, 100);
  assert.equal(state.chat[0].text, "line 20");
});

test("an end from either side ends the session", () => {
  assert.equal(S.phase(live(joinedOp(4), op(5, "session", { action: "end" }))), "ended");
  assert.equal(S.phase(live(op(5, "session", { action: "end" }, customer))), "ended");
});

test("close codes 4410 and 4403 end the session as ended or forbidden", () => {
  const state = live(joinedOp(4), op(5, "control", { action: "grant", participant: 2 }, customer));
  assert.equal(S.phase(S.onConnection(state, "ended")), "ended");
  const forbidden = S.onConnection(state, "forbidden");
  assert.equal(S.phase(forbidden), "forbidden");
  assert.equal(forbidden.control, null);
});

test("reconnecting is shown without changing the phase", () => {
  const state = S.onConnection(live(joinedOp(4)), "reconnecting");
  assert.equal(state.connection, "reconnecting");
  assert.equal(S.phase(state), "joined");
});

test("functions never change the state they are given", () => {
  const state = Object.freeze(live(joinedOp(4)));
  S.onOp(state, op(5, "control", { action: "request" }));
  S.onChatSent(state, "x", "y");
  S.onConnection(state, "ended");
  assert.equal(state.request, null);
});

test("another tab showing its page is a flag of this tab's state, never kept for the next page", () => {
  const state = live(joinedOp(4));
  const away = S.onElsewhere(state, true);
  assert.equal(away.elsewhere, true);
  assert.equal(S.phase(away), S.phase(state)); // the session goes on: chat, control, status
  assert.equal(S.onElsewhere(away, true), away);
  assert.equal(S.onElsewhere(away, false).elsewhere, false);
  assert.equal("elsewhere" in S.savedPart(away), false);
  assert.equal(S.initialState(session, S.savedPart(away)).elsewhere, false);
});

test("after a hand-over the panel names the operator who helps now", () => {
  const handover = op(6, "session", { action: "handover", from: 2, to: 3, name: "Kim" });
  const state = live(joinedOp(4), op(5, "session", { action: "joined", participant: 3, role: "observer", name: "Kim" }), handover);
  assert.equal(S.phase(state), "joined");
  assert.equal(state.operator, 3);
  assert.equal(S.nameOf(state, state.operator), "Kim");
  assert.equal(state.participants[2].role, "observer");
  assert.equal(state.handedOver, true);
});
