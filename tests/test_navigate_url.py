"""The page URL of a `navigate` op becomes a link on the desk: the protocol lets through only
http(s) URLs and URLs relative to the customer's page, and refuses every other scheme."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from cobrowse import protocol
from cobrowse.models import Operation

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JAVASCRIPT:alert(1)",
    " javascript:alert(1)",
    "\x01\x1fjavascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscr\ript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "mailto:someone@example.com",
    "ftp://files.example/x",
]
SAFE = [
    "https://shop.example/cart/?step=2",
    "HTTP://shop.example/",
    "http://localhost:8000/shop/",
    "/shop/",
    "/search?q=javascript:alert(1)",
    "//cdn.example/page",  # protocol-relative: the page's own http(s)
    "product/12",
]


def navigate(url: Any) -> dict[str, Any]:
    return {"type": "op", "client_op_id": "n1", "kind": "navigate", "payload": {"url": url}}


@pytest.mark.parametrize("url", UNSAFE)
def test_a_navigate_url_of_another_scheme_is_refused(url):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_frame(navigate(url))
    assert refused.value.code == "invalid_payload"
    assert refused.value.message == (
        "navigate.url must be an http(s) or relative URL of at most 2048 characters"
    )


@pytest.mark.parametrize("url", SAFE)
def test_an_http_or_relative_navigate_url_is_accepted(url):
    frame = protocol.parse_frame(navigate(url))
    assert isinstance(frame, protocol.OpFrame) and frame.payload == {"url": url}


@pytest.mark.parametrize("url", ["", "https://shop.example/" + "a" * 2048, 5, None])
def test_an_empty_overlong_or_non_string_url_is_refused(url):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_frame(navigate(url))
    assert refused.value.code == "invalid_payload"


async def test_the_customer_gets_an_error_frame_and_nothing_is_journaled(pair):
    session, customer, operator = pair
    await customer.send_op("navigate", {"url": "javascript:alert(1)"}, client_op_id="evil")
    error = await customer.recv()
    assert error["type"] == "error" and error["code"] == "invalid_payload"
    assert error["client_op_id"] == "evil"
    assert await operator.nothing()
    kinds = await sync_to_async(
        lambda: list(Operation.objects.filter(session=session).values_list("kind", flat=True))
    )()
    assert "navigate" not in kinds
    await customer.send_op("navigate", {"url": "https://shop.example/cart/"})
    assert (await customer.recv())["type"] == "ack"
