"""The statements behind one append of the journal writer (`sequencer.operations_append_many`).

The sequencer decides the order; this module only reads the heads it decides from and writes
what it decided, for every session of a batch at once, in as few round trips as the database
allows. SQL text is constants (or, for SQLite, built by small functions from placeholders);
every value is a bound parameter.

- PostgreSQL: set-based statements over arrays (a uuid array, or a JSON array of rows),
  parameters in binary (`%b`, `%(name)b`: text arrays in text format are quoted element by
  element, a cost that showed in profiles), sent in pipeline mode. On the journal writer's own
  connection (`AsyncTransaction`, from its event loop): BEGIN and the reads travel together,
  then the writes and the COMMIT: two round trips for any number of sessions and ops. When
  the writer decided from its copy of the heads: one statement, a transaction of its own,
  which locks the session rows and writes only if they still hold those heads
  (`write_if_heads`). On Django's connection (`read_heads`, `write`, inside the sequencer's
  `atomic`): three, the COMMIT being Django's.
- Elsewhere (SQLite, the embedded default): the same statements in portable SQL, one after
  the other (the IMMEDIATE transaction already holds the database write lock).

The ORM is not used here on purpose: its per-query cost was most of the time of a small batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import psycopg
from django.db import DatabaseError, connection

from .models import Operation, Participant, Session, Status

SESSION = Session._meta.db_table
OPERATION = Operation._meta.db_table
PARTICIPANT = Participant._meta.db_table

SessionHeads = dict[uuid.UUID, dict[str, Any]]
Known = dict[tuple[int, str], tuple[int, int | None]]
ElementHeads = dict[tuple[uuid.UUID, str], int]


@dataclass(frozen=True)
class HeadsQuery:
    sessions: set[uuid.UUID]
    client_ops: set[tuple[int, str]]  # (sender, client_op_id)
    elements: set[tuple[uuid.UUID, str]]  # (session, element)
    operators: set[uuid.UUID]  # sessions whose operator participants are needed


@dataclass(frozen=True)
class Heads:
    sessions: SessionHeads  # the locked rows; a session that does not exist is missing
    known: Known  # (sender, client_op_id) already journaled -> (seq, element_seq)
    elements: ElementHeads  # last element_seq of each (session, element)
    operators: dict[uuid.UUID, list[int]]  # operator participants, first joined first


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


def read_heads(query: HeadsQuery) -> Heads:
    """Lock the session rows (in order of id) and read their heads; then, under those locks,
    the (sender, client_op_id) pairs already journaled, the last element_seq of each
    (session, element), and the operators of the sessions that need them."""
    if connection.vendor == "postgresql":
        with connection.wrap_database_errors:  # psycopg's errors as Django's
            return _pg_read(query)
    return Heads(
        _lock(query.sessions),
        _known(query.client_ops),
        _element_heads(query.elements),
        _operators(query.operators),
    )


def write(*, rows: list[Row], heads: SessionHeads, received_at: datetime) -> None:
    """Insert `rows` and write the new head of every session in `heads` (whose rows this
    transaction has locked). A head with `ends` set also ends its session."""
    if connection.vendor == "postgresql":
        with connection.wrap_database_errors:
            _pg_write(rows, heads, received_at)
        return
    _insert(rows, received_at)
    _write_heads(heads, received_at)


def _state(
    status: str, head: int, head_hash: str, snapshot: int, control: int | None, sensitive: Any
) -> dict[str, Any]:
    return {
        "status": status,
        "head_seq": head,
        "head_hash": head_hash,
        "snapshot_seq": snapshot,
        "control_participant_id": control,
        # The rrweb node ids the masker remembers (SQLite hands JSON back as text).
        "sensitive_nodes": orjson.loads(sensitive)
        if isinstance(sensitive, str)
        else sensitive or [],
    }


# --- PostgreSQL ------------------------------------------------------------------------------

_PG_LOCK = f"""
    SELECT id, status, head_seq, head_hash, snapshot_seq, control_participant_id, sensitive_nodes
    FROM {SESSION} WHERE id = ANY(%b::uuid[]) ORDER BY id FOR UPDATE
"""
_PG_KNOWN = f"""
    SELECT o.sender_id, o.client_op_id, o.seq, o.element_seq
    FROM json_array_elements(%b::json) AS k
    JOIN {OPERATION} o ON o.sender_id = (k->>0)::bigint AND o.client_op_id = k->>1
"""
_PG_ELEMENTS = f"""
    SELECT k.session_id, k.element,
           (SELECT max(o.element_seq) FROM {OPERATION} o
            WHERE o.session_id = k.session_id AND o.element = k.element)
    FROM (SELECT (e->>0)::uuid AS session_id, e->>1 AS element
          FROM json_array_elements(%b::json) AS e) AS k
