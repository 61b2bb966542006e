"""Whether the customer is there, as the desk tells it, when the customer's network goes away
without a close (Wi-Fi gone, a laptop's lid shut): the customer's WebSocket runs through a TCP
proxy that the test blackholes (`tests/blackhole.py`)."""

from __future__ import annotations

import re
import time
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Route, expect

from tests.blackhole import BlackholeProxy
from tests.browser.conftest import ask_for_help, desk_for


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


@pytest.fixture
def proxy(live_url: str) -> Any:
    port = urlsplit(live_url).port
    assert port is not None
    proxy = BlackholeProxy(port)
    yield proxy
    proxy.close()


def test_the_desk_says_the_connection_is_lost_within_10_s_of_a_silent_drop_and_back_after(
    new_context: Any, live_url: str, proxy: BlackholeProxy, shot: Any
) -> None:
    desk_port = urlsplit(live_url).port
    # The merchant's Content-Security-Policy names the desk's origin, not the proxy's port.
    customer = new_context(bypass_csp=True).new_page()

    def socket_through_proxy(route: Route) -> None:
        """The desk's answers name the session's WebSocket: the customer's goes by the proxy."""
        response = route.fetch()
        body = response.json() if response.ok else None
        if isinstance(body, dict) and "ws_url" in body:
            body["ws_url"] = body["ws_url"].replace(f":{desk_port}/", f":{proxy.port}/")
            route.fulfill(response=response, json=body)
        else:
            route.fulfill(response=response)

    customer.route("**/api/embed/v1/sessions/**", socket_through_proxy)
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.wait_for_url("**/shop/products/**")
    session = ask_for_help(customer)
    desk = desk_for(new_context, live_url, session)
    mirror = desk.frame_locator("#mirror iframe")
    expect(mirror.locator("#add-to-cart")).to_be_visible()
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    assert proxy.accepted >= 1, "the customer's socket goes through the proxy"
    state = desk.locator("#customer-state")
    expect(state).to_have_attribute("data-state", re.compile("active|idle"))
    connection = customer.locator("#cobrowse-connection")
    handle = customer.locator("#cobrowse-help")  # the panel is collapsed to its handle
    expect(handle).not_to_contain_text("Reconnecting")

    # The customer's network goes: nothing closes, nothing more arrives either way.
    proxy.blackhole()
    dropped = time.monotonic()
    expect(state).to_have_attribute("data-state", "gone", timeout=10_000)
    lost_after = time.monotonic() - dropped
    expect(state).to_contain_text("Connection lost")
    expect(desk.locator(".toast", has_text="The customer has disconnected")).to_be_visible()
    shot(desk, "customer-network-gone")
    # The widget notices too (nothing came from the server) and says it is reconnecting: on its
    # handle, and in the panel once opened.
    expect(handle).to_contain_text("Reconnecting…", timeout=10_000)
    handle.click()
    expect(connection).to_be_visible()
    expect(connection).to_have_text("Connection lost. Reconnecting…")
    shot(customer, "customer-reconnecting")
    assert lost_after <= 10.5, lost_after

    # The network comes back: the widget reconnects and the desk says the customer is there.
    proxy.resume()
    expect(state).to_have_attribute("data-state", re.compile("active|idle"), timeout=15_000)
    expect(state).not_to_contain_text("Connection lost")
    expect(desk.locator(".toast", has_text="The customer is back")).to_be_visible()
    expect(connection).to_be_hidden()
    expect(handle).not_to_contain_text("Reconnecting")
    # And the session goes on: the customer's next page reaches the mirror.
    customer.goto("/shop/cart/")
    expect(mirror.locator("h1")).to_have_text("Your cart")
    shot(desk, "customer-back")
