"""A session's life: opened by a customer, joined and left by participants, ended when nobody
used it for a while (an end sent by a participant is an op like any other: the sequencer
journals it); and the events that tell whoever watches the list of sessions (the help desk
queue) about it.

Writes are keyword-only `<noun>_<verb>` services; each states its transaction and locks. The
ops the server journals in a participant's name (`participant_join_submission`) go through the
journal writer like every op, in the session's one order.

Several operators per session: `session_invite` (an operator in it asks another to join; the
invitation shows in the invitee's queue), `session_handover` (the session's operator hands it
to an operator watching it; journaled as a `session` `handover` op, after a control `revoke`
when the old operator held control). Supervisors join with `participant_join(watch=True)`.

Session events are published after commit on the channel-layer group `SESSIONS_GROUP` as
`{"type": "sessions.changed", "session": "<uuid>", "status": "waiting|active|ended"}`.
Like every channel-layer message this is a doorbell: a watcher re-reads the sessions from the
database when it rings, and on (re)connect.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ua_parser
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import policy, protocol, selectors, sequencer, webhooks, writer
from .models import (
    Invitation,
    Operation,
    Participant,
    Role,
    Session,
    Site,
    Status,
    WebhookEventType,
)
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


def session_open(
    *,
    site: Site,
    customer_session_key: str,
    identity_verified: bool = False,
    customer_id: str = "",
    customer_name: str = "",
    customer_email: str = "",
    user_agent: str = "",
) -> Session:
    """Open a session of `site` with a fresh 6-digit code, unique among open sessions, for the
    customer the merchant's server signed (`identity_verified`) or an unknown one, on the
    device their browser's `user_agent` names."""
    device = device_label(user_agent)
    for _ in range(20):
        try:
            with transaction.atomic():
                session = Session.objects.create(
                    site=site,
                    code=_new_code(),
                    customer_session_key=customer_session_key,
                    identity_verified=identity_verified,
                    customer_id=customer_id,
                    customer_name=customer_name,
                    customer_email=customer_email,
                    device=device,
                )
                webhooks.event_record(session=session, type=WebhookEventType.SESSION_REQUESTED)
                return session
        except IntegrityError:
            continue
    raise RuntimeError("no free join code")


def device_label(user_agent: str) -> str:
    """The device and browser a User-Agent names, as an operator reads them: "Desktop Chrome",
    "iPhone Safari", "Android Chrome"; empty for an empty or unknown one."""
    if not user_agent:
        return ""
    parsed = ua_parser.parse(user_agent[:1000])
    browser = parsed.user_agent.family if parsed.user_agent else ""
    browser = browser.removeprefix("Mobile ").removesuffix(" Mobile").removeprefix("Headless")
    device = parsed.device.family if parsed.device else ""
    system = parsed.os.family if parsed.os else ""
    if device in ("iPhone", "iPad"):
        kind = device
    elif system == "Android":
        kind = "Android tablet" if "Mobile" not in user_agent else "Android"
    elif system in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        kind = "Desktop"
    else:
        kind = system
    label = f"{kind} {browser}".strip() if browser and browser != "Other" else kind
    return label[:80]


@dataclass(frozen=True)
class Joined:
    participant: Participant
    claimed: bool = False  # this operator has just claimed a waiting session
    # The journal's head when the participant's role was read: a hand-over after it changes it.
    head_seq: int = 0


