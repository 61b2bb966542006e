"""Reads of the journal and of session state. Nothing here writes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
import psycopg
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest

from . import protocol
from .models import Operation, Participant, Role, Session, Status
from .sequencer import Entry


def operations_after(
    *, session_id: uuid.UUID | str, seq: int, upto: int | None = None, limit: int = 500
) -> list[Entry]:
    """Journaled ops with `seq < op.seq <= upto`, in seq order, at most `limit` of them,
    as the same entries the live path distributes."""
    if connection.vendor == "postgresql":
        return _pg_operations_after(session_id, seq, upto, limit)
    rows = Operation.objects.filter(session_id=session_id, seq__gt=seq)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    values = rows.order_by("seq").values_list(
        "seq",
        "kind",
        "element",
        "element_seq",
        "delivery",
        "sender_id",
        "sender__role",
        "client_op_id",
        "payload",
        "received_at",
    )[:limit]
    return [
        _entry(
            seq=seq_,
            kind=kind,
            element=element,
            element_seq=element_seq,
            delivery=delivery,
            sender_id=sender_id,
            role=role,
            client_op_id=cid,
            payload=payload,
            ts=int(at.timestamp() * 1000),
            ends_session=kind == "session" and payload.get("action") == "end",
        )
        for seq_, kind, element, element_seq, delivery, sender_id, role, cid, payload, at in values
    ]


def _entry(
    *,
    seq: int,
    kind: str,
    element: str | None,
    element_seq: int | None,
    delivery: str,
    sender_id: int,
    role: str,
    client_op_id: str,
    payload: Any,
    ts: int,
    ends_session: bool,
) -> Entry:
    """A journal row as the entry the live path distributes (its op frame encoded once)."""
    frame = protocol.op_frame(
        seq=seq,
        kind=kind,
        element=element,
        element_seq=element_seq,
        delivery=delivery,
        sender={"role": role, "participant": sender_id},
        payload=payload,
        ts=ts,
    )
    return Entry(
        seq=seq,
        element_seq=element_seq,
        delivery=delivery,
        sender_id=sender_id,
        client_op_id=client_op_id,
        text=protocol.encode(frame),
        ends_session=ends_session,
    )


# A page of ops along the (session, seq) index, bounded above by the page's last possible seq
# as well as by LIMIT: a session's seqs follow one another, so the window holds the page. With
# LIMIT alone PostgreSQL, whose statistics lag behind a journal that grows by thousands of ops
# a minute, expected a few hundred rows after `seq`, read every op after it (30,000 for a late
# joiner of a 50,000-op journal) and sorted them to keep 2,000.
# PostgreSQL writes each op frame too, around its sender (`protocol.op_frame`'s fields in its
# order, the payload's stored JSON text spliced in, `ts` by the read path's float arithmetic
# below): the JSON the live path sends, made on the database's core rather than in the
# server's one thread. The sender, `{"role": ..., "participant": ...}`, is encoded once a
# page for each of its few senders, whose roles are read apart rather than joined to each row.
_PG_PAGE = f"""
    SELECT seq, element_seq, delivery, sender_id, client_op_id,
           concat('{{"type":"op","seq":', seq, ',"kind":', to_json(kind),
                  ',"element":', coalesce(to_json(element)::text, 'null'),
                  ',"element_seq":', coalesce(element_seq::text, 'null'),
                  ',"delivery":', to_json(delivery), ',"sender":'),
           concat(',"payload":', payload::text, ',"ts":',
                  trunc((extract(epoch FROM received_at) * 1000000)::bigint::float8
                        / 1000000::float8 * 1000::float8)::bigint, '}}'),
           coalesce(kind = 'session' AND payload->>'action' = 'end', false)
    FROM {Operation._meta.db_table}
    WHERE session_id = %s AND seq > %s AND seq <= %s
    ORDER BY seq
    LIMIT %s
