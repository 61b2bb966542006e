"""The measurements: stepped load per system, idle connections, late join.

Runs in the orchestrator process. Client processes (`bench/load.py`) are started with the
`spawn` method and driven over pipes; server processes with `bench/stack.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import multiprocessing
import multiprocessing.connection
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np
import orjson

from . import fixtures, sharedb_peer
from .load import (
    CONNECT_CONCURRENCY,
    ConnectPlan,
    Spec,
    _chunks,
    client_process,
    idle_process,
)
from .rawws import RawWebSocket
from .stack import Servers, server_env


@dataclass(frozen=True)
class System:
    key: str
    label: str
    server: str  # daphne | uvicorn
    layer: str  # pubsub | core: the server's default channel layer
    path: str  # cobrowse | relay | relay-production | save

    @property
    def protocol(self) -> str:
        return "cobrowse" if self.path == "cobrowse" else "relay"


@dataclass(frozen=True)
class Options:
    sessions: int
    operators: int
    clients: int
    workers: int
    step_seconds: float
    drain_seconds: float
    start_load: float
    factor: float
    max_steps: int
    max_p99_ms: float
    route: str = "connection"  # how connections are spread over workers (participant_specs)
    warm_up_seconds: float = 0.0  # an unmeasured step at the first load before the first step


def percentiles(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"p50": None, "p95": None, "p99": None, "p999": None, "max": None}
    p50, p95, p99, p999 = np.percentile(values, [50, 95, 99, 99.9])
    return {
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "p999": round(float(p999), 2),
        "max": round(float(values.max()), 2),
    }


class Pool(Protocol):
    """What `run_step` and `run_system` need of the processes that hold the participants:
    `ClientPool` (ours and the relays) or `sharedb_peer.NodeLoadPool` (ShareDB)."""

    ready: list[dict[str, Any]]

    def ask(self, command: str, timeout: float, **params: Any) -> list[dict[str, Any]]: ...

    def stop(self) -> None: ...


class ClientPool:
    """`n` client processes holding the participants' WebSockets."""

    def __init__(self, specs: list[Spec], peers: dict[int, list[int]], n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for chunk in _chunks(specs, n):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_process, args=(theirs, chunk, peers), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)
        self.ready = [self._recv(pipe, "ready", 180) for pipe in self.pipes]

    @staticmethod
    def _recv(pipe: Connection, expected: str, timeout: float) -> dict[str, Any]:
        if not pipe.poll(timeout):
            raise RuntimeError(f"client process did not answer {expected!r} in {timeout} s")
        kind, body = pipe.recv()
        if kind != expected:
            raise RuntimeError(f"client process answered {kind!r}, expected {expected!r}")
        result: dict[str, Any] = body
        return result

    def ask(self, command: str, timeout: float, **params: Any) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send((command, params))
        return [self._recv(pipe, command, timeout) for pipe in self.pipes]

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send(("stop", {}))
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                self._recv(pipe, "stopped", 30)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def participant_specs(
    system: System,
    ports: list[int],
    bench_sessions: list[fixtures.BenchSession],
    operator_cookies: list[str],
    route: str = "connection",
) -> tuple[list[Spec], dict[int, list[int]]]:
    """One customer and K operators per session; the customer sends (pointer ops, delivery
    `others`), the operators receive, as in a co-browsing session where the customer's page
    moves and the desk watches. With `route` "connection", participant j of
    session i talks to server process (i + j) % workers, as a load balancer that knows nothing
    of sessions would send them, so with several workers a session spans processes. With
    "session", every participant of session i talks to process i % workers, as a load
    balancer that hashes the session in the WebSocket's path would send them
    (docs/deployment.md)."""
    specs: list[Spec] = []
    peers: dict[int, list[int]] = {}
    number = 0
    for index, session in enumerate(bench_sessions):
        members = []
        cookies: list[str | None] = [session.customer_cookie, *operator_cookies]
        for j, cookie in enumerate(cookies):
            port = ports[(index + (j if route == "connection" else 0)) % len(ports)]
            if system.path == "cobrowse":
                url = f"ws://127.0.0.1:{port}/ws/cobrowse/{session.id}/?batch=1"
            else:
                url = f"ws://127.0.0.1:{port}/ws/bench/{system.path}/{session.id.replace('-', '')}/"
                cookie = None
            specs.append(Spec(url, cookie, index, number, system.protocol, "pointer", j == 0))
            members.append(number)
            number += 1
        for member in members:  # whom each one hears from: the sender
            peers[member] = [m for m in members[:1] if m != member]
    return specs, peers


