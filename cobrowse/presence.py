"""Who is connected: the open connections of each participant in this process, and the
participant's `left_at` once their last one closes.

A participant is marked as left only when its last connection here closes, and then only if no
newer connection of theirs joined since, here or in another process (`lifecycle.participant_leave`
compares the newest join seen here with the database's `connected_at`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from channels.db import database_sync_to_async

from . import lifecycle
from .models import Participant

logger = logging.getLogger(__name__)


class OpenHere:
    """The open connections of each participant in this process: a customer with two tabs of
    one session open, or a reloaded page whose old socket closes after the new one joined."""

    def __init__(self) -> None:
        # (session, participant) -> (open connections, when the newest one joined)
        self._open: dict[tuple[str, int], tuple[int, datetime | None]] = {}

    def opened(self, participant: Participant) -> None:
        key = (str(participant.session_id), participant.pk)
        count, newest = self._open.get(key, (0, None))
        at = participant.connected_at
        if newest is None or (at is not None and at > newest):
            newest = at
        self._open[key] = (count + 1, newest)

    def closed(self, participant: Participant) -> tuple[bool, datetime | None]:
        """(whether it was this participant's last connection here, the newest one's join)."""
        key = (str(participant.session_id), participant.pk)
        count, newest = self._open.pop(key, (1, participant.connected_at))
        if count > 1:
            self._open[key] = (count - 1, newest)
            return False, newest
        return True, newest


OPEN_HERE = OpenHere()


def connection_opened(participant: Participant) -> None:
    """A connection of `participant` was welcomed in this process."""
    OPEN_HERE.opened(participant)


async def connection_closed(participant: Participant) -> None:
    """A welcomed connection of `participant` closed: note that they left if it was their last
    one here. Never raises: the database may be down, and the next join clears `left_at`."""
    last, newest = OPEN_HERE.closed(participant)
    if not last:
        return  # another connection of this participant is open here
    try:
        await database_sync_to_async(lifecycle.participant_leave)(
            participant_id=participant.pk, connected_at=newest
        )
    except Exception as exc:
        logger.info("cannot note that participant %s left: %r", participant.pk, exc)
