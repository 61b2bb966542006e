"""The admin's Replay page in real Chromium: a recorded session plays back from its journal with
the chat alongside, and its journal downloads as JSON."""

from __future__ import annotations

import json
import re
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from cobrowse.models import Session
from tests.browser.conftest import ask_for_help, desk_for, login_context


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded by a data migration: the flush after an earlier browser test
    removed them and the serialized copy of the database is not restored under Playwright's sync
    API (see test_widget.py), so they are seeded again."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def recorded_session(new_context: Any, live_url: str) -> tuple[Session, str]:
    """A customer asks for help on a product page, an operator joins from the desk, they chat
    and the customer moves on to the cart. Returns the session and the product's name."""
    customer = new_context().new_page()
    customer.goto("/shop/")
    customer.locator("a[href*='/shop/products/']").first.click()
    product = str(customer.text_content("h1"))
    session = ask_for_help(customer)

    desk = desk_for(new_context, live_url, session)
    expect(desk.frame_locator("#mirror iframe").locator("h1")).to_have_text(product)
    desk.fill("#chat-input", "Hello, I can see the lamp.")
    desk.click("#chat-send")
    expect(customer.locator("#cobrowse-help .cb-launcher__badge")).to_contain_text("1")
    customer.click("#cobrowse-help")  # the panel, collapsed since the operator joined
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("I can see the lamp")
    customer.fill("#cobrowse-chat-input", "Is it dimmable?")
    customer.press("#cobrowse-chat-input", "Enter")
    expect(desk.locator("#chat-log")).to_contain_text("Is it dimmable?")
    customer.click("#cobrowse-panel .cb-panel__hide")
    customer.click("#add-to-cart")
    expect(desk.frame_locator("#mirror iframe").locator("h1")).to_have_text("Your cart")
    desk.click("#end-session")
    expect(desk.locator("#ended-banner")).to_be_visible()
    return session, product


def admin_page(new_context: Any, live_url: str) -> Page:
    context = new_context()
    login_context(
        context, User.objects.create_superuser("root", "root@example.com", "pw"), live_url
    )
    return context.new_page()


def test_replay_plays_the_session_with_the_chat_alongside(
    new_context: Any, live_url: str, shot: Any
) -> None:
    session, product = recorded_session(new_context, live_url)
    review = admin_page(new_context, live_url)
    review.goto("/admin/cobrowse/session/")
    review.locator(f"a.replay-link[href*='{session.pk}']").click()
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    timeline = review.locator("#replay-timeline")
    expect(timeline).to_contain_text("Hello, I can see the lamp.")
    expect(timeline).to_contain_text("Is it dimmable?")
    expect(timeline).to_contain_text("ended the session")
    replay = review.frame_locator("#replay-root iframe")
    expect(replay.locator("h1")).to_have_text(product)
    first_chat = timeline.locator("li.kind-chat").first
    expect(first_chat).not_to_have_class(re.compile(r"\bis-past\b"))
    shot(review, "1-ready")

    review.select_option("#replay-speed", "4")
    review.click("#replay-play")
    expect(review.locator("#replay-play")).to_have_text("Pause")
    expect(first_chat).to_have_class(re.compile(r"\bis-past\b"), timeout=20_000)
    expect(replay.locator("h1")).to_have_text("Your cart", timeout=20_000)
    shot(review, "2-played-to-the-cart")
    expect(review.locator("#replay-play")).to_have_text("Play again", timeout=20_000)

    # Jumping back through the timeline replays the page as it was then.
    timeline.locator("li.kind-chat").first.click()
    expect(replay.locator("h1")).to_have_text(product)
    shot(review, "3-jumped-back")


def test_journal_downloads_as_json_from_the_session_page(new_context: Any, live_url: str) -> None:
    session, _ = recorded_session(new_context, live_url)
    review = admin_page(new_context, live_url)
    review.goto(f"/admin/cobrowse/session/{session.pk}/change/")
    with review.expect_download() as info:
        review.click("#export-link")
    body = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    session.refresh_from_db()
    assert [op["seq"] for op in body["operations"]] == list(range(1, session.head_seq + 1))
    assert body["session"]["head_hash"] == session.head_hash == body["operations"][-1]["hash"]
    chats = [op["payload"]["text"] for op in body["operations"] if op["kind"] == "chat"]
    assert chats == ["Hello, I can see the lamp.", "Is it dimmable?"]