def wait_until_quiet(
    servers: Servers, *, share: float = 0.1, window: float = 0.5, limit: float = 120.0
) -> float:
    """Seconds until the server processes together used less than `share` of a core over a
    whole `window` (at most `limit`)."""
    start = time.monotonic()
    before = sum(servers.cpu_seconds())
    while time.monotonic() - start < limit:
        time.sleep(window)
        now = sum(servers.cpu_seconds())
        if now - before < share * window:
            break
        before = now
    return round(time.monotonic() - start, 1)


def run_step(
    servers: Servers,
    pool: Pool,
    load: float,
    n_senders: int,
    fanout: int,
    opts: Options,
    duration: float | None = None,
) -> dict[str, Any]:
    duration = duration or opts.step_seconds
    rate = load / n_senders
    cpu_before = sum(servers.cpu_seconds())
    parts = pool.ask(
        "step",
        timeout=duration + opts.drain_seconds + 60,
        start_at=time.time() + 0.5,
        rate=rate,
        duration=duration,
        drain=opts.drain_seconds,
    )
    cpu = sum(servers.cpu_seconds()) - cpu_before
    deliveries = np.concatenate([np.frombuffer(p["deliveries"], dtype=np.float32) for p in parts])
    acks = np.concatenate([np.frombuffer(p["acks"], dtype=np.float32) for p in parts])
    first = min(p["first_send"] for p in parts)
    last_receive = max(p["last_receive"] for p in parts)
    received = sum(p["received"] for p in parts)
    expected = sum(p["expected"] for p in parts)
    span = max(last_receive - first, 1e-6)
    errors: dict[str, int] = {}
    for p in parts:
        for code, n in p["errors"].items():
            errors[code] = errors.get(code, 0) + n
    sent_by: dict[int, int] = {}
    for p in parts:
        sent_by.update(p["sent_by"])
    step = {
        "offered_ops_per_s": round(load, 1),
        "sent": sum(p["sent"] for p in parts),
        "ops_per_s": round(received / fanout / span, 1),
        "deliveries_per_s": round(received / span, 1),
        "delivered_per_receiver_per_s": round(received / fanout / n_senders / span, 1),
        "expected_deliveries": expected,
        "received_deliveries": received,
        "undelivered_at_deadline": expected - received,
        "duplicates": sum(p["duplicates"] for p in parts),
        "reordered": sum(p["reordered"] for p in parts),
        "stale": sum(p["stale"] for p in parts),
        "errors": errors,
        "closed": sum(p["closed"] for p in parts),
        "latency_ms": percentiles(deliveries),
        "ack_latency_ms": percentiles(acks),
        "seconds": round(span, 2),
        # Server CPU per op sent (every server process, the whole step): less noisy than time.
        "server_cpu_us_per_op": round(cpu / max(1, sum(p["sent"] for p in parts)) * 1e6, 1),
        "client_cpu_us_per_op": round(
            sum(p["cpu_seconds"] for p in parts) / max(1, sum(p["sent"] for p in parts)) * 1e6, 1
        ),
        "_sent_by": sent_by,
        "_deliveries": deliveries,
    }
    # ShareDB's client composes the actions that pile up behind its op in flight: how many
    # reached their receivers only inside a later op, and how many op messages they received.
    for key in ("composed", "op_messages"):
        if any(key in p for p in parts):
            step[key] = sum(p.get(key, 0) for p in parts)
    return step


