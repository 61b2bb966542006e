"""Real servers and raw WebSocket clients for tests that need the whole network path.

`live_server_process` runs `uvicorn config.asgi:application --ws
config.websocket:WebSocketProtocol` (the production command, docs/reliability.md) as a
subprocess on the test database: PostgreSQL + Redis when the suite runs on services, otherwise
the test SQLite file and the in-memory channel layer. `dev_server_process` runs `make run`'s
server the same way (`manage.py runserver`, which is daphne); `server_process` either, by name.
`RawSocket` speaks RFC 6455 by hand, so a test can send what no WebSocket library would
(invalid UTF-8, oversized frames) or stop reading altogether.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from config.websocket import production_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_env() -> dict[str, str]:
    """Environment that points a server process at the test database."""
    d = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST']}:{d['PORT']}/{d['NAME']}"
        return {"DATABASE_URL": url}
    return {"SQLITE_PATH": str(d["NAME"])}


@dataclass
class LiveServer:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident memory of the server process."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def live_server_process(
    tmp_path: Path, *, app: str = "config.asgi:application", **extra_env: str
) -> Iterator[LiveServer]:
    """The production server command (`make serve`) serving `app` on a free port, on the
    test database, until the block ends."""
    port = free_port()
    env = {"DEBUG": "0", "SECURE_SSL_REDIRECT": "0", **extra_env}
    with _server(tmp_path, production_command(app, port), port, env) as server:
        yield server


@contextlib.contextmanager
def dev_server_process(tmp_path: Path, **extra_env: str) -> Iterator[LiveServer]:
    """`make run`'s server (`manage.py runserver`, daphne) on a free port, on the test
    database, until the block ends."""
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with _server(tmp_path, command, port, {"DEBUG": "1", **extra_env}) as server:
        yield server


SERVERS = ("production", "development")


def server_process(kind: str, tmp_path: Path, **extra_env: str) -> Any:
    """`live_server_process` for "production", `dev_server_process` for "development"."""
    if kind == "production":
        return live_server_process(tmp_path, **extra_env)
    return dev_server_process(tmp_path, **extra_env)


@contextlib.contextmanager
def _server(
    tmp_path: Path, command: list[str], port: int, extra_env: dict[str, str]
) -> Iterator[LiveServer]:
    env = {**os.environ, **test_database_env()}
    if connection.vendor != "postgresql":
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    env.update(
        {
            "SECRET_KEY": settings.SECRET_KEY,  # to read the cookies the test signs
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
    )
    log = tmp_path / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"server did not start: {log.read_text()}") from None
                    time.sleep(0.1)
            yield LiveServer(port, proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- A WebSocket client by hand ------------------------------------------------------------------

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class RawSocket:
    def __init__(
        self,
        port: int,
        path: str,
        *,
        cookie: str = "",
        rcvbuf: int | None = None,
        extensions: str = "",
        origin: str | None = None,
    ):
        self.sock = socket.socket()
        if rcvbuf is not None:
            # Set before connecting, so that the window the server sees stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin or f'http://127.0.0.1:{port}'}\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "")
            + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
            + "\r\n"
        )
        self.sock.sendall(request.encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed(None)
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        self.head = head
        self.status = int(head.split(b" ", 2)[1])
        self.compressed = False  # whether the last frame `recv` returned had RSV1 set

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 2**16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = (
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if length < 4096
            else (_mask_fast(payload, mask))
        )
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self.send(text.encode())

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None)
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def recv(self) -> tuple[int, bytes]:
        """The next data frame (opcode, payload); answers pings; raises Closed on a close."""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            payload = self._read(length)
            if opcode == OP_PING:
                self.send(payload, OP_PONG)
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code)
            self.compressed = bool(first & 0x40)
            return opcode, payload

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