"""
_PG_ROLES = f"SELECT id, role FROM {Participant._meta.db_table} WHERE id = ANY(%s)"


def _pg_operations_after(
    session_id: uuid.UUID | str, seq: int, upto: int | None, limit: int
) -> list[Entry]:
    """The catch-up read on PostgreSQL: the frames the live path sends (the same JSON, the
    same `ts` as `int(received_at.timestamp() * 1000)` from the exact microseconds), written
    by the database around the payload's stored text, never decoded and encoded again."""
    session = uuid.UUID(str(session_id))
    last = upto if upto is not None else 2**62
    window = min(last, seq + limit)
    with connection.cursor() as cursor:
        cursor.execute(_PG_PAGE, [session, seq, window, limit])
        rows = cursor.fetchall()
        if len(rows) < limit and window < last:
            # Past the journal's head, or a hole in it (the sequencer leaves none): the rest
            # of the page from after the window, unbounded.
            cursor.execute(_PG_PAGE, [session, window, last, limit - len(rows)])
            rows += cursor.fetchall()
        if not rows:
            return []
        cursor.execute(_PG_ROLES, [list({row[3] for row in rows})])
        senders = {
            sender_id: orjson.dumps({"role": role, "participant": sender_id}).decode()
            for sender_id, role in cursor.fetchall()
        }
    return [
        Entry(
            seq=seq,
            element_seq=element_seq,
            delivery=delivery,
            sender_id=sender_id,
            client_op_id=cid,
            text=head + senders[sender_id] + tail,
            ends_session=ends,
        )
        for seq, element_seq, delivery, sender_id, cid, head, tail, ends in rows
    ]


def _pg_entry(row: tuple[Any, ...]) -> Entry:
    seq, kind, element, element_seq, delivery, sender_id, role, cid, payload, us, ends = row
    return _entry(
        seq=seq,
        kind=kind,
        element=element,
        element_seq=element_seq,
        delivery=delivery,
        sender_id=sender_id,
        role=role,
        client_op_id=cid,
        payload=orjson.Fragment(payload),
        ts=int(us / 1_000_000 * 1000),
        ends_session=ends,
    )


# Every session's range in one statement (the doorbells of other processes, read together).
_PG_RANGES = f"""
    SELECT o.session_id, o.seq, o.kind, o.element, o.element_seq, o.delivery, o.sender_id,
           p.role, o.client_op_id, o.payload::text,
           (extract(epoch FROM o.received_at) * 1000000)::bigint,
           coalesce(o.kind = 'session' AND o.payload->>'action' = 'end', false)
    FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS r(session_id, first, last)
    JOIN {Operation._meta.db_table} o
      ON o.session_id = r.session_id AND o.seq >= r.first AND o.seq <= r.last
    JOIN {Participant._meta.db_table} p ON p.id = o.sender_id
    ORDER BY o.session_id, o.seq
"""


def operations_in_ranges(ranges: dict[str, tuple[int, int]]) -> dict[str, list[Entry]]:
    """The journaled entries of each session's seq range, first and last included, in seq
    order: on PostgreSQL in one statement, however many sessions."""
    if connection.vendor != "postgresql":
        return {
            sid: operations_after(session_id=sid, seq=first - 1, upto=last, limit=last - first + 1)
            for sid, (first, last) in ranges.items()
        }
    if not ranges:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_PG_RANGES, _ranges_params(ranges))
        return _ranges_found(ranges, cursor.fetchall())


async def operations_in_ranges_async(
    conn: psycopg.AsyncConnection[Any], ranges: dict[str, tuple[int, int]]
) -> dict[str, list[Entry]]:
    """`operations_in_ranges` on a PostgreSQL connection of the caller's event loop (the
    journal writer's doorbell reader: no hop to the sync thread per read)."""
    if not ranges:
        return {}
    cursor = conn.cursor()
    await cursor.execute(_PG_RANGES, _ranges_params(ranges))
    return _ranges_found(ranges, await cursor.fetchall())


def _ranges_params(ranges: dict[str, tuple[int, int]]) -> list[Any]:
    return [
        [uuid.UUID(sid) for sid in ranges],
        [first for first, _ in ranges.values()],
        [last for _, last in ranges.values()],
    ]


def _ranges_found(
    ranges: dict[str, tuple[int, int]], rows: list[tuple[Any, ...]]
) -> dict[str, list[Entry]]:
    found: dict[str, list[Entry]] = {sid: [] for sid in ranges}
    for row in rows:
        found[str(row[0])].append(_pg_entry(row[1:]))
    return found


def session_head(*, session_id: uuid.UUID | str) -> int:
    head = Session.objects.filter(pk=session_id).values_list("head_seq", flat=True).first()
    return int(head or 0)


