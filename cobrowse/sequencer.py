"""Where the order is decided: every write to a session's journal goes through this module.

Guarantees (tested in tests/test_sequencer.py and tests/test_consumer.py):
- The ops of one session get seq 1, 2, 3, ... with no gap, in the order the server received them,
  also when several server processes write to one database: the head counter lives on the
  session row, which each append locks until its transaction commits.
- An op that names an element gets that element's next element_seq, under the same lock.
- The same client_op_id from the same participant is journaled once; a resend gets the first
  seq back (`Duplicate`).
- Whether an op may be journaled at all is `policy`'s decision (send rules, control), applied
  here under the same lock, so it follows the journal's order; so is the delivery attribute
  (`policy.DELIVERY`), never the client's. Sessions and participants come and go in
  `lifecycle`; reads of the journal are in `selectors`.
- Payloads are redacted (`masking.SessionMasker`, which also remembers the session's sensitive
  rrweb nodes) before they are hashed and stored; each row's hash chains over the previous
  row's, so any later change to the journal is detectable.
- Nothing is distributed from here: callers broadcast the returned entries after commit.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

import orjson
from django.db import transaction
from django.utils import timezone

from . import journal_sql, policy, protocol
from .journal_sql import Row
from .masking import SessionMasker
from .models import Status

if TYPE_CHECKING:
    import psycopg

    from .head_cache import HeadCache


class Entry(TypedDict):
    """A journaled op as it travels to the connections that deliver it (msgpack-safe)."""

    seq: int
    element_seq: int | None
    delivery: str
    sender_id: int
    client_op_id: str
    text: str  # the encoded `op` frame, encoded once for every recipient
    ends_session: bool


class Submission(NamedTuple):
    """One op for the journal. (Immutable records made once per op: a NamedTuple costs less
    than half of a frozen dataclass to make.)"""

    participant_id: int
    role: str
    client_op_id: str
    kind: str
    element: str | None
    payload: dict[str, Any]
    trusted: bool = False  # journaled by the server itself: no send policy applies


class Accepted(NamedTuple):
    entry: Entry


@dataclass(frozen=True)
class Duplicate:
    seq: int
    element_seq: int | None


@dataclass(frozen=True)
class Rejected:
    code: str
    message: str


Outcome = Accepted | Duplicate | Rejected


@dataclass
class AppendResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def entries(self) -> list[Entry]:
        return [o.entry for o in self.outcomes if isinstance(o, Accepted)]


def op_hash(
    *,
    prev_hash: str,
    session_id: uuid.UUID | str,
    seq: int,
    kind: str,
    element: str | None,
    element_seq: int | None,
    delivery: str,
    sender_id: int,
    client_op_id: str,
    payload: Any,
    received_at: datetime,
) -> str:
    """The chained hash of one journal row; `verify_journal` recomputes it."""
    return _chain(
        prev_hash,
        str(session_id),
        seq,
        kind,
        element,
        element_seq,
        delivery,
        sender_id,
        client_op_id,
        payload,
        received_at.isoformat(),
    )


def _chain(
    prev_hash: str,
    session_id: str,
    seq: int,
    kind: str,
    element: str | None,
    element_seq: int | None,
    delivery: str,
    sender_id: int,
    client_op_id: str,
    payload: Any,
    received_at: str,
) -> str:
    """`op_hash` with the session id and the time of receipt as text already (the same for
    every op of a session's batch): the sequencer's, once per op."""
    content = orjson.dumps(
        [
            session_id,
            seq,
            kind,
            element,
            element_seq,
            delivery,
            sender_id,
            client_op_id,
            payload,
            received_at,
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def _is_full_snapshot(kind: str, payload: dict[str, Any]) -> bool:
    # rrweb EventType.FullSnapshot == 2
    return kind == "dom" and any(
        isinstance(e, dict) and e.get("type") == 2 for e in payload.get("events", ())
    )


SessionBatch = tuple[uuid.UUID | str, Sequence[Submission]]


def operations_append(*, session_id: uuid.UUID | str, batch: Sequence[Submission]) -> AppendResult:
    """Journal `batch` (ops of one session, in order of receipt) and return one outcome per op.

    Runs inside one transaction and holds the session row lock from its first statement until
    commit (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the IMMEDIATE transaction holds the
    database write lock). Raises database errors: then nothing of the batch was journaled.
    """
    return operations_append_many(batches=[(session_id, batch)])[0]


def operations_append_many(*, batches: Sequence[SessionBatch]) -> list[AppendResult]:
    """Journal the batches of several sessions (each in order of receipt) in one transaction:
    one result per batch, one outcome per op.

    The group commit of the journal writer: whatever the number of sessions and ops, one
    transaction of a handful of statements (`journal_sql`: lock and read every session row,
    look up resends, read element heads; then insert every row and write every session's new
    head). The session rows are locked (SELECT ... FOR UPDATE, in order of id, so that two
    writers never deadlock) from the first statement until commit; on SQLite the IMMEDIATE
    transaction holds the database write lock. Raises database errors: then nothing of any
    batch was journaled.
    """
    plan = _Plan(batches)
    with transaction.atomic():
        plan.decide(journal_sql.read_heads(plan.query))
        if plan.rows:
            journal_sql.write(rows=plan.rows, heads=plan.changed, received_at=plan.received_at)
    return plan.results


@dataclass
class AppendTimes:
    """Where appends spent their time (the journal writer's statistics): deciding, in this
    process, against everything else (the database's answer, and the event loop's turn)."""

    decide_seconds: float = 0.0
    # Appends decided from the writer's copy of the heads that were refused as stale and
    # decided again from a read: one batch, tried twice.
    stale_retries: int = 0


async def operations_append_many_async(
    *,
    conn: psycopg.AsyncConnection[Any],
    batches: Sequence[SessionBatch],
    cache: HeadCache | None = None,
    times: AppendTimes | None = None,
) -> list[AppendResult]:
    """`operations_append_many` on the journal writer's own PostgreSQL connection, from its
    event loop: the same decisions under the same locks, in two round trips (BEGIN and the
    reads; the writes and COMMIT). Raises psycopg errors: then nothing was journaled.

    With the writer's `cache` of the heads, in one round trip when it can: the decisions are
    made from the cache and written (with the COMMIT) only if every session row of the batch
    still holds the heads they were made from (`journal_sql.write_if_heads`;
    the writes take the same row locks the reads would have). When one had moved on, nothing
    was written, and the append runs again from a read."""
    refused: journal_sql.SessionHeads | None = None  # the heads of a write refused as stale
    if cache is not None:
        plan = _Plan(batches)
        heads = cache.heads_for(plan.query)
        if heads is not None:
            was = {sid: dict(state) for sid, state in heads.sessions.items()}
            _decide(plan, heads, times)
            try:
                # Every session of the batch is checked and written, also one whose ops were
                # all refused: those refusals were decided from the cache too.
                await journal_sql.write_if_heads(
                    conn,
                    rows=plan.rows,
                    heads=heads.sessions,
                    was=was,
                    received_at=plan.received_at,
                )
            except Exception as exc:
                cache.forget(plan.query.sessions)  # in doubt: read next time
                if not journal_sql.is_stale(exc):
                    raise
                refused = was
                if times is not None:
                    times.stale_retries += 1
            else:
                cache.remember(heads.sessions, plan.element_heads)
                return plan.results
    plan = _Plan(batches)
    async with journal_sql.AsyncTransaction(conn) as tx:
        heads = await tx.read_heads(plan.query)
        if cache is not None and refused is not None:
            # Sessions another writer had moved on: decide them from a read for a while.
            cache.contend(
                sid
                for sid, state in heads.sessions.items()
                if sid in refused and state["head_seq"] != refused[sid]["head_seq"]
            )
        _decide(plan, heads, times)
        if plan.rows:
            await tx.write_and_commit(
                rows=plan.rows, heads=plan.changed, received_at=plan.received_at
            )
    if cache is not None:
        # What the read found, as the append left it (committed, or nothing to write).
        cache.remember(heads.sessions, plan.element_heads)
    return plan.results


def _decide(plan: _Plan, heads: journal_sql.Heads, times: AppendTimes | None) -> None:
    if times is None:
        plan.decide(heads)
        return
    started = time.perf_counter()
    plan.decide(heads)
    times.decide_seconds += time.perf_counter() - started


class _Plan:
    """One append: what to read, then (`decide`) every outcome, the rows and the new heads."""

    def __init__(self, batches: Sequence[SessionBatch]) -> None:
        self.batches = [(uuid.UUID(str(sid)), batch) for sid, batch in batches]
        self.received_at = timezone.now()
        self.results = [AppendResult() for _ in batches]
        self.rows: list[Row] = []
        self.changed: dict[uuid.UUID, dict[str, Any]] = {}
        self.element_heads: dict[tuple[uuid.UUID, str], int] = {}
        self.query = journal_sql.HeadsQuery(
            sessions={sid for sid, _ in self.batches},
            client_ops={(s.participant_id, s.client_op_id) for _, b in self.batches for s in b},
            elements={(sid, s.element) for sid, b in self.batches for s in b if s.element},
            # Sessions where a grant may need to know the session's operators.
            operators={
                sid
                for sid, b in self.batches
                for s in b
                if s.kind == "control" and s.payload.get("action") == "grant"
            },
        )

    def decide(self, heads: journal_sql.Heads) -> None:
        ts = int(self.received_at.timestamp() * 1000)
        # The element heads after this append (those it read, moved by the ops it accepts).
        self.element_heads = dict(heads.elements)
        for (session_id, batch), result in zip(self.batches, self.results, strict=True):
            state = heads.sessions.get(session_id)
            if state is None:
                result.outcomes = [Rejected("session_ended", "no such session")] * len(batch)
                continue
            appended = _append_session(
                session_id=session_id,
                state=state,
                batch=batch,
                known=heads.known,
                element_heads=self.element_heads,
                operators=heads.operators.get(session_id, []),
                received_at=self.received_at,
                ts=ts,
                result=result,
            )
            if appended:
                self.rows.extend(appended)
                self.changed[session_id] = state


def _append_session(
    *,
    session_id: uuid.UUID,
    state: dict[str, Any],
    batch: Sequence[Submission],
    known: dict[tuple[int, str], tuple[int, int | None]],
    element_heads: dict[tuple[uuid.UUID, str], int],
    operators: list[int],
    received_at: datetime,
    ts: int,
    result: AppendResult,
) -> list[Row]:
    """Decide the outcome of each op of one session's batch; `state` (the locked session row)
    is updated to the session's new head. `operators`: the session's operator participants,
    first joined first (read only when the batch grants control). Returns the rows to insert."""
    status: str = state["status"]
    head: int = state["head_seq"]
    head_hash: str = state["head_hash"]
    snapshot_seq: int = state["snapshot_seq"]
    control: int | None = state["control_participant_id"]
    masker = SessionMasker(state["sensitive_nodes"])
    rows: list[Row] = []
    # The same for every op of the batch: written once.
    session_text = str(session_id)
    received_text = received_at.isoformat()
    senders: dict[tuple[str, int], protocol.Sender] = {}

    for sub in batch:
        key = (sub.participant_id, sub.client_op_id)
        if key in known:
            result.outcomes.append(Duplicate(*known[key]))
            continue
        if status == Status.ENDED:
            result.outcomes.append(Rejected("session_ended", "the session has ended"))
            continue
        payload = sub.payload
        try:
            if not sub.trusted:
                policy.check_may_send(role=sub.role, kind=sub.kind, payload=payload)
                policy.check_control_held(
                    role=sub.role, kind=sub.kind, participant_id=sub.participant_id, control=control
                )
            # Session state changes carried by control and session ops.
            if sub.kind == "control":
                payload, control = policy.control_change(
                    payload=payload,
                    participant_id=sub.participant_id,
                    control=control,
                    operators=operators,
                )
        except policy.PolicyError as exc:
            result.outcomes.append(Rejected(exc.code, exc.message))
            continue
        ends = False
        if sub.kind == "session":
            action = payload.get("action")
            if action == "end":
                status = Status.ENDED
                control = None
                ends = True
            elif action == "handover":
                # Control does not follow a hand-over: the new operator asks the customer again.
                control = None

        payload = masker.redact(sub.kind, sub.element, payload)
        head += 1
        element_seq = None
        if sub.element is not None:
            element_seq = element_heads.get((session_id, sub.element), 0) + 1
            element_heads[(session_id, sub.element)] = element_seq
        delivery = policy.DELIVERY[sub.kind]
        head_hash = _chain(
            head_hash,
            session_text,
            head,
            sub.kind,
            sub.element,
            element_seq,
            delivery,
            sub.participant_id,
            sub.client_op_id,
            payload,
            received_text,
        )
        if _is_full_snapshot(sub.kind, payload):
            snapshot_seq = head
        # Encoded once: the row stores it, the op frame carries it as it is.
        payload_json = orjson.dumps(payload)
        rows.append(
            Row(
                session_id,
                head,
                sub.kind,
                sub.element,
                element_seq,
                delivery,
                sub.participant_id,
                sub.client_op_id,
                payload_json.decode(),
                head_hash,
            )
        )
        known[key] = (head, element_seq)
        sender = senders.get((sub.role, sub.participant_id))
        if sender is None:
            sender = senders[(sub.role, sub.participant_id)] = {
                "role": sub.role,
                "participant": sub.participant_id,
            }
        frame = protocol.op_frame(
            seq=head,
            kind=sub.kind,
            element=sub.element,
            element_seq=element_seq,
            delivery=delivery,
            sender=sender,
            payload=orjson.Fragment(payload_json),
            ts=ts,
        )
        entry: Entry = {  # a literal: a TypedDict called with keywords costs a dict(**kw) more
            "seq": head,
            "element_seq": element_seq,
            "delivery": delivery,
            "sender_id": sub.participant_id,
            "client_op_id": sub.client_op_id,
            "text": protocol.encode(frame),
            "ends_session": ends,
        }
        result.outcomes.append(Accepted(entry))

    state["ends"] = bool(rows) and status != state["status"]
    state.update(
        status=status,
        head_seq=head,
        head_hash=head_hash,
        snapshot_seq=snapshot_seq,
        control_participant_id=control,
    )
    if masker.changed:
        state["sensitive_nodes"] = masker.stored()
    return rows
