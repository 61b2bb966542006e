"""`python -m bench`: the whole benchmark in one run (see docs/performance.md).

    make bench                    # full run (about 20 minutes on 2 cores)
    BENCH_QUICK=1 make bench      # short run, same outputs
    python -m bench --systems ours,sharedb   # ours against ShareDB only
    python -m bench --help        # options (ASGI server, workers, sessions, operators, ...)

Needs the running PostgreSQL of DATABASE_URL (`make services`); starts and stops everything
else itself (ShareDB, the peer it is compared with, from bench/sharedb/node_modules: `npm ci
--prefix bench/sharedb`, which `make bench` runs). Writes bench/results/latest.json,
bench/results/latency.png, bench/results/sharedb.png, docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fcntl
import os
import platform
import shlex
import subprocess
import sys
import time
from typing import Any

import orjson

from .stack import (
    LOG_DIR,
    REDIS_PORT,
    ROOT,
    SERVER_SPARE_FILES,
    Redis,
    bench_database_url,
    ensure_database,
    idle_sessions_that_fit,
    raise_open_files,
)

# A step of ShareDB below the first one is measured only if every participant sends this many.
MIN_OPS_PER_PARTICIPANT = 3


def parse_args() -> argparse.Namespace:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", default=quick, help="short run (BENCH_QUICK=1)")
    p.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER", "uvicorn"),
        choices=["uvicorn", "daphne"],
        help="production ASGI server (ours and relay c)",
    )
    p.add_argument(
        "--layer",
        default=os.environ.get("BENCH_LAYER", "pubsub"),
        choices=["pubsub", "core"],
        help="production channel layer",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BENCH_WORKERS", "1")),
        help="server processes per system",
    )
    p.add_argument(
        "--route",
        default="connection",
        choices=["connection", "session"],
        help="with several workers: spread connections over them regardless of their session "
        "(default), or send every connection of a session to one worker",
    )
    p.add_argument(
        "--redis-port",
        type=int,
        default=REDIS_PORT,
        help="port of the bench's own Redis (BENCH_REDIS_PORT, default 6390)",
    )
    p.add_argument("--sessions", type=int, default=40, help="sessions under load")
    p.add_argument("--operators", type=int, default=2, help="operators per session (K)")
    p.add_argument("--clients", type=int, default=2, help="client processes")
    p.add_argument(
        "--systems",
        default=None,
        help="comma-separated systems to measure (default: the four of the targets and "
        "sharedb, the closest real peer; a full run adds ours_other_server and "
        "relay_other_server, which justify the server choice)",
    )
    p.add_argument("--start-load", type=float, default=None, help="first step, ops/s")
    p.add_argument(
        "--factor",
        type=float,
        default=None,
        help="load of a step over the one before (1 for a fixed load: --start-load each step)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="steps per system at most")
    p.add_argument(
        "--peer-lower-steps",
        type=int,
        default=4,
        help="ShareDB saturates far below ours: its steps start up to this many steps below "
        "the first one, on the same steps, as long as each participant sends at least "
        f"{MIN_OPS_PER_PARTICIPANT} ops a step (default 4)",
    )
    p.add_argument("--step-seconds", type=float, default=None, help="length of a step")
    p.add_argument(
        "--idle-sessions",
        type=int,
        default=None,
        help="idle sessions (a customer and an operator each) on one server process "
        "(default 10,000; quick 1,000)",
    )
    p.add_argument(
        "--scale-workers",
        default="1,2,4",
        help="server processes of each run of the scale section, routed by session "
        "(comma-separated; default 1,2,4)",
    )
    p.add_argument(
        "--scale-step-seconds",
        type=float,
        default=None,
        help="length of a step of the scale section (default 5; quick 2)",
    )
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--late-join-ops", type=int, default=50_000)
    p.add_argument("--skip-idle", action="store_true")
    p.add_argument("--skip-late-join", action="store_true")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: write the plot and docs/performance.md again from latest.json",
    )
    return p.parse_args()


def machine_info(redis: Redis, *, sharedb: bool) -> dict[str, Any]:
    from importlib.metadata import version

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("show server_version")
        pg = cursor.fetchone()[0]
        # What else changes the numbers: durability settings, and extensions loaded into every
        # backend (pg_stat_statements, say, adds to every statement).
        pg_settings = {}
        for name in ("fsync", "synchronous_commit", "shared_preload_libraries", "shared_buffers"):
            cursor.execute("SELECT current_setting(%s)", [name])
            pg_settings[name] = cursor.fetchone()[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    packages = {}
    for name in (
        "django",
        "channels",
        "channels-redis",
        "daphne",
        "uvicorn",
        "websockets",
        "orjson",
        "psycopg",
        "redis",
    ):
        try:
            packages[name] = version(name)
        except Exception:
            packages[name] = "?"
    if sharedb:
        from .sharedb_peer import versions

        packages.update(versions())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgresql_settings": pg_settings,
        "redis": redis.version(),
        "packages": packages,
        "commit": commit,
    }


_held: list[Any] = []  # the run's lock file, open (and so locked) until the process ends


def _one_run_at_a_time(port: int) -> None:
    """Two runs at once would share the bench's Redis and database: the second would restart
    the first's Redis under it, and the first would go on measuring a server whose doorbells
    all fail."""
    handle = open(f"/tmp/cobrowse-bench-{port}.lock", "w")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            f"bench: another run is going on (it holds {handle.name}); wait until it ends"
        ) from None
    _held.append(handle)


def main() -> int:
    args = parse_args()
    if args.render_only:
        from . import report

        document = orjson.loads(report.JSON_PATH.read_bytes())
        document["targets"] = report.targets(document)
        if document.get("scale"):
            document["scale"]["summary"] = report.scale_summary(document["scale"])
        report.write_all(document, docs=not args.no_docs)
        print(report.table(document))
        return 0
    quick = args.quick
    idle_asked = args.idle_sessions or (1000 if quick else 10_000)
    idle_sessions = idle_asked
    open_files = {"needed": 2 * idle_asked + SERVER_SPARE_FILES}
    if not args.skip_idle:
        # One server process holds both sockets of every idle session: its limit of open files
        # (inherited from this process) has to allow for them. Where the hard limit is lower
        # and may not be raised, the run measures the most sessions that fit, and says so.
        soft, hard = raise_open_files(open_files["needed"])
        open_files.update(soft=soft, hard=hard)
        idle_sessions = idle_sessions_that_fit(idle_asked, soft)
        if idle_sessions < idle_asked:
            print(
                f"bench: {idle_asked} idle sessions need {open_files['needed']} open files in "
                f"one server process, and the hard limit here is {hard} (this user may not "
                f"raise it: `ulimit -Hn {open_files['needed']}` as root with CAP_SYS_RESOURCE, "
                "LimitNOFILE= under systemd, nofile in /etc/security/limits.conf); measuring "
                f"{idle_sessions} sessions instead"
            )
        if idle_sessions == 0:
            raise SystemExit("bench: no idle session fits; pass --skip-idle")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    redis = Redis(args.redis_port)
    _one_run_at_a_time(redis.port)
    started = time.time()
    database_url = bench_database_url()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "CHANNEL_LAYER": args.layer,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    )
    ensure_database(database_url)
    import django

    django.setup()
    from . import fixtures, report
    from .runner import Options, System, run_idle, run_late_join, run_scale, run_system

    opts = Options(
        sessions=args.sessions,
        operators=args.operators,
        clients=args.clients,
        workers=args.workers,
        route=args.route,
        step_seconds=args.step_seconds or (3 if quick else 8),
        drain_seconds=4 if quick else 8,
        start_load=args.start_load or (250 if quick else 200),
        factor=args.factor or (2.0 if quick else 1.5),
        max_steps=args.max_steps or (8 if quick else 15),
        max_p99_ms=1000,
        # Every system first gets its first step's load for a few seconds, not counted: the
        # first ops after the connections open are slower than the rest (ours: the first run
        # of each code path, the pooled PostgreSQL connections' first statements, the channel
        # layer's first Redis connections; ShareDB: Node's JIT and its prepared statements).
        warm_up_seconds=2.0 if quick else 5.0,
    )
    # The same steps for ShareDB, and a few lower ones where it still keeps up: as many as
    # --peer-lower-steps, as long as each sender still sends a few ops in a step.
    senders = opts.sessions  # one sender a session, its K operators receive
    lower = 0
    while (
        opts.factor > 1
        and lower < args.peer_lower_steps
        and opts.start_load / opts.factor ** (lower + 1) / senders * opts.step_seconds
        >= MIN_OPS_PER_PARTICIPANT
    ):
        lower += 1
    peer_opts = dataclasses.replace(
        opts,
        start_load=opts.start_load / opts.factor**lower,
        max_steps=opts.max_steps + lower,
    )
    # The scale section: the same load shape on the same steps, from the first at or above
    # a load that one process keeps up with easily, in shorter steps.
    scale_workers = [int(n) for n in args.scale_workers.split(",") if n.strip()]
    lift = 0
    while opts.factor > 1 and opts.start_load * opts.factor**lift < (1000 if quick else 2000):
        lift += 1
    scale_opts = dataclasses.replace(
        opts,
        start_load=opts.start_load * opts.factor**lift,
        step_seconds=args.scale_step_seconds or (2 if quick else 5),
        max_steps=8 if quick else 10,
    )
    other = "daphne" if args.server == "uvicorn" else "uvicorn"
    systems = {
        "ours": System(
            "ours",
            f"journaled (ours, {args.server} + {args.layer})",
            args.server,
            args.layer,
            "cobrowse",
        ),
        "production_relay": System(
            "production_relay",
            f"relay on {args.server} + {args.layer} (c)",
            args.server,
            args.layer,
            "relay-production",
        ),
        "tutorial_relay": System(
            "tutorial_relay", "tutorial relay, daphne + core (a)", "daphne", "core", "relay"
        ),
        "save_per_message": System(
            "save_per_message", "save per message, daphne + core (b)", "daphne", "core", "save"
        ),
        "ours_other_server": System(
            "ours_other_server",
            f"journaled (ours, {other} + {args.layer})",
            other,
            args.layer,
            "cobrowse",
        ),
        "relay_other_server": System(
            "relay_other_server",
            f"relay on {other} + {args.layer}",
            other,
            args.layer,
            "relay-production",
        ),
        # The closest real peer: ordered ops per document, journaled in PostgreSQL, fanned out
        # through Redis, driven by its own client (bench/sharedb_peer.py).
        "sharedb": System(
            "sharedb",
            "ShareDB (sharedb-postgres + sharedb-redis-pubsub, Node)",
            "sharedb",
            "redis-pubsub",
            "sharedb",
        ),
    }
    names = args.systems
    if names is None:
        names = "ours,production_relay,tutorial_relay,save_per_message,sharedb"
        if not quick:
            names += ",ours_other_server,relay_other_server"
    unknown = [k for k in names.split(",") if k and k not in systems]
    if unknown:
        raise SystemExit(
            f"bench: unknown system(s) {', '.join(unknown)}; known: {', '.join(systems)}"
        )
    chosen = [systems[k] for k in names.split(",") if k]
    if any(system.path == "sharedb" for system in chosen):
        from .sharedb_peer import check_installed

        check_installed()
    command = "BENCH_QUICK=1 make bench" if quick else "make bench"
    if len(sys.argv) > 1:
        command = "python -m bench " + shlex.join(sys.argv[1:])
    print(
        f"bench: {'quick' if quick else 'full'} run, database {database_url.rsplit('/', 1)[1]}, "
        f"Redis on port {redis.port}"
    )
    redis.start()
    results: dict[str, Any] = {}
    try:
        fixtures.prepare_database()
        info = machine_info(redis, sharedb=any(system.path == "sharedb" for system in chosen))
        for system in chosen:
            print(f"- {system.label}")
            results[system.key] = run_system(
                system,
                peer_opts if system.path == "sharedb" else opts,
                database_url=database_url,
                redis_url=redis.url,
            )
        scale = None
        if scale_workers and not args.skip_scale:
            print(
                f"- scale: ours on {', '.join(map(str, scale_workers))} {args.server} "
                "processes routed by session"
            )
            scale_started = time.time()
            scale = run_scale(
                scale_opts,
                scale_workers,
                server=args.server,
                layer=args.layer,
                database_url=database_url,
                redis_url=redis.url,
            )
            scale["seconds"] = round(time.time() - scale_started, 1)
        idle = None
        if not args.skip_idle:
            print(f"- {idle_sessions} idle sessions on one {args.server} process")
            idle_started = time.time()
            idle = run_idle(
                server=args.server,
                layer=args.layer,
                sessions=idle_sessions,
                clients=args.clients,
                database_url=database_url,
                redis_url=redis.url,
            )
            idle["seconds"] = round(time.time() - idle_started, 1)
            idle["sessions_asked"] = idle_asked
            idle["open_files_needed_for_asked"] = open_files["needed"]
            idle["open_files_hard_limit"] = open_files["hard"]
        late = None
        if not args.skip_late_join:
            print(f"- late join into {args.late_join_ops} journaled ops")
            late = run_late_join(
                server=args.server,
                layer=args.layer,
                ops=args.late_join_ops,
                tries=3,
                database_url=database_url,
                redis_url=redis.url,
            )
    finally:
        redis.stop()
    document = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "seconds": round(time.time() - started, 1),
        "machine": info,
        "options": {
            **opts.__dict__,
            "server": args.server,
            "layer": args.layer,
            "peer_start_load": round(peer_opts.start_load, 1),
        },
        "systems": results,
        "idle": idle,
        "late_join": late,
        "scale": scale,
    }
    document["targets"] = report.targets(document)
    if scale:
        scale["summary"] = report.scale_summary(scale)
    report.write_all(document, docs=not args.no_docs)
    print(report.table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
