"""Several ops in one frame (`ops`) and their acknowledgement in one frame (`acks`): each op is
checked, journaled, sequenced and acked as if it had come alone (docs/protocol.md). Runs on the
embedded defaults and again on PostgreSQL + Redis."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from cobrowse.models import Operation, Session
from cobrowse.protocol import MAX_OPS_PER_FRAME
from tests.conftest import Peer, customer_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def journal(session: Session) -> list[Operation]:
    return await sync_to_async(
        lambda: list(Operation.objects.filter(session=session).order_by("seq"))
    )()


def pointer(i: int) -> dict[str, Any]:
    return {"kind": "pointer", "payload": {"x": i, "y": i}}


async def test_ops_of_one_frame_get_consecutive_seqs_and_one_acks_frame(pair):
    session, customer, operator = pair
    ids = await customer.send_ops([pointer(1), pointer(2), pointer(3)])
    assert await customer.recv() == {
        "type": "acks",
        "seq": 3,
        "client_op_ids": ids,
        "element_seqs": [None, None, None],
    }
    received = [await operator.recv() for _ in range(3)]
    assert [(f["seq"], f["payload"]["x"]) for f in received] == [(3, 1), (4, 2), (5, 3)]
    assert await customer.nothing() and await operator.nothing()
    assert [op.client_op_id for op in await journal(session)][2:] == ids


async def test_ops_frame_keeps_element_seqs_and_acks_all_delivery_with_its_echo(pair):
    _, customer, operator = pair
    ids = await customer.send_ops(
        [
            {"kind": "input", "payload": {"value": "a"}, "element": "field:name"},
            {"kind": "input", "payload": {"value": "ab"}, "element": "field:name"},
            {"kind": "chat", "payload": {"text": "hi"}},
        ]
    )
    acks = await customer.recv()
    assert acks == {
        "type": "acks",
        "seq": 3,
        "client_op_ids": ids[:2],
        "element_seqs": [1, 2],
    }
    ack = await customer.recv()
    echo = await customer.recv()
    assert ack == {"type": "ack", "client_op_id": ids[2], "seq": 5, "element_seq": None}
    assert echo["type"] == "op" and echo["seq"] == 5
    assert [(await operator.recv())["seq"] for _ in range(3)] == [3, 4, 5]


async def test_a_bad_op_inside_an_ops_frame_is_refused_alone(pair):
    session, customer, operator = pair
    ids = await customer.send_ops(
        [pointer(1), {"kind": "chat", "payload": {"text": 5}}, pointer(3)]
    )
    frames = [await customer.recv() for _ in range(2)]
    errors = [f for f in frames if f["type"] == "error"]
    assert errors == [
        {
            "type": "error",
            "code": "invalid_payload",
            "message": errors[0]["message"],
            "client_op_id": ids[1],
        }
    ]
    # The two journaled ops got consecutive seqs: one run, one acks frame.
    assert [f for f in frames if f["type"] != "error"] == [
        {"type": "acks", "seq": 3, "client_op_ids": [ids[0], ids[2]], "element_seqs": [None, None]}
    ]
    assert [(await operator.recv())["seq"] for _ in range(2)] == [3, 4]
    assert [op.client_op_id for op in await journal(session)][2:] == [ids[0], ids[2]]
    # The connection survives.
    cid = await customer.send_op("chat", {"text": "still here"})
    assert (await customer.recv())["client_op_id"] == cid


async def test_an_op_that_is_not_an_object_is_refused_alone(pair):
    session, customer, _ = pair
    await customer.comm.send_json_to(
        {
            "type": "ops",
            "ops": [5, {"client_op_id": "k-1", "kind": "chat", "payload": {"text": "a"}}],
        }
    )
    first = await customer.recv()
    assert first["type"] == "error" and first["code"] == "bad_frame"
    assert (await customer.recv())["client_op_id"] == "k-1"
    assert len(await journal(session)) == 3


@pytest.mark.parametrize(
    "ops",
    [[], "x", [{"client_op_id": "a", "kind": "chat", "payload": {"text": "a"}}] * 201],
)
async def test_an_ops_frame_without_a_list_of_ops_is_refused(pair, ops):
    session, customer, _ = pair
    assert MAX_OPS_PER_FRAME == 200
    await customer.comm.send_json_to({"type": "ops", "ops": ops})
    error = await customer.recv()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    assert "client_op_id" not in error
    assert len(await journal(session)) == 2


async def test_an_op_of_an_ops_frame_may_not_carry_a_type(pair):
    _, customer, _ = pair
    await customer.comm.send_json_to(
        {
            "type": "ops",
            "ops": [
                {"type": "op", "client_op_id": "t-1", "kind": "chat", "payload": {"text": "a"}}
            ],
        }
    )
    error = await customer.recv()
    assert error["code"] == "bad_frame" and error["client_op_id"] == "t-1"


async def test_resend_inside_an_ops_frame_is_acked_with_the_first_seq_per_op(pair):
    session, customer, operator = pair
    first = await customer.send_ops([pointer(1), pointer(2)])
    assert (await customer.recv())["client_op_ids"] == first
    assert [(await operator.recv())["seq"] for _ in range(2)] == [3, 4]
    # The same two again, with a new one between them.
    await customer.comm.send_json_to(
        {
            "type": "ops",
            "ops": [
                {"client_op_id": first[0], **pointer(1)},
                {"client_op_id": "new-1", **pointer(9)},
                {"client_op_id": first[1], **pointer(2)},
            ],
        }
    )
    frames = [await customer.recv() for _ in range(3)]
    by_id = {f["client_op_id"]: f["seq"] for f in frames}
    assert by_id == {first[0]: 3, "new-1": 5, first[1]: 4}
    assert [(await operator.recv())["seq"]] == [5]
    assert await operator.nothing()
    assert len(await journal(session)) == 5


async def test_each_op_of_an_ops_frame_counts_against_the_rate_limit(pair, settings):
    settings.COBROWSE_RATE_BURST = 5
    settings.COBROWSE_RATE_PER_SECOND = 1
    session = pair[0]
    peer = Peer(session, await sync_to_async(customer_cookie)(session))
    assert await peer.connect()
    ids = await peer.send_ops([pointer(i) for i in range(8)])
    frames = [await peer.recv() for _ in range(4)]
    acked = [cid for f in frames if f["type"] == "acks" for cid in f["client_op_ids"]]
    refused = [f["client_op_id"] for f in frames if f["type"] == "error"]
    assert {f["code"] for f in frames if f["type"] == "error"} == {"rate_limited"}
    assert acked == ids[:5] and refused == ids[5:]
    await peer.close()


async def test_an_ops_frame_over_the_size_limit_refuses_each_op(pair, settings):
    settings.COBROWSE_MAX_FRAME_BYTES = 1024
    session, customer, _ = pair
    ids = await customer.send_ops([{"kind": "chat", "payload": {"text": "x" * 600}}] * 2)
    errors = [await customer.recv() for _ in range(2)]
    assert [(e["code"], e["client_op_id"]) for e in errors] == [("too_large", i) for i in ids]
    assert len(await journal(session)) == 2
