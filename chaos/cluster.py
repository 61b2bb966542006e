"""The processes the harness runs and breaks: three ASGI servers, a Redis of its own, and the
database connections of those servers.

Everything listens on 127.0.0.1 only. Redis is started by the harness on a free port, so that
restarting it disturbs nobody else; database connections are broken with pg_terminate_backend
on the backends of the servers only (they connect with `application_name` = APP_NAME, and the
filter also names the database), never on anyone else's. An outage makes our database (only
ours) refuse new connections for a moment (ALTER DATABASE ... ALLOW_CONNECTIONS), which needs
a superuser, as the local PostgreSQL of `make services` has; `stop()` always ends it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql

from config.websocket import production_command

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "cobrowse-chaos-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Server:
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_file: TextIO | None = None

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    database_url: str
    log_dir: Path
    server_count: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    redis_port: int = 0
    redis: subprocess.Popen[bytes] | None = None

    # --- Redis -------------------------------------------------------------------------------

    def start_redis(self) -> None:
        if not self.redis_port:
            self.redis_port = free_port()
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.redis = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.redis_port, 10):
            raise RuntimeError("redis-server did not start")

    def kill_redis(self) -> None:
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
            self.redis = None

    # --- Servers -----------------------------------------------------------------------------

    def server_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "PGAPPNAME": APP_NAME,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("COBROWSE_LOCAL_HANDOVER", None)  # the production default
        return env

    def start_servers(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.server_count):
            server = Server(port=free_port(), log=self.log_dir / f"server-{index}.log")
            self.servers.append(server)
            self.start(server)
        for server in self.servers:
            if not wait_for_port(server.port, 60):
                raise RuntimeError(f"server on {server.port} did not start; see {server.log}")

    def start(self, server: Server) -> None:
        if server._log_file is None:
            server._log_file = server.log.open("a")
        server.proc = subprocess.Popen(
            # The production command (config/websocket.py): its send waits while the socket's
            # buffer is full, and it drops a peer that does not complete the close handshake.
            [*production_command("config.asgi:application", server.port), "--log-level", "warning"],
            cwd=ROOT,
            env=self.server_env(),
            stdout=server._log_file,
            stderr=subprocess.STDOUT,
        )

    def kill(self, server: Server) -> None:
        """SIGKILL: no goodbye to the clients, the database or Redis."""
        if server.proc is not None:
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()

    def stop(self) -> None:
        self.end_database_outage()
        for server in self.servers:
            if server.up and server.proc is not None:
                server.proc.terminate()
        for server in self.servers:
            if server.proc is not None:
                try:
                    server.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    server.proc.wait()
            if server._log_file is not None:
                server._log_file.close()
                server._log_file = None
        self.kill_redis()

    # --- Database ----------------------------------------------------------------------------

    def break_database_connections(self) -> int:
        """Terminate the servers' backends on our database; returns how many."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s "
                "AND pid <> pg_backend_pid()",
                (APP_NAME,),
            ).fetchall()
        return len(rows)

    def database_outage(self, seconds: float) -> None:
        """Our database refuses new connections for `seconds`, and the servers' current ones are
        terminated: an outage, as a failover would cause. Other databases are not touched."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        self._outage_database = str(row[0])
        self._allow_connections(False)
        try:
            self.break_database_connections_of(self._outage_database)
            time.sleep(seconds)
        finally:
            self.end_database_outage()

    def end_database_outage(self) -> None:
        if getattr(self, "_outage_database", None):
            self._allow_connections(True)
            self._outage_database = ""

    def _allow_connections(self, allow: bool) -> None:
        # ALTER DATABASE is run from the maintenance database, on ours only.
        maintenance = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(self._outage_database), sql.SQL("true" if allow else "false")
                )
            )

    def break_database_connections_of(self, database: str) -> int:
        maintenance = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = %s",
                (database, APP_NAME),
            ).fetchall()
        return len(rows)

    def server_log_summary(self) -> dict[str, Any]:
        """How often the servers logged a traceback (for the report; not a failure by itself)."""
        tracebacks = 0
        for server in self.servers:
            if server.log.exists():
                tracebacks += server.log.read_text(errors="replace").count("Traceback")
        return {"tracebacks": tracebacks, "logs": str(self.log_dir)}
