"""Webhooks: a site's events sent to the merchant's URLs (docs/integrations.md, "Webhooks").

Events: `session.requested` (a customer opened a session), `session.joined` (an operator
joined), `control.granted` and `session.ended` (with the URL of the session's replay).

What is guaranteed: no event is lost when a web process or the worker dies at any point, and
each is delivered at least once to every enabled endpoint of its site that subscribes to it
(a receiver drops repeats by the X-Cobrowse-Delivery header, the same on every attempt).

- The outbox is durable. `session.requested` is a `WebhookEvent` row written in the
  transaction that opens the session (`event_record`). Joins, grants and ends are ops of the
  journal, which already is an outbox: each is a row written in the journal's own transaction.
  The worker reads the journal past a durable cursor (`WebhookCursor`) and makes an event of
  each such op (`events_from_journal`; unique on the op's id, so reading an op again makes
  nothing new). The cursor moves, in the transaction that writes the events, only past ops
  journaled `JOURNAL_LAG` ago: an op's id is taken before its transaction commits, so a newer
  id can be visible before an older one; the ops of the last `JOURNAL_LAG` are read again on
  every poll (and skipped, by id, in this process).
- Fan-out (`events_fan_out`): one `WebhookDelivery` per endpoint and event, unique on both,
  written in the transaction that marks the event fanned out.
- Sending (`deliveries_send_due`): each due delivery under its row lock (SKIP LOCKED on
  PostgreSQL: several workers share the work), signed, POSTed; a 2xx marks it delivered, anything
  else schedules the next attempt with exponential back-off and jitter, up to
  `COBROWSE_WEBHOOK_MAX_ATTEMPTS`, then marks it failed. A worker killed after the receiver
  answered but before the row was updated sends it again: at least once.

Nothing here runs in the journal writer's path: the worker reads the journal on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Model, QuerySet
from django.urls import reverse
from django.utils import timezone

from .models import (
    Operation,
    Participant,
    Role,
    Session,
    WebhookCursor,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)

logger = logging.getLogger(__name__)

CURSOR = "journal"
# Longer than any journal transaction takes to commit (the writer's take milliseconds).
JOURNAL_LAG = timedelta(seconds=30)
BATCH = 200
# The kinds of the ops that may be events; the partial index `operation_lifecycle` holds them.
LIFECYCLE_KINDS = ["session", "control"]
USER_AGENT = "Cobrowse-Webhooks/1"
SIGNATURE_VERSION = "v1"


# --- Signing -----------------------------------------------------------------------------------


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp + "." + body` with the endpoint's secret, hex."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_headers(*, delivery: WebhookDelivery, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    sig = signature(secret=delivery.endpoint.secret, timestamp=timestamp, body=body)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Cobrowse-Event": delivery.event.type,
        "X-Cobrowse-Event-Id": str(delivery.event.pk),
        "X-Cobrowse-Delivery": str(delivery.pk),
        "X-Cobrowse-Timestamp": timestamp,
        "X-Cobrowse-Signature": f"{SIGNATURE_VERSION}={sig}",
    }


# --- Events ------------------------------------------------------------------------------------


def _subscribers(*, site_id: int, type: str, at: datetime) -> list[WebhookEndpoint]:
    """The enabled endpoints of a site that receive events of `type` that happened `at`
    (an endpoint receives what happened after it was made)."""
    endpoints = WebhookEndpoint.objects.filter(site_id=site_id, enabled=True, created_at__lte=at)
    return [e for e in endpoints if type in (e.events or ())]


def replay_url(*, session_id: Any) -> str:
    return settings.COBROWSE_DESK_URL.rstrip("/") + reverse(
        "admin:cobrowse_session_replay", args=[session_id]
    )


def ended_data(
    *, session: Session, reason: str, by: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `data` of a `session.ended` event: why, by whom (None: the desk, no participant),
    and where an operator replays it."""
    return {"reason": reason, "ended_by": by, "replay_url": replay_url(session_id=session.pk)}


