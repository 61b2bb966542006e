"""Shared fixtures: users, sessions, and WebSocket clients that go through the real ASGI stack
(Origin check, Django session and auth middleware, URL routing)."""

from __future__ import annotations

import inspect
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test import Client

from cobrowse import lifecycle
from cobrowse.models import Session, Site, Team
from cobrowse.policy import CUSTOMER_SESSIONS_KEY
from cobrowse.protocol import server_frame_problems
from cobrowse.writer import JournalWriter

SERVICES = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
ORIGIN = b"http://testserver"
HOST = b"testserver"  # the Host header of test WebSockets: ORIGIN is the desk's own origin
_ids = itertools.count(1)


def pytest_report_header(config: Any) -> str:
    return "services: " + ("PostgreSQL + Redis" if SERVICES else "embedded (SQLite, in-memory)")


@pytest.fixture(autouse=True)
def _stop_journal_writers(request: pytest.FixtureRequest) -> None:
    """Async tests may start the journal writer of their event loop: stop it after each one
    (a usefixtures marker added after collection would not be used)."""
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        request.getfixturevalue("_close_journal_writer")


@pytest.fixture
async def _close_journal_writer() -> AsyncIterator[None]:
    yield
    await JournalWriter.close_all()
    # Persistent connections of the consumers' database thread would keep the test database
    # busy at teardown.
    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts its requests and connections afresh: the counters live in the cache,
    on Redis with services, where they would outlive the test (and clearing that Redis would
    clear the channel layer's keys too)."""
    from cobrowse import throttle

    monkeypatch.setattr(throttle, "KEY_PREFIX", f"throttle-{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def _clean_channel_layer() -> None:
    from channels.layers import channel_layers

    channel_layers.backends.clear()


# The demo sites (`manage.py demo_setup`) by their short names.
DEMO_KEYS = {"shop": "pk_demo_shop", "bank": "pk_demo_bank"}
# Their allowed origins by default (settings.DEMO_MERCHANT_ORIGINS).
MERCHANT_ORIGIN = "http://127.0.0.1:8001"


def demo_site(name: str = "shop") -> Site:
    """A demo site ("shop", "bank") as demo_setup makes it, with its team."""
    from helpdesk.management.commands import demo_setup

    return demo_setup.demo_site(DEMO_KEYS.get(name, name))


@pytest.fixture
def demo_sites(db: None) -> dict[str, Site]:
    return {name: demo_site(name) for name in DEMO_KEYS}


def make_operator(
    username: str | None = None,
    *,
    permission: bool = True,
    staff: bool = True,
    sites: tuple[str, ...] = ("shop", "bank"),
) -> User:
    """An operator in the teams that serve the demo `sites` (none: in no team)."""
    user = User.objects.create_user(
        # Unique even though pytest and `from tests.conftest import` load this module twice.
        username=username or f"operator-{uuid.uuid4().hex[:12]}",
        password="pw",
        is_staff=staff,
        first_name="Olga",
    )
    if permission:
        user.user_permissions.add(Permission.objects.get(codename="operate_session"))
    for name in sites:
        for team in Team.objects.filter(sites=demo_site(name)):
            team.members.add(user)
    return user


def customer_cookie(session: Session | None = None, *, owned: list[str] | None = None) -> str:
    store = SessionStore()
    store[CUSTOMER_SESSIONS_KEY] = (
        owned if owned is not None else [str(session.pk)] if session else []
    )
    store.create()
    return f"sessionid={store.session_key}"


def operator_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_session(site: str | Site = "shop", **identity: Any) -> Session:
    """An open session of a demo site ("shop", "bank") or of `site`."""
    return lifecycle.session_open(
        site=site if isinstance(site, Site) else demo_site(site),
        customer_session_key="",
        **identity,
    )


class Peer:
    """A WebSocket client of the real ASGI application, with helpers for frames."""

    def __init__(
        self,
        session: Session,
        cookie: str | None,
        *,
        origin: bytes = ORIGIN,
        query: str = "",
        host: bytes = HOST,
        path: str | None = None,
    ) -> None:
        from config.asgi import application

        self.cookie = cookie
        headers = [(b"host", host)] + ([(b"origin", origin)] if origin else [])
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        path = path or f"/ws/cobrowse/{session.pk}/" + (f"?{query}" if query else "")
        self.comm = WebsocketCommunicator(application, path, headers=headers)
        self.welcome: dict[str, Any] = {}
        self._unbatched: list[dict[str, Any]] = []
        self.batches = 0
        self._ids = itertools.count(1)
        self.prefix = f"p{next(_ids)}-"

    async def connect(self) -> bool:
        """True once welcomed; False when refused (handshake refused, or closed at once with a
        reason, kept in `close_code`)."""
        self.close_code: int | None = None
        connected, _ = await self.comm.connect(timeout=5)
        if not connected:
            return False
        first = await self.comm.receive_output(timeout=5)
        if first["type"] == "websocket.close":
            self.close_code = first.get("code")
            return False
        self.welcome = orjson.loads(first["text"])
        assert self.welcome["type"] == "welcome"
        assert not server_frame_problems(self.welcome), server_frame_problems(self.welcome)
        return True

    def next_id(self) -> str:
        return f"{self.prefix}{next(self._ids)}"

    async def send_op(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        element: str | None = None,
        client_op_id: str | None = None,
    ) -> str:
        cid = client_op_id or self.next_id()
        frame: dict[str, Any] = {
            "type": "op",
            "client_op_id": cid,
            "kind": kind,
            "payload": payload,
        }
        if element is not None:
            frame["element"] = element
        await self.comm.send_json_to(frame)
        return cid

    async def send_ops(self, ops: list[dict[str, Any]]) -> list[str]:
        """One `ops` frame of `ops` ({kind, payload, element?, client_op_id?}); their ids."""
        items = [{"client_op_id": self.next_id(), **op} for op in ops]
        await self.comm.send_json_to({"type": "ops", "ops": items})
        return [item["client_op_id"] for item in items]

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame, held to its shape in cobrowse/protocol.py. The frames of a `batch`
        (with ?batch=1) come one by one, as if each had been sent alone; `batches` counts them."""
        if self._unbatched:
            return self._unbatched.pop(0)
        frame: dict[str, Any] = await self.comm.receive_json_from(timeout=timeout)
        assert not server_frame_problems(frame), (server_frame_problems(frame), frame)
        if frame["type"] == "batch":
            self.batches += 1
            first, *self._unbatched = frame["frames"]
            return dict(first)
        return frame

    async def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = await self.recv(timeout)
            frames.append(frame)
            if predicate(frame):
                return frames

    async def nothing(self, timeout: float = 0.2) -> bool:
        if self._unbatched:
            return False
        result: bool = await self.comm.receive_nothing(timeout=timeout)
        return result

    async def close(self) -> None:
        await self.comm.disconnect()


@pytest.fixture
def session(db: None) -> Session:
    return open_session()


@pytest.fixture
def operator(db: None) -> User:
    return make_operator()


@pytest.fixture
async def pair(transactional_db: None) -> AsyncIterator[tuple[Session, Peer, Peer]]:
    """An open session with its customer and its operator connected."""
    session = await sync_to_async(open_session)()
    user = await sync_to_async(make_operator)()
    customer = Peer(session, await sync_to_async(customer_cookie)(session))
    operator = Peer(session, await sync_to_async(operator_cookie)(user))
    assert await customer.connect()
    assert await operator.connect()
    # The customer learns that the operator joined.
    joined = await customer.recv()
    assert joined["kind"] == "session" and joined["payload"]["action"] == "joined"
    yield session, customer, operator
    await customer.close()
    await operator.close()
