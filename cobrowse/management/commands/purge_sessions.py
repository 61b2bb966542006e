"""`manage.py purge_sessions --older-than DAYS [--dry-run]`: retention (cobrowse/audit.py).

Deletes ended sessions that ended more than DAYS ago, and abandoned open sessions (never ended,
no activity for more than DAYS), each with its participants and journal, and says which."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cobrowse.audit import sessions_purge


class Command(BaseCommand):
    help = "Delete ended and abandoned co-browsing sessions older than --older-than DAYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["older_than"]
        if days < 0:
            raise CommandError("--older-than must be 0 or more days")
        cutoff = timezone.now() - timedelta(days=days)
        result = sessions_purge(cutoff=cutoff, dry_run=options["dry_run"])
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {len(result.ended)} ended session(s) and {len(result.abandoned)} abandoned "
            f"open session(s) ({result.operations} journal rows); "
            f"cutoff {cutoff:%Y-%m-%d %H:%M} UTC"
        )
        for label, items in (
            ("ended", result.ended),
            ("abandoned (never ended)", result.abandoned),
        ):
            for session_id, code in items:
                self.stdout.write(f"  {label}: {session_id} code {code}")
