"""`manage.py webhooks_worker [--interval SECONDS] [--once]`: send the sites' webhooks
(cobrowse/webhooks.py) until stopped (SIGTERM or SIGINT: it finishes the delivery at hand).
Run one or more next to the web processes (README, "Production server"); killing one at any
point loses nothing."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from cobrowse.webhooks import Worker


class Command(BaseCommand):
    help = "Send the sites' webhook events, with retries, until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls (default 1)"
        )
        parser.add_argument("--once", action="store_true", help="poll once and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        interval: float = options["interval"]
        if interval <= 0:
            raise CommandError("--interval must be more than 0")
        verbose = options["verbosity"] >= 2
        stop = threading.Event()
        if not options["once"]:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        worker = Worker()
        self.stdout.write(f"webhooks worker: polling every {interval:g}s")
        self.stdout.flush()
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    events, deliveries, sent = worker.poll()
                except DatabaseError as exc:  # the database restarting: try again next poll
                    self.stderr.write(f"webhooks worker: {exc}")
                else:
                    if verbose:
                        self.stdout.write(
                            f"polled: {events} event(s), {deliveries} deliverie(s), {sent} sent"
                        )
                        self.stdout.flush()
                if options["once"]:
                    break
                stop.wait(interval)
        finally:
            worker.close()
