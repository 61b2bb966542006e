"""Audit and retention of the journal: is it as it was written, and what may be thrown away.

- `journal_verify` recomputes the chained hash of every journal row of a session
  (`sequencer.op_hash`, the function that wrote it) and reports the first link that does not
  hold: a changed row, a missing row (a gap in seq), or rows missing at the end (the session's
  head names a later seq or another hash). Read-only.
- `sessions_purge` deletes whole sessions (with their participants and journal) that are past
  retention: ended sessions that ended before the cutoff, and abandoned open ones, which never
  ended but saw no activity since before the cutoff. It never deletes single journal rows, so
  what remains still verifies.
- `sessions_end_idle` ends open sessions that saw no activity since a cutoff (a customer who
  asked for help and went away leaves a waiting session in every operator's queue): each end is
  journaled as the server's `session` `end` op with `"reason": "idle"`, decided under the session
  row's lock like every op, so a session that saw an op meanwhile stays open. Activity is what
  the journal shows: a customer who only reads, with nobody writing to them, is idle too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from . import lifecycle, protocol
from .models import GENESIS_HASH, Operation, Participant, Role, Session, Status
from .sequencer import Accepted, Submission, op_hash, operations_append
from .writer import ring_from_elsewhere

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
    abandoned = _open_and_idle_since(cutoff)
    result = Purged(
        ended=[(str(pk), code) for pk, code in ended.values_list("pk", "code")],
        abandoned=[(str(pk), code) for pk, code in abandoned.values_list("pk", "code")],
    )
    ids = [pk for pk, _ in result.ended + result.abandoned]
    result.operations = Operation.objects.filter(session_id__in=ids).count()
    if not dry_run and ids:
        with transaction.atomic():
            # The journal first, in one statement, rather than row by row through the cascade.
            Operation.objects.filter(session_id__in=ids).delete()
            Session.objects.filter(pk__in=ids).delete()
    return result


def _open_and_idle_since(cutoff: datetime) -> QuerySet[Session]:
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


IDLE_END_OP_ID = f"{protocol.SERVER_OP_PREFIX}idle-end"


def sessions_end_idle(*, idle_since: datetime, dry_run: bool = False) -> list[tuple[str, str]]:
    """End every open session idle since `idle_since` (see the module docstring); returns the
    (id, code) of each. A session with participants gets a journaled `end`, sent in the name of
    its customer (else its first participant); one nobody ever joined is only marked ended.
    Each session in a transaction of its own; the processes serving it are rung afterwards."""
    ended: list[tuple[str, str]] = []
    rung: dict[str, tuple[int, int]] = {}
    for pk, code in _open_and_idle_since(idle_since).values_list("pk", "code"):
        if dry_run:
            ended.append((str(pk), code))
            continue
        with transaction.atomic():
            session = Session.objects.select_for_update().filter(pk=pk).first()
            # Checked again under the lock: an op journaled since the first look keeps it open.
            if session is None or not _open_and_idle_since(idle_since).filter(pk=pk).exists():
                continue
            by = (
                Participant.objects.filter(session=session, role=Role.CUSTOMER).first()
                or Participant.objects.filter(session=session).order_by("joined_at").first()
            )
            if by is None:
                Session.objects.filter(pk=pk).update(status=Status.ENDED, ended_at=timezone.now())
            else:
                end = Submission(
                    participant_id=by.pk,
                    role=by.role,
                    client_op_id=IDLE_END_OP_ID,
                    kind="session",
                    element=None,
                    payload={"action": "end", "reason": "idle"},
                    trusted=True,
                )
                (outcome,) = operations_append(session_id=pk, batch=[end]).outcomes
                if isinstance(outcome, Accepted):
                    seq = outcome.entry["seq"]
                    rung[str(pk)] = (seq, seq)
            lifecycle.publish_on_commit(session_id=pk, status=Status.ENDED)
        ended.append((str(pk), code))
    if rung:
        ring_from_elsewhere(rung)
    return ended
