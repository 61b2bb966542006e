"""The customer's help panel leaves the page to the customer and the operator: once an operator
has joined it collapses to a small handle the customer can move (and the next page keeps it
there); the operator sees where it is, outlined over the mirror; it steps aside from what the
operator highlights; and the control notice sits with the handle, not over the shop's header."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import FloatRect, Page, expect

from cobrowse.models import Session
from tests.browser.conftest import login_context, wait_until
from tests.browser.test_desk_control import _catalogue
from tests.conftest import make_operator

__all__ = ["_catalogue"]  # the shop's products, seeded again for this module's tests

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def helping(
    new_context: Any, live_url: str, viewport: dict[str, int] = DESKTOP, operator: str = "olga"
) -> tuple[Page, Page]:
    """A customer on a product page, their panel open, and an operator's desk joined."""
    customer = new_context(viewport=viewport).new_page()
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.wait_for_url("**/shop/products/**")
    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    expect(customer.locator("#cobrowse-panel")).to_be_visible()
    session = Session.objects.get(code=customer.text_content("#cobrowse-code"))
    context = new_context()
    login_context(context, make_operator(operator), live_url)
    desk = context.new_page()
    desk.goto(f"/helpdesk/sessions/{session.pk}/")
    expect(desk.frame_locator("#mirror iframe").locator("#add-to-cart")).to_be_visible()
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    return customer, desk


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


def overlaps(a: FloatRect, b: FloatRect) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def drag_handle(customer: Page, x: float, y: float) -> None:
    """Drag the handle by its middle to (x, y) of the viewport."""
    handle = box(customer, "#cobrowse-help")
    customer.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    customer.mouse.down()
    customer.mouse.move(x, y, steps=12)
    customer.mouse.up()


def dock_near(customer: Page, x: float, y: float, slack: float = 40) -> None:
    """Until the handle's middle is within `slack` px of (x, y)."""
    wait_until(
        customer,
        """([x, y, slack]) => {
          const widget = document.querySelector("[data-cobrowse-widget]").shadowRoot;
          const r = widget.getElementById("cobrowse-help").getBoundingClientRect();
          const [mx, my] = [r.left + r.width / 2, r.top + r.height / 2];
          return Math.abs(mx - x) < slack && Math.abs(my - y) < slack;
        }""",
        arg=[x, y, slack],
    )


def test_once_the_operator_joins_the_panel_collapses_to_a_small_handle_on_desktop_and_phone(
    new_context: Any, live_url: str, shot: Any
) -> None:
    for name, viewport, operator in (("desktop", DESKTOP, "olga"), ("phone", PHONE, "pia")):
        customer, _ = helping(new_context, live_url, viewport, operator)
        panel = customer.locator("#cobrowse-panel")
        handle = customer.locator("#cobrowse-help")
        expect(panel).to_be_hidden()
        expect(handle).to_have_text("Olga is helping")  # every test operator is called Olga
        dock = box(customer, "#cobrowse-dock")
        assert dock["height"] < 80 and dock["width"] < 260, (name, dock)
        shot(customer, f"{name}-handle")

        # The handle opens the panel again, by pointer or keyboard.
        handle.click()
        expect(panel).to_be_visible()
        shot(customer, f"{name}-panel")
        handle.focus()
        customer.keyboard.press("Enter")
        expect(panel).to_be_hidden()


