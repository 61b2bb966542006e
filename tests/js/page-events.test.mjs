// The customer's rrweb events on their way to the Scheduler: redacted, Meta + FullSnapshot
// kept together, split by kind.
import { test } from "node:test";
import assert from "node:assert/strict";

import { PageEvents } from "../../static/cobrowse/page-events.js";
import { SECRET_MASK } from "../../static/cobrowse/masking.js";

function setup(lookup, { fits = true } = {}) {
  const calls = [];
  const scheduler = {
    push: (kind, payload, element) => calls.push(["push", kind, payload, element]),
    pushTogether: (kind, events) => calls.push(["together", kind, events.map((e) => e.type)]) && fits,
  };
  const onTooLarge = () => calls.push(["too large"]);
  return { calls, events: new PageEvents({ scheduler, lookup, onTooLarge }) };
}

const meta = () => ({ type: 4, data: { href: "http://shop/", width: 1280, height: 800 }, timestamp: 1 });
const full = () => ({ type: 2, data: { node: { type: 0, id: 1, childNodes: [] }, initialOffset: { top: 0, left: 0 } }, timestamp: 1 });
const mutation = () => ({ type: 3, data: { source: 0, adds: [], removes: [], texts: [], attributes: [] }, timestamp: 2 });

test("a Meta event and its FullSnapshot are queued together", () => {
  const { calls, events } = setup();
  events.take(meta());
  assert.deepEqual(calls, [], "the Meta waits for its snapshot");
  events.take(full());
  assert.deepEqual(calls, [["together", "dom", [4, 2]]]);
});

test("a Meta that no snapshot follows goes as an ordinary dom event, in order", () => {
  const { calls, events } = setup();
  events.take(meta());
  events.take(mutation());
  assert.deepEqual(
    calls.map(([how, kind, payload]) => [how, kind, payload.type]),
    [
      ["push", "dom", 4],
      ["push", "dom", 3],
    ],
  );
});

test("pointer, scroll, input and click events take their own kinds", () => {
  const { calls, events } = setup(() => ({ tagName: "input", attributes: {}, insideUnmask: true }));
  events.take({ type: 3, data: { source: 1, positions: [{ x: 5, y: 6, id: 7, timeOffset: 0 }] } });
  events.take({ type: 3, data: { source: 3, id: 1, x: 0, y: 40 } });
  events.take({ type: 3, data: { source: 5, id: 9, text: "Main street 1", isChecked: false } });
  events.take({ type: 3, data: { source: 2, type: 2, id: 9, x: 1, y: 2 } });
  assert.deepEqual(
    calls.map(([, kind, , element]) => [kind, element]),
    [
      ["pointer", undefined],
      ["scroll", "node:1"],
      ["input", "node:9"],
      ["click", undefined],
    ],
  );
  assert.equal(calls[2][2].value, "Main street 1");
});

test("an input of a secret field is queued masked", () => {
  const { calls, events } = setup(() => ({ tagName: "input", attributes: { name: "card_number" }, insideUnmask: true }));
  events.take({ type: 3, data: { source: 5, id: 9, text: "4111111111111111", isChecked: false } });
  assert.equal(calls[0][2].value, SECRET_MASK);
});

test("an input value longer than the protocol allows is cut to 10,000 characters", () => {
  const { calls, events } = setup(() => ({ tagName: "textarea", attributes: {}, insideUnmask: true }));
  events.take({ type: 3, data: { source: 5, id: 9, text: "x".repeat(12_000), isChecked: false } });
  assert.equal(calls[0][2].value.length, 10_000);
});

test("a snapshot's secrets are redacted before it is queued", () => {
  const calls = [];
  const events = new PageEvents({
    scheduler: { push: () => {}, pushTogether: (kind, list) => calls.push(list) },
  });
  const snapshot = full();
  snapshot.data.node.childNodes.push({
    type: 2,
    id: 2,
    tagName: "input",
    attributes: { name: "card_cvc", value: "737" },
    childNodes: [],
  });
  events.take(meta());
  events.take(snapshot);
  assert.equal(calls[0][1].data.node.childNodes[0].attributes.value, SECRET_MASK);
});

test("reset forgets a waiting Meta", () => {
  const { calls, events } = setup();
  events.take(meta());
  events.reset();
  events.take(full());
  assert.deepEqual(calls, [["together", "dom", [2]]]);
});

test("a full snapshot too large to send is reported, and nothing of it is queued after", () => {
  const { calls, events } = setup(undefined, { fits: false });
  events.take(meta());
  events.take(full());
  assert.deepEqual(calls, [["together", "dom", [4, 2]], ["too large"]]);
  events.take(mutation());
  assert.deepEqual(calls.at(-1)[0], "push"); // the Meta went with the refused group, not again
  assert.equal(calls.filter((call) => call[0] === "push" && call[2]?.type === 4).length, 0);
});
