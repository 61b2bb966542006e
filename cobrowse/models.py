"""Sites, teams, sessions, participants and the operation journal.

The models hold data only. The order of operations is decided in `cobrowse/sequencer.py`; who
may do what is decided in `cobrowse/policy.py`.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import protocol

GENESIS_HASH = "0" * 64


def new_public_key() -> str:
    """A site's public key: in the install snippet of every page of the site, so not secret."""
    return f"pk_live_{secrets.token_urlsafe(16)[:22]}"


def new_secret() -> str:
    """A signing secret for identity tokens (HS256): 256 bits, as RFC 7518 asks of its key."""
    return secrets.token_urlsafe(32)


class Site(models.Model):
    """A merchant's website that installs the co-browsing widget with one script tag.

    The widget names the site by its `public_key`; the desk answers only pages whose origin is
    on `allowed_origins`. The merchant's server signs who the customer is with `secret` (or,
    while a rotation is under way, `previous_secret`): see docs/install.md.
    """

    name = models.CharField(max_length=100)
    public_key = models.CharField(
        max_length=64,
        unique=True,
        default=new_public_key,
        help_text="Public: goes into the install snippet on the site's pages.",
    )
    # Exact origins, "scheme://host[:port]", normalised by cobrowse.embed.normalize_origin.
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Origins (scheme://host[:port]) whose pages may open sessions, one per line.",
    )
    secret = models.CharField(max_length=128, default=new_secret)
    previous_secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="Still accepted for identity tokens until cleared (after a key rotation).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """Operators who serve some sites: they see, join and replay only those sites' sessions."""

    name = models.CharField(max_length=100, unique=True)
    sites = models.ManyToManyField(Site, blank=True, related_name="teams")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="cobrowse_teams"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    WAITING = "waiting", "Waiting for an operator"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    OPERATOR = "operator", "Operator"
    OBSERVER = "observer", "Observer"
    # Watches read-only: sends nothing (policy.SEND_RULES).
    SUPERVISOR = "supervisor", "Supervisor"


