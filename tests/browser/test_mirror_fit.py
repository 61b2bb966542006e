"""The operator's mirror fits the space it has, keeping the customer's page's aspect ratio, and
shows one pointer of the customer's: rrweb's cursor only once the customer's pointer moved
(before, it sat at the page's corner as a stray second cursor)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.test_desk_control import _catalogue, helping

__all__ = ["_catalogue"]  # the shop's products, seeded again for this module's tests


def test_the_mirror_fits_the_window_and_shows_the_customers_pointer_once(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    mouse = desk.locator("#mirror .replayer-mouse")
    expect(mouse).to_have_count(1)
    expect(mouse).to_be_hidden()  # no pointer op yet: nothing at the corner

    customer_size = customer.viewport_size
    assert customer_size is not None
    desk.set_viewport_size({"width": 1280, "height": 560})
    frame = desk.locator("#mirror-frame")
    fits = "() => document.getElementById('mirror-frame').getBoundingClientRect().bottom"
    desk.wait_for_function(f"{fits} <= innerHeight")
    box = frame.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= 560  # the whole page is in view, not cut at the bottom
    ratio = customer_size["width"] / customer_size["height"]
    assert abs(box["width"] / box["height"] - ratio) < 0.02  # not stretched

    customer.mouse.move(200, 200)
    customer.mouse.move(320, 260, steps=8)
    expect(mouse).to_be_visible()
    expect(desk.locator("#mirror .replayer-mouse:visible")).to_have_count(1)
    shot(desk, "mirror")
