"""axe-core on the customer's widget, the operator's desk and the admin's replay, in the states
people meet them in: nothing serious or critical (tests/browser/axe.py runs it)."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from cobrowse.models import Session
from tests.browser.axe import assert_accessible
from tests.browser.conftest import login_context
from tests.browser.test_replay import admin_page, recorded_session
from tests.conftest import make_operator

# The widget only, its shadow root included: the page around it is the merchant's.
WIDGET_ONLY = {"include": ["[data-cobrowse-widget]"]}


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def customer_on_a_product(new_context: Any) -> Page:
    customer: Page = new_context().new_page()
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.wait_for_url("**/shop/products/**")
    expect(customer.locator("#cobrowse-help")).to_be_visible()
    return customer


def ask_for_help(customer: Page) -> Session:
    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    return Session.objects.get(code=customer.text_content("#cobrowse-code"))


def operator_context(new_context: Any, live_url: str) -> Any:
    context = new_context()
    login_context(context, make_operator(), live_url)
    return context


def join(desk: Page, session: Session, customer: Page) -> None:
    desk.goto(f"/helpdesk/sessions/{session.pk}/")
    expect(desk.frame_locator("#mirror iframe").locator("#add-to-cart")).to_be_visible()
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")


def state_of(customer: Page) -> Any:
    return expect(customer.locator("#cobrowse-panel"))


def test_the_widget_has_nothing_serious_for_axe_in_any_state(
    new_context: Any, live_url: str
) -> None:
    customer = customer_on_a_product(new_context)
    assert_accessible(customer, "the idle Get help button", **WIDGET_ONLY)
    session = ask_for_help(customer)
    assert_accessible(customer, "the panel waiting with its code", **WIDGET_ONLY)

    desk = operator_context(new_context, live_url).new_page()
    join(desk, session, customer)
    assert_accessible(customer, "the panel with an operator joined", **WIDGET_ONLY)

    mirror = desk.frame_locator("#mirror iframe")
    desk.click("#tool-highlight")
    mirror.locator("#add-to-cart").click(force=True)
    expect(customer.locator("#cobrowse-highlight")).to_be_visible()
    box = mirror.locator("h1").bounding_box()
    assert box is not None
    desk.mouse.move(box["x"] + 5, box["y"] + 5)
    desk.mouse.move(box["x"] + 15, box["y"] + 8)
    expect(customer.locator("#cobrowse-operator-cursor")).to_be_visible()
    assert_accessible(customer, "the operator's highlight and pointer", **WIDGET_ONLY)

    desk.click("#request-control")
    state_of(customer).to_have_attribute("data-state", "request")
    assert_accessible(customer, "the control request prompt", **WIDGET_ONLY)
    customer.click("#cobrowse-allow")
    state_of(customer).to_have_attribute("data-state", "control")
    expect(customer.locator("#cobrowse-control-banner")).to_be_visible()
    assert_accessible(customer, "control granted, with the banner", **WIDGET_ONLY)

    desk.fill("#chat-input", "Hello, I can see the lamp.")
    desk.click("#chat-send")
    customer.fill("#cobrowse-chat-input", "Is it dimmable?")
    customer.press("#cobrowse-chat-input", "Enter")
    expect(desk.locator("#chat-log")).to_contain_text("Is it dimmable?")
    expect(customer.locator("#cobrowse-chat-log li")).to_have_count(2)
    assert_accessible(customer, "the chat with messages", **WIDGET_ONLY)

    customer.click("#cobrowse-end")
    state_of(customer).to_have_attribute("data-state", "ended")
    assert_accessible(customer, "the ended session", **WIDGET_ONLY)


def test_the_desk_has_nothing_serious_for_axe_from_sign_in_to_the_end(
    new_context: Any, live_url: str
) -> None:
    sign_in = new_context().new_page()
    sign_in.goto("/helpdesk/login/")
    assert_accessible(sign_in, "the sign-in page")

    customer = customer_on_a_product(new_context)
    session = ask_for_help(customer)
    operator = operator_context(new_context, live_url)
    queue = operator.new_page()
    queue.goto("/helpdesk/")
    expect(queue.locator("#queue-status")).to_have_text("Live")
    expect(queue.locator(f".queue-item[data-session='{session.pk}']")).to_be_visible()
    assert_accessible(queue, "the queue with a waiting customer")

    # The desk's iframe shows the customer's page (the merchant's markup, not ours): axe.py
    # leaves iframes' insides alone and checks the iframe element itself.
    desk = operator.new_page()
    join(desk, session, customer)
    assert_accessible(desk, "the session page with the mirror")
    desk.frame_locator("#mirror iframe").locator("#add-to-cart").click(force=True)
    expect(desk.locator(".toast")).to_contain_text("request control first")
    assert_accessible(desk, "the session page with a toast")

    desk.click("#request-control")
    expect(desk.locator("#control-state")).to_have_attribute("data-state", "requested")
    assert_accessible(desk, "control requested")
    customer.click("#cobrowse-allow")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    desk.fill("#chat-input", "Hello")
    desk.press("#chat-input", "Enter")
    expect(desk.locator("#chat-log")).to_contain_text("Hello")
    assert_accessible(desk, "control granted, with chat")

    desk.click("#end-session")
    expect(desk.locator("#ended-banner")).to_be_visible()
    assert_accessible(desk, "the ended session")


def test_the_admin_replay_has_nothing_serious_for_axe(new_context: Any, live_url: str) -> None:
    session, _ = recorded_session(new_context, live_url)
    review = admin_page(new_context, live_url)
    review.goto("/admin/cobrowse/session/")
    assert_accessible(review, "the admin's list of sessions")
    review.locator(f"a.replay-link[href*='{session.pk}']").click()
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    # The replayed page inside the iframe is the customer's (see the desk's test).
    assert_accessible(review, "the replay, ready")
    review.select_option("#replay-speed", "8")
    review.click("#replay-play")
    expect(review.locator("#replay-play")).to_have_text("Play again", timeout=20_000)
    assert_accessible(review, "the replay, played to the end")