class Delivery(models.TextChoices):
    ALL = protocol.Delivery.ALL.value, "Every participant"
    OTHERS = protocol.Delivery.OTHERS.value, "Every participant except the sender"


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Six digits, unique among open sessions (the partial constraint below).
    code = models.CharField(max_length=6)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="sessions")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.WAITING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The journal's head: the seq of the last journaled operation. Only the sequencer writes it.
    head_seq = models.BigIntegerField(default=0)
    # Hash of the op at head_seq (the chain's end), so appending needs no extra read.
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # Seq of the newest `dom` op that carries an rrweb full snapshot (0: none yet).
    snapshot_seq = models.BigIntegerField(default=0)
    # The operator participant the customer has granted control to, if any.
    control_participant = models.ForeignKey(
        "Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # rrweb node ids that the session's snapshots and mutations marked as sensitive, so that
    # later input events on them are masked (cobrowse/masking.py). Only the sequencer writes it.
    sensitive_nodes = models.JSONField(default=list, blank=True)
    # The Django session of the browser that asked for help.
    customer_session_key = models.CharField(max_length=64, blank=True, db_index=True)
    # Who the customer is, as the merchant's server signed it (cobrowse/embed.py); empty and
    # not verified when the page sent no identity.
    identity_verified = models.BooleanField(default=False)
    customer_id = models.CharField(max_length=200, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    # The customer's device and browser when they asked for help ("Desktop Chrome", "iPhone
    # Safari"; lifecycle.device_label), empty when their browser did not say.
    device = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("operate_session", "Can join and operate co-browsing sessions"),
            ("supervise_session", "Can watch every live session of the sites their teams serve"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["code"],
                condition=~models.Q(status="ended"),
                name="unique_code_among_open_sessions",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != Status.ENDED


class Participant(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=10, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    display_name = models.CharField(max_length=150, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # When its latest connection joined: a connection that closes after a newer one joined
    # (a reload: the old page's socket closes late) does not mark the participant as left.
    connected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(role="customer"),
                name="one_customer_per_session",
            ),
            models.UniqueConstraint(
                fields=["session", "user"], name="one_participant_per_user_and_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk} {self.display_name}".strip()


class Invitation(models.Model):
    """An operator of a live session asked another operator to join it (as an observer who
    can chat); shown in the invitee's queue until the session ends or they join."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cobrowse_invitations"
    )
    invited_by = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "invitee"], name="one_invitation_per_user_and_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.session}"


class Operation(models.Model):
    """One journaled operation. Rows are written once by the sequencer and never changed."""

    # No index of their own on session and sender: the unique (session, seq) and
    # (sender, client_op_id) indexes begin with them and serve every lookup; each index less is
    # less work for every journaled op.
    #
    # And no foreign-key constraint in the database (db_constraint=False): checking one is a
    # trigger and a row lock on the referenced row for every inserted op, which cost PostgreSQL
    # more than the insert itself (docs/performance.md, change 21). Rows stay consistent
    # without it: the journal writer inserts only under the session row's lock and only while
    # that row still holds the heads it decided from (journal_sql), a sender is a participant
    # of the session it writes to, and sessions are deleted only by
    # `lifecycle.sessions_delete`, which takes the same lock first.
    session = models.ForeignKey(
        Session,
        on_delete=models.CASCADE,
        related_name="operations",
        db_index=False,
        db_constraint=False,
    )
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    # NULL, not "", for "no element": the unique (session, element, element_seq) leaves them out.
    element = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    element_seq = models.BigIntegerField(null=True, blank=True)
    delivery = models.CharField(max_length=8, choices=Delivery.choices)
    sender = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="operations",
        db_index=False,
        db_constraint=False,
    )
    client_op_id = models.CharField(max_length=64)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    # sha256 over the previous op's hash and this op's content: a tamper-evident chain.
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            # The unique index on (session, seq) also serves "ops after seq N".
            models.UniqueConstraint(fields=["session", "seq"], name="unique_seq_per_session"),
            # Only ops that name an element: the others (most of the journal: pointer moves,
            # chat, dom) had their NULLs indexed for nothing, as NULLs never conflict.
            models.UniqueConstraint(
                fields=["session", "element", "element_seq"],
                condition=models.Q(element__isnull=False),
                name="unique_element_seq_per_session",
            ),
            models.UniqueConstraint(
                fields=["sender", "client_op_id"], name="unique_client_op_id_per_sender"
            ),
        ]
        indexes = [
            # The webhooks worker reads the joins, grants and ends past its cursor
            # (cobrowse/webhooks.py). Partial: the few ops of these kinds are all it holds, so
            # the many other ops cost it only the test of the condition.
            models.Index(
                fields=["id"],
                condition=models.Q(kind__in=["session", "control"]),
                name="operation_lifecycle",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"


class ApiToken(models.Model):
    """A ticket system's or CRM's key to the REST API (cobrowse/api.py) for one site's sessions.

    Only the sha256 of the secret is kept (`cobrowse.api_tokens`): the full token is shown
    once, when it is created in admin; `prefix` is its first characters, to tell tokens apart.
    A revoked token stays listed, refused."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="Who uses it, e.g. the ticket system.")
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


# --- Webhooks (cobrowse/webhooks.py) ------------------------------------------------------------


class WebhookEventType(models.TextChoices):
    SESSION_REQUESTED = "session.requested", "session.requested: a customer opened a session"
    SESSION_JOINED = "session.joined", "session.joined: an operator joined"
    CONTROL_GRANTED = "control.granted", "control.granted: the customer granted control"
    SESSION_ENDED = "session.ended", "session.ended: the session ended"


def all_webhook_events() -> list[str]:
    return [str(value) for value in WebhookEventType.values]


class WebhookEndpoint(models.Model):
    """A URL of a site's merchant that receives the site's events, signed with `secret`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128,
        default=new_secret,
        help_text="Signs every request (X-Cobrowse-Signature); the receiver verifies with it.",
    )
    events = models.JSONField(
        default=all_webhook_events, help_text="The event types this URL receives."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site", "url"]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """The outbox: one row per event, written in the transaction of what it tells (a session's
    opening) or made from a journaled op (`operation_id`, unique: made once however often the
    worker reads the op again). `fanned_out` once its deliveries exist."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="webhook_events")
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="webhook_events", db_index=False
    )
    type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    operation_id = models.BigIntegerField(null=True, blank=True, unique=True)
    payload = models.JSONField()
    occurred_at = models.DateTimeField(default=timezone.now)
    fanned_out = models.BooleanField(default=False)

    class Meta:
        ordering = ["occurred_at"]
        indexes = [
            models.Index(
                fields=["occurred_at"],
                condition=models.Q(fanned_out=False),
                name="webhook_event_to_fan_out",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event to one endpoint: its id is the X-Cobrowse-Delivery header, the same on every
    attempt, so a receiver can drop a repeat."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="one_delivery_per_endpoint_and_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event.type} to {self.endpoint} ({self.status})"


class WebhookCursor(models.Model):
    """How far the webhook worker has read the journal: every op with a smaller id was read.
    One row (`name` "journal")."""

    name = models.CharField(max_length=32, primary_key=True)
    operation_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at op {self.operation_id}"
