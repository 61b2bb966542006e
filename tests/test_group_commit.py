"""The group commit: several sessions journaled in one transaction, the journal reads of
catch-up, and the per-process doorbell, on whichever database the run uses."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import orjson
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection
from django.utils import timezone

from cobrowse import lifecycle, selectors, sequencer
from cobrowse import writer as writer_module
from cobrowse.head_cache import HeadCache
from cobrowse.models import Operation, Participant, Session
from cobrowse.protocol import CloseCode
from cobrowse.sequencer import (
    Accepted,
    Duplicate,
    Rejected,
    Submission,
    operations_append_many,
    operations_append_many_async,
)
from cobrowse.writer import JournalWriter
from tests.conftest import Peer, customer_cookie, make_operator, open_session


def customer_of(session: Session) -> Participant:
    return lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant


def sub(p: Participant, cid: str, kind: str = "chat", **extra: Any) -> Submission:
    payload = extra.pop("payload", None) or {"text": cid}
    return Submission(p.pk, p.role, cid, kind, extra.pop("element", None), payload)


def stray_row(session: Session, sender: Participant, *, seq: int) -> Operation:
    """A journal row written behind the writer's back (its session's head does not know it)."""
    return Operation.objects.create(
        session=session,
        seq=seq,
        kind="chat",
        delivery="all",
        sender=sender,
        client_op_id=f"stray-{uuid.uuid4()}",
        payload={"text": "stray"},
        received_at=timezone.now(),
        hash="0" * 64,
    )


pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the writer's own connection is PostgreSQL's"
)


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
    # The doorbells' read: several sessions' ranges at once, the same entries.
    other = open_session()
    other_customer = customer_of(other)
    sequencer.operations_append(
        session_id=other.pk, batch=[sub(other_customer, f"o{i}") for i in range(5)]
    )
    found = selectors.operations_in_ranges({str(session.pk): (2, 3), str(other.pk): (3, 4)})
    assert [{**e, "text": None} for e in found[str(session.pk)]] == [
        {**e, "text": None} for e in live[1:]
    ]
    assert [e["seq"] for e in found[str(other.pk)]] == [3, 4]
    assert [orjson.loads(e["text"])["payload"] for e in found[str(other.pk)]] == [
        orjson.loads(e["text"])["payload"]
        for e in selectors.operations_after(session_id=other.pk, seq=2, upto=4)
    ]


@pytest.mark.django_db
def test_a_journal_page_names_each_sender_and_reads_past_a_hole_in_the_seqs() -> None:
    """A page is read by a window of seqs (the next `limit` after the position); a journal
    with a hole in it (rows removed behind the sequencer's back) still gives full pages in
    order, and each op names its own sender and role."""
    session = open_session()
    customer = customer_of(session)
    operator = lifecycle.participant_join(
        session_id=session.pk, user=make_operator(), owns_as_customer=False
    ).participant
    subs = [sub(customer if i % 3 else operator, f"h{i}") for i in range(12)]
    result = sequencer.operations_append(session_id=session.pk, batch=subs)
    live = {o.entry["seq"]: o.entry for o in result.outcomes if isinstance(o, Accepted)}
    head = max(live)
    Operation.objects.filter(session=session, seq__in=[4, 5, 6]).delete()

    page = selectors.operations_after(session_id=session.pk, seq=2, limit=4)
    assert [e["seq"] for e in page] == [3, 7, 8, 9]
    assert [orjson.loads(e["text"]) for e in page] == [
        orjson.loads(live[e["seq"]]["text"]) for e in page
    ]
    assert {orjson.loads(e["text"])["sender"]["role"] for e in page} == {"customer", "operator"}
    rest = selectors.operations_after(session_id=session.pk, seq=9, limit=100)
    assert [e["seq"] for e in rest] == list(range(10, head + 1))
    assert selectors.operations_after(session_id=session.pk, seq=head, limit=100) == []
    assert [e["seq"] for e in selectors.operations_after(session_id=session.pk, seq=2, upto=8)] == [
        3,
        7,
        8,
    ]


@pytest.mark.parametrize("batch", [False, True], ids=["frame-per-op", "batch"])
async def test_a_late_joiner_catches_up_a_long_journal_in_order(
    transactional_db: None, batch: bool
) -> None:
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    subs = [sub(customer, f"c{i}") for i in range(4500)]  # more than two catch-up pages
    await sync_to_async(sequencer.operations_append)(session_id=session.pk, batch=subs)
    query = "last_seq=0&batch=1" if batch else "last_seq=0"
    peer = Peer(session, await sync_to_async(customer_cookie)(session), query=query)
    assert await peer.connect()
    frames = await peer.recv_until(lambda f: f["type"] == "synced", timeout=60)
    # Its own chat ops (delivery all) come as ack then op, batched or not.
    assert [f["type"] for f in frames[:4]] == ["ack", "op", "ack", "op"]
    seqs = [f["seq"] for f in frames if f["type"] in ("ack", "op")]
    # ... and then its own arrival, journaled by the server when it connected.
    assert sorted(set(seqs)) == list(range(1, 4502))
    assert seqs == sorted(seqs)
    if batch:
        # 9,000 frames in a few batch frames of at most COBROWSE_BATCH_FRAME_BYTES.
        assert 0 < peer.batches < 20
    else:
        assert peer.batches == 0
    await peer.close()


async def test_batches_keep_to_their_size_and_a_larger_frame_goes_alone(
    transactional_db: None, settings: Any
) -> None:
    settings.COBROWSE_BATCH_FRAME_BYTES = 2000
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    big = "x" * 5000  # one op larger than a batch
    subs = [sub(customer, f"c{i}", "pointer", payload={"x": i, "y": 0}) for i in range(100)]
    subs.insert(50, sub(customer, "big", "chat", payload={"text": big[:2000]}))
    subs.insert(51, sub(customer, "big2", "chat", payload={"text": big[:1500] + "y" * 1000}))
    await sync_to_async(sequencer.operations_append)(session_id=session.pk, batch=subs)
    peer = Peer(session, await sync_to_async(customer_cookie)(session), query="last_seq=0&batch=1")
    assert await peer.connect()
    raw: list[str] = []
    while True:
        text = await peer.comm.receive_from(timeout=10)
        raw.append(text)
        if '"synced"' in text:
            break
    frames: list[dict[str, Any]] = []
    for text in raw:
        frame = orjson.loads(text)
        if frame["type"] == "batch":
            assert len(text) <= 2000 + 30, len(text)
            frames.extend(frame["frames"])
        else:
            frames.append(frame)
    singles = [orjson.loads(t) for t in raw if not t.startswith('{"type":"batch"')]
    # The two large ops went as frames of their own.
    alone = [f for f in singles if f["type"] == "op" and f["kind"] == "chat"]
    assert [len(f["payload"]["text"]) for f in alone] == [2000, 2500]
    assert [f["seq"] for f in frames if f["type"] in ("ack", "op")] == sorted(
        f["seq"] for f in frames if f["type"] in ("ack", "op")
    )
    assert len([f for f in frames if f["type"] == "ack"]) == 102
    await peer.close()


@pytest.mark.django_db(transaction=True)
async def test_answers_come_from_the_hand_over_in_batch_order_and_one_failing_spoils_none() -> None:
    """The consumer's ops are answered by a direct call from the batch's hand-over (no pass
    through the event loop per op): in the order submitted, and an answer that raises is
    logged, not passed on to the other ops of its batch."""
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    writer = JournalWriter.get()
    answered: list[tuple[str, Any]] = []
    done = asyncio.Event()

    def answer(cid: str) -> Any:
        def give(outcome: Any, error: BaseException | None) -> None:
            answered.append((cid, error or outcome))
            if cid == "b":
                raise RuntimeError("a bug in whoever asked")
            if len(answered) == 3:
                done.set()

        return give

    for cid in ("a", "b", "c"):
        writer.submit_answered(str(session.pk), sub(customer, cid), answer(cid))
    await asyncio.wait_for(done.wait(), 10)
    assert [cid for cid, _ in answered] == ["a", "b", "c"]
    assert all(isinstance(outcome, Accepted) for _, outcome in answered), answered
    assert [outcome.entry["seq"] for _, outcome in answered] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
async def test_a_batch_that_fails_is_tried_again_session_by_session() -> None:
    """On either database: when a batch's one transaction fails for another reason than the
    connection, each of its sessions is tried alone, so one session's bad op does not keep the
    other sessions' ops out of the journal."""
    good, bad = [await sync_to_async(open_session)() for _ in range(2)]
    customer = await sync_to_async(customer_of)(good)
    other = await sync_to_async(customer_of)(bad)
    # A row the bad session's head does not know (written behind the writer's back): the
    # writer's seq 1 for it breaks the unique (session, seq) and fails the transaction.
    await sync_to_async(stray_row)(bad, other, seq=1)
    writer = JournalWriter.get()
    submitted = [  # queued together: one batch
        writer.submit(str(bad.pk), sub(other, "g")),
        writer.submit(str(good.pk), sub(customer, "a")),
    ]
    failed, accepted = await asyncio.gather(*submitted, return_exceptions=True)
    assert isinstance(failed, DatabaseError | psycopg.Error), failed
    assert isinstance(accepted, Accepted) and accepted.entry["seq"] == 1, accepted
    assert writer.batches == 1 and writer.retries == 2  # one batch, each session alone again
    count = sync_to_async(lambda s: Operation.objects.filter(session=s).count())
    assert (await count(good), await count(bad)) == (1, 1)  # the stray row only


@pytest.mark.django_db(transaction=True)
async def test_the_writer_logs_its_batches_when_asked(settings: Any, caplog: Any) -> None:
    """COBROWSE_WRITER_STATS_SECONDS: a log line per period on what the writer journaled (how
    many batches and ops, how large, and where a batch's time went)."""
    settings.COBROWSE_WRITER_STATS_SECONDS = 0.3
    caplog.set_level("INFO", logger="cobrowse.writer.stats")
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    writer = JournalWriter.get()
    outcomes = await asyncio.gather(
        *(writer.submit(str(session.pk), sub(customer, f"s{i}")) for i in range(5))
    )
    assert all(isinstance(o, Accepted) for o in outcomes)

    def lines() -> list[Any]:
        return [r for r in caplog.records if r.name == "cobrowse.writer.stats"]

    for _ in range(40):
        if lines():
            break
        await asyncio.sleep(0.05)
    (per_second, ops_per_second, per_batch, largest, tried_again, _decide, waiting, _hand_over) = (
        lines()[0].args
    )
    assert round(ops_per_second * 0.3) == 5  # every op of the period, once
    assert 1 <= largest <= 5 and per_batch == pytest.approx(5 / round(per_second * 0.3))
    assert tried_again == 0
    assert waiting > 0
    assert "ops a batch" in lines()[0].getMessage()


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_a_batch_refused_as_stale_is_logged_as_one_batch_tried_again(
    settings: Any, caplog: Any
) -> None:
    """A batch decided from the writer's copy of the heads and refused because another
    process appended meanwhile is decided again from a read: the statistics count it once as
    a batch, and once as tried again."""
    settings.COBROWSE_WRITER_STATS_SECONDS = 0.2
    caplog.set_level("INFO", logger="cobrowse.writer.stats")
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    writer = JournalWriter.get()
    assert isinstance(await writer.submit(str(session.pk), sub(customer, "a")), Accepted)
    await sync_to_async(sequencer.operations_append)(  # another process: the copy is stale
        session_id=session.pk, batch=[sub(customer, "elsewhere")]
    )
    outcome = await writer.submit(str(session.pk), sub(customer, "b"))
    assert isinstance(outcome, Accepted) and outcome.entry["seq"] == 3

    def totals() -> tuple[int, int, int]:
        batches = ops = tried_again = 0
        for record in caplog.records:
            if record.name == "cobrowse.writer.stats":
                batches += round(record.args[0] * 0.2)
                ops += round(record.args[1] * 0.2)
                tried_again += record.args[4]
        return batches, ops, tried_again

    for _ in range(60):
        if totals()[1] == 2:
            break
        await asyncio.sleep(0.05)
    assert totals() == (2, 2, 1)


@pytest.mark.django_db(transaction=True)
async def test_doorbells_the_layer_refuses_are_kept_merged_and_rung_when_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the channel layer refuses doorbells (Redis down), the writer does not try again
    for every batch: it pauses between tries and keeps every batch's seq range, merged. When
    the layer is back, one doorbell tells other processes everything journaled meanwhile."""
    monkeypatch.setattr(writer_module, "RETRY_START", 0.05)
    warnings: list[str] = []
    monkeypatch.setattr(writer_module.logger, "warning", lambda msg, *a: warnings.append(msg % a))
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    writer = JournalWriter.get()
    up = asyncio.Event()
    tries = 0
    rung: list[dict[str, Any]] = []

    class Layer:
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            nonlocal tries
            tries += 1
            if not up.is_set():
                raise ConnectionError("Redis is down")
            assert message["type"] == writer_module.DOORBELL
            rung.append(message["ranges"])

    monkeypatch.setattr(writer, "_layer", Layer())
    for i in range(20):  # twenty batches, one op each
        await writer.submit(str(session.pk), sub(customer, f"op{i}"))
    assert 1 <= tries <= 10, tries  # not one per batch: twenty batches, a few pauses
    up.set()
    for _ in range(150):
        if rung:
            break
        await asyncio.sleep(0.02)
    assert rung == [{str(session.pk): (1, 20)}]
    assert len([w for w in warnings if w.startswith("doorbells failing")]) == 1
    assert "doorbells ring again" in warnings


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
    monkeypatch.setattr(writer_module, "operations_append_many_async", fail_async)
    _, customer, _ = pair
    cid = await customer.send_op("chat", {"text": "lost?"})
    error = await customer.recv()
    assert error["type"] == "error" and error["code"] == "unavailable"
    assert error["client_op_id"] == cid
    closed = await customer.comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CloseCode.TRY_AGAIN}


def _generic_plan(sql: str, types: list[str], settings: str) -> str:
    """The plan PostgreSQL keeps for `sql` once prepared (its generic plan), made under the
    writer's planner settings (`settings`: a statement run first in the same transaction)."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        # A named parameter keeps its number wherever it appears again; each `%b` is a new one.
        name = match.group(1) or f"#{len(numbers)}"
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    prepared = re.sub(r"%(?:\((\w+)\))?b", number, sql)
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            cursor.execute(settings)
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute(f"PREPARE writer_plan({', '.join(types)}) AS {prepared}")
            args = ", ".join("NULL" for _ in types)
            cursor.execute(f"EXPLAIN EXECUTE writer_plan({args})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("ROLLBACK")
            cursor.execute("DEALLOCATE ALL")  # PREPARE outlives the transaction


@pg_only
@pytest.mark.django_db(transaction=True)
def test_the_writers_plans_look_up_keys_even_when_made_on_an_empty_journal() -> None:
    """The writer prepares its statements once per connection and PostgreSQL keeps the plan
    it made then. Made on an empty (just analyzed) journal, a plan that hashes or scans the
    table would go on doing so as the journal grows; the writer's planner settings leave only
    index lookups."""
    from cobrowse import journal_sql

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {journal_sql.OPERATION}, {journal_sql.SESSION}")
    statements = {
        "known": (journal_sql._PG_KNOWN, ["json"]),
        "elements": (journal_sql._PG_ELEMENTS, ["json"]),
        "lock": (journal_sql._PG_LOCK, ["uuid[]"]),
        "write": (journal_sql._PG_WRITE, ["jsonb", "timestamptz", "jsonb", "text"]),
        "write if heads": (
            journal_sql._PG_WRITE_IF_HEADS,
            ["jsonb", "bigint", "timestamptz", "jsonb", "text"],
        ),
        "doorbell ranges": (
            selectors._PG_RANGES.replace("%s", "%b"),
            ["uuid[]", "bigint[]", "bigint[]"],
        ),
    }
    for name, (sql, types) in statements.items():
        # Statements that are transactions of their own run under the settings the writer
        # gave its connections; the others under their transaction's.
        settings = (
            journal_sql._PG_KEY_LOOKUPS_ALWAYS
            if name in ("write if heads", "doorbell ranges")
            else journal_sql._PG_KEY_LOOKUPS_ONLY
        )
        plan = _generic_plan(sql, types, settings)
        tables = [journal_sql.OPERATION, journal_sql.SESSION]
        scans = [line for line in plan.splitlines() if "Seq Scan" in line]
        assert not [s for s in scans if any(t in s for t in tables)], (name, plan)
        assert "Hash Join" not in plan and "Merge Join" not in plan, (name, plan)
    # Without those settings the same statement hashes the journal: the test sees the danger.
    plan = _generic_plan(journal_sql._PG_KNOWN, ["json"], "SELECT 1")
    assert "Seq Scan on cobrowse_operation" in plan, plan


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_the_writer_decides_from_its_cache_in_one_round_trip_and_rereads_when_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Appends decided from the writer's copy of the heads (no read before the writes) keep
    every promise of the two-round-trip append: gap-free seqs and a sound hash chain when
    another writer appended meanwhile, resends answered as duplicates, element seqs that
    continue, refusals that hold only if the session row says so."""
    from cobrowse import journal_sql
    from cobrowse.audit import journal_verify

    reads = 0
    read_heads = journal_sql.AsyncTransaction.read_heads

    async def counting(self: Any, query: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read_heads(self, query)

    monkeypatch.setattr(journal_sql.AsyncTransaction, "read_heads", counting)
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    user = await sync_to_async(make_operator)()
    operator = (
        await sync_to_async(lifecycle.participant_join)(
            session_id=session.pk, user=user, owns_as_customer=False
        )
    ).participant
    cache = HeadCache()
    conn = await JournalWriter.get()._pg_connection()

    async def append(*subs: Submission) -> list[Any]:
        (result,) = await operations_append_many_async(
            conn=conn, batches=[(session.pk, list(subs))], cache=cache
        )
        return result.outcomes

    def seqs(outcomes: list[Any]) -> list[int]:
        return [o.entry["seq"] for o in outcomes if isinstance(o, Accepted)]

    field = {"element": "field:a", "payload": {"value": "x"}}
    assert seqs(await append(sub(customer, "a"), sub(customer, "f1", "input", **field))) == [1, 2]
    assert reads == 1  # nothing cached yet: read, then write
    outcomes = await append(sub(customer, "b"), sub(customer, "f2", "input", **field))
    assert seqs(outcomes) == [3, 4] and outcomes[1].entry["element_seq"] == 2
    assert reads == 1  # decided from the cache: one round trip

    # Another writer (another process) appends: the cache is stale.
    await sync_to_async(sequencer.operations_append)(
        session_id=session.pk, batch=[sub(customer, "elsewhere", "input", **field)]
    )
    outcomes = await append(sub(customer, "c"), sub(customer, "f3", "input", **field))
    assert seqs(outcomes) == [6, 7] and outcomes[1].entry["element_seq"] == 4
    assert reads == 2  # the cached heads were refused; read again

    # A resend of an op already journaled: its first seq, journaled once.
    (duplicate,) = await append(sub(customer, "c"))
    assert duplicate == Duplicate(6, None)

    # The cache says nobody holds control; another writer has granted it meanwhile. The
    # operator's click is refused from the cache, but that refusal is checked like a write.
    assert seqs(await append(sub(customer, "d"))) == [8]
    await sync_to_async(sequencer.operations_append)(
        session_id=session.pk,
        batch=[Submission(customer.pk, "customer", "g", "control", None, {"action": "grant"})],
    )
    before = reads
    (clicked,) = await append(Submission(operator.pk, "operator", "o1", "click", None, {"id": 5}))
    assert isinstance(clicked, Accepted) and clicked.entry["seq"] == 10, clicked
    assert reads == before + 1

    count = await sync_to_async(Operation.objects.filter(session=session).count)()
    assert count == 10
    verified = await sync_to_async(journal_verify)(session_id=session.pk)
    assert verified.broken is None and verified.ops == 10, verified


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_a_write_from_the_cache_that_waited_for_a_row_lock_checks_what_was_committed() -> (
    None
):
    """The one-statement write checks the session rows as they are once it holds their locks:
    when another transaction held a row and changes it (here it grants control), the write
    that waited for it writes nothing and the batch is decided again from a read."""
    from cobrowse import journal_sql
    from cobrowse.audit import journal_verify

    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    cache = HeadCache()
    times = sequencer.AppendTimes()
    conn = await JournalWriter.get()._pg_connection()

    async def append(cid: str) -> Any:
        (result,) = await operations_append_many_async(
            conn=conn, batches=[(session.pk, [sub(customer, cid)])], cache=cache, times=times
        )
        return result.outcomes[0]

    assert (await append("a")).entry["seq"] == 1  # read, then cached
    params = writer_module._pg_connection_params()
    assert params is not None
    other = await psycopg.AsyncConnection.connect(**params)
    try:
        await other.execute(
            f"UPDATE {journal_sql.SESSION} SET control_participant_id = %s WHERE id = %s",
            [customer.pk, session.pk],
        )
        waiting = asyncio.ensure_future(append("b"))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the write waits for the row lock
        await other.commit()
        outcome = await asyncio.wait_for(waiting, 10)
    finally:
        await other.close()
    assert isinstance(outcome, Accepted) and outcome.entry["seq"] == 2, outcome
    assert times.stale_retries == 1  # refused after the wait, decided again from a read
    verified = await sync_to_async(journal_verify)(session_id=session.pk)
    assert verified.broken is None and verified.ops == 2, verified


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_a_commit_that_fails_in_a_one_statement_append_journals_nothing() -> None:
    """An append decided from the writer's copy is one statement, a transaction of its own:
    when it fails (here a row written behind the writer's back holds the seq it decided), it
    raises that error, journals nothing, and the connection takes the next append."""
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    cache = HeadCache()
    conn = await JournalWriter.get()._pg_connection()

    async def append(*subs: Submission) -> Any:
        (result,) = await operations_append_many_async(
            conn=conn, batches=[(session.pk, list(subs))], cache=cache
        )
        return result.outcomes

    assert [o.entry["seq"] for o in await append(sub(customer, "a"))] == [1]
    stray = await sync_to_async(stray_row)(session, customer, seq=3)
    with pytest.raises(psycopg.errors.UniqueViolation):
        await append(sub(customer, "b"), sub(customer, "c"))
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    await sync_to_async(stray.delete)()
    assert [o.entry["seq"] for o in await append(sub(customer, "b"))] == [2]

    def journaled() -> list[str]:
        ops = Operation.objects.filter(session=session).order_by("seq")
        return list(ops.values_list("client_op_id", flat=True))

    assert await sync_to_async(journaled)() == ["a", "b"]


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_a_session_another_writer_appends_to_is_decided_from_reads_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session whose connections are on several processes has several writers: decided
    from the cache, nearly every append would be refused and go again from a read. After one
    such refusal the session is decided from reads (two round trips, not three), and from the
    cache again once the other writer has been quiet for a while."""
    from cobrowse import journal_sql

    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    clock = [1000.0]  # the cache's clock, moved by the test: no race with a slow machine
    tries = 0
    write_if_heads = journal_sql.write_if_heads

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal tries
        tries += 1
        return await write_if_heads(*args, **kwargs)

    monkeypatch.setattr(journal_sql, "write_if_heads", counting)
    cache = HeadCache(clock=lambda: clock[0])
    conn = await JournalWriter.get()._pg_connection()

    async def append(cid: str) -> int:
        (result,) = await operations_append_many_async(
            conn=conn, batches=[(session.pk, [sub(customer, cid)])], cache=cache
        )
        (outcome,) = result.outcomes
        assert isinstance(outcome, Accepted), outcome
        return int(outcome.entry["seq"])

    async def elsewhere(cid: str) -> None:
        await sync_to_async(sequencer.operations_append)(
            session_id=session.pk, batch=[sub(customer, cid)]
        )

    assert [await append("a"), await append("b")] == [1, 2] and tries == 1
    await elsewhere("x")  # another writer: the next try from the cache is refused
    assert await append("c") == 4 and tries == 2
    for i in range(3):  # the other writer goes on: read, never refused
        await elsewhere(f"y{i}")
        await append(f"d{i}")
    assert tries == 2
    clock[0] += HeadCache.CONTENDED_SECONDS - 0.01
    await elsewhere("z")  # still within the window
    assert await append("e") == 12 and tries == 2
    clock[0] += 0.02  # and now quiet for longer than the window
    assert await append("f") == 13 and tries == 2  # read once more: remembered again
    assert await append("g") == 14 and tries == 3  # from the cache


OPS_PER_BATCH = 300


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_two_writers_deciding_from_their_caches_never_deadlock() -> None:
    """Two processes' writers append to the same two sessions at once, each batch naming them
    in the other order. Each locks the session rows in order of id before it writes, as the
    reads do, so neither waits for the other in a circle (PostgreSQL would abort one of them
    after a second)."""
    from cobrowse.audit import journal_verify

    sessions = [await sync_to_async(open_session)() for _ in range(2)]
    customers = [await sync_to_async(customer_of)(s) for s in sessions]
    params = writer_module._pg_connection_params()
    assert params is not None
    conns = [await psycopg.AsyncConnection.connect(**params, autocommit=True) for _ in range(2)]
    caches = [HeadCache(), HeadCache()]
    try:
        for round_ in range(12):

            def work(w: int, round_: int = round_) -> list[tuple[Any, list[Submission]]]:
                # Batches of a few hundred ops: long enough for the two to overlap.
                batches = [
                    (s.pk, [sub(c, f"w{w}-r{round_}-{i}") for i in range(OPS_PER_BATCH)])
                    for s, c in zip(sessions, customers, strict=True)
                ]
                return batches[::-1] if w else batches

            appends = (
                operations_append_many_async(conn=conns[w], batches=work(w), cache=caches[w])
                for w in range(2)
            )
            await asyncio.wait_for(asyncio.gather(*appends), 10)
    finally:
        for conn in conns:
            await conn.close()
    for session in sessions:
        verified = await sync_to_async(journal_verify)(session_id=session.pk)
        assert verified.broken is None and verified.ops == 24 * OPS_PER_BATCH, verified


@pytest.mark.django_db(transaction=True)
async def test_an_append_to_a_session_deleted_meanwhile_journals_nothing() -> None:
    """The journal has no foreign keys in the database (models.Operation): a session deleted
    after the writer cached its heads is refused, not written to, from the cache and from a
    read alike, and leaves no rows."""
    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    writer = JournalWriter.get()
    assert isinstance(await writer.submit(str(session.pk), sub(customer, "a")), Accepted)
    assert await sync_to_async(lifecycle.sessions_delete)(ids=[session.pk]) == 1
    outcome = await writer.submit(str(session.pk), sub(customer, "b"))
    assert isinstance(outcome, Rejected) and outcome.code == "session_ended", outcome
    count = sync_to_async(lambda: Operation.objects.filter(session_id=session.pk).count())
    assert await count() == 0


@pg_only
@pytest.mark.django_db(transaction=True)
async def test_deleting_a_session_waits_for_an_append_that_holds_its_row() -> None:
    """An append holds the session row's lock until it commits; deleting the session takes
    that lock first, so it waits, and then deletes the rows that append wrote too: none is
    left without its session."""
    from cobrowse import journal_sql

    session = await sync_to_async(open_session)()
    customer = await sync_to_async(customer_of)(session)
    params = writer_module._pg_connection_params()
    assert params is not None
    appending = await psycopg.AsyncConnection.connect(**params)
    try:
        # What an append does, held open: the row lock, then a journal row.
        await appending.execute(
            f"SELECT id FROM {journal_sql.SESSION} WHERE id = %s FOR UPDATE", [session.pk]
        )
        await appending.execute(
            f"INSERT INTO {journal_sql.OPERATION} (session_id, seq, kind, delivery, sender_id, "
            "client_op_id, payload, hash, received_at) "
            "VALUES (%s, 1, 'chat', 'all', %s, 'held', '{}', %s, now())",
            [session.pk, customer.pk, "0" * 64],
        )
        deleting = asyncio.ensure_future(
            sync_to_async(lifecycle.sessions_delete, thread_sensitive=False)(ids=[session.pk])
        )
        await asyncio.sleep(0.3)
        assert not deleting.done()  # waits for the append's lock
        await appending.commit()
        assert await asyncio.wait_for(deleting, 10) == 1  # the row the append committed
    finally:
        await appending.close()
    leftovers = sync_to_async(
        lambda: (
            Operation.objects.filter(session_id=session.pk).count()
            + Participant.objects.filter(session_id=session.pk).count()
        )
    )
    assert await leftovers() == 0
