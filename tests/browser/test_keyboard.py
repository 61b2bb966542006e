"""The customer's and the operator's flows with the keyboard alone (Tab, Enter, Space, Escape),
and where focus is at each step: in the page (`document.activeElement`) and in the widget's
shadow root (its `activeElement`). What the desk says on its own is said through live regions.

The other side of each flow is driven by the mouse: only the person under test uses the keys.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from cobrowse.models import Session
from tests.browser.conftest import WIDGET, wait_until
from tests.browser.test_accessibility import (
    _catalogue,  # noqa: F401  (the shop's products, seeded again for every test)
    ask_for_help,
    customer_on_a_product,
    join,
    operator_context,
)
from tests.browser.test_replay import admin_page, recorded_session

# The focused element's id, looking into the widget's shadow root and the desk's mirror.
FOCUSED = """() => {
  let active = document.activeElement;
  while (active?.shadowRoot?.activeElement || active?.contentDocument?.activeElement) {
    active = active.shadowRoot?.activeElement ?? active.contentDocument.activeElement;
  }
  return active?.id || active?.tagName.toLowerCase() || null;
}"""
# Whether `text` is in one of the page's live regions (a screen reader says it on its own).
ANNOUNCED = """(text) => [...document.querySelectorAll(
    '[aria-live]:not([aria-live="off"]), [role="status"], [role="log"], [role="alert"]'
  )].some((region) => region.textContent.includes(text))"""

# Whether focus is on the queue's entry of session `id`.
ON_THE_QUEUE_ITEM = "(id) => document.activeElement?.closest('.queue-item')?.dataset.session === id"
# Whether focus is on the replay's timeline entry that says `text`.
ON_THE_TIMELINE_ITEM = """(text) => {
  const item = document.activeElement?.closest("#replay-timeline li");
  return Boolean(item && item.textContent.includes(text));
}"""


def focused(page: Page) -> str | None:
    value = page.evaluate(FOCUSED)
    return None if value is None else str(value)


def wait_for_focus(page: Page, html_id: str) -> None:
    wait_until(page, f"() => ({FOCUSED})() === {html_id!r}")


def tab_to(page: Page, html_id: str, *, key: str = "Tab", limit: int = 80) -> None:
    """Press Tab (or `key`) until the element `html_id` has focus."""
    for _ in range(limit):
        if focused(page) == html_id:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached #{html_id}; focus is on {focused(page)}")


def tab_until(page: Page, predicate: str, arg: Any, *, key: str = "Tab", limit: int = 80) -> None:
    """Press Tab (or `key`) until `predicate(arg)` holds in the page."""
    for _ in range(limit):
        if page.evaluate(predicate, arg):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never got there; focus is on {focused(page)}")


def announced(page: Page, text: str) -> None:
    wait_until(page, ANNOUNCED, text)


def panel(customer: Page) -> Any:
    return expect(customer.locator("#cobrowse-panel"))


def helping(new_context: Any, live_url: str) -> tuple[Page, Page]:
    customer = customer_on_a_product(new_context)
    session = ask_for_help(customer)
    desk = operator_context(new_context, live_url).new_page()
    join(desk, session, customer)
    return customer, desk


def test_a_control_request_moves_focus_to_allow_and_escape_denies_it(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer, desk = helping(new_context, live_url)
    # The customer is on the page, on one of its links (not in the widget).
    tab_until(customer, "() => document.activeElement?.tagName === 'A'", None)
    before = customer.evaluate("document.activeElement.outerHTML")

    desk.click("#request-control")
    panel(customer).to_have_attribute("data-state", "request")
    wait_for_focus(customer, "cobrowse-allow")
    assert customer.evaluate(f"{WIDGET}.activeElement.id") == "cobrowse-allow"
    shot(customer, "focus-on-allow")

    customer.keyboard.press("Escape")
    expect(desk.locator("#chat-log")).to_contain_text("Customer denied the request for control")
    expect(desk.locator("#control-state")).to_have_text("Not granted")
    panel(customer).to_have_attribute("data-state", "joined")
    # Back where the customer was.
    assert customer.evaluate("document.activeElement.outerHTML") == before


def test_a_key_held_down_when_the_request_arrives_does_not_press_allow(
    new_context: Any, live_url: str
) -> None:
    customer, desk = helping(new_context, live_url)
    customer.keyboard.down("Enter")  # on the page, where it does nothing
    desk.click("#request-control")
    wait_for_focus(customer, "cobrowse-allow")
    customer.keyboard.down("Enter")  # the same key, still down: a repeat
    customer.keyboard.down("Enter")
    customer.keyboard.up("Enter")
    # Allow answers at once in the panel (the prompt goes before the server has the answer).
    assert customer.get_attribute("#cobrowse-panel", "data-state") == "request"
    assert focused(customer) == "cobrowse-allow"
    customer.keyboard.press("Enter")  # a fresh press answers
    expect(desk.locator("#control-state")).to_have_text("Granted to you")


def test_a_control_request_leaves_focus_in_the_field_the_customer_is_typing_in(
    new_context: Any, live_url: str
) -> None:
    """Taking the caret mid-word would be an unexpected change of context, and the next Space
    would press Allow unread: the request is announced instead, and Allow is a Tab away."""
    customer, desk = helping(new_context, live_url)
    customer.click("#cobrowse-help")  # the panel is collapsed since the operator joined
    expect(customer.locator("#cobrowse-chat-input")).to_be_visible()
    customer.locator("#cobrowse-chat-input").focus()
    customer.keyboard.type("Where is the")
    desk.click("#request-control")
    panel(customer).to_have_attribute("data-state", "request")
    # Said by the panel's status line, a live region.
    expect(customer.locator("#cobrowse-status")).to_contain_text("asks to control this page")
    expect(customer.locator("#cobrowse-status")).to_have_attribute("role", "status")
    customer.keyboard.type(" lamp?")
    assert focused(customer) == "cobrowse-chat-input"
    assert customer.locator("#cobrowse-chat-input").input_value() == "Where is the lamp?"
    panel(customer).to_have_attribute("data-state", "request")
    # Deny is just before the chat, Allow before it.
    customer.keyboard.press("Shift+Tab")
    assert focused(customer) == "cobrowse-deny"
    customer.keyboard.press("Shift+Tab")
    assert focused(customer) == "cobrowse-allow"


def test_the_customer_gets_help_with_the_keyboard_alone(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer = customer_on_a_product(new_context)
    tab_to(customer, "cobrowse-help")
    customer.keyboard.press("Enter")
    expect(customer.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    wait_for_focus(customer, "cobrowse-panel-title")
    session = Session.objects.get(code=customer.text_content("#cobrowse-code"))
    desk = operator_context(new_context, live_url).new_page()
    join(desk, session, customer)
    # The operator is here: the panel steps back to its handle, and focus goes with it.
    wait_for_focus(customer, "cobrowse-help")
    customer.keyboard.press("Enter")
    wait_for_focus(customer, "cobrowse-panel-title")

    tab_to(customer, "cobrowse-chat-input")
    customer.keyboard.type("Is it dimmable?")
    customer.keyboard.press("Enter")
    expect(desk.locator("#chat-log")).to_contain_text("Is it dimmable?")
    customer.keyboard.press("Tab")  # on to Send
    assert focused(customer) != "cobrowse-chat-input"

    desk.click("#request-control")
    wait_for_focus(customer, "cobrowse-allow")
    customer.keyboard.press("Space")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    # What comes next: taking control back.
    wait_for_focus(customer, "cobrowse-revoke")
    shot(customer, "focus-on-take-back")
    customer.keyboard.press("Enter")
    expect(desk.locator("#control-state")).to_have_text("Not granted")
    panel(customer).to_have_attribute("data-state", "joined")
    # The button went away with control: focus stays in the panel, on its title.
    wait_for_focus(customer, "cobrowse-panel-title")

    # Asked again; this time control is taken back with the banner's button.
    desk.click("#request-control")
    wait_for_focus(customer, "cobrowse-allow")
    customer.keyboard.press("Enter")
    wait_for_focus(customer, "cobrowse-revoke")
    tab_to(customer, "cobrowse-stop-control")
    customer.keyboard.press("Enter")
    expect(desk.locator("#control-state")).to_have_text("Not granted")
    wait_for_focus(customer, "cobrowse-panel-title")

    tab_to(customer, "cobrowse-end")
    customer.keyboard.press("Enter")
    panel(customer).to_have_attribute("data-state", "ended")
    expect(desk.locator("#ended-banner")).to_be_visible()
    wait_for_focus(customer, "cobrowse-close")
    customer.keyboard.press("Enter")
    expect(customer.locator("#cobrowse-panel")).to_be_hidden()
    wait_for_focus(customer, "cobrowse-help")
    expect(customer.locator("#cobrowse-help")).to_have_text("Get help")


def test_the_operator_helps_with_the_keyboard_alone(
    new_context: Any, live_url: str, shot: Any
) -> None:
    customer = customer_on_a_product(new_context)
    session = ask_for_help(customer)
    desk = operator_context(new_context, live_url).new_page()
    desk.goto("/helpdesk/")
    expect(desk.locator("#queue-status")).to_have_text("Live")
    item = desk.locator(f".queue-item[data-session='{session.pk}'] a")
    expect(item).to_be_visible()
    tab_until(desk, ON_THE_QUEUE_ITEM, str(session.pk))
    desk.keyboard.press("Enter")
    desk.wait_for_url(f"**/helpdesk/sessions/{session.pk}/")
    expect(desk.frame_locator("#mirror iframe").locator("#add-to-cart")).to_be_visible()
    panel(customer).to_have_attribute("data-state", "joined")
    announced(desk, "Connected")

    tab_to(desk, "tool-highlight")
    desk.keyboard.press("Space")
    expect(desk.locator("#tool-highlight")).to_have_attribute("aria-pressed", "true")
    # On into the mirror, to the customer's button; Enter outlines it on their screen.
    tab_to(desk, "add-to-cart")
    desk.keyboard.press("Enter")
    expect(customer.locator("#cobrowse-highlight")).to_be_visible()
    expect(desk.locator("#tool-highlight")).to_have_attribute("aria-pressed", "false")
    expect(customer).to_have_url(re.compile("/shop/products/"))  # highlighted, not clicked

    tab_to(desk, "request-control")
    desk.keyboard.press("Enter")
    # The desk took the key (its button waits for the answer) before the customer hears of it.
    expect(desk.locator("#request-control")).to_be_disabled()
    panel(customer).to_have_attribute("data-state", "request")
    announced(desk, "asked for control")
    customer.click("#cobrowse-allow")
    announced(desk, "Customer granted control to you")
    expect(desk.locator("#tool-control")).to_have_attribute("aria-pressed", "true")

    tab_to(desk, "chat-input")
    desk.keyboard.type("I will add the lamp to your cart.")
    desk.keyboard.press("Enter")
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("add the lamp")

    customer.click("#cobrowse-revoke")
    announced(desk, "Customer took control back")
    tab_to(desk, "end-session", key="Shift+Tab")
    desk.keyboard.press("Enter")
    expect(desk.locator("#ended-banner")).to_be_visible()
    panel(customer).to_have_attribute("data-state", "ended")
    announced(desk, "ended the session")
    shot(desk, "ended-by-keyboard")


def test_the_desk_announces_its_status_changes_in_live_regions(
    new_context: Any, live_url: str
) -> None:
    customer, desk = helping(new_context, live_url)
    announced(desk, "Connected")
    desk.click("#request-control")
    customer.click("#cobrowse-deny")
    announced(desk, "Customer denied the request for control")
    desk.click("#request-control")
    customer.click("#cobrowse-allow")
    announced(desk, "Customer granted control to you")
    customer.click("#cobrowse-revoke")
    announced(desk, "Customer took control back")
    # The customer gone and back are toasts, and toasts are said too.
    desk.frame_locator("#mirror iframe").locator("#add-to-cart").click(force=True)
    announced(desk, "request control first")


def test_the_admin_jumps_through_the_replay_with_the_keyboard(
    new_context: Any, live_url: str
) -> None:
    session, product = recorded_session(new_context, live_url)
    review = admin_page(new_context, live_url)
    review.goto(f"/admin/cobrowse/session/{session.pk}/replay/")
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    replay = review.frame_locator("#replay-root iframe")
    expect(replay.locator("h1")).to_have_text(product)
    tab_until(review, ON_THE_TIMELINE_ITEM, "ended the session")
    review.keyboard.press("Enter")
    expect(replay.locator("h1")).to_have_text("Your cart")
    tab_until(review, ON_THE_TIMELINE_ITEM, "I can see the lamp", key="Shift+Tab")
    review.keyboard.press("Space")
    expect(replay.locator("h1")).to_have_text(product)
