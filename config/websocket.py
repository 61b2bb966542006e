"""The WebSocket implementation the production server runs:
`uvicorn ... --ws config.websocket:WebSocketProtocol` (`make serve`, docs/reliability.md).

It is uvicorn's sans-I/O implementation (`websockets-sansio`, uvicorn's default) with these
changes. The slow-reader promise needs two things of the server: `send` waits while the
socket's write buffer is full, so that a connection's own bounded queue fills up instead of the
server's memory; and a reader that stopped reading is disconnected. uvicorn's implementation
does the first, but its close waits for that same buffer, so the close of a reader that never
reads again is never written and its socket stays open for as long as TCP keeps it. Here a
close is written at once (a few bytes behind what is buffered), and the TCP connection is
aborted when it has not ended a second after uvicorn's close timeout (10 s), by which time a
peer that merely ignored the close has been closed the ordinary way.

It also offers the consumer a direct write, as an ASGI extension (`DIRECT_WRITE`): frames written
at once from the journal writer's hand-over when the socket takes them without waiting, instead
of a pass of the connection's pump through the event loop for every frame (a large share of
the server's work per op at moderate load; docs/performance.md). When the socket's buffer is
full it writes nothing and the frames go through the connection's bounded queue and the ASGI
`send` as before.
And a direct receive (`DIRECT_RECEIVE`): once welcomed, the consumer asks to be handed each text
frame as soon as it is read, instead of the ASGI queue, a wake-up of the consumer's task, and a
pause and resume of the socket's reading per frame. Frames that arrived before wait in the queue
and go first.

And: a text frame that is not UTF-8 is closed with 1007 as uvicorn does, but
logged as what it is, bad input from a client, without a traceback.

And: with permessage-deflate (which browsers always offer and uvicorn accepts), messages under
`COMPRESS_THRESHOLD` bytes go out uncompressed, as Node's `ws` does by default: compressing
every small op cost about a tenth of the server's CPU per op under load and doubled its latency
(docs/performance.md), for a few bytes saved per frame; snapshots and catch-up batches are
still compressed. RFC 7692 lets a sender leave any message uncompressed (RSV1 clear).

Why not uvicorn's older `websockets` implementation, which aborts the same way: uvicorn has
deprecated it, and it spends more per frame (a reader task and one more pass through the event
loop for every frame received; docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension, ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CTRL_OPCODES, Frame, Opcode
from websockets.protocol import State
from websockets.typing import ExtensionParameter

from cobrowse.protocol import CloseCode
from cobrowse.server_extensions import DIRECT_RECEIVE, DIRECT_WRITE

WS = "config.websocket:WebSocketProtocol"
WS_MAX_SIZE = 5 * 1024 * 1024  # above COBROWSE_MAX_DOM_FRAME_BYTES (docs/reliability.md)
COMPRESS_THRESHOLD = 1024  # bytes: smaller messages are sent uncompressed
# uvicorn's logger for its protocols' errors (a documented logger name).
logger = logging.getLogger("uvicorn.error")


def production_command(app: str, port: int, *, ws: str = WS) -> list[str]:
    """`make serve`'s uvicorn command for `app` on 127.0.0.1:`port`: the tests, the chaos suite
    and the bench start the production server with it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        ws,
        "--ws-max-size",
        str(WS_MAX_SIZE),
        "--lifespan",
        "off",
        "--no-access-log",
    ]


class ThresholdDeflate(Extension):
    """The permessage-deflate a connection agreed on, except that a whole message under
    COMPRESS_THRESHOLD bytes is sent as it is. Wraps websockets' extension through the public
    `Extension` interface, with the settings uvicorn gave it."""

    def __init__(self, deflate: Extension) -> None:
        self.deflate = deflate
        self.name = deflate.name

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return self.deflate.decode(frame, max_size=max_size)

    def encode(self, frame: Frame) -> Frame:
        if (
            frame.fin
            and frame.opcode is not Opcode.CONT
            and frame.opcode not in CTRL_OPCODES
            and len(frame.data) < COMPRESS_THRESHOLD
        ):
            return frame
        return self.deflate.encode(frame)


class ThresholdDeflateFactory(ServerExtensionFactory):
    """uvicorn's permessage-deflate factory (its settings untouched), agreeing on
    `ThresholdDeflate`s."""

    def __init__(self, factory: ServerExtensionFactory) -> None:
        self.factory = factory
        self.name = factory.name

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        response, agreed = self.factory.process_request_params(params, accepted_extensions)
        return response, ThresholdDeflate(agreed)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    text_receiver: Callable[[str], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's permessage-deflate, with its own settings, plus the threshold.
        self.conn.available_extensions = [
            ThresholdDeflateFactory(factory)
            if isinstance(factory, ServerPerMessageDeflateFactory)
            else factory
            for factory in self.conn.available_extensions or []
        ]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        extensions = self.scope.setdefault("extensions", {})
        extensions[DIRECT_WRITE] = {"write_texts": self.write_texts_now}
        extensions[DIRECT_RECEIVE] = {"set_receiver": self.set_text_receiver}

    async def run_asgi(self) -> None:
        try:
            await super().run_asgi()
        finally:
            self.text_receiver = None  # the application is done: nothing more goes to it

    def set_text_receiver(self, receiver: Callable[[str], None] | None) -> None:
        """From now on hand each text frame to `receiver` as soon as it is read, while no
        earlier message waits in the ASGI queue (order stays that of the wire); None to stop."""
        self.text_receiver = receiver

    def write_texts_now(self, texts: list[str]) -> bool:
        """Write text frames now, in one write, if the socket takes them without waiting (its
        buffer below the high-water mark, the connection open); False, and nothing written,
        otherwise: then the ASGI `send` has to wait, in the task of the caller."""
        # OPEN: accepted, and no close sent or received yet.
        if (
            not self.writable.is_set()
            or self.disconnected
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        conn = self.conn
        for text in texts:
            conn.send_text(text.encode())
        self.transport.write(b"".join(conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close" and self.handshake_complete:
            # A full buffer must not hold the close back: the reader may never drain it.
            self.writable.set()
            asyncio.get_running_loop().call_later(self.close_timeout + 1, self._abort_unless_ended)
        await super().send(message)

    def _abort_unless_ended(self) -> None:
        if not self.disconnected:
            self.transport.abort()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        # uvicorn's, for a text message, but without a traceback for invalid UTF-8.
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            logger.info("invalid UTF-8 in a text frame from a client; closing with 1007")
            self.conn.send_close(CloseCode.INVALID_UTF8)
            self.handle_parser_exception()
            return
        receiver = self.text_receiver
        if receiver is not None and self.queue.empty():
            try:
                receiver(text)
            except Exception:  # a bug in the application: as uvicorn does when it fails
                logger.exception("the application failed on a frame; closing with 1011")
                self.text_receiver = None
                self.conn.send_close(1011)
                self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