def participant_join(
    *, session_id: uuid.UUID | str, user: Any, owns_as_customer: bool, watch: bool = False
) -> Joined:
    """Find or create the participant for this connection and decide its role.

    Runs inside one transaction holding the session row lock, so two operators who join at the
    same moment cannot both claim the session: the first becomes its operator, the next an
    observer. With `watch`, a supervisor joins read-only (`Role.SUPERVISOR`) and claims nothing.
    A user who is already a participant keeps their role. Raises Refused when the session is
    ended or the caller may not join.
    """
    with transaction.atomic():
        session = Session.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            raise Refused("no such session")
        if watch and not owns_as_customer:
            if not policy.may_supervise(user, session):
                raise Refused("not allowed")
        elif not owns_as_customer and not policy.is_operator_user(user):
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
            return Joined(participant, head_seq=session.head_seq)
        existing = Participant.objects.filter(session=session, user=user).first()
        if existing is not None:
            _connected(existing, now)
            return Joined(existing, head_seq=session.head_seq)
        if watch:
            participant = Participant.objects.create(
                session=session,
                user=user,
                role=Role.SUPERVISOR,
                display_name=policy.operator_display_name(user),
                connected_at=now,
            )
            return Joined(participant, head_seq=session.head_seq)
        Invitation.objects.filter(session=session, invitee=user).delete()
        claimed = Participant.objects.filter(session=session, role=Role.OPERATOR).exists()
        participant = Participant.objects.create(
            session=session,
            user=user,
            role=Role.OBSERVER if claimed else Role.OPERATOR,
            display_name=policy.operator_display_name(user),
            connected_at=now,
        )
        if not claimed:
            Session.objects.filter(pk=session.pk).update(
                status=Status.ACTIVE, started_at=timezone.now()
            )
        return Joined(participant, claimed=not claimed, head_seq=session.head_seq)


def session_invite(*, session_id: uuid.UUID | str, by: Any, invitee: Any) -> Invitation:
    """`by`, an operator in the session, invites the operator `invitee` into it (they join as an
    observer who can chat). Runs inside one transaction holding the session row lock; the
    invitee's queue is rung after commit. Raises policy.PolicyError when the invitation is not
    allowed (see `policy.check_may_invite`), or when the invitee is in the session already."""
    with transaction.atomic():
        session = Session.objects.select_for_update().select_related("site").get(pk=session_id)
        inviter = Participant.objects.filter(session=session, user=by).first()
        policy.check_may_invite(
            inviter_role=inviter.role if inviter else None, invitee=invitee, session=session
        )
        assert inviter is not None  # checked by the policy
        if Participant.objects.filter(session=session, user=invitee).exists():
            raise policy.PolicyError("forbidden", "this operator is in the session already")
        invitation, _ = Invitation.objects.get_or_create(
            session=session, invitee=invitee, defaults={"invited_by": inviter}
        )
        publish_on_commit(session_id=session.pk, status=session.status)
    return invitation


def session_handover(
    *, session_id: uuid.UUID | str, by: Any, to_participant: int
) -> tuple[int, int]:
    """The session's operator (`by`, a user) hands the session over to `to_participant`, an
    operator watching it: they swap roles (operator <-> observer), and the change is journaled
    in the session's order as a `session` `handover` op in the old operator's name, after a
    control `revoke` when they held control (control never follows a hand-over: the customer
    decides again). Returns the seqs it journaled (first, last: the handover op); a server
    process whose connections get no doorbell from here (the in-memory channel layer) hands
    them over with `JournalWriter.ring_here`.

    Runs inside one transaction holding the session row lock (the roles change and the ops are
    journaled under it: a grant decided after it names the new operator only); the processes
    serving the session are rung after commit. Raises policy.PolicyError when not allowed."""
    with transaction.atomic():
        session = Session.objects.select_for_update().filter(pk=session_id).first()
        if session is None or not session.is_open:
            raise policy.PolicyError("session_ended", "the session has ended")
        old = Participant.objects.filter(session=session, user=by).first()
        new = (
            Participant.objects.select_related("user")
            .filter(session=session, pk=to_participant)
            .first()
        )
        policy.check_may_hand_over(
            from_role=old.role if old else None,
            to_role=new.role if new else None,
            to_user=new.user if new else None,
        )
        assert old is not None and new is not None  # checked by the policy
        if not policy.may_serve(new.user, session):
            raise policy.PolicyError("not_served", "their teams do not serve this site")
        Participant.objects.filter(pk=old.pk).update(role=Role.OBSERVER)
        Participant.objects.filter(pk=new.pk).update(role=Role.OPERATOR)
        name = f"{new.pk}-{session.head_seq}"  # unique: the head moves with each
        batch = []
        if session.control_participant_id == old.pk:
            batch.append(_server_op(old, f"{name}-revoke", "control", {"action": "revoke"}))
        handover = {"action": "handover", "from": old.pk, "to": new.pk, "name": new.display_name}
        batch.append(_server_op(old, name, "session", handover))
        outcomes = sequencer.operations_append(session_id=session.pk, batch=batch).outcomes
        seqs = [o.entry["seq"] for o in outcomes if isinstance(o, sequencer.Accepted)]
        if len(seqs) != len(batch):
            raise policy.PolicyError("forbidden", "the hand-over was not journaled")
        publish_on_commit(session_id=session.pk, status=session.status)
    writer.ring_from_elsewhere({str(session.pk): (seqs[0], seqs[-1])})
    return seqs[0], seqs[-1]


