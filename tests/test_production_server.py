"""The production server's shortcuts (config/websocket.py), against a real server process: frames
from a client reach the consumer directly once it is welcomed, and those that arrived before go
first, so the journal keeps the order of the wire."""

from __future__ import annotations

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
