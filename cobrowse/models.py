"""Sessions, participants and the operation journal.

The models hold data only. The order of operations is decided in `cobrowse/sequencer.py`; who
may do what is decided in `cobrowse/policy.py`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from . import protocol

GENESIS_HASH = "0" * 64


class Site(models.TextChoices):
    SHOP = "shop", "Shop"
    BANK = "bank", "Bank"


class Status(models.TextChoices):
    WAITING = "waiting", "Waiting for an operator"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    OPERATOR = "operator", "Operator"
    OBSERVER = "observer", "Observer"


class Delivery(models.TextChoices):
    ALL = protocol.Delivery.ALL.value, "Every participant"
    OTHERS = protocol.Delivery.OTHERS.value, "Every participant except the sender"


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Six digits, unique among open sessions (the partial constraint below).
    code = models.CharField(max_length=6)
    site = models.CharField(max_length=8, choices=Site.choices)
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

    class Meta:
        ordering = ["-created_at"]
        permissions = [("operate_session", "Can join and operate co-browsing sessions")]
        constraints = [
            models.UniqueConstraint(
                fields=["code"],
                condition=~models.Q(status="ended"),
                name="unique_code_among_open_sessions",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.site}, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.status != Status.ENDED


class Participant(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=8, choices=Role.choices)
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


class Operation(models.Model):
    """One journaled operation. Rows are written once by the sequencer and never changed."""

    # No index of their own on session and sender: the unique (session, seq) and
    # (sender, client_op_id) indexes begin with them and serve every lookup; each index less is
    # less work for every journaled op.
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="operations", db_index=False
    )
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    # NULL, not "", for "no element": the unique (session, element, element_seq) ignores NULLs.
    element = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    element_seq = models.BigIntegerField(null=True, blank=True)
    delivery = models.CharField(max_length=8, choices=Delivery.choices)
    sender = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="operations", db_index=False
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
            models.UniqueConstraint(
                fields=["session", "element", "element_seq"],
                name="unique_element_seq_per_session",
            ),
            models.UniqueConstraint(
                fields=["sender", "client_op_id"], name="unique_client_op_id_per_sender"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"
