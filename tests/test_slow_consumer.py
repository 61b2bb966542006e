"""A participant that stops reading must not make the server hold ever more memory for it.

A real uvicorn server (the production command); the operator's socket is a raw one with a small
receive window that reads its welcome and then nothing; the customer sends dom ops as fast as
its rate limit allows. The server's resident memory must stay bounded, the reader must be
disconnected (its connection dropped, since it reads not even the close frame), and when it
comes back it catches up from the journal with nothing missing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.typing import Origin

from tests.conftest import SERVICES, customer_cookie, make_operator, open_session, operator_cookie
from tests.live import Closed, LiveServer, RawSocket, live_server_process

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not SERVICES, reason="needs PostgreSQL and Redis (make test runs it)"),
    pytest.mark.timeout(180),
]

OPS = 1500
OP_BYTES = 32 * 1024
QUEUE_BYTES = 4 * 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 24 * 1024  # the flood is 48 MiB; the queue bound is 4 MiB
CLOSE_TIMEOUT = 11  # uvicorn's 10 s for the close handshake, plus ours (config/websocket.py)


def dom_op(i: int) -> str:
    event = {
        "type": 3,
        "data": {"source": 0, "texts": [{"id": 1, "value": "x" * OP_BYTES}]},
        "timestamp": i,
    }
    return orjson.dumps(
        {"type": "op", "client_op_id": f"flood-{i}", "kind": "dom", "payload": {"events": [event]}}
    ).decode()


async def flood(server: LiveServer, url: str, cookie: str, samples: list[int]) -> None:
    """Send OPS dom ops (paced under the rate limit) and read their acks; sample the server's
    memory meanwhile."""
    async with websockets.connect(
        url,
        origin=Origin(f"http://127.0.0.1:{server.port}"),
        additional_headers={"Cookie": cookie},
        max_size=2**23,
        proxy=None,
    ) as ws:
        await ws.recv()  # welcome
        acked = 0

        async def read_acks() -> None:
            nonlocal acked
            while acked < OPS:
                frame = orjson.loads(await ws.recv())
                assert frame["type"] != "error", frame
                if frame["type"] == "ack":
                    acked += 1

        reader = asyncio.create_task(read_acks())
        for i in range(OPS):
            await ws.send(dom_op(i))
            if i % 10 == 0:
                samples.append(server.rss_kib())
            await asyncio.sleep(1 / 180)  # the default limit is 200 frames/s
        await asyncio.wait_for(reader, 60)
        samples.append(server.rss_kib())


async def test_a_reader_that_stops_is_cut_off_with_bounded_memory_and_catches_up(tmp_path: Path):
    session = await sync_to_async(open_session)()
    user = await sync_to_async(make_operator)()
    c_cookie = await sync_to_async(customer_cookie)(session)
    o_cookie = await sync_to_async(operator_cookie)(user)
    path = f"/ws/cobrowse/{session.pk}/"

    with live_server_process(
        tmp_path, COBROWSE_SEND_QUEUE_BYTES=str(QUEUE_BYTES), LOG_LEVEL="INFO"
    ) as server:
        url = server.url + path
        # Both join first (seq 1 and 2).
        for cookie in (c_cookie, o_cookie):
            async with websockets.connect(
                url,
                origin=Origin(f"http://127.0.0.1:{server.port}"),
                additional_headers={"Cookie": cookie},
                proxy=None,
            ) as ws:
                await ws.recv()

        reader = RawSocket(server.port, path, cookie=o_cookie, rcvbuf=4096)
        assert reader.status == 101
        _, welcome = reader.recv()
        assert orjson.loads(welcome)["type"] == "welcome"
        # ... and from now on the operator reads nothing.

        await asyncio.sleep(0.5)
        baseline = server.rss_kib()
        samples: list[int] = []
        started = time.monotonic()
        await flood(server, url, c_cookie, samples)
        flood_seconds = time.monotonic() - started

        # The server gives up on the reader: it logs so, and the socket ends. The close frame
        # cannot reach a reader that reads nothing (every buffer on the way is full): after the
        # close timeout the server drops the connection rather than hold it open. So the reader,
        # reading at last, finds the end of the stream (or a reset), never the close frame,
        # which only a server still holding the connection could deliver.
        deadline = time.monotonic() + 30
        while "closing slow reader" not in server.log.read_text():
            assert time.monotonic() < deadline, "the slow reader was never disconnected"
            await asyncio.sleep(0.2)
        await asyncio.sleep(CLOSE_TIMEOUT + 3)
        received = 0
        end = None
        reader.sock.settimeout(5)
        try:
            while True:
                _, payload = reader.recv()
                received += len(payload)
        except Closed as closed:
            end = "end of stream" if closed.code is None else f"close frame {closed.code}"
        except (ConnectionResetError, TimeoutError) as exc:
            end = type(exc).__name__
        reader.close()
        assert end in ("end of stream", "ConnectionResetError"), f"still connected ({end})"

        growth = max(samples) - baseline
        print(
            f"\nslow reader: flood {OPS} x {OP_BYTES // 1024} KiB in {flood_seconds:.1f} s; "
            f"server RSS baseline {baseline // 1024} MiB, peak {max(samples) // 1024} MiB "
            f"(+{growth // 1024} MiB); the reader got {received // 1024} KiB before the end "
            f"({end})"
        )
        assert growth < RSS_GROWTH_LIMIT_KIB, f"server memory grew by {growth} KiB"
        assert received < OPS * OP_BYTES // 2

        # Back again: it catches up from the journal, in order, with nothing missing.
        async with websockets.connect(
            url + "?last_seq=2",
            origin=Origin(f"http://127.0.0.1:{server.port}"),
            additional_headers={"Cookie": o_cookie},
            max_size=2**23,
            proxy=None,
        ) as ws:
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            seqs = []
            while True:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame["type"] == "synced":
                    break
                seqs.append(frame["seq"])
            assert seqs == list(range(3, OPS + 3))
