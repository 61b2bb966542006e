"""The co-browsing WebSocket: one connection of one participant of one session.

The consumer moves frames between the socket and the rest: incoming frames are parsed
(`protocol`), counted against the connection's limits (`ratelimit`) and their ops handed to the
journal writer; nothing is delivered before it is journaled. Everything going out goes through
the connection's delivery cursor (`delivery.Delivery`), which keeps the seq order; whether a
participant is still connected is `presence`'s (also for a client held to heartbeats whose
network went away without a close); joining and leaving are `lifecycle`'s.

Failures of the database or the channel layer close the connection with 1013 (reconnect and
re-send), never leave it hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from . import guard, lifecycle, policy, presence, protocol, selectors, throttle
from .delivery import GONE, Delivery
from .models import Participant, Role
from .protocol import (
    CloseCode,
    HeartbeatFrame,
    OpFrame,
    OpsFrame,
    PingFrame,
    ProtocolError,
    ResumeFrame,
)
from .ratelimit import ErrorsInARow, TokenBucket
from .sequencer import Accepted, Duplicate, Entry, Outcome, Rejected, Submission
from .server_extensions import DIRECT_RECEIVE, DIRECT_WRITE
from .writer import Answer, JournalWriter

logger = logging.getLogger(__name__)


class CobrowseConsumer(AsyncWebsocketConsumer):
    participant: Participant
    session_id: str

    # No channel per connection: the journal writer hears the doorbells once for the whole
    # process and hands entries to each connection's delivery cursor (`Delivery`).
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
        # Until welcomed (`Delivery.start`): frames from a refused client are ignored.
        self._delivery: Delivery | None = None
        self._departed = False
        # Set for every frame read; watched by presence's sweep only with ?heartbeat=1.
        self._liveness = presence.Liveness(ask=self._ask_heartbeat, silent=self._silent)
        try:
            self.session_id = str(uuid.UUID(self.scope["url_route"]["kwargs"]["session_id"]))
        except ValueError:
            await self._refuse(CloseCode.FORBIDDEN)
            return
        try:
            await throttle.admit_connection(self, self.scope, self.session_id)
            await self._join()
        except policy.Denied as exc:
            await self._refuse(exc.close_code, exc.reason)
        except throttle.TooManyConnections:
            await self._refuse(CloseCode.TOO_MANY)
        except lifecycle.Refused as exc:
            await self._leave()
            await self._refuse(CloseCode.ENDED if exc.ended else CloseCode.FORBIDDEN)
        except Exception as exc:
            logger.warning("cannot admit a connection to session %s: %r", self.session_id, exc)
            await self._leave()
            with contextlib.suppress(*GONE):
                await self._refuse(CloseCode.TRY_AGAIN)

    async def _join(self) -> None:
        owns = await database_sync_to_async(policy.websocket_admission)(
            scope=self.scope, session_id=self.session_id
        )
        joined = await database_sync_to_async(lifecycle.participant_join)(
            session_id=self.session_id,
            user=self.scope.get("user"),
            owns_as_customer=owns,
            watch=_query_str(self.scope, "watch") == "1",
        )
        self.participant = joined.participant
        self._bucket = TokenBucket(settings.COBROWSE_RATE_PER_SECOND, settings.COBROWSE_RATE_BURST)
        self._errors = ErrorsInARow()
        self._writer = JournalWriter.get()
        extensions = self.scope.get("extensions") or {}
        self._direct_receive: Callable[[Callable[[str], None] | None], None] | None = (
            extensions.get(DIRECT_RECEIVE) or {}
        ).get("set_receiver")
        delivery = self._delivery = Delivery(
            session_id=self.session_id,
            participant_id=self.participant.pk,
            batch=_query_str(self.scope, "batch") == "1",
            send=self.send,
            close=self.close,
            send_asgi=self.base_send,
            write_now=(extensions.get(DIRECT_WRITE) or {}).get("write_texts"),
        )
        delivery.role_seq = joined.head_seq

        # Subscribe first, then read the state: nothing journaled after the read is missed.
        await self._writer.subscribe(self.session_id, delivery)
        # Journaled once per participant (a repeat is a duplicate); submitted on every connect
        # so that a join whose first connection failed half way is still journaled.
        outcome = await self._writer.submit(
            self.session_id, lifecycle.participant_join_submission(participant=self.participant)
        )
        if isinstance(outcome, Rejected):
            raise lifecycle.Refused(outcome.message, ended=outcome.code == "session_ended")
        if joined.claimed:
            await lifecycle.publish(session_id=self.session_id, status="active")
        state = await database_sync_to_async(selectors.session_state)(session_id=self.session_id)
        # Where delivery starts: after `last_seq` (resume), just before the newest full snapshot
        # (`from=snapshot`: a late joiner sees the current page at once), or at the head.
        last_seq = _query_int(self.scope, "last_seq")
        if last_seq is None and _query_str(self.scope, "from") == "snapshot":
            last_seq = max(state["snapshot_seq"] - 1, 0)
        position = state["head_seq"] if last_seq is None else min(last_seq, state["head_seq"])
        delivery.place(position, catch_up=last_seq is not None)

        await self._accept()
        welcome = protocol.welcome_frame(
            state=state,
            role=self.participant.role,
            participant=self.participant.pk,
            position=position,
        )
        await self.send(protocol.encode(welcome))
        delivery.start()
        presence.connection_opened(self.participant)
        if _query_str(self.scope, "heartbeat") == "1":
            presence.watch(self._liveness)
        if self._direct_receive is not None:
            self._direct_receive(self.on_frame)

    async def _refuse(self, code: int, reason: str | None = None) -> None:
        """Accept only to close at once with a reason a browser can read (a refused handshake
        looks like a network failure, 1006, to a page). Nothing is sent before the close."""
        await self._accept()
        await asyncio.sleep(guard.ACCEPT_SETTLE_SECONDS)
        await self.close(code=code, reason=reason)

    async def _accept(self) -> None:
        if not getattr(self, "_accepted", False):
            self._accepted = True
            await self.accept()

    async def disconnect(self, code: int) -> None:
        throttle.release_connection(self)
        await self._depart()

    async def _depart(self, *, left_at: datetime | None = None) -> None:
        """Stop delivering and note that the participant left (once, whichever comes first:
        the server's disconnect or the drop of a silent connection)."""
        delivery = self._delivery
        if delivery is None or not delivery.running or self._departed:
            return
        self._departed = True
        presence.unwatch(self._liveness)
        if self._direct_receive is not None:
            self._direct_receive(None)
        await delivery.stop()
        await self._leave()
        await presence.connection_closed(self.participant, left_at=left_at)

    # --- Heartbeats (presence's sweep, ?heartbeat=1) -----------------------------------------

    def _ask_heartbeat(self) -> None:
        if self._delivery is not None:
            self._delivery.heartbeat()

    def _silent(self, quiet: float) -> None:
        task = asyncio.get_running_loop().create_task(self._drop_silent(quiet))
        self._dropping = task  # a reference, so that the task is not collected half way

    async def _drop_silent(self, quiet: float) -> None:
        """Nothing heard for `quiet` seconds: the network is gone without a close, and the
        server would hear of it only when TCP gives up. Note the participant as left when last
        heard, now, then close (the close mostly cannot reach the client; the server's
        disconnect follows whenever the socket ends)."""
        delivery = self._delivery
        if delivery is None or self._departed:
            return
        logger.info(
            "participant %s of session %s silent for %.1f s: taken for gone",
            self.participant.pk,
            self.session_id,
            quiet,
        )
        delivery.closing = True
        await self._depart(left_at=timezone.now() - timedelta(seconds=quiet))
        with contextlib.suppress(Exception):
            await self.close(code=CloseCode.SILENT)

    async def _leave(self) -> None:
        """Stop listening for this session's doorbells (also after a half-done connect)."""
        writer = getattr(self, "_writer", None)
        if writer is not None and self._delivery is not None:
            writer.unsubscribe(self.session_id, self._delivery)

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
        """One frame from the client. Never waits: answers go through the delivery cursor, so
        a client that sends without reading cannot stall this connection. The production
        server calls it at once for each text frame (its direct receive, config/websocket.py);
        other servers through the ASGI `receive`."""
        delivery = self._delivery
        if delivery is None or delivery.closing:
            return
        self._liveness.heard = True
        try:
            frame = self._parse(text_data, bytes_data)
            if isinstance(frame, OpsFrame):
                self._submit_many(frame, delivery)
                return
            if not self._bucket.take():
                raise ProtocolError(
                    "rate_limited",
                    "too many frames; slow down and re-send",
                    frame.client_op_id if isinstance(frame, OpFrame) else None,
                )
            if isinstance(frame, OpFrame):
                self._submit(frame, delivery)
            elif isinstance(frame, ResumeFrame):
                delivery.resume(frame.last_seq)
            elif isinstance(frame, PingFrame):
                delivery.ping()
            elif isinstance(frame, HeartbeatFrame):
                pass  # heard, which is all it says
            self._errors.reset()
        except ProtocolError as exc:
            text = protocol.encode(protocol.error_frame(exc))
            if self._errors.exceeded():
                delivery.fatal(text, CloseCode.ABUSIVE)
            else:
                delivery.frame(text)

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
        if isinstance(frame, OpsFrame):  # each op is refused, so that each is answered
            return OpsFrame(
                ops=tuple(
                    ProtocolError(too_large.code, too_large.message, op.client_op_id)
                    for op in frame.ops
                )
            )
        if not (isinstance(frame, OpFrame) and frame.kind == "dom"):
            too_large.client_op_id = frame.client_op_id if isinstance(frame, OpFrame) else None
            raise too_large
        return frame

    def _submit_many(self, frame: OpsFrame, delivery: Delivery) -> None:
        """Each op of an `ops` frame as if it had come alone, in its order: refused ones are
        answered with an error each, the others go to the writer together (one batch, one
        transaction). Each op counts against the rate limit."""
        delivery.acks_in_runs()
        allowed = self._bucket.take_up_to(len(frame.ops))
        held = _FrameEntries()
        items: list[tuple[Submission, Answer]] = []
        for index, op in enumerate(frame.ops):
            try:
                if isinstance(op, ProtocolError):
                    raise op
                if index >= allowed:
                    raise ProtocolError(
                        "rate_limited", "too many frames; slow down and re-send", op.client_op_id
                    )
                items.append(
                    (self._submission(op, delivery), _OpAnswer(delivery, op.client_op_id, held))
                )
            except ProtocolError as exc:
                delivery.frame(protocol.encode(protocol.error_frame(exc)))
        if items:
            held.left = len(items)
            self._writer.submit_all(self.session_id, items)
            self._errors.reset()
        elif self._errors.exceeded():
            error = ProtocolError("bad_frame", "nothing but refused ops")
            delivery.fatal(protocol.encode(protocol.error_frame(error)), CloseCode.ABUSIVE)

    def _submit(self, frame: OpFrame, delivery: Delivery) -> None:
        submission = self._submission(frame, delivery)
        self._writer.submit_all(
            self.session_id, [(submission, _OpAnswer(delivery, frame.client_op_id, None))]
        )

    def _submission(self, frame: OpFrame, delivery: Delivery) -> Submission:
        if delivery.ended:
            raise ProtocolError("session_ended", "the session has ended", frame.client_op_id)
        return Submission(
            self.participant.pk,
            # Handed over: an observer from the hand-over on (the desk joins again anyway).
            Role.OBSERVER if delivery.handed_over else self.participant.role,
            frame.client_op_id,
            frame.kind,
            frame.element,
            frame.payload,
        )


class _OpAnswer(Answer):
    """The answer to one op of this connection, from the writer's hand-over: its ack (through
    the delivery cursor, with the other ops of its frame), a duplicate's ack, or its error."""

    __slots__ = ("client_op_id", "delivery", "held")

    def __init__(self, delivery: Delivery, client_op_id: str, held: _FrameEntries | None) -> None:
        self._done = False
        self.delivery = delivery
        self.client_op_id = client_op_id
        self.held = held

    def answer(self, outcome: Outcome | None, error: BaseException | None) -> None:
        delivery, held = self.delivery, self.held
        if held is not None:
            held.left -= 1
        if error is not None or outcome is None:
            failure = ProtocolError(
                "unavailable", "the journal is unavailable; re-send", self.client_op_id
            )
            delivery.fatal(protocol.encode(protocol.error_frame(failure)), CloseCode.TRY_AGAIN)
            return
        if isinstance(outcome, Accepted):
            if held is None:
                delivery.own_entries([outcome.entry])
            else:
                held.entries.append(outcome.entry)
        elif isinstance(outcome, Duplicate):
            delivery.duplicate(self.client_op_id, outcome.seq, outcome.element_seq)
        elif isinstance(outcome, Rejected):
            error_frame = protocol.error_frame(
                ProtocolError(outcome.code, outcome.message, self.client_op_id)
            )
            delivery.frame(protocol.encode(error_frame))
        if held is not None and held.left == 0 and held.entries:
            delivery.own_entries(held.entries)  # a run of them is acked in one frame


class _FrameEntries:
    """The journaled ops of one `ops` frame, handed to the delivery cursor together once every
    op of the frame is answered."""

    __slots__ = ("entries", "left")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.left = 0  # ops of the frame submitted and not answered yet


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
