"""Who is connected: the open connections of each participant in this process, and the
participant's `left_at` once their last one closes.

A participant is marked as left only when its last connection here closes, and then only if no
newer connection of theirs joined since, here or in another process (`lifecycle.participant_leave`
compares the newest join seen here with the database's `connected_at`).

A connection whose network silently went away (no TCP close: Wi-Fi gone, a laptop's lid shut)
stays open for the server until TCP gives up, minutes later. A client that connects with
`?heartbeat=1` is held to heartbeats instead: one sweep per process and event loop looks at all
such connections every half `COBROWSE_HEARTBEAT_MS`; one that has sent nothing for
`COBROWSE_HEARTBEAT_MS` is sent a `heartbeat` frame (the client answers with one), and one that
has sent nothing for `COBROWSE_SILENCE_TIMEOUT_MS` is dropped: noted as left as of when it was
last heard, and closed with `CloseCode.SILENT`. No timer or task per connection: reading a frame
costs setting one flag (`Liveness.heard`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings

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


async def connection_closed(participant: Participant, *, left_at: datetime | None = None) -> None:
    """A welcomed connection of `participant` closed: note that they left (at `left_at`, by
    default now) if it was their last one here. Never raises: the database may be down, and the
    next join clears `left_at`."""
    last, newest = OPEN_HERE.closed(participant)
    if not last:
        return  # another connection of this participant is open here
    try:
        await database_sync_to_async(lifecycle.participant_leave)(
            participant_id=participant.pk, connected_at=newest, left_at=left_at
        )
    except Exception as exc:
        logger.info("cannot note that participant %s left: %r", participant.pk, exc)


# --- Heartbeats ----------------------------------------------------------------------------


class Liveness:
    """Whether one connection is still heard from. The consumer sets `heard` for every frame it
    reads; the sweep (`watch`) asks a quiet connection for a heartbeat with `ask()` and gives
    up on a silent one with `silent(seconds)`, the seconds since it was last heard."""

    __slots__ = ("_asked", "_quiet_since", "ask", "heard", "silent")

    def __init__(self, *, ask: Callable[[], None], silent: Callable[[float], None]) -> None:
        self.ask = ask
        self.silent = silent
        self.heard = True
        self._quiet_since = 0.0
        self._asked = False


class _Sweep:
    """The connections of one event loop held to heartbeats, and the task that sweeps them
    while there are any."""

    def __init__(self, now: float) -> None:
        self.watched: dict[Liveness, None] = {}  # an ordered set
        self.task: asyncio.Task[None] | None = None
        self.last_pass = now

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.watched:
            await asyncio.sleep(settings.COBROWSE_HEARTBEAT_MS / 2000)  # a pass's period
            self.sweep(loop.time())
        self.task = None

    def sweep(self, now: float) -> None:
        # Quiet is counted from the pass before a frame was heard, up to one pass early: a
        # connection is asked for a heartbeat after COBROWSE_HEARTBEAT_MS of silence at least,
        # and dropped after at most COBROWSE_SILENCE_TIMEOUT_MS.
        period = settings.COBROWSE_HEARTBEAT_MS / 2000
        ask_after = settings.COBROWSE_HEARTBEAT_MS / 1000 + period
        timeout = settings.COBROWSE_SILENCE_TIMEOUT_MS / 1000
        since = self.last_pass
        self.last_pass = now
        for liveness in list(self.watched):
            if liveness.heard:
                # Heard since the last pass: quiet from then on, to err on the early side (a
                # silent network is noticed and dated no later than it went).
                liveness.heard = False
                liveness._quiet_since = since
                liveness._asked = False
                continue
            quiet = now - liveness._quiet_since
            if quiet >= timeout:
                del self.watched[liveness]
                try:
                    liveness.silent(quiet)
                except Exception:
                    logger.exception("cannot drop a silent connection")
            elif quiet >= ask_after and not liveness._asked:
                liveness._asked = True
                try:
                    liveness.ask()
                except Exception:
                    logger.exception("cannot ask a quiet connection for a heartbeat")


_SWEEPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep] = weakref.WeakKeyDictionary()


def watch(liveness: Liveness) -> None:
    """Hold a connection of this event loop to heartbeats, from now on (call it from the loop)."""
    loop = asyncio.get_running_loop()
    sweep = _SWEEPS.get(loop)
    if sweep is None:
        sweep = _SWEEPS[loop] = _Sweep(loop.time())
    if sweep.task is None:
        sweep.last_pass = loop.time()
    liveness.heard = True
    sweep.watched[liveness] = None
    if sweep.task is None:
        sweep.task = loop.create_task(sweep.run())


def unwatch(liveness: Liveness) -> None:
    """The connection closed: no more heartbeats (call it from the connection's loop)."""
    sweep = _SWEEPS.get(asyncio.get_running_loop())
    if sweep is not None:
        sweep.watched.pop(liveness, None)
