"""`python -m chaos [--duration S] [--sessions N] [--observers N] [--seed N]`

Needs DATABASE_URL (PostgreSQL; migrated here) and redis-server installed (the harness runs a
Redis of its own on a free port). Prints the counts and exits 1 unless nothing was lost,
duplicated or reordered.
"""

from __future__ import annotations

import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of faults and load")
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--observers", type=int, default=2, help="per session")
    parser.add_argument("--customer-rate", type=float, default=30.0, help="ops/s")
    parser.add_argument("--operator-rate", type=float, default=20.0, help="ops/s")
    parser.add_argument("--observer-rate", type=float, default=3.0, help="ops/s")
    parser.add_argument("--fault-interval", type=float, nargs=2, default=(1.0, 3.0))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        default="drop_client,kill_server,restart_redis,break_db,db_outage",
        help="comma-separated fault kinds to inject",
    )
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must name a PostgreSQL database (see `make services`)", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)  # the harness and its servers use a Redis of their own
    import django

    django.setup()
    from django.core.management import call_command

    from chaos.run import Config, run

    call_command("migrate", verbosity=0, interactive=False)
    config = Config(
        duration=args.duration,
        sessions=args.sessions,
        observers=args.observers,
        customer_rate=args.customer_rate,
        operator_rate=args.operator_rate,
        observer_rate=args.observer_rate,
        fault_interval=tuple(args.fault_interval),
        seed=args.seed,
        faults=tuple(f for f in args.faults.split(",") if f),
    )
    report = run(config)
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
