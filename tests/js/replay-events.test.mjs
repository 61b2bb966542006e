// The admin's Replay in the session's own time (static/helpdesk/replay-events.js): a highlight
// is on the page for HIGHLIGHT_MS of session time after its ts, or until the customer's page
// changes, whatever the speed of playback or wherever the admin seeks to.
import { test } from "node:test";
import assert from "node:assert/strict";

import { HIGHLIGHT_MS, buildEvents, describe, highlightsAt, pageChanges } from "../../static/helpdesk/replay-events.js";

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

// --- The timeline names nodes as the page does -----------------------------------------------

const el = (id, tagName, attributes = {}, childNodes = []) => ({ type: 2, id, tagName, attributes, childNodes });
const text = (id, textContent) => ({ type: 3, id, textContent });
const snapshot = (ts, seq, body) => ({
  seq,
  ts,
  kind: "dom",
  sender: customer,
  payload: { events: [{ type: 2, data: { node: { type: 0, id: 1, childNodes: [el(2, "html", {}, [el(3, "body", {}, body)])] } } }] },
});

test("the timeline names a field by its label, placeholder or name, and a button by its text", () => {
  const ops = [
    snapshot(1000, 1, [
      el(10, "label", { for: "email" }, [text(11, "E-mail address")]),
      el(12, "input", { id: "email", type: "email" }),
      el(13, "input", { placeholder: "Card number" }),
      el(14, "label", {}, [text(15, "Name on card "), el(16, "input", {})]),
      el(17, "button", {}, [text(18, " Pay  now ")]),
      el(19, "div", {}),
    ]),
    { seq: 2, ts: 2000, kind: "highlight", sender: operator, payload: { id: 12 } },
    { seq: 3, ts: 2100, kind: "input", sender: operator, payload: { id: 13, value: "x" } },
    { seq: 4, ts: 2200, kind: "highlight", sender: operator, payload: { id: 16 } },
    { seq: 5, ts: 2300, kind: "click", sender: operator, payload: { id: 17, x: 1, y: 1 } },
    { seq: 6, ts: 2400, kind: "highlight", sender: operator, payload: { id: 19 } },
  ];
  const lines = buildEvents(ops).timeline.map((op) => describe(op));
  assert.deepEqual(lines, [
    "highlighted “E-mail address”",
    "typed into “Card number”",
    "highlighted “Name on card”",
    "clicked “Pay now”",
    "highlighted node 19",
  ]);
});

test("a node's name is the page's at the op's time: mutations count, a new page starts over", () => {
  const ops = [
    snapshot(1000, 1, [el(20, "div", {})]),
    {
      seq: 2,
      ts: 1500,
      kind: "dom",
      sender: customer,
      payload: { events: [{ type: 3, data: { source: 0, adds: [{ parentId: 3, node: el(30, "input", { name: "coupon" }) }], removes: [], texts: [], attributes: [] } }] },
    },
    { seq: 3, ts: 2000, kind: "highlight", sender: operator, payload: { id: 30 } },
    {
      seq: 4,
      ts: 2500,
      kind: "dom",
      sender: customer,
      payload: { events: [{ type: 3, data: { source: 0, adds: [], removes: [], texts: [], attributes: [{ id: 30, attributes: { "aria-label": "Discount code" } }] } }] },
    },
    { seq: 5, ts: 3000, kind: "highlight", sender: operator, payload: { id: 30 } },
    snapshot(4000, 6, [el(30, "div", {})]),
    { seq: 7, ts: 5000, kind: "highlight", sender: operator, payload: { id: 30 } },
  ];
  const lines = buildEvents(ops).timeline.map((op) => describe(op));
  assert.deepEqual(lines, ["highlighted “coupon”", "highlighted “Discount code”", "highlighted node 30"]);
});
