"""Several operators on one session, in real Chromium: an operator invites a colleague, who joins
from their queue with one click as an observer; the session is handed over to them (control,
granted to the first, does not follow; the customer's panel names who is helping now); a
supervisor watches from the live list, read-only."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission, User
from playwright.sync_api import Page, expect

from cobrowse.models import Operation, Session
from tests.browser.conftest import login_context, wait_until
from tests.conftest import make_operator


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def person(name: str, *, supervisor: bool = False) -> User:
    user = make_operator(name.lower())
    user.first_name = name
    user.save(update_fields=["first_name"])
    if supervisor:
        user.user_permissions.add(Permission.objects.get(codename="supervise_session"))
    return user


def signed_in_page(new_context: Any, live_url: str, user: User, path: str) -> Page:
    context = new_context()
    login_context(context, user, live_url)
    page: Page = context.new_page()
    page.goto(path)
    return page


def customer_asking_for_help(new_context: Any) -> tuple[Page, Session]:
    customer: Page = new_context().new_page()
    customer.goto("/shop/")
    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    session = Session.objects.exclude(status="ended").get(
        code=customer.text_content("#cobrowse-code")
    )
    return customer, session


def test_invite_hand_over_and_supervisor_watch(new_context: Any, live_url: str, shot: Any) -> None:
    customer, session = customer_asking_for_help(new_context)
    anna, ben, sue = person("Anna"), person("Ben"), person("Sue", supervisor=True)

    first = signed_in_page(new_context, live_url, anna, f"/helpdesk/sessions/{session.pk}/")
    expect(first.locator("#cobrowse")).to_have_attribute("data-role", "operator")
    expect(customer.locator("#cobrowse-panel")).to_have_attribute("data-state", "joined")
    expect(customer.locator("#cobrowse-status")).to_contain_text("Anna")

    # Anna invites Ben; the invitation shows in Ben's queue, and one click joins.
    queue = signed_in_page(new_context, live_url, ben, "/helpdesk/")
    expect(queue.locator("#queue-status")).to_have_text("Live")
    first.select_option("#invite-user", label="Ben")
    first.click("#invite-send")
    invitation = queue.locator(f'#invited [data-session="{session.pk}"]')
    expect(invitation).to_contain_text("Anna invites you")
    shot(queue, "1-invitation")
    invitation.locator("a").click()
    second = queue
    expect(second.locator("#cobrowse")).to_have_attribute("data-role", "observer")
    expect(second.locator("#observer-banner")).to_be_visible()

    # The customer lets Anna control the page (from the panel, collapsed to its handle since
    # Anna joined); then Anna hands the session to Ben.
    customer.click("#cobrowse-help")
    customer.click("#cobrowse-grant")
    expect(first.locator("#control-state")).to_have_text("Granted to you")
    handover = first.locator('#participants [data-role="observer"] [data-handover]')
    expect(handover).to_have_count(1)
    handover.click()

    expect(second.locator("#cobrowse")).to_have_attribute("data-role", "operator")
    expect(first.locator("#cobrowse")).to_have_attribute("data-role", "observer")
    expect(customer.locator("#cobrowse-status")).to_have_text("Ben from support is helping you now")
    # Control did not follow: the customer's grant to Anna was revoked; Ben must ask.
    expect(first.locator("#control-state")).to_have_text("Not granted")
    expect(second.locator("#control-state")).to_have_text("Not granted")
    expect(second.locator("#request-control")).to_be_visible()
    shot(customer, "2-customer-sees-ben")
    shot(second, "3-ben-operates")
    actions = list(
        Operation.objects.filter(session=session, kind__in=("control", "session"))
        .order_by("seq")
        .values_list("kind", "payload__action")
    )
    assert actions[-2:] == [("control", "revoke"), ("session", "handover")]

    # Sue supervises: the live list shows who is on the session, and she watches read-only.
    board = signed_in_page(new_context, live_url, sue, "/helpdesk/supervise/")
    row = board.locator(f'#supervised [data-session="{session.pk}"]')
    expect(row).to_contain_text("Ben (operator)")
    expect(row).to_contain_text("Anna (observer)")
    shot(board, "4-supervise")
    row.locator("a").click()
    expect(board.locator("#cobrowse")).to_have_attribute("data-role", "supervisor")
    expect(board.locator("#supervisor-banner")).to_be_visible()
    expect(board.locator("#chat-input")).to_be_disabled()
    expect(board.locator("#tools")).to_be_hidden()
    # Whatever the page would send, the server refuses.
    board.evaluate('() => window.cobrowseDesk.send("pointer", {x: 5, y: 5})')
    wait_until(
        board,
        '() => window.cobrowseDesk.errors.some((e) => e.code === "forbidden_kind")',
    )
    assert (
        not Operation.objects.filter(session=session, sender__role="supervisor")
        .exclude(payload__action="joined")
        .exists()
    )
    # The list follows: Sue shows on it too, watching.
    board.go_back()
    expect(board.locator(f'#supervised [data-session="{session.pk}"]')).to_contain_text(
        "Sue (supervisor)"
    )