def _server_op(sender: Participant, name: str, kind: str, payload: dict[str, Any]) -> Submission:
    """An op of a hand-over the server journals in `sender`'s name (the operator they were):
    its client_op_id tells their connections that they are an observer now
    (`Delivery.handed_over`)."""
    return Submission(
        participant_id=sender.pk,
        role=Role.OPERATOR,
        client_op_id=f"{protocol.HANDOVER_OP_PREFIX}{name}",
        kind=kind,
        element=None,
        payload=payload,
        trusted=True,
    )


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


def participant_leave(
    *, participant_id: int, connected_at: datetime | None, left_at: datetime | None = None
) -> None:
    """Note when a participant's connection closed (`left_at`, by default now; a connection
    that went silent left when it was last heard), unless a newer connection of theirs joined
    meanwhile (`connected_at`: when the closing one joined). One UPDATE; no lock."""
    Participant.objects.filter(pk=participant_id, connected_at=connected_at).update(
        left_at=timezone.now() if left_at is None else left_at
    )


IDLE_END_OP_ID = f"{protocol.SERVER_OP_PREFIX}idle-end"
API_END_OP_ID = f"{protocol.SERVER_OP_PREFIX}api-end"
ABANDONED_END_OP_ID = f"{protocol.SERVER_OP_PREFIX}abandoned-end"


def sessions_end_idle(*, idle_since: datetime, dry_run: bool = False) -> list[tuple[str, str]]:
    """End every open session that saw no activity since `idle_since` (a customer who asked for
    help and went away leaves a waiting session in every operator's queue); returns the (id,
    code) of each. Activity is what the journal shows: a customer who only reads, with nobody
    writing to them, is idle too.

    A session with participants gets a journaled `session` `end` op with `"reason": "idle"`
    (`_end_locked`), so a session that saw an op meanwhile stays open; one nobody ever
    joined is only marked ended. Each session in a transaction of its own; the processes
    serving it are rung afterwards."""
    return _sessions_end(
        lambda: selectors.sessions_idle_since(cutoff=idle_since),
        reason="idle",
        client_op_id=IDLE_END_OP_ID,
        dry_run=dry_run,
    )


def sessions_end_abandoned(*, gone_since: datetime) -> list[tuple[str, str]]:
    """End every open session whose customer has had no connection since `gone_since` (their
    page closed or their network gone, and they did not come back), like `sessions_end_idle`
    but with `"reason": "abandoned"`; a customer who connects again meanwhile keeps it open
    (checked again under the session row's lock). Returns the (id, code) of each."""
    return _sessions_end(
        lambda: selectors.sessions_abandoned_since(cutoff=gone_since),
        reason="abandoned",
        client_op_id=ABANDONED_END_OP_ID,
        dry_run=False,
    )


def _sessions_end(
    candidates: Callable[[], QuerySet[Session]],
    *,
    reason: str,
    client_op_id: str,
    dry_run: bool,
) -> list[tuple[str, str]]:
    ended: list[tuple[str, str]] = []
    rung: dict[str, tuple[int, int]] = {}
    for pk, code in candidates().values_list("pk", "code"):
        if dry_run:
            ended.append((str(pk), code))
            continue
        with transaction.atomic():
            session = Session.objects.select_for_update().filter(pk=pk).first()
            # Checked again under the lock: an op journaled (or a customer back) since the
            # first look keeps it open.
            if session is None or not candidates().filter(pk=pk).exists():
                continue
            seq = _end_locked(session, reason=reason, client_op_id=client_op_id)
            if seq is not None:
                rung[str(pk)] = (seq, seq)
        ended.append((str(pk), code))
    if rung:
        writer.ring_from_elsewhere(rung)
    return ended