def event_payload(
    *, event_id: str, type: str, session: Session, at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    site = session.site
    return {
        "id": event_id,
        "type": type,
        "created_at": at.isoformat(),
        "site": {"id": site.pk, "name": site.name, "public_key": site.public_key},
        "session": {
            "id": str(session.pk),
            "code": session.code,
            "customer": {
                "verified": session.identity_verified,
                "id": session.customer_id,
                "name": session.customer_name,
                "email": session.customer_email,
            },
        },
        "data": data,
    }


def _event(
    *, session: Session, type: str, at: datetime, data: dict[str, Any], operation_id: int | None
) -> WebhookEvent:
    event = WebhookEvent(
        site_id=session.site_id, session=session, type=type, operation_id=operation_id
    )
    event.occurred_at = at
    event.payload = event_payload(
        event_id=str(event.pk), type=type, session=session, at=at, data=data
    )
    return event


def event_record(*, session: Session, type: str, data: dict[str, Any] | None = None) -> None:
    """Write a `type` event of `session` in the caller's transaction, when an endpoint of its
    site listens to it (the worker sends it once committed)."""
    now = timezone.now()
    if not _subscribers(site_id=session.site_id, type=type, at=now):
        return
    _event(session=session, type=type, at=now, data=data or {}, operation_id=None).save()


def _event_of_op(op: Operation, names: dict[int, Participant]) -> WebhookEvent | None:
    """The webhook event a journaled op tells, if any."""
    action = op.payload.get("action") if isinstance(op.payload, dict) else None
    session = op.session
    at = op.received_at
    if op.kind == "session" and action == "joined":
        if op.payload.get("role") not in (Role.OPERATOR, Role.OBSERVER):
            return None
        data: dict[str, Any] = {
            "operator": {
                "participant": op.payload.get("participant"),
                "name": op.payload.get("name", ""),
                "role": op.payload.get("role"),
            }
        }
        type = WebhookEventType.SESSION_JOINED
    elif op.kind == "control" and action == "grant":
        target = names.get(op.payload.get("participant") or 0)
        data = {
            "operator": {
                "participant": op.payload.get("participant"),
                "name": target.display_name if target else "",
            }
        }
        type = WebhookEventType.CONTROL_GRANTED
    elif op.kind == "session" and action == "end":
        data = ended_data(
            session=session,
            reason=op.payload.get("reason", "ended"),
            by={"participant": op.sender_id, "role": op.sender.role},
        )
        type = WebhookEventType.SESSION_ENDED
    else:
        return None
    return _event(session=session, type=type, at=at, data=data, operation_id=op.pk)


@dataclass
class JournalReader:
    """Reads the journal past the durable cursor; remembers, for this process, the ops it has
    already made events of in the window it reads again."""

    seen: set[int] = field(default_factory=set)

    def events_from_journal(self, *, now: datetime | None = None) -> int:
        """Make the webhook events of newly journaled joins, grants and ends; returns how many.
        One transaction: the events and the cursor's move commit together."""
        now = now or timezone.now()
        made = 0
        with transaction.atomic():
            cursor, _ = WebhookCursor.objects.get_or_create(name=CURSOR)
            start = cursor.operation_id
            lifecycle_ops = Operation.objects.filter(pk__gt=start, kind__in=LIFECYCLE_KINDS)
            ops = list(
                lifecycle_ops.exclude(pk__in=self.seen)
                .select_related("session__site", "sender")
                .order_by("pk")[:BATCH]
            )
            # Read after the ops: an endpoint made before an op happened is seen.
            listening = set(
                WebhookEndpoint.objects.filter(enabled=True).values_list("site_id", flat=True)
            )
            relevant = [op for op in ops if op.session.site_id in listening]
            # Read again after a restart (or by another worker): made once.
            made_before = set(
                WebhookEvent.objects.filter(
                    operation_id__in=[op.pk for op in relevant]
                ).values_list("operation_id", flat=True)
            )
            relevant = [op for op in relevant if op.pk not in made_before]
            names = {
                p.pk: p
                for p in Participant.objects.filter(
                    session__in={op.session_id for op in relevant if op.kind == "control"}
                )
            }
            events = [e for op in relevant if (e := _event_of_op(op, names)) is not None]
            events = [
                e for e in events if _subscribers(site_id=e.site_id, type=e.type, at=e.occurred_at)
            ]
            if events:
                WebhookEvent.objects.bulk_create(events, ignore_conflicts=True)
                made = len(events)
            self.seen.update(op.pk for op in ops)
            # Past every op of those kinds journaled before the lag (the cursor serves only
            # this query), however many were read this time.
            settled = lifecycle_ops.filter(received_at__lt=now - JOURNAL_LAG).aggregate(
                top=Max("pk")
            )["top"]
            if len(ops) == BATCH:
                settled = min(settled or 0, ops[-1].pk)
            if settled and settled > start:
                WebhookCursor.objects.filter(name=CURSOR, operation_id__lt=settled).update(
                    operation_id=settled, updated_at=now
                )
                self.seen = {pk for pk in self.seen if pk > settled}
        return made


def events_fan_out() -> int:
    """Make the deliveries of events not yet fanned out; returns how many deliveries."""
    made = 0
    with transaction.atomic():
        events = list(
            _locked(WebhookEvent.objects.filter(fanned_out=False).order_by("occurred_at"))[:BATCH]
        )
        now = timezone.now()
        for event in events:
            deliveries = [
                WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=now)
                for endpoint in _subscribers(
                    site_id=event.site_id, type=event.type, at=event.occurred_at
                )
            ]
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            made += len(deliveries)
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(fanned_out=True)
    return made


