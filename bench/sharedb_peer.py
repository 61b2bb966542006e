"""ShareDB, the closest real peer (docs/performance.md): its database, its servers and its load.

ShareDB orders the ops of each document, journals them in PostgreSQL (sharedb-postgres) and
fans them out through Redis (sharedb-redis-pubsub), JSON over WebSockets: what our server does
for a session. The bench installs it from npm into bench/sharedb/ (`npm ci --prefix
bench/sharedb`, `make bench` does it), serves it with bench/sharedb/server.js on a database of
its own on the bench's PostgreSQL (`<bench database>_sharedb`) and the bench's Redis, and loads
it from Node processes (bench/sharedb/load.js) that use ShareDB's own client. This module
paces those processes with the orchestrator's commands of bench/load.py, so `run_step` measures
both systems the same way.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import subprocess
import time
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

from .load import Spec
from .stack import LOG_DIR, ROOT, ensure_database

SHAREDB_DIR = ROOT / "bench" / "sharedb"
STRUCTURE_SQL = SHAREDB_DIR / "structure.sql"
PACKAGES = ("sharedb", "sharedb-postgres", "sharedb-redis-pubsub", "ws")


def database_url(bench_url: str) -> str:
    """ShareDB's database: the bench's own name with `_sharedb`, on the same PostgreSQL."""
    parts = urlsplit(bench_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_sharedb"))


def check_installed() -> None:
    if not shutil.which("node"):
        raise SystemExit("bench: ShareDB needs Node.js (`node` is not on PATH)")
    if not (SHAREDB_DIR / "node_modules" / "sharedb").is_dir():
        raise SystemExit(
            "bench: ShareDB is not installed: `npm ci --prefix bench/sharedb` (make bench does it)"
        )


def versions() -> dict[str, str]:
    """Node's version and those of the ShareDB packages installed."""
    out = {"node": "?"}
    with contextlib.suppress(OSError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        out["node"] = node.stdout.strip().lstrip("v")
    for name in PACKAGES:
        try:
            manifest = SHAREDB_DIR / "node_modules" / name / "package.json"
            out[name] = str(orjson.loads(manifest.read_bytes())["version"])
        except (OSError, KeyError, orjson.JSONDecodeError):
            out[name] = "?"
    return out


def prepare_database(url: str) -> None:
    """Create ShareDB's database and tables (the SQL sharedb-postgres documents), and empty
    them, so every run starts from the same state."""
    ensure_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STRUCTURE_SQL.read_bytes())
        conn.execute("TRUNCATE ops, snapshots")
        conn.execute("VACUUM ANALYZE ops, snapshots")


def vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ops, snapshots")


def server_env(*, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,  # NODE_OPTIONS and the like reach it, as they reach our servers
        "NODE_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }


def participant_specs(
    ports: list[int], sessions: int, operators: int, route: str = "connection"
) -> tuple[list[Spec], dict[int, list[int]]]:
    """The shape of `runner.participant_specs`: one document per session, 1 + K participants
    each, the first the sender, each on its own WebSocket, spread over the server processes the
    same way."""
    specs: list[Spec] = []
    peers: dict[int, list[int]] = {}
    number = 0
    for index in range(sessions):
        members = []
        for j in range(1 + operators):
            port = ports[(index + (j if route == "connection" else 0)) % len(ports)]
            url = f"ws://127.0.0.1:{port}"
            specs.append(Spec(url, None, index, number, "sharedb", "pointer", j == 0))
            members.append(number)
            number += 1
        for member in members:  # whom each one hears from: the sender
            peers[member] = [m for m in members[:1] if m != member]
    return specs, peers


def decode_part(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """One answer of a Node load process, in the form bench/load.py's client processes give
    (float32 arrays as bytes, participant numbers as ints)."""
    out = dict(body)
    for key in ("deliveries", "acks"):
        if key in out:
            raw = base64.b64decode(out[key], validate=True)
            if len(raw) % 4:
                raise ValueError(f"{kind}: {key} is not an array of float32")
            out[key] = raw
    if "sent_by" in out:
        out["sent_by"] = {int(k): int(v) for k, v in out["sent_by"].items()}
    return out


class NodeLoadPool:
    """`n` Node processes (bench/sharedb/load.js) holding the participants' ShareDB clients;
    the interface of `runner.ClientPool`. The participants of one document are always in one
    process (a receiver there knows when each action composed into an op was sent)."""

    def __init__(self, specs: list[Spec], peers: dict[int, list[int]], n: int) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self._buffers: list[bytes] = []
        n = max(1, min(n, len({s.session for s in specs})))
        for index in range(n):
            share = [s for s in specs if s.session % n == index]
            first: dict[int, int] = {}
            for s in share:
                first.setdefault(s.session, s.number)
            participants = [
                {
                    "url": s.url,
                    "doc": f"session-{s.session}",
                    "number": s.number,
                    "creator": first[s.session] == s.number,
                    "sends": s.sends,
                    "peers": peers[s.number],
                }
                for s in share
            ]
            log = open(LOG_DIR / f"load-sharedb-{index}.log", "wb")  # noqa: SIM115
            command = ["node", str(SHAREDB_DIR / "load.js")]
            if os.environ.get("BENCH_NICE"):
                command = ["nice", "-n", os.environ["BENCH_NICE"], *command]
            proc = subprocess.Popen(
                command, cwd=SHAREDB_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
            log.close()
            self.procs.append(proc)
            self._buffers.append(b"")
            self._send(index, {"participants": participants})
        try:
            self.ready = [self._recv(i, "ready", 180) for i in range(len(self.procs))]
        except BaseException:
            self.stop()
            raise

    def _send(self, index: int, message: Any) -> None:
        stdin = self.procs[index].stdin
        assert stdin is not None
        stdin.write(orjson.dumps(message) + b"\n")
        stdin.flush()

    def _recv(self, index: int, expected: str, timeout: float) -> dict[str, Any]:
        proc = self.procs[index]
        stdout: IO[bytes] | None = proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffers[index]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"ShareDB load process did not answer {expected!r} in {timeout} s"
                )
            readable, _, _ = select.select([stdout], [], [], remaining)
            if readable:
                chunk = os.read(stdout.fileno(), 1 << 20)
                if not chunk:
                    proc.wait(10)
                    raise RuntimeError(
                        f"ShareDB load process exited with {proc.returncode} "
                        f"(see {LOG_DIR / f'load-sharedb-{index}.log'})"
                    )
                self._buffers[index] += chunk
        line, self._buffers[index] = self._buffers[index].split(b"\n", 1)
        kind, body = orjson.loads(line)
        if kind != expected:
            raise RuntimeError(f"ShareDB load process answered {kind!r}, expected {expected!r}")
        return decode_part(kind, body)

    def ask(self, command: str, timeout: float, **params: Any) -> list[dict[str, Any]]:
        if "sent_by" in params:
            params["sent_by"] = {str(k): v for k, v in params["sent_by"].items()}
        for index in range(len(self.procs)):
            self._send(index, [command, params])
        return [self._recv(index, command, timeout) for index in range(len(self.procs))]

    def stop(self) -> None:
        for index, proc in enumerate(self.procs):
            with contextlib.suppress(Exception):
                self._send(index, ["stop", {}])
                self._recv(index, "stopped", 30 if proc.poll() is None else 0)
            with contextlib.suppress(Exception):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
