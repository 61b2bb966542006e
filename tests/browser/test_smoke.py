"""The demo pages load in real Chromium from the merchant's origin, and the widget's script tag
puts its own Get help button on them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import WIDGET


def test_shop_page_renders_with_get_help(
    new_context: Any, live_url: str, merchant_url: str, shot: Any
) -> None:
    page = new_context().new_page()
    page.goto("/shop/")  # the desk sends the shop's visitors to the merchant's origin
    assert page.url.startswith(f"{merchant_url}/shop/")
    expect(page.locator("#cobrowse-help")).to_be_visible()
    # The button is the widget's, in its shadow root, not the page's.
    assert page.evaluate("document.getElementById('cobrowse-help')") is None
    assert page.evaluate(f"{WIDGET}.getElementById('cobrowse-help') !== null")
    assert page.locator("h1").count() == 1
    assert [c["name"] for c in page.context.cookies()] == ["shop_csrftoken"]
    shot(page, "shop")
