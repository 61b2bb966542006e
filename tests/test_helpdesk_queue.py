"""The live queue WebSocket: operators only, the whole queue on connect and on every doorbell."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from cobrowse import lifecycle
from cobrowse.models import Session, Status
from cobrowse.protocol import CloseCode
from tests.conftest import HOST, ORIGIN, make_operator, open_session, operator_cookie

pytestmark = pytest.mark.django_db(transaction=True)


class QueueClient:
    def __init__(self, cookie: str | None, *, origin: bytes = ORIGIN) -> None:
        from config.asgi import application

        headers = [(b"host", HOST), (b"origin", origin)]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        self.comm = WebsocketCommunicator(application, "/ws/helpdesk/queue/", headers=headers)

    async def connect(self) -> tuple[bool, Any]:
        connected, _ = await self.comm.connect(timeout=5)
        if not connected:
            return False, None
        first = await self.comm.receive_output(timeout=5)
        if first["type"] == "websocket.close":
            return False, first.get("code")
        return True, orjson.loads(first["text"])

    async def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = await self.comm.receive_json_from(timeout=5)
        return frame

    async def recv_until(self, predicate: Any) -> dict[str, Any]:
        """The first queue frame that satisfies `predicate`. Doorbells from elsewhere (another
        test's server on the same Redis) may ring first; each frame is a whole re-read."""
        while True:
            frame = await self.recv()
            if predicate(frame):
                return frame

    async def close(self) -> None:
        await self.comm.disconnect()


async def operator_queue() -> tuple[QueueClient, dict[str, Any]]:
    user = await sync_to_async(make_operator)()
    client = QueueClient(await sync_to_async(operator_cookie)(user))
    ok, first = await client.connect()
    assert ok
    return client, first


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


async def test_operator_gets_the_queue_on_connect():
    session = await sync_to_async(open_session)()
    client, first = await operator_queue()
    assert first["type"] == "queue" and ids(first["waiting"]) == [str(session.pk)]
    assert first["waiting"][0]["code"] == session.code and first["active"] == []
    await client.close()


async def test_a_new_help_request_rings_and_appears():
    client, first = await operator_queue()
    assert first["waiting"] == []
    session = await sync_to_async(open_session)()
    await lifecycle.publish(session_id=session.pk, status="waiting")
    frame = await client.recv_until(lambda f: f["waiting"])
    assert ids(frame["waiting"]) == [str(session.pk)]
    await client.close()


async def test_a_claimed_session_leaves_every_queue():
    session = await sync_to_async(open_session)()
    one, _ = await operator_queue()
    two, _ = await operator_queue()
    claimer = await sync_to_async(make_operator)("claimer")
    await sync_to_async(lifecycle.participant_join)(
        session_id=session.pk, user=claimer, owns_as_customer=False
    )
    await lifecycle.publish(session_id=session.pk, status="active")
    for client in (one, two):
        frame = await client.recv_until(lambda f: not f["waiting"])
        assert ids(frame["active"]) == [str(session.pk)]
        assert frame["active"][0]["operator"] == "Olga"
        await client.close()


async def test_an_ended_session_leaves_the_queue():
    session = await sync_to_async(open_session)()
    client, _ = await operator_queue()
    await sync_to_async(Session.objects.filter(pk=session.pk).update)(status=Status.ENDED)
    await lifecycle.publish(session_id=session.pk, status="ended")
    frame = await client.recv_until(lambda f: not f["waiting"])
    assert frame["active"] == []
    await client.close()


async def test_refresh_sends_the_queue_again():
    client, first = await operator_queue()
    await client.comm.send_json_to({"type": "refresh"})
    assert await client.recv_until(lambda f: True) == first
    await client.close()


@pytest.mark.parametrize("kind", ["anonymous", "no-permission"])
async def test_non_operators_are_closed_as_forbidden(kind):
    cookie = None
    if kind == "no-permission":
        user = await sync_to_async(make_operator)(permission=False)
        cookie = await sync_to_async(operator_cookie)(user)
    client = QueueClient(cookie)
    ok, code = await client.connect()
    assert not ok and code == CloseCode.FORBIDDEN


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver:1"])
async def test_a_foreign_origin_is_closed_with_4403(origin):
    user = await sync_to_async(make_operator)()
    client = QueueClient(await sync_to_async(operator_cookie)(user), origin=origin)
    ok, code = await client.connect()
    assert not ok and code == CloseCode.FORBIDDEN
