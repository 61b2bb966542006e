// Operator actions on the customer's page: only with control, only for the current page, never
// into fields the operator cannot see, never into the widget itself.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Actions, actionVerdict, isForCurrentPage, navigationTarget } from "../../static/cobrowse/actions.js";

const operatorOp = (seq, kind, payload = { id: 5 }, participant = 2) => ({
  type: "op",
  seq,
  kind,
  payload,
  sender: { role: "operator", participant },
});

test("an operator action after the page's first op, with control, is applied", () => {
  for (const kind of ["click", "input", "navigate"]) {
    assert.equal(actionVerdict(operatorOp(11, kind), { control: 2, pageSeq: 10 }), "apply", kind);
  }
});

test("without control nothing is applied", () => {
  assert.equal(actionVerdict(operatorOp(11, "click"), { control: null, pageSeq: 10 }), "no-control");
});

test("control granted to another operator does not let this one act", () => {
  assert.equal(actionVerdict(operatorOp(11, "click", { id: 5 }, 3), { control: 2, pageSeq: 10 }), "no-control");
});

test("an action aimed at an earlier page is dropped", () => {
  assert.equal(actionVerdict(operatorOp(10, "input"), { control: 2, pageSeq: 10 }), "other-page");
  assert.equal(actionVerdict(operatorOp(4, "navigate"), { control: 2, pageSeq: 10 }), "other-page");
});

test("before the page's first op is acknowledged, every action is for an earlier page", () => {
  assert.equal(actionVerdict(operatorOp(11, "click"), { control: 2, pageSeq: null }), "other-page");
  assert.equal(isForCurrentPage({ seq: 11 }, null), false);
  assert.equal(isForCurrentPage({ seq: 11 }, 10), true);
});

test("the customer's own clicks and navigations are never replayed", () => {
  const own = { ...operatorOp(11, "click"), sender: { role: "customer", participant: 1 } };
  assert.equal(actionVerdict(own, { control: 1, pageSeq: 10 }), "not-from-operator");
});

test("other kinds are not actions", () => {
  assert.equal(actionVerdict(operatorOp(11, "highlight"), { control: 2, pageSeq: 10 }), "not-an-action");
});

test("navigation stays on the page's origin and on http(s)", () => {
  const here = "https://shop.example/shop/cart/";
  assert.equal(navigationTarget("/shop/checkout/", here), "https://shop.example/shop/checkout/");
  assert.equal(navigationTarget("https://shop.example/bank/", here), "https://shop.example/bank/");
  assert.equal(navigationTarget("https://evil.example/", here), null);
  assert.equal(navigationTarget("javascript:alert(1)", here), null);
  assert.equal(navigationTarget("//evil.example/x", here), null);
  assert.equal(navigationTarget("http://[", here), null);
});

// --- applying, on a small fake DOM ----------------------------------------------------------

class FakeField {
  nodeType = 1;
  isConnected = true;
  events = [];
  clicks = 0;
  constructor(tagName, attributes = {}, { type = "text", ancestors = [] } = {}) {
    this.tagName = tagName;
    this.attrs = attributes;
    this.type = type;
    this.ancestors = ancestors;
    this.value = "";
    this.checked = false;
  }
  getAttribute(name) {
    return Object.hasOwn(this.attrs, name) ? this.attrs[name] : null;
  }
  hasAttribute(name) {
    return Object.hasOwn(this.attrs, name);
  }
  closest(selector) {
    const name = /^\[([\w-]+)\]$/.exec(selector)[1];
    return Object.hasOwn(this.attrs, name) || this.ancestors.includes(name) ? {} : null;
  }
  dispatchEvent(event) {
    this.events.push(event.type);
  }
  focus() {}
  click() {
    this.clicks += 1;
  }
}

function setup(nodes) {
  const seen = [];
  const assigned = [];
  const actions = new Actions({
    nodeOf: (id) => nodes[id] ?? null,
    overlays: { clicked: () => seen.push("clicked"), typed: () => seen.push("typed") },
    window: { location: { href: "https://shop.example/shop/", assign: (url) => assigned.push(url) } },
  });
  return { actions, seen, assigned };
}

test("typing into a visible field sets the value and fires input and change", () => {
  const address = new FakeField("INPUT", { name: "address", "data-cobrowse-unmask": "" });
  const { actions, seen } = setup({ 5: address });
  assert.equal(actions.apply(operatorOp(11, "input", { id: 5, value: "Main street 1" })), "typed");
  assert.equal(address.value, "Main street 1");
  assert.deepEqual(address.events, ["input", "change"]);
  assert.deepEqual(seen, ["typed"]);
});

test("the field may also be named by the op's element key", () => {
  const address = new FakeField("INPUT", { name: "address", "data-cobrowse-unmask": "" });
  const { actions } = setup({ 5: address });
  assert.equal(actions.apply({ ...operatorOp(11, "input", { value: "x" }), element: "node:5" }), "typed");
  assert.equal(address.value, "x");
});

test("nothing is typed into masked or secret fields", () => {
  const card = new FakeField("INPUT", { name: "card_number", "data-cobrowse-unmask": "" });
  const marked = new FakeField("INPUT", { name: "nickname" }, { ancestors: ["data-cobrowse-mask", "data-cobrowse-unmask"] });
  const plain = new FakeField("INPUT", { name: "comment" });
  const { actions } = setup({ 5: card, 6: marked, 7: plain });
  for (const id of [5, 6, 7]) assert.equal(actions.apply(operatorOp(11, "input", { id, value: "x" })), "masked");
  assert.deepEqual([card.value, marked.value, plain.value], ["", "", ""]);
});

test("a checkbox takes the op's checked state", () => {
  const terms = new FakeField("INPUT", { name: "accept_terms", "data-cobrowse-unmask": "" }, { type: "checkbox" });
  const { actions } = setup({ 5: terms });
  assert.equal(actions.apply(operatorOp(11, "input", { id: 5, value: "on", checked: true })), "typed");
  assert.equal(terms.checked, true);
});

test("a click reaches the element, but never the widget or a secret field", () => {
  const pay = new FakeField("BUTTON", { id: "place-order" });
  const allow = new FakeField("BUTTON", { id: "cobrowse-allow" }, { ancestors: ["data-cobrowse-widget"] });
  const cvc = new FakeField("INPUT", { name: "card_cvc" });
  const { actions, seen } = setup({ 5: pay, 6: allow, 7: cvc });
  assert.equal(actions.apply(operatorOp(11, "click", { id: 5 })), "clicked");
  assert.equal(actions.apply(operatorOp(12, "click", { id: 6 })), "no-element");
  assert.equal(actions.apply(operatorOp(13, "click", { id: 7 })), "masked");
  assert.deepEqual([pay.clicks, allow.clicks, cvc.clicks], [1, 0, 0]);
  assert.deepEqual(seen, ["clicked"]);
});

test("an unknown or detached node is not acted on", () => {
  const gone = new FakeField("BUTTON");
  gone.isConnected = false;
  const { actions } = setup({ 5: gone });
  assert.equal(actions.apply(operatorOp(11, "click", { id: 5 })), "no-element");
  assert.equal(actions.apply(operatorOp(11, "click", { id: 99 })), "no-element");
});

test("navigate goes to same-origin URLs only", () => {
  const { actions, assigned } = setup({});
  assert.equal(actions.apply(operatorOp(11, "navigate", { url: "/shop/cart/" })), "navigated");
  assert.equal(actions.apply(operatorOp(12, "navigate", { url: "https://evil.example/" })), "foreign-url");
  assert.deepEqual(assigned, ["https://shop.example/shop/cart/"]);
});
