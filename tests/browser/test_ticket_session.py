"""The worked example of docs/integrations.md, its middle step in a browser: a ticket system
opens a session for a known customer through the REST API, and the customer's page on the
merchant's site joins it with the embed token it was handed, without asking for help again."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from playwright.sync_api import expect

from cobrowse import api_tokens
from cobrowse.models import Participant, Role, Site


def test_the_customer_page_joins_the_session_a_ticket_system_opened_by_api(
    new_context: Any, live_url: str, merchant_url: str
) -> None:
    _, api_token = api_tokens.api_token_create(
        site=Site.objects.get(public_key="pk_demo_shop"), name="Tickets"
    )
    request = urllib.request.Request(
        f"{live_url}/api/v1/sessions",
        data=json.dumps({"customer": {"id": "crm-4711", "name": "Ada Lovelace"}}).encode(),
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        opened = json.loads(response.read())

    page = new_context(base_url=merchant_url).new_page()
    page.route("**/static/cobrowse/embed.js", lambda route: route.abort())  # no script tag
    page.goto("/shop/")
    page.evaluate(
        """async ([desk, session]) => {
          const { start } = await import(`${desk}/static/cobrowse/embed.mjs`);
          await start({ site: "pk_demo_shop", session });
        }""",
        [live_url, {"id": opened["id"], "token": opened["embed"]["token"]}],
    )
    # The widget takes part in that session (no "Get help" click, no second session)...
    expect(page.locator("#cobrowse-code")).to_have_text(opened["code"])
    deadline = time.monotonic() + 10
    customer = Participant.objects.filter(session_id=opened["id"], role=Role.CUSTOMER)
    while not customer.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert customer.exists(), "the customer's page did not join the session by its socket"
    assert Site.objects.get(public_key="pk_demo_shop").sessions.count() == 1
    # ...and a session id without its token is refused by start() at once.
    refused = page.evaluate(
        """async ([desk, id]) => {
          const { start } = await import(`${desk}/static/cobrowse/embed.mjs`);
          try { start({ site: "pk_demo_bank", session: { id } }); } catch (e) { return e.message; }
          return "";
        }""",
        [live_url, opened["id"]],
    )
    assert "`session` must be {id, token}" in refused
