// Control and session notes the operator reads in the desk (desk-state.js noteText) and the
// admin in the replay's timeline (replay-events.js describe): deny, revoke, release, a request
// left unanswered and control ending with the session are different messages.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as S from "../../static/helpdesk/desk-state.js";
import { describe } from "../../static/helpdesk/replay-events.js";

const CUSTOMER = 1;
const ME = 2;
const OTHER = 3;

function desk() {
  let state = S.initialState({ session: "s", code: "123456", site: "shop", status: "active", me: "Olga" });
  state = S.onWelcome(state, {
    participant: ME,
    role: "operator",
    status: "active",
    participants: [
      { participant: CUSTOMER, role: "customer", name: "Customer" },
      { participant: ME, role: "operator", name: "Olga K." },
      { participant: OTHER, role: "observer", name: "Ivan P." },
    ],
  });
  return state;
}
const op = (kind, sender, payload, seq = 1) => ({ seq, ts: 1000 * seq, kind, sender: { participant: sender, role: sender === CUSTOMER ? "customer" : "operator" }, payload });

test("a customer's no to a request is a denial, not taking control back", () => {
  let state = desk();
  const request = op("control", ME, { action: "request" }, 1);
  state = S.onOp(state, request);
  assert.equal(S.noteText(state, request), "You asked for control");
  const deny = op("control", CUSTOMER, { action: "revoke", participant: null }, 2);
  assert.equal(S.noteText(state, deny), "Customer denied the request for control");
  assert.equal(S.onOp(state, deny).controlRequested, false);
  assert.equal(describe(deny), "denied the request for control");
});

test("taking granted control back and giving it back read differently", () => {
  let state = S.onOp(desk(), op("control", CUSTOMER, { action: "grant", participant: ME }, 1));
  const revoke = op("control", CUSTOMER, { action: "revoke", participant: ME }, 2);
  assert.equal(S.noteText(state, revoke), "Customer took control back");
  assert.equal(describe(revoke), "took control back");
  const release = op("control", ME, { action: "release", participant: ME }, 2);
  assert.equal(S.noteText(state, release), "You gave control back");
  assert.equal(describe(release), "gave control back");
  state = S.onOp(desk(), op("control", CUSTOMER, { action: "grant", participant: OTHER }, 1));
  const fromOther = op("control", CUSTOMER, { action: "revoke", participant: OTHER }, 2);
  assert.equal(S.noteText(state, fromOther), "Customer took control back from Ivan P.");
});

test("the session's end says what became of control and of a waiting request", () => {
  const end = op("session", CUSTOMER, { action: "end" }, 3);
  const held = S.onOp(desk(), op("control", CUSTOMER, { action: "grant", participant: ME }, 1));
  assert.equal(S.noteText(held, end), "Customer ended the session; your control ended with it");
  const waiting = S.onOp(desk(), op("control", ME, { action: "request" }, 1));
  assert.equal(S.noteText(waiting, end), "Customer ended the session; the request for control expired unanswered");
  assert.equal(S.noteText(desk(), end), "Customer ended the session");
  const abandoned = op("session", CUSTOMER, { action: "end", reason: "abandoned" }, 3);
  assert.equal(S.noteText(desk(), abandoned), "The customer left: the session ended as abandoned");
  assert.equal(describe(abandoned), "the customer left: the session ended as abandoned");
});