def session_end(*, session_id: uuid.UUID | str, reason: str) -> bool:
    """End an open session from outside its connections (the REST API: `reason` "api"), as
    `sessions_end_idle` does: a journaled `session` `end` op, the session's watchers told and
    the processes serving it rung after commit. True when this call ended it; False when it
    had already ended. One transaction holding the session row lock."""
    with transaction.atomic():
        session = Session.objects.select_for_update().get(pk=session_id)
        if not session.is_open:
            return False
        seq = _end_locked(session, reason=reason, client_op_id=API_END_OP_ID)
    if seq is not None:
        writer.ring_from_elsewhere({str(session.pk): (seq, seq)})
    return True


def sessions_delete(*, ids: list[uuid.UUID] | list[str]) -> int:
    """Delete whole sessions: their journal, participants, invitations and webhook events. The
    one way sessions are deleted (retention's purge, Django admin), and the reason the journal
    needs no foreign keys in the database (models.Operation): the session rows are locked
    first, in order of id as the journal writer locks them, so an append either committed
    before (its rows are deleted here) or waits and then finds no session row and writes
    nothing. The journal goes in one statement rather than row by row through Django's
    cascade. One transaction; answers the number of journal rows deleted."""
    with transaction.atomic():
        rows = Session.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        locked = list(rows.values_list("pk", flat=True))
        if not locked:
            return 0
        deleted, _ = Operation.objects.filter(session_id__in=locked).delete()
        Session.objects.filter(pk__in=locked).delete()
    return deleted


def _end_locked(session: Session, *, reason: str, client_op_id: str) -> int | None:
    """Inside a transaction holding `session`'s row lock: its journaled `end` op (`reason`),
    sent in the name of its customer (else its first participant) and decided like every op;
    one nobody ever joined is only marked ended. The seq journaled, if any, for the doorbell;
    watchers are told after commit."""
    by = (
        Participant.objects.filter(session=session, role=Role.CUSTOMER).first()
        or Participant.objects.filter(session=session).order_by("joined_at").first()
    )
    seq: int | None = None
    if by is None:
        Session.objects.filter(pk=session.pk).update(status=Status.ENDED, ended_at=timezone.now())
        # No op to journal, so the webhook event is written here.
        webhooks.event_record(
            session=session,
            type=WebhookEventType.SESSION_ENDED,
            data=webhooks.ended_data(session=session, reason=reason),
        )
    else:
        end = Submission(
            participant_id=by.pk,
            role=by.role,
            client_op_id=client_op_id,
            kind="session",
            element=None,
            payload={"action": "end", "reason": reason},
            trusted=True,
        )
        (outcome,) = sequencer.operations_append(session_id=session.pk, batch=[end]).outcomes
        if isinstance(outcome, sequencer.Accepted):
            seq = outcome.entry["seq"]
    publish_on_commit(session_id=session.pk, status=Status.ENDED)
    return seq


async def sweep_abandoned_forever(run: Callable[[Callable[[], object]], Awaitable[object]]) -> None:
    """Inside the server: every few seconds, end the sessions whose customer has been gone for
    COBROWSE_ABANDON_AFTER_SECONDS (0: never), through `run` (which runs a blocking call off the
    event loop: the journal writer's thread). Started by the journal writer; every server
    process sweeps, and a session is ended once (under its row's lock)."""
    while True:
        after = getattr(settings, "COBROWSE_ABANDON_AFTER_SECONDS", 0)
        await asyncio.sleep(max(1, min(60, after // 5)))
        if after <= 0:
            continue
        gone_since = timezone.now() - timedelta(seconds=after)
        try:
            ended = await run(functools.partial(sessions_end_abandoned, gone_since=gone_since))
        except Exception as exc:  # the database may be down: the next sweep tries again
            logger.warning("could not end abandoned sessions: %r", exc)
            continue
        if ended:
            logger.info("ended abandoned sessions: %s", ended)


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
