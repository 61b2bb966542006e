"""The journal writer: group commit, then distribution after commit.

One writer per process (per event loop). Connections hand it submissions and get a future for
each. The writer takes everything that has arrived since its last batch and appends it, all
sessions in one transaction: on PostgreSQL from its event loop on a connection of its own
(`sequencer.operations_append_many_async`), elsewhere in a thread of its own that keeps one
Django connection (`sequencer.operations_append_many`). Only after the commit, it:
1. hands the new entries to this process's connections of that session (no round trip), and
2. rings the doorbell on the channel layer so the other processes learn of them too.

The doorbell is per process and per batch, not per connection and per op, and it carries no
ops: every process's writer holds one channel in one group (`DOORBELL_GROUP`); a batch rings it
once with the seq range it journaled for each of its sessions (rung beside the writer, never
waited for); another process with connections of such a session reads that range from the
journal once and hands it to them; a process ignores its own doorbells. Connections hold no
channel. (Every process hears every doorbell: cheap, as doorbells are small, for the few
processes a help desk runs.)

While one batch is being written the next one fills up, so under load many ops share a commit
(group commit) and at low load an op waits for nothing but its own commit. The hand-over of a
committed batch runs after the next batch's statement has gone out: the database writes one
while the process delivers the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import psycopg
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    close_old_connections,
    connection,
    connections,
)

from . import journal_sql, lifecycle
from .channel_layer import RECONNECTED
from .head_cache import HeadCache
from .selectors import operations_in_ranges, operations_in_ranges_async
from .sequencer import (
    AppendResult,
    AppendTimes,
    Entry,
    Outcome,
    Submission,
    operations_append_many,
    operations_append_many_async,
)

logger = logging.getLogger(__name__)
stats_logger = logging.getLogger(f"{__name__}.stats")

# Distinguishes this process's doorbells from other processes' on the channel layer.
PROCESS_ORIGIN = uuid.uuid4().hex
MAX_BATCH = 2000


# Every process's writer is in this group: one doorbell per batch, for all its sessions.
DOORBELL_GROUP = "cobrowse.doorbell"
# The doorbell's message: {"type": DOORBELL, "origin": the ringing process (None: no server
# process), "ranges": {session id: [first seq, last seq] journaled}}.
DOORBELL = "doorbell.rang"
# The core layer forgets group members after a day; the writer joins again well before that.
REJOIN_SECONDS = 600
# A doorbell the channel layer refused, or a read of rung ranges the database refused, is tried
# again after a pause that doubles up to the cap, merged with the doorbells meanwhile: one
# failing attempt per pause during an outage, not one per batch, and nothing dropped.
RETRY_START, RETRY_CAP = 0.1, 0.5


class Answer:
    """An op's answer, given by `answer(outcome, error)` from the hand-over itself. A future's
    done-callbacks would take a pass through the event loop each: one per op, on the server's
    busiest path. Subclasses say what answering is (`CallAnswer`: a function to call)."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, outcome: Outcome) -> None:
        self._give(outcome, None)

    def set_exception(self, error: BaseException) -> None:
        self._give(None, error)

    def _give(self, outcome: Outcome | None, error: BaseException | None) -> None:
        self._done = True
        try:
            self.answer(outcome, error)
        except Exception:  # the receiver's bug: not the other ops' of the batch
            logger.exception("answering a journaled op failed")

    def answer(self, outcome: Outcome | None, error: BaseException | None) -> None:
        raise NotImplementedError


class CallAnswer(Answer):
    """The answer is a call of `call(outcome, error)`."""

    __slots__ = ("_call",)

    def __init__(self, call: Callable[[Outcome | None, BaseException | None], None]) -> None:
        self._done = False
        self._call = call

    def answer(self, outcome: Outcome | None, error: BaseException | None) -> None:
        self._call(outcome, error)


Reply = asyncio.Future[Outcome] | Answer


class Listener(Protocol):
    def deliver_entries(self, entries: list[Entry]) -> None: ...

    def catch_up(self) -> None: ...