"""
_PG_OPERATORS = f"""
    SELECT session_id, id FROM {PARTICIPANT}
    WHERE session_id = ANY(%b::uuid[]) AND role = 'operator'
    ORDER BY joined_at, id
"""
# The write of an append, built from three clauses shared by its two forms below. Every row
# and every head are passed as one JSON array each (encoded by orjson in C; the payload goes in
# as the JSON it already is).
_PG_INSERT_ROWS = f"""
        INSERT INTO {OPERATION} (session_id, seq, kind, element, element_seq, delivery,
                                 sender_id, client_op_id, payload, hash, received_at)
        SELECT (r->>0)::uuid, (r->>1)::bigint, r->>2, r->>3, (r->>4)::bigint, r->>5,
               (r->>6)::bigint, r->>7, r->8, r->>9, %(received_at)b
        FROM jsonb_array_elements(%(rows)b::jsonb) AS r
"""
# The new head of a session, from one element `e` of the heads' JSON array.
_PG_NEW_HEAD_COLUMNS = """
               (e->>0)::uuid AS id, (e->>1)::bigint AS head_seq, e->>2 AS head_hash,
               (e->>3)::bigint AS snapshot_seq, (e->>4)::bigint AS control,
               (e->>5)::boolean AS ends, e->6 AS sensitive
"""
# Moves each session row to its new head (from the statement's `heads`).
_PG_MOVE_HEADS = f"""
        UPDATE {SESSION} AS s
        SET head_seq = h.head_seq, head_hash = h.head_hash, snapshot_seq = h.snapshot_seq,
            control_participant_id = h.control, sensitive_nodes = h.sensitive,
            status = CASE WHEN h.ends THEN %(ended)b ELSE s.status END,
            ended_at = CASE WHEN h.ends THEN %(received_at)b ELSE s.ended_at END
        FROM heads AS h
        WHERE s.id = h.id
"""

# Insert every row and move every head, under the row locks `read_heads` took in this
# transaction. Answers (rows inserted, heads moved).
_PG_WRITE = f"""
    WITH heads AS (
        SELECT {_PG_NEW_HEAD_COLUMNS}
        FROM jsonb_array_elements(%(heads)b::jsonb) AS e
    ), inserted AS ({_PG_INSERT_ROWS}        RETURNING 1
    ), moved AS ({_PG_MOVE_HEADS}        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved)
"""

# The same write for an append decided from the journal writer's own copy of the heads
# (`head_cache.HeadCache`), with no reads before. It is a transaction of its own (sent alone on
# a connection in autocommit mode), so it takes the locks itself, first: `locked` locks every
# session row, in order of id as `read_heads` does, so that two writers never wait for each
# other in a circle (`held` reads `locked` whole before anything is written: both writes wait
# for `held`). Another process may have appended meanwhile, or a connection ended or claimed a
# session: so the rows and the heads are written only if every session row, as it is once
# locked (a row that was locked by another transaction is read again as that one left it),
# still holds the heads the decision started from (the `was_` columns): all or nothing. A stale
# copy writes nothing, and the statement says so (`still` false); the caller then decides
# again from a read. (A resend of an op already journaled fails the INSERT on the unique
# (sender, client_op_id): nothing commits.) Answers (heads held, rows inserted, heads moved).
_PG_WRITE_IF_HEADS = f"""
    WITH heads AS MATERIALIZED (
        SELECT {_PG_NEW_HEAD_COLUMNS},
               (e->>7)::bigint AS was_seq, e->>8 AS was_hash, e->>9 AS was_status,
               (e->>10)::bigint AS was_control
        FROM jsonb_array_elements(%(heads)b::jsonb) AS e
    ), locked AS MATERIALIZED (
        SELECT s.head_seq = h.was_seq AND s.head_hash = h.was_hash AND s.status = h.was_status
               AND s.control_participant_id IS NOT DISTINCT FROM h.was_control AS unchanged
        FROM {SESSION} AS s JOIN heads AS h ON s.id = h.id
        ORDER BY s.id FOR UPDATE OF s
    ), held AS MATERIALIZED (
        SELECT count(*) = %(session_count)b AND coalesce(bool_and(unchanged), false) AS still
        FROM locked
    ), inserted AS ({_PG_INSERT_ROWS}        WHERE (SELECT still FROM held)
        RETURNING 1
    ), moved AS ({_PG_MOVE_HEADS}          AND (SELECT still FROM held)
        RETURNING 1
    )
    SELECT (SELECT still FROM held), (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved)
