"""Reads for the operator side: the queue, a session by its join code, a session's history,
whether its customer is connected.

Nothing here writes. The queue is re-read whole on every `sessions.changed` doorbell, so it must
stay cheap: one query for the sessions (with their sites) and one for their operators. An
operator's queue holds only the sessions of the sites their teams serve (`cobrowse.policy`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse

from cobrowse import policy, protocol
from cobrowse.models import Invitation, Operation, Participant, Role, Session, Status

CODE_PATTERN = re.compile(r"^\d{6}$")

# Kinds a late joiner needs from before its position to show the conversation and who is there.
HISTORY_KINDS = ("chat", "session", "control")


def customer_identity(session: Session) -> dict[str, Any]:
    """Who the customer is, and whether the merchant's server signed it: "verified" only when
    the identity token's signature checked (cobrowse/embed.py); an unsigned one is anonymous."""
    if not session.identity_verified:
        return {
            "verified": False,
            "label": "not verified",
            "name": "anonymous",
            "email": "",
            "id": "",
        }
    return {
        "verified": True,
        "label": "verified",
        "name": session.customer_name or session.customer_id,
        "email": session.customer_email,
        "id": session.customer_id,
    }


def _page(navigate: dict[str, Any] | None) -> dict[str, str]:
    """The customer's current page from their latest `navigate` op: its title and path."""
    if not isinstance(navigate, dict):
        return {"title": "", "path": ""}
    url = urlsplit(str(navigate.get("url") or ""))
    path = url.path + (f"?{url.query}" if url.query else "")
    return {"title": str(navigate.get("title") or "")[:200], "path": path[:200]}


def _queue_entry(session: Session, operator: str | None) -> dict[str, Any]:
    return {
        "id": str(session.pk),
        "code": session.code,
        "site": session.site.public_key,
        "site_label": session.site.name,
        "customer": customer_identity(session),
        "device": session.device,
        "page": _page(getattr(session, "navigate", None)),
        "status": session.status,
        "created_at": session.created_at.isoformat(),
        "started_at": session.started_at.isoformat() if session.started_at else None,
        "operator": operator,
        "url": reverse("helpdesk:session", args=[session.pk]),
    }


def queue_sessions(*, user: Any) -> dict[str, list[dict[str, Any]]]:
    """Open sessions of the sites `user` serves: `waiting` (oldest first, the order to serve
    them in), `active` (with the name of the operator who claimed each, so another operator
    can observe) and `invited` (the active ones an operator in them invited `user` into, with
    who invited them in `invited_by`); each with its customer's page as their latest
    `navigate` op says (one index lookup per session, in the same query)."""
    latest_navigate = Operation.objects.filter(
        session=OuterRef("pk"), kind="navigate", sender__role=Role.CUSTOMER
    ).order_by("-seq")
    open_sessions = (
        Session.objects.exclude(status=Status.ENDED)
        .select_related("site")
        .annotate(navigate=Subquery(latest_navigate.values("payload")[:1]))
    )
    sessions = list(policy.sessions_served(user, open_sessions).order_by("created_at")[:200])
    operators = dict(
        Participant.objects.filter(
            session__in=[s for s in sessions if s.status == Status.ACTIVE], role=Role.OPERATOR
        ).values_list("session_id", "display_name")
    )
    invited_by = dict(
        Invitation.objects.filter(
            invitee=user, session__in=[s for s in sessions if s.status == Status.ACTIVE]
        ).values_list("session_id", "invited_by__display_name")
    )
    return {
        "waiting": [_queue_entry(s, None) for s in sessions if s.status == Status.WAITING],
        "active": [
            _queue_entry(s, operators.get(s.pk)) for s in sessions if s.status == Status.ACTIVE
        ],
        "invited": [
            {**_queue_entry(s, operators.get(s.pk)), "invited_by": invited_by[s.pk]}
            for s in sessions
            if s.pk in invited_by
        ],
    }


