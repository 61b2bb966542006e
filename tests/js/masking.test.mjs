// Masking: which field values and texts may leave the customer's page, and the redaction pass
// over rrweb events that backs up rrweb's own masking.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  Decision,
  SECRET_MASK,
  describeElement,
  maskDecision,
  maskText,
  maskValue,
  redactEvent,
} from "../../static/cobrowse/masking.js";

const field = (attributes, context = {}) => ({ tagName: "input", attributes: { type: "text", ...attributes }, ...context });

test("a field inside data-cobrowse-unmask is sent as typed", () => {
  assert.equal(maskDecision(field({ name: "address" }, { insideUnmask: true })), Decision.CLEAR);
  assert.equal(maskDecision(field({ name: "address", "data-cobrowse-unmask": "" })), Decision.CLEAR);
});

test("every other field is masked by default", () => {
  assert.equal(maskDecision(field({ name: "comment" })), Decision.MASK);
  assert.equal(maskDecision({ tagName: "textarea", attributes: {} }), Decision.MASK);
});

test("data-cobrowse-mask on the field or an ancestor makes it secret, even inside unmask", () => {
  assert.equal(maskDecision(field({ name: "x", "data-cobrowse-mask": "" })), Decision.SECRET);
  assert.equal(maskDecision(field({ name: "x" }, { insideMask: true, insideUnmask: true })), Decision.SECRET);
});

test("password, card, CVC, expiry, IBAN, account, national-ID and birth-date fields are secret", () => {
  const secret = [
    { type: "password" },
    { name: "card_number" },
    { autocomplete: "cc-number" },
    { autocomplete: "cc-csc" },
    { name: "cvv" },
    { autocomplete: "cc-exp" },
    { id: "id_iban" },
    { name: "account_number" },
    { name: "national_id" },
    { autocomplete: "bday" },
    { name: "date_of_birth" },
    { "aria-label": "Security code" },
    { autocomplete: "one-time-code", name: "otp" },
    { name: "pin" },
    { name: "pin_code" },
    { id: "card-pin" },
    { name: "pinCode" },
    { "aria-label": "PIN" },
    { type: "hidden", name: "csrfmiddlewaretoken" },
    { type: "file" },
  ];
  for (const attributes of secret) {
    assert.equal(maskDecision(field(attributes, { insideUnmask: true })), Decision.SECRET, JSON.stringify(attributes));
  }
});

test("ordinary names are not mistaken for secrets", () => {
  for (const name of ["name", "email", "address", "postal_code", "city", "amount", "reference", "recipient_name", "quantity", "accept_terms", "spinner", "shipping_method", "pinterest_handle"]) {
    assert.equal(maskDecision(field({ name }, { insideUnmask: true })), Decision.CLEAR, name);
  }
});

test("a naming attribute of an element that is no form field does not make it secret", () => {
  assert.equal(maskDecision({ tagName: "div", attributes: { id: "card-list" } }), Decision.MASK);
});

test("secret values become one constant mask whatever their length", () => {
  assert.equal(maskValue("737", Decision.SECRET), SECRET_MASK);
  assert.equal(maskValue("4111 1111 1111 1111", Decision.SECRET), SECRET_MASK);
  assert.equal(maskValue("", Decision.SECRET), "", "an emptied field stays visibly empty");
});

test("masked values become one placeholder whatever their length; clear values are unchanged", () => {
  assert.equal(maskValue("Grüße", Decision.MASK), SECRET_MASK);
  assert.equal(maskValue("Jo", Decision.MASK), SECRET_MASK);
  assert.equal(maskValue("A much longer answer than six characters", Decision.MASK), SECRET_MASK);
  assert.equal(maskValue("", Decision.MASK), "", "an emptied field stays visibly empty");
  assert.equal(maskValue("Main street 1", Decision.CLEAR), "Main street 1");
  assert.equal(maskValue(null, Decision.CLEAR), "");
});