"""


class StaleHeads(Exception):
    """An append decided from the writer's copy of the heads wrote nothing: a session row no
    longer held the heads it was decided from."""


def _pg() -> psycopg.Connection[Any]:
    connection.ensure_connection()
    pg: psycopg.Connection[Any] = connection.connection
    return pg


def _pg_read_statements(query: HeadsQuery) -> list[tuple[str, list[Any]]]:
    """The reads of one append, in order: the lock first, so that the reads after it see
    every op that a writer holding these locks before us has committed. Reads with nothing to
    look up are left out (`_pg_heads` knows which by the query)."""
    statements: list[tuple[str, list[Any]]] = [
        (_PG_LOCK, [sorted(query.sessions)]),
        (_PG_KNOWN, [_json(sorted(query.client_ops))]),
    ]
    if query.elements:
        statements.append((_PG_ELEMENTS, [_json(sorted(query.elements))]))
    if query.operators:
        statements.append((_PG_OPERATORS, [sorted(query.operators)]))
    return statements


def _pg_heads(query: HeadsQuery, results: list[list[tuple[Any, ...]]]) -> Heads:
    locked, known, *rest = results
    elements = rest.pop(0) if query.elements else []
    operators = rest.pop(0) if query.operators else []
    by_session: dict[uuid.UUID, list[int]] = {}
    for session_id, participant_id in operators:
        by_session.setdefault(session_id, []).append(participant_id)
    return Heads(
        {row[0]: _state(*row[1:]) for row in locked},
        {(s, c): (seq, eseq) for s, c, seq, eseq in known},
        {(s, e): head for s, e, head in elements if head is not None},
        by_session,
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _pg_write_params(
    rows: list[Row],
    heads: SessionHeads,
    received_at: datetime,
    was: SessionHeads | None = None,
) -> dict[str, Any]:
    """The parameters of `_PG_WRITE`; with `was` (the heads the append was decided from, for
    every session in `heads`), those of `_PG_WRITE_IF_HEADS`."""

    def head(sid: uuid.UUID, h: dict[str, Any]) -> tuple[Any, ...]:
        new = (
            sid,
            h["head_seq"],
            h["head_hash"],
            h["snapshot_seq"],
            h["control_participant_id"],
            bool(h["ends"]),
            h["sensitive_nodes"],
        )
        if was is None:
            return new
        old = was[sid]
        return (
            *new,
            old["head_seq"],
            old["head_hash"],
            old["status"],
            old["control_participant_id"],
        )

    fragment = orjson.Fragment
    params = {
        "received_at": received_at,
        "rows": _json([(*row[:8], fragment(row.payload), row.hash) for row in rows]),
        "ended": Status.ENDED,
        "heads": _json([head(sid, h) for sid, h in heads.items()]),
    }
    if was is not None:
        params["session_count"] = len(heads)
    return params


def is_stale(error: BaseException) -> bool:
    """Whether an append decided from the writer's copy of the heads failed because the copy
    was out of date (or an op in it had been journaled already): decide again from a read."""
    return isinstance(error, StaleHeads | psycopg.errors.UniqueViolation)


def _check_written(rows: list[Row], heads: SessionHeads, counts: tuple[Any, ...] | None) -> None:
    inserted, moved = counts or (0, 0)
    if inserted != len(rows) or moved != len(heads):
        raise DatabaseError(f"wrote {inserted} of {len(rows)} ops, {moved} of {len(heads)} heads")


def _pg_read(query: HeadsQuery) -> Heads:
    pg = _pg()
    statements = _pg_read_statements(query)
    cursors = [psycopg.Cursor(pg) for _ in statements]
    with pg.pipeline():
        for cursor, (sql, params) in zip(cursors, statements, strict=True):
            cursor.execute(sql, params)
    return _pg_heads(query, [cursor.fetchall() for cursor in cursors])


def _pg_write(rows: list[Row], heads: SessionHeads, received_at: datetime) -> None:
    with psycopg.Cursor(_pg()) as cursor:
        cursor.execute(_PG_WRITE, _pg_write_params(rows, heads, received_at))
        _check_written(rows, heads, cursor.fetchone())


# Every statement of an append is a lookup by a key, driven by the batch: a few rows on one
# side, the journal (or the sessions) on the other, an index on the key. The writer prepares its
# statements once per connection, and PostgreSQL keeps the generic plan it made then; made while
# the journal was small (a new install), it hashes or merges the whole table and goes on doing
# so as the journal grows, until an ANALYZE happens to invalidate it (measured: the duplicate
# check took 0.9 ms a batch instead of 0.1 after 100,000 ops). So the writer's transactions
# allow only nested loops over index lookups, whatever the statistics said when a plan was made.
_PG_KEY_LOOKUPS_ONLY = (
    "SELECT set_config('enable_seqscan', 'off', true), "
    "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)"
)


# The same settings for the whole life of the journal writer's own connection, which runs
# nothing else: an append decided from the writer's copy of the heads is one statement, a
# transaction of its own, with no room for a SET LOCAL. Only with prepared statements: planned
# at every execution, a statement is planned for the journal as it is.
_PG_KEY_LOOKUPS_ALWAYS = (
    "SELECT set_config('enable_seqscan', 'off', false), "
    "set_config('enable_hashjoin', 'off', false), set_config('enable_mergejoin', 'off', false)"
)


async def prepare_writer_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """Set up a new connection of the journal writer (autocommit, prepared statements)."""
    await conn.execute(_PG_KEY_LOOKUPS_ALWAYS)


async def write_if_heads(
    conn: psycopg.AsyncConnection[Any],
    *,
    rows: list[Row],
    heads: SessionHeads,
    was: SessionHeads,
    received_at: datetime,
) -> None:
    """Lock the session rows in order of id, write (only if every row still holds its heads
    in `was`) and commit: one statement, one round trip, on a connection in autocommit mode.
    Raises `StaleHeads` when a row had moved on: then nothing was written. A statement that fails
    (a unique constraint) raises too, and leaves the connection ready for the next."""
    cursor = conn.cursor()
    await cursor.execute(_PG_WRITE_IF_HEADS, _pg_write_params(rows, heads, received_at, was))
    answer = await cursor.fetchone()
    if answer is None or not answer[0]:
        raise StaleHeads(f"a session row of {sorted(heads)} no longer holds the heads read")
    _check_written(rows, heads, answer[1:])


class AsyncTransaction:
    """One append's transaction on the journal writer's own connection (autocommit mode, so
    that BEGIN and COMMIT travel with the statements): `async with` it, `read_heads`, then
    `write_and_commit`. Leaving it any other way rolls back."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.done = False

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if not self.done and not self.conn.closed:
            try:
                await self.conn.execute("ROLLBACK")
            except psycopg.Error:
                await self.conn.close()  # in doubt: a new connection for the next append

    async def read_heads(self, query: HeadsQuery) -> Heads:
        statements = [("BEGIN", []), (_PG_KEY_LOOKUPS_ONLY, []), *_pg_read_statements(query)]
        cursors = [self.conn.cursor() for _ in statements]
        async with self.conn.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                await cursor.execute(sql, params)
        return _pg_heads(query, [await cursor.fetchall() for cursor in cursors[2:]])

    async def write_and_commit(
        self, *, rows: list[Row], heads: SessionHeads, received_at: datetime
    ) -> None:
        write, commit = self.conn.cursor(), self.conn.cursor()
        async with self.conn.pipeline():
            await write.execute(_PG_WRITE, _pg_write_params(rows, heads, received_at))
            await commit.execute("COMMIT")
        # The COMMIT went through: a failed statement would have raised above.
        self.done = True
        _check_written(rows, heads, await write.fetchone())


