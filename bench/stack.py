"""The bench's own stack: a Redis on port 6390, the `cobrowse_bench` database on the running
PostgreSQL, and server processes (daphne, uvicorn, or ShareDB's Node server), all on loopback
and all torn down at the end (`Stack.close`). BENCH_DB and BENCH_REDIS_PORT pick another
database name and Redis port (two runs side by side on one machine)."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.websocket import WS, production_command

ROOT = Path(__file__).resolve().parent.parent
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6390"))
BENCH_DB = os.environ.get("BENCH_DB", "cobrowse_bench")
LOG_DIR = ROOT / "bench" / "results"
# uvicorn's WebSocket implementation (BENCH_UVICORN_WS): production's (config/websocket.py)
UVICORN_WS = WS


def bench_database_url() -> str:
    """The running PostgreSQL of DATABASE_URL (make services), database `cobrowse_bench`
    (BENCH_DB)."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres:cobrowse@127.0.0.1:5432/cobrowse"
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("the bench needs PostgreSQL: set DATABASE_URL (make services does)")
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def ensure_database(url: str) -> None:
    """Create the database of `url` on its server unless it exists."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def wait_port(port: int, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Descriptors a server process holds besides its sockets to clients: the listening socket, its
# database and Redis connections, its log, Python's own files.
SERVER_SPARE_FILES = 200


def open_files_wanted(soft: int, hard: int, needed: int) -> tuple[int, int]:
    """The (soft, hard) limits of open files to ask for: the soft limit up to the hard one, and
    both up to `needed` when the hard limit is lower (which only a privileged process may do)."""
    infinity = resource.RLIM_INFINITY
    if hard != infinity and hard < needed:
        return needed, needed
    if hard == infinity:
        return (soft if soft == infinity else max(soft, needed)), hard
    return hard, hard


def raise_open_files(needed: int = 0) -> tuple[int, int]:
    """Raise this process's limit of open files (RLIMIT_NOFILE) as `open_files_wanted` says;
    processes started from it inherit the limit. A hard limit it may not raise stays as it is
    (the soft one still goes up to it). Returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = open_files_wanted(soft, hard, needed)
    if wanted != (soft, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, wanted)
        except (ValueError, OSError):  # not allowed above the hard limit: up to it, then
            resource.setrlimit(resource.RLIMIT_NOFILE, open_files_wanted(soft, hard, 0))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def idle_sessions_that_fit(asked: int, open_files: int) -> int:
    """How many of `asked` idle sessions (two sockets each) one server process allowed
    `open_files` open files holds: all of them, or else the most that fit, in hundreds."""
    fit = (open_files - SERVER_SPARE_FILES) // 2
    return asked if asked <= fit else max(0, fit // 100 * 100)


def open_files_limit(limits: str) -> int | None:
    """The soft limit of open files in the text of /proc/<pid>/limits (None: unlimited)."""
    for line in limits.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            return None if soft == "unlimited" else int(soft)
    raise ValueError("no 'Max open files' line")


def rss_mb(pid: int) -> float:
    """Resident set size of one process, MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Redis:
    def __init__(self, port: int = REDIS_PORT) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        if not shutil.which("redis-server"):
            raise SystemExit("redis-server is missing (make services installs it)")
        self.stop()  # a Redis left over by an interrupted run
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                f"/tmp/cobrowse-bench-redis-{self.port}.pid",
                "--logfile",
                str(LOG_DIR / "redis.log"),
            ],
            check=True,
        )
        wait_port(self.port, 10)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
                capture_output=True,
                timeout=10,
            )

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        return out.stdout.strip()


@dataclass
class Servers:
    """`workers` server processes of one kind, each on its own port."""

    kind: str  # daphne | uvicorn | sharedb
    workers: int
    env: dict[str, str]
    name: str
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, port: int) -> list[str]:
        if self.kind == "daphne":
            return [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "bench.asgi:application",
            ]
        if self.kind == "uvicorn":
            ws = os.environ.get("BENCH_UVICORN_WS", UVICORN_WS)
            command = production_command("bench.asgi:application", port, ws=ws)
            return [*command, "--log-level", "warning"]
        if self.kind == "sharedb":  # ShareDB's Node server (bench/sharedb_peer.py)
            return ["node", str(ROOT / "bench" / "sharedb" / "server.js"), str(port)]
        raise ValueError(f"unknown server {self.kind!r}")

    def start(self) -> None:
        for index in range(self.workers):
            port = free_port()
            log = open(LOG_DIR / f"server-{self.name}-{index}.log", "wb")  # noqa: SIM115
            command = self.command(port)
            if os.environ.get("BENCH_NICE"):  # development on a busy machine: -10 and the like
                command = ["nice", "-n", os.environ["BENCH_NICE"], *command]
            profiler = os.environ.get("BENCH_PROFILE")  # a py-spy binary: profile the servers
            if profiler:
                out = LOG_DIR / f"profile-{self.name}-{index}.txt"
                command = [
                    profiler,
                    "record",
                    "--nonblocking",  # sampling without stopping the server: its timing holds
                    "-r",
                    "250",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--",
                    *command,
                ]
            proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
            log.close()
            self.ports.append(port)
            self.procs.append(proc)
        for port, proc in zip(self.ports, self.procs, strict=True):
            wait_port(port, 60, proc)

    def rss_mb(self) -> list[float]:
        return [rss_mb(self._server_pid(p)) if p.poll() is None else 0.0 for p in self.procs]

    @staticmethod
    def _server_pid(proc: subprocess.Popen[bytes]) -> int:
        """The server's pid (under a profiler, the profiler's child)."""
        if not os.environ.get("BENCH_PROFILE"):
            return proc.pid
        try:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                children = f.read().split()
            return int(children[0]) if children else proc.pid
        except OSError:
            return proc.pid

    def open_files_limits(self) -> list[int | None]:
        """Each server's soft limit of open files, as the kernel holds it."""
        limits = []
        for proc in self.procs:
            with open(f"/proc/{self._server_pid(proc)}/limits") as f:
                limits.append(open_files_limit(f.read()))
        return limits

    def open_files(self) -> list[int]:
        """How many files (sockets among them) each server has open now."""
        return [len(os.listdir(f"/proc/{self._server_pid(p)}/fd")) for p in self.procs]

    def cpu_seconds(self) -> list[float]:
        return [cpu_seconds(self._server_pid(p)) if p.poll() is None else 0.0 for p in self.procs]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                # Under a profiler, end the server: the profiler then writes its output.
                pid = self._server_pid(proc)
                if pid != proc.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                else:
                    proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        self.ports.clear()


def server_env(
    *, database_url: str, redis_url: str, layer: str, extra: dict[str, str]
) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER": layer,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        # One sender a session carries the whole load of its session: at our saturation that
        # is far more ops a second than the product lets one browser send (200 a second).
        "COBROWSE_RATE_PER_SECOND": "1000000",
        "COBROWSE_RATE_BURST": "1000000",
    }
    env.pop("COBROWSE_LOCAL_HANDOVER", None)
    env.update(extra)
    return env
