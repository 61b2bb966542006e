"""The statements behind one append of the journal writer (`sequencer.operations_append_many`).

The sequencer decides the order; this module only reads the heads it decides from and writes
what it decided, for every session of a batch at once, in as few round trips as the database
allows. It runs inside the sequencer's transaction.

- PostgreSQL: set-based statements over arrays (`unnest`), prepared once per connection, sent
  in pipeline mode: the reads (with the BEGIN) travel together, then the writes, then the
  COMMIT; three round trips for any number of sessions and ops.
- Elsewhere (SQLite, the embedded default): the same statements in portable SQL, one after
  the other (the IMMEDIATE transaction already holds the database write lock).

The ORM is not used here on purpose: its per-query cost was most of the time of a small batch.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from django.db import DatabaseError, connection

from .models import Operation, Session, Status

SESSION = Session._meta.db_table
OPERATION = Operation._meta.db_table

Heads = dict[uuid.UUID, dict[str, Any]]
Known = dict[tuple[int, str], tuple[int, int | None]]
ElementHeads = dict[tuple[uuid.UUID, str], int]


class Row(NamedTuple):
    """One journal row as the sequencer made it."""

    session_id: uuid.UUID
    seq: int
    kind: str
    element: str | None
    element_seq: int | None
    delivery: str
    sender_id: int
    client_op_id: str
    payload: str  # JSON text
    hash: str


def read_heads(
    *,
    sessions: set[uuid.UUID],
    client_ops: set[tuple[int, str]],
    elements: set[tuple[uuid.UUID, str]],
) -> tuple[Heads, Known, ElementHeads]:
    """Lock the session rows (in order of id) and read their heads; then, under those locks,
    the (sender, client_op_id) pairs already journaled, and the last element_seq of each
    (session, element). Sessions that do not exist are missing from the heads."""
    if connection.vendor == "postgresql":
        with connection.wrap_database_errors:  # psycopg's errors as Django's
            return _pg_read(sessions, client_ops, elements)
    return _lock(sessions), _known(client_ops), _element_heads(elements)


def write(*, rows: list[Row], heads: Heads, received_at: datetime) -> None:
    """Insert `rows` and write the new head of every session in `heads` (whose rows this
    transaction has locked). A head with `ends` set also ends its session."""
    if connection.vendor == "postgresql":
        with connection.wrap_database_errors:
            _pg_write(rows, heads, received_at)
        return
    _insert(rows, received_at)
    _write_heads(heads, received_at)


def _state(
    status: str, head: int, head_hash: str, snapshot: int, control: int | None
) -> dict[str, Any]:
    return {
        "status": status,
        "head_seq": head,
        "head_hash": head_hash,
        "snapshot_seq": snapshot,
        "control_participant_id": control,
    }


# --- PostgreSQL ------------------------------------------------------------------------------

_PG_LOCK = f"""
    SELECT id, status, head_seq, head_hash, snapshot_seq, control_participant_id
    FROM {SESSION} WHERE id = ANY(%s::uuid[]) ORDER BY id FOR UPDATE
"""
_PG_KNOWN = f"""
    SELECT o.sender_id, o.client_op_id, o.seq, o.element_seq
    FROM unnest(%s::bigint[], %s::text[]) AS k(sender_id, client_op_id)
    JOIN {OPERATION} o ON o.sender_id = k.sender_id AND o.client_op_id = k.client_op_id
"""
_PG_ELEMENTS = f"""
    SELECT k.session_id, k.element,
           (SELECT max(o.element_seq) FROM {OPERATION} o
            WHERE o.session_id = k.session_id AND o.element = k.element)
    FROM unnest(%s::uuid[], %s::text[]) AS k(session_id, element)
"""
_PG_INSERT = f"""
    INSERT INTO {OPERATION} (session_id, seq, kind, element, element_seq, delivery, sender_id,
                             client_op_id, payload, hash, received_at)
    SELECT r.session_id, r.seq, r.kind, r.element, r.element_seq, r.delivery, r.sender_id,
           r.client_op_id, r.payload::jsonb, r.hash, %s
    FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[],
                %s::bigint[], %s::text[], %s::text[], %s::text[])
         AS r(session_id, seq, kind, element, element_seq, delivery, sender_id, client_op_id,
              payload, hash)
"""
_PG_HEADS = f"""
    UPDATE {SESSION} AS s
    SET head_seq = h.head_seq, head_hash = h.head_hash, snapshot_seq = h.snapshot_seq,
        control_participant_id = h.control,
        status = CASE WHEN h.ends THEN %s ELSE s.status END,
        ended_at = CASE WHEN h.ends THEN %s ELSE s.ended_at END
    FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::boolean[])
         AS h(id, head_seq, head_hash, snapshot_seq, control, ends)
    WHERE s.id = h.id