M = TypeVar("M", bound=Model)


def _locked(queryset: QuerySet[M]) -> QuerySet[M]:
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


# --- Sending -----------------------------------------------------------------------------------


def retry_delay(*, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: exponential, capped, with jitter
    (between half and all of it, so that receivers back up do not get every retry at once)."""
    base = float(settings.COBROWSE_WEBHOOK_RETRY_BASE_SECONDS)
    cap = float(settings.COBROWSE_WEBHOOK_RETRY_MAX_SECONDS)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return float(delay / 2 + random.uniform(0, delay / 2))


def _due(now: datetime) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at")


def deliveries_send_due(*, client: httpx.Client, limit: int = BATCH) -> int:
    """Send the deliveries that are due, each in a transaction holding its row lock; returns
    how many were attempted."""
    sent = 0
    for pk in _due(timezone.now()).values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            delivery = (
                _locked(_due(timezone.now()).filter(pk=pk))
                .select_related("endpoint", "event")
                .first()
            )
            if delivery is None:  # another worker has it, or has sent it
                continue
            delivery_attempt(delivery=delivery, client=client)
            sent += 1
    return sent


def delivery_attempt(*, delivery: WebhookDelivery, client: httpx.Client) -> None:
    """POST the delivery once and record the outcome (the caller holds its row lock)."""
    body = orjson.dumps(delivery.event.payload)
    headers = request_headers(delivery=delivery, body=body, now=time.time())
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    error = ""
    try:
        response = client.post(delivery.endpoint.url, content=body, headers=headers)
        delivery.last_status_code = response.status_code
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:500]}"
    except httpx.HTTPError as exc:
        delivery.last_status_code = None
        error = f"{type(exc).__name__}: {exc}"[:1000]
    delivery.last_error = error
    if not error:
        delivery.status = WebhookDeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= settings.COBROWSE_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDeliveryStatus.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_delay(attempts=delivery.attempts))
    delivery.save()
    if error:
        logger.warning("webhook %s to %s: %s", delivery.pk, delivery.endpoint.url, error)


def deliveries_redeliver(*, deliveries: Iterable[WebhookDelivery]) -> int:
    """Send these deliveries again now (failed, or delivered: a receiver that lost one asks),
    with the same delivery id and a fresh count of attempts."""
    return WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=WebhookDeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        delivered_at=None,
    )


# --- The worker --------------------------------------------------------------------------------


@dataclass
class Worker:
    """One poll: journal to events, events to deliveries, due deliveries sent."""

    reader: JournalReader = field(default_factory=JournalReader)
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(
            timeout=settings.COBROWSE_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        )
    )

    def poll(self) -> tuple[int, int, int]:
        return (
            self.reader.events_from_journal(),
            events_fan_out(),
            deliveries_send_due(client=self.client),
        )

    def close(self) -> None:
        self.client.close()
