"""The customer's page address on the operator's desk, in real Chromium: a web URL is a link,
and a `javascript:` address that a tampered widget reports is shown as plain text."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import ask_for_help, desk_for

# From the customer's own page on the merchant's origin (the session's token in its
# sessionStorage makes it the session's customer): a full snapshot whose Meta event names a
# javascript: page, and a navigate op to one.
SEND_HOSTILE_PAGE = """async () => {
  const kept = JSON.parse(sessionStorage.getItem("cobrowse:site:pk_demo_shop"));
  const socket = new WebSocket(`${kept.ws_url}?token=${encodeURIComponent(kept.token)}`);
  const frames = [];
  socket.onmessage = (message) => frames.push(JSON.parse(message.data));
  await new Promise((resolve) => (socket.onopen = resolve));
  const now = Date.now();
  const body = {type: 2, id: 3, tagName: "body", attributes: {}, childNodes: [
    {type: 3, id: 4, textContent: "tampered"}]};
  const html = {type: 2, id: 2, tagName: "html", attributes: {}, childNodes: [body]};
  const events = [
    {type: 4, timestamp: now,
     data: {href: "javascript:alert(document.domain)", width: 800, height: 600}},
    {type: 2, timestamp: now, data: {node: {type: 0, id: 1, childNodes: [html]},
                                     initialOffset: {left: 0, top: 0}}},
  ];
  socket.send(JSON.stringify({type: "op", client_op_id: "hostile-dom", kind: "dom",
                              payload: {events}}));
  socket.send(JSON.stringify({type: "op", client_op_id: "hostile-nav", kind: "navigate",
                              payload: {url: "javascript:alert(1)"}}));
  const answered = () => frames.filter((f) => f.type === "ack" || f.type === "error").length;
  while (answered() < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  socket.close();
  return frames.filter((f) => f.type === "ack" || f.type === "error");
}"""


def test_only_a_web_page_address_becomes_a_link_on_the_desk(
    new_context: Any, live_url: str, merchant_url: str, shot: Any
) -> None:
    customer = new_context().new_page()
    customer.goto("/shop/")
    session = ask_for_help(customer)

    desk = desk_for(new_context, live_url, session)
    address = desk.locator("#customer-url")
    expect(address).to_have_text("/shop/")
    assert address.get_attribute("href") == f"{merchant_url}/shop/"

    answers = customer.evaluate(SEND_HOSTILE_PAGE)
    by_id = {answer["client_op_id"]: answer for answer in answers}
    assert by_id["hostile-dom"]["type"] == "ack"
    assert by_id["hostile-nav"]["type"] == "error"
    assert by_id["hostile-nav"]["code"] == "invalid_payload"

    expect(address).to_have_text("javascript:alert(document.domain)")
    assert address.get_attribute("href") is None
    shot(desk, "javascript-address-as-text")
