"""A minimal WebSocket client (RFC 6455) for the bench's client processes.

The bench measures servers, so its clients should cost as little CPU as possible: on a 2-core
machine a general-purpose Python client spends about as much per frame as the server does and
takes the CPU the servers need. This one reads the socket in large chunks and cuts frames with
a few slices, and sends with an all-zero mask (a valid masking key that leaves the payload as
it is). It answers pings; text frames only, no extensions, no fragmentation; loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from collections import deque
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ZERO_MASK = b"\x00\x00\x00\x00"


class Closed(ConnectionError):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed by the server with {code}")
        self.code = code


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = b""
        self.pending: deque[bytes] = deque()
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, *, origin: str, cookie: str | None) -> RawWebSocket:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("loopback only")
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=1 << 22)
        key = base64.b64encode(os.urandom(16))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n{cookie_line}\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            writer.close()
            raise ConnectionError(f"handshake refused: {head[:80]!r}")
        return cls(reader, writer)

    def _frame(self, opcode: int, data: bytes) -> bytes:
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        return header + _ZERO_MASK + data

    def send_text(self, text: str | bytes) -> None:
        self.writer.write(self._frame(0x1, text.encode() if isinstance(text, str) else text))

    async def recv(self) -> bytes:
        """The next text frame."""
        while not self.pending:
            self.pending.extend(await self.frames())
        return self.pending.popleft()

    async def frames(self) -> list[bytes]:
        """Every complete text frame now buffered (waits for at least one)."""
        if self.pending:
            waiting = list(self.pending)
            self.pending.clear()
            return waiting
        out: list[bytes] = []
        while not out:
            if self.close_code is not None:
                raise Closed(self.close_code)
            chunk = await self.reader.read(1 << 20)
            if not chunk:
                self.close_code = 1006
                raise Closed(self.close_code)
            buf = self.buffer + chunk if self.buffer else chunk
            pos, end = 0, len(buf)
            while end - pos >= 2:
                opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
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
                    out.append(payload)
                elif opcode == 0x9:  # ping
                    self.writer.write(self._frame(0xA, payload))
                elif opcode == 0x8:  # close
                    self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                    self.buffer = b""
                    if out:  # the caller gets these first, then Closed at its next read
                        return out
                    raise Closed(self.close_code)
            self.buffer = buf[pos:]
        return out

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(self._frame(0x8, struct.pack("!H", 1000)))
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 5)
