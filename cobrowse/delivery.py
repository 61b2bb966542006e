"""Delivery to one connection: its position in the session's journal, and the pump that moves
it forward (compare zulip's `ClientDescriptor` and `EventQueue`).

Guarantees: ack and op frames leave in strictly increasing seq order with no gap after the
position. Entries arrive from the journal writer (the local hand-over, other processes'
doorbells) in any order and possibly twice; the cursor drops what it already sent, holds what
arrives early and releases it in order, and reads from the journal whatever is missing below
an entry it holds (a higher seq being committed means every lower seq is committed too).
Catching up (`catch_up`) delivers everything journaled after the position: after a resume, a
ping, a `?last_seq=` connect, and when the channel layer may have lost doorbells.

Every outgoing frame, errors included, goes through one queue drained by one task, the pump;
the only shortcut is the direct write of entries that follow the position while the pump is
idle (`_deliver_now`, the hot path). The queue is bounded in frames and bytes: a reader that
falls that far behind is closed with `CloseCode.TOO_SLOW` (it resumes from the journal). That
bound holds only with an ASGI server whose `send` waits while the socket's write buffer is full
(the production server, `config.websocket:WebSocketProtocol`; see docs/reliability.md).
Failures of the database while reading close the connection with `CloseCode.TRY_AGAIN`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from . import protocol, selectors
from .protocol import CloseCode, ProtocolError
from .sequencer import Entry

logger = logging.getLogger(__name__)

JOURNAL_PAGE = 2000
# How long a gap in the seqs handed to a connection may wait for another process's doorbell
# to fill it before the connection reads it from the journal itself. With a session's
# connections on several processes, every batch of one process leaves such a gap in the
# others' connections for a few milliseconds; read at once by every connection, those gaps
# made a read per connection per batch, more than the server could do.
GAP_GRACE_SECONDS = 0.1
# Outgoing frames that can no longer be delivered: the peer went away.
GONE = (OSError, ConnectionError)


class Delivery:
    """The delivery cursor of one connection of participant `participant_id`.

    `send` and `close` are the connection's (a text frame; a close with a code), `send_asgi`
    its ASGI send itself (the hot path), `write_now` the server's direct write when it offers
    one (config/websocket.py). Runs on the connection's event loop; no method but the pump's
    waits, so the journal writer and the consumer call them from anywhere on that loop."""

    def __init__(
        self,
        *,
        session_id: str,
        participant_id: int,
        batch: bool,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        send_asgi: Callable[[dict[str, Any]], Awaitable[None]],
        write_now: Callable[[list[str]], bool] | None,
    ) -> None:
        self.session_id = session_id
        self.participant_id = participant_id
        self._batch = batch
        self._send = send
        self._close = close
        self._send_asgi = send_asgi
        self._write_now = write_now
        # Until started: nothing is written directly, frames from the client are ignored.
        self.closing = True
        self.ended = False  # an entry that ends the session went out
        # An op of a hand-over away from this participant went out: they are an observer now,
        # whatever role their connection joined with.
        self.handed_over = False
        self.role_seq = 0  # the journal's head when the connection's role was read
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._queued_bytes = 0
        self._too_slow = False
        self._delivered = 0  # the position: the last seq sent
        self._pending: dict[int, Entry] = {}  # entries that arrived early, by seq
        self._gap_since: float | None = None  # when the first missing seq was first seen
        self._handed = 0  # the last seq handed over by the writer
        self._pump_task: asyncio.Task[None] | None = None
        self._pump_busy = False
        self._acks_in_runs = False  # the client sent an `ops` frame: it reads `acks` frames

    # --- Starting and stopping ----------------------------------------------------------------

    def place(self, position: int, *, catch_up: bool) -> None:
        """Start delivery after `position`; with `catch_up`, first deliver what the journal holds
        after it and then a `synced` frame. Exact wherever that lands in the queue: it continues
        from the position that entries arriving in the meantime left, never rewinds it, so
        nothing is sent twice."""
        self._delivered = position
        if catch_up:
            self._put(("sync",))

    def start(self) -> None:
        """The connection was welcomed: start the pump."""
        self.closing = False
        self._pump_task = asyncio.create_task(self._pump())

    @property
    def running(self) -> bool:
        return self._pump_task is not None

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump_task

    # --- From the journal writer (local hand-over and other processes' doorbells) -------------

    def deliver_entries(self, entries: list[Entry]) -> None:
        self._handed = max(self._handed, entries[-1]["seq"])
        if not self._deliver_now(entries):
            self._enqueue(("entries", entries))

    def catch_up(self) -> None:
        """Deliver everything journaled after the position (the channel layer reconnected:
        doorbells may have been lost)."""
        self._enqueue(("catch_up",))

    # --- From the connection ------------------------------------------------------------------

    def own_entries(self, entries: list[Entry]) -> None:
        """This connection's ops were journaled as `entries` (of one frame, in seq order):
        their acks go out in seq order, together where their seqs follow one another."""
        # The others' acks went out with the hand-over.
        waiting = [entry for entry in entries if entry["seq"] > self._handed]
        if waiting:
            self._enqueue(("entries", waiting))

    def duplicate(self, client_op_id: str, seq: int, element_seq: int | None) -> None:
        """A re-sent op: acked with its first seq, in seq order if not yet delivered."""
        self._enqueue(("duplicate", client_op_id, seq, element_seq))

    def acks_in_runs(self) -> None:
        """The client sends `ops` frames, so it reads `acks` frames: from now on a run of its
        own ops with consecutive seqs, acked only, is acked in one frame."""
        self._acks_in_runs = True

    def resume(self, last_seq: int) -> None:
        """Deliver again after `last_seq` (the client's `resume`), then `synced`."""
        self._enqueue(("resume", last_seq))

    def ping(self) -> None:
        """Catch up, then `pong`."""
        self._enqueue(("ping",))

    def frame(self, text: str) -> None:
        """Send one encoded frame (an error) in its turn."""
        self._enqueue(("frame", text))

    def heartbeat(self) -> None:
        """Ask the client for a heartbeat (presence's sweep, `?heartbeat=1`): written at once
        when nothing waits before it and the socket takes it (it carries no seq, so only the
        frames before it matter), else in its turn."""
        if self.closing:
            return
        if self._write_now is not None and not self._pump_busy and self._outbox.empty():
            with contextlib.suppress(Exception):  # the pump meets the socket's failure
                if self._write_now([protocol.HEARTBEAT_TEXT]):
                    return
        self._enqueue(("frame", protocol.HEARTBEAT_TEXT))

    def fatal(self, text: str, code: int) -> None:
        """Send one encoded frame in its turn, then close with `code`; stop taking frames."""
        self.closing = True
        self._enqueue(("fatal", text, code))

    # --- The hot path -------------------------------------------------------------------------

    def _deliver_now(self, entries: list[Entry]) -> bool:
        """The hot path: when the pump has nothing to do and `entries` follow our position,
        write them to the socket here and now, without a pass of the pump through the event
        loop, if the server offers the direct write (config/websocket.py) and the socket takes
        them without waiting. False when they must go through the pump."""
        first, last = entries[0]["seq"], entries[-1]["seq"]
        if (
            self._write_now is None
            or self._pump_busy
            or self.closing
            or first != self._delivered + 1
            or last - first != len(entries) - 1
            or not self._outbox.empty()
            or self._pending  # a gap before them: the pump merges
            or any(entry["ends_session"] for entry in entries)
        ):
            return False
        try:
            if not self._write_now(self._frames(entries)):
                return False
        except Exception as exc:  # the socket's own failure, for the pump to meet and report
            logger.info("direct write to participant %s failed: %r", self.participant_id, exc)
            return False
        self._delivered = last
        return True

    # --- The queue ----------------------------------------------------------------------------

    def _enqueue(self, item: tuple[Any, ...]) -> None:
        if self._too_slow:
            return
        size = _item_bytes(item)
        if (
            self._outbox.qsize() >= settings.COBROWSE_SEND_QUEUE_LIMIT
            or self._queued_bytes + size > settings.COBROWSE_SEND_QUEUE_BYTES
        ):
            # The reader is too slow: drop it rather than hold an unbounded queue. It resumes
            # from the journal when it comes back.
            self._too_slow = True
            self.closing = True
            self._drop_queue()
            asyncio.get_running_loop().create_task(self._close_too_slow())
            return
        self._put(item, size)

    def _put(self, item: tuple[Any, ...], size: int | None = None) -> None:
        self._queued_bytes += _item_bytes(item) if size is None else size
        self._outbox.put_nowait(item)

    def _drop_queue(self) -> None:
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self._queued_bytes = 0
        self._pending.clear()

    async def _close_too_slow(self) -> None:
        logger.info("closing slow reader %s of session %s", self.participant_id, self.session_id)
        await self.stop()  # the pump may be waiting for the socket to drain
        self._drop_queue()
        with contextlib.suppress(*GONE):
            await self._close(CloseCode.TOO_SLOW)

    # --- The pump -----------------------------------------------------------------------------

    async def _pump(self) -> None:
        try:
            while True:
                self._pump_busy = False
                item = await self._outbox.get()
                self._pump_busy = True
                self._queued_bytes -= _item_bytes(item)
                action = item[0]
                if action == "entries":
                    await self._offer(item[1])
                elif action in ("sync", "resume"):
                    if action == "resume":  # from the client's `last_seq`, never past the head
                        head = await database_sync_to_async(selectors.session_head)(
                            session_id=self.session_id
                        )
                        self._delivered = min(item[1], head)
                    await self._catch_up()
                    await self._send(
                        protocol.encode(protocol.synced_frame(head_seq=self._delivered))
                    )
                elif action == "ping":
                    await self._catch_up()
                    await self._send(protocol.encode(protocol.pong_frame(head_seq=self._delivered)))
                elif action == "catch_up":
                    await self._catch_up()
                elif action == "duplicate":
                    _, client_op_id, seq, element_seq = item
                    if seq > self._delivered:
                        await self._offer([], through=seq)  # the ack goes out in its place
                    else:
                        ack = protocol.ack_frame(
                            client_op_id=client_op_id, seq=seq, element_seq=element_seq
                        )
                        await self._send(protocol.encode(ack))
                elif action == "frame":
                    await self._send(item[1])
                elif action == "fatal":
                    await self._send(item[1])
                    await self._close(item[2])
                    return
                if self.ended:
                    await self._close(CloseCode.ENDED)
                    return
        except asyncio.CancelledError:
            raise
        except GONE:
            return  # the peer is gone; the connection's disconnect follows
        except Exception as exc:
            # Mostly the database going away mid-read; also a send racing the peer's close
            # (uvicorn raises RuntimeError for a send after the socket closed).
            level = logging.INFO if isinstance(exc, RuntimeError) else logging.WARNING
            logger.log(
                level,
                "connection of participant %s of session %s failed: %r",
                self.participant_id,
                self.session_id,
                exc,
            )
            self.closing = True
            with contextlib.suppress(Exception):
                error = ProtocolError("unavailable", "the journal is unavailable; reconnect")
                await self._send(protocol.encode(protocol.error_frame(error)))
                await self._close(CloseCode.TRY_AGAIN)

    async def _offer(self, entries: list[Entry], through: int = 0) -> None:
        """Deliver `entries` in seq order, reading from the journal whatever lies between."""
        for offered in entries:
            if offered["seq"] > self._delivered:
                self._pending[offered["seq"]] = offered
        target = max(through, max(self._pending, default=0))
        run: list[Entry] = []  # the next seqs, ready to go out together
        while self._delivered + len(run) < target:
            entry: Entry | None = self._pending.pop(self._delivered + len(run) + 1, None)
            if entry is None:
                await self._deliver(run)
                run = []
                if through == 0 and self._wait_for_gap():
                    return  # most likely a doorbell fills it; if not, it is read then
                for row in await self._journal_after(upto=target):
                    self._pending.setdefault(row["seq"], row)
                entry = self._pending.pop(self._delivered + 1, None)
                if entry is None:  # not in the journal: cannot happen while seqs are gap-free
                    logger.error(
                        "seq %s missing from session %s", self._delivered + 1, self.session_id
                    )
                    self._delivered += 1
                    continue
            run.append(entry)
        await self._deliver(run)
        self._gap_since = None

    def _wait_for_gap(self) -> bool:
        """Whether a gap before the pending entries may still wait for a doorbell (it is
        younger than GAP_GRACE_SECONDS); when it first opens, the pump is asked to look again
        once that time is up."""
        loop = asyncio.get_running_loop()
        if self._gap_since is None:
            self._gap_since = loop.time()
            loop.call_later(GAP_GRACE_SECONDS, self._enqueue, ("entries", []))
            return True
        return loop.time() - self._gap_since < GAP_GRACE_SECONDS

    def _journal_after(self, *, seq: int | None = None, upto: int | None = None) -> Any:
        """Read one page of the journal after `seq` (default: the position), through `upto`."""
        return database_sync_to_async(selectors.operations_after)(
            session_id=self.session_id,
            seq=self._delivered if seq is None else seq,
            upto=upto,
            limit=JOURNAL_PAGE,
        )

    async def _catch_up(self) -> None:
        """Deliver everything journaled after the position, then whatever is held beyond it.
        The next page is read while the current one is being sent."""
        page = asyncio.ensure_future(self._journal_after())
        try:
            while True:
                rows = await page
                more = len(rows) == JOURNAL_PAGE
                if more:
                    page = asyncio.ensure_future(self._journal_after(seq=rows[-1]["seq"]))
                await self._deliver(
                    [row for row in rows if row["seq"] > self._delivered], contiguous=True
                )
                if not more or self.ended:
                    break
        finally:
            page.cancel()  # a read ahead that is no longer needed
        self._pending = {s: e for s, e in self._pending.items() if s > self._delivered}
        await self._offer([])

    async def _deliver(self, entries: list[Entry], *, contiguous: bool = False) -> None:
        """Send `entries`, each the seq after the one before it, the first right after our
        position, and move the position past them: one frame each, or, for a client that
        connected with `?batch=1`, as few `batch` frames as COBROWSE_BATCH_FRAME_BYTES allows
        (a resume or a late join is thousands of ops: one frame each would cost more than the
        journal read). With `contiguous`, only the leading run that follows our position."""
        if contiguous:
            run = 0
            while run < len(entries) and entries[run]["seq"] == self._delivered + run + 1:
                run += 1
            entries = entries[:run]
        if not entries:
            return
        send = self._send_asgi  # the ASGI send itself: this is the hot path
        for text in self._frames(entries):
            await send({"type": "websocket.send", "text": text})
        self._delivered = entries[-1]["seq"]
        if any(entry["ends_session"] for entry in entries):
            self.ended = True

    def _frames(self, entries: list[Entry]) -> list[str]:
        if self._acks_in_runs:
            texts = self._texts_acking_runs(entries)
        else:
            texts = [text for entry in entries for text in self._texts(entry)]
        if self._batch:
            return protocol.batch_frames(texts, settings.COBROWSE_BATCH_FRAME_BYTES)
        return texts

    def _texts(self, entry: Entry) -> list[str]:
        """The frames of one entry for this participant. Ops the server journaled in a
        participant's name (its arrival) were never sent by its client: they come as op frames
        only, with no ack the client could not place."""
        own = entry["sender_id"] == self.participant_id
        if own and entry["client_op_id"].startswith(protocol.SERVER_OP_PREFIX):
            if (
                entry["client_op_id"].startswith(protocol.HANDOVER_OP_PREFIX)
                and entry["seq"] > self.role_seq
            ):
                self.handed_over = True
            return [entry["text"]]
        if own:
            ack = protocol.ack_frame(
                client_op_id=entry["client_op_id"],
                seq=entry["seq"],
                element_seq=entry["element_seq"],
            )
            if entry["delivery"] == "all":
                return [protocol.encode(ack), entry["text"]]
            return [protocol.encode(ack)]
        return [entry["text"]]

    def _texts_acking_runs(self, entries: list[Entry]) -> list[str]:
        """`_texts` of each entry, except that each run of two or more own ops that are acked
        only (delivery `others`; `entries` have consecutive seqs) is one `acks` frame."""
        texts: list[str] = []
        run: list[Entry] = []
        for entry in entries:
            if (
                entry["sender_id"] == self.participant_id
                and entry["delivery"] == "others"
                and not entry["client_op_id"].startswith(protocol.SERVER_OP_PREFIX)
            ):
                run.append(entry)
                continue
            if run:
                texts.extend(self._acks(run))
                run = []
            texts.extend(self._texts(entry))
        if run:
            texts.extend(self._acks(run))
        return texts

    def _acks(self, run: list[Entry]) -> list[str]:
        if len(run) == 1:
            return self._texts(run[0])
        frame = protocol.acks_frame(
            seq=run[0]["seq"],
            client_op_ids=[entry["client_op_id"] for entry in run],
            element_seqs=[entry["element_seq"] for entry in run],
        )
        return [protocol.encode(frame)]


def _item_bytes(item: tuple[Any, ...]) -> int:
    """What a queued item costs: the frames it will send (small items count as 64 bytes)."""
    if item[0] == "entries":
        return sum(len(entry["text"]) + 64 for entry in item[1])
    if item[0] in ("frame", "fatal"):
        return len(item[1]) + 64
    return 64
