"""The pictures of the browser guide (docs/browser.md), taken from the real thing: the desk
helping a customer, the customer's widget collapsed to its handle and opened on a desktop and on
a 375 px wide phone, and the admin's replay of the session.

    DOCS_PICTURES=1 .venv/bin/python -m pytest -m browser tests/browser/test_guide_pictures.py

writes them into docs/img/; without DOCS_PICTURES they go to artifacts/screenshots/ as every
browser test's do, and the test only checks what the pictures show.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_panel import PHONE, _catalogue, helping
from tests.browser.test_replay import admin_page

__all__ = ["_catalogue"]  # the shop's products, seeded again for this module's tests

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def picture(shot: Any, page: Page, name: str) -> None:
    """Into docs/img/ with DOCS_PICTURES (in 256 colours, as the guide's other pictures: a
    fraction of the bytes), else into the test's artefacts."""
    if not os.environ.get("DOCS_PICTURES"):
        shot(page, name)
        return
    from PIL import Image  # Pillow comes with matplotlib (the bench's plots)

    image = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
    image.quantize(256).save(DOCS_IMG / f"{name}.png", optimize=True)


def test_pictures_of_the_browser_guide(new_context: Any, live_url: str, shot: Any) -> None:
    customer, desk = helping(new_context, live_url)
    desk.set_viewport_size({"width": 1440, "height": 900})
    session_url = desk.url

    # The operator greets the customer: the collapsed panel's handle counts the message.
    desk.fill("#chat-input", "Hello, I can see the lamp. Shall I show you the basket button?")
    desk.click("#chat-send")
    expect(customer.locator("#cobrowse-help .cb-launcher__badge")).to_contain_text("1")
    customer.mouse.move(420, 380)
    customer.mouse.move(520, 420, steps=6)
    expect(desk.locator("#mirror .replayer-mouse")).to_be_visible()
    expect(desk.locator("#customer-panel")).to_be_visible()
    picture(shot, customer, "widget-handle")

    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("I can see the lamp")
    customer.fill("#cobrowse-chat-input", "Yes please, where is it?")
    customer.press("#cobrowse-chat-input", "Enter")
    expect(desk.locator("#chat-log")).to_contain_text("where is it?")
    picture(shot, customer, "widget-panel")
    expect(desk.locator("#customer-panel")).to_be_visible()
    picture(shot, desk, "desk-session")

    # The same on a phone.
    phone, _ = helping(new_context, live_url, PHONE, operator="pia")
    expect(phone.locator("#cobrowse-panel")).to_be_hidden()
    picture(shot, phone, "widget-phone-handle")
    phone.click("#cobrowse-help")
    expect(phone.locator("#cobrowse-panel")).to_be_visible()
    picture(shot, phone, "widget-phone-panel")

    # The session ends; the admin plays it back.
    desk.click("#end-session")
    expect(desk.locator("#ended-banner")).to_be_visible()
    review = admin_page(new_context, live_url)
    review.set_viewport_size({"width": 1440, "height": 900})
    review.goto("/admin/cobrowse/session/")
    session_id = session_url.rstrip("/").rsplit("/", 1)[-1]
    review.locator(f"a.replay-link[href*='{session_id}']").click()
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    expect(review.locator("#replay-timeline")).to_contain_text("where is it?")
    picture(shot, review, "admin-replay")
