// The admin's Replay in the session's own time (static/helpdesk/replay-events.js): a highlight
// is on the page for HIGHLIGHT_MS of session time after its ts, or until the customer's page
// changes, whatever the speed of playback or wherever the admin seeks to.
import { test } from "node:test";
import assert from "node:assert/strict";

import { HIGHLIGHT_MS, highlightsAt, pageChanges } from "../../static/helpdesk/replay-events.js";

const customer = { participant: 1, role: "customer" };
const operator = { participant: 2, role: "operator" };
const journal = [
  { seq: 1, ts: 10_000, kind: "navigate", sender: customer, payload: { url: "https://shop.test/cart", title: "Cart" } },
  { seq: 2, ts: 11_000, kind: "highlight", sender: operator, payload: { id: 42 } },
  { seq: 3, ts: 12_000, kind: "navigate", sender: customer, payload: { url: "https://shop.test/pay", title: "Pay" } },
  { seq: 4, ts: 20_000, kind: "highlight", sender: operator, payload: { x: 1, y: 2, w: 3, h: 4 } },
  { seq: 5, ts: 21_000, kind: "dom", sender: customer, payload: { events: [{ type: 3, data: {} }] } },
];
const seqs = (now) => highlightsAt(journal, pageChanges(journal), now).map((op) => op.seq);

test("a highlight ends when the customer's page changes, before its time is up", () => {
  assert.deepEqual(seqs(11_000), [2]);
  assert.deepEqual(seqs(11_999), [2]);
  assert.deepEqual(seqs(12_000), []); // the next page: not highlighted any more
});

test("a highlight lasts its time in session time; seeking shows the overlays of that moment", () => {
  assert.deepEqual(seqs(19_999), []); // seeking back before the second one
  assert.deepEqual(seqs(20_000 + HIGHLIGHT_MS - 1), [4]); // an incremental dom op is no new page
  assert.deepEqual(seqs(20_000 + HIGHLIGHT_MS), []);
  assert.deepEqual(seqs(11_500), [2]); // seeking back into the first page
});

test("a new full snapshot of the customer's page is a page change", () => {
  const withSnapshot = [...journal, { seq: 6, ts: 21_500, kind: "dom", sender: customer, payload: { events: [{ type: 2, data: {} }] } }];
  assert.deepEqual(highlightsAt(withSnapshot, pageChanges(withSnapshot), 21_600), []);
});
