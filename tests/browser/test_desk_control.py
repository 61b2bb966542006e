"""The operator's hands on the customer's page, through the desk and the real widget: the pointer
lands where the operator points, whatever the mirror's scale, and with control a click on the
mirror clicks the customer's real button."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from tests.browser.conftest import ask_for_help, desk_for, wait_until


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def helping(new_context: Any, live_url: str) -> tuple[Page, Page]:
    """A customer on a product page with an operator's desk joined to their session."""
    customer = new_context().new_page()
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.wait_for_url("**/shop/products/**")
    session = ask_for_help(customer)
    desk = desk_for(new_context, live_url, session)
    expect(desk.frame_locator("#mirror iframe").locator("#add-to-cart")).to_be_visible()
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    expect(customer.locator("#cobrowse-panel")).to_be_hidden()  # collapsed to its handle
    return customer, desk


def test_the_operators_pointer_lands_where_it_points(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    scale = float(desk.get_attribute("#mirror-frame", "data-scale") or "0")
    assert 0 < scale < 1  # the mirror is smaller than the customer's page
    mirrored = desk.frame_locator("#mirror iframe").locator("#add-to-cart").bounding_box()
    real = customer.locator("#add-to-cart").bounding_box()
    assert mirrored is not None and real is not None
    desk.mouse.move(mirrored["x"] + 10, mirrored["y"] + 10)
    desk.mouse.move(mirrored["x"] + mirrored["width"] / 2, mirrored["y"] + mirrored["height"] / 2)
    cursor = customer.locator("#cobrowse-operator-cursor")
    expect(cursor).to_be_visible()
    centre = (real["x"] + real["width"] / 2, real["y"] + real["height"] / 2)
    wait_until(
        customer,
        """([x, y]) => {
          const widget = document.querySelector("[data-cobrowse-widget]").shadowRoot;
          const box = widget.getElementById("cobrowse-operator-cursor").getBoundingClientRect();
          return Math.abs(box.left - x) < 4 && Math.abs(box.top - y) < 4;
        }""",
        arg=list(centre),
    )
    shot(customer, "cursor-on-the-button")


def test_with_control_a_click_on_the_mirror_clicks_the_real_button(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    mirror = desk.frame_locator("#mirror iframe")
    # Without control, clicking the mirror does nothing to the customer's page.
    mirror.locator("#add-to-cart").click(force=True)
    expect(desk.locator(".toast")).to_contain_text("request control first")
    expect(customer).to_have_url(re.compile("/shop/products/"))
    # The customer hands control over from their panel without being asked (the panel is
    # collapsed to its handle since the operator joined).
    customer.click("#cobrowse-help")
    customer.click("#cobrowse-grant")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    expect(desk.locator("#stage")).to_have_attribute("data-mode", "control")
    mirror.locator("#add-to-cart").click()
    customer.wait_for_url("**/shop/cart/")
    expect(customer.locator("#cart-count")).to_have_text("1")
    expect(mirror.locator("h1")).to_have_text("Your cart")
    shot(desk, "operator-added-to-cart")
    # The customer takes control back; the desk drops back to pointing.
    customer.click("#cobrowse-control-banner button")
    expect(desk.locator("#control-state")).to_have_text("Not granted")
    expect(desk.locator("#tool-control")).to_be_disabled()
    expect(desk.locator("#stage")).to_have_attribute("data-mode", "point")


def test_the_desk_says_when_the_customer_has_gone_and_when_they_are_back(
    new_context: Any, live_url: str, shot: Any
) -> None:
    """The customer leaves the shop for another site: at once the desk says "reconnecting", and
    after a page change's worth of seconds that the connection is lost (the mirror keeps their
    last page); they come back to the shop in the same tab (whose sessionStorage keeps the
    session and its token), the session continues, and the desk says they are there."""
    customer, desk = helping(new_context, live_url)
    state = desk.locator("#customer-state")
    expect(state).to_have_attribute("data-state", re.compile("active|idle"))
    customer.goto("about:blank")
    # The server's answer is read every 2 s; a page change (8 s of grace) is not an absence.
    expect(state).to_have_attribute("data-state", "reconnecting", timeout=5_000)
    expect(state).to_contain_text("Reconnecting")
    expect(state).to_have_attribute("data-state", "gone", timeout=12_000)
    expect(state).to_contain_text("Connection lost")
    expect(desk.locator(".toast")).to_contain_text("The customer has disconnected")
    shot(desk, "customer-gone")
    customer.goto("/shop/")
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    expect(state).not_to_have_attribute("data-state", "gone", timeout=15_000)
    expect(state).not_to_contain_text("Connection lost")
    expect(desk.locator(".toast", has_text="The customer is back")).to_be_visible()