class JournalWriter:
    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, JournalWriter] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def get(cls) -> JournalWriter:
        loop = asyncio.get_running_loop()
        writer = cls._by_loop.get(loop)
        if writer is None:
            writer = cls._by_loop[loop] = cls(loop)
        return writer

    @classmethod
    async def close_all(cls) -> None:
        writer = cls._by_loop.pop(asyncio.get_running_loop(), None)
        if writer is not None:
            await writer.close()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: list[tuple[str, Submission, Reply]] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        layer = get_channel_layer()
        # Local hand-over gives this process's connections their entries without a round trip
        # through the channel layer. With the in-memory layer every connection lives in this
        # process, so the hand-over already reached them all.
        self._local = bool(getattr(settings, "COBROWSE_LOCAL_HANDOVER", True))
        in_memory = isinstance(layer, InMemoryChannelLayer)
        self._layer = None if (in_memory and self._local) else layer
        self._origin = PROCESS_ORIGIN if self._local else None
        self._channel: str | None = None
        self._join_lock = asyncio.Lock()
        self._doorbells: asyncio.Task[None] | None = None
        self._rejoin: asyncio.Task[None] | None = None
        self._ringing: asyncio.Task[None] | None = None
        self._unrung: dict[str, tuple[int, int]] = {}
        # Other processes' doorbells not read yet: a seq range by session (`_read_rung`).
        self._unread: dict[str, tuple[int, int]] = {}
        self._reading: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # On PostgreSQL the writer appends from its event loop on a connection of its own: no
        # thread hop per batch (each hop waited for the GIL while the loop was busy).
        # Elsewhere (SQLite) in its thread, through Django's connection.
        self._pg_params = _pg_connection_params()
        self._pg: psycopg.AsyncConnection[Any] | None = None
        self._reader: psycopg.AsyncConnection[Any] | None = None
        # The heads this writer read or wrote last: most appends need no read before their
        # writes (one round trip instead of two); see cobrowse/head_cache.py.
        self._heads = HeadCache()
        self.batches = 0
        self.ops = 0
        # Appends tried again: on a new connection, or each session alone after its batch
        # failed (`_append`); a batch refused as stale and decided again from a read is counted
        # by the sequencer, in `_times`. A batch tried again is still one batch.
        self.retries = 0
        # What the statistics log line reports (COBROWSE_WRITER_STATS_SECONDS).
        self._times = AppendTimes()
        self._append_seconds = 0.0
        self._hand_over_seconds = 0.0
        self._largest = 0
        self._stats: asyncio.Task[None] | None = None
        # Ends the sessions whose customer is gone (lifecycle.sweep_abandoned_forever).
        self._sweep: asyncio.Task[None] | None = None

    # --- Connections -------------------------------------------------------------------------

    async def subscribe(self, session_id: str, listener: Listener) -> None:
        """Hand `listener` every entry of the session journaled from now on. Returns once this
        process hears the doorbells, so nothing committed afterwards is missed."""
        self._listeners[session_id].add(listener)
        if self._layer is not None and self._channel is None:
            await self._join()

    def unsubscribe(self, session_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(session_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[session_id]

    async def _join(self) -> None:
        assert self._layer is not None
        async with self._join_lock:
            if self._channel is not None:
                return
            channel = await self._layer.new_channel()
            await self._layer.group_add(DOORBELL_GROUP, channel)
            self._channel = channel
            self._doorbells = self._loop.create_task(self._listen(), name="doorbells")
            self._rejoin = self._loop.create_task(self._keep_joined(), name="doorbell-rejoin")

    async def _keep_joined(self) -> None:
        assert self._layer is not None and self._channel is not None
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            try:
                await self._layer.group_add(DOORBELL_GROUP, self._channel)
            except Exception as exc:
                logger.warning("could not renew the doorbell membership: %r", exc)

    async def _listen(self) -> None:
        """Hand the doorbells of other processes to this process's connections."""
        assert self._layer is not None and self._channel is not None
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # The core layer's Redis client turns a cancelled read into a timeout.
                    raise asyncio.CancelledError from None
                # Connections repair what they miss meanwhile from the journal.
                logger.warning("doorbell channel failed; listening again in 1 s: %r", exc)
                await asyncio.sleep(1)
                continue
            if message.get("type") == RECONNECTED:
                # The channel layer reconnected (cobrowse/channel_layer.py): doorbells sent
                # meanwhile are lost, so every connection reads what it missed.
                for listeners in list(self._listeners.values()):
                    for listener in list(listeners):
                        listener.catch_up()
                continue
            rung = doorbell_ranges(message)
            # Several processes ring for one session: their ranges are joined.
            _merge_ranges(self._unread, {s: r for s, r in rung.items() if s in self._listeners})
            if self._unread and (self._reading is None or self._reading.done()):
                self._reading = self._loop.create_task(self._read_rung(), name="doorbell-reader")

    async def _read_rung(self) -> None:
        """Read what the doorbells rang for and hand it over, beside the listener: doorbells
        that arrive during a read are merged (a session's seq ranges joined) and read together
        next, so the reads keep up however fast other processes ring. Read one by one, a
        doorbell per batch of every other process, they fell behind within seconds."""
        pause = RETRY_START
        while self._unread:
            wanted, self._unread = self._unread, {}
            try:
                if self._pg_params is not None:
                    found = await operations_in_ranges_async(await self._pg_reader(), wanted)
                else:
                    found = await database_sync_to_async(operations_in_ranges)(wanted)
            except Exception as exc:
                if isinstance(exc, psycopg.Error):
                    await self._close_reader()  # in doubt: a new connection for the next read
                if pause == RETRY_START:
                    logger.warning("could not read rung ranges; trying again with pauses: %r", exc)
                # Kept for the next try (a quiet session would otherwise wait for its next op
                # or ping), but only for sessions still listened to.
                _merge_ranges(
                    self._unread, {s: r for s, r in wanted.items() if s in self._listeners}
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_CAP)
                continue
            pause = RETRY_START
            for session_id, entries in found.items():
                for listener in list(self._listeners.get(session_id, ())):
                    listener.deliver_entries(entries)

    @classmethod
    def ring_here(cls, rung: dict[str, tuple[int, int]]) -> None:
        """From this process's event loop, for ops journaled outside the writer (a desk's
        request) when no channel layer rings for them (`ring_from_elsewhere` does otherwise):
        read them and hand them to this loop's connections, as a doorbell would."""
        writer = cls._by_loop.get(asyncio.get_running_loop())
        if writer is not None:
            writer._rung_here(rung)

    def _rung_here(self, rung: dict[str, tuple[int, int]]) -> None:
        if self._layer is not None:
            return
        _merge_ranges(self._unread, {s: r for s, r in rung.items() if s in self._listeners})
        if self._unread and (self._reading is None or self._reading.done()):
            self._reading = self._loop.create_task(self._read_rung(), name="doorbell-reader")

    def submit(self, session_id: str, submission: Submission) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._enqueue(session_id, submission, future)
        return future

    def submit_answered(
        self,
        session_id: str,
        submission: Submission,
        answer: Callable[[Outcome | None, BaseException | None], None],
    ) -> None:
        """`submit`, answered by a call of `answer(outcome, None)` (or `(None, error)`) from the
        batch's hand-over, in the order of the batch, after its entries were handed over."""
        self._enqueue(session_id, submission, CallAnswer(answer))

    def submit_all(self, session_id: str, items: list[tuple[Submission, Answer]]) -> None:
        """Several ops of one session, in their order, each answered from the hand-over (as
        `submit_answered`); in the same batch unless it is full."""
        self._queue.extend([(session_id, submission, answer) for submission, answer in items])
        self._wake()

    def _enqueue(self, session_id: str, submission: Submission, reply: Reply) -> None:
        self._queue.append((session_id, submission, reply))
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(), name="journal-writer")

    async def close(self) -> None:
        if self._ringing is not None:
            # The last doorbells, unless the channel layer is down: then they would wait for it.
            await asyncio.wait([self._ringing], timeout=RETRY_CAP)
            self._ringing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ringing
        for task in (
            self._task,
            self._doorbells,
            self._rejoin,
            self._reading,
            self._stats,
            self._sweep,
        ):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._pg is not None:
            await self._pg.close()
        await self._close_reader()
        await self._loop.run_in_executor(self._executor, connections.close_all)
        self._executor.shutdown(wait=True)

    # --- The loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        every = getattr(settings, "COBROWSE_WRITER_STATS_SECONDS", 0)
        if every > 0 and self._stats is None:
            self._stats = self._loop.create_task(self._log_stats(every), name="writer-stats")
        if self._sweep is None:
            self._sweep = self._loop.create_task(
                lifecycle.sweep_abandoned_forever(self._in_thread), name="abandoned-sweep"
            )
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._write(batch)

    async def _write(self, batch: list[tuple[str, Submission, Reply]]) -> None:
        groups: dict[str, list[tuple[Submission, Reply]]] = defaultdict(list)
        for session_id, submission, future in batch:
            groups[session_id].append((submission, future))
        started = time.perf_counter()
        try:
            results = await self._append([(sid, [s for s, _ in it]) for sid, it in groups.items()])
        except Exception as exc:  # a bug, not the database: still answer every op
            self._fail(batch, exc)
            return
        self._append_seconds += time.perf_counter() - started
        self._largest = max(self._largest, len(batch))
        self.batches += 1
        self.ops += len(batch)
        # The hand-over (answers, deliveries, the doorbell) is most of a batch's work. It runs
        # once this loop has sent the next batch's statement, so that batch waits for the
        # database, not for these deliveries. Callbacks run in the order they are scheduled:
        # batches are handed over in the order they were journaled.
        self._loop.call_soon(self._hand_over, batch, groups, results)

    def _fail(self, batch: list[tuple[str, Submission, Reply]], exc: Exception) -> None:
        logger.error("journal writer failed", exc_info=exc)
        for _, _, future in batch:
            if not future.done():
                future.set_exception(exc)

    def _hand_over(
        self,
        batch: list[tuple[str, Submission, Reply]],
        groups: dict[str, list[tuple[Submission, Reply]]],
        results: list[AppendResult | BaseException],
    ) -> None:
        """Answer each op of a journaled batch and hand its entries to this process's
        connections; ring the doorbell for the other processes."""
        started = time.perf_counter()
        try:
            doorbell: dict[str, list[Entry]] = {}
            for (session_id, items), result in zip(groups.items(), results, strict=True):
                if isinstance(result, BaseException):
                    for _, future in items:
                        if not future.done():
                            future.set_exception(result)
                    continue
                entries = result.entries
                if any(entry["ends_session"] for entry in entries):
                    self._background(lifecycle.publish(session_id=session_id, status="ended"))
                if entries:
                    if self._local:
                        for listener in list(self._listeners.get(session_id, ())):
                            listener.deliver_entries(entries)
                    doorbell[session_id] = entries
                for (_, future), outcome in zip(items, result.outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
            if doorbell and self._layer is not None:
                self._ring_later({sid: (e[0]["seq"], e[-1]["seq"]) for sid, e in doorbell.items()})
        except Exception as exc:  # a bug: still answer every op
            self._fail(batch, exc)
        self._hand_over_seconds += time.perf_counter() - started

    async def _in_thread(self, call: Callable[[], object]) -> object:
        """`call` on the writer's thread, after or before a batch, never beside one."""
        return await self._loop.run_in_executor(self._executor, call)

    async def _log_stats(self, every: float) -> None:
        """Every `every` seconds, one log line on the batches since the last one: how many, how
        large, how many appends were tried again (a batch refused as stale, or whose connection
        broke, is one batch tried twice), and where a batch's time went (deciding it; the rest
        of its append: waiting for the database's answer and for the event loop's turn;
        handing it over)."""
        before = [0.0] * 6
        while True:
            await asyncio.sleep(every)
            now = [
                float(self.batches),
                float(self.ops),
                float(self.retries + self._times.stale_retries),
                self._times.decide_seconds,
                self._append_seconds,
                self._hand_over_seconds,
            ]
            batches, ops, retries, decide, append, hand_over = (
                a - b for a, b in zip(now, before, strict=True)
            )
            before, largest, self._largest = now, self._largest, 0
            if batches:
                ms = 1000 / batches
                stats_logger.info(
                    "%.0f batches/s, %.0f ops/s, %.1f ops a batch (largest %d), %d tried again; "
                    "a batch: deciding %.2f ms, waiting %.2f ms, handing over %.2f ms",
                    batches / every,
                    ops / every,
                    ops / batches,
                    largest,
                    retries,
                    decide * ms,
                    (append - decide) * ms,
                    hand_over * ms,
                )

    async def _append(
        self, work: list[tuple[str, list[Submission]]]
    ) -> list[AppendResult | BaseException]:
        """Every session of the batch in one transaction (one commit for all). Should that
        fail for another reason than the connection, each session again in a transaction of
        its own, so that one session's failure is not every session's."""
        try:
            return await self._append_many(work)
        except (psycopg.Error, DatabaseError) as exc:
            if len(work) == 1 or isinstance(exc, psycopg.OperationalError):
                logger.warning("journal append of %s session(s) failed: %s", len(work), exc)
                return [exc] * len(work)
            logger.info("journal append of %s sessions failed, one by one now: %s", len(work), exc)
        results: list[AppendResult | BaseException] = []
        for item in work:
            self.retries += 1
            try:
                results.extend(await self._append_many([item]))
            except (psycopg.Error, DatabaseError) as exc:
                logger.warning("journal append for session %s failed: %s", item[0], exc)
                results.append(exc)
        return results

    async def _append_many(
        self, work: list[tuple[str, list[Submission]]]
    ) -> list[AppendResult | BaseException]:
        """One transaction for every session of `work`: on PostgreSQL from this event loop on
        the writer's own connection, elsewhere in the writer's thread. Raises what the database
        raised: then nothing of `work` was journaled."""
        if self._pg_params is None:
            return await self._loop.run_in_executor(self._executor, _append_in_thread, work)
        try:
            return await self._append_on_pg(work)
        except psycopg.OperationalError as exc:
            # The connection broke (a restarted database, a killed backend). Once more on a
            # fresh one: safe, since a resent client_op_id is never journaled twice (what did
            # commit comes back as Duplicate).
            logger.info("journal connection failed, once more on a new one: %s", exc)
            self.retries += 1
            await self._drop_pg()
        try:
            return await self._append_on_pg(work)
        except psycopg.OperationalError:
            await self._drop_pg()
            raise

    async def _append_on_pg(
        self, work: list[tuple[str, list[Submission]]]
    ) -> list[AppendResult | BaseException]:
        return list(
            await operations_append_many_async(
                conn=await self._pg_connection(), batches=work, cache=self._heads, times=self._times
            )
        )

    async def _pg_reader(self) -> psycopg.AsyncConnection[Any]:
        """The connection the doorbell reader reads other processes' entries on (opened on
        the first doorbell that concerns this process: one process alone never needs it)."""
        assert self._pg_params is not None
        if self._reader is None or self._reader.closed or self._reader.broken:
            await self._close_reader()
            conn = await psycopg.AsyncConnection.connect(**self._pg_params, autocommit=True)
            if settings.COBROWSE_PREPARED_STATEMENTS:
                # Its one statement is prepared too: index lookups only, as the writer's.
                await journal_sql.prepare_writer_connection(conn)
            self._reader = conn
        return self._reader

    async def _close_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.close()
            self._reader = None

    async def _drop_pg(self) -> None:
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await self._pg.close()
            self._pg = None

    async def _pg_connection(self) -> psycopg.AsyncConnection[Any]:
        """The writer's own PostgreSQL connection (autocommit: an append is one statement,
        or sends its own BEGIN and COMMIT); a new one after a failure."""
        assert self._pg_params is not None
        if self._pg is None or self._pg.closed or self._pg.broken:
            if self._pg is not None:
                await self._pg.close()
            self._pg = None
            conn = await psycopg.AsyncConnection.connect(**self._pg_params, autocommit=True)
            if settings.COBROWSE_PREPARED_STATEMENTS:
                await journal_sql.prepare_writer_connection(conn)
            self._pg = conn
        return self._pg

    def _background(self, coroutine: Any) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ring_later(self, heads: dict[str, tuple[int, int]]) -> None:
        """Queue a batch's doorbell for the ringer, which runs beside the writer: the writer
        never waits for Redis. Doorbells that queue up while one is being sent go out as one
        (a session's seq ranges merged)."""
        _merge_ranges(self._unrung, heads)
        if self._ringing is None or self._ringing.done():
            self._ringing = self._loop.create_task(self._ringer(), name="doorbell-ringer")

    async def _ringer(self) -> None:
        pause = RETRY_START
        while self._unrung:
            heads, self._unrung = self._unrung, {}
            try:
                await self._ring(heads)
            except Exception as exc:
                # Kept and tried again: the ranges of every batch meanwhile are merged into it,
                # so when the layer is back one doorbell brings other processes all they missed.
                if pause == RETRY_START:
                    logger.warning("doorbells failing, trying again with pauses: %r", exc)
                _merge_ranges(self._unrung, heads)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_CAP)
                continue
            if pause > RETRY_START:
                logger.warning("doorbells ring again")
                pause = RETRY_START

    async def _ring(self, heads: dict[str, tuple[int, int]]) -> None:
        """One small message for every session of one or more batches, to every process:
        which seqs were journaled. Another process reads them from the journal (once for all
        its connections of the session); this one ignores its own."""
        assert self._layer is not None
        await self._layer.group_send(
            DOORBELL_GROUP,
            {"type": DOORBELL, "origin": self._origin, "ranges": heads},
        )


def ring_from_elsewhere(heads: dict[str, tuple[int, int]]) -> None:
    """From synchronous code outside the server (a management command) that journaled ops: the
    doorbell every server process reads (no process takes it for its own). Without a channel
    layer shared with the servers, their connections find the ops at their next ping."""
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return
    try:
        async_to_sync(layer.group_send)(
            DOORBELL_GROUP, {"type": DOORBELL, "origin": None, "ranges": heads}
        )
    except Exception as exc:  # the connections repair from the journal at their next ping
        logger.warning("could not ring for ops journaled here: %r", exc)


def _merge_ranges(into: dict[str, tuple[int, int]], ranges: dict[str, tuple[int, int]]) -> None:
    """Join each session's seq range of `ranges` into its range in `into`."""
    for session_id, (first, last) in ranges.items():
        known = into.get(session_id)
        into[session_id] = (min(first, known[0]), max(last, known[1])) if known else (first, last)


def _pg_connection_params() -> dict[str, Any] | None:
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "postgresql":
        return None
    params: dict[str, Any] = database.get_connection_params()
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    # The writer runs the same few statements all day: prepared, PostgreSQL parses and plans
    # them once per connection (COBROWSE_PREPARED_STATEMENTS=0 behind a pooler that cannot
    # keep prepared statements).
    params["prepare_threshold"] = 0 if settings.COBROWSE_PREPARED_STATEMENTS else None
    return params


def _append_in_thread(
    work: list[tuple[str, list[Submission]]],
) -> list[AppendResult | BaseException]:
    """`JournalWriter._append_many` in the writer's thread, on Django's connection (SQLite)."""
    close_old_connections()
    try:
        return list(operations_append_many(batches=work))
    except DatabaseError:
        _drop_connection()  # in doubt: a new connection for the next append
        raise


def _drop_connection() -> None:
    with contextlib.suppress(Exception):  # the connection may already be gone
        connection.close()


def doorbell_ranges(message: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The seq ranges of a doorbell by session; none when it came from this process."""
    if message.get("type") != DOORBELL or message.get("origin") == PROCESS_ORIGIN:
        return {}
    return {sid: (int(first), int(last)) for sid, (first, last) in message["ranges"].items()}
