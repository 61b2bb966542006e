// The customer's page address on the desk (static/helpdesk/page-url.js): only http(s) links.
import { test } from "node:test";
import assert from "node:assert/strict";

import { displayUrl, pageHref, showPageUrl } from "../../static/helpdesk/page-url.js";

/** The part of an <a> element showPageUrl uses. */
function fakeAnchor() {
  const attributes = new Map([["href", "#"]]);
  return {
    textContent: "",
    title: "",
    get href() {
      return attributes.get("href");
    },
    set href(value) {
      attributes.set("href", value);
    },
    hasAttribute: (name) => attributes.has(name),
    removeAttribute: (name) => attributes.delete(name),
  };
}

const UNSAFE = [
  "javascript:alert(document.cookie)",
  "JavaScript:alert(1)",
  " javascript:alert(1)",
  "java\tscript:alert(1)",
  "java\nscript:alert(1)",
  "\x01javascript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "file:///etc/passwd",
  "blob:https://shop.example/1234",
  "/relative/path",
  "not a url",
  "",
];

test("only an absolute http or https URL becomes a link", () => {
  assert.equal(pageHref("https://shop.example/cart/?step=2"), "https://shop.example/cart/?step=2");
  assert.equal(pageHref("HTTP://shop.example"), "http://shop.example/");
  for (const url of UNSAFE) assert.equal(pageHref(url), null, JSON.stringify(url));
  assert.equal(pageHref(undefined), null);
  assert.equal(pageHref({ toString: () => "https://x.example/" }), null);
});

test("a web URL is a link showing its path; anything else is plain text without href", () => {
  const anchor = fakeAnchor();
  showPageUrl(anchor, "https://shop.example/cart/?step=2", "Cart");
  assert.equal(anchor.href, "https://shop.example/cart/?step=2");
  assert.equal(anchor.textContent, "/cart/?step=2");
  assert.equal(anchor.title, "Cart");
  for (const url of UNSAFE.filter(Boolean)) {
    showPageUrl(anchor, url);
    assert.equal(anchor.hasAttribute("href"), false, JSON.stringify(url));
    assert.equal(anchor.textContent, url);
    assert.equal(anchor.title, url);
  }
  showPageUrl(anchor, "");
  assert.equal(anchor.hasAttribute("href"), false);
  assert.equal(anchor.textContent, "—");
});

test("the short form of a web URL is its path and query", () => {
  assert.equal(displayUrl("https://shop.example/p/12?size=m#reviews"), "/p/12?size=m");
  assert.equal(displayUrl("javascript:alert(1)"), "javascript:alert(1)");
});
