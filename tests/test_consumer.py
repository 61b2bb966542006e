"""The WebSocket contract of docs/protocol.md, through the real ASGI stack. Runs on the embedded
defaults and again on PostgreSQL + Redis (see the Makefile's test target)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from cobrowse.models import Operation, Participant, Session
from cobrowse.protocol import CloseCode
from tests.conftest import Peer, customer_cookie, make_operator, open_session, operator_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def ops_of(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "op"]


async def journal(session: Session) -> list[Operation]:
    return await sync_to_async(
        lambda: list(Operation.objects.filter(session=session).order_by("seq"))
    )()


# --- Welcome and delivery ----------------------------------------------------------------------


async def test_welcome_states_role_participant_and_head(pair):
    _session, customer, operator = pair
    assert customer.welcome["role"] == "customer"
    assert operator.welcome["role"] == "operator"
    assert operator.welcome["head_seq"] == 2  # both joins are journaled
    assert operator.welcome["position"] == 2
    assert customer.welcome["participant"] != operator.welcome["participant"]


async def test_all_delivery_reaches_the_sender_too(pair):
    _, customer, operator = pair
    cid = await customer.send_op("chat", {"text": "hello"})
    ack = await customer.recv()
    echo = await customer.recv()
    assert ack == {"type": "ack", "client_op_id": cid, "seq": 3, "element_seq": None}
    assert echo["type"] == "op" and echo["seq"] == 3 and echo["delivery"] == "all"
    received = await operator.recv()
    assert received["payload"] == {"text": "hello"}
    assert received["sender"] == {
        "role": "customer",
        "participant": customer.welcome["participant"],
    }
    assert await customer.nothing() and await operator.nothing()


async def test_others_delivery_skips_the_sender(pair):
    _, customer, operator = pair
    cid = await customer.send_op("pointer", {"x": 10, "y": 20})
    assert await customer.recv() == {
        "type": "ack",
        "client_op_id": cid,
        "seq": 3,
        "element_seq": None,
    }
    assert await customer.nothing()
    frame = await operator.recv()
    assert frame["kind"] == "pointer" and frame["delivery"] == "others" and frame["seq"] == 3


async def test_delivery_attribute_is_decided_by_the_server(pair):
    _, customer, operator = pair
    await customer.send_op("scroll", {"x": 0, "y": 100})
    await customer.recv()
    assert (await operator.recv())["delivery"] == "others"
    await operator.send_op("highlight", {"id": 5})
    assert (await customer.recv())["delivery"] == "all"


async def test_concurrent_senders_get_one_gap_free_order(pair):
    session, customer, operator = pair
    n = 60

    async def burst(peer: Peer, kind: str) -> None:
        for i in range(n):
            await peer.send_op(kind, {"x": i, "y": i}, element="node:1")

    await asyncio.gather(burst(customer, "pointer"), burst(operator, "pointer"))
    # Each side sees, in seq order, its own acks and the other's ops: 2n frames for seqs 3..2n+2.
    for peer in (customer, operator):
        frames = [await peer.recv() for _ in range(2 * n)]
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(3, 2 * n + 3))
        acks = [f for f in frames if f["type"] == "ack"]
        assert len(acks) == n
        assert await peer.nothing()
    rows = await journal(session)
    assert [r.seq for r in rows] == list(range(1, 2 * n + 3))
    element_seqs = [r.element_seq for r in rows if r.element == "node:1"]
    assert element_seqs == list(range(1, 2 * n + 1))


@pytest.mark.parametrize("local", [True, False], ids=["local-handover", "doorbells-only"])
async def test_direct_writes_and_the_pump_keep_one_order(transactional_db, settings, local):
    """The production server lets the writer's hand-over write frames at once (the direct
    write of config/websocket.py) when the socket takes them without waiting, and declines
    while its buffer is full: then frames go through the connection's queue and the ASGI send
    waits until the buffer drains. Mixed, each participant still gets every frame once, in
    seq order. With doorbells only (every entry comes back through the channel layer, as from
    another process), whether a direct write happens at all depends on timing: the order is
    what is checked there."""
    from cobrowse.server_extensions import DIRECT_WRITE

    settings.COBROWSE_LOCAL_HANDOVER = local  # read when this test's loop creates its writer

    session = await sync_to_async(open_session)()
    user = await sync_to_async(make_operator)()
    customer = Peer(session, await sync_to_async(customer_cookie)(session))
    operator = Peer(session, await sync_to_async(operator_cookie)(user))
    calls = {"taken": 0, "declined": 0}
    loop = asyncio.get_running_loop()

    def like_the_server(peer: Peer) -> None:
        """The server's socket, as the consumer sees it: full now and then for 20 ms."""
        writable = asyncio.Event()
        writable.set()
        app = peer.comm.application

        def write_texts(texts: list[str]) -> bool:
            if writable.is_set() and (calls["taken"] + calls["declined"]) % 3 == 0:
                writable.clear()
                loop.call_later(0.02, writable.set)
            if not writable.is_set():
                calls["declined"] += 1
                return False
            calls["taken"] += 1
            for text in texts:  # where the ASGI send puts them: one stream, in write order
                peer.comm.output_queue.put_nowait({"type": "websocket.send", "text": text})
            return True

        async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
            async def send_when_writable(message: dict[str, Any]) -> None:
                if message["type"] == "websocket.send":
                    await writable.wait()
                await send(message)

            scope.setdefault("extensions", {})[DIRECT_WRITE] = {"write_texts": write_texts}
            await app(scope, receive, send_when_writable)

        peer.comm.application = application

    for peer in (customer, operator):
        like_the_server(peer)
    assert await customer.connect() and await operator.connect()
    assert (await customer.recv())["payload"]["action"] == "joined"
    n = 60

    async def burst(peer: Peer, kind: str) -> None:
        for i in range(n):
            await peer.send_op(kind, {"x": i, "y": i} if kind == "pointer" else {"text": str(i)})
            if i % 10 == 0:
                await asyncio.sleep(0.005)

    await asyncio.gather(burst(customer, "pointer"), burst(operator, "chat"))
    # The customer: its n acks, the operator's n chats. The operator: its n chats as ack and
    # op, the customer's n pointer moves.
    for peer, count in ((customer, 2 * n), (operator, 3 * n)):
        frames = [await peer.recv() for _ in range(count)]
        seqs = [(f["seq"], f["type"]) for f in frames]
        assert seqs == sorted(seqs, key=lambda s: (s[0], s[1] == "op")), seqs
        assert {s for s, _ in seqs} == set(range(3, 2 * n + 3))
        assert len(set(seqs)) == len(seqs)
        assert await peer.nothing()
    if local:  # both ways were taken
        assert calls["declined"] > 0 and calls["taken"] > 0, calls
    await customer.close()
    await operator.close()


