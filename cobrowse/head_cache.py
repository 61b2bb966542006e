"""The journal writer's copy of the heads it read or wrote last, by session.

The writer (cobrowse/writer.py) decides most batches from this copy instead of reading the
session rows first, and writes them with a statement that checks the rows still hold the
heads it decided from (`journal_sql.write_if_heads`): one round trip instead of two. The copy
is only ever a guess: a stale one costs a second try from a read, never a wrong decision.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import journal_sql
from .models import Status


class HeadCache:
    """The session row's state and the element heads the writer knows, by session."""

    LIMIT = 10_000  # sessions; past it the cache starts again empty
    # A session that another writer appends to too (its connections on several processes)
    # would make nearly every append from the cache fail and go again from a read: three round
    # trips instead of two. It is not cached for this long after another writer was seen.
    CONTENDED_SECONDS = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[uuid.UUID, dict[str, Any]] = {}
        self._elements: dict[uuid.UUID, dict[str, int]] = {}
        self._contended: dict[uuid.UUID, float] = {}  # session -> not cached until then

    def heads_for(self, query: journal_sql.HeadsQuery) -> journal_sql.Heads | None:
        """Heads to decide `query`'s append from (copies), or None when the cache cannot: a
        session or an element it does not know, or a grant (which needs the operators)."""
        if query.operators:
            return None
        sessions = {}
        for sid in query.sessions:
            state = self._sessions.get(sid)
            if state is None:
                return None
            sessions[sid] = dict(state)
        elements = {}
        for sid, element in query.elements:
            head = self._elements.get(sid, {}).get(element)
            if head is None:
                return None
            elements[(sid, element)] = head
        return journal_sql.Heads(sessions, {}, elements, {})

    def remember(
        self,
        sessions: dict[uuid.UUID, dict[str, Any]],
        elements: dict[tuple[uuid.UUID, str], int],
    ) -> None:
        """The heads of `sessions` after an append (read and then moved by what it wrote),
        and the element heads it read or moved. Ended sessions are forgotten."""
        if len(self._sessions) > self.LIMIT:
            self._sessions.clear()
            self._elements.clear()
        now = self._clock()
        if self._contended:
            self._contended = {sid: t for sid, t in self._contended.items() if t > now}
        for sid, state in sessions.items():
            if state["status"] == Status.ENDED or sid in self._contended:
                self.forget({sid})
            else:
                self._sessions[sid] = {k: v for k, v in state.items() if k != "ends"}
        for (sid, element), head in elements.items():
            if sid in self._sessions:
                self._elements.setdefault(sid, {})[element] = head

    def forget(self, sessions: set[uuid.UUID]) -> None:
        for sid in sessions:
            self._sessions.pop(sid, None)
            self._elements.pop(sid, None)

    def contend(self, sessions: Iterable[uuid.UUID]) -> None:
        """Another writer appended to `sessions`: do not cache them for a while."""
        until = self._clock() + self.CONTENDED_SECONDS
        for sid in sessions:
            self._contended[sid] = until
            self.forget({sid})
