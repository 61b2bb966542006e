"""The WebSocket implementation the production server runs:
`uvicorn ... --ws config.websocket:WebSocketProtocol` (`make serve`, docs/reliability.md).

It is uvicorn's sans-I/O implementation (`websockets-sansio`, uvicorn's default) with one
change. The slow-reader promise needs two things of the server: `send` waits while the
socket's write buffer is full, so that a connection's own bounded queue fills up instead of the
server's memory; and a reader that stopped reading is disconnected. uvicorn's implementation
does the first, but its close waits for that same buffer, so the close of a reader that never
reads again is never written and its socket stays open for as long as TCP keeps it. Here a
close is written at once (a few bytes behind what is buffered), and the TCP connection is
aborted when it has not ended `close_timeout` (10 s) later.

Why not uvicorn's older `websockets` implementation, which aborts the same way: uvicorn has
deprecated it, and it spends more per frame (a reader task and one more pass through the event
loop for every frame received; docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class WebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.close" and self.handshake_complete:
            # A full buffer must not hold the close back: the reader may never drain it.
            self.writable.set()
            self.loop.call_later(self.close_timeout, self._abort_unless_ended)
        await super().send(message)

    def _abort_unless_ended(self) -> None:
        if not self.disconnected:
            self.transport.abort()