def sessions_idle_since(*, cutoff: datetime) -> QuerySet[Session]:
    """Open sessions with no activity (created, started, an op journaled) since `cutoff`."""
    return (
        Session.objects.exclude(status=Status.ENDED)
        .annotate(
            last_activity=Greatest(
                "created_at",
                Coalesce("started_at", "created_at"),
                Coalesce(Max("operations__received_at"), "created_at"),
            )
        )
        .filter(last_activity__lt=cutoff)
    )


def sessions_abandoned_since(*, cutoff: datetime) -> QuerySet[Session]:
    """Open sessions whose customer has had no connection since `cutoff`: their last one closed
    before it (a connection open now clears `left_at`), or they never connected to a session
    created before it."""
    customers = Participant.objects.filter(session=OuterRef("pk"), role=Role.CUSTOMER)
    return Session.objects.exclude(status=Status.ENDED).filter(
        Q(~Exists(customers), created_at__lt=cutoff)
        | Q(Exists(customers.filter(left_at__isnull=False, left_at__lt=cutoff)))
    )


def session_state(*, session_id: uuid.UUID | str) -> dict[str, Any]:
    """What a connection is told in its welcome frame."""
    session = Session.objects.select_related("site").get(pk=session_id)
    participants = [
        {"participant": p.pk, "role": p.role, "name": p.display_name}
        for p in Participant.objects.filter(session=session)
    ]
    return {
        "session": str(session.pk),
        "code": session.code,
        "site": session.site.public_key,
        "status": session.status,
        "head_seq": session.head_seq,
        "snapshot_seq": session.snapshot_seq,
        "control": session.control_participant_id,
        "participants": participants,
    }


def journal_export(*, session_id: uuid.UUID | str) -> dict[str, Any]:
    """The whole journal of a session, every column, in seq order (admin review and export):
    `journal_export_head` with the `operations` of `journal_export_operations`.

    Payloads are as journaled, that is after server-side redaction.
    """
    export = journal_export_head(session_id=session_id)
    operations: list[dict[str, Any]] = []
    while page := journal_export_operations(
        session_id=session_id, after_seq=operations[-1]["seq"] if operations else 0
    ):
        operations.extend(page)
    return {**export, "operations": operations}


def journal_export_head(*, session_id: uuid.UUID | str) -> dict[str, Any]:
    """The export's `session` and `participants` (raises Session.DoesNotExist)."""
    session = Session.objects.select_related("site").get(pk=session_id)
    participants = [
        {
            "participant": p.pk,
            "role": p.role,
            "name": p.display_name,
            "user": p.user_id,
            "joined_at": p.joined_at.isoformat(),
            "left_at": p.left_at.isoformat() if p.left_at else None,
        }
        for p in Participant.objects.filter(session=session)
    ]
    return {
        "session": {
            "id": str(session.pk),
            "code": session.code,
            "site": session.site.public_key,
            "site_name": session.site.name,
            "customer": {
                "verified": session.identity_verified,
                "id": session.customer_id,
                "name": session.customer_name,
                "email": session.customer_email,
            },
            "status": session.status,
            "created_at": session.created_at.isoformat(),
            "started_at": session.started_at.isoformat() if session.started_at else None,
            "ended_at": session.ended_at.isoformat() if session.ended_at else None,
            "head_seq": session.head_seq,
            "head_hash": session.head_hash,
            "snapshot_seq": session.snapshot_seq,
        },
        "participants": participants,
    }


def journal_export_operations(
    *, session_id: uuid.UUID | str, after_seq: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    """The export's operations with `after_seq < seq`, in seq order, at most `limit` of them
    (a page along the (session, seq) index: an export of any length in bounded memory)."""
    rows = (
        Operation.objects.filter(session_id=session_id, seq__gt=after_seq)
        .order_by("seq")
        .values(
            "seq",
            "kind",
            "element",
            "element_seq",
            "delivery",
            "sender_id",
            "sender__role",
            "sender__display_name",
            "client_op_id",
            "payload",
            "received_at",
            "hash",
        )[:limit]
    )
    return [
        {
            "seq": row["seq"],
            "kind": row["kind"],
            "element": row["element"],
            "element_seq": row["element_seq"],
            "delivery": row["delivery"],
            "sender": {
                "participant": row["sender_id"],
                "role": row["sender__role"],
                "name": row["sender__display_name"],
            },
            "client_op_id": row["client_op_id"],
            "payload": row["payload"],
            "received_at": row["received_at"].isoformat(),
            "ts": int(row["received_at"].timestamp() * 1000),
            "hash": row["hash"],
        }
        for row in rows
    ]
