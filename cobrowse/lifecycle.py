"""Session lifecycle events (opened, claimed by an operator, ended) for whoever watches the list
of sessions, such as the help desk queue.

Published after commit on the channel-layer group `SESSIONS_GROUP` as
`{"type": "sessions.changed", "session": "<uuid>", "status": "waiting|active|ended"}`.
Like every channel-layer message this is a doorbell: a watcher re-reads the sessions from the
database when it rings, and on (re)connect.
"""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

SESSIONS_GROUP = "cobrowse.sessions"


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