async def test_rung_ranges_the_journal_cannot_give_yet_are_read_again(
    transactional_db, settings, monkeypatch
):
    """A process that is rung for another process's ops but cannot read them (the database
    down for a moment) keeps the ranges and reads them again after a pause: the op reaches its
    connections although nothing else happens in the session (no later op, no ping)."""
    from cobrowse import writer as writer_module

    settings.COBROWSE_LOCAL_HANDOVER = False  # every entry comes through a doorbell
    monkeypatch.setattr(writer_module, "RETRY_START", 0.05)
    down = 0  # reads still to fail
    tries = 0

    def trying() -> None:
        nonlocal down, tries
        tries += 1
        if down:
            down -= 1
            raise OSError("the database is down")

    read = writer_module.operations_in_ranges
    read_async = writer_module.operations_in_ranges_async

    def failing(*args: Any) -> Any:
        trying()
        return read(*args)

    async def failing_async(*args: Any) -> Any:
        trying()
        return await read_async(*args)

    monkeypatch.setattr(writer_module, "operations_in_ranges", failing)
    monkeypatch.setattr(writer_module, "operations_in_ranges_async", failing_async)
    warnings: list[str] = []
    monkeypatch.setattr(writer_module.logger, "warning", lambda msg, *a: warnings.append(msg % a))
    session = await sync_to_async(open_session)()
    user = await sync_to_async(make_operator)()
    customer = Peer(session, await sync_to_async(customer_cookie)(session))
    operator = Peer(session, await sync_to_async(operator_cookie)(user))
    assert await customer.connect() and await operator.connect()
    assert (await customer.recv())["payload"]["action"] == "joined"
    down, tries = 2, 0
    await customer.send_op("chat", {"text": "hello"})
    assert (await customer.recv(timeout=5))["type"] == "ack"
    frame = await operator.recv(timeout=5)
    assert frame["payload"]["text"] == "hello"
    assert down == 0 and tries >= 3  # both failures met, then read
    assert len([w for w in warnings if w.startswith("could not read rung ranges")]) == 1
    await customer.close()
    await operator.close()