"""


def _pg() -> psycopg.Connection[Any]:
    connection.ensure_connection()
    pg: psycopg.Connection[Any] = connection.connection
    return pg


def _pg_read(
    sessions: set[uuid.UUID], client_ops: set[tuple[int, str]], elements: set[tuple[uuid.UUID, str]]
) -> tuple[Heads, Known, ElementHeads]:
    pg = _pg()
    lock, known, heads = psycopg.Cursor(pg), psycopg.Cursor(pg), psycopg.Cursor(pg)
    ops = sorted(client_ops)
    pairs = sorted(elements)
    # Sent together; PostgreSQL runs them in order, so the reads after the lock see every
    # op that a writer holding these locks before us has committed.
    with pg.pipeline():
        lock.execute(_PG_LOCK, [sorted(sessions)], prepare=True)
        if ops:
            known.execute(_PG_KNOWN, [[s for s, _ in ops], [c for _, c in ops]], prepare=True)
        if pairs:
            heads.execute(
                _PG_ELEMENTS, [[s for s, _ in pairs], [e for _, e in pairs]], prepare=True
            )
    states = {row[0]: _state(*row[1:]) for row in lock.fetchall()}
    found = {(s, c): (seq, eseq) for s, c, seq, eseq in known.fetchall()} if ops else {}
    element_heads = (
        {(s, e): head for s, e, head in heads.fetchall() if head is not None} if pairs else {}
    )
    return states, found, element_heads


def _pg_write(rows: list[Row], heads: Heads, received_at: datetime) -> None:
    pg = _pg()
    insert, update = psycopg.Cursor(pg), psycopg.Cursor(pg)
    columns = [list(column) for column in zip(*rows, strict=True)]
    ids = list(heads)
    states = [heads[i] for i in ids]
    with pg.pipeline():
        insert.execute(_PG_INSERT, [received_at, *columns], prepare=True)
        update.execute(
            _PG_HEADS,
            [
                Status.ENDED,
                received_at,
                ids,
                [s["head_seq"] for s in states],
                [s["head_hash"] for s in states],
                [s["snapshot_seq"] for s in states],
                [s["control_participant_id"] for s in states],
                [bool(s["ends"]) for s in states],
            ],
            prepare=True,
        )
    if insert.rowcount != len(rows) or update.rowcount != len(ids):
        raise DatabaseError(
            f"wrote {insert.rowcount} of {len(rows)} ops, {update.rowcount} of {len(ids)} heads"
        )


# --- Portable SQL (SQLite) -------------------------------------------------------------------


def _db_uuid(value: uuid.UUID) -> Any:
    return Session._meta.get_field("id").get_db_prep_value(value, connection)


def _db_datetime(value: datetime) -> Any:
    return Operation._meta.get_field("received_at").get_db_prep_value(value, connection)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _lock(sessions: set[uuid.UUID]) -> Heads:
    ordered = sorted(sessions)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        "SELECT id, status, head_seq, head_hash, snapshot_seq, control_participant_id "
        f"FROM {SESSION} WHERE id IN ({_marks(len(ordered))}) ORDER BY id{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_db_uuid(k) for k in ordered])
        found = cursor.fetchall()
    return {
        (sid if isinstance(sid, uuid.UUID) else uuid.UUID(sid)): _state(*rest)
        for sid, *rest in found
    }


def _known(client_ops: set[tuple[int, str]]) -> Known:
    if not client_ops:
        return {}
    senders = sorted({s for s, _ in client_ops})
    ids = sorted({c for _, c in client_ops})
    sql = (
        f"SELECT sender_id, client_op_id, seq, element_seq FROM {OPERATION} "
        f"WHERE sender_id IN ({_marks(len(senders))}) AND client_op_id IN ({_marks(len(ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*senders, *ids])
        found = cursor.fetchall()
    return {(s, c): (seq, eseq) for s, c, seq, eseq in found if (s, c) in client_ops}


def _element_heads(elements: set[tuple[uuid.UUID, str]]) -> ElementHeads:
    if not elements:
        return {}
    probes = []
    params: list[Any] = []
    for session_id, element in elements:
        probes.append(
            f"SELECT %s, %s, (SELECT MAX(element_seq) FROM {OPERATION} "
            "WHERE session_id = %s AND element = %s)"
        )
        params.extend((str(session_id), element, _db_uuid(session_id), element))
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(probes), params)
        return {
            (uuid.UUID(sid), element): head
            for sid, element, head in cursor.fetchall()
            if head is not None
        }


_INSERT_CHUNK = 80  # 11 parameters a row, under SQLite's historical limit of 999


def _insert(rows: list[Row], received_at: datetime) -> None:
    at = _db_datetime(received_at)
    ids: dict[uuid.UUID, Any] = {}
    params: list[Any] = []
    for row in rows:
        db_id = ids.get(row.session_id)
        if db_id is None:
            db_id = ids[row.session_id] = _db_uuid(row.session_id)
        params.append((db_id, *row[1:], at))
    head = (
        f"INSERT INTO {OPERATION} (session_id, seq, kind, element, element_seq, delivery, "
        "sender_id, client_op_id, payload, hash, received_at) VALUES "
    )
    with connection.cursor() as cursor:
        for start in range(0, len(params), _INSERT_CHUNK):
            chunk = params[start : start + _INSERT_CHUNK]
            values = ", ".join([f"({_marks(11)})"] * len(chunk))
            cursor.execute(head + values, [value for row in chunk for value in row])


def _write_heads(heads: Heads, received_at: datetime) -> None:
    ids = [_db_uuid(sid) for sid in heads]
    sets = []
    params: list[Any] = []
    for column in ("head_seq", "head_hash", "snapshot_seq", "control_participant_id"):
        whens = []
        for db_id, state in zip(ids, heads.values(), strict=True):
            whens.append("WHEN %s THEN %s")
            params.extend((db_id, state[column]))
        sets.append(f"{column} = CASE id {' '.join(whens)} ELSE {column} END")
    ended = [db_id for db_id, state in zip(ids, heads.values(), strict=True) if state["ends"]]
    if ended:
        sets.append(f"status = CASE WHEN id IN ({_marks(len(ended))}) THEN %s ELSE status END")
        sets.append(f"ended_at = CASE WHEN id IN ({_marks(len(ended))}) THEN %s ELSE ended_at END")
        params.extend((*ended, Status.ENDED, *ended, _db_datetime(received_at)))
    params.extend(ids)
    sql = f"UPDATE {SESSION} SET {', '.join(sets)} WHERE id IN ({_marks(len(ids))})"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != len(ids):
            raise DatabaseError(f"wrote {cursor.rowcount} session heads of {len(ids)}")
