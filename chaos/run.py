"""One bounded chaos run: set up sessions, start the cluster, send ops from every participant
while injecting faults, let everything settle, then check the outcome against the journal.

`run(config)` needs Django set up on the database the servers use (PostgreSQL). It returns a
`Report`; `Report.ok` is the verdict and `Report.text()` the printout.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client

from cobrowse import lifecycle
from cobrowse.audit import journal_verify
from cobrowse.models import Operation, Session
from cobrowse.policy import CUSTOMER_SESSIONS_KEY
from cobrowse.protocol import DELIVERY
from helpdesk.management.commands.demo_setup import demo_site, demo_teams_join

from .client import ChaosClient
from .cluster import ROOT, Cluster

FAULTS = ("drop_client", "kill_server", "restart_redis", "break_db", "db_outage")
PROBE_TIMEOUT = 5.0


@dataclass
class Config:
    duration: float = 60.0  # seconds of load with faults
    sessions: int = 2
    observers: int = 2  # per session, besides the customer and the operator
    customer_rate: float = 30.0  # ops per second
    operator_rate: float = 20.0
    observer_rate: float = 3.0
    fault_interval: tuple[float, float] = (1.0, 3.0)
    settle_timeout: float = 90.0
    seed: int = 1
    servers: int = 3
    log_dir: Path = ROOT / "artifacts" / "chaos"
    database_url: str = ""
    faults: tuple[str, ...] = FAULTS


@dataclass
class Report:
    config: Config
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    latency: dict[str, float] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)
    live_after_faults: bool = False
    closes: Counter[int] = field(default_factory=Counter)

    def closes_text(self) -> str:
        return ", ".join(f"{code} x{n}" for code, n in sorted(self.closes.items())) or "none"

    @property
    def ok(self) -> bool:
        return not self.problems and all(
            self.counts.get(k, 0) == 0 for k in ("lost", "duplicated", "reordered")
        )

    def text(self) -> str:
        c = self.counts
        lines = [
            f"chaos run: {self.config.sessions} session(s), {c.get('clients', 0)} clients, "
            f"{self.config.servers} servers, {self.seconds:.1f} s, seed {self.config.seed}",
            f"ops sent:        {c.get('sent', 0)} ({c.get('frames_sent', 0)} frames, "
            f"{c.get('resends', 0)} re-sent after reconnects or rate limits)",
            f"ops acked:       {c.get('acked', 0)}",
            f"ops journaled:   {c.get('journaled', 0)} (including {c.get('joined', 0)} joins)",
            f"ops delivered:   {c.get('delivered', 0)} op frames applied by participants",
            "faults injected: "
            + ", ".join(f"{name} {self.faults.get(name, 0)}" for name in FAULTS)
            + f" (total {sum(self.faults.values())})",
            f"reconnects:      {c.get('reconnects', 0)} (close codes seen: {self.closes_text()}; "
            f"failed connection attempts: {c.get('connect_failures', 0)}); gaps repaired by "
            f"resume: {c.get('resumes', 0)}; rate limited: {c.get('rate_limited', 0)}",
            f"delivery latency: p50 {self.latency.get('p50', 0) * 1000:.0f} ms, "
            f"p99 {self.latency.get('p99', 0) * 1000:.0f} ms, "
            f"max {self.latency.get('max', 0) * 1000:.0f} ms",
            "live delivery after the faults, without pings: "
            + ("yes" if self.live_after_faults else "NO"),
            f"server tracebacks logged: {self.servers.get('tracebacks', 0)} "
            f"(logs in {self.servers.get('logs', '')})",
            f"lost:            {c.get('lost', 0)}",
            f"duplicated:      {c.get('duplicated', 0)}",
            f"reordered:       {c.get('reordered', 0)}",
        ]
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems[:40])
        lines.append("verdict: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


# --- Set-up (synchronous, ORM) -----------------------------------------------------------------


@dataclass
class Seat:
    name: str
    role: str
    session_id: str
    cookie: str


def _cookie_of(store: SessionStore) -> str:
    return f"sessionid={store.session_key}"


def prepare(config: Config, run_id: str) -> list[Seat]:
    """Open the sessions and make a browser cookie for every participant."""
    permission = Permission.objects.get(codename="operate_session")
    seats: list[Seat] = []
    for s in range(config.sessions):
        session = lifecycle.session_open(site=demo_site(), customer_session_key="")
        store = SessionStore()
        store[CUSTOMER_SESSIONS_KEY] = [str(session.pk)]
        store.create()
        seats.append(Seat(f"s{s}-customer", "customer", str(session.pk), _cookie_of(store)))
        for o in range(1 + config.observers):
            user = User.objects.create_user(
                username=f"chaos-{run_id}-s{s}-op{o}", password=None, is_staff=True
            )
            user.user_permissions.add(permission)
            demo_teams_join(user)
            client = Client()
            client.force_login(user)
            role = "operator" if o == 0 else "observer"
            name = f"s{s}-{role}{o if o else ''}"
            seats.append(
                Seat(name, role, str(session.pk), f"sessionid={client.cookies['sessionid'].value}")
            )
    return seats


def database_url() -> str:
    d = connection.settings_dict
    return f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST']}:{d['PORT']}/{d['NAME']}"


# --- The run (asynchronous) --------------------------------------------------------------------


class Chaos:
    def __init__(self, config: Config, cluster: Cluster, seats: list[Seat]) -> None:
        self.config, self.cluster = config, cluster
        self.rng = random.Random(config.seed)
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.faults: Counter[str] = Counter()
        ports = [server.port for server in cluster.servers]
        rates = {
            "customer": config.customer_rate,
            "operator": config.operator_rate,
            "observer": config.observer_rate,
        }
        self.clients = [
            ChaosClient(
                name=seat.name,
                role=seat.role,
                session_id=seat.session_id,
                cookie=seat.cookie,
                ports=ports,
                rate=rates[seat.role],
                rng=random.Random(self.rng.random()),
                sent_at=self.sent_at,
                latencies=self.latencies,
            )
            for seat in seats
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.live_after_faults = False
        self.probe_behind: list[str] = []

    async def main(self, heads: Any) -> bool:
        # Join in order (customer, operator, observers) so that roles are as planned.
        for client in self.clients:
            self._tasks.append(asyncio.create_task(client.run()))
            await asyncio.wait_for(client._connected.wait(), 30)
        generators = [asyncio.create_task(c.generate()) for c in self.clients]
        await self._inject_faults(time.monotonic() + self.config.duration)
        for client in self.clients:
            client.generating = False
        await asyncio.gather(*generators)
        await self._heal()
        deadline = time.monotonic() + self.config.settle_timeout
        settled = await asyncio.gather(
            *(c.settle(heads[c.session_id], deadline) for c in self.clients)
        )
        if all(settled):
            self.live_after_faults = await self._probe_live_delivery(heads)
        for client in self.clients:
            client.stopped = True
            if client.ws is not None:
                await client.ws.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return all(settled)

    async def _probe_live_delivery(self, heads: Any) -> bool:
        """With the faults over and nobody pinging, one chat op from every participant must
        reach every participant of its session through the doorbells alone (a process whose
        channel-layer subscription died would only deliver after a ping)."""
        for client in self.clients:
            client.pinging = False
        await asyncio.sleep(0.5)
        for client in self.clients:
            client.send_op("chat")
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline:
            if all(not c.pending for c in self.clients):
                for head in heads.values():
                    head.refresh()
                if all(c.position >= heads[c.session_id]() for c in self.clients):
                    return True
            await asyncio.sleep(0.1)
        self.probe_behind = [
            c.name for c in self.clients if c.pending or c.position < heads[c.session_id]()
        ]
        return False

    async def _inject_faults(self, until: float) -> None:
        # Every kind of fault at least once, in random order, then at random.
        kinds = self.config.faults
        plan = list(kinds)
        self.rng.shuffle(plan)
        restarts: list[asyncio.Task[None]] = []
        while True:
            await asyncio.sleep(self.rng.uniform(*self.config.fault_interval))
            if time.monotonic() >= until:
                break
            fault = plan.pop() if plan else self.rng.choice(kinds)
            done = await self._inject(fault, restarts)
            if done:
                self.faults[fault] += 1
        await asyncio.gather(*restarts)

    async def _inject(self, fault: str, restarts: list[asyncio.Task[None]]) -> bool:
        loop = asyncio.get_running_loop()
        if fault == "drop_client":
            connected = [c for c in self.clients if c.ws is not None]
            return bool(connected) and self.rng.choice(connected).drop()
        if fault == "kill_server":
            up = [s for s in self.cluster.servers if s.up]
            if len(up) < len(self.cluster.servers):
                return False  # one is still down; keep at least two up
            server = self.rng.choice(up)
            await loop.run_in_executor(None, self.cluster.kill, server)

            async def restart() -> None:
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                await loop.run_in_executor(None, self.cluster.start, server)

            restarts.append(asyncio.create_task(restart()))
            return True
        if fault == "restart_redis":
            await loop.run_in_executor(None, self.cluster.kill_redis)
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            await loop.run_in_executor(None, self.cluster.start_redis)
            return True
        if fault == "break_db":
            await loop.run_in_executor(None, self.cluster.break_database_connections)
            return True
        if fault == "db_outage":
            seconds = self.rng.uniform(0.5, 2.0)
            await loop.run_in_executor(None, self.cluster.database_outage, seconds)
            return True
        raise ValueError(fault)

    async def _heal(self) -> None:
        loop = asyncio.get_running_loop()
        if self.cluster.redis is None:
            await loop.run_in_executor(None, self.cluster.start_redis)
        for server in self.cluster.servers:
            if not server.up:
                await loop.run_in_executor(None, self.cluster.start, server)


# --- Checking ----------------------------------------------------------------------------------


def check(chaos: Chaos, settled: bool, report: Report) -> None:
    """Compare what every participant applied with the journal and the delivery rule."""
    problems = report.problems
    if settled and not chaos.live_after_faults:
        problems.append(
            "after the faults, live delivery without pings did not reach "
            f"{', '.join(chaos.probe_behind)} within {PROBE_TIMEOUT:.0f} s"
        )
    if not settled:
        stuck = [
            f"{c.name} (pending {len(c.pending)}, position {c.position}, fatal {c.fatal})"
            for c in chaos.clients
            if c.pending or c.fatal
        ]
        problems.append("did not settle in time: " + (", ".join(stuck) or "positions behind"))
    lost = duplicated = reordered = 0
    journaled = joined = 0
    by_session: dict[str, list[ChaosClient]] = {}
    for client in chaos.clients:
        by_session.setdefault(client.session_id, []).append(client)

    for session_id, clients in by_session.items():
        head = Session.objects.values_list("head_seq", flat=True).get(pk=session_id)
        rows = list(
            Operation.objects.filter(session_id=session_id)
            .order_by("seq")
            .values_list("seq", "kind", "sender_id", "client_op_id", "payload", "delivery")
        )
        journaled += len(rows)
        joined += sum(1 for r in rows if r[3].startswith("server-joined-"))
        seqs = [r[0] for r in rows]
        if seqs != list(range(1, head + 1)):
            problems.append(f"session {session_id}: journal seqs are not 1..{head} without gaps")
        verified = journal_verify(session_id=session_id)
        if verified.broken is not None:
            problems.append(f"session {session_id}: hash chain broken at {verified.broken}")
        for seq, kind, _, cid, _, delivery in rows:
            if delivery != DELIVERY[kind]:
                problems.append(f"seq {seq} ({cid}): delivery {delivery} for {kind}")
        journal_ids = Counter((r[2], r[3]) for r in rows)
        duplicated += sum(n - 1 for n in journal_ids.values() if n > 1)
        seq_of = {(r[2], r[3]): r[0] for r in rows}

        for client in clients:
            me = client.participant or 0
            # Every op sent was acked, and every acked op is in the journal once, at its seq.
            unacked = [cid for cid in client.generated if cid not in client.acked]
            lost += len(unacked)
            if unacked:
                problems.append(
                    f"{client.name}: {len(unacked)} ops never acked, e.g. {unacked[:3]}"
                )
            if client.refused:
                problems.append(f"{client.name}: ops refused: {client.refused[:3]}")
            for cid, seq in client.acked.items():
                if cid.startswith("server-joined-"):
                    continue
                if seq_of.get((me, cid)) != seq:
                    lost += 1
                    problems.append(
                        f"{client.name}: {cid} acked with seq {seq}, journal has "
                        f"{seq_of.get((me, cid))}"
                    )
            if client.ack_conflicts:
                duplicated += len(client.ack_conflicts)
                problems.append(f"{client.name}: acked twice differently {client.ack_conflicts}")
            # The identical sequence of ops meant for it: the journal filtered by delivery.
            expected = [
                (seq, kind, sender, payload)
                for seq, kind, sender, _, payload, delivery in rows
                if delivery == "all" or sender != me
            ]
            applied = client.applied
            applied_seqs = [a[0] for a in applied]
            duplicated += len(applied_seqs) - len(set(applied_seqs))
            reordered += sum(1 for a, b in itertools.pairwise(applied_seqs) if b < a)
            expected_seqs = {e[0] for e in expected}
            missing = expected_seqs - set(applied_seqs)
            lost += len(missing)
            extra = set(applied_seqs) - expected_seqs
            if missing:
                problems.append(f"{client.name}: missing seqs {sorted(missing)[:10]}")
            if extra:
                problems.append(f"{client.name}: got seqs not meant for it {sorted(extra)[:10]}")
            mismatched = [
                a[0] for a, e in zip(applied, expected, strict=False) if a != e and a[0] == e[0]
            ]
            if mismatched:
                reordered += len(mismatched)
                problems.append(f"{client.name}: content differs from journal at {mismatched[:5]}")
            elif applied != expected and not missing and not extra:
                problems.append(f"{client.name}: applied sequence differs from the journal's")
            # What the connections showed on the wire, beyond what the client repaired.
            duplicated += client.stats.unexpected_duplicates
            reordered += client.stats.regressions
            if client.stats.shape_errors:
                problems.append(f"{client.name}: {client.stats.shape_errors} frames out of shape")
            if client.fatal:
                problems.append(f"{client.name}: {client.fatal}")

    stats = [c.stats for c in chaos.clients]
    for s in stats:
        report.closes.update(s.closes)
    report.counts = {
        "clients": len(chaos.clients),
        "sent": sum(len(c.generated) for c in chaos.clients),
        "frames_sent": sum(s.frames_sent for s in stats),
        "resends": sum(s.resends for s in stats),
        "acked": sum(
            sum(1 for cid in c.acked if not cid.startswith("server-")) for c in chaos.clients
        ),
        "journaled": journaled,
        "joined": joined,
        "delivered": sum(len(c.applied) for c in chaos.clients),
        "reconnects": sum(max(0, s.connects - 1) for s in stats),
        "resumes": sum(s.resumes for s in stats),
        "connect_failures": sum(s.connect_failures for s in stats),
        "rate_limited": sum(s.rate_limited for s in stats),
        "lost": lost,
        "duplicated": duplicated,
        "reordered": reordered,
    }
    if chaos.latencies:
        ordered = sorted(chaos.latencies)
        report.latency = {
            "p50": statistics.median(ordered),
            "p99": ordered[int(len(ordered) * 0.99) - 1],
            "max": ordered[-1],
        }


def run(config: Config) -> Report:
    """The whole run, synchronous. Django must be set up (PostgreSQL)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the chaos run needs PostgreSQL (DATABASE_URL) shared by its servers")
    run_id = f"{int(time.time())}-{config.seed}"
    seats = prepare(config, run_id)
    cluster = Cluster(
        database_url=config.database_url or database_url(),
        log_dir=config.log_dir / run_id,
        server_count=config.servers,
        # The servers must read the session cookies signed here.
        extra_env={"SECRET_KEY": settings.SECRET_KEY},
    )
    report = Report(config)
    started = time.monotonic()
    try:
        cluster.start_redis()
        cluster.start_servers()
        chaos = Chaos(config, cluster, seats)
        heads = {seat.session_id: _HeadReader(seat.session_id) for seat in seats}
        settled = asyncio.run(chaos.main(heads))
        report.faults = chaos.faults
        report.live_after_faults = chaos.live_after_faults
    finally:
        cluster.stop()
        report.seconds = time.monotonic() - started
    report.servers = cluster.server_log_summary()
    connection.close()  # the servers may have been cut off from the database; start afresh
    check(chaos, settled, report)
    return report


class _HeadReader:
    """The session's head, read at most every half second (clients ask in a loop)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.at, self.head = 0.0, 0

    def refresh(self) -> None:
        self.at = 0.0

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.at > 0.5:
            self.head, self.at = _read_head(self.session_id), now
        return self.head


def _read_head(session_id: str) -> int:
    # Its own short connection (not application_name APP_NAME, so never terminated by a fault).
    with psycopg.connect(database_url(), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT head_seq FROM cobrowse_session WHERE id = %s", (session_id,)
        ).fetchone()
    return int(row[0]) if row else 0