def run_system(
    system: System,
    opts: Options,
    *,
    database_url: str,
    redis_url: str,
    half_load_of: float | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Start `system`'s servers, connect every participant, and step the offered load up until
    the system saturates. With `half_load_of` (ops/s), also one step at half of it."""
    if system.path == "sharedb":
        sharedb_url = sharedb_peer.database_url(database_url)
        sharedb_peer.prepare_database(sharedb_url)
        env = sharedb_peer.server_env(database_url=sharedb_url, redis_url=redis_url)
        bench_sessions, operator_cookies = [], []
    else:
        bench_sessions = fixtures.sessions(opts.sessions)
        operator_cookies = fixtures.operators(opts.operators)
        fixtures.vacuum()
        env = server_env(
            database_url=database_url, redis_url=redis_url, layer=system.layer, extra={}
        )
    servers = Servers(system.server, opts.workers, env, system.key)
    servers.start()
    pool: Pool | None = None
    steps: list[dict[str, Any]] = []
    rss_peak = [0.0] * opts.workers
    result: dict[str, Any] = {
        "key": system.key,
        "label": system.label,
        "server": system.server,
        "layer": system.layer,
        "workers": opts.workers,
        "route": opts.route,
    }
    try:
        rss_start = servers.rss_mb()
        fanout = opts.operators  # each op reaches every other member: K of K + 1
        if system.path == "sharedb":
            specs, peers = sharedb_peer.participant_specs(
                servers.ports, opts.sessions, opts.operators, opts.route
            )
            pool = sharedb_peer.NodeLoadPool(specs, peers, opts.clients)
        else:
            specs, peers = participant_specs(
                system, servers.ports, bench_sessions, operator_cookies, opts.route
            )
            pool = ClientPool(specs, peers, opts.clients)
        senders = sum(1 for s in specs if s.sends)
        connected = sum(r["connected"] for r in pool.ready)
        if connected != len(specs):
            failures = [f for r in pool.ready for f in r["failures"]]
            raise RuntimeError(f"{system.key}: {connected}/{len(specs)} connected: {failures}")
        log(
            f"  {system.key}: {connected} sockets open "
            f"({max(r['seconds'] for r in pool.ready):.1f} s)"
        )
        sent_by: dict[int, int] = {}
        load = opts.start_load
        if opts.warm_up_seconds > 0:
            step = run_step(
                servers, pool, load, senders, fanout, opts, duration=opts.warm_up_seconds
            )
            sent_by = step.pop("_sent_by")
            lat = step["latency_ms"]
            result["warm_up"] = {k: step[k] for k in ("offered_ops_per_s", "ops_per_s", "seconds")}
            result["warm_up"].update(duration_s=opts.warm_up_seconds, latency_ms=lat)
            log(
                f"  {system.key}: warm-up, {opts.warm_up_seconds:g} s at {load:.0f} ops/s "
                f"(not counted): p50 {lat['p50']} ms, p99 {lat['p99']} ms"
            )
        saturated = False
        for _ in range(opts.max_steps):
            step = run_step(servers, pool, load, senders, fanout, opts)
            sent_by = step.pop("_sent_by")
            step.pop("_deliveries")
            rss_peak = [max(a, b) for a, b in zip(rss_peak, servers.rss_mb(), strict=True)]
            steps.append(step)
            lat = step["latency_ms"]
            log(
                f"  {system.key}: offered {step['offered_ops_per_s']:>7.0f} ops/s -> "
                f"{step['ops_per_s']:>7.0f} ops/s delivered, p50 {lat['p50']} ms, "
                f"p99 {lat['p99']} ms, p999 {lat['p999']} ms, "
                f"undelivered {step['undelivered_at_deadline']}, "
                f"errors {step['errors'] or 0}, server CPU {step['server_cpu_us_per_op']} us/op, "
                f"clients {step['client_cpu_us_per_op']} us/op"
                + (f", composed {step['composed']}" if "composed" in step else "")
            )
            saturated = (
                step["undelivered_at_deadline"] > 0
                or step["closed"] > 0
                or step["ops_per_s"] < 0.9 * load
                or (lat["p99"] or 0) > opts.max_p99_ms
                or not servers.alive()
            )
            if saturated:
                break
            load *= opts.factor
        result["saturation_ops_per_s"] = max(s["ops_per_s"] for s in steps)
        # False when the last step still kept up: the figure is then a floor, not the saturation
        # (more steps, `--max-steps`, would find it).
        result["saturated"] = saturated
        if not saturated:
            log(f"  {system.key}: not saturated after {opts.max_steps} steps")
        if half_load_of is not None or system.key == "ours":
            half = (half_load_of or result["saturation_ops_per_s"]) / 2
            # Let the server work off the backlog of the saturated step first, and PostgreSQL
            # do now the vacuum and analyze that the burst of inserts calls for (autovacuum
            # would otherwise do it during the step and take a core from it).
            pool.ask("finish", timeout=120, sent_by=sent_by, wait=60)
            if system.path == "sharedb":
                sharedb_peer.vacuum(sharedb_peer.database_url(database_url))
            else:
                fixtures.vacuum()
            # A step past saturation can leave the server working for a while after its
            # clients have given up waiting (queued frames, the writer's queue): measured then,
            # the half step would show that recovery, not that load.
            result["quiet_before_half_s"] = wait_until_quiet(servers)
            time.sleep(2)
            step = run_step(
                servers, pool, half, senders, fanout, opts, duration=max(opts.step_seconds, 5)
            )
            sent_by = step.pop("_sent_by")
            step.pop("_deliveries")
            result["at_half_saturation"] = step
            lat = step["latency_ms"]
            log(
                f"  {system.key}: at half saturation ({half:.0f} ops/s): p50 {lat['p50']} ms, "
                f"p95 {lat['p95']} ms, p99 {lat['p99']} ms "
                f"(server quiet {result['quiet_before_half_s']} s after the ramp)"
            )
        final = pool.ask("finish", timeout=120, sent_by=sent_by, wait=opts.drain_seconds)
        result["integrity"] = {
            "lost": sum(f["lost"] for f in final),
            "duplicates": sum(s["duplicates"] for s in steps),
            "reordered": sum(s["reordered"] for s in steps),
            "seq_gaps": sum(f["seq_gaps"] for f in final),
            "seq_out_of_order": sum(f["seq_problems"] for f in final),
            "closed_sockets": sum(f["closed"] for f in final),
            "close_codes": sorted({c for f in final for c in f["close_codes"]}),
            "client_failures": [x for f in final for x in f["failures"]][:5],
        }
        result["sockets"] = len(specs)
        result["rss_mb_start"] = [round(x, 1) for x in rss_start]
        result["rss_mb_peak"] = [round(x, 1) for x in rss_peak]
    finally:
        if pool is not None:
            pool.stop()
        servers.stop()
    result["steps"] = steps
    return result


# --- Scale: processes routed by session ------------------------------------------------------


def run_scale(
    opts: Options,
    workers: list[int],
    *,
    server: str,
    layer: str,
    database_url: str,
    redis_url: str,
    log: Any = print,
) -> dict[str, Any]:
    """Ours with each number of server processes in `workers`, every connection of a session
    sent to one process (`--route session`, as the README's proxy routes them), all on the one
    PostgreSQL and the one Redis: the same load, stepped up to saturation as `run_system` does."""
    runs = []
    for n in workers:
        system = System(
            f"scale_{n}",
            f"ours, {n} {'process' if n == 1 else 'processes'} routed by session",
            server,
            layer,
            "cobrowse",
        )
        log(f"  {n} server {'process' if n == 1 else 'processes'}:")
        runs.append(
            run_system(
                system,
                dataclasses.replace(opts, workers=n, route="session"),
                database_url=database_url,
                redis_url=redis_url,
                log=log,
            )
        )
    return {"options": {**opts.__dict__, "workers": workers, "route": "session"}, "runs": runs}


# --- Idle sessions ---------------------------------------------------------------------------

# Below this many sockets a second welcomed the idle run has failed: the deadline for all of them.
SLOWEST_CONNECTS_PER_SECOND = 5.0


def connect_budget(sockets: int, in_flight: int) -> tuple[float, float]:
    """(seconds one socket may take until its welcome, seconds all of them may take). The
    server admits the handshakes in flight one after another, so one socket waits behind the
    others in flight, whatever the count; all of them take about `sockets` / rate. Both allow
    for SLOWEST_CONNECTS_PER_SECOND."""
    per_socket = max(30.0, 2 * in_flight / SLOWEST_CONNECTS_PER_SECOND)
    return per_socket, 60.0 + sockets / SLOWEST_CONNECTS_PER_SECOND


def _await_ready(
    pipes: list[Connection], *, total: int, deadline: float, log: Any
) -> list[dict[str, Any]]:
    """The `ready` answer of every idle client process, logging how far they got on the way
    (they send `progress` while connecting)."""
    ready: dict[int, dict[str, Any]] = {}
    done = [0] * len(pipes)
    started = last_log = time.monotonic()
    while len(ready) < len(pipes):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(
                f"idle: {sum(done)} of {total} sockets answered in {time.monotonic() - started:.0f}"
                " s, past the deadline"
            )
        waiting = {id(pipe): i for i, pipe in enumerate(pipes) if i not in ready}
        answered = multiprocessing.connection.wait(
            [pipes[i] for i in waiting.values()], timeout=min(remaining, 5.0)
        )
        for handle in answered:
            index = waiting[id(handle)]
            kind, body = pipes[index].recv()
            if kind == "progress":
                done[index] = body["done"]
            elif kind == "ready":
                ready[index] = body
                done[index] = body["connected"] + body["failed"]
            else:
                raise RuntimeError(f"idle client process answered {kind!r}, expected 'ready'")
        if time.monotonic() - last_log >= 30 and len(ready) < len(pipes):
            last_log = time.monotonic()
            log(f"  idle: {sum(done)} of {total} sockets handled ({last_log - started:.0f} s)")
    return [ready[i] for i in range(len(pipes))]


def run_idle(
    *,
    server: str,
    layer: str,
    sessions: int,
    clients: int,
    database_url: str,
    redis_url: str,
    log: Any = print,
) -> dict[str, Any]:
    """`sessions` sessions, each with its customer and one operator connected, held open by
    one server process; its RSS before the first connection and once every socket is welcomed
    (and so subscribed) and the server is quiet. The caller has raised the limit of open files
    the server inherits (`stack.raise_open_files`)."""
    started = time.perf_counter()
    bench_sessions = fixtures.idle_sessions(sessions)
    operator_cookie = fixtures.operators(1)[0]
    setup_seconds = time.perf_counter() - started
    sockets = 2 * len(bench_sessions)
    # Enough client processes that none holds more sockets than its limit of open files.
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    clients = max(clients, -(-sockets // max(soft - 100, 1)))
    per_socket, total = connect_budget(sockets, CONNECT_CONCURRENCY * clients)
    # The server ends a session whose customer has not connected for a while (5 minutes by
    # default) as abandoned; the last of many customers connects minutes after their sessions
    # were made. Its sweep still runs, as in production, only with a longer wait.
    abandon_after = str(int(total) + 600)
    env = server_env(
        database_url=database_url,
        redis_url=redis_url,
        layer=layer,
        extra={"COBROWSE_ABANDON_AFTER_SECONDS": abandon_after},
    )
    servers = Servers(server, 1, env, "idle")
    servers.start()
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    try:
        time.sleep(1)
        rss_before = servers.rss_mb()[0]
        port = servers.ports[0]
        specs = []
        for index, session in enumerate(bench_sessions):
            url = f"ws://127.0.0.1:{port}/ws/cobrowse/{session.id}/"
            specs.append(Spec(url, session.customer_cookie, index, 2 * index, "cobrowse"))
            specs.append(Spec(url, operator_cookie, index, 2 * index + 1, "cobrowse"))
        plan = ConnectPlan(CONNECT_CONCURRENCY, per_socket, progress_every=250)
        connect_started = time.monotonic()
        for chunk in _chunks(specs, clients):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=idle_process, args=(theirs, chunk, plan), daemon=True)
            proc.start()
            pipes.append(ours)
            procs.append(proc)
        ready = _await_ready(pipes, total=len(specs), deadline=connect_started + total, log=log)
        connected = sum(r["connected"] for r in ready)
        # Let the server settle after the connection storm (the `joined` ops it journals).
        settle = wait_until_quiet(servers)
        time.sleep(1)
        rss = servers.rss_mb()[0]
        files_open = servers.open_files()[0]
        for pipe in pipes:
            pipe.send(("stop", {}))
        stopped = [ClientPool._recv(pipe, "stopped", 120) for pipe in pipes]
        grown = rss - rss_before
        connect_seconds = max(r["seconds"] for r in ready)
        result = {
            "server": server,
            "layer": layer,
            "sessions": sessions,
            "sockets_requested": len(specs),
            "sockets_open": connected,
            "sockets_still_open_at_end": sum(s["open_until_stop"] for s in stopped),
            "connect_seconds": round(connect_seconds, 2),
            "sockets_per_second": round(connected / max(connect_seconds, 1e-6), 1),
            "rss_mb_before": round(rss_before, 1),
            "rss_mb": round(rss, 1),
            "kb_per_socket": round(grown * 1024 / max(connected, 1), 1),
            "mb_per_1000_sessions": round(grown * 1000 / max(sessions, 1), 1),
            "failures": [f for r in ready for f in r["failures"]][:5],
            "client_processes": clients,
            "connect_concurrency": CONNECT_CONCURRENCY * clients,
            "connect_timeout_s": per_socket,
            "open_files_limit": {
                "server_open": files_open,
                "server": servers.open_files_limits()[0],
                "clients": [r["open_files_limit"] for r in ready],
            },
            "setup_seconds": round(setup_seconds, 1),
            "abandon_after_seconds": int(abandon_after),
            "settle_seconds": settle,
        }
        log(
            f"  idle: {connected} of {len(specs)} sockets in {result['connect_seconds']} s "
            f"({result['sockets_per_second']}/s), RSS {rss:.0f} MB (empty server "
            f"{rss_before:.0f} MB): {result['kb_per_socket']} KB per socket, "
            f"{result['mb_per_1000_sessions']} MB per 1,000 sessions"
            + (f"; failures: {result['failures']}" if result["failures"] else "")
        )
        return result
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        servers.stop()


# --- Late join -------------------------------------------------------------------------------


async def _join(url: str, cookie: str) -> dict[str, Any]:
    """A new participant joins late: welcome, then resume from snapshot_seq - 1 until
    `synced`, as docs/protocol.md tells a late joiner to do. It asks for batch frames, as the
    product's clients do (static/cobrowse/transport.js)."""
    started = time.perf_counter()
    client_cpu = time.process_time()
    ws = await RawWebSocket.connect(f"{url}?batch=1", cookie=cookie)
    try:
        welcome = orjson.loads(await ws.recv())
        welcomed = time.perf_counter() - started
        snapshot = welcome["snapshot_seq"]
        ws.send_text(orjson.dumps({"type": "resume", "last_seq": max(0, snapshot - 1)}).decode())
        seqs: list[int] = []
        batches = 0
        synced: dict[str, Any] | None = None
        while synced is None:
            for raw in await asyncio.wait_for(ws.frames(), 30):
                frame = orjson.loads(raw)
                if frame["type"] == "batch":
                    batches += 1
                    seqs.extend(inner["seq"] for inner in frame["frames"])
                elif frame["type"] in ("op", "ack"):
                    seqs.append(frame["seq"])
                elif frame["type"] == "synced":
                    synced = frame
        total = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
    finally:
        await ws.close()
    head = synced["head_seq"]
    expected = list(range(max(1, snapshot), head + 1))
    # An own op of delivery `all` comes as ack then op, with one seq.
    in_order = all(a <= b for a, b in itertools.pairwise(seqs))
    return {
        "seconds": round(total, 3),
        "welcome_seconds": round(welcomed, 3),
        "client_cpu_seconds": round(client_cpu, 3),
        "snapshot_seq": snapshot,
        "head_seq": head,
        "ops_received": len(seqs),
        "batch_frames": batches,
        "complete_and_in_order": in_order and sorted(set(seqs)) == expected,
    }


async def _warm_up(url: str, cookie: str) -> None:
    ws = await RawWebSocket.connect(url, cookie=cookie)
    await ws.recv()
    await ws.close()


def run_late_join(
    *,
    server: str,
    layer: str,
    ops: int,
    tries: int,
    database_url: str,
    redis_url: str,
    log: Any = print,
) -> dict[str, Any]:
    started = time.perf_counter()
    session_id, customer, joiners = fixtures.late_join_session(ops, joiners=tries)
    build_seconds = time.perf_counter() - started
    env = server_env(database_url=database_url, redis_url=redis_url, layer=layer, extra={})
    servers = Servers(server, 1, env, "late-join")
    servers.start()
    try:
        url = f"ws://127.0.0.1:{servers.ports[0]}/ws/cobrowse/{session_id}/"
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        # Warm the server up (first connection's imports and database connections) with the
        # customer, who has nothing to catch up; then each joiner is a new participant.
        asyncio.run(_warm_up(url, customer))
        joins = []
        for cookie in joiners:
            before = servers.cpu_seconds()[0]
            join = asyncio.run(_join(url, cookie))
            join["server_cpu_seconds"] = round(servers.cpu_seconds()[0] - before, 3)
            joins.append(join)
        asyncio.set_event_loop_policy(None)
        seconds = sorted(j["seconds"] for j in joins)
        result = {
            "server": server,
            "journal_ops": ops,
            "journal_build_seconds": round(build_seconds, 1),
            "joins": joins,
            "seconds_median": seconds[len(seconds) // 2],
            "seconds_max": seconds[-1],
        }
        log(
            f"  late join into {ops} ops: median {result['seconds_median']} s, "
            f"{joins[0]['ops_received']} ops from seq {joins[0]['snapshot_seq']}, "
            f"in order: {all(j['complete_and_in_order'] for j in joins)}"
        )
        return result
    finally:
        servers.stop()
