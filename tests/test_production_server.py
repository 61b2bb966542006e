"""The production server's shortcuts (config/websocket.py), against a real server process: frames
from a client reach the consumer directly once it is welcomed, and those that arrived before go
first, so the journal keeps the order of the wire."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from cobrowse.models import Operation
from tests.conftest import customer_cookie, open_session, server_frame_problems

pytestmark = pytest.mark.django_db(transaction=True)


def op(index: int) -> bytes:
    return orjson.dumps(
        {
            "type": "op",
            "client_op_id": f"c-{index}",
            "kind": "pointer",
            "payload": {"x": index, "y": index},
        }
    )


async def test_frames_sent_before_and_after_the_welcome_keep_the_order_of_the_wire(tmp_path):
    from tests.live import RawSocket, live_server_process

    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    early, late = 150, 150

    def run(port: int) -> list[dict[str, Any]]:
        raw = RawSocket(port, f"/ws/cobrowse/{session.pk}/", cookie=cookie)
        assert raw.status == 101
        # Before the welcome: the server queues these until the consumer is ready.
        for i in range(early):
            raw.send(op(i))
        welcome = orjson.loads(raw.recv()[1])
        assert welcome["type"] == "welcome"
        # At once after it: some still meet a queue that is not empty, the rest go directly.
        for i in range(early, early + late):
            raw.send(op(i))
        frames = [orjson.loads(raw.recv()[1]) for _ in range(early + late)]
        raw.close()
        return frames

    with live_server_process(tmp_path) as server:
        frames = await sync_to_async(run)(server.port)
        assert "Traceback" not in server.log.read_text()
    assert all(not server_frame_problems(f) for f in frames)
    assert [f["type"] for f in frames] == ["ack"] * (early + late), frames[:3]
    assert [f["client_op_id"] for f in frames] == [f"c-{i}" for i in range(early + late)]
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    journaled = await sync_to_async(
        lambda: list(
            Operation.objects.filter(session=session, kind="pointer")
            .order_by("seq")
            .values_list("client_op_id", flat=True)
        )
    )()
    assert journaled == [f"c-{i}" for i in range(early + late)]


async def test_with_permessage_deflate_only_frames_of_1_kib_or_more_are_compressed(tmp_path):
    """Browsers always offer permessage-deflate. The server compresses what is worth it (a
    snapshot, a long chat line) and sends small frames, most ops, as they are; a client
    inflating the compressed ones in order (one context for the connection) reads them all."""
    from tests.live import RawSocket, live_server_process

    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    inflate = zlib.decompressobj(-15)

    def frame(raw: Any) -> tuple[bool, dict[str, Any]]:
        _, payload = raw.recv()
        if raw.compressed:
            payload = inflate.decompress(payload + b"\x00\x00\xff\xff")
        return raw.compressed, orjson.loads(payload)

    def chat(index: int, text: str) -> bytes:
        return orjson.dumps(
            {"type": "op", "client_op_id": f"t-{index}", "kind": "chat", "payload": {"text": text}}
        )

    def run(port: int) -> list[tuple[bool, dict[str, Any]]]:
        raw = RawSocket(
            port,
            f"/ws/cobrowse/{session.pk}/",
            cookie=cookie,
            extensions="permessage-deflate; client_max_window_bits",
        )
        assert raw.status == 101 and b"permessage-deflate" in raw.head.lower()
        assert frame(raw)[1]["type"] == "welcome"
        got = []
        for index, text in enumerate(["short", "long " * 300, "short again", "long " * 390]):
            raw.send(chat(index, text))
            got += [frame(raw), frame(raw)]  # the ack, then the op (chat goes to all)
        raw.close()
        return got

    with live_server_process(tmp_path) as server:
        frames = await sync_to_async(run)(server.port)
        assert "Traceback" not in server.log.read_text()
    kinds = [(f["type"], f.get("payload", {}).get("text", "")[:5]) for _, f in frames]
    assert kinds == [
        ("ack", ""), ("op", "short"), ("ack", ""), ("op", "long "),
        ("ack", ""), ("op", "short"), ("ack", ""), ("op", "long "),
    ]  # fmt: skip
    assert [compressed for compressed, _ in frames] == [False, False, False, True] * 2
    assert frames[7][1]["payload"]["text"] == "long " * 390


def test_the_deflate_extension_leaves_small_messages_as_they_are_and_keeps_its_context() -> None:
    """Frame by frame against websockets' own client side of the extension: small messages go
    uncompressed (RSV1 clear) and do not disturb the compression context of the large ones."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    from config.websocket import COMPRESS_THRESHOLD, ThresholdDeflate

    server = ThresholdDeflate(PerMessageDeflate(False, False, 12, 12, {"memLevel": 5}))
    client = PerMessageDeflate(False, False, 12, 12)
    messages = [b"a" * 10, b"snapshot " * 400, b"b" * (COMPRESS_THRESHOLD - 1), b"snapshot " * 500]
    for data in messages:
        sent = server.encode(Frame(Opcode.TEXT, data))
        assert sent.rsv1 is (len(data) >= COMPRESS_THRESHOLD)
        assert (sent.data == data) is (len(data) < COMPRESS_THRESHOLD)
        assert client.decode(sent).data == data
    ping = Frame(Opcode.PING, b"x")
    assert server.encode(ping) is ping


@pytest.mark.parametrize("value", ["50000,20", "a,b,c", "0,10,10"])
def test_garbage_collector_thresholds_that_are_not_three_positive_numbers_are_refused(
    monkeypatch, value
):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings import env_gc_thresholds

    monkeypatch.setenv("COBROWSE_GC_THRESHOLDS", value)
    with pytest.raises(ImproperlyConfigured, match="COBROWSE_GC_THRESHOLDS"):
        env_gc_thresholds("COBROWSE_GC_THRESHOLDS", "50000,20,100")
    monkeypatch.setenv("COBROWSE_GC_THRESHOLDS", "700,10,10")
    assert env_gc_thresholds("COBROWSE_GC_THRESHOLDS", "50000,20,100") == (700, 10, 10)
    monkeypatch.delenv("COBROWSE_GC_THRESHOLDS")
    assert env_gc_thresholds("COBROWSE_GC_THRESHOLDS", "50000,20,100") == (50000, 20, 100)


async def test_http_requests_served_under_asgi_leave_no_database_connection_open(tmp_path):
    """Each HTTP request runs on a thread of its own under ASGI; its connection is closed when
    the request ends, not left to the garbage collector (kept from running here)."""
    import urllib.error
    import urllib.request

    from django.db import connection

    from tests.live import live_server_process

    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's connections")

    def open_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    def call(port: int) -> int:
        # An API call with a token that is no token: a query, then 401.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/sessions",
            headers={"Authorization": "Bearer cbt_not-a-token"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    requests = 12
    with live_server_process(tmp_path, COBROWSE_GC_THRESHOLDS="1000000,1000,1000") as server:
        assert await sync_to_async(call)(server.port) == 401  # the server's first connection
        before = await sync_to_async(open_connections)()
        for _ in range(requests):
            assert await sync_to_async(call)(server.port) == 401
        after = await sync_to_async(open_connections)()
    assert after - before < requests // 2, (before, after)