async def test_a_gap_waits_briefly_for_the_doorbell_before_the_journal_is_read(pair, monkeypatch):
    """With a session's connections on several processes, a connection is often handed its own
    process's entries a moment before another process's doorbell brings the seqs before them.
    It holds them for that moment instead of reading the journal at once (a read per connection
    per batch overwhelmed the server); a gap that no doorbell fills is read from the journal
    once the grace is over. Either way every op arrives once, in seq order."""
    from cobrowse import delivery, selectors
    from cobrowse.models import Participant
    from cobrowse.sequencer import Submission, operations_append
    from cobrowse.writer import JournalWriter

    session, _customer, operator = pair
    reads: list[dict[str, Any]] = []
    read = selectors.operations_after

    def counting(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return read(**kwargs)

    monkeypatch.setattr(selectors, "operations_after", counting)
    # Long enough that a busy test machine cannot run out the grace while the test looks.
    monkeypatch.setattr(delivery, "GAP_GRACE_SECONDS", 30.0)
    customer = await sync_to_async(Participant.objects.get)(session=session, role="customer")
    op = await sync_to_async(Participant.objects.get)(session=session, role="operator")

    def journal_elsewhere(cid: str) -> Any:
        """An op journaled by another process: nothing here hands it over."""
        sub = Submission(customer.pk, "customer", cid, "chat", None, {"text": cid})
        (entry,) = operations_append(session_id=session.pk, batch=[sub]).entries
        return entry

    a, b, c, d, e = [await sync_to_async(journal_elsewhere)(cid) for cid in "abcde"]
    listeners = JournalWriter.get()._listeners[str(session.pk)]
    (listener,) = [x for x in listeners if x.participant_id == op.pk]

    listener.deliver_entries([b, c])  # seq a is still on its way
    assert await operator.nothing(timeout=0.1)
    listener.deliver_entries([a])  # the doorbell
    texts = [(await operator.recv())["payload"]["text"] for _ in range(3)]
    assert texts == ["a", "b", "c"] and reads == []

    monkeypatch.setattr(delivery, "GAP_GRACE_SECONDS", 0.05)
    listener.deliver_entries([e])  # d's doorbell never comes
    frames = [await operator.recv(timeout=5) for _ in range(2)]
    assert [f["payload"]["text"] for f in frames] == ["d", "e"]
    assert [f["seq"] for f in frames] == [d["seq"], e["seq"]]
    assert len(reads) == 1 and await operator.nothing()


async def test_element_seq_counts_per_element(pair):
    _, customer, operator = pair
    await customer.send_op("input", {"value": "a"}, element="field:name")
    await customer.send_op("input", {"value": "b"}, element="field:email")
    await customer.send_op("input", {"value": "ab"}, element="field:name")
    acks = [await customer.recv() for _ in range(3)]
    assert [a["element_seq"] for a in acks] == [1, 1, 2]
    ops = [await operator.recv() for _ in range(3)]
    assert [(o["element"], o["element_seq"]) for o in ops] == [
        ("field:name", 1),
        ("field:email", 1),
        ("field:name", 2),
    ]


# --- Idempotency and resume --------------------------------------------------------------------


async def test_resend_of_same_client_op_id_is_acked_with_first_seq(pair):
    session, customer, operator = pair
    cid = await customer.send_op("pointer", {"x": 1, "y": 1})
    first = await customer.recv()
    await customer.send_op("pointer", {"x": 1, "y": 1}, client_op_id=cid)
    second = await customer.recv()
    assert first == second == {"type": "ack", "client_op_id": cid, "seq": 3, "element_seq": None}
    assert (await operator.recv())["seq"] == 3
    assert await operator.nothing()
    assert len(await journal(session)) == 3


async def test_resume_after_disconnect_delivers_missed_ops_once(pair):
    session, customer, operator = pair
    await operator.send_op("chat", {"text": "before"})
    seen = (await operator.recv_until(lambda f: f["type"] == "op"))[-1]["seq"]
    await operator.close()
    for i in range(5):
        await customer.send_op("chat", {"text": f"missed {i}"})
    await customer.recv_until(lambda f: f.get("payload", {}).get("text") == "missed 4")

    back = Peer(session, operator.cookie, query=f"last_seq={seen}")
    assert await back.connect()
    assert back.welcome["position"] == seen
    frames = await back.recv_until(lambda f: f["type"] == "synced")
    texts = [f["payload"]["text"] for f in ops_of(frames)]
    assert texts == [f"missed {i}" for i in range(5)]
    assert frames[-1] == {"type": "synced", "head_seq": seen + 5}
    # Live delivery continues after the catch-up with no duplicate.
    await customer.send_op("chat", {"text": "live"})
    live = await back.recv()
    assert live["seq"] == seen + 6 and live["payload"]["text"] == "live"
    assert await back.nothing()
    await back.close()


async def test_resume_frame_replays_in_order_then_synced(pair):
    _session, customer, operator = pair
    for i in range(3):
        await customer.send_op("chat", {"text": str(i)})
    frames = await operator.recv_until(lambda f: f.get("payload", {}).get("text") == "2")
    assert [f["seq"] for f in frames] == [3, 4, 5]
    await operator.comm.send_json_to({"type": "resume", "last_seq": 3})
    replay = await operator.recv_until(lambda f: f["type"] == "synced")
    assert [f["seq"] for f in ops_of(replay)] == [4, 5]
    assert replay[-1]["head_seq"] == 5


async def test_resume_includes_own_ops_as_acks(pair):
    _, customer, _operator = pair
    own = await customer.send_op("pointer", {"x": 1, "y": 2})
    await customer.recv()
    await customer.comm.send_json_to({"type": "resume", "last_seq": 2})
    replay = await customer.recv_until(lambda f: f["type"] == "synced")
    assert replay[0] == {"type": "ack", "client_op_id": own, "seq": 3, "element_seq": None}


async def test_ping_answers_with_head(pair):
    _, customer, _ = pair
    await customer.comm.send_json_to({"type": "ping"})
    assert await customer.recv() == {"type": "pong", "head_seq": 2}


@pytest.mark.parametrize("first_to_close", ["older", "newer"], ids=["reload", "two-tabs"])
async def test_the_customer_is_present_until_their_last_connection_closes(pair, first_to_close):
    """Two connections of the customer: a reload, whose old page's socket closes after the new
    one joined, or two tabs, of which the newer closes first. Either way the customer is still
    present after the first close, and marked as left after the last."""
    session, customer, _operator = pair
    newer = Peer(session, customer.cookie)
    assert await newer.connect()
    first, last = (customer, newer) if first_to_close == "older" else (newer, customer)

    async def left_at() -> Any:
        row = await Participant.objects.aget(session=session, role="customer")
        return row.left_at

    await first.close()
    assert await left_at() is None
    await last.close()
    assert await left_at() is not None


async def test_a_session_ended_as_idle_reaches_its_connected_participants(pair):
    """`end_idle_sessions` journals from outside the server: with a channel layer shared with
    the server, its doorbell brings the end at once; without one, the next ping does."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer
    from django.utils import timezone

    from cobrowse.lifecycle import sessions_end_idle

    session, _customer, operator = pair
    later = timezone.now() + timedelta(minutes=1)  # everything open counts as idle
    ended = await sync_to_async(sessions_end_idle)(idle_since=later)
    assert ended == [(str(session.pk), session.code)]
    is_end = lambda f: f.get("kind") == "session" and f["payload"]["action"] == "end"  # noqa: E731
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        assert await operator.nothing(0.5)
        await operator.comm.send_json_to({"type": "ping"})
    frames = await operator.recv_until(is_end)
    assert frames[-1]["seq"] == 3 and frames[-1]["payload"] == {"action": "end", "reason": "idle"}


# --- Bad frames ----------------------------------------------------------------------------------


def op_json(kind: str, payload: Any = None, **extra: Any) -> str:
    frame = {"type": "op", "client_op_id": "x1", "kind": kind, "payload": payload, **extra}
    return orjson.dumps({k: v for k, v in frame.items() if v is not None}).decode()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "teleport"}', "bad_frame"),
        (op_json("chat"), "bad_frame"),
        (op_json("chat", {"text": "a"}, seq=9), "bad_frame"),
        (op_json("telepathy", {}), "unknown_kind"),
        (op_json("chat", {"text": 5}), "invalid_payload"),
        (op_json("chat", {"text": "a", "b": 1}), "invalid_payload"),
        (op_json("pointer", {"x": "1", "y": 2}), "invalid_payload"),
        (op_json("control", {"action": "request"}), "forbidden_kind"),
        ('{"type": "resume", "last_seq": -1}', "bad_frame"),
    ],
)
async def test_bad_frame_gets_error_and_connection_survives(pair, frame, code):
    session, customer, _operator = pair
    await customer.comm.send_to(text_data=frame)
    error = await customer.recv()
    assert error["type"] == "error" and error["code"] == code
    assert error["message"]
    cid = await customer.send_op("chat", {"text": "still here"})
    assert (await customer.recv())["client_op_id"] == cid
    assert [r.kind for r in await journal(session)] == ["session", "session", "chat"]


async def test_error_names_the_client_op_id(pair):
    _, customer, _ = pair
    await customer.send_op("chat", {"text": ""}, client_op_id="mine-1")
    error = await customer.recv()
    assert error["client_op_id"] == "mine-1" and error["code"] == "invalid_payload"


async def test_frame_over_the_size_limit_is_refused(pair, settings):
    settings.COBROWSE_MAX_FRAME_BYTES = 1024
    _, customer, _ = pair
    await customer.send_op("chat", {"text": "x" * 1500})
    assert (await customer.recv())["code"] == "too_large"
    await customer.send_op("chat", {"text": "small"})
    assert (await customer.recv())["type"] == "ack"


async def test_binary_frame_is_refused(pair):
    _, customer, _ = pair
    await customer.comm.send_to(bytes_data=b"\x00\xff")
    assert (await customer.recv())["code"] == "bad_json"


async def test_rate_limit_answers_rate_limited(pair, settings):
    _, _customer, _ = pair
    customer_consumer_limit = 5
    settings.COBROWSE_RATE_BURST = customer_consumer_limit
    settings.COBROWSE_RATE_PER_SECOND = 1
    # The bucket was made at connect time with the old limits: reconnect with the new ones.
    session = pair[0]
    peer = Peer(session, await sync_to_async(customer_cookie)(session))
    assert await peer.connect()
    for i in range(8):
        await peer.send_op("pointer", {"x": i, "y": i})
    frames = [await peer.recv() for _ in range(8)]
    assert [f["type"] for f in frames].count("ack") == 5
    assert {f["code"] for f in frames if f["type"] == "error"} == {"rate_limited"}
    await peer.close()


# --- Roles, control and the end of a session -----------------------------------------------------


async def test_observer_may_chat_but_not_point(pair):
    session, _customer, _operator = pair
    second = await sync_to_async(make_operator)()
    observer = Peer(session, await sync_to_async(operator_cookie)(second))
    assert await observer.connect()
    assert observer.welcome["role"] == "observer"
    await observer.send_op("pointer", {"x": 1, "y": 1})
    assert (await observer.recv())["code"] == "forbidden_kind"
    await observer.send_op("chat", {"text": "hi"})
    assert (await observer.recv())["type"] == "ack"
    await observer.close()


async def test_operator_needs_granted_control_to_type(pair):
    _, customer, operator = pair
    await operator.send_op("input", {"value": "x"}, element="field:name")
    assert (await operator.recv())["code"] == "control_required"
    await customer.send_op("control", {"action": "grant"})
    grant = (await operator.recv_until(lambda f: f["type"] == "op"))[-1]
    assert grant["payload"] == {"action": "grant", "participant": operator.welcome["participant"]}
    await operator.send_op("input", {"value": "x"}, element="field:name")
    assert (await operator.recv())["type"] == "ack"
    await customer.send_op("control", {"action": "revoke"})
    await operator.recv_until(lambda f: f.get("kind") == "control")
    await operator.send_op("click", {"id": 3})
    assert (await operator.recv())["code"] == "control_required"


async def test_customer_may_not_send_operator_actions(pair):
    _, customer, _ = pair
    await customer.send_op("control", {"action": "release"})
    assert (await customer.recv())["code"] == "forbidden_kind"


async def test_ended_session_refuses_ops_and_closes(pair):
    session, customer, operator = pair
    await customer.send_op("session", {"action": "end"})
    frames = await operator.recv_until(lambda f: f["type"] == "op")
    assert frames[-1]["payload"] == {"action": "end"}
    assert (await operator.comm.receive_output(timeout=5))["code"] == CloseCode.ENDED
    await sync_to_async(session.refresh_from_db)()
    assert session.status == "ended"
    assert await refusal(session, customer.cookie) == CloseCode.ENDED


async def test_full_snapshot_position_is_announced_to_late_joiners(pair):
    session, customer, _operator = pair
    await customer.send_op(
        "dom",
        {
            "events": [
                {"type": 4, "data": {}, "timestamp": 1},
                {"type": 2, "data": {"node": {}}, "timestamp": 1},
            ]
        },
    )
    await customer.send_op("dom", {"events": [{"type": 3, "data": {"source": 0}, "timestamp": 2}]})
    await customer.recv()
    await customer.recv()
    second = await sync_to_async(make_operator)()
    late = Peer(session, await sync_to_async(operator_cookie)(second))
    assert await late.connect()
    assert late.welcome["snapshot_seq"] == 3
    await late.close()


# --- Who may connect -----------------------------------------------------------------------------


async def refusal(session: Session, cookie: str | None, **kwargs: Any) -> int | bool | None:
    """The close code a refused connection got (None: the handshake itself was refused), or
    False when it was let in."""
    peer = Peer(session, cookie, **kwargs)
    if await peer.connect():
        await peer.close()
        return False
    return peer.close_code


async def test_anonymous_browser_is_refused(transactional_db):
    session = await sync_to_async(open_session)()
    assert await refusal(session, None) == CloseCode.FORBIDDEN
    assert await refusal(session, await sync_to_async(customer_cookie)(None)) == CloseCode.FORBIDDEN


async def test_customer_of_another_session_is_refused(transactional_db):
    mine, other = await sync_to_async(open_session)(), await sync_to_async(open_session)()
    assert await refusal(other, await sync_to_async(customer_cookie)(mine)) == CloseCode.FORBIDDEN
    assert await refusal(mine, await sync_to_async(customer_cookie)(mine)) is False


async def test_foreign_origin_is_refused_with_4403(transactional_db):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    assert await refusal(session, cookie, origin=b"https://evil.example") == 4403
    assert await refusal(session, cookie, origin=b"") == 4403


async def test_staff_without_permission_and_plain_users_are_refused(transactional_db):
    session = await sync_to_async(open_session)()
    no_perm = await sync_to_async(make_operator)(permission=False)
    not_staff = await sync_to_async(make_operator)(staff=False)
    assert (
        await refusal(session, await sync_to_async(operator_cookie)(no_perm)) == CloseCode.FORBIDDEN
    )
    assert (
        await refusal(session, await sync_to_async(operator_cookie)(not_staff))
        == CloseCode.FORBIDDEN
    )


async def test_unknown_session_id_is_refused(transactional_db):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    await sync_to_async(Session.objects.filter(pk=session.pk).delete)()
    assert await refusal(session, cookie) == CloseCode.FORBIDDEN


async def test_dom_ops_may_be_larger_than_other_frames(pair, settings):
    settings.COBROWSE_MAX_FRAME_BYTES = 1024
    _session, customer, operator = pair
    big = {"events": [{"type": 3, "data": {"source": 0, "texts": ["x" * 5000]}, "timestamp": 1}]}
    await customer.send_op("dom", big)
    assert (await customer.recv())["type"] == "ack"
    assert (await operator.recv())["kind"] == "dom"
    settings.COBROWSE_MAX_DOM_FRAME_BYTES = 2048
    await customer.send_op("dom", big)
    assert (await customer.recv())["code"] == "too_large"


async def test_from_snapshot_starts_a_late_joiner_at_the_newest_full_snapshot(pair):
    session, customer, _operator = pair
    snapshot = {
        "events": [{"type": 4, "data": {}, "timestamp": 1}, {"type": 2, "data": {}, "timestamp": 1}]
    }
    await customer.send_op("chat", {"text": "before the page"})
    await customer.send_op("dom", snapshot)
    await customer.send_op("pointer", {"x": 1, "y": 1})
    await customer.recv_until(lambda f: f["type"] == "ack" and f["seq"] == 5)
    second = await sync_to_async(make_operator)()
    late = Peer(session, await sync_to_async(operator_cookie)(second), query="from=snapshot")
    assert await late.connect()
    assert late.welcome["position"] == 3
    frames = await late.recv_until(lambda f: f["type"] == "synced")
    # The snapshot, what followed it, then the joiner's own arrival; not the chat before it.
    assert [(f["seq"], f["kind"]) for f in ops_of(frames)] == [
        (4, "dom"),
        (5, "pointer"),
        (6, "session"),
    ]
    await late.close()


async def test_help_desk_hears_when_a_session_is_claimed_and_ended(transactional_db):
    from channels.layers import get_channel_layer

    from cobrowse.lifecycle import SESSIONS_GROUP

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(SESSIONS_GROUP, channel)
    session = await sync_to_async(open_session)()
    customer = Peer(session, await sync_to_async(customer_cookie)(session))
    operator = Peer(
        session, await sync_to_async(operator_cookie)(await sync_to_async(make_operator)())
    )
    assert await customer.connect() and await operator.connect()
    claimed = await asyncio.wait_for(layer.receive(channel), 5)
    assert claimed == {"type": "sessions.changed", "session": str(session.pk), "status": "active"}
    await customer.send_op("session", {"action": "end"})
    ended = await asyncio.wait_for(layer.receive(channel), 5)
    assert ended["status"] == "ended"
    await customer.close()
    await operator.close()


async def test_participants_are_marked_left_and_back(pair):
    session, _customer, operator = pair
    await operator.close()
    left = await sync_to_async(lambda: session.participants.get(role="operator").left_at)()
    assert left is not None
    back = Peer(session, operator.cookie)
    assert await back.connect()
    assert back.welcome["participant"] == operator.welcome["participant"]
    assert await sync_to_async(lambda: session.participants.get(role="operator").left_at)() is None
    await back.close()


async def test_the_servers_own_join_op_comes_as_an_op_without_ack(transactional_db):
    session = await sync_to_async(open_session)()
    customer = Peer(session, await sync_to_async(customer_cookie)(session), query="last_seq=0")
    assert await customer.connect()
    frames = await customer.recv_until(lambda f: f["type"] == "synced")
    assert [f["type"] for f in frames] == ["op", "synced"]
    assert frames[0]["payload"]["action"] == "joined"
    await customer.close()


async def test_clients_may_not_use_the_servers_op_ids(pair):
    _, customer, _ = pair
    await customer.send_op("chat", {"text": "hi"}, client_op_id="server-joined-1")
    assert (await customer.recv())["code"] == "bad_frame"
