"""`manage.py statuspage_export DIR`: the public status page as static files, on demand."""

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.statuspage.snapshot import SnapshotBusy, SnapshotError, snapshot_write

# Many files of one kind are counted, not listed (unless -v 2).
GROUPED = ("incidents/", "history/page/")


class Command(BaseCommand):
    help = (
        "Write the public status page to DIR as static files: the page, its history pages, "
        "every incident page, the Statuspage v2 JSON and the RSS/Atom feeds, as the live "
        "/status/ URLs answer now. DIR is replaced as a whole, in one step (a new or empty "
        "directory, or an earlier export). Links between the pages are relative: serve DIR at "
        "any path of any static host or bucket that answers a directory URL with its "
        "index.html (e.g. at /status/ of the portal's host, or at the root of a status host). "
        "/status/history/?page=N is history/page/N/. Links to what is not copied (subscribing) "
        "go to the live portal."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, metavar="DIR", help="where to write")

    def handle(self, *args: Any, directory: Path, verbosity: int, **options: Any) -> None:
        try:
            written = snapshot_write(directory=directory)
        except (SnapshotError, SnapshotBusy) as exc:
            raise CommandError(str(exc)) from exc
        grouped: Counter[str] = Counter()
        for name in written:
            group = next((g for g in GROUPED if name.startswith(g)), None)
            if group is None or verbosity > 1:
                self.stdout.write(name)
            else:
                grouped[group] += 1
        for group, count in grouped.items():
            self.stdout.write(f"{group}… ({count} pages)")
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {len(written)} files to {directory.resolve()}.")
        )