def operators_to_invite(*, session: Session) -> list[dict[str, Any]]:
    """The operators who may be invited into `session`: active staff with the operate
    permission whose teams serve its site (or superusers), not in it yet. (Checked again by
    `policy.check_may_invite` when the invitation is made.)"""
    in_session = Participant.objects.filter(session=session, user__isnull=False).values("user")
    candidates = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(cobrowse_teams__sites=session.site_id))
        .exclude(pk__in=in_session)
        .distinct()
        .order_by("username")[:200]
    )
    return [
        {"id": user.pk, "name": user.get_full_name() or user.get_username()}
        for user in candidates
        if policy.is_operator_user(user) and policy.may_serve(user, session)
    ]


def supervised_sessions(*, user: Any) -> list[dict[str, Any]]:
    """Open sessions of the sites `user` serves, each with who is on it (name, role and
    whether connected), for a supervisor's live list."""
    open_sessions = Session.objects.exclude(status=Status.ENDED).select_related("site")
    sessions = list(policy.sessions_served(user, open_sessions).order_by("created_at")[:200])
    people: dict[uuid.UUID, list[dict[str, Any]]] = {s.pk: [] for s in sessions}
    for session_id, pk, role, name, left_at in Participant.objects.filter(
        session__in=sessions
    ).values_list("session_id", "pk", "role", "display_name", "left_at"):
        people[session_id].append(
            {
                "participant": pk,
                "role": role,
                "name": "Customer" if role == Role.CUSTOMER else name,
                "connected": left_at is None,
            }
        )
    return [
        {
            "id": str(s.pk),
            "code": s.code,
            "site_label": s.site.name,
            "status": s.status,
            "customer": customer_identity(s),
            "created_at": s.created_at.isoformat(),
            "participants": people[s.pk],
            "watch_url": reverse("helpdesk:watch", args=[s.pk]),
        }
        for s in sessions
    ]


def open_session_by_code(*, code: str) -> Session | None:
    """The open session with this 6-digit code (codes are unique among open sessions), of any
    site: the caller decides whether its user may join it (`policy.may_serve`)."""
    code = code.strip().replace(" ", "")
    if not CODE_PATTERN.match(code):
        return None
    return Session.objects.exclude(status=Status.ENDED).filter(code=code).first()


def session_history(*, session_id: uuid.UUID | str, upto: int) -> list[dict[str, Any]]:
    """Op frames of the chat, session and control ops with seq <= `upto`: what a desk that
    joined from the newest snapshot did not receive but shows (the conversation, who joined)."""
    rows = (
        Operation.objects.filter(session_id=session_id, seq__lte=upto, kind__in=HISTORY_KINDS)
        .order_by("seq")
        .values_list(
            "seq",
            "kind",
            "element",
            "element_seq",
            "delivery",
            "sender_id",
            "sender__role",
            "payload",
            "received_at",
        )[:2000]
    )
    return [
        protocol.op_frame(
            seq=seq,
            kind=kind,
            element=element,
            element_seq=element_seq,
            delivery=delivery,
            sender={"role": role, "participant": sender_id},
            payload=payload,
            ts=int(received_at.timestamp() * 1000),
        )
        for seq, kind, element, element_seq, delivery, sender_id, role, payload, received_at in rows
    ]


def customer_presence(*, session_id: uuid.UUID) -> dict[str, Any]:
    """Whether the session's customer has a connection open, and since when (or since when
    not). A customer who never connected: not connected, since null. The server notes a
    customer as gone when their last connection closes, so a page changing to the next (one
    socket closes, the next opens) shows as a short absence."""
    customer = (
        Participant.objects.filter(session_id=session_id, role=Role.CUSTOMER)
        .only("connected_at", "left_at")
        .first()
    )
    if customer is None or customer.connected_at is None:
        return {"connected": False, "since": None}
    connected = customer.left_at is None
    since = customer.connected_at if connected else customer.left_at
    return {"connected": connected, "since": since.isoformat() if since else None}
