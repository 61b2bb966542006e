"""The group commit: several sessions journaled in one transaction, the journal reads of
catch-up, and the per-process doorbell, on whichever database the run uses."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection

from cobrowse import selectors, sequencer
from cobrowse import writer as writer_module
from cobrowse.models import Operation, Participant, Session
from cobrowse.sequencer import (
    Accepted,
    Duplicate,
    Rejected,
    Submission,
    operations_append_many,
    operations_append_many_async,
)
from cobrowse.writer import JournalWriter
from tests.conftest import Peer, customer_cookie, open_session


def customer_of(session: Session) -> Participant:
    return sequencer.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant


def sub(p: Participant, cid: str, kind: str = "chat", **extra: Any) -> Submission:
    payload = extra.pop("payload", None) or {"text": cid}
    return Submission(p.pk, p.role, cid, kind, extra.pop("element", None), payload)


@pytest.mark.django_db
def test_one_append_numbers_each_of_several_sessions_gap_free() -> None:
    sessions = [open_session() for _ in range(3)]
    customers = [customer_of(s) for s in sessions]
    for round_ in range(2):
        results = operations_append_many(
            batches=[
                (s.pk, [sub(c, f"r{round_}-{i}", element="field:a") for i in range(4)])
                for s, c in zip(sessions, customers, strict=True)
            ]
        )
        for result in results:
            assert [o.entry["seq"] for o in result.outcomes if isinstance(o, Accepted)] == list(
                range(round_ * 4 + 1, round_ * 4 + 5)
            )
    for session in sessions:
        session.refresh_from_db()
        assert session.head_seq == 8
        rows = Operation.objects.filter(session=session).order_by("seq")
        assert [r.seq for r in rows] == list(range(1, 9))
        assert [r.element_seq for r in rows] == list(range(1, 9))
        assert rows.last().hash == session.head_hash  # type: ignore[union-attr]


@pytest.mark.django_db
def test_an_unknown_session_is_rejected_without_failing_the_others() -> None:
    session = open_session()
    customer = customer_of(session)
    known, unknown = operations_append_many(
        batches=[(session.pk, [sub(customer, "a")]), (uuid.uuid4(), [sub(customer, "b")])]
    )
    assert isinstance(known.outcomes[0], Accepted)
    assert unknown.outcomes == [Rejected("session_ended", "no such session")]


@pytest.mark.django_db
def test_resends_are_recognised_across_the_sessions_of_one_append() -> None:
    a, b = open_session(), open_session()
    ca, cb = customer_of(a), customer_of(b)
    first = operations_append_many(batches=[(a.pk, [sub(ca, "x")]), (b.pk, [sub(cb, "x")])])
    again = operations_append_many(batches=[(b.pk, [sub(cb, "x")]), (a.pk, [sub(ca, "x")])])
    seq_a = first[0].outcomes[0].entry["seq"]  # type: ignore[union-attr]
    seq_b = first[1].outcomes[0].entry["seq"]  # type: ignore[union-attr]
    assert again[0].outcomes == [Duplicate(seq_b, None)]
    assert again[1].outcomes == [Duplicate(seq_a, None)]
    assert Operation.objects.count() == 2


@pytest.mark.django_db
def test_ending_one_session_leaves_the_other_open() -> None:
    a, b = open_session(), open_session()
    ca, cb = customer_of(a), customer_of(b)
    operations_append_many(
        batches=[
            (a.pk, [sub(ca, "end", "session", payload={"action": "end"})]),
            (b.pk, [sub(cb, "hello")]),
        ]
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == "ended" and a.ended_at is not None
    assert b.status != "ended" and b.ended_at is None


@pytest.mark.django_db
def test_journal_reads_give_the_frames_the_live_path_sent() -> None:
    session = open_session()
    customer = customer_of(session)
    result = sequencer.operations_append(
        session_id=session.pk,
        batch=[
            sub(customer, "p", "pointer", payload={"x": 1795000000.123456, "y": 2.5, "id": 7}),
            sub(customer, "i", "input", payload={"value": 'é ✓ "q"'}, element="field:a"),
            sub(customer, "end", "session", payload={"action": "end"}),
        ],
    )
    live = [o.entry for o in result.outcomes if isinstance(o, Accepted)]
    read = selectors.operations_after(session_id=session.pk, seq=0)
    assert [orjson.loads(e["text"]) for e in read] == [orjson.loads(e["text"]) for e in live]
    assert [{**e, "text": None} for e in read] == [{**e, "text": None} for e in live]
    assert read[-1]["ends_session"] and not read[0]["ends_session"]
    assert [e["seq"] for e in selectors.operations_after(session_id=session.pk, seq=1, upto=2)] == [
        2
    ]


async def test_a_late_joiner_catches_up_a_long_journal_in_order(transactional_db: None) -> None:
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    subs = [sub(customer, f"c{i}") for i in range(4500)]  # more than two catch-up pages
    await sync_to_async(sequencer.operations_append)(session_id=session.pk, batch=subs)
    peer = Peer(session, await sync_to_async(customer_cookie)(session), query="last_seq=0")
    assert await peer.connect()
    frames = await peer.recv_until(lambda f: f["type"] == "synced", timeout=60)
    seqs = [f["seq"] for f in frames if f["type"] in ("ack", "op")]
    # ... and then its own arrival, journaled by the server when it connected.
    assert sorted(set(seqs)) == list(range(1, 4502))
    assert seqs == sorted(seqs)
    await peer.close()


pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer's own connection is PostgreSQL's"
)


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_a_failed_async_append_journals_nothing_and_the_connection_recovers() -> None:
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    await sync_to_async(sequencer.operations_append)(
        session_id=session.pk, batch=[sub(customer, "a")]
    )
    # Make the head lie, so that the next append collides with seq 1.
    await sync_to_async(Session.objects.filter(pk=session.pk).update)(head_seq=0)
    writer = JournalWriter.get()
    conn = await writer._pg_connection()
    with pytest.raises(psycopg.errors.UniqueViolation):
        await operations_append_many_async(conn=conn, batches=[(session.pk, [sub(customer, "b")])])
    assert await sync_to_async(Operation.objects.filter(session=session).count)() == 1
    await sync_to_async(Session.objects.filter(pk=session.pk).update)(head_seq=1)
    conn = await writer._pg_connection()
    (result,) = await operations_append_many_async(
        conn=conn, batches=[(session.pk, [sub(customer, "b")])]
    )
    assert [o.entry["seq"] for o in result.outcomes if isinstance(o, Accepted)] == [2]


async def test_an_unwritable_journal_answers_unavailable_and_closes(
    pair: tuple[Session, Peer, Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("the database went away")

    async def fail_async(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("the database went away")

    monkeypatch.setattr(writer_module, "operations_append_many", fail)
    monkeypatch.setattr(writer_module, "operations_append", fail)
    monkeypatch.setattr(writer_module, "operations_append_many_async", fail_async)
    _, customer, _ = pair
    cid = await customer.send_op("chat", {"text": "lost?"})
    error = await customer.recv()
    assert error["type"] == "error" and error["code"] == "unavailable"
    assert error["client_op_id"] == cid
    closed = await customer.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1013}
