"""`manage.py verify_journal [--session ID]`: recompute every session's hash chain and report
the first broken link (cobrowse/audit.py). Exits with status 1 when a journal does not verify."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cobrowse.audit import journal_verify
from cobrowse.models import Session


class Command(BaseCommand):
    help = "Verify the tamper-evident hash chain of the journal; report the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", action="append", help="a session id (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = options["session"] or Session.objects.order_by("created_at").values_list(
            "pk", flat=True
        )
        broken = checked = 0
        for session_id in ids:
            try:
                result = journal_verify(session_id=session_id)
            except (Session.DoesNotExist, ValueError) as exc:
                raise CommandError(f"no session {session_id}") from exc
            checked += 1
            if result.broken is None:
                self.stdout.write(f"ok {result.session_id}: {result.ops} ops")
            else:
                broken += 1
                self.stdout.write(
                    f"BROKEN {result.session_id}: first broken link at seq "
                    f"{result.broken.seq}: {result.broken.reason}"
                )
        if broken:
            raise CommandError(f"{broken} of {checked} session journal(s) do not verify")
        self.stdout.write(f"{checked} session journal(s) verified")
