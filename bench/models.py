"""The table of the save-per-message baseline (created with `migrate --run-syncdb`)."""

from __future__ import annotations

from django.db import models


class Message(models.Model):
    room = models.CharField(max_length=64)
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager[Message] = models.Manager()

    def __str__(self) -> str:
        return f"{self.room} #{self.pk}"
