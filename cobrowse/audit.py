"""Audit and retention of the journal: is it as it was written, and what may be thrown away.

- `journal_verify` recomputes the chained hash of every journal row of a session
  (`sequencer.op_hash`, the function that wrote it) and reports the first link that does not
  hold: a changed row, a missing row (a gap in seq), or rows missing at the end (the session's
  head names a later seq or another hash). Read-only.
- `sessions_purge` deletes whole sessions (with their participants and journal) that are past
  retention: ended sessions that ended before the cutoff, and abandoned open ones, which never
  ended but saw no activity since before the cutoff. It never deletes single journal rows, so
  what remains still verifies.

Ending idle sessions is part of a session's life: `lifecycle.sessions_end_idle`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from . import lifecycle, selectors
from .models import GENESIS_HASH, Operation, Session, Status
from .sequencer import op_hash

VERIFY_CHUNK = 2000


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verified:
    session_id: uuid.UUID
    ops: int
    broken: BrokenLink | None


def journal_verify(*, session_id: uuid.UUID | str) -> Verified:
    """Recompute the hash chain of one session. Reads only; holds no lock (rows are never
    updated, and ops appended meanwhile are beyond the head read first)."""
    session = Session.objects.values("pk", "head_seq", "head_hash").get(pk=session_id)
    prev, expected, count = GENESIS_HASH, 1, 0
    rows = (
        Operation.objects.filter(session_id=session_id, seq__lte=session["head_seq"])
        .order_by("seq")
        .values_list(
            "seq",
            "kind",
            "element",
            "element_seq",
            "delivery",
            "sender_id",
            "client_op_id",
            "payload",
            "received_at",
            "hash",
        )
    )
    for row in rows.iterator(chunk_size=VERIFY_CHUNK):
        seq, kind, element, element_seq, delivery, sender, cid, payload, at, stored = row
        if seq != expected:
            return Verified(session["pk"], count, BrokenLink(expected, "row missing (gap in seq)"))
        computed = op_hash(
            prev_hash=prev,
            session_id=session["pk"],
            seq=seq,
            kind=kind,
            element=element,
            element_seq=element_seq,
            delivery=delivery,
            sender_id=sender,
            client_op_id=cid,
            payload=payload,
            received_at=at,
        )
        if computed != stored:
            reason = "row does not match its hash: it, or its link to the row before, changed"
            return Verified(session["pk"], count, BrokenLink(seq, reason))
        prev, expected, count = computed, expected + 1, count + 1
    if expected - 1 != session["head_seq"]:
        broken = BrokenLink(expected, f"rows missing at the end (head is {session['head_seq']})")
        return Verified(session["pk"], count, broken)
    if prev != session["head_hash"]:
        return Verified(session["pk"], count, BrokenLink(expected - 1, "head hash differs"))
    return Verified(session["pk"], count, None)


@dataclass
class Purged:
    ended: list[tuple[str, str]] = field(default_factory=list)  # (id, code)
    abandoned: list[tuple[str, str]] = field(default_factory=list)
    operations: int = 0


def sessions_purge(*, cutoff: datetime, dry_run: bool = False) -> Purged:
    """Delete sessions past retention (see the module docstring). One transaction."""
    ended = Session.objects.filter(status=Status.ENDED).filter(
        Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, created_at__lt=cutoff)
    )
    abandoned = selectors.sessions_idle_since(cutoff=cutoff)
    result = Purged(
        ended=[(str(pk), code) for pk, code in ended.values_list("pk", "code")],
        abandoned=[(str(pk), code) for pk, code in abandoned.values_list("pk", "code")],
    )
    ids = [pk for pk, _ in result.ended + result.abandoned]
    result.operations = Operation.objects.filter(session_id__in=ids).count()
    if not dry_run and ids:
        lifecycle.sessions_delete(ids=ids)
    return result