test("masking twice gives the same as masking once", () => {
  for (const decision of Object.values(Decision)) {
    const once = maskValue("secret 123", decision);
    assert.equal(maskValue(once, decision), once, decision);
  }
  assert.equal(maskText(maskText("DE89 3704")), maskText("DE89 3704"));
});

test("masked text keeps its spaces and nothing else", () => {
  assert.equal(maskText("DE89 3704 0044"), "•••• •••• ••••");
});

// --- rrweb events ---------------------------------------------------------------------------

const el = (id, tagName, attributes = {}, childNodes = []) => ({ type: 2, id, tagName, attributes, childNodes });
const text = (id, textContent) => ({ type: 3, id, textContent });

test("a full snapshot loses every value of non-clear fields and the text inside masks", () => {
  const snapshot = {
    type: 2,
    data: {
      node: {
        type: 0,
        id: 1,
        childNodes: [
          el(2, "form", {}, [
            el(3, "input", { type: "hidden", name: "csrfmiddlewaretoken", value: "tok3n" }),
            el(4, "div", { "data-cobrowse-unmask": "" }, [
              el(5, "input", { name: "address", value: "Main street 1" }),
              el(6, "input", { name: "card_number", value: "4111111111111111", title: "4111111111111111" }),
            ]),
            el(7, "input", { name: "note", value: "hello" }),
            el(8, "span", { "data-cobrowse-mask": "", "data-iban": "DE89370400440532013000" }, [text(9, "DE89 3704 0044 0532 0130 00")]),
            el(10, "textarea", { name: "comment" }, [text(11, "typed before")]),
          ]),
        ],
      },
      initialOffset: { top: 0, left: 0 },
    },
  };
  const serialized = JSON.stringify(redactEvent(snapshot));
  for (const secret of ["tok3n", "4111111111111111", "hello", "DE89", "0532"]) {
    assert.ok(!serialized.includes(secret), `${secret} left the page: ${serialized}`);
  }
  assert.ok(serialized.includes("Main street 1"), "clear fields stay readable");
  const form = snapshot.data.node.childNodes[0];
  assert.equal(form.childNodes[0].attributes.value, SECRET_MASK);
  assert.equal(form.childNodes[1].childNodes[1].attributes.value, SECRET_MASK);
  assert.equal(form.childNodes[2].attributes.value, SECRET_MASK);
  assert.equal(form.childNodes[3].childNodes[0].textContent, "•••• •••• •••• •••• •••• ••");
});

test("the text of a textarea that is not clear is masked like its value", () => {
  const snapshot = { type: 2, data: { node: el(1, "textarea", { name: "comment", "data-cobrowse-mask": "" }, [text(2, "my pin is 1234")]) } };
  redactEvent(snapshot);
  assert.ok(!JSON.stringify(snapshot).includes("1234"));
});

test("nodes added by a mutation are redacted in the context of their live parent", () => {
  const mutation = {
    type: 3,
    data: {
      source: 0,
      adds: [
        { parentId: 20, nextId: null, node: el(21, "input", { name: "nickname", value: "Bob" }) },
        { parentId: 30, nextId: null, node: text(31, "IBAN DE89 3704") },
      ],
      attributes: [],
      texts: [],
      removes: [],
    },
  };
  const lookup = (id) =>
    ({
      20: { tagName: "div", attributes: {}, insideMask: false, insideUnmask: true },
      30: { tagName: "span", attributes: {}, insideMask: true, insideUnmask: false },
    })[id] ?? null;
  redactEvent(mutation, lookup);
  assert.equal(mutation.data.adds[0].node.attributes.value, "Bob");
  assert.equal(mutation.data.adds[1].node.textContent, "•••• •••• ••••");
});

