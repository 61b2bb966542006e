"""A masked field (card number, IBAN, national ID) reaches the operator's mirror as one fixed
placeholder, whatever was typed: never a row of characters as long as the value."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import expect

from cobrowse.models import Operation
from tests.browser.conftest import ask_for_help, desk_for

PLACEHOLDER = "••••••"  # static/cobrowse/masking.js SECRET_MASK, cobrowse/masking.py MASKED_VALUE
SHORT_CARD = "4111111111111111"  # 16 digits
LONG_CARD = "6011 0009 9013 9424 000"  # 19 digits, with spaces


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def test_a_masked_card_field_shows_one_placeholder_whatever_its_length(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer = new_context().new_page()
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.click("#add-to-cart")
    customer.goto("/shop/checkout/")
    session = ask_for_help(customer)
    customer.click("#cobrowse-panel .cb-panel__hide")
    desk = desk_for(new_context, live_url, session)
    mirror = desk.frame_locator("#mirror iframe")
    field = mirror.locator("#id_card_number")
    expect(field).to_be_attached()

    customer.locator("#id_card_number").press_sequentially(SHORT_CARD, delay=10)
    customer.click("h1")
    expect(customer.locator("#id_card_number")).to_have_value(SHORT_CARD)
    expect(field).to_have_value(PLACEHOLDER)
    shot(desk, "short-card-in-mirror")

    customer.locator("#id_card_number").fill("")
    customer.locator("#id_card_number").press_sequentially(LONG_CARD, delay=10)
    customer.click("h1")
    expect(customer.locator("#id_card_number")).to_have_value(LONG_CARD)
    # The mirror's field heard the longer value (the journal holds its input) and still shows
    # the same placeholder.
    expect(field).to_have_value(PLACEHOLDER)
    values = [
        op.payload.get("value") if op.kind == "input" else None
        for op in Operation.objects.filter(session=session, kind="input")
    ]
    assert values and all(value in (PLACEHOLDER, "") for value in values), values
    shot(desk, "long-card-in-mirror")


def test_an_ordinary_masked_field_shows_the_same_placeholder_whatever_its_length(
    new_context: Any, live_url: str
) -> None:
    """A field the page did not mark `data-cobrowse-unmask` and that names no secret is masked
    too, with the same placeholder: not one `*` per character typed."""
    customer = new_context().new_page()
    customer.goto("/shop/")
    session = ask_for_help(customer)
    customer.click("#cobrowse-panel .cb-panel__hide")
    desk = desk_for(new_context, live_url, session)
    mirror = desk.frame_locator("#mirror iframe")
    expect(mirror.locator("h1").first).to_be_attached()
    # A field the shop's own markup does not have, outside any unmasked part of the page.
    customer.evaluate(
        """() => {
          const field = Object.assign(document.createElement("input"), { id: "nickname" });
          field.setAttribute("name", "nickname");
          document.body.prepend(field);
        }"""
    )
    field = mirror.locator("#nickname")
    expect(field).to_be_attached()
    for typed in ("Jo", "Maximilian Alexander"):
        customer.locator("#nickname").fill("")
        customer.locator("#nickname").press_sequentially(typed, delay=10)
        customer.click("h1")
        expect(field).to_have_value(PLACEHOLDER)
