"""`manage.py protocol_files [--check]`: write the browser's protocol constants
(static/cobrowse/protocol.js) and the tables of docs/protocol.md from cobrowse/protocol.py
(cobrowse/protocol_files.py). With --check, write nothing and exit with status 1 when either
file is out of date."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cobrowse import protocol_files


class Command(BaseCommand):
    help = "Generate static/cobrowse/protocol.js and the tables of docs/protocol.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="only report whether the files are up to date"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        root = protocol_files.ROOT
        if options["check"]:
            stale = protocol_files.stale_files()
            if stale:
                names = ", ".join(str(path.relative_to(root)) for path in stale)
                raise CommandError(f"out of date: {names}; run `{protocol_files.COMMAND}`")
            self.stdout.write("up to date")
            return
        for path in protocol_files.write_files():
            self.stdout.write(f"wrote {path.relative_to(root)}")
