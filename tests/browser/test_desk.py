"""The operator's dashboard in real Chromium: the queue follows help requests and claims live,
join by code, and who is refused."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from cobrowse.models import Session
from cobrowse.protocol import CloseCode
from tests.browser.conftest import login_context
from tests.conftest import make_operator

# What the widget does on "Get help": the desk's embed API, from the merchant's page.
ASK_FOR_HELP = """async (desk) => {
  const response = await fetch(`${desk}/api/embed/v1/sessions/`, {
    method: "POST",
    credentials: "omit",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({site: "pk_demo_shop"}),
  });
  return response.json();
}"""


def ask_for_help(new_context: Any, live_url: str) -> dict[str, Any]:
    """A customer opens a help request from the shop (the HTTP API the widget calls)."""
    page = new_context().new_page()
    page.goto("/shop/")
    body: dict[str, Any] = page.evaluate(ASK_FOR_HELP, live_url)
    return body


def operator_page(new_context: Any, live_url: str, username: str | None = None) -> Any:
    context = new_context()
    login_context(context, make_operator(username), live_url)
    page = context.new_page()
    page.goto("/helpdesk/")
    expect(page.locator("#queue-status")).to_have_text("Live")
    return page


def test_a_help_request_appears_in_the_queue_without_reload(
    new_context: Any, live_url: str, shot: Any
) -> None:
    desk = operator_page(new_context, live_url)
    expect(desk.locator("#queue-empty")).to_be_visible()
    shot(desk, "1-empty-queue")
    request = ask_for_help(new_context, live_url)
    entry = desk.locator(f'#queue [data-session="{request["id"]}"]')
    expect(entry).to_be_visible()
    expect(entry).to_contain_text(request["code"])
    expect(entry).to_contain_text("Demo shop")
    expect(desk.locator("#queue-count")).to_have_text("1")
    expect(desk.locator("#queue-empty")).to_be_hidden()
    shot(desk, "2-request-arrived")


def test_a_session_claimed_by_another_operator_leaves_every_queue(
    new_context: Any, live_url: str, shot: Any
) -> None:
    first = operator_page(new_context, live_url, "anna")
    second = operator_page(new_context, live_url, "ben")
    request = ask_for_help(new_context, live_url)
    for desk in (first, second):
        expect(desk.locator(f'#queue [data-session="{request["id"]}"]')).to_be_visible()
    second.locator(f'#queue [data-session="{request["id"]}"] a').click()
    expect(second).to_have_url(re.compile(f"/helpdesk/sessions/{request['id']}/$"))
    expect(second.locator("#connection")).to_have_text("Connected")
    # The claim rings every dashboard: it leaves the queue and shows as in progress.
    expect(first.locator(f'#queue [data-session="{request["id"]}"]')).to_have_count(0)
    in_progress = first.locator(f'#active [data-session="{request["id"]}"]')
    expect(in_progress).to_contain_text("with Olga")
    expect(in_progress).to_contain_text("Observe")
    shot(first, "claimed-elsewhere")
    assert Session.objects.get(pk=request["id"]).status == "active"


def test_a_request_the_customer_ends_leaves_the_queue(new_context: Any, live_url: str) -> None:
    desk = operator_page(new_context, live_url)
    customer = new_context().new_page()
    customer.goto("/shop/")
    request = customer.evaluate(ASK_FOR_HELP, live_url)
    entry = desk.locator(f'#queue [data-session="{request["id"]}"]')
    expect(entry).to_be_visible()
    # The customer ends the request before anyone joined (the protocol's own `session` op).
    code = customer.evaluate(
        """(url) => new Promise((resolve) => {
          const ws = new WebSocket(url);
          ws.onmessage = (event) => {
            if (JSON.parse(event.data).type !== "welcome") return;
            ws.send(JSON.stringify({type: "op", client_op_id: "end-1", kind: "session",
                                    payload: {action: "end"}}));
          };
          ws.onclose = (event) => resolve(event.code);
        })""",
        f"{request['ws_url']}?token={request['token']}",
    )
    assert code == CloseCode.ENDED
    expect(entry).to_have_count(0)


def test_join_by_code_opens_the_customers_session(
    new_context: Any, live_url: str, shot: Any
) -> None:
    desk = operator_page(new_context, live_url)
    request = ask_for_help(new_context, live_url)
    code = request["code"]
    desk.fill("#join-code", f"{code[:3]} {code[3:]}")
    shot(desk, "1-code-typed")
    desk.click("#join-submit")
    expect(desk).to_have_url(re.compile(f"/helpdesk/sessions/{request['id']}/$"))
    expect(desk.locator("#session-code")).to_have_text(code)
    expect(desk.locator("#connection")).to_have_text("Connected")
    expect(desk.locator("#participants [data-role='operator']")).to_contain_text("(you)")
    shot(desk, "2-session")


def test_an_unknown_code_is_explained(new_context: Any, live_url: str, shot: Any) -> None:
    desk = operator_page(new_context, live_url)
    desk.fill("#join-code", "000000")
    desk.click("#join-submit")
    expect(desk.locator("#join-error")).to_contain_text("No open session has the code 000000")
    shot(desk, "unknown-code")


def test_signing_in_through_the_form_leads_to_the_queue(new_context: Any, shot: Any) -> None:
    make_operator("greta")
    page = new_context().new_page()
    page.goto("/helpdesk/")
    expect(page).to_have_url(re.compile("/helpdesk/login/"))
    shot(page, "login")
    page.fill("#id_username", "greta")
    page.fill("#id_password", "pw")
    page.click("#sign-in")
    expect(page.locator("#queue-title")).to_have_text("Waiting customers")
    expect(page.locator("#queue-status")).to_have_text("Live")


def test_a_signed_in_non_operator_is_refused(new_context: Any, live_url: str, shot: Any) -> None:
    context = new_context()
    login_context(context, make_operator("clerk", permission=False), live_url)
    page = context.new_page()
    response = page.goto("/helpdesk/")
    assert response is not None and response.status == 403
    shot(page, "refused")
    # The queue socket closes at once with FORBIDDEN, which a page can read.
    code = page.evaluate(
        """() => new Promise((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/ws/helpdesk/queue/`);
          ws.onmessage = () => resolve("got a frame");
          ws.onclose = (event) => resolve(event.code);
        })"""
    )
    assert code == CloseCode.FORBIDDEN
