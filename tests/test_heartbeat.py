"""Heartbeats (`?heartbeat=1`): a connection whose network went away without a close is taken
for gone after `COBROWSE_SILENCE_TIMEOUT_MS`, and its participant noted as left as of when it
was last heard; one that answers the server's heartbeats stays. Through the real ASGI stack,
with short timings, and against the production server (`tests/live.py`)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from cobrowse.models import Participant, Session
from cobrowse.protocol import CloseCode
from tests.conftest import Peer, customer_cookie, open_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_heartbeats(settings: Any) -> None:
    settings.COBROWSE_HEARTBEAT_MS = 200
    settings.COBROWSE_SILENCE_TIMEOUT_MS = 600


async def customer(session: Session, query: str = "heartbeat=1") -> Peer:
    peer = Peer(session, await sync_to_async(customer_cookie)(session), query=query)
    assert await peer.connect()
    return peer


async def left_at(session: Session) -> object:
    row = await sync_to_async(lambda: Participant.objects.get(session=session, role="customer"))()
    return row.left_at


async def test_a_quiet_connection_is_asked_for_a_heartbeat(short_heartbeats):
    session = await sync_to_async(open_session)()
    peer = await customer(session)
    started = time.monotonic()
    assert await peer.recv(timeout=2) == {"type": "heartbeat"}
    assert time.monotonic() - started >= 0.2
    await peer.close()


async def test_a_silent_connection_is_closed_and_its_participant_left_when_last_heard(
    short_heartbeats,
):
    session = await sync_to_async(open_session)()
    peer = await customer(session)
    await peer.comm.send_json_to({"type": "heartbeat"})  # the last thing heard
    heard = time.time()
    # It answers nothing from now on, as if its network had gone.
    frames = []
    while True:
        output = await peer.comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
        frames.append(output["text"])
    closed = time.time()
    assert output["code"] == CloseCode.SILENT
    assert frames == ['{"type":"heartbeat"}']  # asked once, then given up
    assert 0.4 <= closed - heard < 1.5  # the timeout, counted up to one pass early
    gone = await left_at(session)
    assert gone is not None
    # When it was last heard (within a sweep), not when the server gave up.
    assert heard - 0.5 <= gone.timestamp() <= heard + 0.5  # type: ignore[attr-defined]
    await peer.close()


async def test_a_connection_that_answers_heartbeats_stays(short_heartbeats):
    session = await sync_to_async(open_session)()
    peer = await customer(session)
    until = time.monotonic() + 2.0  # more than three silence timeouts
    answered = 0
    while time.monotonic() < until:
        frame = await peer.recv(timeout=1)
        assert frame == {"type": "heartbeat"}
        await peer.comm.send_json_to({"type": "heartbeat"})
        answered += 1
    assert answered >= 4
    assert await left_at(session) is None
    # Still served: an op goes through.
    cid = await peer.send_op("pointer", {"x": 1, "y": 2})
    frames = await peer.recv_until(lambda f: f["type"] == "ack")
    assert frames[-1]["client_op_id"] == cid
    await peer.close()


async def test_a_connection_that_sends_ops_is_not_asked(settings):
    settings.COBROWSE_HEARTBEAT_MS = 500
    settings.COBROWSE_SILENCE_TIMEOUT_MS = 1500
    session = await sync_to_async(open_session)()
    peer = await customer(session)
    ids = []
    for i in range(30):  # every 50 ms for 1.5 s: never quiet for a heartbeat's interval
        ids.append(await peer.send_op("pointer", {"x": i, "y": i}))
        await asyncio.sleep(0.05)
    frames = await peer.recv_until(lambda f: f.get("client_op_id") == ids[-1])
    assert [f["type"] for f in frames] == ["ack"] * len(ids)
    assert await left_at(session) is None
    await peer.close()


async def test_without_heartbeat_opt_in_a_quiet_connection_stays(short_heartbeats):
    session = await sync_to_async(open_session)()
    peer = await customer(session, query="")
    assert await peer.nothing(timeout=1.5)
    assert await left_at(session) is None
    await peer.close()


async def test_a_silent_connection_whose_participant_reconnected_does_not_mark_them_left(
    short_heartbeats,
):
    """A customer whose new connection is open (the network came back on another socket) is
    not gone when the old, silent one is dropped."""
    session = await sync_to_async(open_session)()
    old = await customer(session)
    fresh = await customer(session)
    # Only the fresh one answers.
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        frame = await fresh.recv(timeout=1)
        if frame["type"] == "heartbeat":
            await fresh.comm.send_json_to({"type": "heartbeat"})
    closed = await old.comm.receive_output(timeout=1)
    while closed["type"] != "websocket.close":
        closed = await old.comm.receive_output(timeout=1)
    assert closed["code"] == CloseCode.SILENT
    assert await left_at(session) is None
    await old.close()
    await fresh.close()


def test_left_at_defaults_to_now(db):
    from django.utils import timezone

    from cobrowse import lifecycle

    session = open_session()
    Participant.objects.create(
        session=session, role="customer", display_name="Customer", connected_at=timezone.now()
    )
    row = Participant.objects.get(session=session, role="customer")
    before = timezone.now()
    lifecycle.participant_leave(participant_id=row.pk, connected_at=row.connected_at)
    row.refresh_from_db()
    assert row.left_at is not None and row.left_at >= before
    earlier = before - timedelta(seconds=5)
    lifecycle.participant_leave(
        participant_id=row.pk, connected_at=row.connected_at, left_at=earlier
    )
    row.refresh_from_db()
    assert row.left_at == earlier


# --- On the servers we run ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["production", "development"])
async def test_on_both_servers_a_silent_connection_is_dropped_and_one_that_answers_stays(
    tmp_path, kind
):
    """uvicorn with config/websocket.py (`make serve`) and daphne (`make run`): the silent
    client gets 4409 after the timeout, the one answering heartbeats is still served."""
    from tests.live import Closed, RawSocket, server_process

    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    path = f"/ws/cobrowse/{session.pk}/?heartbeat=1"

    def run(port: int) -> tuple[int | None, float, int]:
        silent = RawSocket(port, path, cookie=cookie)
        lively = RawSocket(port, path, cookie=cookie)
        for raw in (silent, lively):
            assert raw.status == 101
            assert b'"welcome"' in raw.recv()[1]
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 3:  # three silence timeouts
            assert lively.recv()[1] == b'{"type":"heartbeat"}'
            lively.send_text('{"type":"heartbeat"}')
            answered += 1
        # The silent one was asked once, then closed.
        assert silent.recv()[1] == b'{"type":"heartbeat"}'
        try:
            silent.recv()
            code = None
        except Closed as closed:
            code = closed.code
        lively.send_text(
            '{"type":"op","client_op_id":"c-1","kind":"pointer","payload":{"x":1,"y":1}}'
        )
        while b'"ack"' not in (frame := lively.recv()[1]):
            assert frame == b'{"type":"heartbeat"}'
        silent.close()
        lively.close()
        return code, time.monotonic() - started, answered

    with server_process(
        kind, tmp_path, COBROWSE_HEARTBEAT_MS="300", COBROWSE_SILENCE_TIMEOUT_MS="1000"
    ) as server:
        code, _elapsed, answered = await sync_to_async(run)(server.port)
        assert "Traceback" not in server.log.read_text()
    assert code == CloseCode.SILENT
    assert answered >= 6


async def test_across_two_server_processes_only_the_customers_last_connection_going_silent_leaves(
    tmp_path,
):
    """The customer's network drops on one process's connection after they reconnected to
    another process: still there. Then the newer one goes silent too: left, as of when it was
    last heard."""
    from tests.live import Closed, RawSocket, live_server_process

    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    path = f"/ws/cobrowse/{session.pk}/?heartbeat=1"
    timings = {"COBROWSE_HEARTBEAT_MS": "300", "COBROWSE_SILENCE_TIMEOUT_MS": "1000"}

    def silent_until_closed(raw: RawSocket) -> int | None:
        try:
            while True:
                raw.recv()
        except Closed as closed:
            return closed.code

    def run(first: int, second: int) -> tuple[int | None, object, int | None, float]:
        old = RawSocket(first, path, cookie=cookie)
        assert b'"welcome"' in old.recv()[1]
        fresh = RawSocket(second, path, cookie=cookie)
        assert b'"welcome"' in fresh.recv()[1]
        # `old` answers nothing; `fresh` answers, until `old` is dropped.
        fresh.sock.settimeout(0.2)
        old.sock.settimeout(0.2)
        old_code: int | None = None
        deadline = time.monotonic() + 5
        while old_code is None and time.monotonic() < deadline:
            try:
                if fresh.recv()[1] == b'{"type":"heartbeat"}':
                    fresh.send_text('{"type":"heartbeat"}')
            except TimeoutError:
                pass
            try:
                old.recv()
            except TimeoutError:
                pass
            except Closed as closed:
                old_code = closed.code
        still_there = Participant.objects.get(session=session, role="customer").left_at
        fresh.send_text('{"type":"heartbeat"}')
        last_heard = time.time()
        fresh.sock.settimeout(5)
        fresh_code = silent_until_closed(fresh)
        old.close()
        fresh.close()
        return old_code, still_there, fresh_code, last_heard

    with (
        live_server_process(tmp_path, **timings) as first,
        live_server_process(tmp_path, **timings) as second,
    ):
        old_code, still_there, fresh_code, last_heard = await sync_to_async(run)(
            first.port, second.port
        )
    assert old_code == CloseCode.SILENT
    assert still_there is None
    assert fresh_code == CloseCode.SILENT
    gone = await left_at(session)
    assert gone is not None
    assert abs(gone.timestamp() - last_heard) < 0.6  # type: ignore[attr-defined]
