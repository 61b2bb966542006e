"""A session's life: opened by a customer, joined and left by participants, ended; and the
events that tell whoever watches the list of sessions (the help desk queue) about it.

Writes are keyword-only `<noun>_<verb>` services; each states its transaction and locks. The
ops the server journals in a participant's name (`participant_join_submission`) go through the
journal writer like every op, in the session's one order.

Session events are published after commit on the channel-layer group `SESSIONS_GROUP` as
`{"type": "sessions.changed", "session": "<uuid>", "status": "waiting|active|ended"}`.
Like every channel-layer message this is a doorbell: a watcher re-reads the sessions from the
database when it rings, and on (re)connect.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import policy, protocol
from .models import Participant, Role, Session, Status
from .sequencer import Submission

logger = logging.getLogger(__name__)

SESSIONS_GROUP = "cobrowse.sessions"


class Refused(Exception):
    """A connection or request that may not reach a session (`ended`: it may, but the session
    is over)."""

    def __init__(self, reason: str, *, ended: bool = False) -> None:
        super().__init__(reason)
        self.ended = ended


def _new_code() -> str:
    return f"{random.SystemRandom().randrange(1_000_000):06d}"


def session_open(*, site: str, customer_session_key: str) -> Session:
    """Open a session with a fresh 6-digit code, unique among open sessions."""
    for _ in range(20):
        try:
            with transaction.atomic():
                return Session.objects.create(
                    site=site, code=_new_code(), customer_session_key=customer_session_key
                )
        except IntegrityError:
            continue
    raise RuntimeError("no free join code")


@dataclass(frozen=True)
class Joined:
    participant: Participant
    created: bool
    claimed: bool = False  # this operator has just claimed a waiting session


def participant_join(*, session_id: uuid.UUID | str, user: Any, owns_as_customer: bool) -> Joined:
    """Find or create the participant for this connection and decide its role.

    Runs inside one transaction holding the session row lock, so two operators who join at the
    same moment cannot both claim the session: the first becomes its operator, the next an
    observer. Raises Refused when the session is ended or the caller may not join.
    """
    with transaction.atomic():
        session = Session.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            raise Refused("no such session")
        if not owns_as_customer and not policy.is_operator_user(user):
            raise Refused("not allowed")
        if not session.is_open:
            raise Refused("the session has ended", ended=True)
        now = timezone.now()
        if owns_as_customer:
            participant, created = Participant.objects.get_or_create(
                session=session,
                role=Role.CUSTOMER,
                defaults={"display_name": "Customer", "connected_at": now},
            )
            if not created:
                _connected(participant, now)
            return Joined(participant, created)
        existing = Participant.objects.filter(session=session, user=user).first()
        if existing is not None:
            _connected(existing, now)
            return Joined(existing, False)
        claimed = Participant.objects.filter(session=session, role=Role.OPERATOR).exists()
        participant = Participant.objects.create(
            session=session,
            user=user,
            role=Role.OBSERVER if claimed else Role.OPERATOR,
            display_name=user.get_full_name() or user.get_username(),
            connected_at=now,
        )
        if not claimed:
            Session.objects.filter(pk=session.pk).update(
                status=Status.ACTIVE, started_at=timezone.now()
            )
        return Joined(participant, True, claimed=not claimed)


def _connected(participant: Participant, now: datetime) -> None:
    participant.left_at = None
    participant.connected_at = now
    participant.save(update_fields=["left_at", "connected_at"])


def participant_join_submission(*, participant: Participant) -> Submission:
    """The `session` op the server journals when a participant first joins (a repeat is a
    duplicate: the same client_op_id every time)."""
    return Submission(
        participant_id=participant.pk,
        role=participant.role,
        client_op_id=f"{protocol.SERVER_OP_PREFIX}joined-{participant.pk}",
        kind="session",
        element=None,
        payload={
            "action": "joined",
            "participant": participant.pk,
            "role": participant.role,
            "name": participant.display_name,
        },
        trusted=True,
    )


def participant_leave(*, participant_id: int, connected_at: datetime | None) -> None:
    """Note when a participant's connection closed, unless a newer connection of theirs joined
    meanwhile (`connected_at`: when the closing one joined). One UPDATE; no lock."""
    Participant.objects.filter(pk=participant_id, connected_at=connected_at).update(
        left_at=timezone.now()
    )


# --- Session events for watchers ---------------------------------------------------------------


async def publish(*, session_id: uuid.UUID | str, status: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(
            SESSIONS_GROUP,
            {"type": "sessions.changed", "session": str(session_id), "status": status},
        )
    except Exception:  # a missed doorbell: watchers re-read on reconnect
        logger.exception("session event for %s failed", session_id)


def publish_on_commit(*, session_id: uuid.UUID | str, status: str) -> None:
    """From synchronous code inside a transaction: publish once it has committed."""
    transaction.on_commit(lambda: async_to_sync(publish)(session_id=session_id, status=status))
