"""The co-browsing WebSocket: one connection of one participant of one session.

Incoming frames are parsed (`protocol`), and ops handed to the journal writer; nothing is
delivered before it is journaled. Every outgoing frame, errors included, goes through one queue
drained by one task (the pump), which keeps the connection's promise: ack and op frames leave in
strictly increasing seq order with no gap after the connection's position. Entries reach the
pump from the local hand-over or the channel layer, in any order and possibly twice; the pump
drops what it already sent and reads from the journal whatever is missing below an entry it
holds (a higher seq being committed means every lower seq is committed too).

Nothing a client does makes the server hold an unbounded amount for it: the queue is bounded in
frames and bytes, and a reader that falls that far behind is closed with 4408 (it resumes from
the journal). This needs an ASGI server whose `send` waits while the socket's write buffer is
full (uvicorn `--ws websockets`); see docs/reliability.md. Failures of the database or the
channel layer close the connection with 1013 (reconnect and re-send), never leave it hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import lifecycle, protocol, selectors, sequencer
from .models import Participant
from .policy import customer_owns
from .protocol import CloseCode, OpFrame, PingFrame, ProtocolError, ResumeFrame
from .sequencer import Accepted, Duplicate, Entry, Outcome, Rejected, Submission
from .server_extensions import DIRECT_RECEIVE, DIRECT_WRITE
from .writer import JournalWriter

logger = logging.getLogger(__name__)

JOURNAL_PAGE = 2000
# How long a gap in the seqs handed to a connection may wait for another process's doorbell
# to fill it before the connection reads it from the journal itself. With a session's
# connections on several processes, every batch of one process leaves such a gap in the
# others' connections for a few milliseconds; read at once by every connection, those gaps
# made a read per connection per batch, more than the server could do.
GAP_GRACE_SECONDS = 0.1
ERRORS_IN_A_ROW_LIMIT = 100
# Outgoing frames that can no longer be delivered: the peer went away.
_GONE = (OSError, ConnectionError)


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class OpenHere:
    """The open connections of each participant in this process: a customer with two tabs of
    one session open, or a reloaded page whose old socket closes after the new one joined.
    A participant is marked as left only when its last connection here closes, and then only
    if no newer connection of theirs joined since, here or in another process (the database's
    `connected_at` is then newer than the newest one here)."""

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


class CobrowseConsumer(AsyncWebsocketConsumer):
    participant: Participant
    session_id: str

    # No channel per connection: the journal writer hears the doorbells once for the whole
    # process and hands entries to its connections (`deliver_entries`, `repair_from_journal`).
    channel_layer_alias = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' `AsyncConsumer.__call__` for a consumer without a channel: each incoming
        message is awaited and dispatched in turn. (Channels runs every `receive` in a task of
        its own and waits on the set of them, which it needs to listen to a channel too: a task
        and one more pass through the event loop for every frame, on the hot path.)"""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    # --- Connection lifecycle ----------------------------------------------------------------

    async def connect(self) -> None:
        self._pump_task: asyncio.Task[None] | None = None
        self._closing = True  # until welcomed: frames from a refused client are ignored
        try:
            self.session_id = str(uuid.UUID(self.scope["url_route"]["kwargs"]["session_id"]))
        except ValueError:
            await self._refuse(CloseCode.FORBIDDEN)
            return
        try:
            await self._join()
        except sequencer.Refused as exc:
            await self._leave()
            await self._refuse(CloseCode.ENDED if exc.ended else CloseCode.FORBIDDEN)
        except Exception as exc:
            logger.warning("cannot admit a connection to session %s: %r", self.session_id, exc)
            await self._leave()
            with contextlib.suppress(*_GONE):
                await self._refuse(CloseCode.TRY_AGAIN)

    async def _join(self) -> None:
        owns = customer_owns(self.scope.get("session"), self.session_id)
        joined = await database_sync_to_async(sequencer.participant_join)(
            session_id=self.session_id, user=self.scope.get("user"), owns_as_customer=owns
        )
        self.participant = joined.participant
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._queued_bytes = 0
        self._too_slow = False
        self._delivered = 0
        self._pending: dict[int, Entry] = {}
        self._gap_since: float | None = None  # when the first missing seq was first seen
        self._ended = False
        self._errors_in_row = 0
        self._bucket = TokenBucket(settings.COBROWSE_RATE_PER_SECOND, settings.COBROWSE_RATE_BURST)
        self._writer = JournalWriter.get()
        self._batch = _query_str(self.scope, "batch") == "1"
        self._handed = 0  # the last seq handed over by the writer
        self._pump_busy = False
        extensions = self.scope.get("extensions") or {}
        self._write_now: Callable[[list[str]], bool] | None = (
            extensions.get(DIRECT_WRITE) or {}
        ).get("write_texts")
        self._direct_receive: Callable[[Callable[[str], None] | None], None] | None = (
            extensions.get(DIRECT_RECEIVE) or {}
        ).get("set_receiver")

        # Subscribe first, then read the state: nothing journaled after the read is missed.
        await self._writer.subscribe(self.session_id, self)
        # Journaled once per participant (a repeat is a duplicate); submitted on every connect
        # so that a join whose first connection failed half way is still journaled.
        outcome = await self._writer.submit(
            self.session_id, sequencer.joined_submission(self.participant)
        )
        if isinstance(outcome, Rejected):
            raise sequencer.Refused(outcome.message, ended=outcome.code == "session_ended")
        if joined.claimed:
            await lifecycle.publish(session_id=self.session_id, status="active")
        state = await database_sync_to_async(selectors.session_state)(session_id=self.session_id)
        # Where delivery starts: after `last_seq` (resume), just before the newest full snapshot
        # (`from=snapshot`: a late joiner sees the current page at once), or at the head.
        last_seq = _query_int(self.scope, "last_seq")
        if last_seq is None and _query_str(self.scope, "from") == "snapshot":
            last_seq = max(state["snapshot_seq"] - 1, 0)
        position = state["head_seq"] if last_seq is None else min(last_seq, state["head_seq"])
        self._delivered = position
        if last_seq is not None:
            # Exact wherever it lands in the queue: it continues from the position that entries
            # arriving in the meantime left, never rewinds it, so nothing is sent twice.
            self._put(("sync",))

        await self._accept()
        await self.send(
            protocol.encode(
                {
                    "type": "welcome",
                    **state,
                    "role": self.participant.role,
                    "participant": self.participant.pk,
                    "position": position,
                    "limits": {
                        "max_frame_bytes": settings.COBROWSE_MAX_FRAME_BYTES,
                        "rate_per_second": settings.COBROWSE_RATE_PER_SECOND,
                    },
                }
            )
        )
        self._closing = False
        self._pump_task = asyncio.create_task(self._pump())
        OPEN_HERE.opened(self.participant)
        if self._direct_receive is not None:
            self._direct_receive(self.on_frame)

    async def _refuse(self, code: int) -> None:
        """Accept only to close at once with a reason a browser can read (a refused handshake
        looks like a network failure, 1006, to a page). Nothing is sent before the close."""
        await self._accept()
        await self.close(code=code)

    async def _accept(self) -> None:
        if not getattr(self, "_accepted", False):
            self._accepted = True
            await self.accept()

    async def disconnect(self, code: int) -> None:
        if self._pump_task is None:
            return
        if self._direct_receive is not None:
            self._direct_receive(None)
        self._pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump_task
        await self._leave()
        last, newest = OPEN_HERE.closed(self.participant)
        if not last:
            return  # another connection of this participant is open here
        try:
            await database_sync_to_async(sequencer.participant_leave)(
                participant_id=self.participant.pk, connected_at=newest
            )
        except Exception as exc:  # the database may be down; the join clears it anyway
            logger.info("cannot note that participant %s left: %r", self.participant.pk, exc)

    async def _leave(self) -> None:
        """Stop listening for this session's doorbells (also after a half-done connect)."""
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.unsubscribe(self.session_id, self)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch hops to the sync thread before every message to close stale
        # database connections. Every database call of this consumer goes through
        # database_sync_to_async, which does that itself; skip the hop on the hot path.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    # --- Incoming frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.on_frame(text_data, bytes_data)

    def on_frame(self, text_data: str | None, bytes_data: bytes | None = None) -> None:
        """One frame from the client. Never waits: answers go through the pump, so a client
        that sends without reading cannot stall this connection. The production server calls
        it at once for each text frame (its direct receive, config/websocket.py); other
        servers through the ASGI `receive`."""
        if self._closing:
            return
        try:
            frame = self._parse(text_data, bytes_data)
            if not self._bucket.take():
                raise ProtocolError(
                    "rate_limited",
                    "too many frames; slow down and re-send",
                    frame.client_op_id if isinstance(frame, OpFrame) else None,
                )
            if isinstance(frame, OpFrame):
                self._submit(frame)
            elif isinstance(frame, ResumeFrame):
                self._enqueue(("resume", frame.last_seq))
            elif isinstance(frame, PingFrame):
                self._enqueue(("ping",))
            self._errors_in_row = 0
        except ProtocolError as exc:
            self._errors_in_row += 1
            if self._errors_in_row >= ERRORS_IN_A_ROW_LIMIT:
                self._closing = True
                self._enqueue(
                    ("fatal", protocol.encode(protocol.error_frame(exc)), CloseCode.ABUSIVE)
                )
            else:
                self._frame(protocol.error_frame(exc))

    def _parse(self, text_data: str | None, bytes_data: bytes | None) -> protocol.Frame:
        if text_data is None:
            raise ProtocolError("bad_json", "binary frames are not accepted; send JSON text")
        # dom ops carry rrweb snapshots and may be larger than every other frame.
        limit = settings.COBROWSE_MAX_FRAME_BYTES
        dom_limit = max(limit, settings.COBROWSE_MAX_DOM_FRAME_BYTES)
        size = len(text_data)
        if size > limit:
            size = len(text_data.encode("utf-8", "surrogatepass"))
        if size > dom_limit:
            raise ProtocolError("too_large", f"frames are limited to {dom_limit} bytes")
        if size <= limit:
            return protocol.parse_frame(protocol.decode(text_data))
        too_large = ProtocolError(
            "too_large", f"frames other than dom ops are limited to {limit} bytes"
        )
        try:
            frame = protocol.parse_frame(protocol.decode(text_data))
        except ProtocolError as exc:
            too_large.client_op_id = exc.client_op_id
            raise too_large from None
        if not (isinstance(frame, OpFrame) and frame.kind == "dom"):
            too_large.client_op_id = frame.client_op_id if isinstance(frame, OpFrame) else None
            raise too_large
        return frame

    def _submit(self, frame: OpFrame) -> None:
        if self._ended:
            raise ProtocolError("session_ended", "the session has ended", frame.client_op_id)
        submission = Submission(
            participant_id=self.participant.pk,
            role=self.participant.role,
            client_op_id=frame.client_op_id,
            kind=frame.kind,
            element=frame.element,
            payload=frame.payload,
        )
        self._writer.submit_answered(
            self.session_id, submission, functools.partial(self._on_outcome, frame.client_op_id)
        )

    def _on_outcome(
        self, client_op_id: str, outcome: Outcome | None, error: BaseException | None
    ) -> None:
        if error is not None or outcome is None:
            self._closing = True
            failure = ProtocolError(
                "unavailable", "the journal is unavailable; re-send", client_op_id
            )
            self._enqueue(
                ("fatal", protocol.encode(protocol.error_frame(failure)), CloseCode.TRY_AGAIN)
            )
            return
        if isinstance(outcome, Accepted):
            if outcome.entry["seq"] > self._handed:  # else its ack went out with the hand-over
                self._enqueue(("entries", [outcome.entry]))
        elif isinstance(outcome, Duplicate):
            self._enqueue(("duplicate", client_op_id, outcome.seq, outcome.element_seq))
        elif isinstance(outcome, Rejected):
            error_frame = protocol.error_frame(
                ProtocolError(outcome.code, outcome.message, client_op_id)
            )
            self._enqueue(("frame", protocol.encode(error_frame)))

    # --- From the journal writer (local hand-over and other processes' doorbells) -------------

    def repair_from_journal(self) -> None:
        """The channel layer reconnected: doorbells may have been lost, read the journal."""
        self._enqueue(("catch_up",))

    def deliver_entries(self, entries: list[Entry]) -> None:
        self._handed = max(self._handed, entries[-1]["seq"])
        if not self._deliver_now(entries):
            self._enqueue(("entries", entries))

    def _deliver_now(self, entries: list[Entry]) -> bool:
        """The hot path: when the pump has nothing to do and `entries` follow our position,
        write them to the socket here and now, without a pass of the pump through the event
        loop, if the server offers the direct write (config/websocket.py) and the socket takes
        them without waiting. False when they must go through the pump."""
        first, last = entries[0]["seq"], entries[-1]["seq"]
        if (
            self._write_now is None
            or self._pump_busy
            or self._closing
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
            logger.info("direct write to participant %s failed: %r", self.participant.pk, exc)
            return False
        self._delivered = last
        return True

    # --- Outgoing frames: the pump -----------------------------------------------------------

    def _frame(self, frame: dict[str, Any]) -> None:
        self._enqueue(("frame", protocol.encode(frame)))

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
            self._closing = True
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
        logger.info("closing slow reader %s of session %s", self.participant.pk, self.session_id)
        if self._pump_task is not None:
            self._pump_task.cancel()  # it may be waiting for the socket to drain
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump_task
        self._drop_queue()
        with contextlib.suppress(*_GONE):
            await self.close(code=CloseCode.TOO_SLOW)

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
                elif action == "resume":
                    await self._resume(item[1])
                elif action == "sync":
                    await self._catch_up()
                    await self.send(
                        protocol.encode(protocol.synced_frame(head_seq=self._delivered))
                    )
                elif action == "ping":
                    await self._catch_up()
                    await self.send(protocol.encode(protocol.pong_frame(head_seq=self._delivered)))
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
                        await self.send(protocol.encode(ack))
                elif action == "frame":
                    await self.send(item[1])
                elif action == "fatal":
                    await self.send(item[1])
                    await self.close(code=item[2])
                    return
                if self._ended:
                    await self.close(code=CloseCode.ENDED)
                    return
        except asyncio.CancelledError:
            raise
        except _GONE:
            return  # the peer is gone; disconnect() follows
        except Exception as exc:
            # Mostly the database going away mid-read; also a send racing the peer's close
            # (uvicorn raises RuntimeError for a send after the socket closed).
            level = logging.INFO if isinstance(exc, RuntimeError) else logging.WARNING
            logger.log(
                level,
                "connection of participant %s of session %s failed: %r",
                self.participant.pk,
                self.session_id,
                exc,
            )
            self._closing = True
            with contextlib.suppress(Exception):
                error = ProtocolError("unavailable", "the journal is unavailable; reconnect")
                await self.send(protocol.encode(protocol.error_frame(error)))
                await self.close(code=CloseCode.TRY_AGAIN)

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
                await self._fill(upto=target)
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

    async def _fill(self, upto: int) -> None:
        rows = await database_sync_to_async(selectors.operations_after)(
            session_id=self.session_id, seq=self._delivered, upto=upto, limit=JOURNAL_PAGE
        )
        for row in rows:
            self._pending.setdefault(row["seq"], row)

    async def _catch_up(self) -> None:
        """Deliver everything journaled after our position (resume, ping). The next page is
        read while the current one is being sent."""
        read = database_sync_to_async(selectors.operations_after)
        page = asyncio.ensure_future(
            read(session_id=self.session_id, seq=self._delivered, limit=JOURNAL_PAGE)
        )
        try:
            while True:
                rows = await page
                more = len(rows) == JOURNAL_PAGE
                if more:
                    page = asyncio.ensure_future(
                        read(session_id=self.session_id, seq=rows[-1]["seq"], limit=JOURNAL_PAGE)
                    )
                await self._deliver(
                    [row for row in rows if row["seq"] > self._delivered], contiguous=True
                )
                if not more or self._ended:
                    break
        finally:
            page.cancel()  # a read ahead that is no longer needed
        self._pending = {s: e for s, e in self._pending.items() if s > self._delivered}
        await self._offer([])

    async def _resume(self, last_seq: int) -> None:
        head = await database_sync_to_async(selectors.session_head)(session_id=self.session_id)
        self._delivered = min(last_seq, head)
        await self._catch_up()
        await self.send(protocol.encode(protocol.synced_frame(head_seq=self._delivered)))

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
        send = self.base_send  # the ASGI send itself: this is the hot path
        for text in self._frames(entries):
            await send({"type": "websocket.send", "text": text})
        self._delivered = entries[-1]["seq"]
        if any(entry["ends_session"] for entry in entries):
            self._ended = True

    def _frames(self, entries: list[Entry]) -> list[str]:
        texts = [text for entry in entries for text in self._texts(entry)]
        if self._batch:
            return protocol.batch_frames(texts, settings.COBROWSE_BATCH_FRAME_BYTES)
        return texts

    def _texts(self, entry: Entry) -> list[str]:
        """The frames of one entry for this participant. Ops the server journaled in a
        participant's name (its arrival) were never sent by its client: they come as op frames
        only, with no ack the client could not place."""
        own = entry["sender_id"] == self.participant.pk
        if own and not entry["client_op_id"].startswith(protocol.SERVER_OP_PREFIX):
            ack = protocol.ack_frame(
                client_op_id=entry["client_op_id"],
                seq=entry["seq"],
                element_seq=entry["element_seq"],
            )
            if entry["delivery"] == "all":
                return [protocol.encode(ack), entry["text"]]
            return [protocol.encode(ack)]
        return [entry["text"]]


def _item_bytes(item: tuple[Any, ...]) -> int:
    """What a queued item costs: the frames it will send (small items count as 64 bytes)."""
    if item[0] == "entries":
        return sum(len(entry["text"]) + 64 for entry in item[1])
    if item[0] in ("frame", "fatal"):
        return len(item[1]) + 64
    return 64


def _query_str(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def _query_int(scope: dict[str, Any], name: str) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        return None
    return value if value >= 0 else None
