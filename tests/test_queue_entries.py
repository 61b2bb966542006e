"""What an operator's queue says of each waiting customer: who (a signed name, else
"anonymous"), where (the title and path of their latest page), on what device, oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cobrowse import lifecycle, sequencer
from cobrowse.models import Participant, Role, Session
from cobrowse.sequencer import Submission
from helpdesk.selectors import queue_sessions
from tests.conftest import demo_site, make_operator

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def navigate(session: Session, customer: Participant, n: int, url: str, title: str) -> None:
    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            Submission(
                customer.pk, "customer", f"c{n}", "navigate", None, {"url": url, "title": title}
            )
        ],
    )


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (IPHONE, "iPhone Safari"),
        (DESKTOP_CHROME, "Desktop Chrome"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            "Android Chrome",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Desktop Firefox",
        ),
        ("", ""),
    ],
)
def test_the_device_is_named_from_the_user_agent(user_agent: str, device: str) -> None:
    assert lifecycle.device_label(user_agent) == device


def test_a_help_request_remembers_the_customers_device(client: Client, demo_sites: object) -> None:
    response = client.post(
        "/api/sessions/", {"site": "shop"}, content_type="application/json", HTTP_USER_AGENT=IPHONE
    )
    assert response.status_code == 201, response.content
    assert Session.objects.get(pk=response.json()["id"]).device == "iPhone Safari"


def test_the_queue_names_the_customer_their_page_and_device_oldest_first() -> None:
    site = demo_site("shop")
    older = lifecycle.session_open(site=site, customer_session_key="a", user_agent=IPHONE)
    Session.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    newer = lifecycle.session_open(
        site=site,
        customer_session_key="b",
        identity_verified=True,
        customer_id="c-42",
        customer_name="Jane Doe",
        user_agent=DESKTOP_CHROME,
    )
    customer = Participant.objects.create(
        session=older, role=Role.CUSTOMER, display_name="Customer"
    )
    navigate(older, customer, 1, "https://shop.test/cart", "Your cart")
    navigate(older, customer, 2, "https://shop.test/checkout?step=2", "Checkout")

    waiting = queue_sessions(user=make_operator())["waiting"]

    assert [entry["id"] for entry in waiting] == [str(older.pk), str(newer.pk)]
    first, second = waiting
    assert first["customer"]["name"] == "anonymous" and not first["customer"]["verified"]
    assert first["page"] == {"title": "Checkout", "path": "/checkout?step=2"}
    assert first["device"] == "iPhone Safari"
    assert second["customer"]["name"] == "Jane Doe" and second["customer"]["verified"]
    assert second["page"] == {"title": "", "path": ""}
    assert second["device"] == "Desktop Chrome"


def test_the_dashboard_shows_them_too(client: Client) -> None:
    session = lifecycle.session_open(
        site=demo_site("shop"), customer_session_key="a", user_agent=IPHONE
    )
    customer = Participant.objects.create(
        session=session, role=Role.CUSTOMER, display_name="Customer"
    )
    navigate(session, customer, 1, "https://shop.test/cart", "Your cart")
    client.force_login(make_operator())
    html = client.get("/helpdesk/").content.decode()
    assert (
        "anonymous" in html and "Your cart" in html and "/cart" in html and "iPhone Safari" in html
    )
