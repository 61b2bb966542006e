"""A minimal WebSocket client (RFC 6455) for the late-join measurement.

The late joiner in production is a browser, whose WebSocket and JSON parsing are native code.
A general-purpose Python client spends about as much CPU per frame as the server does to send
it, so it would measure itself. This one reads the socket in large chunks and cuts frames with
a few slices: it measures the server. Text frames only, no extensions, loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = b""

    @classmethod
    async def connect(cls, url: str, *, origin: str, cookie: str) -> RawWebSocket:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("loopback only")
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            writer.close()
            raise ConnectionError(f"handshake refused: {head[:80]!r}")
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(header + mask + masked)

    async def frames(self) -> list[bytes]:
        """Every complete frame's payload now buffered (waits for at least one)."""
        out: list[bytes] = []
        while not out:
            chunk = await self.reader.read(1 << 20)
            if not chunk:
                raise ConnectionError("closed by the server")
            buf = self.buffer + chunk
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
                if opcode == 0x8:
                    raise ConnectionError("closed by the server")
                if opcode == 0x1:  # text (the server sends no fragmented frames)
                    out.append(buf[start : start + length])
                pos = start + length
            self.buffer = buf[pos:]
        return out

    async def close(self) -> None:
        self.writer.write(b"\x88\x80" + os.urandom(4))  # masked close, no payload
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
