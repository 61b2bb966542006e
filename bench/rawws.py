"""A minimal WebSocket client (RFC 6455) for the bench's client processes.

The bench measures servers, so its clients should cost as little CPU as possible: on a 2-core
machine a general-purpose Python client spends about as much per frame as the server does and
takes the CPU the servers need. This one is an asyncio protocol: it cuts frames with a few
slices in the socket's own callback and, once given a receiver (`on_frames`), hands them to it
there, with no task to wake per read. It sends with an all-zero mask (a valid masking key that
leaves the payload as it is), answers pings; text frames only, no fragmentation; loopback
only. With `BENCH_DEFLATE=1` it offers permessage-deflate as browsers do (RFC 7692) and inflates
what the server compressed; it sends its own frames uncompressed, which the extension allows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ZERO_MASK = b"\x00\x00\x00\x00"
_DEFLATE = os.environ.get("BENCH_DEFLATE") == "1"
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


class Closed(ConnectionError):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed by the server with {code}")
        self.code = code


class RawWebSocket(asyncio.Protocol):
    """One client socket. Until `on_frames` is set, received text frames wait for `recv` or
    `frames`; after, each read's frames go to `on_frames` at once (and `on_close` hears the
    close code)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.pending: deque[bytes] = deque()
        self.close_code: int | None = None
        self.on_frames: Callable[[list[bytes]], None] | None = None
        self.on_close: Callable[[int], None] | None = None
        self._head: asyncio.Future[bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._lost = asyncio.get_running_loop().create_future()
        self._inflate: zlib._Decompress | None = None
        self._inflate_each = False  # the server resets its compression for every message

    @classmethod
    async def connect(
        cls, url: str, *, cookie: str | None, origin: str | None = None
    ) -> RawWebSocket:
        """`origin`: the page's; by default the server's own (scheme, host and port), the only
        one the desk accepts besides CSRF_TRUSTED_ORIGINS."""
        parts = urlsplit(url)
        origin = origin or f"http://{parts.netloc}"
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("loopback only")
        loop = asyncio.get_running_loop()
        _, ws = await loop.create_connection(cls, parts.hostname, parts.port or 80)
        key = base64.b64encode(os.urandom(16))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
        if _DEFLATE:
            cookie_line += (
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            )
        ws._head = loop.create_future()
        ws._write(
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n{cookie_line}\r\n".encode()
        )
        try:
            head = await ws._head
        except BaseException:  # refused, or the caller gave up waiting: no socket left behind
            ws._abort()
            raise
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            ws._abort()
            raise ConnectionError(f"handshake refused: {head[:80]!r}")
        return ws

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head is not None and not head.done():
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            response = self.buffer[: end + 4]
            lowered = response.lower()
            if _DEFLATE and b"permessage-deflate" in lowered:  # before the frames after it
                self._inflate = zlib.decompressobj(-15)
                self._inflate_each = b"server_no_context_takeover" in lowered
            head.set_result(response)
            data, self.buffer = self.buffer[end + 4 :], b""
            if not data:
                return
        out = self._cut(self.buffer + data if self.buffer else data)
        if out:
            if self.on_frames is not None:
                self.on_frames(out)
            else:
                self.pending.extend(out)
        if out or self.close_code is not None:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
            if self.on_close is not None:
                self.on_close(self.close_code)
        head = self._head
        if head is not None and not head.done():
            head.set_exception(ConnectionError("closed during the handshake"))
        self._wake()
        if not self._lost.done():
            self._lost.set_result(None)

    # --- Frames ------------------------------------------------------------------------------

    def _cut(self, buf: bytes) -> list[bytes]:
        """The complete text frames in `buf` (the rest stays buffered); answers pings, notes a
        close."""
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, length = buf[pos], buf[pos + 1] & 0x7F
            opcode = first & 0x0F
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if end - start < length:
                break
            payload = buf[start : start + length]
            pos = start + length
            if opcode == 0x1:
                if first & 0x40 and self._inflate is not None:  # RSV1: compressed
                    payload = self._inflated(payload)
                out.append(payload)
            elif opcode == 0x9:  # ping
                self._write(self._frame(0xA, payload))
            elif opcode == 0x8:  # close: what came before it still counts
                if self.close_code is None:
                    self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                    if self.on_close is not None:
                        self.on_close(self.close_code)
                self.buffer = b""
                return out
        self.buffer = buf[pos:]
        return out

    def _inflated(self, payload: bytes) -> bytes:
        assert self._inflate is not None
        if self._inflate_each:
            self._inflate = zlib.decompressobj(-15)
        return self._inflate.decompress(payload + _DEFLATE_TAIL)

    def _frame(self, opcode: int, data: bytes) -> bytes:
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        return header + _ZERO_MASK + data

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- The caller's side -------------------------------------------------------------------

    def send_text(self, text: str | bytes) -> None:
        self._write(self._frame(0x1, text.encode() if isinstance(text, str) else text))

    async def recv(self) -> bytes:
        """The next text frame."""
        while not self.pending:
            self.pending.extend(await self.frames())
        return self.pending.popleft()

    async def frames(self) -> list[bytes]:
        """Every text frame received and not yet taken (waits for at least one)."""
        while not self.pending:
            if self.close_code is not None:
                raise Closed(self.close_code)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        waiting = list(self.pending)
        self.pending.clear()
        return waiting

    async def close(self) -> None:
        self._write(self._frame(0x8, struct.pack("!H", 1000)))
        if self.transport is not None:
            self.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._lost), 5)
