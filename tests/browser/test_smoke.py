"""The demo pages load in real Chromium through the real server, with their Get help button."""

from __future__ import annotations

from typing import Any


def test_shop_page_renders_with_get_help(new_context: Any, shot: Any) -> None:
    page = new_context().new_page()
    page.goto("/shop/")
    assert page.locator("#cobrowse-help").is_visible()
    assert page.locator("h1").count() == 1
    assert page.context.cookies()[0]["name"] == "csrftoken"
    shot(page, "shop")
