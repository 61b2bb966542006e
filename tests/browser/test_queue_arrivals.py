"""A new customer in the queue is announced: the count in the tab's title, a sound only when the
operator turned it on (off by default), a browser notification when they allowed them; the
entry says who (or "anonymous"), on what device, and that the page is not known yet."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import login_context, wait_until
from tests.browser.test_desk import ask_for_help
from tests.conftest import make_operator


def test_a_new_arrival_is_announced_as_the_operator_chose(
    new_context: Any, live_url: str, shot: Any
) -> None:
    context = new_context()
    context.grant_permissions(["notifications"], origin=live_url)
    login_context(context, make_operator(), live_url)
    desk = context.new_page()
    desk.goto("/helpdesk/")
    expect(desk.locator("#queue-status")).to_have_text("Live")
    sound = desk.locator("#queue-sound")
    expect(sound).not_to_be_checked()  # off by default
    expect(desk.locator("#queue-notify-state")).to_have_text("Notifications on.")

    first = ask_for_help(new_context, live_url)
    entry = desk.locator(f'#queue [data-session="{first["id"]}"]')
    expect(entry).to_contain_text("anonymous")
    expect(entry).to_contain_text("not verified")
    expect(entry).to_contain_text("Desktop Chrome")  # Playwright's Chromium
    expect(desk).to_have_title("(1) Queue · Help desk")
    announced = wait_until(
        desk, "() => window.cobrowseQueue.announced.length === 1 && window.cobrowseQueue.announced"
    )
    assert announced == [{"session": first["id"], "sound": False, "notified": True}]

    sound.check()
    second = ask_for_help(new_context, live_url)
    expect(desk.locator(f'#queue [data-session="{second["id"]}"]')).to_be_visible()
    expect(desk).to_have_title("(2) Queue · Help desk")
    announced = wait_until(
        desk, "() => window.cobrowseQueue.announced.length === 2 && window.cobrowseQueue.announced"
    )
    assert announced[1] == {"session": second["id"], "sound": True, "notified": True}
    # Oldest first.
    ids = desk.locator("#queue [data-session]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.session)"
    )
    assert ids == [first["id"], second["id"]]
    shot(desk, "queue")

    desk.reload()  # the choice stays in this browser; the entries already there are not new
    expect(desk.locator("#queue-sound")).to_be_checked()
    expect(desk.locator("#queue-status")).to_have_text("Live")
    desk.wait_for_timeout(500)
    assert desk.evaluate("window.cobrowseQueue.announced") == []
