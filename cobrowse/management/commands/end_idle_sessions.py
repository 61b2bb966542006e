"""`manage.py end_idle_sessions --idle-minutes N [--dry-run]`: end open sessions nobody has
used for N minutes (cobrowse/lifecycle.py), and say which. Meant for cron, e.g. every 5 minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cobrowse.lifecycle import sessions_end_idle


class Command(BaseCommand):
    help = "End open co-browsing sessions with no activity for --idle-minutes N."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--idle-minutes", type=int, required=True, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="only say what would end")

    def handle(self, *args: Any, **options: Any) -> None:
        minutes: int = options["idle_minutes"]
        if minutes < 1:
            raise CommandError("--idle-minutes must be 1 or more")
        idle_since = timezone.now() - timedelta(minutes=minutes)
        ended = sessions_end_idle(idle_since=idle_since, dry_run=options["dry_run"])
        verb = "would end" if options["dry_run"] else "ended"
        self.stdout.write(f"{verb} {len(ended)} session(s) idle for {minutes} minutes or more")
        for pk, code in ended:
            self.stdout.write(f"  {pk} (code {code})")