def test_the_handle_moves_by_drag_or_keyboard_and_stays_there_on_the_next_page(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, _ = helping(new_context, live_url)
    start = box(customer, "#cobrowse-help")
    drag_handle(customer, 300, 200)
    dock_near(customer, 300, 200)
    expect(customer.locator("#cobrowse-panel")).to_be_hidden()  # a drag is not a click

    customer.reload()
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    dock_near(customer, 300, 200)
    shot(customer, "moved-and-reloaded")

    # Without a pointer: the panel's "move" button takes it to the next corner.
    customer.locator("#cobrowse-help").focus()
    customer.keyboard.press("Enter")
    customer.locator("#cobrowse-move").focus()
    customer.keyboard.press("Enter")
    moved = box(customer, "#cobrowse-dock")
    width = customer.evaluate("document.documentElement.clientWidth")
    assert abs(moved["y"] - 20) < 4, moved  # after the top-left corner: the top-right one
    assert abs(moved["x"] + moved["width"] - (width - 20)) < 4, moved
    assert start["y"] > 600  # it began at the bottom


def test_the_desk_outlines_where_the_customers_panel_is(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)

    def outline_matches() -> None:
        dock = box(customer, "#cobrowse-dock")
        scale = float(desk.get_attribute("#mirror-frame", "data-scale") or "0")
        assert 0 < scale < 1
        wait_until(
            desk,
            """([x, y, w, h, scale]) => {
              const mark = document.getElementById("customer-panel");
              const frame = document.querySelector("#mirror iframe");
              if (!mark || mark.hidden || !frame) return false;
              const m = mark.getBoundingClientRect();
              const f = frame.getBoundingClientRect();
              const near = (a, b) => Math.abs(a - b) < 4;
              return near(m.left - f.left, x * scale) && near(m.top - f.top, y * scale)
                && near(m.width, w * scale) && near(m.height, h * scale);
            }""",
            arg=[dock["x"], dock["y"], dock["width"], dock["height"], scale],
        )

    outline_matches()
    expect(desk.locator("#customer-panel")).to_contain_text("Customer's help panel")
    shot(desk, "outline-of-the-handle")
    customer.click("#cobrowse-help")  # the panel opens: a larger box
    expect(customer.locator("#cobrowse-panel")).to_be_visible()
    outline_matches()
    drag_handle(customer, 200, 150)
    dock_near(customer, 200, 150, slack=400)
    outline_matches()
    shot(desk, "outline-of-the-moved-panel")


def test_a_highlight_under_the_handle_moves_it_aside(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    button = box(customer, "#add-to-cart")
    drag_handle(customer, button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
    wait_until(
        customer,
        """() => {
          const widget = document.querySelector("[data-cobrowse-widget]").shadowRoot;
          const a = widget.getElementById("cobrowse-dock").getBoundingClientRect();
          const b = document.getElementById("add-to-cart").getBoundingClientRect();
          return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        }""",
    )

    desk.click("#tool-highlight")
    mirrored = desk.frame_locator("#mirror iframe").locator("#add-to-cart").bounding_box()
    assert mirrored is not None
    desk.mouse.click(mirrored["x"] + mirrored["width"] / 2, mirrored["y"] + mirrored["height"] / 2)
    expect(customer.locator("#cobrowse-highlight")).to_be_visible()
    wait_until(
        customer,
        """() => {
          const widget = document.querySelector("[data-cobrowse-widget]").shadowRoot;
          const a = widget.getElementById("cobrowse-dock").getBoundingClientRect();
          const b = document.getElementById("add-to-cart").getBoundingClientRect();
          return !(a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
        }""",
    )
    shot(customer, "handle-stepped-aside")


def test_the_control_notice_does_not_cover_the_shops_header(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    customer.click("#cobrowse-help")
    customer.click("#cobrowse-grant")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    banner = customer.locator("#cobrowse-control-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Olga")
    header = box(customer, "header.site-header")
    assert not overlaps(box(customer, "#cobrowse-control-banner"), header)  # panel open
    customer.click("#cobrowse-panel .cb-panel__hide")
    assert not overlaps(box(customer, "#cobrowse-control-banner"), header)  # collapsed
    expect(customer.locator("#cobrowse-control-frame")).to_be_visible()
    shot(customer, "control-notice")

    banner.locator("button").click()
    expect(desk.locator("#control-state")).to_have_text("Not granted")
    expect(banner).to_be_hidden()
    expect(customer.locator("#cobrowse-control-frame")).to_be_hidden()


def test_a_control_request_opens_the_panel_and_a_message_badges_the_handle(
    new_context: Any, live_url: str
) -> None:
    customer, desk = helping(new_context, live_url)
    panel = customer.locator("#cobrowse-panel")
    expect(panel).to_be_hidden()

    desk.fill("#chat-input", "I can see your basket.")
    desk.click("#chat-send")
    badge = customer.locator("#cobrowse-help .cb-launcher__badge")
    expect(badge).to_contain_text("1")
    expect(panel).to_be_hidden()
    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("I can see your basket.")
    expect(badge).to_have_count(0)
    customer.click("#cobrowse-panel .cb-panel__hide")

    desk.click("#request-control")
    expect(panel).to_be_visible()
    expect(customer.locator("#cobrowse-allow")).to_be_visible()
    expect(customer.locator("#cobrowse-deny")).to_be_visible()