# --- Portable SQL (SQLite) -------------------------------------------------------------------


def _db_uuid(value: uuid.UUID) -> Any:
    return Session._meta.get_field("id").get_db_prep_value(value, connection)


def _db_datetime(value: datetime) -> Any:
    return Operation._meta.get_field("received_at").get_db_prep_value(value, connection)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _lock(sessions: set[uuid.UUID]) -> SessionHeads:
    ordered = sorted(sessions)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        "SELECT id, status, head_seq, head_hash, snapshot_seq, control_participant_id, "
        "sensitive_nodes "
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


def _operators(sessions: set[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    if not sessions:
        return {}
    ordered = sorted(sessions)
    sql = (
        f"SELECT session_id, id FROM {PARTICIPANT} WHERE session_id IN ({_marks(len(ordered))}) "
        "AND role = 'operator' ORDER BY joined_at, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_db_uuid(k) for k in ordered])
        found = cursor.fetchall()
    by_session: dict[uuid.UUID, list[int]] = {}
    for sid, participant_id in found:
        key = sid if isinstance(sid, uuid.UUID) else uuid.UUID(sid)
        by_session.setdefault(key, []).append(participant_id)
    return by_session


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


def _write_heads(heads: SessionHeads, received_at: datetime) -> None:
    ids = [_db_uuid(sid) for sid in heads]
    sets = []
    params: list[Any] = []
    for column in (
        "head_seq",
        "head_hash",
        "snapshot_seq",
        "control_participant_id",
        "sensitive_nodes",
    ):
        whens = []
        for db_id, state in zip(ids, heads.values(), strict=True):
            whens.append("WHEN %s THEN %s")
            value = state[column]
            params.extend((db_id, _json(value) if column == "sensitive_nodes" else value))
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
