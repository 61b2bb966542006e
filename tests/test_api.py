"""The customer's HTTP API: ask for help, find the session in progress."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from cobrowse.models import Session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_sites")]


def post(client: Client, body: object, **extra: Any) -> Any:
    return client.post(
        "/api/sessions/",
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        **extra,
    )


def test_help_request_opens_a_session_with_a_six_digit_code(client):
    response = post(client, {"site": "shop"})
    assert response.status_code == 201
    body = response.json()
    session = Session.objects.get(pk=body["id"])
    assert body["code"] == session.code and len(body["code"]) == 6 and body["code"].isdigit()
    assert body["ws_url"] == f"/ws/cobrowse/{session.pk}/" and body["status"] == "waiting"


def test_a_second_request_from_the_same_browser_returns_the_same_session(client):
    first = post(client, {"site": "shop"}).json()
    second = post(client, {"site": "shop"})
    assert second.status_code == 200 and second.json()["id"] == first["id"]
    assert client.get("/api/sessions/current/?site=shop").json()["id"] == first["id"]
    assert Session.objects.count() == 1


def test_another_browser_gets_another_session(client):
    first = post(client, {"site": "shop"}).json()
    assert post(Client(), {"site": "shop"}).json()["id"] != first["id"]


def test_current_without_a_session_is_404(client):
    assert client.get("/api/sessions/current/?site=bank").status_code == 404


@pytest.mark.parametrize("body", ["{nope", {"site": "casino"}, {}, [1]])
def test_bad_body_is_400_with_a_message(client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_csrf_is_enforced():
    client = Client(enforce_csrf_checks=True)
    assert post(client, {"site": "shop"}).status_code == 403
    client.get("/helpdesk/login/")  # any page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert post(client, {"site": "shop"}, HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.django_db(transaction=True)
async def test_a_new_help_request_rings_the_help_desk():
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from cobrowse.lifecycle import SESSIONS_GROUP

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(SESSIONS_GROUP, channel)
    response = await sync_to_async(post)(Client(), {"site": "bank"})
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message == {
        "type": "sessions.changed",
        "session": response.json()["id"],
        "status": "waiting",
    }
