"""Pages whose full snapshot is larger than the server takes (4 MiB per dom frame), in real
Chromium: the widget records them again with their stylesheets linked instead of inlined, and
when even that is too large the operator's desk says so instead of waiting for a page forever.
The customer's browser is given the large page by Playwright's request routing."""

from __future__ import annotations

import json
import re
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from playwright.sync_api import expect

from cobrowse.models import Operation, Session
from tests.browser.conftest import ask_for_help, desk_for, login_context

SHOP_CSS = Path(__file__).resolve().parents[2] / "static" / "shop_demo" / "shop.css"
PRODUCT = "/shop/products/harbour-mug/"
LIMIT = 4 * 1024 * 1024


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products (see test_replay.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def customer_on_product_page(new_context: Any, route: tuple[str, Any]) -> tuple[Any, Session]:
    page = new_context().new_page()
    page.route(*route)
    page.goto(PRODUCT)
    page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    return page, Session.objects.get(code=page.text_content("#cobrowse-code"))


def dom_payloads(session: Session) -> list[str]:
    rows = Operation.objects.filter(session=session, kind="dom").order_by("seq")
    return [json.dumps(row.payload) for row in rows]


def test_a_page_with_a_huge_stylesheet_is_shown_with_it_linked(
    new_context: Any, live_url: str, shot: Any
) -> None:
    # About 5 MB of rules: inlined into the snapshot, they could not be sent.
    filler = "\n".join(f".filler-{i} {{ margin: {i % 7}px; }}" for i in range(150_000))
    huge = SHOP_CSS.read_text() + "\n" + filler

    def big_stylesheet(route: Any) -> None:
        route.fulfill(status=200, content_type="text/css", body=huge)

    _customer, session = customer_on_product_page(
        new_context, ("**/static/shop_demo/shop.css", big_stylesheet)
    )
    desk = desk_for(new_context, live_url, session)
    expect(desk.frame_locator("#mirror iframe").locator("h1")).to_have_text("Harbour stoneware mug")
    payloads = dom_payloads(session)
    snapshots = [p for p in payloads if '"type": 2' in p]
    assert snapshots, "no full snapshot was journaled"
    assert all(len(p.encode()) < LIMIT for p in payloads)
    assert not any("filler-" in p for p in payloads)  # the stylesheet went as a link
    assert "shop.css" in snapshots[-1]
    shot(desk, "huge-stylesheet-linked")


def test_a_page_too_large_even_without_its_stylesheets_is_said_to_be_too_large(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer = new_context().new_page()
    customer.goto(PRODUCT)
    # About 5.7 MB of text on the page before the customer asks for help.
    customer.evaluate(
        """() => {
          const section = document.createElement("section");
          section.textContent = Array(150000).fill("A long terms and conditions page.").join(" ");
          document.querySelector("main").append(section);
        }"""
    )
    session = ask_for_help(customer)
    desk = desk_for(new_context, live_url, session)
    expect(desk.locator("#mirror-placeholder")).to_contain_text("too large to show")
    payloads = dom_payloads(session)
    assert any("cobrowse:page-too-large" in p for p in payloads)
    assert all(len(p.encode()) < LIMIT for p in payloads)
    assert not any('"type": 2' in p for p in payloads)  # no snapshot was ever sent
    shot(desk, "too-large")

    # The next page is small again: recorded and shown as usual.
    customer.goto("/shop/cart/")
    expect(desk.frame_locator("#mirror iframe").locator("h1")).to_have_text("Your cart")
    expect(desk.locator("#mirror-placeholder")).to_be_hidden()

    # The admin's replay of the session says where the page could not be recorded.
    admin = new_context()
    login_context(admin, User.objects.create_superuser("root", "root@example.com", "pw"), live_url)
    review = admin.new_page()
    review.goto(f"/admin/cobrowse/session/{session.pk}/replay/")
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    expect(review.locator("#replay-timeline")).to_contain_text("was on a page too large to record")
