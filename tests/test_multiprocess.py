"""Two daphne server processes sharing PostgreSQL and Redis: the customer talks to one, the
operator to the other, both send at once over real WebSockets. Everyone must see one identical,
gap-free order with nothing lost."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.typing import Origin

from cobrowse.models import Operation
from tests.conftest import SERVICES, customer_cookie, make_operator, open_session, operator_cookie

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not SERVICES, reason="needs DATABASE_URL and REDIS_URL (make test runs it)"),
]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url_of_test_db() -> str:
    d = connection.settings_dict
    return f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST']}:{d['PORT']}/{d['NAME']}"


@pytest.fixture
def servers(transactional_db: None) -> Iterator[list[int]]:
    env = {**os.environ, "DATABASE_URL": database_url_of_test_db(), "DEBUG": "1"}
    env.pop("COBROWSE_LOCAL_HANDOVER", None)  # production default: local hand-over on
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def page_origin(url: str) -> Origin:
    """The origin of the desk's own pages on the server of a ws:// URL."""
    return Origin(f"http://{urlsplit(url).netloc}")


async def run_participant(
    url: str, cookie: str, role: str, count: int, expected_total: int
) -> dict[str, Any]:
    """Send `count` ops (chat and pointer alternately, each tagged), and read until every seq up
    to `expected_total` has been seen on this connection."""
    headers = {"Cookie": cookie}
    async with websockets.connect(
        url, origin=page_origin(url), additional_headers=headers, max_size=2**22
    ) as ws:
        welcome = orjson.loads(await ws.recv())
        assert welcome["type"] == "welcome"
        frames: list[dict[str, Any]] = []

        async def send() -> None:
            for i in range(count):
                kind = "chat" if i % 2 else "pointer"
                payload = {"text": f"{role}-{i}"} if kind == "chat" else {"x": i, "y": 0, "id": i}
                await ws.send(
                    orjson.dumps(
                        {
                            "type": "op",
                            "client_op_id": f"{role}-{i}",
                            "kind": kind,
                            "payload": payload,
                        }
                    ).decode()
                )

        async def receive() -> None:
            seen = welcome["position"]
            while seen < expected_total:
                frame = orjson.loads(await ws.recv())
                frames.append(frame)
                if "seq" in frame:
                    seen = max(seen, frame["seq"])

        await asyncio.wait_for(asyncio.gather(send(), receive()), timeout=120)
        return {"welcome": welcome, "frames": frames}


def tag(frame: dict[str, Any], role: str) -> str:
    payload = frame["payload"]
    return payload["text"] if "text" in payload else f"{frame['sender']['role']}-{payload['id']}"


async def test_two_processes_one_order(servers):
    session = await sync_to_async(open_session)()
    user = await sync_to_async(make_operator)()
    c_cookie = await sync_to_async(customer_cookie)(session)
    o_cookie = await sync_to_async(operator_cookie)(user)
    base_a, base_b = (f"ws://127.0.0.1:{port}/ws/cobrowse/{session.pk}/" for port in servers)

    # Both join first (their `joined` ops are seq 1 and 2), then both send at once.
    for url, cookie in ((base_a, c_cookie), (base_b, o_cookie)):
        async with websockets.connect(
            url, origin=page_origin(url), additional_headers={"Cookie": cookie}
        ) as ws:
            await ws.recv()
    n = 300
    total = 2 + 2 * n
    customer, operator = await asyncio.gather(
        run_participant(base_a + "?last_seq=2", c_cookie, "customer", n, total),
        run_participant(base_b + "?last_seq=2", o_cookie, "operator", n, total),
    )

    seq_of: dict[str, int] = {}
    for name, result in (("customer", customer), ("operator", operator)):
        sequenced = [f for f in result["frames"] if f["type"] in ("op", "ack")]
        seqs = [f["seq"] for f in sequenced]
        # Strictly increasing, except that an own `all` op comes as ack then op with one seq.
        for before, after in itertools.pairwise(sequenced):
            assert after["seq"] > before["seq"] or (
                after["seq"] == before["seq"] and (before["type"], after["type"]) == ("ack", "op")
            ), f"{name}: {before} then {after}"
        assert sorted(set(seqs)) == list(range(3, total + 1)), f"{name} saw a gap"
        assert not [f for f in result["frames"] if f["type"] == "error"]
        for f in result["frames"]:
            if f["type"] == "ack":
                seq_of.setdefault(f["client_op_id"], f["seq"])
        acked = {f["client_op_id"] for f in result["frames"] if f["type"] == "ack"}
        assert acked == {f"{name}-{i}" for i in range(n)}, f"{name}: an op was not acked"

    # Every op was received by the other side at the seq its sender was acked with.
    for receiver, sender in ((customer, "operator"), (operator, "customer")):
        received = {
            tag(f, sender): f["seq"]
            for f in receiver["frames"]
            if f["type"] == "op" and f["sender"]["role"] == sender
        }
        assert received == {cid: seq for cid, seq in seq_of.items() if cid.startswith(sender)}

    rows = await sync_to_async(
        lambda: list(Operation.objects.filter(session=session).values_list("seq", "client_op_id"))
    )()
    assert [seq for seq, _ in rows] == list(range(1, total + 1))
    assert {cid: seq for seq, cid in rows if not cid.startswith("server-")} == seq_of