test("attribute and text mutations are masked by the field they belong to", () => {
  const mutation = {
    type: 3,
    data: {
      source: 0,
      adds: [],
      removes: [],
      attributes: [
        { id: 40, attributes: { value: "737" } },
        { id: 41, attributes: { value: "Main street 1" } },
        { id: 42, attributes: { value: "no idea" } },
      ],
      texts: [
        { id: 50, value: "DE89 3704" },
        { id: 51, value: "Welcome back" },
      ],
    },
  };
  const lookup = (id) =>
    ({
      40: field({ name: "card_cvc" }),
      41: field({ name: "address" }, { insideUnmask: true }),
      50: { tagName: "span", attributes: {}, insideMask: true },
      51: { tagName: "h1", attributes: {}, insideMask: false },
    })[id] ?? null;
  redactEvent(mutation, lookup);
  assert.deepEqual(
    mutation.data.attributes.map((change) => change.attributes.value),
    [SECRET_MASK, "Main street 1", SECRET_MASK],
    "an unknown node's value is masked",
  );
  assert.deepEqual(mutation.data.texts.map((change) => change.value), ["•••• ••••", "Welcome back"]);
});

test("input events are masked again by their field; checkboxes keep their state", () => {
  const input = (id, textValue, isChecked = false) => ({ type: 3, data: { source: 5, id, text: textValue, isChecked } });
  const lookup = (id) =>
    ({
      1: field({ name: "card_number" }, { insideUnmask: true }),
      2: field({ name: "address" }, { insideUnmask: true }),
      3: field({ type: "checkbox", name: "accept_terms" }, { insideUnmask: true }),
    })[id] ?? null;
  assert.equal(redactEvent(input(1, "4111111111111111"), lookup).data.text, SECRET_MASK);
  assert.equal(redactEvent(input(2, "Main street 1"), lookup).data.text, "Main street 1");
  assert.equal(redactEvent(input(3, "on", true), lookup).data.text, "on");
  assert.equal(redactEvent(input(9, "unknown"), lookup).data.text, SECRET_MASK);
});

test("events without DOM content pass unchanged", () => {
  const events = [
    { type: 4, data: { href: "http://shop/", width: 1, height: 1 } },
    { type: 3, data: { source: 1, positions: [{ x: 1, y: 2, id: 3, timeOffset: 0 }] } },
  ];
  const copy = structuredClone(events);
  for (const event of events) redactEvent(event);
  assert.deepEqual(events, copy);
});

// --- live elements --------------------------------------------------------------------------

class FakeElement {
  nodeType = 1;
  constructor(tagName, attributes = {}, { type, ancestors = [] } = {}) {
    this.tagName = tagName.toUpperCase();
    this.attrs = attributes;
    if (type !== undefined) this.type = type;
    this.ancestors = ancestors; // attribute maps of the ancestors
  }
  getAttribute(name) {
    return Object.hasOwn(this.attrs, name) ? this.attrs[name] : null;
  }
  hasAttribute(name) {
    return Object.hasOwn(this.attrs, name);
  }
  closest(selector) {
    const name = /^\[([\w-]+)\]$/.exec(selector)[1];
    return [this.attrs, ...this.ancestors].some((attrs) => Object.hasOwn(attrs, name)) ? {} : null;
  }
}

test("describeElement reads a live field and its masking ancestors", () => {
  const input = new FakeElement("input", { name: "iban", id: "id_iban" }, { type: "text", ancestors: [{ "data-cobrowse-unmask": "" }] });
  assert.deepEqual(describeElement(input), {
    tagName: "input",
    attributes: { name: "iban", id: "id_iban", type: "text" },
    insideMask: false,
    insideUnmask: true,
  });
  assert.equal(maskDecision(describeElement(input)), Decision.SECRET);
});

test("describeElement takes a text node's parent and sees rrweb's password marker", () => {
  const parent = new FakeElement("input", { "data-rr-is-password": "true" }, { type: "text" });
  assert.equal(describeElement({ nodeType: 3, parentElement: parent }).attributes.type, "password");
  assert.equal(describeElement(null), null);
  assert.equal(describeElement({ nodeType: 3, parentElement: null }), null);
});
