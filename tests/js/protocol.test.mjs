// The browser reads the wire format from static/cobrowse/protocol.js, which is generated from
// cobrowse/protocol.py (`python manage.py protocol_files`; tests/test_protocol_files.py holds the
// committed file to the Python). These tests hold the browser's own tables to it.
import { test } from "node:test";
import assert from "node:assert/strict";

import { echoesToSender, KINDS, kindSpec } from "../../static/cobrowse/kinds.js";
import * as P from "../../static/cobrowse/protocol.js";

test("kinds.js paces every kind of the protocol and no other", () => {
  assert.deepEqual(Object.keys(KINDS).sort(), [...P.KINDS].sort());
  assert.ok(P.KINDS.length > 0);
});

test("kinds.js takes each kind's delivery from the protocol", () => {
  for (const kind of P.KINDS) {
    assert.equal(kindSpec(kind).delivery, P.DELIVERY[kind], kind);
    assert.equal(echoesToSender(kind), P.DELIVERY[kind] === P.Delivery.ALL, kind);
  }
  assert.equal(echoesToSender("no-such-kind"), false);
  assert.throws(() => kindSpec("no-such-kind"), /unknown kind/);
});

test("a dom op and an event group fit under the server's limits", () => {
  assert.equal(KINDS.dom.maxEvents, P.MAX_DOM_EVENTS);
  assert.ok(KINDS.dom.maxBytes < P.MAX_DOM_FRAME_BYTES);
  assert.ok(KINDS.dom.maxGroupBytes < P.MAX_DOM_FRAME_BYTES);
});

test("the final close codes are close codes of the server, each with a status", () => {
  const codes = new Set(Object.values(P.CloseCode));
  assert.deepEqual(Object.values(P.FINAL_CLOSE_CODES).sort(), ["ended", "forbidden", "invalid_token"]);
  for (const code of Object.keys(P.FINAL_CLOSE_CODES)) assert.ok(codes.has(Number(code)), code);
  assert.equal(P.FINAL_CLOSE_CODES[P.CloseCode.ENDED], "ended");
  assert.equal(P.FINAL_CLOSE_CODES[P.CloseCode.FORBIDDEN], "forbidden");
});

test("the generated tables are frozen", () => {
  for (const table of [P.DELIVERY, P.KINDS, P.CloseCode, P.FINAL_CLOSE_CODES, P.ERROR_CODES, KINDS]) {
    assert.ok(Object.isFrozen(table));
  }
});
